//! A real Prometheus (Debian 2.42, `--enable-feature=exemplar-storage`) scrapes the built-in
//! server on loopback: the scrape negotiates OpenMetrics (Prometheus asks for it first), and
//! every series is ingested, with the exemplars of counters and histogram buckets
//! (`/api/v1/query_exemplars`), and info/stateset families as series.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::{Json, Peer};
use tachymeter::{start_http_server, Counter, Histogram, Info, Registry, StateSet};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `/api/v1/query_exemplars` for `query` over the last hour: (series labels, exemplar labels,
/// value, timestamp) for each exemplar.
fn exemplars(prom: &support::Server, query: &str) -> Vec<(Json, Json, f64, f64)> {
    let t = now();
    let url = format!(
        "{}/api/v1/query_exemplars?query={}&start={}&end={}",
        prom.url(),
        support::url_encode(query),
        t - 3600.0,
        t + 60.0
    );
    let r = support::http_get(&url).expect("query_exemplars");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json().unwrap();
    let mut out = Vec::new();
    for series in v.at(&["data"]).and_then(Json::as_array).unwrap_or(&[]) {
        let labels = series.get("seriesLabels").cloned().unwrap_or(Json::Null);
        for e in series
            .get("exemplars")
            .and_then(Json::as_array)
            .unwrap_or(&[])
        {
            out.push((
                labels.clone(),
                e.get("labels").cloned().unwrap(),
                e.get("value")
                    .and_then(Json::as_str)
                    .unwrap()
                    .parse()
                    .unwrap(),
                e.get("timestamp").and_then(Json::as_f64).unwrap(),
            ));
        }
    }
    out
}

fn value(prom: &support::Server, q: &str) -> Option<f64> {
    let r = support::prometheus_query(prom, q).ok()?;
    let first = r.first()?;
    first
        .at(&["value"])?
        .as_array()?
        .get(1)?
        .as_str()?
        .parse()
        .ok()
}

#[test]
fn prometheus_negotiates_openmetrics_and_stores_exemplars() {
    if !support::have(&[Peer::Prometheus]) {
        return;
    }
    let r = Registry::new();
    let c = Counter::builder("orders_total", "Orders.")
        .labels(["shop"])
        .register(&r)
        .unwrap();
    let h = Histogram::builder("checkout_seconds", "Checkout latency.")
        .unit("seconds")
        .unwrap()
        .buckets([0.1, 1.0])
        .unwrap()
        .register(&r)
        .unwrap();
    let before = now();
    c.with_label_values(&["eu"])
        .inc_by_with_exemplar(3, &[("trace_id", "abc123")]);
    h.observe_with_exemplar(0.4, &[("trace_id", "def456")]);
    h.observe(0.05);
    let after = now();
    Info::builder("build", "Build.")
        .register(&r)
        .unwrap()
        .set(&[("version", "9.9")])
        .unwrap();
    StateSet::builder("mode", "Mode.", ["a", "b"])
        .unwrap()
        .register(&r)
        .unwrap()
        .set("b")
        .unwrap();

    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let target = server.local_addr().to_string();
    let prom = support::start_prometheus_with(
        &[("om", &target)],
        "1s",
        &["--enable-feature=exemplar-storage"],
    );
    let ready = support::wait_until(Duration::from_secs(30), Duration::from_millis(250), || {
        (value(&prom, "up{job=\"om\"}") == Some(1.0)
            && exemplars(&prom, "checkout_seconds_bucket").len() == 1
            && exemplars(&prom, "orders_total").len() == 1)
            .then_some(())
    });
    assert!(
        ready.is_some(),
        "no scrape with exemplars in 30 s:\n{}",
        prom.log()
    );

    // The scrape was OpenMetrics: `_created` series only exist there (never in text).
    assert!(value(&prom, "orders_created{shop=\"eu\"}").is_some());
    assert_eq!(value(&prom, "orders_total{shop=\"eu\"}"), Some(3.0));
    assert_eq!(
        value(&prom, "checkout_seconds_bucket{le=\"1.0\"}"),
        Some(2.0)
    );
    assert_eq!(value(&prom, "checkout_seconds_count"), Some(2.0));
    assert_eq!(value(&prom, "build_info{version=\"9.9\"}"), Some(1.0));
    assert_eq!(value(&prom, "mode{mode=\"b\"}"), Some(1.0));
    assert_eq!(value(&prom, "mode{mode=\"a\"}"), Some(0.0));

    let ex = exemplars(&prom, "orders_total");
    let (series, labels, v, ts) = &ex[0];
    assert_eq!(series.get("shop").and_then(Json::as_str), Some("eu"));
    assert_eq!(
        labels.get("trace_id").and_then(Json::as_str),
        Some("abc123")
    );
    assert_eq!(*v, 3.0);
    assert!(*ts >= before - 0.01 && *ts <= after + 0.01, "{ts}");

    let ex = exemplars(&prom, "checkout_seconds_bucket");
    let (series, labels, v, ts) = &ex[0];
    assert_eq!(series.get("le").and_then(Json::as_str), Some("1.0"));
    assert_eq!(
        labels.get("trace_id").and_then(Json::as_str),
        Some("def456")
    );
    assert_eq!(*v, 0.4);
    assert!(*ts >= before - 0.01 && *ts <= after + 0.01, "{ts}");
    drop(prom);
    server.shutdown();
}
