//! Family lookup of existing children (2 string label values, 100 children) + inc, and the
//! pre-resolved form (a kept handle).

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tachymeter::Counter;

const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE",
];
const ROUTES: [&str; 10] = [
    "/api/v1/users",
    "/api/v1/users/:id",
    "/api/v1/products",
    "/api/v1/products/:id",
    "/api/v1/products/:id/owner",
    "/api/v1/products/:id/purchase",
    "/api/v1/orders",
    "/api/v1/orders/:id",
    "/healthz",
    "/metrics",
];

fn family(c: &mut Criterion) {
    let pairs: Vec<(&str, &str)> = (0..100)
        .map(|i| (METHODS[i / 10], ROUTES[i % 10]))
        .collect();
    let fam = Counter::builder("requests", "Requests.")
        .labels(["method", "route"])
        .build()
        .unwrap();
    let handles: Vec<Counter> = pairs
        .iter()
        .map(|&(a, b)| fam.with_label_values(&[a, b]))
        .collect();

    let mut g = c.benchmark_group("family");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("with/2_labels_100_children", |b| {
        b.iter(|| {
            let (a, m) = pairs[i];
            i = (i + 1) % 100;
            black_box(&fam)
                .with(&[black_box(a), black_box(m)], |c| c.inc())
                .unwrap()
        })
    });
    let mut i = 0;
    g.bench_function("with_label_values/2_labels_100_children", |b| {
        b.iter(|| {
            let (a, m) = pairs[i];
            i = (i + 1) % 100;
            black_box(&fam)
                .with_label_values(&[black_box(a), black_box(m)])
                .inc()
        })
    });
    let mut i = 0;
    g.bench_function("kept_handle/100_children", |b| {
        b.iter(|| {
            black_box(&handles[i]).inc();
            i = (i + 1) % 100;
        })
    });
    let mut n = 0u64;
    g.bench_function("create_child", |b| {
        b.iter(|| {
            n += 1;
            fam.with_label_values(&["NEW", itoa::Buffer::new().format(n)])
                .inc()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
    targets = family
}
criterion_main!(benches);
