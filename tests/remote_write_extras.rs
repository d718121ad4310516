//! Exemplars and metadata over remote write (`RemoteWriter::exemplars(true)`,
//! `metadata_interval`) against real receivers: Prometheus 2.42 with
//! `--enable-feature=exemplar-storage` must give the exemplars back through
//! `/api/v1/query_exemplars`; Prometheus without it and VictoriaMetrics 1.79 must still store
//! every sample of a request that carries exemplars and metadata; a Remote-Write 2.0 writer
//! falling back to 1.0 against Prometheus 2.42 must deliver its exemplars too. And warm
//! collections allocate nothing: with both switched on (exemplars in either protocol), and
//! (either protocol) with values that change the compressed size every time.

mod support;

use std::time::{Duration, SystemTime};

use support::*;
use tachymeter::http::{BenchEncoder, RemoteWriteProtocol, RemoteWriter};
use tachymeter::{Counter, Gauge, Histogram, Registry};

#[global_allocator]
static GLOBAL: support::CountingAlloc = support::CountingAlloc;

/// Now, rounded down to the millisecond (what goes over the wire).
fn now_ms() -> u64 {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    d.as_millis() as u64
}

/// `rw_jobs_total{queue="fast"}` with an exemplar `{trace_id="c0ffee"}` (value 3) and
/// `rw_rpc_seconds` (buckets 0.1, 1) with one `{trace_id="beef", span_id="7"}` (0.5) in its
/// `le="1"` bucket, both stamped `at` ms.
fn registry(at: u64) -> Registry {
    let r = Registry::builder().created_samples(false).build();
    let ts = Some(SystemTime::UNIX_EPOCH + Duration::from_millis(at));
    Counter::builder("rw_jobs_total", "Jobs.")
        .labels(["queue"])
        .register(&r)
        .unwrap()
        .with_label_values(&["fast"])
        .inc_by_with_exemplar_at(3, &[("trace_id", "c0ffee")], ts);
    let h = Histogram::builder("rw_rpc_seconds", "RPC latency.")
        .buckets([0.1, 1.0])
        .unwrap()
        .register(&r)
        .unwrap();
    h.observe(0.05);
    h.observe_with_exemplar_at(0.5, &[("trace_id", "beef"), ("span_id", "7")], ts);
    r
}

fn writer(url: &str, r: &Registry) -> RemoteWriter {
    RemoteWriter::new(&format!("{url}/api/v1/write"))
        .unwrap()
        .registry(r)
        .external_label("instance", "rw-extras")
        .unwrap()
        .max_retries(0)
        .exemplars(true)
        .metadata_interval(Duration::ZERO)
}

/// One exemplar as Prometheus gives it back: its series' `__name__`, its labels (sorted),
/// value and timestamp (ms).
type Got = (String, Vec<(String, String)>, f64, u64);

/// `/api/v1/query_exemplars` for `query` around `at`: (series `__name__`, exemplar labels
/// sorted, value, timestamp ms) per exemplar.
fn exemplars(prom: &Server, query: &str, at: u64) -> Vec<Got> {
    let url = format!(
        "{}/api/v1/query_exemplars?query={}&start={}&end={}",
        prom.url(),
        url_encode(query),
        at / 1000 - 60,
        at / 1000 + 60
    );
    let r = http_get(&url).expect("query_exemplars");
    assert_eq!(r.status, 200, "query_exemplars: {}", r.text());
    let j = r.json().expect("json");
    let mut out = Vec::new();
    for s in j.at(&["data"]).and_then(Json::as_array).unwrap_or_default() {
        let name = s
            .at(&["seriesLabels", "__name__"])
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_owned();
        for e in s
            .get("exemplars")
            .and_then(Json::as_array)
            .unwrap_or_default()
        {
            let mut labels: Vec<(String, String)> = e
                .get("labels")
                .and_then(Json::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            labels.sort();
            let value = e
                .get("value")
                .and_then(Json::as_str)
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN);
            let ts = e.get("timestamp").and_then(Json::as_f64).unwrap_or(0.0);
            out.push((name.clone(), labels, value, (ts * 1000.0).round() as u64));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(n, v)| ((*n).into(), (*v).into())).collect()
}

#[test]
fn prometheus_with_exemplar_storage_gives_the_exemplars_back() {
    exemplars_reach_prometheus(RemoteWriteProtocol::V1);
}

#[test]
fn a_two_point_zero_writer_falls_back_and_delivers_its_exemplars() {
    // Prometheus 2.42 speaks 1.0 only: the 2.0 request is stored as nothing, the writer sends
    // it again as 1.0, exemplars included.
    exemplars_reach_prometheus(RemoteWriteProtocol::V2);
}

/// A writer speaking `protocol` sends [`registry`]'s exemplars to Prometheus 2.42 with
/// exemplar storage; they come back from `/api/v1/query_exemplars`.
fn exemplars_reach_prometheus(protocol: RemoteWriteProtocol) {
    if !have(&[Peer::Prometheus]) {
        return;
    }
    let prom = start_prometheus_with(
        &[],
        "1s",
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=exemplar-storage",
        ],
    );
    let at = now_ms() - 1_000;
    let r = registry(at);
    let w = writer(&prom.url(), &r).protocol(protocol);
    w.write_once().unwrap();
    let fallbacks = u64::from(protocol == RemoteWriteProtocol::V2);
    assert_eq!(w.stats().protocol_fallbacks, fallbacks, "{protocol:?}");
    let got = wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
        let e = exemplars(&prom, r#"{instance="rw-extras"}"#, at);
        (e.len() >= 2).then_some(e)
    })
    .unwrap_or_else(|| panic!("no exemplars in Prometheus:\n{}", prom.log()));
    assert_eq!(
        got,
        vec![
            (
                "rw_jobs_total".into(),
                pairs(&[("trace_id", "c0ffee")]),
                3.0,
                at
            ),
            (
                "rw_rpc_seconds_bucket".into(),
                pairs(&[("span_id", "7"), ("trace_id", "beef")]),
                0.5,
                at
            ),
        ]
    );
    // The exemplar is on the bucket that holds it.
    let le = wait_until(Duration::from_secs(5), Duration::from_millis(200), || {
        query_first(
            &prom,
            r#"rw_rpc_seconds_bucket{le="1",instance="rw-extras"}"#,
        )
    });
    assert_eq!(le.as_deref(), Some("2"));
}

#[test]
fn receivers_without_exemplar_storage_still_store_every_sample() {
    if !have(&[Peer::Prometheus, Peer::VictoriaMetrics]) {
        return;
    }
    let prom = start_prometheus_with(&[], "1s", &["--web.enable-remote-write-receiver"]);
    let vm = start_victoria_metrics();
    let r = registry(now_ms() - 1_000);
    writer(&prom.url(), &r).write_once().unwrap();
    writer(&vm.url(), &r).write_once().unwrap();
    // rw_jobs_total, 3 buckets, _sum, _count.
    let want = 6;
    let got = wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
        let s = prometheus_series(&prom, r#"{instance="rw-extras"}"#);
        (s.len() >= want).then_some(s)
    })
    .unwrap_or_else(|| panic!("Prometheus did not get every series:\n{}", prom.log()));
    assert_eq!(got.len(), want);
    let vm_rows = wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
        let s = victoria_export(&vm, r#"{instance="rw-extras"}"#);
        (s.len() >= want).then_some(s)
    })
    .unwrap_or_else(|| panic!("VictoriaMetrics did not get every series:\n{}", vm.log()));
    assert_eq!(vm_rows.len(), want);
    for (labels, value) in &got {
        let name = &labels["__name__"];
        let vm_value = vm_rows
            .iter()
            .find(|(l, _)| l == labels)
            .unwrap_or_else(|| panic!("{name} missing in VictoriaMetrics"))
            .1[0]
            .1;
        assert_eq!(*value, vm_value, "{name}");
    }
}

#[test]
fn warm_collections_with_exemplars_and_metadata_allocate_nothing() {
    let r = Registry::builder().created_samples(false).build();
    let c = Counter::builder("jobs_total", "Jobs.")
        .labels(["queue"])
        .register(&r)
        .unwrap();
    let h = Histogram::builder("rpc_seconds", "RPC.")
        .labels(["op"])
        .native(1.1)
        .unwrap()
        .register(&r)
        .unwrap();
    let children: Vec<(Counter, Histogram)> = (0..20)
        .map(|i| {
            let q = format!("q{i}");
            (
                c.with_label_values(&[&q]).handle(),
                h.with_label_values(&[&q]).handle(),
            )
        })
        .collect();
    let mut floats = BenchEncoder::with_extras(50, false);
    let mut native = BenchEncoder::with_extras(50, true);
    let mut v2_floats = BenchEncoder::v2_with_exemplars(50, false);
    let mut v2_native = BenchEncoder::v2_with_exemplars(50, true);
    // Without exemplars, to show the other bodies carry some in every round.
    let mut v2_plain = BenchEncoder::v2(50);
    let regs = [r];
    // Allocations of the collections only (recording an exemplar into a ring slot used
    // for the first time allocates its label buffer: that is the metric's, not the writer's).
    let mut round = |k: u32| {
        let trace = format!("{k:08}");
        for (i, (c, h)) in children.iter().enumerate() {
            c.inc_with_exemplar(&[("trace_id", &trace)]);
            // The same values every round: the buckets stop growing once warm.
            h.observe_with_exemplar(0.05 + (i % 5) as f64 * 0.1, &[("trace_id", &trace)]);
        }
        let before = allocations();
        let a = floats.collect(&regs).unwrap();
        let b = native.collect(&regs).unwrap();
        let c = v2_floats.collect(&regs).unwrap();
        let d = v2_native.collect(&regs).unwrap();
        let n = allocations() - before;
        let plain = v2_plain.collect(&regs).unwrap();
        ([a, b, c, d, plain], n)
    };
    for k in 0..3 {
        round(k);
    }
    let mut allocated = 0;
    for k in 3..13 {
        let ([(fs, _), (ns, _), (v2fs, v2f_bytes), (v2ns, _), (plain, plain_bytes)], n) = round(k);
        assert_eq!((fs, v2fs, plain), (20 + 20 * 3, 20 + 20 * 3, 20 + 20 * 3));
        assert_eq!((ns, v2ns), (20 + 20, 20 + 20));
        // The same encoder without exemplars writes the same body less the exemplars (the
        // trace ids repeat, so snappy shrinks them: only "larger" is certain).
        assert!(
            v2f_bytes > plain_bytes,
            "exemplars in the 2.0 body: {v2f_bytes} vs {plain_bytes} bytes"
        );
        allocated += n;
    }
    assert_eq!(
        allocated, 0,
        "allocations in 10 warm collections of each encoder"
    );
}

#[test]
fn warm_collections_with_changing_values_allocate_nothing_in_either_protocol() {
    // The values, and so the compressed sizes, change every collection (all equal, which
    // snappy squeezes, or pseudo-random, which it cannot): the buffers that follow a body's
    // size must not regrow once warm.
    let r = Registry::builder().created_samples(false).build();
    let g = Gauge::builder("queue_depth", "Depth.")
        .labels(["queue"])
        .register(&r)
        .unwrap();
    let children: Vec<Gauge> = (0..200)
        .map(|i| g.with_label_values(&[&format!("queue-{i}")]).handle())
        .collect();
    let regs = [r];
    let mut v1 = BenchEncoder::new(150);
    let mut v2 = BenchEncoder::v2(150);
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let mut allocated = 0;
    let mut sizes = std::collections::BTreeSet::new();
    for round in 0..40 {
        for c in &children {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = match round % 3 {
                0 => 1.0,
                1 => (x % 1000) as f64,
                _ => f64::from_bits(0x3ff0_0000_0000_0000 | (x >> 12)),
            };
            c.set(v);
        }
        let before = allocations();
        let (a, bytes_v1) = v1.collect(&regs).unwrap();
        let (b, bytes_v2) = v2.collect(&regs).unwrap();
        if round >= 5 {
            allocated += allocations() - before;
        }
        assert_eq!((a, b), (200, 200));
        sizes.insert((bytes_v1, bytes_v2));
    }
    assert!(
        sizes.len() >= 3,
        "the sizes must vary for this test to mean anything"
    );
    assert_eq!(
        allocated, 0,
        "allocations in 35 warm collections of each protocol"
    );
}
