//! Native histograms over remote write (`RemoteWriter::native_histograms(true)`) against real
//! receivers: Prometheus 2.42 started with `--web.enable-remote-write-receiver
//! --enable-feature=native-histograms` must read back `histogram_count` and `histogram_sum`
//! exactly; what Prometheus without the feature flag and VictoriaMetrics 1.79 do with such a
//! request is pinned down too (the reason the option is off by default).

mod support;

use std::time::Duration;

use support::*;
use tachymeter::http::{RemoteWriteError, RemoteWriter};
use tachymeter::{Histogram, Registry};

/// A registry with a native-only histogram `rw_native_seconds` (no labels) and a classic +
/// native one `rw_both_seconds{path="/a"}`, observed with positive, negative and zero values
/// in buckets near and far apart.
fn registry() -> (Registry, Histogram, Histogram) {
    let r = Registry::new();
    let native = Histogram::builder("rw_native_seconds", "Native only.")
        .native(1.1)
        .unwrap()
        .register(&r)
        .unwrap();
    let both = Histogram::builder("rw_both_seconds", "Classic and native.")
        .buckets([0.5, 2.0])
        .unwrap()
        .native(1.1)
        .unwrap()
        .labels(["path"])
        .register(&r)
        .unwrap();
    let both = both.with_label_values(&["/a"]).handle();
    for (i, v) in [0.013, 0.25, 0.26, 1.5, 3.0, 97.0, 0.0, -4.5, 1e4]
        .iter()
        .enumerate()
    {
        for _ in 0..=i {
            native.observe(*v);
            both.observe(v * 0.5);
        }
    }
    (r, native, both)
}

fn writer(url: &str, r: &Registry, instance: &str) -> RemoteWriter {
    RemoteWriter::new(&format!("{url}/api/v1/write"))
        .unwrap()
        .registry(r)
        .external_label("instance", instance)
        .unwrap()
        .max_retries(0)
        .native_histograms(true)
}

fn query_f64(prom: &Server, q: &str) -> Option<f64> {
    query_first(prom, q).map(|v| v.parse().unwrap_or_else(|e| panic!("{q}: {v:?}: {e}")))
}

#[test]
fn prometheus_with_native_histograms_reads_back_count_and_sum_exactly() {
    if !have(&[Peer::Prometheus]) {
        return;
    }
    let prom = start_prometheus_with(
        &[],
        "1s",
        &[
            "--web.enable-remote-write-receiver",
            "--enable-feature=native-histograms",
        ],
    );
    let (r, native, both) = registry();
    writer(&prom.url(), &r, "rw-native").write_once().unwrap();
    for (name, h) in [
        ("rw_native_seconds", &native),
        ("rw_both_seconds{path=\"/a\"}", &both),
    ] {
        let snap = h.native_snapshot().unwrap();
        let q = format!("histogram_count({name})");
        let count = wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
            query_f64(&prom, &q)
        })
        .unwrap_or_else(|| panic!("{q}: nothing stored:\n{}", prom.log()));
        assert_eq!(count, snap.count as f64, "{q}");
        let sum = query_f64(&prom, &format!("histogram_sum({name})")).unwrap();
        assert_eq!(sum.to_bits(), snap.sum.to_bits(), "histogram_sum({name})");
    }
    // The classic series of the classic + native histogram are there as floats too, and the
    // native-only one has no float series.
    let classic = query_f64(&prom, "rw_both_seconds_count{path=\"/a\"}").unwrap();
    assert_eq!(classic, both.count() as f64);
    assert_eq!(query_first(&prom, "rw_native_seconds_count"), None);
}

/// Prometheus 2.42 without `--enable-feature=native-histograms` answers 500 `native
/// histograms are disabled` and stores nothing of that request, floats included: native
/// histograms must stay off for it. Off, the same registry is stored.
#[test]
fn prometheus_without_the_feature_flag_rejects_the_whole_request() {
    if !have(&[Peer::Prometheus]) {
        return;
    }
    let prom = start_prometheus_with(&[], "1s", &["--web.enable-remote-write-receiver"]);
    let (r, native, both) = registry();
    match writer(&prom.url(), &r, "on").write_once() {
        Err(RemoteWriteError::Status { status, body, .. }) => {
            assert_eq!(status, 500);
            assert!(body.contains("native histograms are disabled"), "{body}");
        }
        other => panic!("expected a 500, got {other:?}"),
    }
    writer(&prom.url(), &r, "off")
        .native_histograms(false)
        .write_once()
        .unwrap();
    let q = "rw_native_seconds_count{instance=\"off\"}";
    let count = wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
        query_f64(&prom, q)
    })
    .unwrap_or_else(|| panic!("{q}: nothing stored:\n{}", prom.log()));
    assert_eq!(count, native.native_snapshot().unwrap().count as f64);
    let both_off = query_f64(&prom, "rw_both_seconds_count{instance=\"off\"}").unwrap();
    assert_eq!(both_off, both.count() as f64);
    assert_eq!(
        query_first(&prom, "count({instance=\"on\"})"),
        None,
        "nothing of the rejected request is stored"
    );
}

/// VictoriaMetrics 1.79 answers 204 and stores the float series but drops the native
/// histograms without a word: off, their `_count`/`_sum` are stored.
#[test]
fn victoria_metrics_stores_the_floats_and_drops_native_histograms() {
    if !have(&[Peer::VictoriaMetrics]) {
        return;
    }
    let vm = start_victoria_metrics();
    let (r, native, _) = registry();
    writer(&vm.url(), &r, "on").write_once().unwrap();
    writer(&vm.url(), &r, "off")
        .native_histograms(false)
        .write_once()
        .unwrap();
    // Off: 3 series of the native-only histogram, 5 of the classic + native one.
    let off = wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
        let rows = victoria_export(&vm, "{instance=\"off\"}");
        (rows.len() >= 8).then_some(rows)
    })
    .expect("VictoriaMetrics stores every float series");
    let native_count = off
        .iter()
        .find(|(l, _)| l.get("__name__").map(String::as_str) == Some("rw_native_seconds_count"))
        .map(|(_, v)| v[0].1);
    assert_eq!(
        native_count,
        Some(native.native_snapshot().unwrap().count as f64)
    );
    let mut on: Vec<String> = victoria_export(&vm, "{instance=\"on\"}")
        .into_iter()
        .map(|(l, _)| l["__name__"].clone())
        .collect();
    on.sort();
    assert_eq!(
        on,
        [
            "rw_both_seconds_bucket",
            "rw_both_seconds_bucket",
            "rw_both_seconds_bucket",
            "rw_both_seconds_count",
            "rw_both_seconds_sum"
        ],
        "only the classic float series of the native-histogram request"
    );
}
