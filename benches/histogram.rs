//! Histogram `observe` (Go's 11 default buckets) at 1, 2 and 4 threads, per op per thread.

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tachymeter::{Buckets, Histogram};

const OBS: [f64; 16] = [
    0.001, 0.007, 0.02, 0.04, 0.07, 0.2, 0.3, 0.7, 2.0, 3.0, 7.0, 20.0, 0.004, 0.09, 0.6, 1.5,
];

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

fn histogram(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram");
    g.throughput(Throughput::Elements(1));
    for threads in [1, 2, 4] {
        let h = Histogram::new(Arc::new(Buckets::default()));
        g.bench_function(format!("observe/{threads}t"), |b| {
            b.iter_custom(|n| {
                run(threads, n, &|n| {
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
