//! Text, OpenMetrics and (feature `protobuf`) protobuf exposition of 1,050 series (50
//! counter families × 20 label values + 50 gauges, ≈ 416 KB of text) into a reused buffer.

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tachymeter::{Counter, Format, Gauge, Registry};

const LABELS: [&str; 6] = ["service", "endpoint", "method", "status", "instance", "pod"];

fn registry() -> Registry {
    let r = Registry::new();
    let values = |j: usize| {
        [
            "checkout-service-production-eu-west-1-blue-canary-shard-0042-of-0128-general-purpose-pool"
                .to_owned(),
            format!("/api/v2/customers/{{customer_id}}/orders/{{order_id}}/line-items/{j:02}/details"),
            "POST".to_owned(),
            "200".to_owned(),
            "ip-10-20-30-40.eu-west-1.compute.internal:9100".to_owned(),
            "checkout-service-deployment-7f9c8d6b5d-xk2lp".to_owned(),
        ]
    };
    for k in 0..50 {
        let fam = Counter::builder(
            &format!("shop_checkout_component_{k:02}_requests_handled"),
            &format!(
                "Number of requests handled by checkout component {k}, by endpoint and status."
            ),
        )
        .labels(LABELS)
        .register(&r)
        .unwrap();
        for j in 0..20 {
            let v = values(j);
            let v: Vec<&str> = v.iter().map(String::as_str).collect();
            fam.with_label_values(&v)
                .inc_by((k as u64 + 1) * 1_000_003 + j as u64 * 7919);
        }
    }
    for k in 0..50 {
        let fam = Gauge::builder(
            &format!("shop_checkout_component_{k:02}_queue_depth_current"),
            &format!("Jobs currently waiting in the queue of checkout component {k}."),
        )
        .labels(LABELS)
        .register(&r)
        .unwrap();
        let v = values(0);
        let v: Vec<&str> = v.iter().map(String::as_str).collect();
        fam.with_label_values(&v).set(k as f64 * 12.375 + 0.125);
    }
    r
}

fn encode(c: &mut Criterion) {
    let r = registry();
    let mut g = c.benchmark_group("encode");
    #[allow(unused_mut)]
    let mut formats = vec![("text", Format::Text), ("openmetrics", Format::OpenMetrics)];
    // `cargo bench --bench encode --features _bench,protobuf`
    #[cfg(feature = "protobuf")]
    formats.push(("protobuf", Format::Protobuf));
    for (name, format) in formats {
        let mut buf = Vec::new();
        r.encode(format, &mut buf).unwrap();
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                r.encode(format, &mut buf).unwrap();
                buf.len()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
    targets = encode
}
criterion_main!(benches);
