//! Tests of the test harness (`tests/support`) against the real peers.
//!
//! The bodies here are hand-written on purpose: they check that each peer helper accepts what it
//! must accept and rejects what it must reject, so that encoder tests built on them cannot pass
//! vacuously. They do not test our encoder.

mod support;

use std::time::Duration;
use support::{Peer, PromtoolOutcome};

const GOOD_TEXT: &str = "\
# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{code=\"200\",method=\"get\"} 1027
http_requests_total{code=\"400\",method=\"post\"} 3
# HELP temperature_celsius Current temperature.
# TYPE temperature_celsius gauge
temperature_celsius -3.5
";

const GOOD_OM: &str = "\
# HELP requests Requests served.
# TYPE requests counter
requests_total{code=\"200\"} 1027.0
requests_created{code=\"200\"} 1.7e+09
# TYPE latency_seconds histogram
latency_seconds_bucket{le=\"0.1\"} 2.0
latency_seconds_bucket{le=\"+Inf\"} 3.0 # {trace_id=\"abc\"} 0.5 1.7e+09
latency_seconds_count 3.0
latency_seconds_sum 1.2
# EOF
";

#[test]
fn promtool_accepts_good_text() {
    if !support::have(&[Peer::Promtool]) {
        return;
    }
    assert_eq!(support::promtool_check(GOOD_TEXT), PromtoolOutcome::Clean);
    assert_eq!(support::promtool_check_metrics(GOOD_TEXT), Ok(()));
}

#[test]
fn promtool_rejects_bad_text() {
    if !support::have(&[Peer::Promtool]) {
        return;
    }
    let no_final_newline = GOOD_TEXT.trim_end_matches('\n');
    assert!(
        matches!(
            support::promtool_check(no_final_newline),
            PromtoolOutcome::Error(_)
        ),
        "missing final newline must be rejected"
    );
    let duplicate_type = format!("{GOOD_TEXT}# TYPE temperature_celsius gauge\n");
    let err = support::promtool_check_metrics(&duplicate_type).expect_err("second TYPE line");
    assert!(!err.is_empty());
}

#[test]
fn promtool_lint_is_distinct() {
    if !support::have(&[Peer::Promtool]) {
        return;
    }
    // A counter without `_total` parses but lints (exit 3).
    let body = "# HELP jobs Jobs.\n# TYPE jobs counter\njobs 1\n";
    match support::promtool_check(body) {
        PromtoolOutcome::Lint(msg) => assert!(msg.contains("_total"), "{msg}"),
        other => panic!("expected a lint finding, got {other:?}"),
    }
    assert_eq!(support::promtool_check_metrics(body), Ok(()));
}

#[test]
fn python_text_parser_unescapes_label_values() {
    if !support::have(&[Peer::Python]) {
        return;
    }
    let body = "\
# HELP esc Help with \\\\ backslash and \\n newline.
# TYPE esc gauge
esc{a=\"a\\\\b\",q=\"q\\\"\",n=\"n\\nx\",u=\"é☃🦀\"} 1.5 1700000000000
esc{a=\"inf\"} +Inf
esc{a=\"-inf\"} -Inf
esc{a=\"nan\"} NaN
";
    let fams = support::python_parse_text(body).expect("parses");
    assert_eq!(fams.len(), 1, "{fams:?}");
    let f = &fams[0];
    assert_eq!(f.name, "esc");
    assert_eq!(f.typ, "gauge");
    assert_eq!(f.help, "Help with \\ backslash and \n newline.");
    assert_eq!(f.samples.len(), 4);
    let s = &f.samples[0];
    assert_eq!(
        s.labels,
        vec![
            ("a".to_string(), "a\\b".to_string()),
            ("n".to_string(), "n\nx".to_string()),
            ("q".to_string(), "q\"".to_string()),
            ("u".to_string(), "é☃🦀".to_string()),
        ]
    );
    assert_eq!(s.value, 1.5);
    // text timestamps are milliseconds; the parser gives seconds
    assert_eq!(s.timestamp, Some(1_700_000_000.0));
    assert_eq!(f.samples[1].value, f64::INFINITY);
    assert_eq!(f.samples[2].value, f64::NEG_INFINITY);
    assert!(f.samples[3].value.is_nan());
    assert_eq!(f.samples[3].timestamp, None);
}

#[test]
fn python_openmetrics_parser_accepts_good_body() {
    if !support::have(&[Peer::Python]) {
        return;
    }
    let fams = support::python_parse_openmetrics(GOOD_OM).expect("parses");
    let req = support::family(&fams, "requests").expect("requests family");
    assert_eq!(req.typ, "counter");
    assert_eq!(req.help, "Requests served.");
    assert_eq!(req.samples.len(), 2);
    assert_eq!(req.samples[0].name, "requests_total");
    assert_eq!(req.samples[0].label("code"), Some("200"));
    assert_eq!(req.samples[1].name, "requests_created");
    assert_eq!(req.samples[1].value, 1.7e9);
    let lat = support::family(&fams, "latency_seconds").expect("histogram family");
    assert_eq!(lat.typ, "histogram");
    let inf = lat
        .samples_named("latency_seconds_bucket")
        .find(|s| s.label("le") == Some("+Inf"))
        .expect("+Inf bucket");
    assert_eq!(inf.value, 3.0);
    let (ex_labels, ex_value, ex_ts) = inf.exemplar.clone().expect("exemplar");
    assert_eq!(ex_labels, vec![("trace_id".to_string(), "abc".to_string())]);
    assert_eq!(ex_value, 0.5);
    assert_eq!(ex_ts, Some(1.7e9));
}

#[test]
fn python_openmetrics_parser_rejects_missing_eof() {
    if !support::have(&[Peer::Python]) {
        return;
    }
    let body = GOOD_OM.replace("# EOF\n", "");
    let err = support::python_parse_openmetrics(&body).expect_err("no # EOF");
    assert!(err.contains("EOF"), "{err}");
    // counter sample without _total is rejected by the strict parser
    let err = support::python_parse_openmetrics("# TYPE c counter\nc 1\n# EOF\n");
    assert!(err.is_err(), "{err:?}");
}

#[test]
fn promtool_openmetrics_check_accepts_and_rejects() {
    if !support::have(&[Peer::Promtool]) {
        return;
    }
    support::promtool_openmetrics_check(GOOD_OM).expect("good OpenMetrics body");
    let no_eof = GOOD_OM.replace("# EOF\n", "");
    let err = support::promtool_openmetrics_check(&no_eof).expect_err("no # EOF");
    assert!(err.contains("EOF"), "{err}");
    let after_eof = format!("{GOOD_OM}x 1\n");
    assert!(support::promtool_openmetrics_check(&after_eof).is_err());
    let blank_line = GOOD_OM.replace("# TYPE latency", "\n# TYPE latency");
    assert!(support::promtool_openmetrics_check(&blank_line).is_err());
}

#[test]
fn add_timestamps_only_touches_sample_values() {
    let body = "# TYPE a counter\n\
                a_total{x=\"} 1 # {\"} 2\n\
                a_total 3 1600000000\n\
                h_bucket{le=\"+Inf\"} 3 # {t=\"a b\"} 0.5\n\
                g 1\r\n\
                # EOF";
    assert_eq!(
        support::add_timestamps(body, "99"),
        "# TYPE a counter\n\
         a_total{x=\"} 1 # {\"} 2 99\n\
         a_total 3 1600000000\n\
         h_bucket{le=\"+Inf\"} 3 99 # {t=\"a b\"} 0.5\n\
         g 1 99\r\n\
         # EOF"
    );
}

#[test]
fn json_parser_handles_api_shapes() {
    let v = support::Json::parse(
        r#"{"status":"success","data":{"result":[{"metric":{"__name__":"up","u":"\u00e9\ud83e\udd80\n"},"value":[1700000000.123,"+Inf"]}]}}"#,
    )
    .unwrap();
    assert_eq!(
        v.at(&["data", "result", "0", "metric", "u"])
            .and_then(|j| j.as_str()),
        Some("é🦀\n")
    );
    assert_eq!(
        v.at(&["data", "result", "0", "value", "1"])
            .and_then(|j| j.as_f64()),
        Some(f64::INFINITY)
    );
    assert_eq!(
        v.at(&["data", "result", "0", "value", "0"])
            .and_then(|j| j.as_f64()),
        Some(1_700_000_000.123)
    );
    assert!(support::Json::parse("{\"a\":1,}").is_err());
}

#[test]
fn pushgateway_accepts_put_and_dies_on_drop() {
    if !support::have(&[Peer::Pushgateway]) {
        return;
    }
    let pg = support::start_pushgateway();
    let pid = pg.pid();
    assert!(support::pid_alive(pid));
    let body = "# TYPE selftest_jobs_total counter\nselftest_jobs_total{kind=\"a\\\"b\"} 7\n";
    let url = format!("{}/metrics/job/selftest/instance/i1", pg.url());
    let r = support::http_put(&url, body.as_bytes()).expect("PUT");
    assert_eq!(r.status, 200, "{}", r.text());

    let metrics = support::http_get(&format!("{}/metrics", pg.url())).expect("GET /metrics");
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    assert!(
        text.contains("selftest_jobs_total{instance=\"i1\",job=\"selftest\",kind=\"a\\\"b\"} 7"),
        "{text}"
    );

    let api = support::http_get(&format!("{}/api/v1/metrics", pg.url())).expect("GET api");
    assert_eq!(api.status, 200);
    let json = api.json().expect("JSON");
    let group = json.at(&["data", "0"]).expect("one group");
    assert_eq!(
        group.at(&["labels", "job"]).and_then(|j| j.as_str()),
        Some("selftest")
    );
    assert!(group.get("selftest_jobs_total").is_some(), "{}", api.text());

    let del = support::http_delete(&url).expect("DELETE");
    assert_eq!(del.status, 202);

    drop(pg);
    assert!(
        !support::pid_alive(pid),
        "pushgateway {pid} still running after drop"
    );
}

#[test]
fn prometheus_starts_answers_and_dies_on_drop() {
    if !support::have(&[Peer::Prometheus, Peer::Pushgateway]) {
        return;
    }
    // Scrape a Pushgateway: a real target that needs nothing from our crate.
    let pg = support::start_pushgateway();
    let target = pg.addr().to_string();
    let prom = support::start_prometheus(&[("selftest", &target)], "1s");
    let pid = prom.pid();
    let dir = prom.dir().to_path_buf();
    assert!(dir.join("prometheus.yml").exists());
    let ready = support::http_get(&format!("{}/-/ready", prom.url())).expect("ready");
    assert_eq!(ready.status, 200);

    // The first scrape comes ~5-6 s after start (target discovery), so allow 30 s.
    let up = support::wait_until(Duration::from_secs(30), Duration::from_millis(250), || {
        let r = support::prometheus_query(&prom, "up{job=\"selftest\"}").ok()?;
        r.first()?.at(&["value", "1"])?.as_f64()
    });
    assert_eq!(up, Some(1.0), "target never up; log:\n{}", prom.log());

    drop(prom);
    assert!(
        !support::pid_alive(pid),
        "prometheus {pid} still running after drop"
    );
    assert!(!dir.exists(), "temp dir {} not removed", dir.display());
}

#[test]
fn http_helper_decodes_chunked_and_sends_body() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // Read the head, then Content-Length bytes of body.
        let mut req = Vec::new();
        let mut byte = [0u8; 1];
        while !req.ends_with(b"\r\n\r\n") {
            conn.read_exact(&mut byte).unwrap();
            req.push(byte[0]);
        }
        let mut body = vec![0u8; 5];
        conn.read_exact(&mut body).unwrap();
        conn.write_all(
            b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
              4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\n\r\n",
        )
        .unwrap();
        (String::from_utf8(req).unwrap(), body)
    });
    let r = support::http_request(
        "POST",
        &format!("http://{addr}/p/a%20th?q=1"),
        &[("Content-Type", "text/plain; version=0.0.4")],
        b"hello",
    )
    .expect("request");
    let (req, body) = server.join().unwrap();
    assert!(req.starts_with("POST /p/a%20th?q=1 HTTP/1.1\r\n"), "{req}");
    assert!(req.contains("\r\nContent-Length: 5\r\n"), "{req}");
    assert!(req.contains("\r\nConnection: close\r\n"), "{req}");
    assert!(
        req.contains("\r\nContent-Type: text/plain; version=0.0.4\r\n"),
        "{req}"
    );
    assert_eq!(body, b"hello");
    assert_eq!(r.status, 201);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.text(), "Wikipedia in \r\n\r\nchunks.");
}

#[test]
fn wait_until_is_bounded() {
    let start = std::time::Instant::now();
    let r: Option<()> = support::wait_until(
        Duration::from_millis(200),
        Duration::from_millis(20),
        || None,
    );
    assert_eq!(r, None);
    assert!(start.elapsed() < Duration::from_secs(2));
    let mut n = 0;
    let r = support::wait_until(Duration::from_secs(5), Duration::from_millis(1), || {
        n += 1;
        (n == 3).then_some(n)
    });
    assert_eq!(r, Some(3));
}
