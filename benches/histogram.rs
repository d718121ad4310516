//! Histogram `observe` (Go's 11 default buckets) at 1, 2 and 4 threads, per op per thread.

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tachymeter::{Buckets, Histogram};

const OBS: [f64; 16] = [
    0.001, 0.007, 0.02, 0.04, 0.07, 0.2, 0.3, 0.7, 2.0, 3.0, 7.0, 20.0, 0.004, 0.09, 0.6, 1.5,
];

fn histogram(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram");
    g.throughput(Throughput::Elements(1));
    for threads in [1, 2, 4] {
        let h = Histogram::new(Arc::new(Buckets::default()));
        g.bench_function(format!("observe/{threads}t"), |b| {
            b.iter_custom(|n| {
                common::run(threads, n, &|n| {
                    for i in 0..n {
                        black_box(&h).observe(OBS[i as usize & 15]);
                    }
                })
            })
        });
    }
    let h = Histogram::new(Arc::new(Buckets::default()));
    g.bench_function("start_timer_observe/1t", |b| {
        b.iter(|| black_box(&h).start_timer().observe_duration())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
    targets = histogram
}
criterion_main!(benches);
