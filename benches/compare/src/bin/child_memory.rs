//! Bytes per child of a 1M-child counter family touched by 1, 2 or 16 writer threads
//! (issue 10 item 4), tachymeter against `prometheus` 0.14's `IntCounterVec` and
//! `prometheus-client`, all in one process.
//!
//! Two measures per row, both as deltas around the scenario:
//! * **requested**: bytes the program asked for and still holds (a counting global
//!   allocator: `Layout::size()` of live allocations);
//! * **heap**: glibc's bytes in use (`mallinfo2`: `uordblks + hblkhd`), which adds each
//!   allocation's header and rounding — what the process actually pays.
//!
//! A scenario creates `N` children from the main thread (one label, `child-NNNNNNN`), each
//! touched once; then `W - 1` more threads, all alive at once (so each holds its own thread
//! index), touch every child once more. The family is then dropped before the next row.
//!
//! `cargo run --release --bin child_memory -- [N] [W...]` (defaults: 1000000 1 2 16);
//! `ID_LEN=short` or `ID_LEN=long` for other label lengths (see `id`); with `SIZES=1`, a
//! `--one` run also lists the allocation sizes it holds at least one of per ten children.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::sync::Barrier;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
/// Live allocations by size class (`size / 8`, last bucket: 2 KiB and up), for `SIZES=1`.
static BY_SIZE: [AtomicIsize; 257] = [const { AtomicIsize::new(0) }; 257];

fn class(size: usize) -> usize {
    (size / 8).min(256)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counter is a plain atomic and never affects the returned memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Relaxed);
        BY_SIZE[class(l.size())].fetch_add(1, Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Relaxed);
        BY_SIZE[class(l.size())].fetch_add(1, Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Relaxed);
        BY_SIZE[class(l.size())].fetch_sub(1, Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Relaxed);
        BY_SIZE[class(l.size())].fetch_sub(1, Relaxed);
        BY_SIZE[class(new)].fetch_add(1, Relaxed);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// glibc's `struct mallinfo2` (all `size_t`).
#[repr(C)]
struct MallInfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}
extern "C" {
    fn mallinfo2() -> MallInfo2;
}

/// Heap bytes in use, over every glibc arena (mmapped blocks included).
fn heap_in_use() -> isize {
    // SAFETY: mallinfo2 takes no arguments and returns a plain struct by value.
    let m = unsafe { mallinfo2() };
    (m.uordblks + m.hblkhd) as isize
}

fn both() -> (isize, isize) {
    (LIVE.load(Relaxed), heap_in_use())
}

/// Bytes per child (requested, heap) of one library with `w` writers.
fn scenario<F: Sync>(
    n: usize,
    w: usize,
    create: impl FnOnce() -> F,
    touch: impl Fn(&F, usize) + Sync,
) -> (f64, f64) {
    let (r0, h0) = both();
    let f = create();
    for i in 0..n {
        touch(&f, i);
    }
    if w > 1 {
        let barrier = Barrier::new(w - 1);
        std::thread::scope(|s| {
            for _ in 1..w {
                s.spawn(|| {
                    barrier.wait();
                    for i in 0..n {
                        touch(&f, i);
                    }
                    // Stay alive (and keep the index) until every writer is done.
                    barrier.wait();
                });
            }
        });
    }
    let (r1, h1) = both();
    if std::env::var_os("SIZES").is_some() {
        // Size classes holding at least one live allocation per 10 children.
        let counts: Vec<isize> = BY_SIZE.iter().map(|c| c.load(Relaxed)).collect();
        for (c, &k) in counts.iter().enumerate() {
            if k >= (n / 10) as isize {
                eprintln!(
                    "  w={w}: {k} live allocations of {}..{} bytes",
                    c * 8,
                    c * 8 + 7
                );
            }
        }
    }
    drop(f);
    ((r1 - r0) as f64 / n as f64, (h1 - h0) as f64 / n as f64)
}

/// Label value of child `i`: `child-NNNNNNN` (13 bytes), or per `ID_LEN=short` `kN` (2-7
/// bytes) or `ID_LEN=long` a 36-byte UUID-like string.
fn id(i: usize) -> String {
    match std::env::var("ID_LEN").as_deref() {
        Ok("short") => format!("k{i}"),
        Ok("long") => format!(
            "{i:08x}-0000-4000-8000-{:012x}",
            i.wrapping_mul(2_654_435_761)
        ),
        _ => format!("child-{i:07}"),
    }
}

/// Runs one library's scenario in this process and prints "requested heap".
fn one(lib: &str, n: usize, w: usize) {
    let ids: Vec<String> = (0..n).map(id).collect();
    let ids = &ids;
    let (req, heap) = match lib {
        "tachymeter" => scenario(
            n,
            w,
            || {
                tachymeter::Counter::builder("mem", "m")
                    .labels(["id"])
                    .max_children(usize::MAX)
                    .build()
                    .unwrap()
            },
            |f, i| f.with_label_values(&[&ids[i]]).inc(),
        ),
        "tachymeter-histogram" => scenario(
            n,
            w,
            || {
                tachymeter::Histogram::builder("mem_h", "m")
                    .labels(["id"])
                    .max_children(usize::MAX)
                    .build()
                    .unwrap()
            },
            |f, i| f.with_label_values(&[&ids[i]]).observe(0.3),
        ),
        "prometheus-histogram" => scenario(
            n,
            w,
            || {
                prometheus::HistogramVec::new(prometheus::HistogramOpts::new("mem_h", "m"), &["id"])
                    .unwrap()
            },
            |f, i| f.with_label_values(&[&ids[i]]).observe(0.3),
        ),
        "prometheus" => scenario(
            n,
            w,
            || prometheus::IntCounterVec::new(prometheus::Opts::new("mem", "m"), &["id"]).unwrap(),
            |f, i| f.with_label_values(&[&ids[i]]).inc(),
        ),
        "prometheus-client" => {
            let pc_ids: Vec<PcId> = ids.iter().map(|s| PcId { id: s.clone() }).collect();
            let pc_ids = &pc_ids;
            scenario(
                n,
                w,
                prometheus_client::metrics::family::Family::<
                    PcId,
                    prometheus_client::metrics::counter::Counter,
                >::default,
                |f, i| {
                    f.get_or_create(&pc_ids[i]).inc();
                },
            )
        }
        other => panic!("unknown library {other}"),
    };
    println!("{req} {heap}");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--one") {
        return one(
            &args[1],
            args[2].parse().expect("N"),
            args[3].parse().expect("W"),
        );
    }
    let n: usize = args.first().map_or(1_000_000, |a| a.parse().expect("N"));
    let mut writers: Vec<usize> = args.iter().skip(1).map(|a| a.parse().expect("W")).collect();
    if writers.is_empty() {
        writers = vec![1, 2, 16];
    }
    // Each row in a fresh process: tachymeter's slabs keep freed slots for reuse, so a
    // second scenario in one process would not pay for its slots again.
    let exe = std::env::current_exe().expect("own path");
    let run = |lib: &str, w: usize| -> (f64, f64) {
        let out = std::process::Command::new(&exe)
            .args(["--one", lib, &n.to_string(), &w.to_string()])
            .output()
            .expect("run a scenario");
        assert!(out.status.success(), "{lib} w={w}: {out:?}");
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let mut it = text
            .split_whitespace()
            .map(|x| x.parse::<f64>().expect("number"));
        (it.next().expect("requested"), it.next().expect("heap"))
    };
    println!(
        "{n} children of a counter family, one label (values like `{}`); bytes per child \
         (requested / glibc heap)\n",
        id(n - 1)
    );
    println!("| writers | tachymeter | prometheus 0.14 | prometheus-client | tachymeter / prometheus (requested; heap) |");
    println!("| ---: | ---: | ---: | ---: | ---: |");
    let mut hist = Vec::new();
    for &w in &writers {
        hist.push((
            w,
            run("tachymeter-histogram", w),
            run("prometheus-histogram", w),
        ));
        let t = run("tachymeter", w);
        let p = run("prometheus", w);
        let c = run("prometheus-client", w);
        println!(
            "| {w} | {:.0} / {:.0} | {:.0} / {:.0} | {:.0} / {:.0} | {:.2}×; {:.2}× |",
            t.0,
            t.1,
            p.0,
            p.1,
            c.0,
            c.1,
            t.0 / p.0,
            t.1 / p.1
        );
    }
    println!("\nThe same for a histogram family (the 11 default buckets), against prometheus' `HistogramVec`:\n");
    println!(
        "| writers | tachymeter | prometheus 0.14 | tachymeter / prometheus (requested; heap) |"
    );
    println!("| ---: | ---: | ---: | ---: |");
    for (w, t, p) in hist {
        println!(
            "| {w} | {:.0} / {:.0} | {:.0} / {:.0} | {:.2}×; {:.2}× |",
            t.0,
            t.1,
            p.0,
            p.1,
            t.0 / p.0,
            t.1 / p.1
        );
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct PcId {
    id: String,
}
