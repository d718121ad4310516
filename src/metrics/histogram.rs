//! Module implementing the [`Histogram`] metric and its [`Buckets`].

use std::time::SystemTime;

use crossbeam_utils::CachePadded;

use crate::encode::{self, FamilyWriter, Format, MetricType, Value};
use crate::error::{BucketError, ExemplarError};
use crate::exemplar::{self, Exemplars};
use crate::metrics::{Builder, LabeledBuilder, Metric, Observe, Sealed, Timer};
use crate::shard::{Sharded, Slot};
use crate::sync::{Arc, AtomicU64, Ordering};

/// Validated histogram bucket upper bounds (the `+Inf` bucket is implicit), with their `le`
/// label values rendered once for each format.
#[derive(Debug, Clone, PartialEq)]
pub struct Buckets {
    bounds: Box<[f64]>,
    /// `[text, openmetrics]` spelling of each bound, then of `+Inf`.
    le: Box<[[Box<str>; 2]]>,
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
    fn index(&self, v: f64) -> usize {
        self.bounds.partition_point(|&b| b < v)
    }
}

impl Default for Buckets {
    fn default() -> Self {
        // The default bounds are valid by construction.
        Buckets::new(Buckets::DEFAULT).unwrap_or_else(|_| unreachable!())
    }
}

/// Bucket counts kept inside the slot itself: Go's 11 default buckets plus `+Inf`. With the
/// sum that is 104 bytes, so an inflated (cache-padded) slot stays one 128-byte line and an
/// observe needs no extra pointer load.
const INLINE: usize = 12;
const LANES: usize = 16;

/// One thread's part of a histogram: the sum of observations and non-cumulative bucket
/// counts, the first `INLINE` in the slot, any others in 128-byte-aligned chunks (so two
/// threads' counts never share a cache line).
#[derive(Debug)]
pub(crate) struct HistogramSlot {
    /// `f64` bits.
    sum: AtomicU64,
    inline: [AtomicU64; INLINE],
    /// Buckets past the first `INLINE`; empty for histograms with at most 11 finite bounds.
    rest: Box<[CachePadded<[AtomicU64; LANES]>]>,
}

impl HistogramSlot {
    #[inline]
    fn count(&self, i: usize) -> &AtomicU64 {
        match i.checked_sub(INLINE) {
            None => &self.inline[i],
            Some(j) => &self.rest[j / LANES][j % LANES],
        }
    }

    /// Chunks needed for `n` buckets beyond the inline ones.
    fn rest_chunks(n: usize) -> usize {
        n.saturating_sub(INLINE).div_ceil(LANES)
    }
}

impl Slot for HistogramSlot {
    /// Number of buckets including `+Inf`.
    type Config = usize;
    fn new(n: usize) -> Self {
        HistogramSlot {
            sum: AtomicU64::new(0f64.to_bits()),
            inline: core::array::from_fn(|_| AtomicU64::new(0)),
            rest: (0..HistogramSlot::rest_chunks(n))
                .map(|_| CachePadded::new(core::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
        }
    }
}

#[derive(Debug)]
struct Inner {
    buckets: Arc<Buckets>,
    cells: Sharded<HistogramSlot>,
    /// One exemplar per bucket, allocated on the first; `observe` never reads it.
    exemplars: Exemplars,
}

/// Observations counted into buckets, e.g. request latencies.
///
/// [`observe`](Histogram::observe) finds the bucket by binary search and updates the calling
/// thread's own slot with plain loads and stores. A snapshot is always consistent: `_count` is
/// derived from the buckets, so buckets are cumulative, non-decreasing, and `+Inf` equals
/// `_count`. See [`observe`](Histogram::observe) for NaN, infinite and negative values.
///
/// ```
/// use tachymeter::{Histogram, Registry};
/// let registry = Registry::new();
/// let h = Histogram::builder("task_seconds", "Task run time.")
///     .buckets([1.0, 2.0, 5.0])?
///     .register(&registry)?;
/// h.observe(1.5);
/// assert_eq!(h.count(), 1);
/// assert_eq!(h.sum(), 1.5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Histogram {
    inner: Arc<Inner>,
}

impl Histogram {
    /// A standalone histogram with the given buckets.
    pub fn new(buckets: Arc<Buckets>) -> Histogram {
        let n = buckets.bounds.len() + 1;
        Histogram {
            inner: Arc::new(Inner {
                buckets,
                cells: Sharded::new(n),
                exemplars: Exemplars::new(),
            }),
        }
    }

    /// Starts building a histogram (default buckets unless [`Builder::buckets`] is called).
    pub fn builder(name: &str, help: &str) -> Builder<Histogram> {
        Builder::with_options(name, help, Arc::new(Buckets::default()))
    }

    /// Records one observation.
    ///
    /// # Non-finite and negative values
    ///
    /// * `NaN` is ignored: it has no bucket, and would make `_sum` NaN.
    /// * `+Inf` and `-Inf` are counted as Go and Python count them: in the `+Inf` bucket and
    ///   the lowest bucket, and in `_count`. They are added to [`sum`](Self::sum), which then
    ///   is `+Inf`, `-Inf`, or `NaN` once both have been observed.
    /// * OpenMetrics treats a histogram's sum as a counter: it must not be NaN or negative,
    ///   and strict parsers (Python's `prometheus_client`) reject the whole scrape if it is.
    ///   So in OpenMetrics a series whose sum is NaN or negative is written without `_sum`
    ///   and `_count` (the `+Inf` bucket still carries the count), as it already is for a
    ///   histogram with a negative bucket bound. The text format has no such rule and gets
    ///   the sum as it is (`NaN`, `-Inf`, `-2.5`), as client_golang writes it.
    ///
    /// ```
    /// use tachymeter::{Format, Histogram, Registry};
    /// let registry = Registry::builder().created_samples(false).build();
    /// let h = Histogram::builder("h", "H.").buckets([1.0])?.register(&registry)?;
    /// h.observe(f64::INFINITY);
    /// h.observe(f64::NEG_INFINITY);
    /// h.observe(f64::NAN); // ignored
    /// assert_eq!((h.count(), h.cumulative_counts()), (2, vec![1, 2]));
    /// assert!(h.sum().is_nan());
    /// assert!(registry.encode_to_string(Format::Text).contains("h_sum NaN\nh_count 2\n"));
    /// assert!(registry.encode_to_string(Format::OpenMetrics).ends_with("h_bucket{le=\"+Inf\"} 2\n# EOF\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        let i = self.inner.buckets.index(v);
        self.observe_in(i, v);
    }

    /// Records one observation and makes it the exemplar of the bucket it falls into (so the
    /// exemplar's value always lies inside its bucket), with the current wall-clock time (see
    /// [`observe_with_exemplar_at`](Self::observe_with_exemplar_at) for another time or
    /// none), replacing that bucket's previous exemplar. Exemplars are only exposed in OpenMetrics.
    /// An invalid exemplar is dropped, the observation still counts (use
    /// [`try_observe_with_exemplar`](Self::try_observe_with_exemplar) to learn about it).
    ///
    /// ```
    /// use tachymeter::{Format, Histogram, Registry};
    /// let registry = Registry::builder().created_samples(false).build();
    /// let h = Histogram::builder("rpc_seconds", "RPC latency.")
    ///     .buckets([0.1, 1.0])?
    ///     .register(&registry)?;
    /// h.observe_with_exemplar(0.25, &[("trace_id", "abc")]);
    /// h.observe(0.5); // counted; the bucket keeps its exemplar
    /// let om = registry.encode_to_string(Format::OpenMetrics);
    /// assert!(om.contains("rpc_seconds_bucket{le=\"0.1\"} 0\n"));
    /// assert!(om.contains("rpc_seconds_bucket{le=\"1.0\"} 2 # {trace_id=\"abc\"} 0.25 "));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn observe_with_exemplar(&self, v: f64, labels: &[(&str, &str)]) {
        let _ = self.try_observe_with_exemplar(v, labels);
    }

    /// As [`observe_with_exemplar`](Self::observe_with_exemplar).
    ///
    /// # Errors
    ///
    /// [`ExemplarError`] when the labels are invalid or longer than 128 code points; the
    /// observation is still recorded, without the exemplar. A NaN observation is ignored and
    /// records no exemplar.
    pub fn try_observe_with_exemplar(
        &self,
        v: f64,
        labels: &[(&str, &str)],
    ) -> Result<(), ExemplarError> {
        self.try_observe_with_exemplar_at(v, labels, Some(SystemTime::now()))
    }

    /// As [`observe_with_exemplar`](Self::observe_with_exemplar), with the exemplar's
    /// timestamp given: `Some(time)` (e.g. when the traced request started), or `None` for
    /// an exemplar without a timestamp (OpenMetrics 1.0 makes it optional). A time before
    /// the Unix epoch is written as `0.000`.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use tachymeter::{Format, Histogram, Registry};
    /// let registry = Registry::builder().created_samples(false).build();
    /// let h = Histogram::builder("rpc_seconds", "RPC latency.")
    ///     .buckets([1.0])?
    ///     .register(&registry)?;
    /// let started = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// h.observe_with_exemplar_at(0.25, &[("trace_id", "abc")], Some(started));
    /// h.observe_with_exemplar_at(2.0, &[("trace_id", "def")], None);
    /// let om = registry.encode_to_string(Format::OpenMetrics);
    /// assert!(om.contains("rpc_seconds_bucket{le=\"1.0\"} 1 # {trace_id=\"abc\"} 0.25 1700000000.000\n"));
    /// assert!(om.contains("rpc_seconds_bucket{le=\"+Inf\"} 2 # {trace_id=\"def\"} 2.0\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn observe_with_exemplar_at(
        &self,
        v: f64,
        labels: &[(&str, &str)],
        timestamp: Option<SystemTime>,
    ) {
        let _ = self.try_observe_with_exemplar_at(v, labels, timestamp);
    }

    /// As [`observe_with_exemplar_at`](Self::observe_with_exemplar_at).
    ///
    /// # Errors
    ///
    /// As [`try_observe_with_exemplar`](Self::try_observe_with_exemplar).
    pub fn try_observe_with_exemplar_at(
        &self,
        v: f64,
        labels: &[(&str, &str)],
        timestamp: Option<SystemTime>,
    ) -> Result<(), ExemplarError> {
        if v.is_nan() {
            return Ok(());
        }
        let i = self.inner.buckets.index(v);
        self.observe_in(i, v);
        exemplar::validate(labels)?;
        let n = self.inner.buckets.bounds.len() + 1;
        self.inner.exemplars.record(n, i, labels, v, timestamp);
        Ok(())
    }

    #[inline]
    fn observe_in(&self, i: usize, v: f64) {
        self.inner.cells.update(
            // Relaxed: single writer of this slot; counts and sum publish no other memory.
            |s| {
                let c = s.count(i);
                c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                let sum = f64::from_bits(s.sum.load(Ordering::Relaxed)) + v;
                s.sum.store(sum.to_bits(), Ordering::Relaxed);
            },
            // Relaxed: shared overflow slot, atomic RMWs.
            |s| {
                s.count(i).fetch_add(1, Ordering::Relaxed);
                crate::atomic::f64_add(&s.sum, v);
            },
        );
    }

    /// Starts a timer that observes the elapsed seconds when it drops.
    pub fn start_timer(&self) -> HistogramTimer<'_> {
        Timer::start(self)
    }

    /// The buckets.
    pub fn buckets(&self) -> &Buckets {
        &self.inner.buckets
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        let n = self.inner.buckets.bounds.len() + 1;
        (0..n).map(|i| self.bucket_total(i)).sum()
    }

    /// Sum of observations.
    pub fn sum(&self) -> f64 {
        let mut sum = 0.0;
        // Relaxed: snapshot read.
        self.inner
            .cells
            .for_each(|s| sum += f64::from_bits(s.sum.load(Ordering::Relaxed)));
        sum
    }

    /// Cumulative counts per bucket, the last one being `+Inf` (allocates; for tests and
    /// inspection, not the scrape path).
    pub fn cumulative_counts(&self) -> Vec<u64> {
        let n = self.inner.buckets.bounds.len() + 1;
        let mut acc = 0;
        (0..n)
            .map(|i| {
                acc += self.bucket_total(i);
                acc
            })
            .collect()
    }

    fn bucket_total(&self, i: usize) -> u64 {
        let mut t = 0u64;
        // Relaxed: snapshot read; each slot count only grows.
        self.inner
            .cells
            .for_each(|s| t = t.wrapping_add(s.count(i).load(Ordering::Relaxed)));
        t
    }
}

/// Guard from [`Histogram::start_timer`]: observes the elapsed seconds when dropped.
pub type HistogramTimer<'a> = Timer<'a, Histogram>;

impl Observe for Histogram {
    fn observe(&self, v: f64) {
        Histogram::observe(self, v);
    }
}

impl Builder<Histogram> {
    /// Sets the bucket upper bounds (validated; `+Inf` is appended).
    ///
    /// # Errors
    ///
    /// See [`Buckets::new`].
    pub fn buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Result<Self, BucketError> {
        *self.options_mut() = Arc::new(Buckets::new(bounds)?);
        Ok(self)
    }

    /// Uses buckets made by [`Buckets::linear`] or [`Buckets::exponential`].
    pub fn with_buckets(mut self, buckets: Buckets) -> Self {
        *self.options_mut() = Arc::new(buckets);
        self
    }
}

impl LabeledBuilder<Histogram> {
    /// Sets the bucket upper bounds (validated; `+Inf` is appended).
    ///
    /// # Errors
    ///
    /// See [`Buckets::new`].
    pub fn buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Result<Self, BucketError> {
        *self.options_mut() = Arc::new(Buckets::new(bounds)?);
        Ok(self)
    }

    /// Uses buckets made by [`Buckets::linear`] or [`Buckets::exponential`].
    pub fn with_buckets(mut self, buckets: Buckets) -> Self {
        *self.options_mut() = Arc::new(buckets);
        self
    }
}

impl Sealed for Histogram {}

impl Metric for Histogram {
    type Options = Arc<Buckets>;
    const TYPE: MetricType = MetricType::Histogram;

    fn new_child(options: &Arc<Buckets>) -> Self {
        Histogram::new(options.clone())
    }

    fn encode_child(&self, _: &Arc<Buckets>, w: &mut FamilyWriter<'_, '_>, labels: &str) {
        let f = encode::bound_index(w.format());
        let exemplars = self.inner.exemplars.read();
        let mut cumulative = 0u64;
        for (i, le) in self.inner.buckets.le.iter().enumerate() {
            cumulative += self.bucket_total(i);
            let ex = exemplars.as_ref().and_then(|e| e[i].get());
            w.sample_full(
                "_bucket",
                labels,
                Some(("le", &le[f])),
                b"",
                Value::U64(cumulative),
                ex,
            );
        }
        // OpenMetrics: a histogram with a negative bucket bound has no sum (FORMATS rule 12),
        // nor one whose sum is not a valid counter value (NaN from +Inf and -Inf, or
        // negative), and then no count either (count only comes with a sum). The text and
        // protobuf formats keep both.
        let negative = self.inner.buckets.bounds.first().is_some_and(|&b| b < 0.0);
        let sum = self.sum();
        if w.format() != Format::OpenMetrics || (!negative && encode::is_counter_value(sum)) {
            w.sample_rendered("_sum", labels, None, Value::F64(sum));
            w.sample_rendered("_count", labels, None, Value::U64(cumulative));
        }
    }

    fn fingerprint(&self) -> u64 {
        // Every observation adds to the count.
        self.count()
    }

    fn heap_bytes(&self) -> usize {
        let n = self.inner.buckets.bounds.len() + 1;
        core::mem::size_of::<Inner>()
            + self.inner.exemplars.heap_bytes()
            + HistogramSlot::rest_chunks(n)
                * core::mem::size_of::<CachePadded<[AtomicU64; LANES]>>()
            + self.inner.cells.shard_bytes()
            + self.inner.cells.is_inflated() as usize
                * (crate::shard::shard_count() + 1)
                * HistogramSlot::rest_chunks(n)
                * core::mem::size_of::<CachePadded<[AtomicU64; LANES]>>()
    }
}

#[cfg(all(test, not(tachymeter_loom)))]
mod tests {
    use super::*;

    #[test]
    fn an_inflated_slot_is_one_padded_line() {
        assert!(core::mem::size_of::<HistogramSlot>() <= 128);
    }
}
