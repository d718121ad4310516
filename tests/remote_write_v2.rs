//! Remote-Write 2.0 (`RemoteWriter::protocol(RemoteWriteProtocol::V2)`) and its fallback to
//! 1.0, against loopback receivers ([`CaptureServer`] scripts) and real 1.0-only receivers:
//! Prometheus 2.42 (`--web.enable-remote-write-receiver`) and VictoriaMetrics 1.79, which
//! answer a 2.0 body with 204 and no `X-Prometheus-Remote-Write-*-Written` header having
//! stored nothing of it. The writer must then send the same series again as 1.0, so that
//! every series reads back with identical labels and values.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use prost::Message;
use support::*;
use tachymeter::http::{RemoteWriteError, RemoteWriteProtocol, RemoteWriter};
use tachymeter::{Counter, Gauge, Histogram, Registry, Summary};

const V2_TYPE: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

#[derive(Clone, PartialEq, Message)]
struct Request {
    #[prost(string, repeated, tag = "4")]
    symbols: Vec<String>,
    #[prost(message, repeated, tag = "5")]
    timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, Message)]
struct TimeSeries {
    #[prost(uint32, repeated, tag = "1")]
    labels_refs: Vec<u32>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
    #[prost(message, optional, tag = "5")]
    metadata: Option<Metadata>,
    #[prost(int64, tag = "6")]
    created_timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
struct Sample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
struct Metadata {
    #[prost(int32, tag = "1")]
    r#type: i32,
    #[prost(uint32, tag = "3")]
    help_ref: u32,
}

/// Decodes a snappy-compressed 2.0 request into (labels, value, timestamp, help).
fn decode_v2(body: &[u8]) -> Vec<(RwLabels, f64, i64, String)> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
    let req = Request::decode(&raw[..]).unwrap();
    assert_eq!(req.symbols[0], "");
    req.timeseries
        .iter()
        .map(|ts| {
            let labels = ts
                .labels_refs
                .chunks(2)
                .map(|p| {
                    (
                        req.symbols[p[0] as usize].clone(),
                        req.symbols[p[1] as usize].clone(),
                    )
                })
                .collect();
            let [s] = &ts.samples[..] else {
                panic!("one sample per series")
            };
            let help = ts.metadata.as_ref().map_or(0, |m| m.help_ref);
            (
                labels,
                s.value,
                s.timestamp,
                req.symbols[help as usize].clone(),
            )
        })
        .collect()
}

fn registry() -> Registry {
    three_series_registry()
}

fn writer(url: &str, r: &Registry) -> RemoteWriter {
    base_writer(url, r).protocol(RemoteWriteProtocol::V2)
}

fn is_v2(r: &CapturedRequest) -> bool {
    match (
        r.header("Content-Type"),
        r.header("X-Prometheus-Remote-Write-Version"),
    ) {
        (Some(V2_TYPE), Some("2.0.0")) => true,
        (Some("application/x-protobuf"), Some("0.1.0")) => false,
        other => panic!("unexpected protocol headers {other:?}"),
    }
}

/// (labels, value) of a 1.0 body.
fn v1_series(body: &[u8]) -> BTreeMap<RwLabels, f64> {
    decode_write_request(body)
        .unwrap()
        .into_iter()
        .map(|s| (s.labels, s.value))
        .collect()
}

fn v2_series(body: &[u8]) -> BTreeMap<RwLabels, f64> {
    decode_v2(body)
        .into_iter()
        .map(|(l, v, _, _)| (l, v))
        .collect()
}

const WRITTEN_3: &[(&str, &str)] = &[
    ("X-Prometheus-Remote-Write-Samples-Written", "3"),
    ("X-Prometheus-Remote-Write-Histograms-Written", "0"),
    ("X-Prometheus-Remote-Write-Exemplars-Written", "0"),
];

#[test]
fn a_receiver_that_answers_with_written_headers_keeps_the_writer_on_v2() {
    let rx = CaptureServer::start(vec![Answer::ReplyWith(204, WRITTEN_3, "")]);
    let w = writer(&rx.url(), &registry());
    w.write_once().unwrap();
    w.write_once().unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert!(is_v2(r), "{:?}", r.headers);
        assert_eq!(r.header("Content-Encoding"), Some("snappy"));
        let rows = decode_v2(&r.body);
        assert_eq!(rows.len(), 3);
        let helps: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
        assert_eq!(helps, ["Jobs.", "Jobs.", "Depth."]);
    }
    let s = w.stats();
    assert_eq!(
        (s.protocol_fallbacks, s.samples_sent, s.partial_writes),
        (0, 6, 0)
    );
}

#[test]
fn a_one_point_zero_receiver_gets_the_same_series_again_as_v1_once() {
    // 204 without the Written headers, as Prometheus 2.42 and VictoriaMetrics 1.79 answer.
    let rx = CaptureServer::start(vec![Answer::Reply(204, "")]);
    let w = writer(&rx.url(), &registry()).register_self_metrics(&Registry::new());
    let w = w.unwrap();
    w.write_once().unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2, "the v2 request, then the same batch as v1");
    assert!(is_v2(&reqs[0]) && !is_v2(&reqs[1]));
    let (sent_v2, sent_v1) = (v2_series(&reqs[0].body), v1_series(&reqs[1].body));
    assert_eq!(sent_v1.len(), 3);
    assert_eq!(sent_v1, sent_v2, "the same series and values");
    // Stays on 1.0: the next collection is sent once, as 1.0.
    w.write_once().unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 3);
    assert!(!is_v2(&reqs[2]));
    let s = w.stats();
    assert_eq!(
        (
            s.protocol_fallbacks,
            s.samples_sent,
            s.samples_failed,
            s.requests
        ),
        (1, 6, 0, 3)
    );
}

#[test]
fn a_415_falls_back_too() {
    let rx = CaptureServer::start(vec![
        Answer::Reply(415, "unsupported proto"),
        Answer::Reply(204, ""),
    ]);
    let w = writer(&rx.url(), &registry()).max_retries(0);
    w.write_once().unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    assert!(is_v2(&reqs[0]) && !is_v2(&reqs[1]));
    assert_eq!(v1_series(&reqs[1].body), v2_series(&reqs[0].body));
    let s = w.stats();
    assert_eq!(
        (s.protocol_fallbacks, s.samples_sent, s.samples_failed),
        (1, 3, 0)
    );
}

#[test]
fn a_partial_write_is_counted_and_surfaced_not_retried() {
    const WRITTEN_1: &[(&str, &str)] = &[("X-Prometheus-Remote-Write-Samples-Written", "1")];
    let rx = CaptureServer::start(vec![Answer::ReplyWith(204, WRITTEN_1, "")]);
    let w = writer(&rx.url(), &registry());
    let err = w.write_once().unwrap_err();
    assert!(
        matches!(
            err,
            RemoteWriteError::PartialWrite {
                sent: 3,
                written: 1
            }
        ),
        "{err:?}"
    );
    assert_eq!(rx.requests().len(), 1);
    let s = w.stats();
    assert_eq!(
        (
            s.samples_sent,
            s.samples_failed,
            s.partial_writes,
            s.protocol_fallbacks
        ),
        (1, 2, 1, 0)
    );
}

#[test]
fn the_background_writer_falls_back_and_every_collection_arrives() {
    let rx = CaptureServer::start(vec![Answer::Reply(204, "")]);
    let r = registry();
    let self_metrics = Registry::new();
    let w = writer(&rx.url(), &r)
        .interval(Duration::from_millis(100))
        .register_self_metrics(&self_metrics)
        .unwrap();
    let handle = w.spawn();
    wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        (rx.requests().len() >= 5).then_some(())
    })
    .expect("requests keep coming");
    let stats = handle.shutdown().unwrap();
    let reqs = rx.requests();
    assert!(is_v2(&reqs[0]), "the first request probes 2.0");
    assert!(reqs[1..].iter().all(|r| !is_v2(r)), "then 1.0 only");
    for r in &reqs[1..] {
        assert_eq!(v1_series(&r.body).len(), 3);
    }
    // Every collection was stored once (the probe stored nothing).
    assert_eq!(stats.samples_sent, 3 * stats.collections);
    assert_eq!(reqs.len() as u64, stats.collections + 1);
    assert_eq!(stats.protocol_fallbacks, 1);
    let text = self_metrics.encode_to_string(tachymeter::Format::Text);
    assert!(
        text.contains("\ntachymeter_remote_write_protocol_fallbacks_total 1\n"),
        "{text}"
    );
}

/// Counters, a gauge, a classic histogram and a summary, with labels.
fn peer_registry() -> Registry {
    let r = Registry::new();
    let c = Counter::builder("api_called_total", "API calls.")
        .labels(["inner_ip"])
        .register(&r)
        .unwrap();
    c.with_label_values(&["10.0.0.1"]).inc();
    c.with_label_values(&["10.0.0.2"]).inc_by(3);
    Gauge::builder("cpu_usage", "CPU.")
        .register(&r)
        .unwrap()
        .set(0.75);
    let h = Histogram::builder("task_seconds", "Task time.")
        .buckets([1.0, 2.5])
        .unwrap()
        .register(&r)
        .unwrap();
    for v in [0.5, 2.0, 7.0] {
        h.observe(v);
    }
    let s = Summary::builder("size_bytes", "Sizes.")
        .register(&r)
        .unwrap();
    s.observe(4.0);
    r
}

/// Writes `peer_registry` once with 2.0 opted in through a proxy to `target`; returns the
/// series of the 1.0 re-send, after checking the probe carried the same ones.
fn write_v2_through_proxy(target: std::net::SocketAddr) -> BTreeMap<RwLabels, f64> {
    let proxy = RecordingProxy::start(target);
    let w = RemoteWriter::new(&format!("{}/api/v1/write", proxy.url()))
        .unwrap()
        .registry(&peer_registry())
        .external_label("job", "rw2")
        .unwrap()
        .protocol(RemoteWriteProtocol::V2);
    w.write_once().unwrap();
    let s = w.stats();
    assert_eq!(
        s.protocol_fallbacks, 1,
        "a 1.0 receiver: {:?}",
        s.last_error
    );
    let reqs = proxy.requests();
    assert_eq!(reqs.len(), 2);
    assert!(is_v2(&reqs[0]) && !is_v2(&reqs[1]));
    let sent = v1_series(&reqs[1].body);
    assert_eq!(sent, v2_series(&reqs[0].body));
    assert_eq!(
        sent.len(),
        10,
        "2 + 1 + 5 (3 buckets, sum, count) + 2 (sum, count)"
    );
    sent
}

/// A 2.0 body of `peer_registry` (job `probe_only`), as the writer sends it, recorded by a
/// loopback receiver that keeps the writer on 2.0.
fn v2_body() -> Vec<u8> {
    let rx = CaptureServer::start(vec![Answer::ReplyWith(204, WRITTEN_3, "")]);
    RemoteWriter::new(&format!("{}/api/v1/write", rx.url()))
        .unwrap()
        .registry(&peer_registry())
        .external_label("job", "probe_only")
        .unwrap()
        .protocol(RemoteWriteProtocol::V2)
        .write_once()
        .unwrap_err(); // a partial write: the canned headers say 3 of 10
    let reqs = rx.requests();
    assert!(is_v2(&reqs[0]));
    reqs[0].body.clone()
}

/// What the brief's premise says of a 1.0 receiver, checked on the real one: it answers a
/// 2.0 body with 2xx and none of the Written headers (so the writer cannot tell it from
/// success without them), and stores none of it.
fn one_point_zero_receiver_ignores_a_v2_body(url: &str, stored: impl Fn() -> usize) {
    let headers = [
        ("Content-Type", V2_TYPE),
        ("Content-Encoding", "snappy"),
        ("X-Prometheus-Remote-Write-Version", "2.0.0"),
    ];
    let r = http_request("POST", url, &headers, &v2_body()).unwrap();
    assert!((200..300).contains(&r.status), "{} {}", r.status, r.text());
    for h in ["Samples", "Histograms", "Exemplars"] {
        let name = format!("X-Prometheus-Remote-Write-{h}-Written");
        assert_eq!(r.header(&name), None, "{:?}", r.headers);
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(stored(), 0, "nothing of the 2.0 body is stored");
}

#[test]
fn prometheus_2_42_gets_every_series_after_the_fallback() {
    if !have(&[Peer::Prometheus]) {
        return;
    }
    let prom = start_prometheus_with(&[], "1s", &["--web.enable-remote-write-receiver"]);
    one_point_zero_receiver_ignores_a_v2_body(&format!("{}/api/v1/write", prom.url()), || {
        prometheus_series(&prom, r#"{job="probe_only"}"#).len()
    });
    let sent = write_v2_through_proxy(prom.addr());
    let got = wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
        let rows = prometheus_series(&prom, r#"{job="rw2"}"#);
        (rows.len() >= sent.len()).then_some(rows)
    })
    .unwrap_or_else(|| panic!("Prometheus did not get every series:\n{}", prom.log()));
    let got: BTreeMap<RwLabels, f64> = got.into_iter().collect();
    assert_eq!(got, sent, "Prometheus holds exactly what was sent");
}

#[test]
fn victoria_metrics_1_79_gets_every_series_after_the_fallback() {
    if !have(&[Peer::VictoriaMetrics]) {
        return;
    }
    let vm = start_victoria_metrics();
    one_point_zero_receiver_ignores_a_v2_body(&format!("{}/api/v1/write", vm.url()), || {
        victoria_export(&vm, r#"{job="probe_only"}"#).len()
    });
    let sent = write_v2_through_proxy(vm.addr());
    let got = wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
        let rows = victoria_export(&vm, r#"{job="rw2"}"#);
        (rows.len() >= sent.len()).then_some(rows)
    })
    .unwrap_or_else(|| panic!("VictoriaMetrics did not get every series:\n{}", vm.log()));
    let got: BTreeMap<RwLabels, f64> = got
        .into_iter()
        .map(|(l, points)| {
            assert_eq!(points.len(), 1, "{l:?}: stored once, not twice");
            (l, points[0].1)
        })
        .collect();
    assert_eq!(got, sent, "VictoriaMetrics holds exactly what was sent");
}
