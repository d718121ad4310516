//! Serves the seed metrics for Prometheus to scrape, updating them every second.
//!
//! ```text
//! cargo run --release --example pull_demo [-- --addr 127.0.0.1:8080] [--seconds N]
//! curl http://127.0.0.1:8080/metrics
//! ```
//!
//! Runs until interrupted (Ctrl-C), or for `--seconds N`.

use std::time::{Duration, Instant};

use tachymeter::{start_http_server, Counter, Gauge, Histogram, Registry};

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
    let api_called = Counter::builder("api_called_total", "How many is the api called")
        .labels(["inner_ip"])
        .register(&registry)?;
    let cpu_usage = Gauge::builder("cpu_usage", "simulate the cpu usage metric")
        .labels(["inner_ip"])
        .register(&registry)?;
    let task_time = Histogram::builder(
        "task_time_histogram",
        "analyze the time of task with histogram",
    )
    .buckets([1.0, 2.0, 3.0, 4.0, 5.0])?
    .register(&registry)?;
    // TODO(lead): register `task_time_summary` here once the Summary type exists, e.g.
    // let task_summary = Summary::builder("task_time_summary", "analyze the time of task with summary")
    //     .register(&registry)?;

    let server = start_http_server(addr.as_str(), &registry)?;
    println!("serving http://{}/metrics", server.local_addr());

    let ips = ["10.0.0.1", "10.0.0.2"];
    // Handles are resolved once and kept: no label lookup in the loop.
    let calls: Vec<_> = ips
        .iter()
        .map(|ip| api_called.with_label_values(&[ip]))
        .collect();
    let cpus: Vec<_> = ips
        .iter()
        .map(|ip| cpu_usage.with_label_values(&[ip]))
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
        task_time.observe(t);
        // task_summary.observe(t); // TODO(lead): once Summary exists
        std::thread::sleep(Duration::from_secs(1));
    }
    server.shutdown();
    Ok(())
}
