//! The built-in scrape server against hostile and careless clients, on loopback: every row
//! of the hardening issue's table, replayed against the real server. Each test shows that
//! the process lives, that another client's scrape is answered within a second while the
//! attack goes on, that memory stays bounded, and that `shutdown()` returns in bounded time.
//!
//! The figures these tests print (run with `--nocapture`) are recorded in BENCHMARKS.md.

mod client;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::{body_registry, read_response, rss_kib, scrape, scrape_within, send_all, Bounded};
use tachymeter::http::{ServerBuilder, ServerHandle};
use tachymeter::{
    start_http_server, Collector, Descriptor, EncodeError, MetricType, MetricWriter, Registry,
};

/// Stops the server and checks that it took no longer than its shutdown timeout allows.
fn shutdown_bounded(server: ServerHandle, grace: Duration) {
    let t = Instant::now();
    server.shutdown();
    let took = t.elapsed();
    assert!(
        took < grace + Duration::from_secs(1),
        "shutdown took {took:?} (grace {grace:?})"
    );
    println!("shutdown: {took:?}");
}

#[test]
fn huge_content_length_neither_aborts_nor_buffers() {
    let r = body_registry(46_000);
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let a = server.local_addr();
    let rss = rss_kib();
    for len in ["9223372036854775807", "40000000000", "18446744073709551615"] {
        // Several times each: the old server lost a worker thread per request.
        for _ in 0..3 {
            let mut s = TcpStream::connect(a).unwrap();
            s.bound(Duration::from_secs(5));
            write!(
                s,
                "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n"
            )
            .unwrap();
            // A Content-Length hyper cannot represent is refused (4xx); a representable one
            // gets the scrape (the body is never read) and the connection is closed after.
            let (status, _) = read_response(&mut s).expect("an answer, not a hang");
            assert!(
                status == 200 || (400..500).contains(&status),
                "{len}: {status}"
            );
            println!("Content-Length: {len} -> {status}");
        }
        scrape_within(a, Duration::from_secs(1));
    }
    let grown = rss_kib().saturating_sub(rss);
    assert!(grown < 16 * 1024, "RSS grew {grown} KiB");
    shutdown_bounded(server, Duration::from_secs(3));
}

#[test]
fn stalled_request_bodies_block_no_one() {
    let r = body_registry(46_000);
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let a = server.local_addr();
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(a).unwrap();
        s.bound(Duration::from_secs(5));
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n")
            .unwrap();
        stalled.push(s);
    }
    // They are answered without their bodies; others are not held up.
    for s in &mut stalled {
        let (status, body) = read_response(s).expect("answered without the body");
        assert_eq!(status, 200);
        assert!(body.len() > 40_000);
    }
    for _ in 0..5 {
        scrape_within(a, Duration::from_secs(1));
    }
    // Shutdown is bounded with the stalled clients still connected.
    shutdown_bounded(server, Duration::from_secs(3));
    drop(stalled);
}

#[test]
fn keep_alive_scrapes_cost_no_more_than_fresh_connections() {
    let r = body_registry(46_000);
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let a = server.local_addr();
    const N: usize = 40;
    let mut s = TcpStream::connect(a).unwrap();
    s.bound(Duration::from_secs(5));
    s.set_nodelay(true).unwrap();
    let mut keep_alive = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let (status, body) = read_response(&mut s).unwrap();
        keep_alive.push(t.elapsed());
        assert_eq!(status, 200);
        assert!(body.len() > 40_000, "{}", body.len());
    }
    let mut close: Vec<Duration> = (0..N).map(|_| scrape(a).0).collect();
    keep_alive.sort();
    close.sort();
    let (ka, cl) = (keep_alive[N / 2], close[N / 2]);
    println!(
        "keep-alive median {ka:?}, close median {cl:?}, ratio {:.2}",
        ka.as_secs_f64() / cl.as_secs_f64()
    );
    // Nagle plus delayed ACK costs 40 ms per keep-alive scrape; a fresh connection on
    // loopback is well under that. The figure itself is measured by benches/scrape_load.rs.
    assert!(ka < Duration::from_millis(30), "keep-alive median {ka:?}");
    shutdown_bounded(server, Duration::from_secs(3));
}

#[test]
fn many_keep_alive_clients_all_get_answers() {
    let r = body_registry(46_000);
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let a = server.local_addr();
    const CLIENTS: usize = 128;
    const ROUNDS: usize = 5;
    let start = Arc::new(std::sync::Barrier::new(CLIENTS));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let start = start.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(a).unwrap();
                s.bound(Duration::from_secs(10));
                start.wait();
                let t = Instant::now();
                let mut first = None;
                for _ in 0..ROUNDS {
                    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                        .unwrap();
                    let (status, _) = read_response(&mut s).unwrap();
                    assert_eq!(status, 200);
                    first.get_or_insert(t.elapsed());
                }
                first.unwrap()
            })
        })
        .collect();
    let mut firsts: Vec<Duration> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    firsts.sort();
    let last = firsts[CLIENTS - 1];
    println!(
        "{CLIENTS} keep-alive clients: first answer p50 {:?}, max {last:?}",
        firsts[CLIENTS / 2]
    );
    // 128 renders of a 46 KB body take well under a second even on two busy cores.
    assert!(last < Duration::from_secs(2), "a client waited {last:?}");
    shutdown_bounded(server, Duration::from_secs(3));
}

#[test]
fn idle_connection_flood_evicts_idle_and_keeps_serving() {
    let r = body_registry(46_000);
    let max = 64;
    let server = ServerBuilder::new(&r)
        .max_connections(max)
        .bind("127.0.0.1:0")
        .unwrap();
    let a = server.local_addr();
    let rss = rss_kib();
    // Far more idle connections than the cap: the oldest idle ones are closed to make room.
    let mut idle = Vec::new();
    for _ in 0..(max * 4) {
        match TcpStream::connect_timeout(&a, Duration::from_secs(5)) {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connect refused after {} connections: {e}", idle.len()),
        }
    }
    for _ in 0..5 {
        scrape_within(a, Duration::from_secs(1));
    }
    // The evicted ones see EOF: the server holds at most about `max` of them.
    std::thread::sleep(Duration::from_millis(200));
    let mut closed = 0;
    for s in &mut idle {
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        if matches!(s.read(&mut b), Ok(0)) {
            closed += 1;
        }
    }
    let held = idle.len() - closed;
    println!(
        "{} idle connections opened, {held} held (cap {max}), none refused",
        idle.len()
    );
    assert!(held <= max + 1, "held {held} of cap {max}");
    let grown = rss_kib().saturating_sub(rss);
    assert!(grown < 16 * 1024, "RSS grew {grown} KiB");
    shutdown_bounded(server, Duration::from_secs(3));
}

/// A collector that takes 600 ms per scrape (a slow database behind a custom collector).
struct Slow;
impl Collector for Slow {
    fn describe(&self) -> Vec<Descriptor> {
        vec![Descriptor::new("slow", "Slow.", MetricType::Gauge, &[]).unwrap()]
    }
    fn collect(&self, w: &mut MetricWriter<'_>) -> Result<(), EncodeError> {
        std::thread::sleep(Duration::from_millis(600));
        let desc = &self.describe()[0];
        if let Some(mut f) = w.family(desc) {
            f.sample("", &[], 1.0)?;
        }
        Ok(())
    }
}

#[test]
fn a_full_server_refuses_with_503_when_every_connection_is_busy() {
    // Two scrapes in flight hold both connection slots.
    let r = Registry::new();
    r.register(Slow).unwrap();
    let server = ServerBuilder::new(&r)
        .max_connections(2)
        .bind("127.0.0.1:0")
        .unwrap();
    let a = server.local_addr();
    let busy: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || scrape(a).1))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut s = TcpStream::connect(a).unwrap();
    s.bound(Duration::from_secs(5));
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let (status, _) = read_response(&mut s).expect("a 503, not a hang");
    assert_eq!(status, 503);
    for b in busy {
        assert_eq!(b.join().unwrap(), 200);
    }
    shutdown_bounded(server, Duration::from_secs(3));
}

#[test]
fn endless_header_line_is_cut_off_with_bounded_memory() {
    let r = body_registry(46_000);
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let a = server.local_addr();
    let rss = rss_kib();
    let mut s = TcpStream::connect(a).unwrap();
    s.bound(Duration::from_secs(5));
    s.write_all(b"GET /metrics HTTP/1.1\r\nX-Long: ").unwrap();
    // Up to 64 MiB with no CRLF; the server gives up long before.
    let sent = send_all(&mut s, 64 << 20, b'a');
    println!("header flood: server closed after {sent} bytes sent");
    assert!(sent < 64 << 20, "the server read 64 MiB of one header");
    let grown = rss_kib().saturating_sub(rss);
    println!("header flood: RSS grew {grown} KiB");
    assert!(grown < 16 * 1024, "RSS grew {grown} KiB");
    scrape_within(a, Duration::from_secs(1));
    shutdown_bounded(server, Duration::from_secs(3));
}

#[test]
fn too_many_headers_get_431() {
    let r = body_registry(1_000);
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let a = server.local_addr();
    let mut s = TcpStream::connect(a).unwrap();
    s.bound(Duration::from_secs(5));
    let mut req = String::from("GET /metrics HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        req.push_str(&format!("X-{i}: y\r\n"));
    }
    req.push_str("\r\n");
    let _ = s.write_all(req.as_bytes());
    let (status, _) = read_response(&mut s).unwrap();
    assert_eq!(status, 431);
    scrape_within(a, Duration::from_secs(1));
    shutdown_bounded(server, Duration::from_secs(3));
}

#[test]
fn pipelined_requests_that_are_never_read_are_dropped() {
    let r = body_registry(46_000);
    let write_timeout = Duration::from_secs(1);
    let server = ServerBuilder::new(&r)
        .write_timeout(write_timeout)
        .bind("127.0.0.1:0")
        .unwrap();
    let a = server.local_addr();
    let mut s = TcpStream::connect(a).unwrap();
    s.bound(Duration::from_secs(5));
    let req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(200);
    s.write_all(&req).unwrap();
    // Never read: the server's writes back up; other clients are served meanwhile.
    for _ in 0..5 {
        scrape_within(a, Duration::from_secs(1));
    }
    // After the write timeout the connection is dropped: reading now ends (reset or EOF)
    // before 200 bodies' worth of bytes.
    std::thread::sleep(write_timeout + Duration::from_millis(500));
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
    println!("pipelined flood: {total} bytes delivered before the server dropped it");
    assert!(total < 200 * 46_000, "all {total} bytes were delivered");
    shutdown_bounded(server, Duration::from_secs(3));
}

#[test]
fn slow_headers_and_idle_keep_alive_are_timed_out() {
    let r = body_registry(1_000);
    let server = ServerBuilder::new(&r)
        .header_read_timeout(Duration::from_millis(500))
        .idle_timeout(Duration::from_millis(800))
        .bind("127.0.0.1:0")
        .unwrap();
    let a = server.local_addr();
    // Slowloris: one byte every 100 ms never completes a head within 500 ms.
    let mut s = TcpStream::connect(a).unwrap();
    s.bound(Duration::from_secs(5));
    let t = Instant::now();
    let mut cut = false;
    for b in b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: "
        .iter()
        .cycle()
        .take(60)
    {
        if s.write_all(&[*b]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut one = [0u8; 1];
        s.set_nonblocking(true).unwrap();
        let eof = matches!(s.read(&mut one), Ok(0));
        s.set_nonblocking(false).unwrap();
        if eof {
            cut = true;
            break;
        }
    }
    let took = t.elapsed();
    assert!(cut, "a trickled head was never cut off");
    assert!(took < Duration::from_secs(3), "cut after {took:?}");
    // An idle keep-alive connection is closed after the idle timeout, not before.
    let mut s = TcpStream::connect(a).unwrap();
    s.bound(Duration::from_secs(5));
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut s).unwrap().0, 200);
    let t = Instant::now();
    let mut one = [0u8; 1];
    assert!(matches!(s.read(&mut one), Ok(0) | Err(_)));
    let idle = t.elapsed();
    println!("slowloris cut after {took:?}; idle keep-alive closed after {idle:?}");
    assert!(
        idle >= Duration::from_millis(700) && idle < Duration::from_secs(3),
        "{idle:?}"
    );
    shutdown_bounded(server, Duration::from_secs(3));
}

#[test]
fn a_panicking_collector_gets_500_and_the_server_lives_on() {
    /// Panics on its first `panics` scrapes, then writes a gauge.
    struct Flaky(AtomicUsize, usize);
    impl Collector for Flaky {
        fn describe(&self) -> Vec<Descriptor> {
            vec![Descriptor::new("flaky", "Flaky.", MetricType::Gauge, &[]).unwrap()]
        }
        fn collect(&self, w: &mut MetricWriter<'_>) -> Result<(), EncodeError> {
            // Relaxed: a test counter, read by this thread only.
            if self.0.fetch_add(1, Ordering::Relaxed) < self.1 {
                panic!("collector bug");
            }
            let desc = &self.describe()[0];
            if let Some(mut f) = w.family(desc) {
                f.sample("", &[], 1.0)?;
            }
            Ok(())
        }
    }
    let r = Registry::new();
    r.register(Flaky(AtomicUsize::new(0), 6)).unwrap();
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let a = server.local_addr();
    for _ in 0..6 {
        let (took, status, body) = client::get(a, "/metrics");
        assert_eq!(status, 500, "{}", String::from_utf8_lossy(&body));
        assert!(took < Duration::from_secs(1));
        let (_, status, _) = client::get(a, "/-/healthy");
        assert_eq!(status, 200);
    }
    let (_, status, body) = client::get(a, "/metrics");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("flaky 1"));
    shutdown_bounded(server, Duration::from_secs(3));
}

#[test]
fn shutdown_is_bounded_with_stuck_clients_and_closes_keep_alive() {
    let r = body_registry(46_000);
    let grace = Duration::from_millis(500);
    let server = ServerBuilder::new(&r)
        .shutdown_timeout(grace)
        .bind("127.0.0.1:0")
        .unwrap();
    let a = server.local_addr();
    // A keep-alive connection that got one answer, a half-sent head, and a reader that
    // never reads its pipelined answers.
    let mut kept = TcpStream::connect(a).unwrap();
    kept.bound(Duration::from_secs(5));
    kept.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut kept).unwrap().0, 200);
    let mut half = TcpStream::connect(a).unwrap();
    half.write_all(b"GET /metr").unwrap();
    let mut stuck = TcpStream::connect(a).unwrap();
    stuck
        .write_all(&b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(100))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    shutdown_bounded(server, grace);
    // The keep-alive connection was closed by the server.
    let mut one = [0u8; 1];
    assert!(matches!(kept.read(&mut one), Ok(0) | Err(_)));
    assert!(TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_err());
    drop((half, stuck));
}

#[test]
fn malformed_requests_get_4xx_not_a_crash() {
    let r = body_registry(1_000);
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let a: SocketAddr = server.local_addr();
    let cases: &[&[u8]] = &[
        b"\x00\x01\x02garbage\r\n\r\n",
        b"GET /metrics HTTP/9.9\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /metrics?name[]=%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nAccept: \xff\xfe\r\nHost: x\r\n\r\n",
    ];
    for req in cases {
        let mut s = TcpStream::connect(a).unwrap();
        s.bound(Duration::from_secs(5));
        let _ = s.write_all(req);
        // Whatever the answer (4xx, or 200 where the request is acceptable), or a closed
        // connection, it comes promptly and the server stays up.
        let _ = read_response(&mut s);
        scrape_within(a, Duration::from_secs(1));
    }
    shutdown_bounded(server, Duration::from_secs(3));
}

#[test]
fn slow_collectors_do_not_hold_up_the_health_path() {
    let r = Registry::new();
    r.register(Slow).unwrap();
    let server = start_http_server("127.0.0.1:0", &r).unwrap();
    let a = server.local_addr();
    // More slow scrapes at once than the runtime has worker threads.
    let slow: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || scrape(a)))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..3 {
        let (took, status, _) = client::get(a, "/-/healthy");
        assert_eq!(status, 200);
        assert!(took < Duration::from_millis(400), "health took {took:?}");
    }
    for s in slow {
        let (took, status) = s.join().unwrap();
        assert_eq!(status, 200);
        // Scrapes are serialised on the registry's lock: at most four in a row.
        assert!(took < Duration::from_secs(4), "{took:?}");
    }
    shutdown_bounded(server, Duration::from_secs(3));
}
