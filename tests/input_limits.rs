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
