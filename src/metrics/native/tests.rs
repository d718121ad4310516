//! Tests of native histograms through the public API: bucket placement against the spec's
//! formula, consistency under threads, the bucket-limit strategy, and the text formats.

use std::time::Duration;

use crate::{Format, Histogram, NativeConfig, NativeSnapshot, Registry};

/// The key of `v` by the spec's formula in floating point, for values not near a bound.
fn spec_key(v: f64, schema: i8) -> i32 {
    (v.abs().log2() * f64::from(schema).exp2()).ceil() as i32
}

fn native(config: NativeConfig) -> Histogram {
    Histogram::builder("h", "H.")
        .native_config(config)
        .build()
        .unwrap()
        .try_with_label_values(&[])
        .unwrap()
        .handle()
}

fn check_consistent(s: &NativeSnapshot) {
    let buckets: u64 = s.positive.iter().chain(&s.negative).map(|b| b.1).sum();
    assert_eq!(s.count, s.zero_count + buckets, "{s:?}");
    assert!(s.positive.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(s.negative.windows(2).all(|w| w[0].0 < w[1].0));
}

#[test]
fn observations_land_in_the_spec_buckets() {
    let h = native(NativeConfig::new(1.1).unwrap());
    let values = [
        0.0, 0.0, -0.0, 1e-3, 0.0123, 0.5, 0.77, 3.3, 3.31, 4000.0, -2.5, -0.013,
    ];
    for v in values {
        h.observe(v);
    }
    h.observe(f64::NAN); // ignored
    let s = h.native_snapshot().unwrap();
    check_consistent(&s);
    assert_eq!(s.schema, 3);
    assert_eq!(s.count, values.len() as u64);
    assert_eq!(s.zero_count, 3);
    assert_eq!(s.sum, values.iter().sum::<f64>());
    let mut want_pos = std::collections::BTreeMap::new();
    let mut want_neg = std::collections::BTreeMap::new();
    for v in values.iter().filter(|v| **v != 0.0) {
        let m = if *v > 0.0 {
            &mut want_pos
        } else {
            &mut want_neg
        };
        *m.entry(spec_key(*v, 3)).or_insert(0u64) += 1;
    }
    assert_eq!(s.positive, want_pos.into_iter().collect::<Vec<_>>());
    assert_eq!(s.negative, want_neg.into_iter().collect::<Vec<_>>());
    for &(k, _) in &s.positive {
        let (lo, hi) = s.bucket_bounds(k);
        assert!(
            values.iter().any(|&v| lo < v && v <= hi),
            "bucket {k} ({lo}, {hi}]"
        );
    }
    assert_eq!((h.count(), h.sum()), (s.count, s.sum));
}

#[test]
fn zero_threshold_takes_small_values() {
    let h = native(
        NativeConfig::new(2.0)
            .unwrap()
            .with_zero_threshold(0.01)
            .unwrap(),
    );
    for v in [0.01, -0.005, 0.0100001, 0.5] {
        h.observe(v);
    }
    let s = h.native_snapshot().unwrap();
    assert_eq!((s.zero_count, s.zero_threshold), (2, 0.01));
    assert_eq!(s.positive.iter().map(|b| b.1).sum::<u64>(), 2);
    assert!(NativeConfig::new(2.0)
        .unwrap()
        .with_zero_threshold(-1.0)
        .is_err());
    assert!(NativeConfig::new(2.0)
        .unwrap()
        .with_zero_threshold(f64::NAN)
        .is_err());
}

#[test]
fn threads_lose_nothing_and_scrapes_stay_consistent() {
    let h = native(NativeConfig::new(1.05).unwrap());
    let threads = 2 * crate::shard::shard_count() + 1; // some share the overflow slot
    let per = 2000u64;
    std::thread::scope(|sc| {
        for t in 0..threads {
            let h = h.clone();
            sc.spawn(move || {
                for i in 0..per {
                    // Spread over 8 decades so windows grow while scrapes run.
                    let v = 10f64.powf((i as f64 / per as f64) * 8.0 - 4.0)
                        * if t % 3 == 0 { -1.0 } else { 1.0 };
                    h.observe(if i % 97 == 0 { 0.0 } else { v });
                }
            });
        }
        let h = h.clone();
        sc.spawn(move || {
            for _ in 0..200 {
                check_consistent(&h.native_snapshot().unwrap());
            }
        });
    });
    let s = h.native_snapshot().unwrap();
    check_consistent(&s);
    assert_eq!(s.count, threads as u64 * per);
}

#[test]
fn the_bucket_limit_halves_the_resolution_and_keeps_every_count() {
    let h = native(NativeConfig::new(1.01).unwrap().with_max_buckets(20));
    let start = h.native_config().unwrap().schema();
    let n = 5000;
    for i in 0..n {
        h.observe(1.0 + f64::from(i) * 0.01); // 1 ..= 51: many buckets at schema 6
    }
    let s = h.native_snapshot().unwrap();
    check_consistent(&s);
    assert_eq!(s.count, u64::from(n as u32));
    assert!(s.schema < start, "schema {} not below {start}", s.schema);
    assert!(s.positive.len() <= 20, "{} buckets", s.positive.len());
    // One schema finer would exceed the limit (the strategy halves only as needed).
    let finer = (0..n).map(|i| spec_key(1.0 + f64::from(i) * 0.01, s.schema + 1));
    let distinct: std::collections::BTreeSet<i32> = finer.collect();
    assert!(distinct.len() > 20);
}

#[test]
fn the_bucket_limit_widens_the_zero_bucket_first_when_allowed() {
    let h = native(
        NativeConfig::new(2.0)
            .unwrap()
            .with_max_buckets(4)
            .with_max_zero_threshold(1.0)
            .unwrap(),
    );
    for v in [0.01, 0.1, 0.3, 3.0, 10.0] {
        h.observe(v);
    }
    let s = h.native_snapshot().unwrap();
    check_consistent(&s);
    assert_eq!(s.schema, 0, "resolution kept");
    // The lowest bucket, (2^-7, 2^-6] holding 0.01, became part of the zero bucket.
    assert_eq!(s.zero_threshold, 2f64.powi(-6));
    assert_eq!(s.zero_count, 1);
    assert_eq!(s.positive.len(), 4);
}

#[test]
fn the_bucket_limit_resets_after_the_minimum_duration() {
    let h = native(
        NativeConfig::new(2.0)
            .unwrap()
            .with_max_buckets(2)
            .with_min_reset_duration(Duration::from_millis(1)),
    );
    h.observe(1.0);
    h.observe(4.0);
    std::thread::sleep(Duration::from_millis(5));
    h.observe(100.0); // a third bucket: reset, then counted afresh
    let s = h.native_snapshot().unwrap();
    check_consistent(&s);
    assert_eq!((s.count, s.sum), (1, 100.0));
    assert_eq!(s.schema, 0);
}

#[test]
fn a_native_only_histogram_writes_count_and_sum_in_text() {
    let r = Registry::builder().created_samples(false).build();
    let h = Histogram::builder("lat_seconds", "L.")
        .native(1.1)
        .unwrap()
        .register(&r)
        .unwrap();
    h.observe(0.5);
    h.observe(1.5);
    let text = r.encode_to_string(Format::Text);
    assert!(
        text.ends_with(
            "lat_seconds_bucket{le=\"+Inf\"} 2\nlat_seconds_sum 2\nlat_seconds_count 2\n"
        ),
        "{text}"
    );
    let om = r.encode_to_string(Format::OpenMetrics);
    assert!(
        om.contains(
            "lat_seconds_bucket{le=\"+Inf\"} 2\nlat_seconds_sum 2.0\nlat_seconds_count 2\n"
        ),
        "{om}"
    );
    assert_eq!(h.cumulative_counts(), vec![2]);
}

#[test]
fn classic_and_native_together_show_classic_buckets_in_text() {
    let r = Registry::builder().created_samples(false).build();
    let h = Histogram::builder("h", "H.")
        .native(1.1)
        .unwrap()
        .buckets([1.0])
        .unwrap()
        .register(&r)
        .unwrap();
    h.observe(0.5);
    h.observe(3.0);
    let text = r.encode_to_string(Format::Text);
    assert!(
        text.contains("h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n"),
        "{text}"
    );
    assert_eq!(h.native_snapshot().unwrap().count, 2);
    assert!(Histogram::builder("c", "C.")
        .register(&r)
        .unwrap()
        .native_snapshot()
        .is_none());
}

#[test]
fn bucket_bounds_take_any_key() {
    let h = native(NativeConfig::new(1.1).unwrap());
    h.observe(1.0);
    let s = h.native_snapshot().unwrap();
    assert_eq!(s.bucket_bounds(0).1, 1.0);
    assert_eq!(s.bucket_bounds(i32::MIN), (0.0, 0.0));
    assert_eq!(s.bucket_bounds(i32::MAX), (f64::INFINITY, f64::INFINITY));
}

#[test]
fn infinities_and_extremes_are_counted() {
    let h = native(NativeConfig::new(1.001).unwrap());
    for v in [1.0, f64::INFINITY, f64::NEG_INFINITY, 5e-324, f64::MAX] {
        h.observe(v);
    }
    let s = h.native_snapshot().unwrap();
    check_consistent(&s);
    assert_eq!(s.count, 5);
    assert!(
        s.schema <= 3,
        "the window limit lowered schema 8 to {}",
        s.schema
    );
    let top = s.positive.last().unwrap();
    assert_eq!(s.bucket_bounds(top.0).1, f64::INFINITY);
    assert_eq!(s.negative.len(), 1);
    assert_eq!(s.bucket_bounds(s.negative[0].0).1, f64::INFINITY);
}

#[test]
fn halving_repeats_until_sparse_buckets_fit_the_limit() {
    // Schema 0: keys 0, 2 and 4 (1, 4 and 16). One halving (schema -1) gives keys 0, 1, 2:
    // no pair merged, still 3 > 2 (where client_golang would stop until the next new
    // bucket). A second halving (schema -2) merges 1 and 2: 2 buckets.
    let h = native(NativeConfig::new(2.0).unwrap().with_max_buckets(2));
    for v in [1.0, 4.0, 16.0] {
        h.observe(v);
    }
    let s = h.native_snapshot().unwrap();
    check_consistent(&s);
    assert_eq!(s.schema, -2, "{s:?}");
    assert_eq!(s.positive, vec![(0, 1), (1, 2)]);
    assert_eq!(s.count, 3);
}
