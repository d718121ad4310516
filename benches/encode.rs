//! Text, OpenMetrics and (feature `protobuf`) protobuf exposition of 1,050 series (50
//! counter families × 20 label values + 50 gauges, ≈ 416 KB of text) into a reused buffer.

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tachymeter::Format;

#[path = "common/workload.rs"]
mod workload;
use workload::registry;

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
