//! A real Prometheus (Debian 2.42) scrapes the built-in server on loopback, through two
//! small logging proxies: job `om` passes Prometheus' own `Accept` (OpenMetrics 1.0.0 first),
//! job `text` rewrites it to ask for text 0.0.4. Both targets must be up and every series
//! of each body must be ingested with its value.

mod common_http;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common_http::{get, query_escape, wait_until, Json, Peer};
use tachymeter::{start_http_server, Counter, Format, Gauge, Histogram, Registry};

/// What a proxy saw: request heads (as forwarded) and response bytes (capped).
#[derive(Default)]
struct Seen {
    requests: Vec<u8>,
    responses: Vec<u8>,
}

const CAP: usize = 1 << 20;

/// A TCP proxy to `target` that logs traffic and can replace the request's `Accept`.
struct Proxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

impl Proxy {
    fn start(target: SocketAddr, accept: Option<&'static str>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, st2) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !st2.load(Ordering::Acquire) && Instant::now() < deadline {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                for s in [&client, &server] {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                }
                let (c2, sv2, seen_up) = (
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    s2.clone(),
                );
                std::thread::spawn(move || forward_requests(c2, sv2, accept, &seen_up));
                let seen_down = s2.clone();
                std::thread::spawn(move || forward_responses(server, client, &seen_down));
            }
        });
        Proxy { addr, seen, stop }
    }
}

/// Forwards request heads (scrapes are bodiless GETs), rewriting `Accept` if asked.
fn forward_requests(
    mut from: TcpStream,
    mut to: TcpStream,
    accept: Option<&str>,
    seen: &Mutex<Seen>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    for _ in 0..10_000_000 {
        match from.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
        if head.ends_with(b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&head).into_owned();
            let out: String = text
                .split_inclusive("\r\n")
                .map(|line| match accept {
                    Some(a) if line.to_ascii_lowercase().starts_with("accept:") => {
                        format!("Accept: {a}\r\n")
                    }
                    _ => line.to_owned(),
                })
                .collect();
            {
                let mut s = seen.lock().unwrap();
                if s.requests.len() < CAP {
                    s.requests.extend_from_slice(out.as_bytes());
                }
            }
            if to.write_all(out.as_bytes()).is_err() {
                break;
            }
            head.clear();
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

fn forward_responses(mut from: TcpStream, mut to: TcpStream, seen: &Mutex<Seen>) {
    let mut buf = [0u8; 16 * 1024];
    for _ in 0..1_000_000 {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut s = seen.lock().unwrap();
            if s.responses.len() < CAP {
                s.responses.extend_from_slice(&buf[..n]);
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// `/api/v1/query` results: each series' value as a string.
fn query(prom: &Peer, q: &str) -> Vec<String> {
    let m = get(
        prom.addr,
        &format!("/api/v1/query?query={}", query_escape(q)),
        &[],
    )
    .unwrap();
    assert_eq!(m.status, 200, "{q}: {}", m.text());
    Json::parse(&m.text())
        .get("data")
        .get("result")
        .arr()
        .iter()
        .map(|r| r.get("value").arr()[1].str().unwrap().to_owned())
        .collect()
}

/// The sample lines of an exposition body: (selector, value).
fn samples(body: &str) -> Vec<(String, String)> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (sel, value) = l.rsplit_once(' ').unwrap();
            (sel.to_owned(), value.to_owned())
        })
        .collect()
}

fn with_job(selector: &str, job: &str) -> String {
    match selector.strip_suffix('}') {
        Some(s) => format!("{s},job=\"{job}\"}}"),
        None => format!("{selector}{{job=\"{job}\"}}"),
    }
}

fn same_value(a: &str, b: &str) -> bool {
    let (x, y): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
    x == y || ((x - y) / x).abs() < 1e-9
}

#[test]
fn prometheus_scrapes_both_formats_and_ingests_every_series() {
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
    let om_proxy = Proxy::start(server.local_addr(), None);
    let text_proxy = Proxy::start(
        server.local_addr(),
        Some("text/plain;version=0.0.4;q=1,*/*;q=0.1"),
    );
    let config = format!(
        "  - job_name: om\n    static_configs:\n      - targets: ['{}']\n\
         \x20 - job_name: text\n    static_configs:\n      - targets: ['{}']\n",
        om_proxy.addr, text_proxy.addr
    );
    let Some(prom) = Peer::prometheus(&config) else {
        return;
    };

    // The first scrape comes ~5-6 s after start (target discovery runs every 5 s).
    let scraped = wait_until(Duration::from_secs(30), Duration::from_millis(250), || {
        query(&prom, "up{job=\"om\"}").len() == 1 && query(&prom, "up{job=\"text\"}").len() == 1
    });
    assert!(
        scraped,
        "no scrape within 30 s; Prometheus log:\n{}",
        prom.log()
    );
    for job in ["om", "text"] {
        assert_eq!(
            query(&prom, &format!("up{{job=\"{job}\"}}")),
            ["1"],
            "{}",
            prom.log()
        );
    }

    // Which format each scrape negotiated, as seen on the wire.
    {
        let om = om_proxy.seen.lock().unwrap();
        assert!(contains(
            &om.requests,
            "application/openmetrics-text;version=1.0.0"
        ));
        assert!(contains(&om.requests, "Accept-Encoding: gzip"));
        assert!(contains(
            &om.responses,
            "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"
        ));
        assert!(contains(&om.responses, "Content-Encoding: gzip"));
        let text = text_proxy.seen.lock().unwrap();
        assert!(contains(
            &text.responses,
            "Content-Type: text/plain; version=0.0.4; charset=utf-8"
        ));
        assert!(!contains(&text.responses, "application/openmetrics-text"));
    }

    for (job, format) in [("om", Format::OpenMetrics), ("text", Format::Text)] {
        let body = r.encode_to_string(format);
        let expected = samples(&body);
        for (selector, value) in &expected {
            let q = with_job(selector, job);
            let got = query(&prom, &q);
            assert_eq!(got.len(), 1, "{q} not ingested; body:\n{body}");
            assert!(same_value(&got[0], value), "{q}: {} != {value}", got[0]);
        }
        let scraped = query(&prom, &format!("scrape_samples_scraped{{job=\"{job}\"}}"));
        assert_eq!(
            scraped,
            [expected.len().to_string()],
            "job {job}, body:\n{body}"
        );
    }
    drop(prom);
    server.shutdown();
}
