//! After the first encode, re-encoding a registry performs zero heap allocations; recording
//! into existing series allocates nothing either. Proven with a counting global allocator.
//!
//! Allocations are counted per thread (the harness and exiting helper threads allocate on
//! their own threads), so only this test's own allocations are measured.

mod support;

use support::allocations;
use tachymeter::{Counter, Format, Gauge, Histogram, Info, Registry, StateSet, Summary};

#[global_allocator]
static GLOBAL: support::CountingAlloc = support::CountingAlloc;

#[test]
fn warm_encode_and_recording_allocate_nothing() {
    let reg = Registry::builder()
        .prefix("app")
        .unwrap()
        .const_label("host", "h\"1")
        .unwrap()
        .build();
    let c = Counter::builder("requests_total", "Requests \\ served\n")
        .labels(["method", "path"])
        .register(&reg)
        .unwrap();
    let g = Gauge::builder("temperature", "Temp.")
        .labels(["room"])
        .register(&reg)
        .unwrap();
    let h = Histogram::builder("latency_seconds", "Latency.")
        .labels(["op"])
        .register(&reg)
        .unwrap();
    let plain = Counter::builder("plain_total", "Plain.")
        .register(&reg)
        .unwrap();
    let sm = Summary::builder("rpc_seconds", "RPC.")
        .labels(["op"])
        .objectives(&Summary::GO_OBJECTIVES)
        .unwrap()
        .register(&reg)
        .unwrap();
    let plain_sm = Summary::builder("plain_seconds", "Plain summary.")
        .register(&reg)
        .unwrap();
    // Warm the summary: several full batches merged, so buffers and estimator scratch have
    // reached their steady-state capacity.
    let rpc = sm.with_label_values(&["get"]).handle();
    for i in 0..200_000u32 {
        rpc.observe(f64::from(i % 1000) / 1000.0);
        plain_sm.observe(0.5);
    }
    for i in 0..100 {
        let p = format!("/p{i}\n\"q\"");
        c.with_label_values(&["GET", &p]).inc_by(i);
        g.with_label_values(&[&p]).set(i as f64 / 3.0);
        h.with_label_values(&[&p]).observe(i as f64 / 50.0);
    }
    plain.inc_by_f64(0.25);
    // OpenMetrics extras: units, exemplars, `_created`, info, state set, negative buckets.
    let timed = Histogram::builder("wait_seconds", "Wait.")
        .unit("seconds")
        .unwrap()
        .labels(["op"])
        .buckets([-1.0, 0.5, 1.0])
        .unwrap()
        .register(&reg)
        .unwrap();
    for i in 0..20 {
        let op = format!("op{i}");
        timed
            .with_label_values(&[&op])
            .observe_with_exemplar(i as f64 / 10.0 - 1.0, &[("trace_id", "t\"1\"")]);
        c.with_label_values(&["POST", &op])
            .inc_with_exemplar(&[("trace_id", &op), ("user", "ü")]);
    }
    Info::builder("build", "Build.")
        .register(&reg)
        .unwrap()
        .set(&[("version", "1.2.3")])
        .unwrap();
    let mode = StateSet::builder("mode", "Mode.", ["a", "b\"q"])
        .unwrap()
        .labels(["dev"])
        .register(&reg)
        .unwrap();
    mode.with_label_values(&["sda"]).set("b\"q").unwrap();
    // A second thread inflates some metrics to shards before measuring.
    std::thread::scope(|s| {
        s.spawn(|| {
            plain.inc();
            c.with_label_values(&["GET", "/p1\n\"q\""]).inc();
            h.with_label_values(&["/p1\n\"q\""]).observe(0.1);
            for i in 0..2_000u32 {
                rpc.observe(f64::from(i));
            }
        });
    });

    #[allow(unused_mut)]
    let mut formats = vec![Format::Text, Format::OpenMetrics];
    #[cfg(feature = "protobuf")]
    formats.push(Format::Protobuf);
    for format in formats {
        let mut buf = Vec::new();
        let cold = allocations();
        reg.encode(format, &mut buf).unwrap();
        assert!(
            allocations() > cold,
            "the counter must see the cold encode grow the buffer"
        );
        let first_len = buf.len();
        assert!(first_len > 10_000, "a real snapshot: {first_len} bytes");

        let before = allocations();
        for _ in 0..10 {
            buf.clear();
            reg.encode(format, &mut buf).unwrap();
        }
        let during = allocations() - before;
        assert_eq!(
            during, 0,
            "{format:?}: re-encoding allocated {during} times"
        );
        assert_eq!(buf.len(), first_len);
        if format == Format::OpenMetrics {
            // The OpenMetrics extras were really on the measured path.
            let body = std::str::from_utf8(&buf).unwrap();
            for part in [
                " # {trace_id=",
                "_created",
                "# UNIT ",
                "build_info{",
                "mode{",
            ] {
                assert!(body.contains(part), "{part} missing");
            }
        }
    }

    // Recording into existing series allocates nothing, on any path; nor does replacing an
    // exemplar whose buffer is already big enough.
    let handle = c.with_label_values(&["GET", "/p5\n\"q\""]);
    let ex_counter = c.with_label_values(&["POST", "op3"]);
    let ex_hist = timed.with_label_values(&["op4"]);
    let state = mode.with_label_values(&["sda"]);
    let before = allocations();
    for i in 0..10_000 {
        handle.inc();
        plain.inc();
        c.with(&["GET", "/p7\n\"q\""], |x| x.inc()).unwrap();
        let _ = c.with_label_values(&["GET", "/p9\n\"q\""]);
        g.with(&["/p3\n\"q\""], |x| x.add(1.0)).unwrap();
        h.with(&["/p2\n\"q\""], |x| x.observe(i as f64)).unwrap();
        ex_counter.inc_with_exemplar(&[("trace_id", "op3")]);
        ex_hist.observe_with_exemplar(-0.6, &[("trace_id", "t")]);
        state.set(if i % 2 == 0 { "a" } else { "b\"q" }).unwrap();
    }
    assert_eq!(
        allocations() - before,
        0,
        "recording into existing series allocated"
    );

    // Summary observes allocate nothing once warm, flushes (sort + merge into 5 buckets)
    // included: 100 000 observations are ~195 merges of 512-value batches. The second thread
    // inflated `rpc` to shards, so warm this thread's new shard first.
    for i in 0..50_000u32 {
        rpc.observe(f64::from(i % 1000) / 1000.0);
    }
    let before = allocations();
    for i in 0..100_000u32 {
        rpc.observe(f64::from(i % 1000) / 1000.0);
        plain_sm.observe(1.0);
    }
    assert_eq!(allocations() - before, 0, "summary observe allocated");
    // A scrape that drains and merges partial buffers, then a warm re-encode, allocate
    // nothing either.
    let mut buf = Vec::new();
    reg.encode(Format::Text, &mut buf).unwrap();
    let before = allocations();
    for _ in 0..3 {
        rpc.observe(0.25);
        buf.clear();
        reg.encode(Format::Text, &mut buf).unwrap();
    }
    assert_eq!(allocations() - before, 0, "summary scrape allocated");

    // Native histograms (alone and with classic buckets): once each shard's window covers
    // the values and every bucket has its first count, observing allocates nothing, nor does
    // a warm encode (spans and deltas go through reused buffers).
    let native = Histogram::builder("native_seconds", "Native.")
        .labels(["op"])
        .native(1.1)
        .unwrap()
        .register(&reg)
        .unwrap();
    let both = Histogram::builder("both_seconds", "Both.")
        .native(1.5)
        .unwrap()
        .buckets([0.1, 1.0, 10.0])
        .unwrap()
        .register(&reg)
        .unwrap();
    let n = native.with_label_values(&["get"]);
    let spread = |i: u32| {
        let v = 10f64.powf(f64::from(i % 600) / 100.0 - 3.0);
        if i % 7 == 0 {
            -v
        } else if i % 11 == 0 {
            0.0
        } else {
            v
        }
    };
    for i in 0..6_000 {
        n.observe(spread(i));
        both.observe(spread(i));
    }
    n.observe_with_exemplar(0.5, &[("trace_id", "abc")]);
    for format in [Format::Text, Format::OpenMetrics] {
        buf.clear();
        reg.encode(format, &mut buf).unwrap();
    }
    #[cfg(feature = "protobuf")]
    {
        buf.clear();
        reg.encode(Format::Protobuf, &mut buf).unwrap();
    }
    let before = allocations();
    for i in 0..60_000 {
        n.observe(spread(i));
        both.observe(spread(i));
    }
    assert_eq!(allocations() - before, 0, "native observe allocated");
    #[allow(unused_mut)]
    let mut formats = vec![Format::Text, Format::OpenMetrics];
    #[cfg(feature = "protobuf")]
    formats.push(Format::Protobuf);
    for format in formats {
        let before = allocations();
        for _ in 0..3 {
            buf.clear();
            reg.encode(format, &mut buf).unwrap();
        }
        assert_eq!(
            allocations() - before,
            0,
            "{format:?}: native encode allocated"
        );
    }
    assert_eq!(n.native_snapshot().unwrap().count, 66_001);
}
