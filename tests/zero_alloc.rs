//! After the first encode, re-encoding a registry performs zero heap allocations; recording
//! into existing series allocates nothing either. Proven with a counting global allocator.
//!
//! Allocations are counted per thread (the harness and exiting helper threads allocate on
//! their own threads), so only this test's own allocations are measured.

mod support;

use support::allocations;
use tachymeter::{Counter, Format, Gauge, Histogram, Registry};

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
    for i in 0..100 {
        let p = format!("/p{i}\n\"q\"");
        c.with_label_values(&["GET", &p]).inc_by(i);
        g.with_label_values(&[&p]).set(i as f64 / 3.0);
        h.with_label_values(&[&p]).observe(i as f64 / 50.0);
    }
    plain.inc_by_f64(0.25);
    // A second thread inflates some metrics to shards before measuring.
    std::thread::scope(|s| {
        s.spawn(|| {
            plain.inc();
            c.with_label_values(&["GET", "/p1\n\"q\""]).inc();
            h.with_label_values(&["/p1\n\"q\""]).observe(0.1);
        });
    });

    for format in [Format::Text, Format::OpenMetrics] {
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
    }

    // Recording into existing series allocates nothing, on any path.
    let handle = c.with_label_values(&["GET", "/p5\n\"q\""]);
    let before = allocations();
    for i in 0..10_000 {
        handle.inc();
        plain.inc();
        c.with(&["GET", "/p7\n\"q\""], |x| x.inc()).unwrap();
        let _ = c.with_label_values(&["GET", "/p9\n\"q\""]);
        g.with(&["/p3\n\"q\""], |x| x.add(1.0)).unwrap();
        h.with(&["/p2\n\"q\""], |x| x.observe(i as f64)).unwrap();
    }
    assert_eq!(
        allocations() - before,
        0,
        "recording into existing series allocated"
    );
}
