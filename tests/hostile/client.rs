//! A minimal raw HTTP/1.1 client for the hostile tests: every socket bounded in time,
//! every loop bounded in count.

#![allow(unreachable_pub, dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tachymeter::{Counter, Registry};

/// Read and write timeouts on a socket, so no test can hang on it.
pub trait Bounded {
    fn bound(&self, d: Duration);
}

impl Bounded for TcpStream {
    fn bound(&self, d: Duration) {
        self.set_read_timeout(Some(d)).unwrap();
        self.set_write_timeout(Some(d)).unwrap();
    }
}

/// A registry whose text exposition is at least `bytes` long (labelled counters).
pub fn body_registry(bytes: usize) -> Registry {
    let r = Registry::new();
    let c = Counter::builder("http_requests_total", "Requests served, by route and code.")
        .labels(["route", "code"])
        .register(&r)
        .unwrap();
    // Each series is about 70 bytes.
    for i in 0..(bytes / 60 + 1) {
        c.with_label_values(&[&format!("/api/v1/resource/{i}"), "200"])
            .inc_by(i as u64);
    }
    r
}

/// Reads one response with a `Content-Length` body: (status, body).
pub fn read_response(s: &mut TcpStream) -> io::Result<(u16, Vec<u8>)> {
    let mut head = Vec::with_capacity(512);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 {
            return Err(io::Error::other("response head over 64 KiB"));
        }
        match s.read(&mut byte)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            _ => head.push(byte[0]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line: {head:?}")))?;
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok((status, body))
}

/// One `Connection: close` GET: (time taken, status, body).
pub fn get(a: SocketAddr, path: &str) -> (Duration, u16, Vec<u8>) {
    let t = Instant::now();
    let mut s = TcpStream::connect_timeout(&a, Duration::from_secs(5)).unwrap();
    s.bound(Duration::from_secs(5));
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let (status, body) = read_response(&mut s).unwrap();
    (t.elapsed(), status, body)
}

/// One scrape of `/metrics`: (time taken, status).
pub fn scrape(a: SocketAddr) -> (Duration, u16) {
    let (t, status, _) = get(a, "/metrics");
    (t, status)
}

/// Asserts that a scrape is answered 200 within `limit`.
pub fn scrape_within(a: SocketAddr, limit: Duration) {
    let (t, status) = scrape(a);
    assert_eq!(status, 200);
    assert!(t < limit, "scrape took {t:?}");
}

/// Writes `n` bytes of `fill` until done or the peer stops taking them; returns bytes sent.
pub fn send_all(s: &mut TcpStream, n: usize, fill: u8) -> usize {
    let chunk = vec![fill; 64 * 1024];
    let mut sent = 0;
    let t = Instant::now();
    while sent < n && t.elapsed() < Duration::from_secs(20) {
        match s.write(&chunk[..chunk.len().min(n - sent)]) {
            Ok(0) | Err(_) => break,
            Ok(k) => sent += k,
        }
    }
    sent
}

/// This process's resident set size in KiB (Linux).
pub fn rss_kib() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
