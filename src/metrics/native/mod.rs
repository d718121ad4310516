//! Module implementing native (sparse, exponential-bucket) histograms: the bucket math of the
//! Prometheus "Native histograms" spec and the user-facing [`NativeConfig`]. The storage is in
//! [`store`]; [`Histogram`](crate::Histogram) holds one when built with
//! [`native`](crate::Builder#method.native).
//!
//! # Buckets
//!
//! A schema `s` in −4…8 fixes the growth factor `2^(2^-s)` between consecutive bucket
//! bounds. Bucket key `k` holds the observations `v` with `2^((k-1)·2^-s) < |v| ≤ 2^(k·2^-s)`,
//! positive and negative values on separate sides; values with `|v|` at or below the zero
//! threshold (zeros always) go to the zero bucket.

mod key;
// The store publishes and frees shard states through raw pointers.
#[allow(unsafe_code)]
pub(crate) mod store;

use std::time::Duration;

use crate::encode::ExemplarRef;
use crate::error::BucketError;
use crate::exemplar::{Exemplars, Slot};
use crate::sync::{AtomicUsize, Ordering};
pub(crate) use key::{coarsen, key, key_of_bits, upper_bound};

/// The finest schema (growth factor 2^(1/256) ≈ 1.0027).
pub(crate) const MAX_SCHEMA: i8 = 8;
/// The coarsest schema (growth factor 2^16 = 65536).
pub(crate) const MIN_SCHEMA: i8 = -4;

/// client_golang's default zero threshold, 2^-128: only values that small count as zero.
pub(crate) const DEFAULT_ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

/// The settings of a histogram's native buckets: made by
/// [`Builder::native`](crate::Builder#method.native) and adjusted with the `native_*`
/// builder methods. See the [guide](crate#native-histograms).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NativeConfig {
    pub(crate) schema: i8,
    pub(crate) zero_threshold: f64,
    pub(crate) max_buckets: u32,
    pub(crate) min_reset: Duration,
    pub(crate) max_zero_threshold: f64,
}

impl NativeConfig {
    /// The settings for growth factor `factor`: the coarsest schema whose growth factor
    /// `2^(2^-schema)` does not exceed `factor` (the spec's floor rule, as client_golang
    /// picks it: factor 1.1 gives schema 3, growth ≈ 1.09; 1.3 gives schema 2, growth ≈
    /// 1.19), clamped to −4…8. The zero threshold is client_golang's default, 2^-128; the number of
    /// buckets is unlimited (see [`with_max_buckets`](Self::with_max_buckets)).
    ///
    /// Each thread counts into a dense window of at most 16,384 buckets per sign; at schemas
    /// above 2, values of one thread spread wider than that (more than 2^64 apart at schema
    /// 8) lower the resolution as the bucket limit would. `±Inf` counts in the bucket whose
    /// upper bound is `+Inf` (key `1024·2^schema`), so beside ordinary values it brings the
    /// finer schemas down to 3.
    ///
    /// # Errors
    ///
    /// [`BucketError::InvalidParameters`] unless `factor` is finite and greater than 1.
    pub fn new(factor: f64) -> Result<NativeConfig, BucketError> {
        if !(factor.is_finite() && factor > 1.0) {
            return Err(BucketError::InvalidParameters);
        }
        let floor = factor.log2().log2().floor();
        let schema = if floor <= -f64::from(MAX_SCHEMA) {
            MAX_SCHEMA
        } else if floor >= -f64::from(MIN_SCHEMA) {
            MIN_SCHEMA
        } else {
            // -8 < floor < 4, so the value fits.
            -(floor as i8)
        };
        Ok(NativeConfig {
            schema,
            zero_threshold: DEFAULT_ZERO_THRESHOLD,
            max_buckets: 0,
            min_reset: Duration::ZERO,
            max_zero_threshold: 0.0,
        })
    }

    /// The schema in use at the start (the bucket limit may lower it later).
    pub fn schema(&self) -> i8 {
        self.schema
    }

    /// The growth factor of the starting schema, `2^(2^-schema)`.
    pub fn growth(&self) -> f64 {
        growth(self.schema)
    }

    /// Sets the zero threshold: observations with `|v| ≤ threshold` count in the zero bucket.
    ///
    /// # Errors
    ///
    /// [`BucketError::NotFinite`] for NaN, a negative or an infinite threshold.
    pub fn with_zero_threshold(mut self, threshold: f64) -> Result<Self, BucketError> {
        if !(threshold.is_finite() && threshold >= 0.0) {
            return Err(BucketError::NotFinite(threshold));
        }
        self.zero_threshold = threshold;
        Ok(self)
    }

    /// Limits the number of populated buckets (both sides, not counting the zero bucket);
    /// 0 (the default) is no limit. When an observation would populate one more, the
    /// histogram follows client_golang: it resets if the last reset is at least the
    /// [minimum reset duration](Self::with_min_reset_duration) ago, else widens the zero
    /// bucket to swallow the lowest bucket if that stays within the
    /// [maximum zero threshold](Self::with_max_zero_threshold), else halves the resolution
    /// (schema − 1, merging pairs of buckets; again while they still exceed the limit,
    /// where client_golang waits for the next new bucket), down to schema −4. So, short of
    /// schema −4, it never keeps more than `max` populated buckets.
    pub fn with_max_buckets(mut self, max: u32) -> Self {
        self.max_buckets = max;
        self
    }

    /// Sets the minimum time between two resets forced by the bucket limit (0, the default,
    /// never resets). After a widening or a halving, a reset also happens once this much time
    /// has passed since the last one (at the next scrape or new bucket), as client_golang
    /// schedules one, so the resolution comes back. A reset drops the counts (Prometheus sees
    /// a counter reset), together with any observation that raced it on another thread. A
    /// histogram that also has classic buckets never resets (its classic and native counts
    /// would disagree).
    pub fn with_min_reset_duration(mut self, d: Duration) -> Self {
        self.min_reset = d;
        self
    }

    /// Sets how far the bucket limit may widen the zero bucket (default 0: never).
    ///
    /// # Errors
    ///
    /// [`BucketError::NotFinite`] for NaN, a negative or an infinite threshold.
    pub fn with_max_zero_threshold(mut self, threshold: f64) -> Result<Self, BucketError> {
        if !(threshold.is_finite() && threshold >= 0.0) {
            return Err(BucketError::NotFinite(threshold));
        }
        self.max_zero_threshold = threshold;
        Ok(self)
    }
}

/// The growth factor of `schema`.
pub(crate) fn growth(schema: i8) -> f64 {
    (-f64::from(schema)).exp2().exp2()
}

/// How many exemplars a native histogram keeps (the latest ones), as client_golang's default.
const EXEMPLARS: usize = 10;

/// A histogram's native part: the store and its exemplars.
#[derive(Debug)]
pub(crate) struct NativePart {
    pub(crate) store: store::NativeStore,
    /// A ring of the latest exemplars, allocated on the first; `observe` never reads it.
    pub(crate) exemplars: Exemplars,
    /// Where the next exemplar goes (modulo [`EXEMPLARS`]).
    next: AtomicUsize,
}

impl NativePart {
    /// `resets`: whether the bucket limit may reset the counts (not with classic buckets).
    pub(crate) fn new(config: NativeConfig, resets: bool) -> NativePart {
        NativePart {
            store: store::NativeStore::new(config, resets),
            exemplars: Exemplars::new(),
            next: AtomicUsize::new(0),
        }
    }

    pub(crate) fn record_exemplar(
        &self,
        labels: &[(&str, &str)],
        v: f64,
        at: Option<std::time::SystemTime>,
    ) {
        // Relaxed: only picks a ring slot; the slots themselves are behind a mutex.
        let i = self.next.fetch_add(1, Ordering::Relaxed) % EXEMPLARS;
        self.exemplars.record(EXEMPLARS, i, labels, v, at);
    }

    /// The most recently recorded exemplar, from the locked ring `slots`.
    pub(crate) fn latest<'s>(&self, slots: &'s [crate::exemplar::Slot]) -> Option<ExemplarRef<'s>> {
        // Relaxed: as in `record_exemplar` (a racing exemplar makes this one a little older).
        let i = self.next.load(Ordering::Relaxed).wrapping_sub(1) % EXEMPLARS;
        slots.get(i).and_then(crate::exemplar::Slot::get)
    }

    /// Calls `f` with the exemplar ring, locked, when `exemplars` (the writer sends them);
    /// otherwise, or before the first exemplar, with no slots and without taking the lock.
    pub(crate) fn with_exemplars<R>(&self, exemplars: bool, f: impl FnOnce(&[Slot]) -> R) -> R {
        let ring = if exemplars {
            self.exemplars.read()
        } else {
            None
        };
        f(ring.as_deref().map_or(&[], |e| &e[..]))
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.store.heap_bytes() + self.exemplars.heap_bytes()
    }

    /// An owned copy of the merged buckets.
    pub(crate) fn snapshot(&self) -> NativeSnapshot {
        self.store.with_view(|v| {
            let side = |(counts, first): (&[u64], i32)| {
                counts
                    .iter()
                    .enumerate()
                    .filter(|(_, &n)| n != 0)
                    .map(|(i, &n)| (first + i as i32, n))
                    .collect()
            };
            NativeSnapshot {
                schema: v.schema,
                zero_threshold: v.zero_threshold,
                zero_count: v.zero_count,
                count: v.count,
                sum: v.sum,
                positive: side(v.sides[0]),
                negative: side(v.sides[1]),
            }
        })
    }
}

/// A consistent copy of a histogram's native buckets, from
/// [`Histogram::native_snapshot`](crate::Histogram::native_snapshot): `count` is always
/// `zero_count` plus every bucket's count.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct NativeSnapshot {
    /// The schema of the buckets below.
    pub schema: i8,
    /// Observations with `|v|` at or below this are in the zero bucket.
    pub zero_threshold: f64,
    /// The zero bucket's count.
    pub zero_count: u64,
    /// The number of observations.
    pub count: u64,
    /// The sum of observations.
    pub sum: f64,
    /// `(key, count)` of each non-empty bucket of positive observations, by key.
    pub positive: Vec<(i32, u64)>,
    /// `(key, count)` of each non-empty bucket of negative observations (by `|v|`), by key.
    pub negative: Vec<(i32, u64)>,
}

impl NativeSnapshot {
    /// The bounds `(lower, upper]` of `|v|` for bucket `key` at this snapshot's schema.
    pub fn bucket_bounds(&self, key: i32) -> (f64, f64) {
        // Real keys are within ±2^19; beyond, the bounds are 0 or +Inf anyway.
        let key = key.clamp(-(1 << 20), 1 << 20);
        (
            upper_bound(key - 1, self.schema),
            upper_bound(key, self.schema),
        )
    }
}

/// The native settings of [`Builder<Histogram>`](crate::Builder) and
/// [`LabeledBuilder<Histogram>`](crate::LabeledBuilder).
macro_rules! native_settings {
    () => {
        /// Gives the histogram native buckets with growth factor at most `factor` (see
        /// [`NativeConfig::new`](crate::NativeConfig::new)). Without a call to `buckets`
        /// the histogram is native only: the protobuf exposition carries its buckets, and
        /// the text formats show only its count (as a `+Inf` bucket), `_sum` and `_count`,
        /// as client_golang writes one. With `buckets` too, the text formats show the
        /// classic buckets and protobuf both kinds.
        ///
        /// ```
        /// use tachymeter::{Histogram, Registry};
        /// let registry = Registry::new();
        /// let h = Histogram::builder("rpc_seconds", "RPC latency.").native(1.1)?.register(&registry)?;
        /// h.observe(0.25);
        /// let s = h.native_snapshot().unwrap();
        /// assert_eq!((s.schema, s.count, s.positive.len()), (3, 1, 1));
        /// let (lo, hi) = s.bucket_bounds(s.positive[0].0);
        /// assert!(lo < 0.25 && 0.25 <= hi);
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        ///
        /// # Errors
        ///
        /// [`BucketError::InvalidParameters`](crate::BucketError::InvalidParameters) unless
        /// `factor` is finite and greater than 1.
        pub fn native(mut self, factor: f64) -> Result<Self, $crate::BucketError> {
            self.options_mut().native = Some($crate::NativeConfig::new(factor)?);
            Ok(self)
        }

        /// Gives the histogram native buckets with these settings (zero threshold, bucket
        /// limit, reset duration; see [`NativeConfig`](crate::NativeConfig)); otherwise as
        /// [`native`](Self::native).
        pub fn native_config(mut self, config: $crate::NativeConfig) -> Self {
            self.options_mut().native = Some(config);
            self
        }
    };
}
pub(crate) use native_settings;

#[cfg(all(test, not(tachymeter_loom)))]
#[path = "tests.rs"]
mod store_tests;

#[cfg(all(test, not(tachymeter_loom)))]
mod tests {
    use super::*;

    #[test]
    fn schema_is_the_coarsest_whose_growth_does_not_exceed_the_factor() {
        for (factor, schema) in [
            (1.1, 3),
            (1.3, 2),
            (2.0, 0),
            (1.0001, 8),
            (1.5, 1),
            (4.0, -1),
            (1e9, -4),
            (65536.0, -4),
        ] {
            let c = NativeConfig::new(factor).unwrap();
            assert_eq!(c.schema(), schema, "factor {factor}");
            // Below schema 8's growth the finest schema is the best there is.
            assert!(
                c.growth() <= factor * (1.0 + 1e-12) || schema == MAX_SCHEMA,
                "factor {factor}"
            );
            if schema > MIN_SCHEMA {
                assert!(
                    growth(schema - 1) > factor,
                    "factor {factor}: not the coarsest"
                );
            }
        }
        for bad in [1.0, 0.5, f64::NAN, f64::INFINITY, -2.0] {
            assert_eq!(NativeConfig::new(bad), Err(BucketError::InvalidParameters));
        }
    }
}
