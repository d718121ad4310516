//! Module implementing the [`Summary`] metric: cumulative count and sum, and optional
//! quantiles over a sliding time window.

mod shards;

use std::time::{Duration, Instant};

use crate::encode::{self, FamilyWriter, MetricType, Value};
use crate::metrics::{Builder, LabeledBuilder, Metric, Observe, Sealed, Timer};
use crate::quantile::{
    validate_targets, AgeBuckets, QuantileError, WindowError, DEFAULT_AGE_BUCKETS, DEFAULT_MAX_AGE,
};
use crate::shard::{Sharded, Slot};
use crate::sync::{Arc, AtomicU64, Ordering};

use shards::{WindowStore, DEFAULT_BATCH};

/// An injected clock (tests); `None` reads [`Instant::now`]. A `std` `Arc` on purpose: it is
/// configuration, not synchronisation, and loom's `Arc` cannot hold a `dyn Fn`.
type Clock = Option<std::sync::Arc<dyn Fn() -> Instant + Send + Sync>>;

/// Configuration shared by every child of a summary family: the objectives, the window, and
/// the `quantile` label values rendered once for both formats.
///
/// Built through [`Summary::builder`]; see [`Builder::objectives`](Builder#method.objectives).
#[derive(Clone)]
pub struct SummaryConfig {
    /// `(φ, ε)` sorted by φ.
    objectives: Box<[(f64, f64)]>,
    /// `[text, openmetrics]` spelling of each φ.
    labels: Box<[[Box<str>; 2]]>,
    max_age: Duration,
    age_buckets: usize,
    batch: usize,
    clock: Clock,
}

impl Default for SummaryConfig {
    /// No objectives (only `_sum` and `_count`), a 10 minute window in 5 age buckets.
    fn default() -> Self {
        SummaryConfig {
            objectives: Box::new([]),
            labels: Box::new([]),
            max_age: DEFAULT_MAX_AGE,
            age_buckets: DEFAULT_AGE_BUCKETS,
            batch: DEFAULT_BATCH,
            clock: None,
        }
    }
}

impl core::fmt::Debug for SummaryConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SummaryConfig")
            .field("objectives", &self.objectives)
            .field("max_age", &self.max_age)
            .field("age_buckets", &self.age_buckets)
            .finish_non_exhaustive()
    }
}

impl SummaryConfig {
    /// The `(φ, ε)` objectives, sorted by φ (empty: count and sum only).
    pub fn objectives(&self) -> &[(f64, f64)] {
        &self.objectives
    }

    /// How long an observation counts towards the quantiles.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Into how many buckets the window is split (it slides in steps of
    /// `max_age / age_buckets`).
    pub fn age_buckets(&self) -> usize {
        self.age_buckets
    }

    fn set_objectives(&mut self, objectives: &[(f64, f64)]) -> Result<(), QuantileError> {
        let targets = validate_targets(objectives)?;
        self.objectives = targets.iter().map(|t| (t.phi(), t.epsilon())).collect();
        self.labels = targets
            .iter()
            .map(|t| encode::render_bound(t.phi()))
            .collect();
        Ok(())
    }

    fn set_window(&mut self, max_age: Duration, age_buckets: usize) -> Result<(), WindowError> {
        // The window's own validation, so the rules cannot drift apart.
        AgeBuckets::new(&[], max_age, age_buckets, Instant::now())?;
        self.max_age = max_age;
        self.age_buckets = age_buckets;
        Ok(())
    }
}

/// Count and sum of a summary without objectives, per thread.
#[derive(Debug)]
pub(crate) struct TotalsSlot {
    count: AtomicU64,
    /// `f64` bits.
    sum: AtomicU64,
}

impl Slot for TotalsSlot {
    type Config = ();
    fn new((): ()) -> Self {
        TotalsSlot {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }
}

#[derive(Debug)]
enum Inner {
    /// No objectives: count and sum in per-thread atomics, as a counter.
    Plain(Sharded<TotalsSlot>),
    /// Objectives: per-thread buffers feeding the window (boxed: plain children stay small).
    Window(Box<WindowStore>),
}

/// Observations summarised by their count, their sum and, optionally, quantiles over a
/// sliding time window (Prometheus' *summary* type).
///
/// * `_count` and `_sum` are cumulative since creation and never reset or windowed.
/// * Quantiles are opt-in: without [`objectives`](Builder#method.objectives) a summary
///   exposes only `_sum` and `_count`, as the client-library guidelines require. With
///   objectives `{φ: ε}`, each reported `φ`-quantile is an observed value whose nearest rank
///   is that of some `φ'` in `[φ−ε, φ+ε]` among the observations of the last `max_age`
///   (default 10 minutes, sliding in `age_buckets` steps, default 5), with client_golang's
///   semantics; see [`quantile`](crate::quantile) for the estimator. A quantile of an empty
///   window is `NaN`.
/// * `NaN` observations are ignored: they are not ranked and do not count towards `_count`
///   or `_sum`. See [`observe`](Summary::observe) for infinite and negative values.
///
/// [`observe`](Summary::observe) appends to a buffer owned by the calling thread: no clock
/// read, no allocation once warm, no shared cache line. A full buffer (512 values) is merged
/// by its own thread when the window is free, and handed to whoever holds the window
/// otherwise; an observer never waits for another thread's merge (except past a bound of 64
/// queued batches, which caps memory). A scrape merges every buffer first.
///
/// ```
/// use tachymeter::{Format, Registry, Summary};
/// let registry = Registry::new();
/// let rpc = Summary::builder("rpc_seconds", "RPC latency.")
///     .objectives(&[(0.5, 0.05), (0.9, 0.01), (0.99, 0.001)])?
///     .register(&registry)?;
/// for ms in 1..=100 {
///     rpc.observe(f64::from(ms) / 1000.0);
/// }
/// assert_eq!(rpc.count(), 100);
/// assert_eq!(rpc.quantile(0.99), 0.099);
/// let body = registry.encode_to_string(Format::Text);
/// assert!(body.contains("rpc_seconds{quantile=\"0.99\"} 0.099\n"));
/// assert!(body.contains("rpc_seconds_count 100\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Summary {
    inner: Arc<Inner>,
}

impl Summary {
    /// client_golang's former default objectives `{0.5: 0.05, 0.9: 0.01, 0.99: 0.001}`
    /// (deprecated there; summaries have no objectives unless given some).
    pub const GO_OBJECTIVES: [(f64, f64); 3] = [(0.5, 0.05), (0.9, 0.01), (0.99, 0.001)];

    /// Starts building a summary: no objectives (count and sum only) until
    /// [`objectives`](Builder#method.objectives) is called.
    pub fn builder(name: &str, help: &str) -> Builder<Summary> {
        Builder::with_options(name, help, SummaryConfig::default())
    }

    /// A standalone summary with the given configuration (most code uses
    /// [`Summary::builder`]).
    pub fn with_config(config: &SummaryConfig) -> Summary {
        let inner = if config.objectives.is_empty() {
            Inner::Plain(Sharded::new(()))
        } else {
            let now = config.clock.as_ref().map_or_else(Instant::now, |c| c());
            // Validated when the configuration was set.
            let window =
                AgeBuckets::new(&config.objectives, config.max_age, config.age_buckets, now)
                    .unwrap_or_else(|_| unreachable!("summary configuration is validated"));
            Inner::Window(Box::new(WindowStore::new(
                window,
                config.batch,
                config.clock.clone(),
            )))
        };
        Summary {
            inner: Arc::new(inner),
        }
    }

    /// Records one observation.
    ///
    /// `NaN` is ignored. `+Inf`, `-Inf` and negative values are counted in `_count`, ranked
    /// for the quantiles, and added to [`sum`](Self::sum), which is `NaN` once both `+Inf` and
    /// `-Inf` were observed. OpenMetrics treats a summary's sum as a counter (never NaN or
    /// negative) and strict parsers reject the whole scrape otherwise, so in OpenMetrics a
    /// series whose sum is NaN or negative is written without `_sum` (`_count` and the
    /// quantiles stay). The text format gets the sum as it is, as client_golang writes it.
    /// (Python's OpenMetrics parser also rejects negative *quantile* values, which the
    /// OpenMetrics 1.0 text does not forbid; they are written as they are.)
    ///
    /// ```
    /// use tachymeter::{Format, Registry, Summary};
    /// let registry = Registry::builder().created_samples(false).build();
    /// let s = Summary::builder("s", "S.").register(&registry)?;
    /// s.observe(f64::INFINITY);
    /// s.observe(f64::NEG_INFINITY);
    /// assert!(s.sum().is_nan());
    /// assert!(registry.encode_to_string(Format::Text).contains("s_sum NaN\ns_count 2\n"));
    /// assert!(registry.encode_to_string(Format::OpenMetrics).ends_with("# HELP s S.\ns_count 2\n# EOF\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            return;
        }
        match &*self.inner {
            Inner::Plain(cells) => cells.update(
                // Relaxed: single writer of this slot; count and sum publish no other memory
                // and a reader tolerates a sum one observation behind the count.
                |s| {
                    s.count
                        .store(s.count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                    let sum = f64::from_bits(s.sum.load(Ordering::Relaxed)) + v;
                    s.sum.store(sum.to_bits(), Ordering::Relaxed);
                },
                // Relaxed: shared overflow slot, atomic read-modify-writes; same reasoning.
                |s| {
                    s.count.fetch_add(1, Ordering::Relaxed);
                    crate::atomic::f64_add(&s.sum, v);
                },
            ),
            Inner::Window(store) => store.observe(v),
        }
    }

    /// Starts a timer that observes the elapsed seconds when it drops.
    pub fn start_timer(&self) -> SummaryTimer<'_> {
        Timer::start(self)
    }

    /// Number of observations since creation (`NaN` excluded).
    pub fn count(&self) -> u64 {
        self.totals().0
    }

    /// Sum of observations since creation (`NaN` excluded).
    pub fn sum(&self) -> f64 {
        self.totals().1
    }

    fn totals(&self) -> (u64, f64) {
        match &*self.inner {
            Inner::Plain(cells) => {
                let (mut count, mut sum) = (0u64, 0.0f64);
                // Relaxed: snapshot read; each slot only grows.
                cells.for_each(|s| {
                    count = count.wrapping_add(s.count.load(Ordering::Relaxed));
                    sum += f64::from_bits(s.sum.load(Ordering::Relaxed));
                });
                (count, sum)
            }
            Inner::Window(store) => store.totals(),
        }
    }

    /// The estimate of quantile `phi` over the current window, after merging every buffered
    /// observation: `NaN` when the window is empty or the summary has no objectives. For a
    /// configured objective the answer is within its ε; any other `phi` gets the best answer
    /// the estimator can give.
    pub fn quantile(&self, phi: f64) -> f64 {
        match &*self.inner {
            Inner::Plain(_) => f64::NAN,
            Inner::Window(store) => store.scrape(|s| s.window.query(phi, s.now)),
        }
    }

    /// Observations in the current window after merging every buffer (0 without objectives);
    /// for tests.
    #[doc(hidden)]
    pub fn window_count(&self) -> u64 {
        match &*self.inner {
            Inner::Plain(_) => 0,
            Inner::Window(store) => store.scrape(|s| s.window.count(s.now)),
        }
    }

    /// Whether this summary has spread to per-thread shards (on the first observation from a
    /// second thread).
    #[doc(hidden)]
    pub fn is_sharded(&self) -> bool {
        match &*self.inner {
            Inner::Plain(cells) => cells.is_inflated(),
            Inner::Window(store) => store.is_sharded(),
        }
    }
}

/// Guard from [`Summary::start_timer`]: observes the elapsed seconds when dropped.
pub type SummaryTimer<'a> = Timer<'a, Summary>;

impl Observe for Summary {
    fn observe(&self, v: f64) {
        Summary::observe(self, v);
    }
}

/// The summary settings, shared by [`Builder<Summary>`] and [`LabeledBuilder<Summary>`].
macro_rules! summary_settings {
    () => {
        /// Sets the quantile objectives `(φ, ε)`: report the `φ`-quantile within rank error
        /// `ε` (e.g. `(0.99, 0.001)`). The default is none: only `_sum` and `_count`.
        ///
        /// # Errors
        ///
        /// A [`QuantileError`] for an invalid pair (φ outside `[0, 1]`, ε outside `[0, 1)`,
        /// non-finite values, ε = 0 for an interior φ) or a repeated φ.
        pub fn objectives(mut self, objectives: &[(f64, f64)]) -> Result<Self, QuantileError> {
            self.options_mut().set_objectives(objectives)?;
            Ok(self)
        }

        /// Sets how long an observation counts towards the quantiles (default 10 minutes).
        ///
        /// # Errors
        ///
        /// [`WindowError::MaxAgeTooLong`] past
        /// [`MAX_MAX_AGE`](crate::quantile::MAX_MAX_AGE) (366 days),
        /// [`WindowError::PeriodTooShort`] if `max_age` divided by the age buckets is under
        /// 1 ns.
        pub fn max_age(mut self, max_age: Duration) -> Result<Self, WindowError> {
            let buckets = self.options_mut().age_buckets;
            self.options_mut().set_window(max_age, buckets)?;
            Ok(self)
        }

        /// Sets into how many buckets the window is split (default 5): the window slides in
        /// steps of `max_age / age_buckets`, and each bucket costs one more estimator.
        ///
        /// # Errors
        ///
        /// [`WindowError::NoBuckets`] for 0, [`WindowError::TooManyBuckets`] past
        /// [`MAX_AGE_BUCKETS`](crate::quantile::MAX_AGE_BUCKETS) (1024),
        /// [`WindowError::PeriodTooShort`] if `max_age`
        /// divided by `age_buckets` is under 1 ns.
        pub fn age_buckets(mut self, age_buckets: usize) -> Result<Self, WindowError> {
            let max_age = self.options_mut().max_age;
            self.options_mut().set_window(max_age, age_buckets)?;
            Ok(self)
        }

        /// Sets how many values a thread buffers before merging (default 512, at least 1);
        /// for tests and loom models.
        #[doc(hidden)]
        pub fn batch_size(mut self, batch: usize) -> Self {
            self.options_mut().batch = batch.max(1);
            self
        }

        /// Replaces the clock the window rotates by (default [`Instant::now`]); for tests.
        #[doc(hidden)]
        pub fn clock(mut self, clock: impl Fn() -> Instant + Send + Sync + 'static) -> Self {
            self.options_mut().clock = Some(std::sync::Arc::new(clock));
            self
        }
    };
}

impl Builder<Summary> {
    summary_settings!();
}

impl LabeledBuilder<Summary> {
    summary_settings!();
}

impl Sealed for Summary {}

impl Metric for Summary {
    type Options = SummaryConfig;
    const TYPE: MetricType = MetricType::Summary;

    fn new_child(options: &SummaryConfig) -> Self {
        Summary::with_config(options)
    }

    fn encode_child(&self, options: &SummaryConfig, w: &mut FamilyWriter<'_, '_>, labels: &str) {
        let (count, sum) = match &*self.inner {
            Inner::Plain(_) => self.totals(),
            Inner::Window(store) => store.scrape(|s| {
                let f = encode::bound_index(w.format());
                // Objectives and labels are sorted by φ: lines come in increasing order.
                for (&(phi, _), label) in options.objectives.iter().zip(options.labels.iter()) {
                    let v = s.window.query(phi, s.now);
                    w.sample_rendered("", labels, Some(("quantile", &label[f])), Value::F64(v));
                }
                (s.count, s.sum)
            }),
        };
        // OpenMetrics: a sum that is not a valid counter value (NaN from +Inf and -Inf, or
        // negative) is left out; see `observe`.
        if w.format() != crate::encode::Format::OpenMetrics || encode::is_counter_value(sum) {
            w.sample_rendered("_sum", labels, None, Value::F64(sum));
        }
        w.sample_rendered("_count", labels, None, Value::U64(count));
    }

    fn fingerprint(&self) -> u64 {
        // Every observation adds to the count.
        self.count()
    }

    fn heap_bytes(&self) -> usize {
        match &*self.inner {
            Inner::Plain(cells) => core::mem::size_of::<Inner>() + cells.shard_bytes(),
            Inner::Window(store) => {
                core::mem::size_of::<Inner>()
                    + core::mem::size_of::<WindowStore>()
                    + store.heap_bytes()
            }
        }
    }
}
