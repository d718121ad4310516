//! Benchmarks for the `Summary` metric: the observe hot path without a flush, observe
//! amortised over flushes (Go objectives, 5 age buckets), reading three quantiles with nothing
//! buffered and with a full buffer to merge first, and two threads observing. The `quantiles`
//! crate's CKMS (0.7.1, error 0.001, insert + query under one owner, as a peer would wrap it in
//! a mutex) is measured in the same run for ratios.
//!
//! Run: `cargo bench --features _bench --bench summary -- --warm-up-time 1 --measurement-time 3`.
// `criterion_group!` defines an undocumented `pub fn benches`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use tachymeter::{Family, Summary};

const GO: [(f64, f64); 3] = Summary::GO_OBJECTIVES;
const BATCH: usize = 512;

/// xorshift64*: deterministic uniform f64 in [0, 1).
fn uniform(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

fn go_summary() -> Summary {
    let fam: Family<Summary> = Summary::builder("s", "S.")
        .objectives(&GO)
        .unwrap()
        .build()
        .unwrap();
    let s = fam.with_label_values(&[]).handle();
    for &v in &uniform(1_000_000, 3) {
        s.observe(v);
    }
    let _ = s.quantile(0.5);
    s
}

fn observe(c: &mut Criterion) {
    let mut g = c.benchmark_group("summary_observe");
    let data = uniform(1 << 16, 42);

    // Hot path: BATCH − 1 observes timed, then the buffer drained outside the timing.
    let s = go_summary();
    g.bench_function("hot_path_no_flush", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let k = (iters - done).min(BATCH as u64 - 1);
                let t = Instant::now();
                for i in 0..k {
                    s.observe(black_box(data[i as usize]));
                }
                total += t.elapsed();
                let _ = s.quantile(0.5); // drain, untimed
                done += k;
            }
            total
        })
    });

    let s = go_summary();
    let mut i = 0usize;
    g.bench_function("amortised_go_5_buckets", |b| {
        b.iter(|| {
            s.observe(black_box(data[i & 0xFFFF]));
            i = i.wrapping_add(1);
        })
    });

    let plain: Summary = Summary::builder("p", "P.")
        .build()
        .unwrap()
        .with_label_values(&[])
        .handle();
    g.bench_function("no_objectives", |b| {
        b.iter(|| plain.observe(black_box(0.5)))
    });

    // Peer: the `quantiles` crate's CKMS behind a mutex (it is not thread-safe itself).
    let peer = Mutex::new(quantiles::ckms::CKMS::<f64>::new(0.001));
    for &v in &uniform(1_000_000, 3) {
        peer.lock().unwrap().insert(v);
    }
    let mut i = 0usize;
    g.bench_function("peer_quantiles_ckms_0.7.1_mutex", |b| {
        b.iter(|| {
            peer.lock().unwrap().insert(black_box(data[i & 0xFFFF]));
            i = i.wrapping_add(1);
        })
    });

    // Two threads on one summary: time per observation per thread (flat = scales).
    let s = go_summary();
    g.bench_function("amortised_go_2_threads_per_thread", |b| {
        b.iter_custom(|iters| {
            std::thread::scope(|sc| {
                let hs: Vec<_> = (0..2)
                    .map(|t| {
                        let s = &s;
                        let data = &data;
                        sc.spawn(move || {
                            let start = Instant::now();
                            for i in 0..iters as usize {
                                s.observe(black_box(data[(i + t * 7919) & 0xFFFF]));
                            }
                            start.elapsed()
                        })
                    })
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap()).max().unwrap()
            })
        })
    });
    g.finish();
}

fn read(c: &mut Criterion) {
    let mut g = c.benchmark_group("summary_read_3_quantiles");
    let s = go_summary();
    g.bench_function("nothing_buffered", |b| {
        b.iter(|| {
            black_box(s.quantile(0.5));
            black_box(s.quantile(0.9));
            black_box(s.quantile(0.99))
        })
    });

    let data = uniform(BATCH, 9);
    g.bench_function("full_buffer_to_merge", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for &v in &data[..BATCH - 1] {
                    s.observe(v);
                }
                let t = Instant::now();
                black_box(s.quantile(0.5));
                black_box(s.quantile(0.9));
                black_box(s.quantile(0.99));
                total += t.elapsed();
            }
            total
        })
    });

    let mut peer = quantiles::ckms::CKMS::<f64>::new(0.001);
    for &v in &uniform(1_000_000, 3) {
        peer.insert(v);
    }
    g.bench_function("peer_quantiles_ckms_0.7.1", |b| {
        b.iter(|| {
            black_box(peer.query(0.5));
            black_box(peer.query(0.9));
            black_box(peer.query(0.99))
        })
    });
    g.finish();
}

criterion_group!(benches, observe, read);
criterion_main!(benches);
