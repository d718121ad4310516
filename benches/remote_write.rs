//! Remote write: one collection + protobuf encode + snappy of the 1,050-series workload of
//! `benches/encode.rs` (50 counter families × 20 label values + 50 gauges, 6 long labels
//! each), head to head with the text encode of the same registry, and the allocations of a
//! warm collection (counted by a global allocator; the bench panics if it is not 0). Then
//! 100 native histograms (20 buckets each) sent as `TimeSeries.histograms`
//! (`native_histograms(true)`) against the same registry sent as `_count`/`_sum` floats
//! (the default), also asserted allocation-free once warm. Then exemplars: 1,000 counter
//! children each with an exemplar, sent by the 1.0 and the 2.0 encoder (steady: nothing new
//! to send; and with a new exemplar on every child before each collection), interleaved.
//!
//! ```text
//! cargo bench --features _bench,remote-write --bench remote_write
//! ```

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tachymeter::http::BenchEncoder;
use tachymeter::{Counter, Format, Histogram, Registry};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Forwards to [`System`], counting the calling thread's `alloc`s and `realloc`s.
struct CountingAlloc;

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a
// const-initialised thread-local `Cell`, so touching it does not allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above, for `dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: as above, for `realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[path = "common/workload.rs"]
mod workload;
use workload::registry;

fn remote_write(c: &mut Criterion) {
    let regs = [registry()];
    // One request for the whole collection, as with `max_samples_per_send(2000)`.
    let mut enc = BenchEncoder::new(2000);
    let (samples, bytes) = enc.collect(&regs).unwrap();
    assert_eq!(samples, 1050);
    enc.collect(&regs).unwrap();
    let before = allocations();
    for _ in 0..10 {
        enc.collect(&regs).unwrap();
    }
    let allocs = allocations() - before;
    let mut text = Vec::new();
    regs[0].encode(Format::Text, &mut text).unwrap();
    println!(
        "remote write: {samples} samples, {bytes} bytes snappy (text: {} bytes); \
         allocations per warm collection: {}",
        text.len(),
        allocs as f64 / 10.0
    );
    assert_eq!(allocs, 0, "a warm collection must not allocate");
    interleaved(&mut enc, &regs, &mut text);

    // Remote-Write 2.0: the same collection as an `io.prometheus.write.v2.Request`.
    let mut v2 = BenchEncoder::v2(2000);
    let (v2_samples, v2_bytes) = v2.collect(&regs).unwrap();
    assert_eq!(v2_samples, samples);
    let v2_allocs = warm_allocations(&mut v2, &regs);
    println!(
        "remote write 2.0: {v2_samples} samples, {v2_bytes} bytes snappy (1.0: {bytes}); \
         allocations per warm collection: {}",
        v2_allocs as f64 / 10.0
    );
    assert_eq!(v2_allocs, 0, "a warm 2.0 collection must not allocate");

    let mut g = c.benchmark_group("remote_write");
    g.throughput(Throughput::Elements(samples as u64));
    g.bench_function("collect_encode_snappy", |b| {
        b.iter(|| enc.collect(&regs).unwrap())
    });
    g.bench_function("collect_encode_snappy_v2", |b| {
        b.iter(|| v2.collect(&regs).unwrap())
    });
    g.bench_function("text_encode_same_registry", |b| {
        b.iter(|| {
            text.clear();
            regs[0].encode(Format::Text, &mut text).unwrap();
            text.len()
        })
    });
    g.finish();
}

/// The issue's ratio robust to a noisy machine: text encode and remote-write collection
/// alternate, round after round (30 rounds of 200 each), and each keeps its fastest round
/// (noise only ever adds time), so both see the same machine.
fn interleaved(enc: &mut BenchEncoder, regs: &[Registry], text: &mut Vec<u8>) {
    const ROUNDS: usize = 30;
    const EACH: u32 = 200;
    let (mut best_text, mut best_rw) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..ROUNDS {
        let t = std::time::Instant::now();
        for _ in 0..EACH {
            text.clear();
            regs[0].encode(Format::Text, text).unwrap();
            std::hint::black_box(text.len());
        }
        best_text = best_text.min(t.elapsed().as_secs_f64() * 1e6 / f64::from(EACH));
        let t = std::time::Instant::now();
        for _ in 0..EACH {
            std::hint::black_box(enc.collect(regs).unwrap());
        }
        best_rw = best_rw.min(t.elapsed().as_secs_f64() * 1e6 / f64::from(EACH));
    }
    println!(
        "interleaved, fastest of {ROUNDS} rounds of {EACH}: text {best_text:.1} µs, \
         remote write {best_rw:.1} µs: {:.2}x",
        best_rw / best_text
    );
}

/// 100 children of a native histogram family, each with ~20 non-empty buckets spread over
/// both signs and several spans, and the zero bucket.
fn native_registry() -> Registry {
    let r = Registry::new();
    let h = Histogram::builder("rpc_latency_seconds", "RPC latency.")
        .native(1.1)
        .unwrap()
        .labels(["service", "method"])
        .register(&r)
        .unwrap();
    for i in 0..100 {
        let child = h.with_label_values(&[&format!("svc-{}", i % 10), &format!("Method{i}")]);
        for k in 0..20 {
            let v = 1e-3 * 1.3f64.powi(k) * (1.0 + f64::from(i) / 100.0);
            child.observe(if k % 7 == 3 { -v } else { v });
        }
        child.observe(0.0);
    }
    r
}

/// Warms `enc` and returns its allocations over 10 more collections.
fn warm_allocations(enc: &mut BenchEncoder, regs: &[Registry]) -> u64 {
    enc.collect(regs).unwrap();
    enc.collect(regs).unwrap();
    let before = allocations();
    for _ in 0..10 {
        enc.collect(regs).unwrap();
    }
    allocations() - before
}

fn remote_write_native(c: &mut Criterion) {
    let regs = [native_registry()];
    let mut on = BenchEncoder::with_native_histograms(2000);
    let mut off = BenchEncoder::new(2000);
    let (on_series, on_bytes) = on.collect(&regs).unwrap();
    let (off_series, off_bytes) = off.collect(&regs).unwrap();
    assert_eq!((on_series, off_series), (100, 300));
    let (a_on, a_off) = (
        warm_allocations(&mut on, &regs),
        warm_allocations(&mut off, &regs),
    );
    println!(
        "remote write, 100 native histograms: on {on_series} series {on_bytes} bytes snappy, \
         off {off_series} series {off_bytes} bytes; allocations per warm collection: on {}, off {}",
        a_on as f64 / 10.0,
        a_off as f64 / 10.0
    );
    assert_eq!(
        a_on, 0,
        "a warm native-histogram collection must not allocate"
    );
    assert_eq!(a_off, 0, "a warm collection must not allocate");

    let mut g = c.benchmark_group("remote_write_native");
    g.throughput(Throughput::Elements(100));
    g.bench_function("native_histograms_on", |b| {
        b.iter(|| on.collect(&regs).unwrap())
    });
    g.bench_function("native_histograms_off_floats", |b| {
        b.iter(|| off.collect(&regs).unwrap())
    });
    g.finish();
}

/// 50 counter families × 20 children (two labels each), every child with an exemplar.
fn exemplar_registry() -> (Registry, Vec<Counter>) {
    let r = Registry::builder().created_samples(false).build();
    let mut children = Vec::new();
    for f in 0..50 {
        let fam = Counter::builder(&format!("jobs_{f}_total"), "Jobs.")
            .labels(["queue", "worker"])
            .register(&r)
            .unwrap();
        for i in 0..20 {
            let c = fam
                .with_label_values(&[&format!("queue-{i}"), &format!("worker-{}", i % 4)])
                .handle();
            c.inc_with_exemplar(&[("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")]);
            children.push(c);
        }
    }
    (r, children)
}

/// Exemplars in 1.0 and 2.0, interleaved round after round (30 rounds of 50 collections),
/// each keeping its fastest round: 2.0 off, 2.0 on and 1.0 on with nothing new to send, then
/// 2.0 on and 1.0 on with a new exemplar recorded on every child before each collection (the
/// recording is inside both timings).
fn remote_write_exemplars(_c: &mut Criterion) {
    const ROUNDS: usize = 30;
    const EACH: u32 = 50;
    let (r, children) = exemplar_registry();
    let regs = [r];
    let mut v2_off = BenchEncoder::v2(2000);
    let mut v2_on = BenchEncoder::v2_with_exemplars(2000, false);
    let mut v1_on = BenchEncoder::with_extras(2000, false);
    for e in [&mut v2_off, &mut v2_on, &mut v1_on] {
        assert_eq!(e.collect(&regs).unwrap().0, 1000);
    }
    let mut trace = 0u64;
    // A distinct trace id per child, as real ones are (ids into a reused buffer).
    let mut id = String::new();
    let mut record = |children: &[Counter]| {
        trace += 1;
        for (i, c) in children.iter().enumerate() {
            id.clear();
            std::fmt::Write::write_fmt(&mut id, format_args!("{trace:016x}{i:016x}")).unwrap();
            c.inc_with_exemplar(&[("trace_id", &id)]);
        }
    };
    let mut best = [f64::INFINITY; 5];
    let mut bytes = [0usize; 5];
    for _ in 0..ROUNDS {
        for (k, enc) in [&mut v2_off, &mut v2_on, &mut v1_on]
            .into_iter()
            .enumerate()
        {
            let t = std::time::Instant::now();
            for _ in 0..EACH {
                bytes[k] = std::hint::black_box(enc.collect(&regs).unwrap()).1;
            }
            best[k] = best[k].min(t.elapsed().as_secs_f64() * 1e6 / f64::from(EACH));
        }
        for (k, enc) in [(3, &mut v2_on), (4, &mut v1_on)] {
            let t = std::time::Instant::now();
            for _ in 0..EACH {
                record(&children);
                bytes[k] = std::hint::black_box(enc.collect(&regs).unwrap()).1;
            }
            best[k] = best[k].min(t.elapsed().as_secs_f64() * 1e6 / f64::from(EACH));
        }
    }
    let a_steady = {
        let before = allocations();
        for _ in 0..10 {
            v2_on.collect(&regs).unwrap();
        }
        allocations() - before
    };
    println!(
        "exemplars, 1,000 counters, fastest of {ROUNDS} rounds of {EACH} (µs, snappy bytes): \
         none new: 2.0 off {:.1} ({}), 2.0 on {:.1} ({}), 1.0 on {:.1} ({}); \
         all new (recording included): 2.0 on {:.1} ({}), 1.0 on {:.1} ({}); \
         2.0 on / off {:.2}x, 2.0 / 1.0 none new {:.2}x, all new {:.2}x",
        best[0],
        bytes[0],
        best[1],
        bytes[1],
        best[2],
        bytes[2],
        best[3],
        bytes[3],
        best[4],
        bytes[4],
        best[1] / best[0],
        best[1] / best[2],
        best[3] / best[4],
    );
    assert_eq!(
        a_steady, 0,
        "a warm 2.0 collection with exemplars must not allocate"
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = remote_write, remote_write_native, remote_write_exemplars
}
criterion_main!(benches);
