//! The built-in scrape server over real sockets: negotiation, gzip, HEAD, filtering, status
//! codes, concurrency and shutdown.

mod support;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use support::HttpResponse;
use tachymeter::http::ServeError;
use tachymeter::{start_http_server, Counter, Format, Gauge, Histogram, Registry};

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OM: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROM_242_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// One request to `path` on the server at `a`, with these extra headers and no body.
fn request(method: &str, a: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    support::http_request(method, &format!("http://{a}{path}"), headers, b"")
        .unwrap_or_else(|e| panic!("{e}"))
}

fn get(a: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    request("GET", a, path, headers)
}

fn seed() -> Registry {
    let r = Registry::new();
    let c = Counter::builder("api_called_total", "How many is the api called")
        .labels(["inner_ip"])
        .register(&r)
        .unwrap();
    c.with_label_values(&["10.0.0.1"]).inc();
    Gauge::builder("cpu_usage", "simulate the cpu usage metric")
        .register(&r)
        .unwrap()
        .set(0.5);
    Histogram::builder("task_time_histogram", "task time")
        .buckets([1.0, 2.0, 3.0, 4.0, 5.0])
        .unwrap()
        .register(&r)
        .unwrap()
        .observe(2.5);
    r
}

#[test]
fn serves_text_by_default_with_exact_content_type() {
    let r = seed();
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let m = get(server.local_addr(), "/metrics", &[]);
    assert_eq!(m.status, 200);
    assert_eq!(m.header("Content-Type"), Some(TEXT));
    assert_eq!(m.header("Content-Encoding"), None);
    assert_eq!(m.text(), r.encode_to_string(Format::Text));
    // A malformed Accept header still gets a scrape, in text.
    let m = get(server.local_addr(), "/metrics", &[("Accept", "garbage;;")]);
    assert_eq!((m.status, m.header("Content-Type")), (200, Some(TEXT)));
    server.shutdown();
}

#[test]
fn negotiates_openmetrics_for_prometheus_accept_and_honours_q() {
    let r = seed();
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let a = server.local_addr();
    let m = get(a, "/metrics", &[("Accept", PROM_242_ACCEPT)]);
    assert_eq!(m.header("Content-Type"), Some(OM));
    assert_eq!(m.text(), r.encode_to_string(Format::OpenMetrics));
    let m = get(
        a,
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;q=0.3, text/plain;q=0.7",
        )],
    );
    assert_eq!(m.header("Content-Type"), Some(TEXT));
}

#[test]
fn gzips_when_asked() {
    let r = seed();
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let m = get(
        server.local_addr(),
        "/metrics",
        &[("Accept-Encoding", "gzip"), ("Accept", PROM_242_ACCEPT)],
    );
    assert_eq!(m.header("Content-Encoding"), Some("gzip"));
    assert_eq!(
        m.header("Content-Length"),
        Some(m.body.len().to_string().as_str())
    );
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&m.body[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, r.encode_to_string(Format::OpenMetrics));
    let m = get(
        server.local_addr(),
        "/metrics",
        &[("Accept-Encoding", "gzip;q=0, identity")],
    );
    assert_eq!(m.header("Content-Encoding"), None);
}

#[test]
fn head_answers_headers_without_body() {
    let r = seed();
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let full = get(server.local_addr(), "/metrics", &[]);
    let head = request("HEAD", server.local_addr(), "/metrics", &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Type"), Some(TEXT));
    assert_eq!(
        head.header("Content-Length"),
        Some(full.body.len().to_string().as_str())
    );
    assert!(head.body.is_empty());
}

#[test]
fn name_filter_and_bad_query() {
    let r = seed();
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let a = server.local_addr();
    let m = get(
        a,
        "/metrics?name[]=cpu_usage&name%5B%5D=api_called_total",
        &[],
    );
    assert_eq!(m.status, 200);
    let body = m.text();
    assert!(body.contains("cpu_usage 0.5\n"), "{body}");
    assert!(body.contains("api_called_total{inner_ip=\"10.0.0.1\"} 1\n"));
    assert!(!body.contains("task_time_histogram"), "{body}");
    let m = get(a, "/metrics?name[]=nothing_here", &[]);
    assert_eq!((m.status, m.text().as_str()), (200, ""));
    let m = get(a, "/metrics?name[]=%G0", &[]);
    assert_eq!(m.status, 400);
    assert!(m.text().contains("percent-encoding"), "{}", m.text());
}

#[test]
fn other_paths_404_other_methods_405() {
    let r = seed();
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let a = server.local_addr();
    for path in ["/", "/metricsx", "/metrics/", "/favicon.ico"] {
        assert_eq!(get(a, path, &[]).status, 404, "{path}");
    }
    for method in ["POST", "PUT", "DELETE"] {
        let m = request(method, a, "/metrics", &[]);
        assert_eq!(m.status, 405, "{method}");
        assert_eq!(m.header("Allow"), Some("GET, HEAD"));
    }
}

#[test]
fn concurrent_scrapes_while_recording() {
    let r = seed();
    let c = Counter::builder("hits_total", "Hits.")
        .register(&r)
        .unwrap();
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let a = server.local_addr();
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            for _ in 0..200_000 {
                c.inc();
            }
        });
        let scrapers: Vec<_> = (0..6)
            .map(|i| {
                s.spawn(move || {
                    let mut last = 0.0;
                    for _ in 0..30 {
                        let enc = if i % 2 == 0 { "gzip" } else { "identity" };
                        let m = get(a, "/metrics", &[("Accept-Encoding", enc)]);
                        assert_eq!(m.status, 200);
                        let body = if enc == "gzip" {
                            let mut t = String::new();
                            flate2::read::GzDecoder::new(&m.body[..])
                                .read_to_string(&mut t)
                                .unwrap();
                            t
                        } else {
                            m.text()
                        };
                        let v: f64 = body
                            .lines()
                            .find_map(|l| l.strip_prefix("hits_total "))
                            .expect("hits_total sample")
                            .parse()
                            .unwrap();
                        assert!(v >= last, "a counter never goes back: {v} < {last}");
                        last = v;
                    }
                })
            })
            .collect();
        writer.join().unwrap();
        for t in scrapers {
            t.join().unwrap();
        }
    });
    let m = get(a, "/metrics?name[]=hits_total", &[]);
    assert!(m.text().contains("hits_total 200000\n"), "{}", m.text());
}

/// tiny_http closes the listening socket from its accept thread, moments after the server
/// is dropped.
fn port_closes(a: SocketAddr) -> bool {
    support::wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
        TcpStream::connect_timeout(&a, Duration::from_millis(200))
            .is_err()
            .then_some(())
    })
    .is_some()
}

#[test]
fn shutdown_closes_the_port_and_drop_detaches() {
    let r = seed();
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let a = server.local_addr();
    // A second server on the same port fails with a typed error.
    match start_http_server(a, &r) {
        Err(e @ ServeError::Bind { .. }) => assert!(e.to_string().contains("free port"), "{e}"),
        other => panic!("expected Bind error, got {other:?}"),
    }
    let started = std::time::Instant::now();
    server.shutdown();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(port_closes(a));

    // Dropping the handle (what `let _ = start_http_server(..)` does) leaves it serving.
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let a = server.local_addr();
    drop(server);
    std::thread::sleep(Duration::from_millis(100));
    let resp = get(a, "/metrics", &[]);
    assert_eq!(resp.status, 200);
    assert!(resp.text().contains("api_called_total"));
}
