//! Benchmarks for `tachymeter::quantile`: CKMS insert cost per value (uniform batches of 512,
//! sorted input), a query round of three quantiles, and five age buckets amortised per value.
//!
//! Run: `cargo bench --features _bench --bench quantile -- --warm-up-time 1 --measurement-time 2`.
// `criterion_group!` defines an undocumented `pub fn benches`.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::time::Instant;
use tachymeter::quantile::{AgeBuckets, Ckms};

const GO: &[(f64, f64)] = &[(0.5, 0.05), (0.9, 0.01), (0.99, 0.001)];
const BATCH: usize = 512;
/// Values per measured iteration (a multiple of `BATCH`).
const VALUES: usize = 64 * BATCH;

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

/// A summary already holding `n` uniform values (steady state).
fn warmed(n: usize) -> Ckms {
    let mut c = Ckms::new(GO).unwrap();
    for chunk in uniform(n, 7).chunks(BATCH) {
        c.insert_batch(&mut chunk.to_vec());
    }
    c
}

fn ckms_insert(c: &mut Criterion) {
    let mut g = c.benchmark_group("ckms_insert");
    g.throughput(Throughput::Elements(VALUES as u64));

    let data = uniform(VALUES, 42);
    let mut ckms = warmed(1_000_000);
    let mut buf = vec![0.0; BATCH];
    g.bench_function("uniform_batch_512", |b| {
        b.iter(|| {
            for chunk in data.chunks(BATCH) {
                buf.copy_from_slice(chunk);
                ckms.insert_batch(black_box(&mut buf));
            }
        })
    });

    let mut ckms = warmed(1_000_000);
    g.bench_function("uniform_insert_one_by_one", |b| {
        b.iter(|| {
            for &v in &data {
                ckms.insert(black_box(v));
            }
        })
    });

    // Ascending input: every batch lands above the current maximum.
    let mut ckms = Ckms::new(GO).unwrap();
    let mut next = 0.0f64;
    g.bench_function("sorted_batch_512", |b| {
        b.iter(|| {
            for _ in 0..VALUES / BATCH {
                for slot in buf.iter_mut() {
                    *slot = next;
                    next += 1.0;
                }
                ckms.insert_batch(black_box(&mut buf));
            }
        })
    });
    g.finish();
}

fn ckms_query(c: &mut Criterion) {
    let mut ckms = warmed(1_000_000);
    c.bench_function("ckms_query_3_quantiles", |b| {
        b.iter(|| {
            let q = [0.5, 0.9, 0.99].map(|phi| ckms.query(black_box(phi)));
            black_box(q)
        })
    });
}

fn age_buckets(c: &mut Criterion) {
    let mut g = c.benchmark_group("age_buckets_5");
    g.throughput(Throughput::Elements(VALUES as u64));
    let data = uniform(VALUES, 43);
    let t0 = Instant::now();
    let mut w = AgeBuckets::with_defaults(GO, t0).unwrap();
    for chunk in uniform(1_000_000, 9).chunks(BATCH) {
        w.insert_batch(&mut chunk.to_vec(), t0);
    }
    g.bench_function("uniform_batch_512", |b| {
        b.iter_batched_ref(
            || data.clone(),
            |values| {
                for chunk in values.chunks_mut(BATCH) {
                    w.insert_batch(black_box(chunk), t0);
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, ckms_insert, ckms_query, age_buckets);
criterion_main!(benches);
