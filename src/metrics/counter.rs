//! Module implementing the [`Counter`] metric.

use std::time::SystemTime;

use crate::encode::{FamilyWriter, MetricType, Value};
use crate::error::{CounterError, ExemplarError};
use crate::exemplar::{self, Exemplars};
use crate::metrics::{Builder, Metric, Sealed};
use crate::shard::{Sharded, Slot};
use crate::sync::{Arc, AtomicU64, Ordering};

/// One thread's part of a counter: an exact integer part and a float part.
#[derive(Debug)]
pub(crate) struct CounterSlot {
    int: AtomicU64,
    /// `f64` bits.
    float: AtomicU64,
}

impl Slot for CounterSlot {
    type Config = ();
    fn new((): ()) -> Self {
        CounterSlot {
            int: AtomicU64::new(0),
            float: AtomicU64::new(0f64.to_bits()),
        }
    }
}

/// A monotonically increasing total, e.g. requests served.
///
/// Increments go to a slot only the calling thread writes (see the crate docs on shards), so
/// [`inc`](Counter::inc) is a plain load and store: no lock, no locked instruction, no cache
/// line shared with another thread. Integer increments are kept exactly (a `u64`), float
/// increments in a separate `f64` part, also with a plain load, add and store; while that
/// part is a whole number below 2^53 the total is exposed as an exact integer. Cloning is
/// cheap and clones share the value.
///
/// A counter never goes down and never becomes infinite: both parts **saturate**. The
/// integer part stops at `u64::MAX` (`inc_by(u64::MAX); inc()` leaves `u64::MAX`, where a
/// plain add would wrap to 0), the float part at `f64::MAX`, and so do the sums of the
/// per-thread parts a scrape adds up and [`get`](Counter::get)'s total. A counter that
/// reaches its cap keeps exposing the cap.
///
/// ```
/// use tachymeter::Counter;
/// let c = Counter::new();
/// c.inc();
/// c.inc_by(2);
/// c.inc_by_f64(0.5);
/// assert_eq!(c.get(), 3.5);
/// assert!(c.try_inc_by_f64(-1.0).is_err());
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Counter {
    cells: Arc<Inner>,
}

/// A counter's storage: the shards `inc` writes, and the exemplar side structure, which
/// `inc` never reads (a null pointer until the first exemplar; see `crate::exemplar`).
#[derive(Debug)]
struct Inner {
    shards: Sharded<CounterSlot>,
    exemplar: Exemplars,
}

impl Default for Counter {
    fn default() -> Self {
        Self::new()
    }
}

impl Counter {
    /// A standalone counter at zero (register it through a family to expose it; most code uses
    /// [`Counter::builder`]).
    pub fn new() -> Counter {
        Counter {
            cells: Arc::new(Inner {
                shards: Sharded::new(()),
                exemplar: Exemplars::new(),
            }),
        }
    }

    /// Starts building a counter. The name may end in `_total` or not; samples always do.
    pub fn builder(name: &str, help: &str) -> Builder<Counter> {
        Builder::with_options(name, help, ())
    }

    /// Adds 1.
    #[inline]
    pub fn inc(&self) {
        self.inc_by(1);
    }

    /// Adds `n`, saturating at `u64::MAX`.
    #[inline]
    pub fn inc_by(&self, n: u64) {
        self.cells.shards.update(
            // Relaxed: the slot has this thread as its only writer, and the value publishes no
            // other memory; a concurrent reader may see the previous total, which is fine.
            |s| {
                s.int.store(
                    s.int.load(Ordering::Relaxed).saturating_add(n),
                    Ordering::Relaxed,
                )
            },
            // Shared overflow slot (threads past the shard count only): a saturating add needs
            // a compare-and-swap loop, since a `fetch_add` that wrapped would be visible to a
            // scrape before any fix-up. Relaxed, same reasoning for readers; the CAS makes the
            // update atomic.
            |s| {
                let _ = s
                    .int
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                        Some(v.saturating_add(n))
                    });
            },
        );
    }

    /// Adds `v` if it is finite and not negative; otherwise ignores it and leaves the counter
    /// unchanged (use [`try_inc_by_f64`](Self::try_inc_by_f64) to learn about it).
    #[inline]
    pub fn inc_by_f64(&self, v: f64) {
        let _ = self.try_inc_by_f64(v);
    }

    /// Adds `v`; the float part saturates at `f64::MAX`.
    ///
    /// # Errors
    ///
    /// [`CounterError::Negative`] or [`CounterError::NotFinite`]; the counter is unchanged.
    #[inline]
    pub fn try_inc_by_f64(&self, v: f64) -> Result<(), CounterError> {
        // One unsigned compare of the bits: +0.0 up to f64::MAX are exactly the patterns
        // below +Inf's; negatives (sign bit set), -0.0, ±Inf and NaN all compare above.
        if v.to_bits() >= f64::INFINITY.to_bits() {
            return refused_or_negative_zero(v);
        }
        self.add_float_part(v);
        Ok(())
    }

    /// Adds `v` (finite, not negative) to the float part.
    ///
    /// A slot's float part may reach `+Inf` (never NaN: only finite, non-negative values are
    /// added to it); every read caps it at `f64::MAX` (see `parts`), which is the saturation
    /// callers see, so the hot path pays no compare for it.
    #[inline]
    fn add_float_part(&self, v: f64) {
        self.cells.shards.update(
            // Relaxed: single writer, as in `inc_by`.
            |s| {
                let sum = f64::from_bits(s.float.load(Ordering::Relaxed)) + v;
                s.float.store(sum.to_bits(), Ordering::Relaxed);
            },
            |s| crate::atomic::f64_add_saturating(&s.float, v),
        );
    }

    /// Adds 1 and records an exemplar (e.g. the trace that caused the increment) with value 1
    /// and the current wall-clock time (see
    /// [`inc_by_with_exemplar_at`](Self::inc_by_with_exemplar_at) for another time or none),
    /// replacing the previous exemplar. Exemplars are only
    /// exposed in OpenMetrics. An invalid exemplar is dropped; the increment still happens
    /// (use [`try_inc_with_exemplar`](Self::try_inc_with_exemplar) to learn about it).
    ///
    /// Recording an exemplar takes a per-counter mutex and the first one allocates; plain
    /// [`inc`](Self::inc) never looks at exemplars and stays as fast as before.
    ///
    /// ```
    /// use tachymeter::{Counter, Format, Registry};
    /// let registry = Registry::builder().created_samples(false).build();
    /// let c = Counter::builder("requests_total", "Requests.").register(&registry)?;
    /// c.inc_with_exemplar(&[("trace_id", "4bf92f3577b34da6")]);
    /// let om = registry.encode_to_string(Format::OpenMetrics);
    /// assert!(om.starts_with(
    ///     "# TYPE requests counter\n# HELP requests Requests.\n\
    ///      requests_total 1 # {trace_id=\"4bf92f3577b34da6\"} 1.0 "
    /// ));
    /// // The text format has no exemplars.
    /// assert!(registry.encode_to_string(Format::Text).ends_with("requests_total 1\n"));
    /// // 128 code points at most, valid label names.
    /// assert!(c.try_inc_with_exemplar(&[("trace_id", &"x".repeat(121))]).is_err());
    /// assert!(c.try_inc_with_exemplar(&[("trace-id", "1")]).is_err());
    /// assert_eq!(c.get(), 3.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn inc_with_exemplar(&self, labels: &[(&str, &str)]) {
        let _ = self.try_inc_by_with_exemplar(1, labels);
    }

    /// Adds `n` and records an exemplar with value `n`; see
    /// [`inc_with_exemplar`](Self::inc_with_exemplar).
    pub fn inc_by_with_exemplar(&self, n: u64, labels: &[(&str, &str)]) {
        let _ = self.try_inc_by_with_exemplar(n, labels);
    }

    /// Adds 1 and records an exemplar; see [`inc_with_exemplar`](Self::inc_with_exemplar).
    ///
    /// # Errors
    ///
    /// [`ExemplarError`] when the labels are invalid or longer than 128 code points; the
    /// counter is still incremented, without the exemplar.
    pub fn try_inc_with_exemplar(&self, labels: &[(&str, &str)]) -> Result<(), ExemplarError> {
        self.try_inc_by_with_exemplar(1, labels)
    }

    /// Adds `n` and records an exemplar with value `n`.
    ///
    /// # Errors
    ///
    /// As [`try_inc_with_exemplar`](Self::try_inc_with_exemplar).
    pub fn try_inc_by_with_exemplar(
        &self,
        n: u64,
        labels: &[(&str, &str)],
    ) -> Result<(), ExemplarError> {
        self.try_inc_by_with_exemplar_at(n, labels, Some(SystemTime::now()))
    }

    /// Adds `n` and records an exemplar with value `n` and the given timestamp:
    /// `Some(time)` (e.g. when the traced request started), or `None` for an exemplar
    /// without a timestamp (OpenMetrics 1.0 makes it optional). A time before the Unix epoch
    /// is written as `0.000`. See [`inc_with_exemplar`](Self::inc_with_exemplar).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use tachymeter::{Counter, Format, Registry};
    /// let registry = Registry::builder().created_samples(false).build();
    /// let c = Counter::builder("requests_total", "Requests.").register(&registry)?;
    /// c.inc_by_with_exemplar_at(1, &[("trace_id", "abc")], None);
    /// assert!(registry
    ///     .encode_to_string(Format::OpenMetrics)
    ///     .contains("requests_total 1 # {trace_id=\"abc\"} 1.0\n"));
    /// let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
    /// c.inc_by_with_exemplar_at(2, &[("trace_id", "def")], Some(at));
    /// assert!(registry
    ///     .encode_to_string(Format::OpenMetrics)
    ///     .contains("requests_total 3 # {trace_id=\"def\"} 2.0 1700000000.500\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn inc_by_with_exemplar_at(
        &self,
        n: u64,
        labels: &[(&str, &str)],
        timestamp: Option<SystemTime>,
    ) {
        let _ = self.try_inc_by_with_exemplar_at(n, labels, timestamp);
    }

    /// As [`inc_by_with_exemplar_at`](Self::inc_by_with_exemplar_at).
    ///
    /// # Errors
    ///
    /// As [`try_inc_with_exemplar`](Self::try_inc_with_exemplar).
    pub fn try_inc_by_with_exemplar_at(
        &self,
        n: u64,
        labels: &[(&str, &str)],
        timestamp: Option<SystemTime>,
    ) -> Result<(), ExemplarError> {
        self.inc_by(n);
        exemplar::validate(labels)?;
        self.cells
            .exemplar
            .record(1, 0, labels, n as f64, timestamp);
        Ok(())
    }

    /// The current total (at most `f64::MAX`).
    pub fn get(&self) -> f64 {
        let (i, f) = self.parts();
        total(i, f)
    }

    /// The integer and float parts of the total, each summed over the shards with saturation.
    fn parts(&self) -> (u64, f64) {
        let mut int = 0u64;
        let mut float = 0f64;
        self.cells.shards.for_each(|s| {
            // Relaxed: a snapshot may miss increments in flight; each slot only grows.
            int = int.saturating_add(s.int.load(Ordering::Relaxed));
            float = (float + f64::from_bits(s.float.load(Ordering::Relaxed))).min(f64::MAX);
        });
        (int, float)
    }

    /// Whether this counter has spread to per-thread shards (it does on the first write from
    /// a second thread).
    #[doc(hidden)]
    pub fn is_sharded(&self) -> bool {
        self.cells.shards.is_inflated()
    }
}

/// The rest of [`Counter::try_inc_by_f64`]'s check, off the hot path: `-0.0` is a valid
/// (empty) increment, anything else that gets here is refused.
#[cold]
fn refused_or_negative_zero(v: f64) -> Result<(), CounterError> {
    if v == 0.0 {
        Ok(())
    } else if v.is_finite() {
        Err(CounterError::Negative(v))
    } else {
        Err(CounterError::NotFinite(v))
    }
}

/// The total as an exact integer, when the float part is whole (float increments of whole
/// numbers are exact in it up to 2^53) and the sum fits in a `u64`; such totals are exposed
/// as integers, like pure `inc`/`inc_by` counters.
fn exact_total(int: u64, float: f64) -> Option<u64> {
    const TWO_53: f64 = 9_007_199_254_740_992.0;
    if float == 0.0 {
        Some(int)
    } else if float < TWO_53 && float.fract() == 0.0 {
        int.checked_add(float as u64)
    } else {
        None
    }
}

/// A counter's total from its parts, capped at `f64::MAX`.
fn total(int: u64, float: f64) -> f64 {
    (int as f64 + float).min(f64::MAX)
}

impl Sealed for Counter {}

impl Metric for Counter {
    type Options = ();
    const TYPE: MetricType = MetricType::Counter;

    fn new_child((): &()) -> Self {
        Counter::new()
    }

    fn encode_child(&self, (): &(), w: &mut FamilyWriter<'_, '_>, labels: &str) {
        let (i, f) = self.parts();
        let value = match exact_total(i, f) {
            Some(n) => Value::U64(n),
            None => Value::F64(total(i, f)),
        };
        // Text 0.0.4 (and remote write without exemplars) writes none: skip the lock.
        let exemplar = w
            .takes_exemplars()
            .then(|| self.cells.exemplar.read())
            .flatten();
        match exemplar {
            None => w.sample_last("_total", labels, value, None),
            Some(ex) => w.sample_last("_total", labels, value, ex[0].get()),
        }
    }

    fn fingerprint(&self) -> u64 {
        self.get().to_bits()
    }

    fn heap_bytes(&self) -> usize {
        core::mem::size_of::<Inner>()
            + self.cells.shards.shard_bytes()
            + self.cells.exemplar.heap_bytes()
    }
}

#[cfg(all(test, not(tachymeter_loom)))]
mod tests {
    use super::*;
    use crate::encode::Format;
    use crate::Registry;

    #[test]
    fn integer_part_saturates_instead_of_wrapping() {
        let registry = Registry::builder().created_samples(false).build();
        let c = Counter::builder("c_total", "C.")
            .register(&registry)
            .unwrap();
        c.inc_by(u64::MAX);
        c.inc();
        assert_eq!(c.parts(), (u64::MAX, 0.0));
        assert_eq!(
            registry.encode_to_string(Format::Text),
            "# HELP c_total C.\n# TYPE c_total counter\nc_total 18446744073709551615\n"
        );
    }

    #[test]
    fn a_text_scrape_leaves_the_exemplar_unlocked() {
        // Text 0.0.4 has no exemplars: its scrape must not wait for the exemplar's lock, which
        // the test holds while another thread scrapes (bounded by a timeout).
        let registry = Registry::builder().created_samples(false).build();
        let c = Counter::builder("c_total", "C.")
            .register(&registry)
            .unwrap();
        c.inc_with_exemplar(&[("trace_id", "t1")]);
        let held = c.cells.exemplar.read();
        assert!(held.is_some(), "an exemplar store after an exemplar");
        let body = crate::test_support::encode_while_held(&registry, Format::Text, held);
        assert_eq!(
            body.as_deref(),
            Ok("# HELP c_total C.\n# TYPE c_total counter\nc_total 1\n"),
            "a text scrape waited for the exemplar's lock"
        );
        // OpenMetrics still shows it.
        assert!(registry
            .encode_to_string(Format::OpenMetrics)
            .contains("c_total 1 # {trace_id=\"t1\"} 1"));
    }

    #[test]
    fn float_part_saturates_at_f64_max() {
        let c = Counter::new();
        c.inc_by_f64(1e308);
        c.inc_by_f64(1e308);
        c.inc_by_f64(0.5);
        assert_eq!(c.get(), f64::MAX);
        c.inc_by(u64::MAX);
        assert_eq!(
            c.get(),
            f64::MAX,
            "integer and float parts together stay finite"
        );
    }

    #[test]
    fn shards_saturate_when_summed() {
        // One increment per thread index, so each lands in its own shard (or the shared
        // overflow slot for indices past the shard count) and only the sum can overflow.
        let c = Counter::new();
        let n = crate::shard::shard_count() + 3;
        let barrier = std::sync::Barrier::new(n);
        std::thread::scope(|s| {
            for _ in 0..n {
                s.spawn(|| {
                    // Hold every index at once so some threads get the overflow slot.
                    barrier.wait();
                    c.inc_by(u64::MAX);
                    c.inc();
                    c.inc_by_f64(1e308);
                    barrier.wait();
                });
            }
        });
        assert!(c.is_sharded());
        assert_eq!(c.parts(), (u64::MAX, f64::MAX));
        assert_eq!(c.get(), f64::MAX);
    }
}
