//! Module implementing sliding time windows of quantile summaries. See [`AgeBuckets`].

use super::merge::sort_and_trim_nan;
use super::{Ckms, QuantileError, Target};
use std::fmt;
use std::time::{Duration, Instant};

/// Default window length, as in client_golang (`DefMaxAge`): 10 minutes.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);

/// Default number of buckets in the window, as in client_golang (`DefAgeBuckets`).
pub const DEFAULT_AGE_BUCKETS: usize = 5;

/// The longest window [`AgeBuckets::new`] accepts: 366 days. Longer windows make no sense for
/// quantiles (and `Duration::MAX` would overflow the clock arithmetic).
pub const MAX_MAX_AGE: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// The most buckets [`AgeBuckets::new`] accepts. Each bucket is a full estimator that every
/// batch of observations is merged into, so memory and merge time grow linearly with it;
/// client_golang's default is 5.
pub const MAX_AGE_BUCKETS: usize = 1024;

/// Quantiles over a sliding time window: a ring of [`Ckms`] summaries rotated lazily.
///
/// The window of length `max_age` is split into `age_buckets` periods. Every batch is sorted
/// once and merged into *every* bucket (targeted summaries cannot be merged with a
/// guarantee, so buckets are never combined). Queries read the oldest bucket, the *head*.
/// When the head's period ends, it is reset (keeping its allocations) and becomes the newest
/// bucket. In steady state the head therefore covers between `(B−1)/B · max_age` and
/// `max_age` of history, as client_golang's `MaxAge`/`AgeBuckets`. Unlike client_golang, the
/// first rotation happens one period after creation, so no answer ever covers more than
/// `max_age` (client_golang's first cycle can cover up to nearly twice `max_age`).
///
/// There is no clock read per value: rotation is evaluated from the [`Instant`] the caller
/// passes to [`insert_batch`](AgeBuckets::insert_batch) and the query methods, so tests can
/// drive it with a fake clock (`base + Duration`). A value is attributed to the window at the
/// `now` of the batch that carries it. If more than `age_buckets` periods have passed, all
/// buckets are reset once (never more than `age_buckets` resets per call). A `now` earlier
/// than a previous one is treated as no time passing.
///
/// ```
/// use std::time::{Duration, Instant};
/// use tachymeter::quantile::AgeBuckets;
///
/// let t0 = Instant::now();
/// let mut w = AgeBuckets::new(&[(0.5, 0.05), (0.9, 0.01)], Duration::from_secs(60), 3, t0)?;
/// let mut batch = vec![3.0, 1.0, 2.0];
/// w.insert_batch(&mut batch, t0);
/// assert_eq!(w.query(0.5, t0 + Duration::from_secs(30)), 2.0);
/// // One max_age later the values have expired.
/// assert!(w.query(0.5, t0 + Duration::from_secs(60)).is_nan());
/// # Ok::<(), tachymeter::quantile::WindowError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AgeBuckets {
    /// The ring; `buckets[head]` is the oldest.
    buckets: Box<[Ckms]>,
    head: usize,
    /// When the head's period ends (it is reset at or after this instant).
    head_expires: Instant,
    /// `max_age / age_buckets`.
    period: Duration,
    max_age: Duration,
    /// NaN values dropped since creation (never reset).
    nan_count: u64,
}

impl AgeBuckets {
    /// Creates an empty window of `max_age` split into `age_buckets` buckets, starting at
    /// `now`.
    ///
    /// # Errors
    ///
    /// - [`WindowError::InvalidTarget`] if the targets are rejected by [`Ckms::new`];
    /// - [`WindowError::NoBuckets`] if `age_buckets` is 0;
    /// - [`WindowError::TooManyBuckets`] if `age_buckets` exceeds [`MAX_AGE_BUCKETS`];
    /// - [`WindowError::MaxAgeTooLong`] if `max_age` exceeds [`MAX_MAX_AGE`];
    /// - [`WindowError::PeriodTooShort`] if `max_age / age_buckets` is shorter than 1 ns.
    pub fn new(
        targets: &[(f64, f64)],
        max_age: Duration,
        age_buckets: usize,
        now: Instant,
    ) -> Result<AgeBuckets, WindowError> {
        let ckms = Ckms::new(targets).map_err(WindowError::InvalidTarget)?;
        if age_buckets == 0 {
            return Err(WindowError::NoBuckets);
        }
        if age_buckets > MAX_AGE_BUCKETS {
            return Err(WindowError::TooManyBuckets {
                age_buckets,
                max: MAX_AGE_BUCKETS,
            });
        }
        if max_age > MAX_MAX_AGE {
            return Err(WindowError::MaxAgeTooLong {
                max_age,
                max: MAX_MAX_AGE,
            });
        }
        let period = u32::try_from(age_buckets)
            .ok()
            .and_then(|b| max_age.checked_div(b))
            .filter(|p| !p.is_zero())
            .ok_or(WindowError::PeriodTooShort {
                max_age,
                age_buckets,
            })?;
        Ok(AgeBuckets {
            buckets: vec![ckms; age_buckets].into_boxed_slice(),
            head: 0,
            head_expires: now + period,
            period,
            max_age,
            nan_count: 0,
        })
    }

    /// [`AgeBuckets::new`] with [`DEFAULT_MAX_AGE`] (10 minutes) and
    /// [`DEFAULT_AGE_BUCKETS`] (5).
    ///
    /// # Errors
    ///
    /// [`WindowError::InvalidTarget`] if the targets are rejected by [`Ckms::new`].
    pub fn with_defaults(targets: &[(f64, f64)], now: Instant) -> Result<AgeBuckets, WindowError> {
        AgeBuckets::new(targets, DEFAULT_MAX_AGE, DEFAULT_AGE_BUCKETS, now)
    }

    /// Rotates to `now`, then records a batch: sorts `values` in place once (the caller's
    /// slice is reordered) and merges it into every bucket. NaN values are counted by
    /// [`nan_count`](AgeBuckets::nan_count) and otherwise ignored.
    pub fn insert_batch(&mut self, values: &mut [f64], now: Instant) {
        self.rotate(now);
        let (sorted, nans) = sort_and_trim_nan(values);
        self.nan_count += nans;
        for bucket in self.buckets.iter_mut() {
            bucket.merge_sorted(sorted);
        }
    }

    /// Rotates to `now`, then estimates quantile `phi` over the window (the head bucket); NaN
    /// when the window is empty. See [`Ckms::query`].
    pub fn query(&mut self, phi: f64, now: Instant) -> f64 {
        self.query_with_bound(phi, now).0
    }

    /// Rotates to `now`, then answers like [`Ckms::query_with_bound`] over the window.
    pub fn query_with_bound(&mut self, phi: f64, now: Instant) -> (f64, f64) {
        self.rotate(now);
        self.buckets[self.head].query_flushed(phi)
    }

    /// Rotates to `now` and returns the number of observations in the window.
    pub fn count(&mut self, now: Instant) -> u64 {
        self.rotate(now);
        self.buckets[self.head].count()
    }

    /// Resets every bucket whose period ended at or before `now` (at most `age_buckets`
    /// resets, however long ago the last rotation was).
    pub fn rotate(&mut self, now: Instant) {
        let Some(late) = now.checked_duration_since(self.head_expires) else {
            return;
        };
        let b = self.buckets.len();
        let periods = late.as_nanos() / self.period.as_nanos() + 1;
        let resets = usize::try_from(periods).map_or(b, |p| p.min(b));
        for _ in 0..resets {
            self.buckets[self.head].reset();
            self.head = (self.head + 1) % b;
        }
        // Past a full cycle every bucket is empty; keep the ring's phase anyway.
        let extra = ((periods - resets as u128) % b as u128) as usize;
        self.head = (self.head + extra) % b;
        let advance = self.period.as_nanos() * periods;
        let advance = Duration::new(
            u64::try_from(advance / 1_000_000_000).unwrap_or(u64::MAX),
            (advance % 1_000_000_000) as u32,
        );
        self.head_expires = self
            .head_expires
            .checked_add(advance)
            .unwrap_or(now + self.period);
    }

    /// Empties every bucket and restarts the window at `now`; keeps allocations.
    pub fn reset(&mut self, now: Instant) {
        for bucket in self.buckets.iter_mut() {
            bucket.reset();
        }
        self.head = 0;
        self.head_expires = now + self.period;
    }

    /// NaN values dropped since creation.
    #[must_use]
    pub fn nan_count(&self) -> u64 {
        self.nan_count
    }

    /// Tuples held by all buckets together (24 bytes each).
    #[must_use]
    pub fn len(&self) -> usize {
        self.buckets.iter().map(Ckms::len).sum()
    }

    /// Heap bytes held by the ring and its buckets; for memory accounting.
    #[doc(hidden)]
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        self.buckets.len() * core::mem::size_of::<Ckms>()
            + self.buckets.iter().map(Ckms::heap_bytes).sum::<usize>()
    }

    /// Whether every bucket is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(Ckms::is_empty)
    }

    /// The window length.
    #[must_use]
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// The number of buckets.
    #[must_use]
    pub fn age_buckets(&self) -> usize {
        self.buckets.len()
    }

    /// The configured targets, sorted by φ.
    #[must_use]
    pub fn targets(&self) -> &[Target] {
        self.buckets[0].targets()
    }

    /// The head bucket after rotating to `now`, e.g. to [`audit`](Ckms::audit) it in tests.
    #[doc(hidden)]
    pub fn head(&mut self, now: Instant) -> &Ckms {
        self.rotate(now);
        &self.buckets[self.head]
    }
}

/// Why an [`AgeBuckets`] configuration was rejected.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum WindowError {
    /// A quantile target is invalid.
    InvalidTarget(QuantileError),
    /// `age_buckets` is 0.
    NoBuckets,
    /// More than [`MAX_AGE_BUCKETS`] buckets.
    TooManyBuckets {
        /// The number of buckets given.
        age_buckets: usize,
        /// The limit.
        max: usize,
    },
    /// `max_age` is longer than [`MAX_MAX_AGE`].
    MaxAgeTooLong {
        /// The window length given.
        max_age: Duration,
        /// The limit.
        max: Duration,
    },
    /// `max_age / age_buckets` is shorter than one nanosecond.
    PeriodTooShort {
        /// The window length given.
        max_age: Duration,
        /// The number of buckets given.
        age_buckets: usize,
    },
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowError::InvalidTarget(e) => write!(f, "invalid quantile target: {e}"),
            WindowError::NoBuckets => {
                f.write_str("a quantile window needs at least 1 age bucket (the default is 5)")
            }
            WindowError::TooManyBuckets { age_buckets, max } => write!(
                f,
                "asked for {age_buckets} age buckets, but a quantile window may have at most \
                 {max} (the default is 5): use fewer"
            ),
            WindowError::MaxAgeTooLong { max_age, max } => write!(
                f,
                "max age {max_age:?} is longer than the {max:?} a quantile window may cover \
                 (the default is 10 minutes): use a shorter one"
            ),
            WindowError::PeriodTooShort { max_age, age_buckets } => write!(
                f,
                "max age {max_age:?} split into {age_buckets} buckets leaves periods under 1 ns: use a longer max age (the default is 10 minutes) or fewer buckets"
            ),
        }
    }
}

impl std::error::Error for WindowError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WindowError::InvalidTarget(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_errors() {
        let now = Instant::now();
        assert_eq!(
            AgeBuckets::new(&[(2.0, 0.1)], DEFAULT_MAX_AGE, 5, now).unwrap_err(),
            WindowError::InvalidTarget(QuantileError::PhiOutOfRange { phi: 2.0 })
        );
        assert_eq!(
            AgeBuckets::new(&[], DEFAULT_MAX_AGE, 0, now).unwrap_err(),
            WindowError::NoBuckets
        );
        assert!(matches!(
            AgeBuckets::new(&[], Duration::ZERO, 5, now),
            Err(WindowError::PeriodTooShort { .. })
        ));
        let e = AgeBuckets::new(&[(0.5, 0.0)], DEFAULT_MAX_AGE, 5, now).unwrap_err();
        assert!(std::error::Error::source(&e).is_some());
        assert!(e.to_string().contains("positive error"));
        let w = AgeBuckets::with_defaults(&[(0.5, 0.05)], now).unwrap();
        assert_eq!(
            (w.max_age(), w.age_buckets(), w.targets().len()),
            (DEFAULT_MAX_AGE, 5, 1)
        );
    }
}
