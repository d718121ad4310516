//! loom model: summary shard buffers handed over (merged by their own thread, or queued when
//! the window is busy) against a concurrent scrape that drains every shard. After the joins
//! every observation is counted once and ranked exactly once. A second model rotates the
//! window (fake clock) while the observers flush and a scrape reads.
#![cfg(tachymeter_loom)]

use std::time::Duration;

use loom::sync::atomic::{AtomicU64, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use tachymeter::{Registry, Summary};

#[test]
fn buffers_hand_over_and_drain_without_loss() {
    loom::model(|| {
        let reg = Registry::new();
        // Batch 2: the second observation of a thread flushes its buffer.
        let s: Summary = Summary::builder("s", "S.")
            .objectives(&[(0.5, 0.05)])
            .unwrap()
            .batch_size(2)
            .register(&reg)
            .unwrap();
        let a = {
            let s = s.clone();
            thread::spawn(move || {
                s.observe(1.0);
                s.observe(2.0);
            })
        };
        let b = {
            let s = s.clone();
            thread::spawn(move || {
                s.observe(3.0);
                s.observe(4.0);
                s.observe(5.0); // stays buffered
            })
        };
        // A scrape racing the observers: whatever it sees must be sane.
        let seen = s.window_count();
        assert!(seen <= 5, "ranked more than observed: {seen}");
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(s.count(), 5);
        assert_eq!(s.sum(), 15.0);
        assert_eq!(s.window_count(), 5, "every observation ranked exactly once");
        assert_eq!((s.quantile(0.0), s.quantile(1.0)), (1.0, 5.0));
    });
}

/// One observer advances a fake clock by `advance_ms` between its two observations, so the
/// window rotates while batches are flushed (or queued) and a scrape reads. Window of 2 ms in
/// 2 buckets: a 1 ms advance rotates the head but keeps every observation (each batch goes
/// into every bucket); a 2 ms advance can empty the window.
fn rotate_during_flush_and_scrape(advance_ms: u64) {
    // `Instant` is not modelled by loom: a fixed base plus a modelled atomic offset.
    let base = std::time::Instant::now();
    loom::model(move || {
        let elapsed = Arc::new(AtomicU64::new(0));
        let reg = Registry::new();
        let clock = {
            let elapsed = elapsed.clone();
            move || base + Duration::from_millis(elapsed.load(SeqCst))
        };
        let s: Summary = Summary::builder("s", "S.")
            .objectives(&[(0.5, 0.05)])
            .unwrap()
            .max_age(Duration::from_millis(2))
            .unwrap()
            .age_buckets(2)
            .unwrap()
            .batch_size(2)
            .clock(clock)
            .register(&reg)
            .unwrap();
        let a = {
            let (s, elapsed) = (s.clone(), elapsed.clone());
            thread::spawn(move || {
                s.observe(1.0);
                elapsed.fetch_add(advance_ms, SeqCst);
                s.observe(2.0); // flushes [1, 2] at or after the rotation
            })
        };
        let b = {
            let s = s.clone();
            thread::spawn(move || {
                s.observe(3.0);
                s.observe(4.0); // flushes before, during or after the rotation
            })
        };
        let observed = |q: f64| q.is_nan() || [1.0, 2.0, 3.0, 4.0].contains(&q);
        // A scrape racing the rotation and the flushes.
        let q = s.quantile(0.5);
        assert!(observed(q), "racing scrape: {q} was never observed");
        a.join().unwrap();
        b.join().unwrap();
        // Cumulative, never windowed.
        assert_eq!(s.count(), 4);
        assert_eq!(s.sum(), 10.0);
        let q = s.quantile(0.5);
        assert!(observed(q), "after joins: {q} was never observed");
        let ranked = s.window_count();
        assert!(ranked <= 4, "ranked more than observed: {ranked}");
        if advance_ms < 2 {
            // Nothing is old enough to leave: every observation is ranked exactly once.
            assert_eq!(ranked, 4, "an observation was lost across the rotation");
            assert_eq!((s.quantile(0.0), s.quantile(1.0)), (1.0, 4.0));
        }
        // A full window later everything has left the quantiles, but not the totals.
        elapsed.fetch_add(2, SeqCst);
        assert_eq!(s.window_count(), 0);
        assert!(s.quantile(0.5).is_nan());
        assert_eq!((s.count(), s.sum()), (4, 10.0));
    });
}

#[test]
fn rotation_keeps_observations_younger_than_max_age() {
    rotate_during_flush_and_scrape(1);
}

#[test]
fn rotation_emptying_the_window_races_flush_and_scrape() {
    rotate_during_flush_and_scrape(2);
}
