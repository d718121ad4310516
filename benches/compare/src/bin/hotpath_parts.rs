//! Prices the steps of `Sharded::update` (src/shard.rs) on the home-slot path by rebuilding
//! them outside the crate, each behind an `Arc` and `black_box` like a real handle:
//!
//! * `floor`: a thread-owned slot, relaxed load + store (the bench's `baseline`);
//! * `locked add`: `fetch_add` on a shared `Arc<AtomicU64>` (what `prometheus-client` does);
//! * `as now`: TLS index, load + null-test `shards`, load + compare `owner`, then load + store;
//! * `one word`: TLS index, load + compare one `state` word (owner + 1 while not inflated,
//!   a reserved value once inflated), then load + store — the proposed fast path;
//! * `real`: tachymeter's `Counter::inc`.
//!
//! `cargo run --release --bin hotpath_parts` — ns per op, median of 9 runs of 10^8 ops.

use std::cell::Cell;
use std::hint::black_box;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::time::Instant;

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

#[inline(always)]
fn thread_index() -> usize {
    INDEX.try_with(Cell::get).unwrap_or(usize::MAX)
}

struct AsNow {
    owner: AtomicUsize,
    shards: AtomicPtr<u64>,
    home: AtomicU64,
}

impl AsNow {
    #[inline(always)]
    fn inc(&self) {
        let idx = thread_index();
        let p = self.shards.load(Acquire);
        if p.is_null() {
            let owner = self.owner.load(Relaxed);
            if owner == idx.wrapping_add(1) && idx != usize::MAX {
                self.home.store(self.home.load(Relaxed) + 1, Relaxed);
                return;
            }
        }
        slow(&self.home);
    }
}

struct OneWord {
    state: AtomicUsize,
    home: AtomicU64,
}

impl OneWord {
    #[inline(always)]
    fn inc(&self) {
        let idx = thread_index();
        if self.state.load(Relaxed) == idx.wrapping_add(1) {
            self.home.store(self.home.load(Relaxed) + 1, Relaxed);
            return;
        }
        slow(&self.home);
    }
}

#[cold]
#[inline(never)]
fn slow(a: &AtomicU64) {
    a.fetch_add(1, Relaxed);
}

const N: u64 = 100_000_000;

fn time(label: &str, f: impl Fn(u64)) {
    let mut v: Vec<f64> = (0..9)
        .map(|_| {
            let t = Instant::now();
            f(N);
            t.elapsed().as_nanos() as f64 / N as f64
        })
        .collect();
    v.sort_by(f64::total_cmp);
    println!("| {label} | {:.2} |", v[4]);
}

fn main() {
    let floor = Arc::new(AtomicU64::new(0));
    let shared = Arc::new(AtomicU64::new(0));
    let now = Arc::new(AsNow {
        owner: AtomicUsize::new(1),
        shards: AtomicPtr::new(ptr::null_mut()),
        home: AtomicU64::new(0),
    });
    let one = Arc::new(OneWord {
        state: AtomicUsize::new(1),
        home: AtomicU64::new(0),
    });
    let real = tachymeter::Counter::new();
    println!("| home-slot path | ns/op |");
    println!("| --- | ---: |");
    time("floor: owned slot, load + store", |n| {
        for _ in 0..n {
            let a = black_box(&floor);
            a.store(a.load(Relaxed) + 1, Relaxed);
        }
    });
    time("locked add (`fetch_add`)", |n| {
        for _ in 0..n {
            black_box(&shared).fetch_add(1, Relaxed);
        }
    });
    time("as now: index, `shards`, `owner`, load + store", |n| {
        for _ in 0..n {
            black_box(&now).inc();
        }
    });
    time("one word: index, `state`, load + store", |n| {
        for _ in 0..n {
            black_box(&one).inc();
        }
    });
    time("real `Counter::inc`", |n| {
        for _ in 0..n {
            black_box(&real).inc();
        }
    });
    black_box((floor, shared, now, one));
}
