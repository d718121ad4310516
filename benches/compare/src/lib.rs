//! Shared pieces of the comparison benchmarks: the thread harness, label tables and the
//! per-library setups used by `benches/compare.rs` and the `scaling` binary.
//!
//! Every library gets the same workload: the same label values in the same order, the same
//! observation values, handles passed through `black_box` so no loop folds into one add.

use std::hint::black_box;
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

pub mod encode;
pub mod peers;

/// Runs `work(iters)` on `threads` fresh threads that start together (a barrier) and returns
/// the time from the first thread's start to the last one's end. Each thread does `iters` operations, so `time / iters` is the
/// per-operation, per-thread cost. Thread start-up is outside the timed region.
pub fn run_threads<F: Fn(u64) + Sync>(threads: usize, iters: u64, work: &F) -> Duration {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let t = Instant::now();
                    work(iters);
                    (t, Instant::now())
                })
            })
            .collect();
        // From the first thread's start to the last thread's end: if the threads could not
        // run at the same time (a busy machine), this shows it instead of hiding it.
        let spans: Vec<(Instant, Instant)> = handles
            .into_iter()
            .map(|h| h.join().expect("bench thread panicked"))
            .collect();
        let start = spans
            .iter()
            .map(|s| s.0)
            .min()
            .expect("at least one thread");
        let end = spans
            .iter()
            .map(|s| s.1)
            .max()
            .expect("at least one thread");
        end - start
    })
}

/// First label's values (10).
pub const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE",
];
/// Second label's values (10).
pub const ROUTES: [&str; 10] = [
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

/// The 100 label combinations, in the order every benchmark walks them.
pub fn label_pairs() -> &'static [(&'static str, &'static str); 100] {
    static PAIRS: OnceLock<[(&str, &str); 100]> = OnceLock::new();
    PAIRS.get_or_init(|| core::array::from_fn(|i| (METHODS[i / 10], ROUTES[i % 10])))
}

/// Values observed by histogram benchmarks, spread over the 11 default buckets and `+Inf`.
pub const OBSERVATIONS: [f64; 16] = [
    0.001, 0.007, 0.02, 0.04, 0.07, 0.2, 0.3, 0.7, 2.0, 3.0, 7.0, 20.0, 0.004, 0.09, 0.6, 1.5,
];

/// Go's (and every client's) default histogram buckets.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Walks `0..100` cyclically: the index of the next label combination.
#[inline(always)]
pub fn next100(i: &mut usize) -> usize {
    let v = *i;
    *i = if v == 99 { 0 } else { v + 1 };
    v
}

/// Walks the observation table cyclically.
#[inline(always)]
pub fn next_obs(i: &mut usize) -> f64 {
    let v = OBSERVATIONS[*i & 15];
    *i = i.wrapping_add(1);
    v
}

/// The hardware baseline for a single-writer counter: one thread-owned, cache-padded slot,
/// updated with a relaxed load + store (what DESIGN §3 calls "owned slots").
pub fn baseline_counter(iters: u64) {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let slot = crossbeam_padded();
    let s: &AtomicU64 = black_box(&slot.0);
    for _ in 0..iters {
        let s = black_box(s);
        s.store(s.load(Relaxed) + 1, Relaxed);
    }
    black_box(s.load(Relaxed));
}

/// The hardware baseline for a histogram observe: a thread-owned array of 12 counts and a
/// sum, bucket found by binary search, updated with relaxed loads + stores.
pub fn baseline_histogram(iters: u64) {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let counts: [AtomicU64; 12] = Default::default();
    let sum = AtomicU64::new(0);
    let (counts, sum) = black_box((&counts, &sum));
    let mut o = 0;
    for _ in 0..iters {
        let v = next_obs(&mut o);
        let i = DEFAULT_BUCKETS.partition_point(|&b| b < v);
        let (counts, sum) = black_box((counts, sum));
        counts[i].store(counts[i].load(Relaxed) + 1, Relaxed);
        sum.store((f64::from_bits(sum.load(Relaxed)) + v).to_bits(), Relaxed);
    }
    black_box(sum.load(Relaxed));
}

#[repr(align(128))]
#[derive(Default)]
struct Padded(std::sync::atomic::AtomicU64);

fn crossbeam_padded() -> Box<Padded> {
    Box::default()
}

/// Keeps one extra thread registered with tachymeter (it has touched a metric, so it holds a
/// thread index) until dropped: models a main thread that recorded something at start-up.
pub struct IndexHolder {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IndexHolder {
    /// Starts the holder thread and waits until it has its index.
    pub fn new() -> IndexHolder {
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            tachymeter::Counter::new().inc();
            let _ = ready_tx.send(());
            let _ = stop_rx.recv();
        });
        let _ = ready_rx.recv();
        IndexHolder {
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Default for IndexHolder {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for IndexHolder {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
