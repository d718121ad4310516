//! Module implementing the [`Histogram`] metric (classic buckets, native buckets or both).

use std::time::SystemTime;

use crossbeam_utils::CachePadded;

use crate::encode::{self, FamilyWriter, Format, MetricType, Value};
use crate::error::{BucketError, ExemplarError};
use crate::exemplar::{self, Exemplars};
pub use crate::metrics::buckets::Buckets;
use crate::metrics::native::{native_settings, NativeConfig, NativePart, NativeSnapshot};
use crate::metrics::{Builder, LabeledBuilder, Metric, Observe, Sealed, Timer};
use crate::shard::{Sharded, Slot};
use crate::sync::{Arc, AtomicU64, Ordering};

/// Bucket counts kept inside the slot itself: Go's 11 default buckets plus `+Inf`. With the
/// sum that is 104 bytes, so a slot stays within one 128-byte line and an observe needs no
/// extra pointer load.
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
    /// Whether the classic buckets are kept (false for a native-only histogram).
    classic: bool,
    cells: Sharded<HistogramSlot>,
    /// One exemplar per bucket, allocated on the first; `observe` never reads it.
    exemplars: Exemplars,
    /// The native buckets, if the histogram has them.
    native: Option<Box<NativePart>>,
}

/// A histogram's settings, shared by a family's children: classic buckets, native buckets,
/// or both. Made by [`Histogram::builder`] and its settings.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct HistogramOptions {
    buckets: Arc<Buckets>,
    /// Whether buckets were set explicitly (a native histogram keeps classic buckets only then).
    explicit: bool,
    native: Option<NativeConfig>,
}

impl HistogramOptions {
    fn classic(&self) -> bool {
        self.native.is_none() || self.explicit
    }
}

/// Observations counted into buckets, e.g. request latencies.
///
/// [`observe`](Histogram::observe) finds the bucket by binary search and updates the calling
/// thread's own slot with plain loads and stores. A snapshot is always consistent: `_count` is
/// derived from the buckets, so buckets are cumulative, non-decreasing, and `+Inf` equals
/// `_count`. See [`observe`](Histogram::observe) for NaN, infinite and negative values.
///
/// Built with [`native`](Builder#method.native), it keeps Prometheus native (exponential,
/// sparse) buckets instead, or beside the classic ones if `buckets` is called too; see
/// [`NativeConfig`] and the [guide](crate#native-histograms).
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
        Histogram::with_options(&HistogramOptions {
            buckets,
            explicit: true,
            native: None,
        })
    }

    fn with_options(o: &HistogramOptions) -> Histogram {
        let classic = o.classic();
        // A native-only histogram keeps a one-bucket classic slot it never writes.
        let n = if classic {
            o.buckets.bounds.len() + 1
        } else {
            1
        };
        Histogram {
            inner: Arc::new(Inner {
                buckets: o.buckets.clone(),
                classic,
                cells: Sharded::new(n),
                exemplars: Exemplars::new(),
                native: o.native.map(|c| Box::new(NativePart::new(c, !classic))),
            }),
        }
    }

    /// Starts building a histogram: classic buckets (the default ones unless
    /// [`Builder::buckets`] is called), or native buckets with [`Builder::native`] (and
    /// then classic ones too only if `buckets` is called).
    pub fn builder(name: &str, help: &str) -> Builder<Histogram> {
        Builder::with_options(
            name,
            help,
            HistogramOptions {
                buckets: Arc::new(Buckets::default()),
                explicit: false,
                native: None,
            },
        )
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
        if let Some(n) = &self.inner.native {
            n.store.observe(v);
            if !self.inner.classic {
                return;
            }
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
        if let Some(n) = &self.inner.native {
            n.store.observe(v);
        }
        let i = self.inner.buckets.index(v);
        if self.inner.classic {
            self.observe_in(i, v);
        }
        exemplar::validate(labels)?;
        if let Some(n) = &self.inner.native {
            n.record_exemplar(labels, v, timestamp);
        }
        if self.inner.classic {
            let n = self.inner.buckets.bounds.len() + 1;
            self.inner.exemplars.record(n, i, labels, v, timestamp);
        }
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

    /// The classic buckets (for a native-only histogram, the default ones, which it does not
    /// use).
    pub fn buckets(&self) -> &Buckets {
        &self.inner.buckets
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        if !self.inner.classic {
            return self.native_totals().0;
        }
        let n = self.inner.buckets.bounds.len() + 1;
        (0..n).map(|i| self.bucket_total(i)).sum()
    }

    /// Sum of observations.
    pub fn sum(&self) -> f64 {
        if !self.inner.classic {
            return self.native_totals().1;
        }
        let mut sum = 0.0;
        // Relaxed: snapshot read.
        self.inner
            .cells
            .for_each(|s| sum += f64::from_bits(s.sum.load(Ordering::Relaxed)));
        sum
    }

    /// Cumulative counts per bucket, the last one being `+Inf` (allocates; for tests and
    /// inspection, not the scrape path). A native-only histogram has only the `+Inf` one.
    pub fn cumulative_counts(&self) -> Vec<u64> {
        if !self.inner.classic {
            return vec![self.count()];
        }
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
        let o = self.options_mut();
        o.buckets = Arc::new(Buckets::new(bounds)?);
        o.explicit = true;
        Ok(self)
    }

    /// Uses buckets made by [`Buckets::linear`] or [`Buckets::exponential`].
    pub fn with_buckets(mut self, buckets: Buckets) -> Self {
        let o = self.options_mut();
        o.buckets = Arc::new(buckets);
        o.explicit = true;
        self
    }

    native_settings!();
}

impl LabeledBuilder<Histogram> {
    /// Sets the bucket upper bounds (validated; `+Inf` is appended).
    ///
    /// # Errors
    ///
    /// See [`Buckets::new`].
    pub fn buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Result<Self, BucketError> {
        let o = self.options_mut();
        o.buckets = Arc::new(Buckets::new(bounds)?);
        o.explicit = true;
        Ok(self)
    }

    /// Uses buckets made by [`Buckets::linear`] or [`Buckets::exponential`].
    pub fn with_buckets(mut self, buckets: Buckets) -> Self {
        let o = self.options_mut();
        o.buckets = Arc::new(buckets);
        o.explicit = true;
        self
    }

    native_settings!();
}

impl Sealed for Histogram {}

impl Metric for Histogram {
    type Options = HistogramOptions;
    const TYPE: MetricType = MetricType::Histogram;

    fn new_child(options: &HistogramOptions) -> Self {
        Histogram::with_options(options)
    }

    fn encode_child(&self, _: &HistogramOptions, w: &mut FamilyWriter<'_, '_>, labels: &str) {
        let native_sink = w.is_protobuf() || w.sink_takes_native();
        if !self.inner.classic || native_sink && self.inner.native.is_some() {
            return self.encode_native(w, labels);
        }
        self.encode_classic(w, labels, true);
    }

    fn heap_bytes(&self) -> usize {
        self.classic_heap_bytes()
            + self
                .inner
                .native
                .as_deref()
                .map_or(0, |n| core::mem::size_of::<NativePart>() + n.heap_bytes())
    }

    fn fingerprint(&self) -> u64 {
        // Every observation adds to the count (classic or, for native-only, native).
        self.count()
    }
}

impl Histogram {
    /// Writes the classic buckets, then `_sum` and `_count` if `totals`.
    fn encode_classic(&self, w: &mut FamilyWriter<'_, '_>, labels: &str, totals: bool) {
        let f = encode::bound_index(w.format());
        // Text 0.0.4 (and remote write without exemplars) writes none: skip the lock.
        let exemplars = w
            .takes_exemplars()
            .then(|| self.inner.exemplars.read())
            .flatten();
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
        if !totals {
            return;
        }
        let sum = self.sum();
        if w.format() != Format::OpenMetrics || (!negative && encode::is_counter_value(sum)) {
            w.sample_rendered("_sum", labels, None, Value::F64(sum));
            w.sample_rendered("_count", labels, None, Value::U64(cumulative));
        }
    }

    fn classic_heap_bytes(&self) -> usize {
        let n = self.inner.buckets.bounds.len() + 1;
        core::mem::size_of::<Inner>()
            + self.inner.exemplars.heap_bytes()
            + self.inner.cells.shard_bytes()
            + self.inner.cells.slot_count()
                * HistogramSlot::rest_chunks(n)
                * core::mem::size_of::<CachePadded<[AtomicU64; LANES]>>()
    }
}

impl Histogram {
    /// The native buckets' count and sum (the histogram has them).
    fn native_totals(&self) -> (u64, f64) {
        self.inner
            .native
            .as_ref()
            .map_or((0, 0.0), |n| n.store.count_and_sum())
    }

    /// A consistent copy of the native buckets, or `None` for a histogram without them
    /// (allocates; for tests and inspection, not the scrape path).
    pub fn native_snapshot(&self) -> Option<NativeSnapshot> {
        self.inner.native.as_deref().map(NativePart::snapshot)
    }

    /// The native part, for tests (which lock its exemplar ring).
    #[cfg(test)]
    pub(crate) fn native_part(&self) -> Option<&NativePart> {
        self.inner.native.as_deref()
    }

    /// The native settings, or `None` for a classic-only histogram.
    pub fn native_config(&self) -> Option<&NativeConfig> {
        self.inner.native.as_ref().map(|n| n.store.config())
    }

    /// A histogram with native buckets: in protobuf, the classic buckets (if any) then the
    /// native fields with the count and sum of the native view; to a sink that takes native
    /// histograms (remote write), the classic series (if any) then the native view; in the
    /// text formats (native only) the count as a `+Inf` bucket, `_sum` and `_count`.
    fn encode_native(&self, w: &mut FamilyWriter<'_, '_>, labels: &str) {
        let Some(n) = &self.inner.native else {
            return;
        };
        if w.is_protobuf() {
            if self.inner.classic {
                self.encode_classic(w, labels, false);
            }
            let ex = w.takes_exemplars();
            n.with_exemplars(ex, |s| n.store.with_view(|v| w.native(labels, v, s)));
            return;
        }
        if w.sink_takes_native() {
            // Remote write with native histograms: the classic series (if any) as floats,
            // then the native histogram itself.
            if self.inner.classic {
                self.encode_classic(w, labels, true);
            }
            // The ring is only locked when the writer sends exemplars.
            let ex = w.takes_exemplars();
            n.with_exemplars(ex, |s| n.store.with_view(|v| w.sink_native(labels, v, s)));
            return;
        }
        let (count, sum) = n.store.count_and_sum();
        n.with_exemplars(w.takes_exemplars(), |slots| {
            let latest = n.latest(slots);
            w.sample_full(
                "_bucket",
                labels,
                Some(("le", "+Inf")),
                b"",
                Value::U64(count),
                latest,
            );
        });
        if w.format() != Format::OpenMetrics || encode::is_counter_value(sum) {
            w.sample_rendered("_sum", labels, None, Value::F64(sum));
            w.sample_rendered("_count", labels, None, Value::U64(count));
        }
    }
}

#[cfg(all(test, not(tachymeter_loom)))]
#[path = "histogram_tests.rs"]
mod tests;
