//! Counter hot path: `inc` and `inc_by_f64` at 1, 2 and 4 threads (per-op, per-thread time).
//! The head-to-head comparison with other crates lives in `benches/compare/`.

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tachymeter::{Counter, Gauge};

fn counter(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter");
    g.throughput(Throughput::Elements(1));
    for threads in [1, 2, 4] {
        let ctr = Counter::new();
        g.bench_function(format!("inc/{threads}t"), |b| {
            b.iter_custom(|n| {
                common::run(threads, n, &|n| {
                    for _ in 0..n {
                        black_box(&ctr).inc();
                    }
                })
            })
        });
        let f = Counter::new();
        g.bench_function(format!("inc_by_f64/{threads}t"), |b| {
            b.iter_custom(|n| {
                common::run(threads, n, &|n| {
                    for _ in 0..n {
                        black_box(&f).inc_by_f64(black_box(0.5));
                    }
                })
            })
        });
        let gauge = Gauge::new();
        g.bench_function(format!("gauge_add/{threads}t"), |b| {
            b.iter_custom(|n| {
                common::run(threads, n, &|n| {
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
