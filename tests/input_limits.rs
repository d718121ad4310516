//! Regression tests for panics and aborts on user-controlled input (issue 8, item 5): each
//! input now gets a typed error (or a documented limit) instead of a panic, an abort or a
//! runaway loop. Each test failed (or crashed the test binary) before its fix.

use tachymeter::{BucketError, Buckets};

#[test]
fn bucket_helpers_refuse_more_than_the_documented_maximum() {
    let max = Buckets::MAX_BUCKETS;
    for count in [usize::MAX, 1 << 34, max + 1] {
        assert_eq!(
            Buckets::linear(0.0, 1.0, count),
            Err(BucketError::TooMany { count, max }),
            "{count}"
        );
        assert_eq!(
            Buckets::exponential(1.0, 1.0001, count),
            Err(BucketError::TooMany { count, max }),
            "{count}"
        );
    }
    assert_eq!(Buckets::linear(0.0, 1.0, max).unwrap().bounds().len(), max);
    // An endless iterator is cut off rather than collected.
    assert_eq!(
        Buckets::new((0..).map(f64::from)),
        Err(BucketError::TooMany {
            count: max + 1,
            max
        })
    );
    // A trailing +Inf does not count against the limit.
    let exact = (0..max).map(|i| i as f64).chain([f64::INFINITY]);
    assert_eq!(Buckets::new(exact).unwrap().bounds().len(), max);
}

#[test]
fn summary_window_limits_are_typed_errors() {
    use std::time::Duration;
    use tachymeter::quantile::{WindowError, MAX_AGE_BUCKETS, MAX_MAX_AGE};
    use tachymeter::{Registry, Summary};
    let b = || {
        Summary::builder("s", "S.")
            .objectives(&[(0.5, 0.05)])
            .unwrap()
    };
    // Duration::MAX overflowed `Instant + period` (a panic at the first observation or
    // registration, depending on the bucket count).
    for age_buckets in [1, 5] {
        let e = b()
            .age_buckets(age_buckets)
            .unwrap()
            .max_age(Duration::MAX)
            .unwrap_err();
        assert_eq!(
            e,
            WindowError::MaxAgeTooLong {
                max_age: Duration::MAX,
                max: MAX_MAX_AGE
            }
        );
    }
    // 2^32 - 1 buckets aborted the process allocating 256 GiB.
    for age_buckets in [u32::MAX as usize, MAX_AGE_BUCKETS + 1] {
        assert_eq!(
            b().age_buckets(age_buckets).unwrap_err(),
            WindowError::TooManyBuckets {
                age_buckets,
                max: MAX_AGE_BUCKETS
            }
        );
    }
    // The limits themselves work.
    let r = Registry::new();
    let s = b()
        .max_age(MAX_MAX_AGE)
        .unwrap()
        .age_buckets(1)
        .unwrap()
        .register(&r)
        .unwrap();
    s.observe(1.0);
    assert_eq!(s.quantile(0.5), 1.0);
    let _ = b()
        .age_buckets(MAX_AGE_BUCKETS)
        .unwrap()
        .register(&Registry::new())
        .unwrap();
}
