//! Shared by the main crate's benches: a barrier-started multi-thread runner.

use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Runs `work(iters)` on `threads` barrier-started threads; returns first start to last end,
/// so threads serialised by a busy machine show up as slower rather than hidden.
pub(crate) fn run<F: Fn(u64) + Sync>(threads: usize, iters: u64, work: &F) -> Duration {
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let t = Instant::now();
                    work(iters);
                    (t, Instant::now())
                })
            })
            .collect();
        let spans: Vec<(Instant, Instant)> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        let start = spans.iter().map(|s| s.0).min().unwrap();
        let end = spans.iter().map(|s| s.1).max().unwrap();
        end - start
    })
}
