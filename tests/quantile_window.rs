//! `tachymeter::quantile::AgeBuckets` rotation driven by a fake clock (`base + Duration`).

mod support_quantile;

use std::time::{Duration, Instant};
use support_quantile::*;
use tachymeter::quantile::{AgeBuckets, DEFAULT_AGE_BUCKETS, DEFAULT_MAX_AGE};

fn at(base: Instant, secs: u64) -> Instant {
    base + Duration::from_secs(secs)
}

#[test]
fn empty_window_is_nan() {
    let t0 = Instant::now();
    let mut w = AgeBuckets::with_defaults(GO, t0).unwrap();
    assert!(w.query(0.5, t0).is_nan());
    assert_eq!(w.count(t0), 0);
    assert!(w.is_empty());
}

#[test]
fn values_expire_after_max_age() {
    // Default: 10 minutes in 5 buckets of 2 minutes.
    let t0 = Instant::now();
    let mut w = AgeBuckets::with_defaults(GO, t0).unwrap();
    assert_eq!(
        (w.max_age(), w.age_buckets()),
        (DEFAULT_MAX_AGE, DEFAULT_AGE_BUCKETS)
    );
    let mut old: Vec<f64> = (1..=1000).map(f64::from).collect();
    w.insert_batch(&mut old, at(t0, 10));
    // Visible for at least (B-1)/B·max_age = 8 minutes after insertion...
    assert_eq!(w.count(at(t0, 10 + 480)), 1000);
    assert!((450.0..=550.0).contains(&w.query(0.5, at(t0, 10 + 480))));
    // ...and never after max_age.
    assert!(w.query(0.5, at(t0, 10 + 600)).is_nan());
    assert!(w.query(0.5, at(t0, 720)).is_nan());
    assert_eq!(w.count(at(t0, 720)), 0);
}

#[test]
fn head_covers_between_four_fifths_and_all_of_max_age() {
    // One batch per 10 s for an hour, value = its insertion second; after each query the
    // oldest value seen must be at most max_age and at least (B-1)/B·max_age old (once the
    // window has run for max_age).
    let t0 = Instant::now();
    let mut w = AgeBuckets::with_defaults(&[(0.0, 0.0), (0.5, 0.05), (1.0, 0.0)], t0).unwrap();
    for s in (0..3600u64).step_by(10) {
        let now = at(t0, s);
        let mut batch = vec![s as f64; 3];
        w.insert_batch(&mut batch, now);
        let oldest = w.query(0.0, now);
        assert_eq!(w.query(1.0, now), s as f64);
        let age = s as f64 - oldest;
        assert!(age < 600.0, "at {s}s oldest value is {age}s old");
        if s >= 600 {
            assert!(
                age >= 480.0 - 10.0,
                "at {s}s oldest value is only {age}s old"
            );
        }
        w.head(now).audit().unwrap();
    }
}

#[test]
fn long_idle_resets_at_most_all_buckets() {
    let t0 = Instant::now();
    let mut w = AgeBuckets::new(GO, Duration::from_secs(60), 3, t0).unwrap();
    let mut batch: Vec<f64> = (0..100).map(f64::from).collect();
    w.insert_batch(&mut batch, t0);
    // A year later: one pass of at most 3 resets, everything empty, still usable.
    let later = t0 + Duration::from_secs(365 * 24 * 3600);
    assert!(w.query(0.5, later).is_nan());
    assert!(w.is_empty());
    let mut batch = vec![5.0, 6.0, 7.0];
    w.insert_batch(&mut batch, later);
    assert_eq!(w.query(0.5, later), 6.0);
    assert_eq!(w.query(0.5, later + Duration::from_secs(59)), 6.0);
    assert!(w.query(0.5, later + Duration::from_secs(61)).is_nan());
}

#[test]
fn clock_going_backwards_is_no_time_passing() {
    let t0 = Instant::now() + Duration::from_secs(3600);
    let mut w = AgeBuckets::new(GO, Duration::from_secs(60), 3, t0).unwrap();
    let mut batch = vec![1.0, 2.0, 3.0];
    w.insert_batch(&mut batch, t0);
    assert_eq!(w.query(0.5, t0 - Duration::from_secs(1000)), 2.0);
}

#[test]
fn nan_is_counted_and_batches_are_sorted_once_into_every_bucket() {
    let t0 = Instant::now();
    let mut w = AgeBuckets::new(GO, Duration::from_secs(50), 5, t0).unwrap();
    let values = Family::Gaussian.generate(20_000, 9);
    let mut sorted = Vec::new();
    for (i, chunk) in values.chunks(500).enumerate() {
        let mut batch = chunk.to_vec();
        if i == 0 {
            batch.push(f64::NAN);
        }
        w.insert_batch(&mut batch, t0);
        merge_into_sorted(&mut sorted, chunk);
    }
    assert_eq!(w.nan_count(), 1);
    assert_eq!(w.count(t0), 20_000);
    for &(phi, eps) in GO {
        let got = w.query(phi, t0);
        check(&sorted, phi, eps, got).unwrap_or_else(|v| panic!("{v}"));
    }
    // Five buckets each hold a summary of the same data.
    assert!(w.len() <= 5 * 64, "{}", w.len());
    w.reset(t0);
    assert!(w.is_empty());
}
