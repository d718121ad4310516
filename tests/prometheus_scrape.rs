//! A real Prometheus (Debian 2.42) scrapes the built-in server on loopback, through two
//! small logging proxies: job `om` passes Prometheus' own `Accept` (OpenMetrics 1.0.0 first),
//! job `text` rewrites it to ask for text 0.0.4. Both targets must be up and every series
//! of each body must be ingested with its value.

mod support;

use std::time::Duration;

use support::{LoggingProxy, Peer};
use tachymeter::{start_http_server, Counter, Format, Gauge, Histogram, Registry};

#[test]
fn prometheus_scrapes_both_formats_and_ingests_every_series() {
    if !support::have(&[Peer::Prometheus]) {
        return;
    }
    let r = Registry::new();
    let calls = Counter::builder("api_called_total", "How many is the api called")
        .labels(["inner_ip"])
        .register(&r)
        .unwrap();
    calls.with_label_values(&["10.0.0.1"]).inc_by(5);
    calls.with_label_values(&["10.0.0.2"]).inc();
    let cpu = Gauge::builder("cpu_usage", "simulate the cpu usage metric")
        .labels(["inner_ip"])
        .register(&r)
        .unwrap();
    cpu.with_label_values(&["10.0.0.1"]).set(0.25);
    let h = Histogram::builder(
        "task_time_histogram",
        "analyze the time of task with histogram",
    )
    .buckets([1.0, 2.0, 3.0, 4.0, 5.0])
    .unwrap()
    .register(&r)
    .unwrap();
    for v in [0.5, 2.5, 4.5, 9.0] {
        h.observe(v);
    }

    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let om_proxy = LoggingProxy::start(server.local_addr(), None);
    let text_proxy = LoggingProxy::start(
        server.local_addr(),
        Some("text/plain;version=0.0.4;q=1,*/*;q=0.1"),
    );
    let (om_target, text_target) = (om_proxy.addr().to_string(), text_proxy.addr().to_string());
    let prom = support::start_prometheus(&[("om", &om_target), ("text", &text_target)], "1s");

    // The first scrape comes ~5-6 s after start (target discovery runs every 5 s).
    let scraped = support::wait_until(Duration::from_secs(30), Duration::from_millis(250), || {
        (support::query_values(&prom, "up{job=\"om\"}").len() == 1
            && support::query_values(&prom, "up{job=\"text\"}").len() == 1)
            .then_some(())
    });
    assert!(
        scraped.is_some(),
        "no scrape within 30 s; Prometheus log:\n{}",
        prom.log()
    );
    for job in ["om", "text"] {
        assert_eq!(
            support::query_values(&prom, &format!("up{{job=\"{job}\"}}")),
            ["1"],
            "{}",
            prom.log()
        );
    }

    // Which format each scrape negotiated, as seen on the wire.
    let om = om_proxy.log();
    assert!(om.requests_contain("application/openmetrics-text;version=1.0.0"));
    assert!(om.requests_contain("Accept-Encoding: gzip"));
    assert!(om.responses_contain(
        "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"
    ));
    assert!(om.responses_contain("Content-Encoding: gzip"));
    let text = text_proxy.log();
    assert!(text.responses_contain("Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    assert!(!text.responses_contain("application/openmetrics-text"));

    for (job, format) in [("om", Format::OpenMetrics), ("text", Format::Text)] {
        let body = r.encode_to_string(format);
        let expected = support::exposition_samples(&body);
        for (selector, value) in &expected {
            let q = support::with_job(selector, job);
            let got = support::query_values(&prom, &q);
            assert_eq!(got.len(), 1, "{q} not ingested; body:\n{body}");
            assert!(
                support::same_value(&got[0], value),
                "{q}: {} != {value}",
                got[0]
            );
        }
        let scraped =
            support::query_values(&prom, &format!("scrape_samples_scraped{{job=\"{job}\"}}"));
        assert_eq!(
            scraped,
            [expected.len().to_string()],
            "job {job}, body:\n{body}"
        );
    }
    drop(prom);
    server.shutdown();
}
