//! Memory per child and allocations per lookup, with a counting global allocator.
//!
//! For each library: create 10^5 children of a counter family (then of a histogram family
//! with the 11 default buckets), each touched once by the creating thread; report live heap
//! bytes per child; then a second thread touches every child and the bytes are reported
//! again (tachymeter inflates a child to per-thread shards on its second writer thread).
//! Then 10^6 lookups of existing children are counted for heap allocations (must be 0), and
//! finally the allocations of one encode of the 1,050-series body once warm.
//!
//! `cargo run --release --bin memory` (prints a markdown table).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering::Relaxed};

use measured::lasso;
use prometheus_client::encoding::EncodeLabelSet;
use tachymeter_compare::DEFAULT_BUCKETS;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counters are plain atomics and never affect the returned memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Relaxed);
        ALLOCS.fetch_add(1, Relaxed);
        ALLOCATED.fetch_add(l.size() as u64, Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Relaxed);
        ALLOCS.fetch_add(1, Relaxed);
        ALLOCATED.fetch_add(l.size() as u64, Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Relaxed);
        ALLOCS.fetch_add(1, Relaxed);
        ALLOCATED.fetch_add(new as u64, Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const N: usize = 100_000;
const LOOKUPS: usize = 1_000_000;

struct Row {
    lib: String,
    one: f64,
    two: f64,
    allocs: Option<(u64, u64)>,
}

/// Runs one library's scenario. `create` builds the family; `touch(f, i)` records once on
/// child `i` (creating it when absent); `lookup(f, i)` looks child `i` up and records.
fn scenario<F: Sync>(
    lib: &str,
    create: impl FnOnce() -> F,
    touch: impl Fn(&F, usize) + Sync,
    lookup: impl Fn(&F, usize),
) -> Row {
    let before = LIVE.load(Relaxed);
    let f = create();
    for i in 0..N {
        touch(&f, i);
    }
    let one = LIVE.load(Relaxed) - before;
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..N {
                touch(&f, i);
            }
        });
    });
    let two = LIVE.load(Relaxed) - before;
    let allocs = Some(&lookup).map(|l| {
        // Warm: thread-local registrations, guards, etc.
        for i in 0..1000 {
            l(&f, i);
        }
        let a = ALLOCS.load(Relaxed);
        for k in 0..LOOKUPS {
            l(&f, (k * 7919) % N);
        }
        let first = ALLOCS.load(Relaxed) - a;
        let a = ALLOCS.load(Relaxed);
        for k in 0..LOOKUPS {
            l(&f, (k * 104_729) % N);
        }
        (first, ALLOCS.load(Relaxed) - a)
    });
    drop(f);
    Row {
        lib: lib.to_owned(),
        one: one as f64 / N as f64,
        two: two as f64 / N as f64,
        allocs,
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PcId {
    id: String,
}

#[derive(Clone, Copy, measured::LabelGroup)]
#[label(set = MeasuredIdSet)]
struct MeasuredId<'a> {
    #[label(dynamic_with = lasso::ThreadedRodeo, default)]
    id: &'a str,
}

fn main() {
    let ids: Vec<String> = (0..N).map(|i| format!("child-{i:06}")).collect();
    let pc_ids: Vec<PcId> = ids.iter().map(|s| PcId { id: s.clone() }).collect();
    let ids = &ids;
    let pc_ids = &pc_ids;
    let mut counters = Vec::new();
    let mut histograms = Vec::new();

    // ---- counters ----
    counters.push(scenario(
        "tachymeter (`with_label_values`)",
        || {
            tachymeter::Counter::builder("mem", "m")
                .labels(["id"])
                .build()
                .unwrap()
        },
        |f, i| f.with_label_values(&[&ids[i]]).inc(),
        |f, i| f.with(&[&ids[i]], |c| c.inc()).unwrap(),
    ));
    counters.push(scenario(
        "prometheus",
        || prometheus::IntCounterVec::new(prometheus::Opts::new("mem", "m"), &["id"]).unwrap(),
        |f, i| f.with_label_values(&[&ids[i]]).inc(),
        |f, i| f.with_label_values(&[&ids[i]]).inc(),
    ));
    counters.push(scenario(
        "prometheus-client",
        prometheus_client::metrics::family::Family::<
            PcId,
            prometheus_client::metrics::counter::Counter,
        >::default,
        |f, i| {
            f.get_or_create(&pc_ids[i]).inc();
        },
        |f, i| {
            f.get_or_create(&pc_ids[i]).inc();
        },
    ));
    counters.push(scenario(
        "measured (`ThreadedRodeo` dynamic labels)",
        || measured::CounterVec::with_label_set(MeasuredIdSet::default()),
        |f, i| {
            f.inc(MeasuredId {
                id: ids[i].as_str(),
            })
        },
        |f, i| {
            f.inc(MeasuredId {
                id: ids[i].as_str(),
            })
        },
    ));
    counters.push(scenario(
        "metrics (+ exporter, local recorder)",
        || metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder(),
        |r, i| {
            metrics::with_local_recorder(r, || {
                metrics::counter!("mem_total", "id" => ids[i].clone()).increment(1)
            })
        },
        |r, i| {
            metrics::with_local_recorder(r, || {
                metrics::counter!("mem_total", "id" => ids[i].clone()).increment(1)
            })
        },
    ));

    // ---- histograms ----
    histograms.push(scenario(
        "tachymeter",
        || {
            tachymeter::Histogram::builder("mem_h", "m")
                .labels(["id"])
                .build()
                .unwrap()
        },
        |f, i| f.with_label_values(&[&ids[i]]).observe(0.3),
        |f, i| f.with(&[&ids[i]], |h| h.observe(0.3)).unwrap(),
    ));
    histograms.push(scenario(
        "prometheus",
        || {
            prometheus::HistogramVec::new(prometheus::HistogramOpts::new("mem_h", "m"), &["id"])
                .unwrap()
        },
        |f, i| f.with_label_values(&[&ids[i]]).observe(0.3),
        |f, i| f.with_label_values(&[&ids[i]]).observe(0.3),
    ));
    histograms.push(scenario(
        "prometheus-client",
        || {
            prometheus_client::metrics::family::Family::<
                PcId,
                prometheus_client::metrics::histogram::Histogram,
            >::new_with_constructor(
                (|| prometheus_client::metrics::histogram::Histogram::new(DEFAULT_BUCKETS))
                    as fn() -> prometheus_client::metrics::histogram::Histogram,
            )
        },
        |f, i| f.get_or_create(&pc_ids[i]).observe(0.3),
        |f, i| f.get_or_create(&pc_ids[i]).observe(0.3),
    ));
    histograms.push(scenario(
        "measured (`ThreadedRodeo` dynamic labels)",
        || {
            measured::HistogramVec::<MeasuredIdSet, 11>::with_label_set_and_metadata(
                MeasuredIdSet::default(),
                measured::metric::histogram::Thresholds::with_buckets(DEFAULT_BUCKETS),
            )
        },
        |f, i| {
            f.observe(
                MeasuredId {
                    id: ids[i].as_str(),
                },
                0.3,
            )
        },
        |f, i| {
            f.observe(
                MeasuredId {
                    id: ids[i].as_str(),
                },
                0.3,
            )
        },
    ));

    print_table("counter family", &counters);
    print_table("histogram family (11 buckets)", &histograms);

    // Encode: allocations per body once warm (the first encode sizes buffers).
    println!("\n### Allocations per encode of the 1,050-series body, once warm\n");
    println!("| library | allocations per encode | bytes allocated per encode |");
    println!("| --- | ---: | ---: |");
    for (name, mut enc) in tachymeter_compare::encode::all() {
        enc();
        enc();
        let (a, b) = (ALLOCS.load(Relaxed), ALLOCATED.load(Relaxed));
        for _ in 0..10 {
            enc();
        }
        let (da, db) = (ALLOCS.load(Relaxed) - a, ALLOCATED.load(Relaxed) - b);
        println!("| {name} | {} | {} |", da / 10, db / 10);
    }
}

fn print_table(what: &str, rows: &[Row]) {
    println!("\n### Memory: 10^5 children of a {what}\n");
    println!("| library | bytes/child, 1 writer thread | bytes/child after a 2nd thread touched each | allocations in 10^6 lookups of existing children (in the next 10^6) |");
    println!("| --- | ---: | ---: | ---: |");
    for r in rows {
        let a = r
            .allocs
            .map_or("-".to_owned(), |(a, b)| format!("{a} (then {b})"));
        println!("| {} | {:.0} | {:.0} | {} |", r.lib, r.one, r.two, a);
    }
}
