//! loom model: summary shard buffers handed over (merged by their own thread, or queued when
//! the window is busy) against a concurrent scrape that drains every shard. After the joins
//! every observation is counted once and ranked exactly once.
#![cfg(tachymeter_loom)]

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
