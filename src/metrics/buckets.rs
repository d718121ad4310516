//! Module implementing [`Buckets`], a classic histogram's validated bucket bounds.

use crate::encode;
use crate::error::BucketError;

/// Validated histogram bucket upper bounds (the `+Inf` bucket is implicit), with their `le`
/// label values rendered once for each format.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    pub(crate) bounds: Box<[f64]>,
    /// `[text, openmetrics]` spelling of each bound, then of `+Inf`.
    pub(crate) le: Box<[[Box<str>; 2]]>,
}

impl Buckets {
    /// Go's default buckets (client_golang `prometheus.DefBuckets`): 0.005, 0.01, 0.025,
    /// 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 (seconds). Python's `prometheus_client` default
    /// has 14 finite bounds (these plus 0.075, 0.75 and 7.5); pass those to
    /// [`Builder::buckets`](crate::Builder#method.buckets) to match it.
    pub const DEFAULT: [f64; 11] = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];

    /// The most finite bounds a histogram may have. Every bucket is a counter in each
    /// thread's slot (8 bytes per bucket per shard) and a line per series in every scrape, so
    /// the limit keeps a histogram child under about 8 KiB per shard; classic histograms
    /// rarely need more than a few dozen buckets.
    pub const MAX_BUCKETS: usize = 1024;

    /// Validates `bounds`: at least one and at most [`MAX_BUCKETS`](Self::MAX_BUCKETS) finite
    /// bounds, strictly increasing. A trailing `+Inf` is accepted and dropped (it is always
    /// added). At most `MAX_BUCKETS + 2` items are read from `bounds`, so an endless iterator
    /// is an error, not a hang.
    ///
    /// # Errors
    ///
    /// [`BucketError`] says which rule a bound broke; [`BucketError::TooMany`] for more
    /// than `MAX_BUCKETS` finite bounds (`count` is then `MAX_BUCKETS + 1`: what was read).
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> Result<Buckets, BucketError> {
        let max = Self::MAX_BUCKETS;
        let mut v: Vec<f64> = bounds.into_iter().take(max + 2).collect();
        if v.last() == Some(&f64::INFINITY) {
            v.pop();
        }
        if v.len() > max {
            return Err(BucketError::TooMany {
                count: max + 1,
                max,
            });
        }
        if v.is_empty() {
            return Err(BucketError::Empty);
        }
        for (i, &b) in v.iter().enumerate() {
            if !b.is_finite() {
                return Err(BucketError::NotFinite(b));
            }
            if i > 0 && v[i - 1] >= b {
                return Err(BucketError::NotIncreasing {
                    previous: v[i - 1],
                    next: b,
                });
            }
        }
        let le = v
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .map(encode::render_bound)
            .collect();
        Ok(Buckets {
            bounds: v.into_boxed_slice(),
            le,
        })
    }

    /// `count` buckets `start, start + width, ...`.
    ///
    /// # Errors
    ///
    /// [`BucketError::InvalidParameters`] if `count` is 0 or `width` is not finite and positive;
    /// [`BucketError::TooMany`] if `count` exceeds [`MAX_BUCKETS`](Self::MAX_BUCKETS).
    pub fn linear(start: f64, width: f64, count: usize) -> Result<Buckets, BucketError> {
        if count == 0 || !(width.is_finite() && width > 0.0) || !start.is_finite() {
            return Err(BucketError::InvalidParameters);
        }
        Self::check_count(count)?;
        Buckets::new((0..count).map(|i| start + width * i as f64))
    }

    /// `count` buckets `start, start·factor, start·factor², ...`.
    ///
    /// # Errors
    ///
    /// [`BucketError::InvalidParameters`] if `count` is 0, `start` ≤ 0 or `factor` ≤ 1;
    /// [`BucketError::TooMany`] if `count` exceeds [`MAX_BUCKETS`](Self::MAX_BUCKETS);
    /// [`BucketError::NotFinite`] if the last bound overflows.
    pub fn exponential(start: f64, factor: f64, count: usize) -> Result<Buckets, BucketError> {
        if count == 0
            || !(start.is_finite() && start > 0.0)
            || !(factor.is_finite() && factor > 1.0)
        {
            return Err(BucketError::InvalidParameters);
        }
        Self::check_count(count)?;
        // `count` ≤ MAX_BUCKETS, so the exponent fits an `i32`.
        Buckets::new((0..count).map(|i| start * factor.powi(i as i32)))
    }

    fn check_count(count: usize) -> Result<(), BucketError> {
        if count > Self::MAX_BUCKETS {
            return Err(BucketError::TooMany {
                count,
                max: Self::MAX_BUCKETS,
            });
        }
        Ok(())
    }

    /// The finite upper bounds.
    pub fn bounds(&self) -> &[f64] {
        &self.bounds
    }

    /// Index of the bucket `v` falls into (`bounds().len()` is the `+Inf` bucket).
    #[inline]
    pub(crate) fn index(&self, v: f64) -> usize {
        self.bounds.partition_point(|&b| b < v)
    }
}

impl Default for Buckets {
    fn default() -> Self {
        // The default bounds are valid by construction.
        Buckets::new(Buckets::DEFAULT).unwrap_or_else(|_| unreachable!())
    }
}
