//! The scrape server when the process runs out of file descriptors (the "10,000 idle
//! connections" row of the hardening issue): accept fails with `EMFILE`; the server must
//! back off, free idle connections, keep answering and recover, instead of closing its
//! listener for good. A binary of its own: it lowers this process's descriptor limit.

#[path = "hostile/client.rs"]
mod hostile_support;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use hostile_support::{body_registry, get, rss_kib};
use tachymeter::http::ServerBuilder;

fn set_fd_limit(soft: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = soft.min(lim.rlim_max);
    // SAFETY: `lim` is a valid rlimit with a soft limit not above the hard one.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

#[test]
fn descriptor_exhaustion_is_survived_and_recovered_from() {
    let r = body_registry(46_000);
    // No connection cap in the way: only the process limit stops the flood.
    let server = ServerBuilder::new(&r)
        .max_connections(1_000_000)
        .bind("127.0.0.1:0")
        .unwrap();
    let a = server.local_addr();
    set_fd_limit(256);
    let rss = rss_kib();
    // Attackers in this same process take descriptors on both ends until connect fails.
    let mut flood = Vec::new();
    let t = Instant::now();
    while flood.len() < 5_000 && t.elapsed() < Duration::from_secs(20) {
        match TcpStream::connect_timeout(&a, Duration::from_millis(500)) {
            Ok(s) => flood.push(s),
            Err(_) => break,
        }
    }
    println!(
        "descriptor flood: {} connections opened before refusal (limit 256)",
        flood.len()
    );
    assert!(flood.len() > 50, "only {} connections", flood.len());
    // Give this client a few descriptors back: the server, itself out of descriptors,
    // closes idle connections to accept the scrape.
    flood.truncate(flood.len() - 4);
    let (took, status, body) = get(a, "/metrics");
    println!("scrape under descriptor exhaustion: {status} in {took:?}");
    assert_eq!(status, 200);
    assert!(body.len() > 40_000);
    assert!(took < Duration::from_secs(1), "{took:?}");
    // After the flood, the server is fully back.
    drop(flood);
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..20 {
        let (took, status, _) = get(a, "/metrics");
        assert_eq!(status, 200);
        assert!(took < Duration::from_secs(1), "{took:?}");
    }
    let grown = rss_kib().saturating_sub(rss);
    println!("descriptor flood: RSS grew {grown} KiB");
    assert!(grown < 32 * 1024, "RSS grew {grown} KiB");
    let t = Instant::now();
    server.shutdown();
    assert!(t.elapsed() < Duration::from_secs(4));
}
