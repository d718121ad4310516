//! loom model: a native histogram's shards grow their bucket windows and move to a coarser
//! generation (the bucket limit halves the resolution) while a scrape merges them; every
//! scrape sees count = zero count + Σ buckets, and nothing is lost.
#![cfg(tachymeter_loom)]

use loom::thread;
use tachymeter::{Histogram, NativeConfig, NativeSnapshot, Registry};

fn consistent(s: &NativeSnapshot) {
    let buckets: u64 = s.positive.iter().chain(&s.negative).map(|b| b.1).sum();
    assert_eq!(s.count, s.zero_count + buckets, "torn snapshot: {s:?}");
}

#[test]
fn growth_and_halving_race_a_scrape() {
    // Every scan of a window is one loom branch per count: allow more than the default.
    let mut model = loom::model::Builder::new();
    model.max_branches = 20_000;
    model.check(|| {
        let reg = Registry::new();
        let h: Histogram = Histogram::builder("h", "H.")
            .native_config(NativeConfig::new(2.0).unwrap().with_max_buckets(2))
            .register(&reg)
            .unwrap();
        let a = {
            let h = h.clone();
            // 64 is outside the first window: the shard grows (a new state published).
            // The second 1.0 takes the lock-free path, racing the other thread's new
            // generation.
            thread::spawn(move || {
                h.observe(1.0);
                h.observe(1.0);
                h.observe(64.0);
            })
        };
        let b = {
            let h = h.clone();
            // A third bucket: over the limit of 2, so the schema drops (to -4: 1, 3 and 64
            // stay in three buckets all the way down) and later observations migrate their
            // shard.
            thread::spawn(move || {
                h.observe(-3.0);
                h.observe(0.0);
            })
        };
        let s = h.native_snapshot().unwrap();
        consistent(&s);
        assert!(s.count <= 5);
        a.join().unwrap();
        b.join().unwrap();
        let s = h.native_snapshot().unwrap();
        consistent(&s);
        assert_eq!(s.count, 5);
        assert_eq!(s.sum, 1.0 + 1.0 + 64.0 - 3.0);
        assert_eq!(s.zero_count, 1);
        // Three buckets: at schema -4 nothing can be merged any more.
        assert!(s.positive.len() + s.negative.len() <= 3, "{s:?}");
        assert_eq!((h.count(), h.sum()), (5, s.sum));
    });
}
