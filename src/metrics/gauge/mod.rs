//! Module implementing the [`Gauge`] metric.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::encode::{FamilyWriter, MetricType, Value};
use crate::metrics::{Builder, Metric, Sealed};
use crate::sync::Arc;

mod cells;

use cells::GaugeCells;

/// A value that goes up and down, e.g. memory in use or requests in flight.
///
/// Adds ([`inc`](Gauge::inc), [`dec`](Gauge::dec), [`add`](Gauge::add), [`sub`](Gauge::sub))
/// go to a slot only the calling thread writes, as a counter's increments do: a plain load,
/// add and store, no locked instruction, no cache line written by two threads. A
/// [`set`](Gauge::set) replaces the value *and every thread's adds so far*, exactly, with one
/// plain store of the value; the first add after it swaps that value for an "era" (one
/// compare-and-swap per set), and adds count only under the current era.
/// [`get`](Gauge::get) (and a scrape) returns the last set's value plus the adds made since,
/// read consistently: a read that overlaps a `set` starts again.
///
/// Linearizability: a `set` takes effect at its store, the first add after it at its
/// compare-and-swap, and any other add at its store to its thread's slot, counting only under
/// the era it loaded first, so an add that loaded an older era is ordered before the set that
/// replaced it and is discarded with it. A read returns the last set's value, or the current
/// era's base plus the adds tagged with that era, and retries unless the word was unchanged
/// across the whole read, since any slot it saw moving to a newer era implies a newer word.
///
/// The sum of float adds is formed per thread and then across threads, so it may round
/// differently from one sequential sum (whole numbers below 2^53 stay exact). A gauge used
/// by one thread keeps one slot; each other thread that adds to it gets a slot of its own
/// (`set` needs none). Cloning is cheap and clones share the value.
///
/// ```
/// use tachymeter::Gauge;
/// let g = Gauge::new();
/// g.set(0.3);
/// g.inc();
/// g.sub(0.25);
/// assert!((g.get() - 1.05).abs() < 1e-12);
/// {
///     let _in_flight = g.track_inprogress();
///     assert!((g.get() - 2.05).abs() < 1e-12);
/// }
/// assert!((g.get() - 1.05).abs() < 1e-12);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Gauge {
    cells: Arc<GaugeCells>,
}

impl Default for Gauge {
    fn default() -> Self {
        Self::new()
    }
}

impl Gauge {
    /// A standalone gauge at zero.
    pub fn new() -> Gauge {
        Gauge {
            cells: Arc::new(GaugeCells::new()),
        }
    }

    /// Starts building a gauge.
    pub fn builder(name: &str, help: &str) -> Builder<Gauge> {
        Builder::with_options(name, help, ())
    }

    /// Sets the value, replacing whatever any thread added before.
    #[inline]
    pub fn set(&self, v: f64) {
        self.cells.set(v);
    }

    /// Adds `v` (which may be negative).
    #[inline]
    pub fn add(&self, v: f64) {
        self.cells.add(v);
    }

    /// Subtracts `v`.
    #[inline]
    pub fn sub(&self, v: f64) {
        self.add(-v);
    }

    /// Adds 1.
    #[inline]
    pub fn inc(&self) {
        self.add(1.0);
    }

    /// Subtracts 1.
    #[inline]
    pub fn dec(&self) {
        self.add(-1.0);
    }

    /// The current value: the last set's value plus the adds made since.
    pub fn get(&self) -> f64 {
        self.cells.get()
    }

    /// Whether this gauge has spread to per-thread slots (it does on the first write from a
    /// second thread).
    #[doc(hidden)]
    pub fn is_sharded(&self) -> bool {
        self.cells.is_sharded()
    }

    /// Sets the value to the current Unix time in seconds.
    pub fn set_to_current_time(&self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.set(now);
    }

    /// Increments now and decrements when the returned guard drops: the number of things in
    /// progress.
    pub fn track_inprogress(&self) -> InProgress<'_> {
        self.inc();
        InProgress { gauge: self }
    }

    /// Sets the gauge to the seconds elapsed between now and when the returned guard drops.
    pub fn start_timer(&self) -> GaugeTimer<'_> {
        GaugeTimer {
            gauge: self,
            start: Instant::now(),
        }
    }
}

/// Guard from [`Gauge::track_inprogress`]: decrements the gauge on drop.
#[derive(Debug)]
#[must_use = "the gauge is decremented when this guard drops"]
pub struct InProgress<'a> {
    gauge: &'a Gauge,
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// Guard from [`Gauge::start_timer`]: sets the gauge to the elapsed seconds on drop.
#[derive(Debug)]
#[must_use = "the gauge is set when this guard drops"]
pub struct GaugeTimer<'a> {
    gauge: &'a Gauge,
    start: Instant,
}

impl Drop for GaugeTimer<'_> {
    fn drop(&mut self) {
        self.gauge.set(self.start.elapsed().as_secs_f64());
    }
}

impl Sealed for Gauge {}

impl Metric for Gauge {
    type Options = ();
    const TYPE: MetricType = MetricType::Gauge;

    fn new_child((): &()) -> Self {
        Gauge::new()
    }

    fn encode_child(&self, (): &(), w: &mut FamilyWriter<'_, '_>, labels: &str) {
        w.sample_rendered("", labels, None, Value::F64(self.get()));
    }

    fn fingerprint(&self) -> u64 {
        self.get().to_bits()
    }

    fn heap_bytes(&self) -> usize {
        core::mem::size_of::<GaugeCells>() + self.cells.shard_bytes()
    }
}
