//! The scenario both framework tests run against a real app on loopback (issue 9, "Done
//! when"): routes, 404s, 405s, a nested template, a panicking handler and a client that
//! leaves `/slow`. Every wait is bounded in time and in count.

#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::support;

/// The app both tests serve: `/users/{id}`, `/slow` (2 s), `/panic`,
/// `/api/v1/items/{item}` (nested two levels), `/metrics` (excluded from the metrics).
pub const NESTED: &str = "/api/v1/items/{item}";

pub fn get(addr: SocketAddr, path: &str) -> support::HttpResponse {
    support::http_get(&format!("http://{addr}{path}")).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

pub fn scrape(addr: SocketAddr) -> String {
    let r = get(addr, "/metrics");
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

/// The value of the sample line starting with `selector ` (exact series), if present.
pub fn sample(body: &str, selector: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(selector)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

fn count(method: &str, route: &str, status: u16) -> String {
    format!(
        "http_server_request_duration_seconds_count{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}"
    )
}

fn active(method: &str, route: &str) -> String {
    format!("http_server_active_requests{{method=\"{method}\",route=\"{route}\"}}")
}

/// Polls the exposition (every 20 ms, at most 5 s) until `pred` holds; returns the last body.
pub fn wait_for(addr: SocketAddr, what: &str, mut pred: impl FnMut(&str) -> bool) -> String {
    let mut last = String::new();
    let ok = support::wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
        last = scrape(addr);
        pred(&last).then_some(())
    });
    assert!(
        ok.is_some(),
        "timed out waiting for {what}; last exposition:\n{last}"
    );
    last
}

/// The request mix, then the exact counts.
pub fn routes_404s_and_405s(addr: SocketAddr) {
    for id in 1..=5 {
        let r = get(addr, &format!("/users/{id}"));
        assert_eq!(r.status, 200, "{}", r.text());
    }
    for _ in 0..2 {
        assert_eq!(get(addr, "/nope").status, 404);
    }
    let r = support::http_post(&format!("http://{addr}/users/1"), b"").unwrap();
    assert_eq!(r.status, 405, "{}", r.text());
    let r = support::http_request("PROPFIND", &format!("http://{addr}/users/2"), &[], b"").unwrap();
    assert!(r.status == 405 || r.status == 404, "{}", r.status);
    let propfind_status = r.status;

    let body = wait_for(addr, "the 405 to be recorded", |b| {
        sample(b, &count("POST", "/users/{id}", 405)).is_some()
    });
    assert_eq!(
        sample(&body, &count("GET", "/users/{id}", 200)),
        Some(5.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, &count("GET", "unmatched", 404)),
        Some(2.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, &count("POST", "/users/{id}", 405)),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, &count("_OTHER", "/users/{id}", propfind_status)),
        Some(1.0),
        "an unknown method is _OTHER: {body}"
    );
    for raw in [
        "/users/1\"",
        "/users/5\"",
        "/nope\"",
        "PROPFIND",
        "route=\"/metrics\"",
    ] {
        assert!(!body.contains(raw), "{raw} leaked into a series:\n{body}");
    }
    assert_eq!(
        sample(&body, &active("GET", "/users/{id}")),
        Some(0.0),
        "{body}"
    );
}

pub fn nested_template_in_full(addr: SocketAddr) {
    let r = get(addr, "/api/v1/items/42");
    assert_eq!(r.status, 200, "{}", r.text());
    let body = wait_for(addr, "the nested route", |b| {
        sample(b, &count("GET", NESTED, 200)).is_some()
    });
    assert_eq!(
        sample(&body, &count("GET", NESTED, 200)),
        Some(1.0),
        "{body}"
    );
    assert!(!body.contains("/items/42"), "{body}");
}

/// A client that sends `GET /slow` and goes away before the answer leaves the gauge at 0.
/// Where the framework cancels the handler (`cancels`: axum/hyper), no duration is recorded
/// for the request that was never answered; actix-web runs the handler to completion, so the
/// request is recorded with the status it produced.
pub fn disconnect_releases_the_gauge(addr: SocketAddr, cancels: bool) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    wait_for(addr, "/slow to be in flight", |b| {
        sample(b, &active("GET", "/slow")) == Some(1.0)
    });
    drop(s);
    let body = wait_for(addr, "the gauge to drop back", |b| {
        sample(b, &active("GET", "/slow")) == Some(0.0)
    });
    if cancels {
        assert!(
            sample(&body, &count("GET", "/slow", 200)).is_none(),
            "a request cancelled before its answer is not a served request:\n{body}"
        );
    }
}

/// A handler that panics is counted as a 500 and gives its slot back.
pub fn panic_is_a_500(addr: SocketAddr) {
    // The connection is dropped by the framework (no answer) or answered 500.
    if let Ok(r) = support::http_get(&format!("http://{addr}/panic")) {
        assert_eq!(r.status, 500, "{}", r.text());
    }
    let body = wait_for(addr, "the panic to be recorded", |b| {
        sample(b, &count("GET", "/panic", 500)) == Some(1.0)
    });
    assert_eq!(sample(&body, &active("GET", "/panic")), Some(0.0), "{body}");
}

/// The endpoint answers as `start_http_server` (the same renderer): headers per format,
/// gzip, `name[]`, 400 on a bad query, `Vary`.
pub fn endpoint_matches_the_builtin_server(addr: SocketAddr, registry: &tachymeter::Registry) {
    let url = format!("http://{addr}/metrics");
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, Option<&'a str>);
    let cases: [Case<'_>; 3] = [
        (&[], "text/plain; version=0.0.4; charset=utf-8", None),
        (
            &[("Accept", "application/openmetrics-text;version=1.0.0")],
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            None,
        ),
        (
            &[
                (
                    "Accept",
                    "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
                ),
                ("Accept-Encoding", "gzip"),
            ],
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Some("gzip"),
        ),
    ];
    for (headers, content_type, encoding) in cases {
        let r = support::http_request("GET", &url, headers, b"").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(content_type), "{headers:?}");
        assert_eq!(r.header("content-encoding"), encoding, "{headers:?}");
        assert_eq!(r.header("vary"), Some("Accept, Accept-Encoding"));
        let accept = headers
            .iter()
            .find(|(k, _)| *k == "Accept")
            .map(|(_, v)| *v);
        let enc = headers
            .iter()
            .find(|(k, _)| *k == "Accept-Encoding")
            .map(|(_, v)| *v);
        if encoding.is_none() {
            // Nothing measured changes between the two: /metrics is excluded.
            let expected = tachymeter::http::render(registry, accept, enc, None).unwrap();
            assert_eq!(r.text(), String::from_utf8(expected.body).unwrap());
        }
    }
    let r = get(addr, "/metrics?name[]=http_server_active_requests");
    assert!(
        r.text().starts_with("# HELP http_server_active_requests "),
        "{}",
        r.text()
    );
    assert!(!r.text().contains("duration"), "{}", r.text());
    let r = get(addr, "/metrics?name[]=%");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = support::http_request("HEAD", &url, &[], b"").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    let r = support::http_post(&url, b"").unwrap();
    assert_eq!(r.status, 405);
}
