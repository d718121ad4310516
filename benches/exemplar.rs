//! Plain `inc`/`observe` on a metric that has an exemplar recorded vs one that never had one:
//! exemplars live in a side structure the plain paths never read, so the two must cost the
//! same. Also the cost of recording an exemplar itself.
//!
//! `cargo bench --features _bench --bench exemplar`
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use tachymeter::{Buckets, Counter, Histogram};

fn counter(c: &mut Criterion) {
    let mut g = c.benchmark_group("counter_inc");
    let plain = Counter::new();
    let with = Counter::new();
    with.inc_with_exemplar(&[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]);
    g.bench_function("never_had_exemplar", |b| b.iter(|| black_box(&plain).inc()));
    g.bench_function("has_exemplar", |b| b.iter(|| black_box(&with).inc()));
    g.bench_function("inc_with_exemplar", |b| {
        b.iter(|| black_box(&with).inc_with_exemplar(&[("trace_id", "4bf92f3577b34da6")]))
    });
    g.finish();
}

fn histogram(c: &mut Criterion) {
    let mut g = c.benchmark_group("histogram_observe");
    let buckets = std::sync::Arc::new(Buckets::default());
    let plain = Histogram::new(buckets.clone());
    let with = Histogram::new(buckets);
    for v in [0.001, 0.02, 0.3, 4.0, 20.0] {
        with.observe_with_exemplar(v, &[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]);
    }
    let mut x = 0.0f64;
    g.bench_function("never_had_exemplar", |b| {
        b.iter(|| {
            x = if x > 8.0 { 0.0 } else { x + 0.37 };
            black_box(&plain).observe(x)
        })
    });
    g.bench_function("has_exemplar", |b| {
        b.iter(|| {
            x = if x > 8.0 { 0.0 } else { x + 0.37 };
            black_box(&with).observe(x)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = counter, histogram
}
criterion_main!(benches);
