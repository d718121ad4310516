//! Native histogram observe, this tree (`new`) against 0a5d179 (`old`), tachymeter's classic
//! 11-bucket observe and `prometheus-client`'s native histogram (factor 1.1 everywhere), on the
//! 16-value stream of benches/compare. The variants run interleaved, round after round, in one
//! process; each reports its fastest round (noise only ever adds time) and its median. 1
//! thread, and 2 threads at once on one histogram (per op per thread).
//!
//! `bash benches/native_cmp/run.sh [rounds] [ops]` — ns per op.

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use prometheus_client::metrics::histogram::{Histogram as PcHistogram, NativeHistogramConfig};

/// benches/compare's observation stream (src/lib.rs `OBSERVATIONS`).
const OBSERVATIONS: [f64; 16] = [
    0.001, 0.007, 0.02, 0.04, 0.07, 0.2, 0.3, 0.7, 2.0, 3.0, 7.0, 20.0, 0.004, 0.09, 0.6, 1.5,
];
const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[inline(always)]
fn next_obs(i: &mut usize) -> f64 {
    let v = OBSERVATIONS[*i & 15];
    *i = i.wrapping_add(1);
    v
}

/// `work(ops)` on `threads` fresh threads started together; first start to last end.
fn run_threads(threads: usize, ops: u64, work: &(dyn Fn(u64) + Sync)) -> Duration {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let spans: Vec<(Instant, Instant)> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let t = Instant::now();
                    work(ops);
                    (t, Instant::now())
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().expect("bench thread panicked"))
            .collect();
        let start = spans.iter().map(|s| s.0).min().expect("one thread");
        let end = spans.iter().map(|s| s.1).max().expect("one thread");
        end - start
    })
}

macro_rules! observe_loop {
    ($h:expr) => {
        &|n| {
            let mut o = 0;
            for _ in 0..n {
                black_box($h).observe(next_obs(&mut o));
            }
        }
    };
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(21)
        .max(1);
    let ops: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(4_000_000);

    let classic = new::Histogram::new(std::sync::Arc::new(
        new::Buckets::new(DEFAULT_BUCKETS).expect("valid buckets"),
    ));
    let native_new = new::Histogram::builder("n", "N.")
        .native(1.1)
        .expect("valid factor")
        .build()
        .expect("valid histogram")
        .try_with_label_values(&[])
        .expect("no labels");
    let native_old = old::Histogram::builder("n", "N.")
        .native(1.1)
        .expect("valid factor")
        .build()
        .expect("valid histogram")
        .try_with_label_values(&[])
        .expect("no labels");
    let pc = PcHistogram::new_native(NativeHistogramConfig::new(1.1));
    let variants: [(&str, &(dyn Fn(u64) + Sync)); 4] = [
        ("tachymeter classic (11 buckets)", observe_loop!(&classic)),
        ("native old (0a5d179)", observe_loop!(&native_old)),
        ("native new (this tree)", observe_loop!(&native_new)),
        ("prometheus-client native", observe_loop!(&pc)),
    ];
    let ns = |d: Duration| d.as_secs_f64() * 1e9 / ops as f64;
    // times[variant][threads - 1][round]
    let mut times = vec![[Vec::new(), Vec::new()]; variants.len()];
    for _ in 0..rounds {
        for (i, (_, work)) in variants.iter().enumerate() {
            for (t, threads) in [1, 2].into_iter().enumerate() {
                times[i][t].push(ns(run_threads(threads, ops, work)));
            }
        }
    }
    let stat = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2])
    };
    let fast: Vec<[f64; 2]> = times
        .iter()
        .map(|t| [stat(&t[0]).0, stat(&t[1]).0])
        .collect();
    let median: Vec<[f64; 2]> = times
        .iter()
        .map(|t| [stat(&t[0]).1, stat(&t[1]).1])
        .collect();
    println!("ns/op per thread, {rounds} rounds of {ops} ops: fastest (median)");
    println!("{:<34} {:>17} {:>17}", "", "1 thread", "2 threads");
    for (i, (name, _)) in variants.iter().enumerate() {
        println!(
            "{name:<34} {:>7.2} ({:>7.2}) {:>7.2} ({:>7.2})",
            fast[i][0], median[i][0], fast[i][1], median[i][1]
        );
    }
    let ratio = |label: &str, f: &dyn Fn(&[[f64; 2]]) -> f64| {
        println!("{label:<40} {:>6.2}x ({:>5.2}x)", f(&fast), f(&median));
    };
    ratio("new / old, 1 thread", &|b| b[2][0] / b[1][0]);
    ratio("new / old, 2 threads", &|b| b[2][1] / b[1][1]);
    ratio("new / classic, 1 thread", &|b| b[2][0] / b[0][0]);
    ratio("old / classic, 1 thread", &|b| b[1][0] / b[0][0]);
    ratio("new 2 threads / 1 thread", &|b| b[2][1] / b[2][0]);
    ratio("classic 2 threads / 1 thread", &|b| b[0][1] / b[0][0]);
    ratio("prometheus-client / new, 1 thread", &|b| b[3][0] / b[2][0]);
    ratio("prometheus-client / old, 1 thread", &|b| b[3][0] / b[1][0]);
    ratio("prometheus-client / new, 2 threads", &|b| b[3][1] / b[2][1]);
}
