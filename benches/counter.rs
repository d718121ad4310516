//! Counter hot path: `inc` and `inc_by_f64` at 1, 2 and 4 threads (per-op, per-thread time).
//! The head-to-head comparison with other crates lives in `benches/compare/`.

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tachymeter::{Counter, Gauge};

/// Runs `work(iters)` on `threads` barrier-started threads; returns first start to last end.
fn run<F: Fn(u64) + Sync>(threads: usize, iters: u64, work: &F) -> Duration {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let t = Instant::now();
                    work(iters);
                    (t, Instant::now())
                })
            })
            .collect();
        // First start to last end: serialised threads (a busy machine) show up as slower.
        let spans: Vec<(Instant, Instant)> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        let start = spans.iter().map(|s| s.0).min().unwrap();
        let end = spans.iter().map(|s| s.1).max().unwrap();
        end - start
    })
}

fn counter(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter");
    g.throughput(Throughput::Elements(1));
    for threads in [1, 2, 4] {
        let ctr = Counter::new();
        g.bench_function(format!("inc/{threads}t"), |b| {
            b.iter_custom(|n| {
                run(threads, n, &|n| {
                    for _ in 0..n {
                        black_box(&ctr).inc();
                    }
                })
            })
        });
        let f = Counter::new();
        g.bench_function(format!("inc_by_f64/{threads}t"), |b| {
            b.iter_custom(|n| {
                run(threads, n, &|n| {
                    for _ in 0..n {
                        black_box(&f).inc_by_f64(black_box(0.5));
                    }
                })
            })
        });
        let gauge = Gauge::new();
        g.bench_function(format!("gauge_add/{threads}t"), |b| {
            b.iter_custom(|n| {
                run(threads, n, &|n| {
                    for _ in 0..n {
                        black_box(&gauge).add(black_box(0.5));
                    }
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
    targets = counter
}
criterion_main!(benches);
