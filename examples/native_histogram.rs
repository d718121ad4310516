//! Serves a native histogram (with classic metrics beside it) for a Prometheus started with
//! `--enable-feature=native-histograms`, which scrapes it over protobuf.
//!
//! ```text
//! cargo run --release --example native_histogram --features protobuf [-- --addr 127.0.0.1:8080] [--seconds N]
//! prometheus --enable-feature=native-histograms ...
//!   histogram_count(native_latency_seconds)  histogram_quantile(0.99, native_latency_seconds)
//! ```
//!
//! It observes a fixed stream of 100,000 values spanning six decades, zeros and negatives
//! included (see `native_stream`), once, then serves until interrupted (or for `--seconds N`).

use std::time::{Duration, Instant};

mod native_stream;

use tachymeter::{start_http_server, Counter, Gauge, Histogram, Registry};

fn usage() -> ! {
    eprintln!("usage: native_histogram [--addr HOST:PORT] [--seconds N]");
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
            _ => usage(),
        }
    }

    let registry = Registry::new();
    // Growth factor at most 1.1: schema 3, buckets 2^(1/8) ≈ 1.09 apart.
    let native = Histogram::builder("native_latency_seconds", "A native histogram.")
        .native(1.1)?
        .register(&registry)?;
    let classic = Histogram::builder("classic_latency_seconds", "The same, classic buckets.")
        .buckets([0.001, 0.01, 0.1, 1.0, 10.0, 100.0])?
        .register(&registry)?;
    let observed =
        Counter::builder("native_observations_total", "Values observed.").register(&registry)?;
    let started = Gauge::builder("native_demo_start_seconds", "Start time.").register(&registry)?;
    started.set_to_current_time();

    for v in native_stream::values() {
        native.observe(v);
        classic.observe(v);
        observed.inc();
    }

    let server = start_http_server(addr.as_str(), &registry)?;
    println!("serving http://{}/metrics", server.local_addr());
    let start = Instant::now();
    while seconds.is_none_or(|s| start.elapsed() < Duration::from_secs(s)) {
        std::thread::sleep(Duration::from_millis(200));
    }
    server.shutdown();
    Ok(())
}
