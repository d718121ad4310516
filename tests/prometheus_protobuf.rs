//! A real Prometheus (Debian 2.42) with `--enable-feature=native-histograms` scrapes the
//! built-in server through a logging proxy that passes its own `Accept` header (protobuf
//! first, `q=0.7`). The reply must be the delimited protobuf format, and every series of
//! the text exposition of the same registry (counters, gauges, classic histograms with
//! negative bounds, summaries, info, state set, prefix and constant labels) must be ingested
//! with its value; exemplars (counter and bucket) must reach the exemplar storage.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::{Json, LoggingProxy, Peer, Server};
use tachymeter::{
    start_http_server, Counter, Format, Gauge, Histogram, Info, Registry, StateSet, Summary,
};

type Series = BTreeMap<String, String>;

/// Bucket bounds and quantiles as numbers: Prometheus 2.42 spells `le` from protobuf the
/// OpenMetrics way (`1.0`), from text as written (`1`).
fn normalise(labels: &mut Series) {
    for n in ["le", "quantile"] {
        if let Some(v) = labels.get_mut(n) {
            *v = format!("{:?}", parse(v));
        }
    }
}

fn parse(v: &str) -> f64 {
    match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        _ => v.parse().unwrap_or_else(|_| panic!("number {v:?}")),
    }
}

/// The samples of a text 0.0.4 body: labels (with `__name__`, empty values dropped) → value.
fn text_samples(body: &str) -> BTreeMap<Series, f64> {
    let mut out = BTreeMap::new();
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name_end = line.find(['{', ' ']).unwrap();
        let mut labels = Series::new();
        labels.insert("__name__".into(), line[..name_end].into());
        let mut rest = &line[name_end..];
        if let Some(r) = rest.strip_prefix('{') {
            let b = r.as_bytes();
            let mut i = 0;
            loop {
                if b[i] == b'}' {
                    i += 1;
                    break;
                }
                if b[i] == b',' {
                    i += 1;
                    continue;
                }
                let eq = i + r[i..].find('=').unwrap();
                let name = &r[i..eq];
                let mut v = Vec::new();
                let mut j = eq + 2;
                while b[j] != b'"' {
                    if b[j] == b'\\' {
                        v.push(if b[j + 1] == b'n' { b'\n' } else { b[j + 1] });
                        j += 2;
                    } else {
                        v.push(b[j]);
                        j += 1;
                    }
                }
                i = j + 1;
                let v = String::from_utf8(v).unwrap();
                if !v.is_empty() {
                    labels.insert(name.into(), v);
                }
            }
            rest = &r[i..];
        }
        normalise(&mut labels);
        out.insert(labels, parse(rest.trim()));
    }
    out
}

/// Every series of job `job` that Prometheus holds now, but its own (`up`, `scrape_*`).
fn ingested(prom: &Server, job: &str) -> BTreeMap<Series, f64> {
    let q = format!("{{job=\"{job}\",__name__=~\"app_.*\"}}");
    let rows = support::prometheus_query(prom, &q).unwrap_or_else(|e| panic!("{q}: {e}"));
    rows.iter()
        .map(|r| {
            let mut labels: Series = r
                .get("metric")
                .and_then(Json::as_object)
                .unwrap()
                .iter()
                .filter(|(k, _)| *k != "job" && *k != "instance")
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            normalise(&mut labels);
            let v = r.at(&["value", "1"]).and_then(Json::as_str).unwrap();
            (labels, parse(v))
        })
        .collect()
}

fn same_value(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || ((a - b) / a).abs() < 1e-9
}

fn registry() -> Registry {
    let r = Registry::builder()
        .prefix("app")
        .unwrap()
        .const_label("region", "eu \"west\"")
        .unwrap()
        .build();
    let calls = Counter::builder("api_calls_total", "API calls.")
        .labels(["inner_ip", "path"])
        .register(&r)
        .unwrap();
    calls.with_label_values(&["10.0.0.1", "/a"]).inc_by(5);
    calls
        .with_label_values(&["10.0.0.2", "/b\n\\"])
        .inc_by_f64(0.5);
    calls
        .with_label_values(&["10.0.0.3", ""])
        .inc_with_exemplar(&[("trace_id", "4bf92f3577b34da6")]);
    Gauge::builder("cpu_usage_ratio", "CPU usage.")
        .unit("ratio")
        .unwrap()
        .labels(["core"])
        .register(&r)
        .unwrap()
        .with_label_values(&["0"])
        .set(-0.25);
    let h = Histogram::builder("task_seconds", "Task time.")
        .labels(["kind"])
        .buckets([-1.0, 0.005, 1.0, 2.5, 1e6])
        .unwrap()
        .register(&r)
        .unwrap();
    let a = h.with_label_values(&["a"]);
    for v in [-3.0, 0.5, 2.0, 2.0, 9.0] {
        a.observe(v);
    }
    a.observe_with_exemplar(0.75, &[("trace_id", "b7ad6b7169203331")]);
    h.with_label_values(&["b"]).observe(0.001);
    let s = Summary::builder("rpc_seconds", "RPC time.")
        .objectives(&Summary::GO_OBJECTIVES)
        .unwrap()
        .register(&r)
        .unwrap();
    for i in 0..1000 {
        s.observe(f64::from(i) / 100.0);
    }
    Summary::builder("plain_seconds", "No quantiles.")
        .register(&r)
        .unwrap()
        .observe(1.5);
    Info::builder("build", "Build.")
        .register(&r)
        .unwrap()
        .set(&[("version", "1.2.3"), ("commit", "abc")])
        .unwrap();
    StateSet::builder("mode", "Mode.", ["idle", "busy"])
        .unwrap()
        .register(&r)
        .unwrap()
        .set("busy")
        .unwrap();
    r
}

#[test]
fn prometheus_scrapes_protobuf_and_ingests_every_series() {
    if !support::have(&[Peer::Prometheus]) {
        return;
    }
    let r = registry();
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let proxy = LoggingProxy::start(server.local_addr(), None);
    let target = proxy.addr().to_string();
    let prom = support::start_prometheus_with(
        &[("pb", &target)],
        "1s",
        &[
            "--enable-feature=native-histograms",
            "--enable-feature=exemplar-storage",
        ],
    );

    let expected = text_samples(&r.encode_to_string(Format::Text));
    // The first scrape comes ~5-6 s after start (target discovery runs every 5 s).
    let done = support::wait_until(Duration::from_secs(40), Duration::from_millis(250), || {
        (support::query_first(&prom, "up{job=\"pb\"}").as_deref() == Some("1")
            && ingested(&prom, "pb").len() >= expected.len())
        .then_some(())
    });
    assert!(
        done.is_some(),
        "no complete scrape within 40 s; up = {:?}; Prometheus log:\n{}",
        support::query_first(&prom, "up{job=\"pb\"}"),
        prom.log()
    );

    // The wire: Prometheus asked for protobuf first and got it.
    let log = proxy.log();
    assert!(log.requests_contain(
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
    ));
    assert!(log.responses_contain(
        "Content-Type: application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    ));
    assert!(!log.responses_contain("text/plain"));

    let got = ingested(&prom, "pb");
    let keys = |m: &BTreeMap<Series, f64>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&got), keys(&expected), "ingested vs text exposition");
    for (series, want) in &expected {
        assert!(
            same_value(got[series], *want),
            "{series:?}: {} != {want}",
            got[series]
        );
    }
    assert_eq!(
        support::query_first(&prom, "scrape_samples_scraped{job=\"pb\"}"),
        Some(expected.len().to_string()),
        "one sample per text series, no duplicates"
    );
    eprintln!(
        "Prometheus ingested {} series over protobuf, all values equal to the text exposition's",
        got.len()
    );

    // Exemplars: the counter's and the bucket's.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (q, trace) in [
        ("app_api_calls_total", "4bf92f3577b34da6"),
        ("app_task_seconds_bucket", "b7ad6b7169203331"),
    ] {
        let url = format!(
            "{}/api/v1/query_exemplars?query={}&start={}&end={}",
            prom.url(),
            support::url_encode(q),
            now - 600,
            now + 60
        );
        let body = support::http_get(&url).unwrap().text();
        assert!(
            body.contains(trace),
            "{q}: exemplar {trace} missing: {body}"
        );
    }
    drop(prom);
    server.shutdown();
}
