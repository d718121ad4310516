//! Module implementing the metric types and their builders. See [`Counter`], [`Gauge`],
//! [`Histogram`], [`Summary`] and [`Builder`].

pub(crate) mod buckets;
pub(crate) mod counter;
pub(crate) mod gauge;
pub(crate) mod histogram;
pub(crate) mod info;
pub(crate) mod native;
pub(crate) mod stateset;
pub(crate) mod summary;

use core::marker::PhantomData;

use crate::encode::{Descriptor, FamilyWriter, MetricType};
use crate::error::RegistrationError;
use crate::family::{Family, LifecycleConfig};
use crate::registry::Registry;

pub use counter::Counter;
pub use gauge::{Gauge, GaugeTimer, InProgress};
pub use histogram::{Buckets, Histogram, HistogramTimer};
pub use info::Info;
pub use native::{NativeConfig, NativeSnapshot};
pub use stateset::{StateSet, States};
pub use summary::{Summary, SummaryConfig, SummaryTimer};

mod private {
    pub trait Sealed {}
}
pub(crate) use private::Sealed;

/// A metric type that can be a child of a [`Family`]: [`Counter`], [`Gauge`], [`Histogram`]
/// and `Summary`. Sealed: implement [`Collector`](crate::Collector) for
/// custom metrics instead.
pub trait Metric: Clone + Send + Sync + 'static + Sealed {
    /// Per-family configuration shared by every child (histogram buckets, summary
    /// objectives; `()` for counters and gauges).
    #[doc(hidden)]
    type Options: Send + Sync + 'static;
    /// The family type.
    #[doc(hidden)]
    const TYPE: MetricType;
    /// A new, zeroed child.
    #[doc(hidden)]
    fn new_child(options: &Self::Options) -> Self;
    /// A new child of the family `desc` describes (types that need the family's label
    /// names override this; the default ignores `desc`).
    #[doc(hidden)]
    fn new_child_in(options: &Self::Options, desc: &Descriptor) -> Self {
        let _ = desc;
        Self::new_child(options)
    }
    /// Writes this child's samples; `labels` are its rendered label pairs.
    #[doc(hidden)]
    fn encode_child(&self, options: &Self::Options, w: &mut FamilyWriter<'_, '_>, labels: &str);
    /// Heap bytes this child holds beyond its handle (memory accounting).
    #[doc(hidden)]
    fn heap_bytes(&self) -> usize;
    /// A value that changes whenever the child is updated (idle expiry compares it between
    /// collections, so updates pay nothing). A gauge set to the value it had, or a change
    /// undone before the next collection, looks idle.
    #[doc(hidden)]
    fn fingerprint(&self) -> u64;
    /// Registration of the family with a registry whose constant label names are
    /// `const_labels`: `Err(label)` if a child already uses one as a label of its own. Types
    /// whose label names are not all in the descriptor (infos) override this; the default
    /// accepts.
    #[doc(hidden)]
    fn check_const_labels(
        options: &Self::Options,
        children: &[Self],
        const_labels: &[Box<str>],
    ) -> Result<(), Box<str>> {
        let _ = (options, children, const_labels);
        Ok(())
    }
}

/// A metric that records observations: [`Histogram`] and [`Summary`]. Sealed.
pub trait Observe: Sealed {
    /// Records one observation.
    fn observe(&self, v: f64);
}

/// Guard from `start_timer` on a [`Histogram`] or [`Summary`]: observes the elapsed seconds
/// when dropped.
#[derive(Debug)]
#[must_use = "the timer observes when it drops"]
pub struct Timer<'a, M: Observe> {
    metric: &'a M,
    start: Option<std::time::Instant>,
}

impl<'a, M: Observe> Timer<'a, M> {
    pub(crate) fn start(metric: &'a M) -> Self {
        Timer {
            metric,
            start: Some(std::time::Instant::now()),
        }
    }

    /// Observes now and returns the elapsed seconds.
    pub fn observe_duration(mut self) -> f64 {
        self.finish()
    }

    /// Drops the timer without observing.
    pub fn stop_and_discard(mut self) {
        self.start = None;
    }

    fn finish(&mut self) -> f64 {
        match self.start.take() {
            Some(s) => {
                let d = s.elapsed().as_secs_f64();
                self.metric.observe(d);
                d
            }
            None => 0.0,
        }
    }
}

impl<M: Observe> Drop for Timer<'_, M> {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Builds a metric: name and help, then optional settings, then either
/// [`register`](Builder::register) (no labels: returns the metric itself) or
/// [`labels`](Builder::labels) (returns a [`LabeledBuilder`] that makes a [`Family`]).
///
/// ```
/// use tachymeter::{Counter, Registry};
/// let registry = Registry::new();
/// let requests = Counter::builder("requests_total", "Requests served.").register(&registry)?;
/// requests.inc();
/// # Ok::<(), tachymeter::RegistrationError>(())
/// ```
#[must_use = "a builder does nothing until registered or built"]
pub struct Builder<M: Metric> {
    name: String,
    help: String,
    unit: Option<String>,
    options: M::Options,
    _m: PhantomData<M>,
}

impl<M: Metric> core::fmt::Debug for Builder<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("help", &self.help)
            .finish_non_exhaustive()
    }
}

impl<M: Metric> Builder<M> {
    pub(crate) fn with_options(name: &str, help: &str, options: M::Options) -> Self {
        Builder {
            name: name.to_owned(),
            help: help.to_owned(),
            unit: None,
            options,
            _m: PhantomData,
        }
    }

    pub(crate) fn options_mut(&mut self) -> &mut M::Options {
        &mut self.options
    }

    /// Sets the unit, exposed as OpenMetrics `# UNIT`: it must be the end of the family name
    /// after an underscore (`request_duration_seconds` with `seconds`; a counter's name is
    /// taken without `_total`). Infos and state sets have no unit.
    ///
    /// ```
    /// use tachymeter::{Counter, Format, Histogram, NameError, Registry};
    /// let registry = Registry::builder().created_samples(false).build();
    /// let h = Histogram::builder("request_duration_seconds", "Latency.")
    ///     .unit("seconds")?
    ///     .buckets([1.0])?
    ///     .register(&registry)?;
    /// h.observe(0.5);
    /// assert!(registry.encode_to_string(Format::OpenMetrics).starts_with(
    ///     "# TYPE request_duration_seconds histogram\n\
    ///      ## UNIT request_duration_seconds seconds\n\
    ///      ## HELP request_duration_seconds Latency.\n"
    /// ));
    /// assert!(matches!(
    ///     Counter::builder("requests_total", "Requests.").unit("seconds"),
    ///     Err(NameError::UnitNotSuffix { .. })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`NameError::InvalidUnit`](crate::NameError::InvalidUnit), [`NameError::UnitNotSuffix`](crate::NameError::UnitNotSuffix) or
    /// [`NameError::UnitNotAllowed`](crate::NameError::UnitNotAllowed) (see [`Descriptor::with_unit`]); an invalid name is
    /// reported by `build`/`register`.
    pub fn unit(mut self, unit: &str) -> Result<Self, crate::error::NameError> {
        // Validate against the family name as `Descriptor::new` will store it.
        let name = match M::TYPE {
            crate::MetricType::Counter => self.name.strip_suffix("_total"),
            crate::MetricType::Info => self.name.strip_suffix("_info"),
            _ => None,
        }
        .unwrap_or(&self.name);
        crate::names::check_unit(name, M::TYPE, unit)?;
        self.unit = Some(unit.to_owned());
        Ok(self)
    }

    fn descriptor(&self, labels: &[&str]) -> Result<Descriptor, crate::error::NameError> {
        let desc = Descriptor::new(&self.name, &self.help, M::TYPE, labels)?;
        match &self.unit {
            Some(u) => desc.with_unit(u),
            None => Ok(desc),
        }
    }

    /// Gives the metric label names: the result builds a [`Family`].
    pub fn labels<I, S>(self, names: I) -> LabeledBuilder<M>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        LabeledBuilder {
            inner: self,
            labels: names.into_iter().map(|s| s.as_ref().to_owned()).collect(),
            life: LifecycleConfig::default(),
        }
    }

    /// Builds the metric without registering it, with the descriptor that describes it.
    ///
    /// # Errors
    ///
    /// An invalid name.
    pub fn build(self) -> Result<Family<M>, crate::error::NameError> {
        let desc = self.descriptor(&[])?;
        Ok(Family::new(desc, self.options))
    }

    /// Builds the metric and registers it with `registry`; returns the metric.
    ///
    /// # Errors
    ///
    /// An invalid name, or a name already taken in `registry` (see
    /// [`RegistrationError`]).
    pub fn register(self, registry: &Registry) -> Result<M, RegistrationError> {
        let family = self.build()?;
        let metric = family.with(&[], M::clone).map_err(|_| {
            // Unreachable: a family without label names accepts an empty value list.
            RegistrationError::InconsistentLabels(family.descriptor().name().to_owned())
        })?;
        registry.register(family)?;
        Ok(metric)
    }
}

/// A [`Builder`] with label names: builds a [`Family`] of metrics.
#[must_use = "a builder does nothing until registered or built"]
pub struct LabeledBuilder<M: Metric> {
    inner: Builder<M>,
    labels: Vec<String>,
    life: LifecycleConfig,
}

impl<M: Metric> core::fmt::Debug for LabeledBuilder<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LabeledBuilder")
            .field("name", &self.inner.name)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl<M: Metric> LabeledBuilder<M> {
    pub(crate) fn options_mut(&mut self) -> &mut M::Options {
        &mut self.inner.options
    }

    /// Caps the family at `limit` children: once it has that many, a lookup of a new label
    /// set resolves to one overflow child whose label values are all
    /// [`OVERFLOW_LABEL_VALUE`](crate::OVERFLOW_LABEL_VALUE), so the exposition stays bounded
    /// and no update is lost. Decided only when a child would be created (a lookup that finds
    /// its child pays nothing); removing children makes room again. Overflowed lookups are
    /// counted ([`Family::overflowed_updates`], exposed as
    /// `tachymeter_family_overflow_updates_total{family="..."}`), and the first one calls the
    /// hook of [`set_overflow_hook`](crate::set_overflow_hook) (and `log::warn!` with the
    /// `log` feature). Overrides the registry's
    /// [`default_max_children`](crate::RegistryBuilder::default_max_children);
    /// `usize::MAX` means no limit even if the registry has a default.
    ///
    /// ```
    /// use tachymeter::{Counter, OVERFLOW_LABEL_VALUE};
    /// let f = Counter::builder("req_total", "Requests.").labels(["user"]).max_children(2).build()?;
    /// for user in ["ann", "bob", "cy", "dee"] {
    ///     f.with_label_values(&[user]).inc();
    /// }
    /// assert_eq!(f.len(), 3); // ann, bob and the overflow child
    /// assert_eq!(f.with_label_values(&[OVERFLOW_LABEL_VALUE]).get(), 2.0);
    /// assert_eq!(f.overflowed_updates(), 2);
    /// # Ok::<(), tachymeter::NameError>(())
    /// ```
    pub fn max_children(mut self, limit: usize) -> Self {
        self.life.max_children = Some(limit);
        self
    }

    /// Removes a child when a collection finds its value unchanged since a collection (or
    /// its creation) at least `after` earlier: children that are not updated expire without
    /// any cost on the update path (values are compared between collections). So a child
    /// expires at the first collection `after` past its last observed change; a gauge set
    /// to the value it had, or an update undone before the next collection, counts as idle;
    /// an update racing its expiry may land in the expired child. A label set used again
    /// afterwards is a new child (a new `_created`). Nothing expires in a family that is not
    /// collected.
    pub fn expire_after(mut self, after: core::time::Duration) -> Self {
        self.life.expire_after = Some(after);
        self
    }

    /// As [`expire_after`](Self::expire_after), timed by `clock` (monotonic, from any
    /// origin) instead of the process clock: for tests.
    #[doc(hidden)]
    pub fn expire_after_with_clock(
        mut self,
        after: core::time::Duration,
        clock: impl Fn() -> core::time::Duration + Send + Sync + 'static,
    ) -> Self {
        self.life.expire_after = Some(after);
        self.life.clock = Some(std::sync::Arc::new(clock));
        self
    }

    /// Builds the family without registering it.
    ///
    /// # Errors
    ///
    /// An invalid metric or label name, or a reserved or repeated label name.
    pub fn build(self) -> Result<Family<M>, crate::error::NameError> {
        let labels: Vec<&str> = self.labels.iter().map(String::as_str).collect();
        let desc = self.inner.descriptor(&labels)?;
        Ok(Family::with_lifecycle(desc, self.inner.options, self.life))
    }

    /// Builds the family and registers it with `registry`.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build), or a name already taken in `registry`.
    pub fn register(self, registry: &Registry) -> Result<Family<M>, RegistrationError> {
        let family = self.build()?;
        registry.register(family.clone())?;
        Ok(family)
    }
}
