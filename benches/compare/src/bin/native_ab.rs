//! Native histogram observe against tachymeter's classic 11-bucket observe and
//! `prometheus-client`'s native histogram, robust to a noisy machine: the variants run
//! interleaved, round after round, and each reports its fastest round (noise only ever adds
//! time). 1 thread, and 2 threads at once on one histogram (per op per thread).
//!
//! `cargo run --release --bin native_ab` — ns per op, fastest of 15 rounds of 4·10^6 ops.

use std::hint::black_box;
use std::time::Duration;

use prometheus_client::metrics::histogram::{Histogram as PcHistogram, NativeHistogramConfig};
use tachymeter_compare::{next_obs, run_threads, DEFAULT_BUCKETS};

const OPS: u64 = 4_000_000;
const ROUNDS: usize = 15;

fn ns(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9 / OPS as f64
}

fn main() {
    let classic = tachymeter::Histogram::new(std::sync::Arc::new(
        tachymeter::Buckets::new(DEFAULT_BUCKETS).unwrap(),
    ));
    let native = tachymeter::Histogram::builder("n", "N.")
        .native(1.1)
        .unwrap()
        .build()
        .unwrap()
        .try_with_label_values(&[])
        .unwrap()
        .handle();
    let pc = PcHistogram::new_native(NativeHistogramConfig::new(1.1));
    let variants: [(&str, &(dyn Fn(u64) + Sync)); 3] = [
        ("tachymeter classic (11 buckets)", &|n| {
            let mut o = 0;
            for _ in 0..n {
                black_box(&classic).observe(next_obs(&mut o));
            }
        }),
        ("tachymeter native (factor 1.1)", &|n| {
            let mut o = 0;
            for _ in 0..n {
                black_box(&native).observe(next_obs(&mut o));
            }
        }),
        ("prometheus-client native (1.1)", &|n| {
            let mut o = 0;
            for _ in 0..n {
                black_box(&pc).observe(next_obs(&mut o));
            }
        }),
    ];
    let mut best = [[f64::INFINITY; 2]; 3];
    for _ in 0..ROUNDS {
        for (i, (_, work)) in variants.iter().enumerate() {
            for (t, threads) in [1, 2].into_iter().enumerate() {
                best[i][t] = best[i][t].min(ns(run_threads(threads, OPS, work)));
            }
        }
    }
    println!(
        "{:<34} {:>10} {:>10}",
        "ns/op per thread (fastest round)", "1 thread", "2 threads"
    );
    for (i, (name, _)) in variants.iter().enumerate() {
        println!("{name:<34} {:>10.2} {:>10.2}", best[i][0], best[i][1]);
    }
    let (c, n, p) = (best[0], best[1], best[2]);
    println!("native / classic, 1 thread:            {:.2}x", n[0] / c[0]);
    println!("native 2 threads / 1 thread:           {:.2}x", n[1] / n[0]);
    println!("prometheus-client / native, 1 thread:  {:.2}x", p[0] / n[0]);
    println!("prometheus-client / native, 2 threads: {:.2}x", p[1] / n[1]);
}
