//! Module implementing the [`Counter`] metric.

use crate::encode::{FamilyWriter, MetricType, Value};
use crate::error::CounterError;
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
/// increments in a separate `f64` part. Cloning is cheap and clones share the value.
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
    cells: Arc<Sharded<CounterSlot>>,
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
            cells: Arc::new(Sharded::new(())),
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

    /// Adds `n`.
    #[inline]
    pub fn inc_by(&self, n: u64) {
        self.cells.update(
            // Relaxed: the slot has this thread as its only writer, and the value publishes no
            // other memory; a concurrent reader may see the previous total, which is fine.
            |s| {
                s.int.store(
                    s.int.load(Ordering::Relaxed).wrapping_add(n),
                    Ordering::Relaxed,
                )
            },
            // Relaxed: shared overflow slot, atomic add; same reasoning for readers.
            |s| {
                s.int.fetch_add(n, Ordering::Relaxed);
            },
        );
    }

    /// Adds `v` if it is finite and not negative; otherwise ignores it and leaves the counter
    /// unchanged (use [`try_inc_by_f64`](Self::try_inc_by_f64) to learn about it).
    #[inline]
    pub fn inc_by_f64(&self, v: f64) {
        let _ = self.try_inc_by_f64(v);
    }

    /// Adds `v`.
    ///
    /// # Errors
    ///
    /// [`CounterError::Negative`] or [`CounterError::NotFinite`]; the counter is unchanged.
    #[inline]
    pub fn try_inc_by_f64(&self, v: f64) -> Result<(), CounterError> {
        if !v.is_finite() {
            return Err(CounterError::NotFinite(v));
        }
        if v < 0.0 {
            return Err(CounterError::Negative(v));
        }
        // Whole numbers below 2^53 stay exact in the integer part.
        if v.fract() == 0.0 && v < 9_007_199_254_740_992.0 {
            self.inc_by(v as u64);
            return Ok(());
        }
        self.cells.update(
            // Relaxed: single writer, as in `inc_by`.
            |s| {
                let cur = f64::from_bits(s.float.load(Ordering::Relaxed));
                s.float.store((cur + v).to_bits(), Ordering::Relaxed);
            },
            |s| crate::atomic::f64_add(&s.float, v),
        );
        Ok(())
    }

    /// The current total.
    pub fn get(&self) -> f64 {
        let (i, f) = self.parts();
        i as f64 + f
    }

    /// The integer and float parts of the total.
    fn parts(&self) -> (u64, f64) {
        let mut int = 0u64;
        let mut float = 0f64;
        self.cells.for_each(|s| {
            // Relaxed: a snapshot may miss increments in flight; each slot only grows.
            int = int.wrapping_add(s.int.load(Ordering::Relaxed));
            float += f64::from_bits(s.float.load(Ordering::Relaxed));
        });
        (int, float)
    }

    /// Whether this counter has spread to per-thread shards (it does on the first write from
    /// a second thread).
    #[doc(hidden)]
    pub fn is_sharded(&self) -> bool {
        self.cells.is_inflated()
    }
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
        let value = if f == 0.0 {
            Value::U64(i)
        } else {
            Value::F64(i as f64 + f)
        };
        w.sample_rendered("_total", labels, None, value);
    }

    fn heap_bytes(&self) -> usize {
        core::mem::size_of::<Sharded<CounterSlot>>() + self.cells.shard_bytes()
    }
}
