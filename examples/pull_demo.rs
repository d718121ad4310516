//! Serves the seed metrics for Prometheus to scrape, updating them every second.
//!
//! ```text
//! cargo run --release --example pull_demo [-- --addr 127.0.0.1:8080] [--seconds N]
//! curl http://127.0.0.1:8080/metrics
//! ```
//!
//! Runs until interrupted (Ctrl-C), or for `--seconds N`.

use std::time::{Duration, Instant};

mod seed;

use seed::Seed;
use tachymeter::{start_http_server, Registry};

fn usage() -> ! {
    eprintln!("usage: pull_demo [--addr HOST:PORT] [--seconds N]");
    std::process::exit(2);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr = "127.0.0.1:8080".to_owned();
    let mut seconds: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().unwrap_or_else(|| usage()),
            "--seconds" => {
                seconds = Some(
                    args.next()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }

    let registry = Registry::new();
    let seed = Seed::register(&registry)?;

    let server = start_http_server(addr.as_str(), &registry)?;
    println!("serving http://{}/metrics", server.local_addr());

    let ips = ["10.0.0.1", "10.0.0.2"];
    // Handles are resolved once and kept: no label lookup in the loop.
    let calls: Vec<_> = ips
        .iter()
        .map(|ip| seed.api_called.with_label_values(&[ip]))
        .collect();
    let cpus: Vec<_> = ips
        .iter()
        .map(|ip| seed.cpu_usage.with_label_values(&[ip]))
        .collect();
    let start = Instant::now();
    let mut tick: u64 = 0;
    while seconds.is_none_or(|s| start.elapsed() < Duration::from_secs(s)) {
        tick += 1;
        for (i, (c, g)) in calls.iter().zip(&cpus).enumerate() {
            c.inc_by(1 + i as u64);
            // A deterministic wobble in [0, 1): no random crate needed.
            g.set(((tick * 37 + i as u64 * 11) % 100) as f64 / 100.0);
        }
        let t = ((tick * 7) % 60) as f64 / 10.0;
        seed.observe_task(t);
        std::thread::sleep(Duration::from_secs(1));
    }
    server.shutdown();
    Ok(())
}
