//! Family lookup of existing children (2 string label values, 100 children) + inc, and the
//! pre-resolved form (a kept handle); child life cycle in a 1M-child family (issue 10):
//! `remove`, and creating a child while the family is idle vs while another thread encodes
//! it (`TACHYMETER_BENCH_CHILDREN` sets the size).

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tachymeter::{Counter, Format, Registry};

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
        .map(|&(a, b)| fam.with_label_values(&[a, b]).handle())
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

fn lifecycle(c: &mut Criterion) {
    let n: usize = std::env::var("TACHYMETER_BENCH_CHILDREN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let reg = Registry::builder().created_samples(false).build();
    let fam = Counter::builder("c", "C.")
        .labels(["k"])
        .register(&reg)
        .unwrap();
    let mut key = itoa::Buffer::new();
    for i in 0..n {
        fam.with_label_values(&[key.format(i)]).inc();
    }
    let mut g = c.benchmark_group("family_lifecycle");
    g.throughput(Throughput::Elements(1));
    // Each removed child is re-created (untimed), so the family stays at `n` children and
    // compactions (amortised into removals) are part of what is timed.
    let mut k = 0usize;
    g.bench_function(format!("remove/{n}_children"), |b| {
        b.iter_custom(|iters| {
            let mut t = Duration::ZERO;
            for _ in 0..iters {
                k = (k + 7_919) % n;
                let v = key.format(k).to_owned();
                let s = Instant::now();
                black_box(fam.remove(&[&v]).unwrap());
                t += s.elapsed();
                fam.with_label_values(&[&v]).inc();
            }
            t
        })
    });
    let mut next = n;
    let mut create = |iters: u64| {
        let s = Instant::now();
        for _ in 0..iters {
            next += 1;
            fam.with_label_values(&[key.format(next)]).inc();
        }
        s.elapsed()
    };
    g.bench_function(format!("create/idle_{n}_children"), |b| {
        b.iter_custom(&mut create)
    });
    // Another thread encodes the family back to back meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let encoder = {
        let (reg, stop) = (reg.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut out = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                out.clear();
                reg.encode(Format::Text, &mut out).unwrap();
            }
        })
    };
    g.bench_function(format!("create/during_encode_{n}_children"), |b| {
        b.iter_custom(&mut create)
    });
    stop.store(true, Ordering::Relaxed);
    encoder.join().unwrap();
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
    targets = family, lifecycle
}
criterion_main!(benches);
