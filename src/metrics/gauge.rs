//! Module implementing the [`Gauge`] metric.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use atomic_float::AtomicF64;

use crate::encode::{FamilyWriter, MetricType, Value};
use crate::metrics::{Builder, Metric, Sealed};
use crate::sync::{Arc, Ordering};

/// A value that goes up and down, e.g. memory in use or requests in flight.
///
/// A gauge is one atomic `f64`: [`set`](Gauge::set) is a single store and always wins, and
/// [`add`](Gauge::add) is a compare-and-swap loop. Unlike counters, gauges are not sharded per
/// thread: a `set` must replace what every thread added, exactly, and a sharded gauge would
/// make `set` and `get` walk every shard and lose precision when re-basing large sums. Use a
/// [`Counter`](crate::Counter) pair (up and down) where a hot gauge's adds are contended.
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
    value: Arc<AtomicF64>,
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
            value: Arc::new(AtomicF64::new(0.0)),
        }
    }

    /// Starts building a gauge.
    pub fn builder(name: &str, help: &str) -> Builder<Gauge> {
        Builder::with_options(name, help, ())
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        // Relaxed: the value publishes no other memory (crate ordering policy).
        self.value.store(v, Ordering::Relaxed);
    }

    /// Adds `v` (which may be negative).
    #[inline]
    pub fn add(&self, v: f64) {
        // Relaxed: atomic RMW; publishes no other memory.
        self.value.fetch_add(v, Ordering::Relaxed);
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

    /// The current value.
    pub fn get(&self) -> f64 {
        // Relaxed: a snapshot read.
        self.value.load(Ordering::Relaxed)
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
        core::mem::size_of::<AtomicF64>()
    }
}
