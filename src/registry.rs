//! Module implementing the [`Registry`] and the [`Collector`] trait.

use std::collections::HashMap;

use crate::encode::{self, Descriptor, Format, MetricType, MetricWriter};
use crate::error::{EncodeError, NameError, RegistrationError};
use crate::names;
use crate::sync::{lock, Arc, Mutex};

/// Collectors are shared as `std` `Arc<dyn Collector>` even under loom, whose `Arc` cannot
/// hold unsized types; the registry's state is behind a (modelled) mutex anyway.
type SharedCollector = std::sync::Arc<dyn Collector>;

/// Something that exposes metric families: every built-in [`Family`](crate::Family) (and so
/// every registered metric), or a custom collector that reads values from elsewhere at scrape
/// time.
///
/// ```
/// use tachymeter::{Collector, Descriptor, EncodeError, MetricType, MetricWriter, Registry};
///
/// struct QueueDepth;
/// impl Collector for QueueDepth {
///     fn describe(&self) -> Vec<Descriptor> {
///         vec![Descriptor::new("queue_depth", "Jobs waiting.", MetricType::Gauge, &["queue"]).unwrap()]
///     }
///     fn collect(&self, w: &mut MetricWriter<'_>) -> Result<(), EncodeError> {
///         let desc = &self.describe()[0];
///         if let Some(mut f) = w.family(desc) {
///             f.sample("", &[("queue", "mail")], 3.0)?;
///         }
///         Ok(())
///     }
/// }
///
/// let registry = Registry::new();
/// registry.register(QueueDepth)?;
/// assert!(registry.encode_to_string(Default::default()).contains("queue_depth{queue=\"mail\"} 3\n"));
/// # Ok::<(), tachymeter::RegistrationError>(())
/// ```
///
/// # Contract
///
/// `collect` writes only the families `describe` lists, each at most once per scrape (with
/// all its samples), and each series (name and label pairs) at most once; a sample's labels
/// must not repeat each other nor the registry's constant labels. Anything else makes the
/// whole exposition invalid for Prometheus. Repeated or constant labels are refused with
/// [`EncodeError::DuplicateLabelName`] in every build. In **debug builds** the rest is
/// checked too and the scrape fails with [`EncodeError::UndeclaredFamily`],
/// [`EncodeError::DuplicateFamily`] or [`EncodeError::DuplicateSeries`] (the same series
/// with its labels in another order is not detected). **Release builds** skip those checks
/// to keep scrapes cheap and write what the collector asked for, so test collectors in a
/// debug build.
pub trait Collector: Send + Sync + 'static {
    /// The families this collector writes; called once, at registration, to check names.
    /// `collect` must write only these families, each at most once.
    fn describe(&self) -> Vec<Descriptor>;

    /// Writes current values: for each family, [`MetricWriter::family`] then its samples.
    ///
    /// # Errors
    ///
    /// A sample that cannot be exposed (see [`EncodeError`]); the scrape fails with it.
    fn collect(&self, w: &mut MetricWriter<'_>) -> Result<(), EncodeError>;

    /// Called by [`Registry::register`] once its own checks passed, with the registry's
    /// constant label names, so that a collector whose label names are not all in its
    /// descriptors (an [`Info`](crate::Info)'s) can refuse or remember them. The default
    /// accepts. An error leaves nothing registered.
    #[doc(hidden)]
    fn check_const_labels(&self, const_labels: &[Box<str>]) -> Result<(), RegistrationError> {
        let _ = const_labels;
        Ok(())
    }

    /// Called once registered, with the registry's
    /// [`default_max_children`](RegistryBuilder::default_max_children): families whose
    /// builder set no limit take it. The default ignores it.
    #[doc(hidden)]
    fn apply_default_max_children(&self, limit: usize) {
        let _ = limit;
    }

    /// Calls `f` with (family name, overflowed lookups) for each family of this collector
    /// that has overflowed its child limit. The default has none.
    #[doc(hidden)]
    fn overflowed_updates(&self, f: &mut dyn FnMut(&str, u64)) {
        let _ = f;
    }
}

/// The self-metric family that counts overflowed lookups per family (see
/// [`LabeledBuilder::max_children`](crate::LabeledBuilder::max_children)); written only when
/// some family of the registry has overflowed, so expositions of registries without limits
/// (or that never hit them) are unchanged.
pub const OVERFLOW_FAMILY: &str = "tachymeter_family_overflow_updates";

fn overflow_descriptor(label: &str) -> Descriptor {
    // Cannot fail: a valid, fixed name, and one label that is valid (`family` or
    // `tachymeter_family`).
    Descriptor::new(
        OVERFLOW_FAMILY,
        "Lookups of a new label set that went to the overflow child because the family was at its child limit.",
        MetricType::Counter,
        &[label],
    )
    .unwrap_or_else(|_| unreachable!())
}

struct Registered {
    id: u64,
    collector: SharedCollector,
    descriptors: Vec<Descriptor>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    collectors: Vec<Registered>,
    /// Exposition name → (collector id, family name) that claims it.
    claimed: HashMap<String, (u64, String)>,
    /// Buffers of the collector contract checks, reused by every scrape.
    scratch: encode::Scratch,
    /// The protobuf encoder's buffers, and the writer's own buffer while it runs (the
    /// series of custom samples, for the contract checks).
    #[cfg(feature = "protobuf")]
    protobuf: (encode::protobuf::Buffers, Vec<u8>),
}

/// Source of registry identities ([`Registry::id`]).
#[cfg(feature = "remote-write")]
static NEXT_REGISTRY_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

struct Inner {
    /// Process-unique identity, never reused (remote write's label cache key).
    #[cfg(feature = "remote-write")]
    id: u64,
    /// Namespace with its trailing `_`, or empty.
    prefix: Box<str>,
    const_label_names: Box<[Box<str>]>,
    /// Constant labels rendered and escaped: `a="x",b="y"`.
    const_labels: Box<str>,
    /// Whether OpenMetrics expositions carry `_created` samples.
    created: bool,
    /// Child limit for registered families that set none.
    default_max_children: Option<usize>,
    /// The overflow self-metric's descriptor (its label is `family`, or `tachymeter_family`
    /// when `family` is a constant label).
    overflow_desc: Descriptor,
    state: Mutex<State>,
}

/// A set of collectors encoded together: what one scrape of `/metrics` or one push sends.
///
/// Cloning is cheap and clones share the same set. Registration and encoding take a mutex
/// (registrations and scrapes wait for each other); recording values never does.
///
/// ```
/// use tachymeter::{Counter, Format, Registry};
/// let registry = Registry::new();
/// let c = Counter::builder("jobs_total", "Jobs done.").labels(["queue"]).register(&registry)?;
/// c.with_label_values(&["mail"]).inc();
/// assert_eq!(
///     registry.encode_to_string(Format::Text),
///     "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total{queue=\"mail\"} 1\n"
/// );
/// # Ok::<(), tachymeter::RegistrationError>(())
/// ```
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl core::fmt::Debug for Registry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Registry")
            .field("prefix", &self.inner.prefix)
            .field("const_labels", &self.inner.const_labels)
            .finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// Configures a [`Registry`]: a namespace prefix, constant labels, `_created` samples.
#[derive(Debug, Clone)]
#[must_use]
pub struct RegistryBuilder {
    prefix: Option<String>,
    const_labels: Vec<(String, String)>,
    created: bool,
    default_max_children: Option<usize>,
}

impl Default for RegistryBuilder {
    fn default() -> Self {
        RegistryBuilder {
            prefix: None,
            const_labels: Vec::new(),
            created: true,
            default_max_children: None,
        }
    }
}

impl RegistryBuilder {
    /// Prefixes every family name with `namespace_`.
    ///
    /// # Errors
    ///
    /// [`NameError::InvalidMetricName`] if `namespace` is not a valid name.
    pub fn prefix(mut self, namespace: &str) -> Result<Self, NameError> {
        names::check_metric_name(namespace)?;
        self.prefix = Some(namespace.to_owned());
        Ok(self)
    }

    /// Adds a label with a fixed value to every series (e.g. `region="eu"`).
    ///
    /// # Errors
    ///
    /// An invalid, reserved or repeated label name.
    pub fn const_label(mut self, name: &str, value: &str) -> Result<Self, NameError> {
        names::check_label_name(name)?;
        if self.const_labels.iter().any(|(n, _)| n == name) {
            return Err(NameError::DuplicateLabelName(name.to_owned()));
        }
        self.const_labels.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Whether OpenMetrics expositions carry a `_created` sample (the child's creation time,
    /// seconds since the Unix epoch) for every counter, histogram and summary child. On by
    /// default, as OpenMetrics recommends; the text format never has them (FORMATS rule 6:
    /// Prometheus would ingest them as extra gauge series).
    ///
    /// ```
    /// use tachymeter::{Counter, Format, Registry};
    /// let with = Registry::new();
    /// let without = Registry::builder().created_samples(false).build();
    /// for r in [&with, &without] {
    ///     Counter::builder("jobs_total", "Jobs.").register(r)?.inc();
    ///     assert!(!r.encode_to_string(Format::Text).contains("_created"));
    /// }
    /// assert!(with.encode_to_string(Format::OpenMetrics).contains("\njobs_created 1"));
    /// assert!(!without.encode_to_string(Format::OpenMetrics).contains("_created"));
    /// # Ok::<(), tachymeter::RegistrationError>(())
    /// ```
    pub fn created_samples(mut self, on: bool) -> Self {
        self.created = on;
        self
    }

    /// A child limit for every labelled family registered here whose builder set none (see
    /// [`LabeledBuilder::max_children`](crate::LabeledBuilder::max_children)). Off by
    /// default, like every Prometheus client: a limit merges label sets into the overflow
    /// series, which only the family's owner can judge acceptable. OpenTelemetry SDKs use
    /// 2,000; the framework middleware ([`integrations`](crate::integrations)) sets its own.
    /// It applies when a family is registered, to children created from then on.
    ///
    /// ```
    /// use tachymeter::{Counter, Registry};
    /// let r = Registry::builder().default_max_children(2_000).build();
    /// let f = Counter::builder("req_total", "Requests.").labels(["path"]).register(&r)?;
    /// assert_eq!(f.max_children(), Some(2_000));
    /// let own = Counter::builder("own_total", "Own.").labels(["k"]).max_children(10).register(&r)?;
    /// assert_eq!(own.max_children(), Some(10));
    /// # Ok::<(), tachymeter::RegistrationError>(())
    /// ```
    pub fn default_max_children(mut self, limit: usize) -> Self {
        self.default_max_children = Some(limit);
        self
    }

    /// Builds the registry.
    pub fn build(self) -> Registry {
        let names: Box<[Box<str>]> = self
            .const_labels
            .iter()
            .map(|(n, _)| n.as_str().into())
            .collect();
        let values: Vec<&str> = self.const_labels.iter().map(|(_, v)| v.as_str()).collect();
        let const_labels = encode::render_labels(&names, &values);
        let prefix: Box<str> = self
            .prefix
            .map_or_else(|| "".into(), |p| format!("{p}_").into());
        Registry {
            inner: Arc::new(Inner {
                // Relaxed: only uniqueness matters; nothing is published through the id.
                #[cfg(feature = "remote-write")]
                id: NEXT_REGISTRY_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                const_labels,
                created: self.created,
                default_max_children: self.default_max_children,
                overflow_desc: overflow_descriptor(if names.iter().any(|n| &**n == "family") {
                    "tachymeter_family"
                } else {
                    "family"
                }),
                state: Mutex::new(State {
                    claimed: overflow_claims(&prefix),
                    ..State::default()
                }),
                prefix,
                const_label_names: names,
            }),
        }
    }
}

/// The self-metric's exposition names, claimed by the registry itself so that no family can
/// take them.
fn overflow_claims(prefix: &str) -> HashMap<String, (u64, String)> {
    let d = overflow_descriptor("family");
    exposition_names(prefix, &d)
        .into_iter()
        .map(|n| (n, (u64::MAX, format!("{prefix}{OVERFLOW_FAMILY}"))))
        .collect()
}

/// The names a family exposes (family name plus its type's suffixes), prefixed.
fn exposition_names(prefix: &str, d: &Descriptor) -> Vec<String> {
    let base = format!("{prefix}{}", d.name());
    let mut v = vec![base.clone()];
    v.extend(
        d.metric_type()
            .suffixes()
            .iter()
            .map(|s| format!("{base}{s}")),
    );
    v
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        RegistryBuilder::default().build()
    }

    /// A builder for a registry with a prefix or constant labels.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// Registers a collector (a [`Family`](crate::Family) or a custom [`Collector`]).
    ///
    /// # Errors
    ///
    /// A family name already registered (with the same or a different help, type or label
    /// names), an exposition-name clash between families (e.g. counter `foo` and gauge
    /// `foo_created`), or a metric label that is also a constant label. Nothing is registered
    /// on error.
    pub fn register(&self, collector: impl Collector) -> Result<(), RegistrationError> {
        self.register_arc(std::sync::Arc::new(collector))
    }

    /// Registers a shared collector; see [`register`](Self::register).
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register).
    pub fn register_arc(
        &self,
        collector: std::sync::Arc<dyn Collector>,
    ) -> Result<(), RegistrationError> {
        let descriptors = collector.describe();
        let prefix = &*self.inner.prefix;
        let mut state = lock(&self.inner.state);
        let mut new_claims: Vec<(String, String)> = Vec::new();
        for d in &descriptors {
            let full = format!("{prefix}{}", d.name());
            for l in d.label_names() {
                if self.inner.const_label_names.contains(l) {
                    return Err(RegistrationError::ConstLabelClash {
                        name: full,
                        label: l.to_string(),
                    });
                }
            }
            if let Some(existing) = state
                .collectors
                .iter()
                .flat_map(|r| r.descriptors.iter())
                .find(|e| e.name() == d.name())
            {
                return Err(if existing.metric_type() != d.metric_type() {
                    RegistrationError::InconsistentType(full)
                } else if existing.help() != d.help() {
                    RegistrationError::InconsistentHelp(full)
                } else if existing.label_names() != d.label_names() {
                    RegistrationError::InconsistentLabels(full)
                } else {
                    RegistrationError::AlreadyRegistered(full)
                });
            }
            for n in exposition_names(prefix, d) {
                let clash = state
                    .claimed
                    .get(&n)
                    .map(|(_, fam)| fam.clone())
                    .or_else(|| {
                        new_claims
                            .iter()
                            .find(|(c, _)| *c == n)
                            .map(|(_, f)| f.clone())
                    });
                if let Some(existing) = clash {
                    return Err(RegistrationError::SuffixClash {
                        name: full,
                        exposition_name: n,
                        existing,
                    });
                }
                new_claims.push((n, full.clone()));
            }
        }
        collector.check_const_labels(&self.inner.const_label_names)?;
        if let Some(limit) = self.inner.default_max_children {
            collector.apply_default_max_children(limit);
        }
        let id = state.next_id;
        state.next_id += 1;
        for (n, fam) in new_claims {
            state.claimed.insert(n, (id, fam));
        }
        state.collectors.push(Registered {
            id,
            collector,
            descriptors,
        });
        Ok(())
    }

    /// Unregisters the collector that exposes the family `name` (as registered, without the
    /// registry prefix; counters without `_total`), with every family it exposes.
    ///
    /// # Errors
    ///
    /// [`RegistrationError::NotRegistered`] if no collector exposes that family.
    pub fn unregister(&self, name: &str) -> Result<(), RegistrationError> {
        let mut state = lock(&self.inner.state);
        let base = name.strip_suffix("_total");
        let pos = state.collectors.iter().position(|r| {
            r.descriptors.iter().any(|d| {
                d.name() == name
                    || (d.metric_type() == MetricType::Counter && Some(d.name()) == base)
            })
        });
        let Some(pos) = pos else {
            return Err(RegistrationError::NotRegistered(name.to_owned()));
        };
        let removed = state.collectors.remove(pos);
        state.claimed.retain(|_, (id, _)| *id != removed.id);
        Ok(())
    }

    /// Descriptors of every registered family, in registration order.
    pub fn descriptors(&self) -> Vec<Descriptor> {
        lock(&self.inner.state)
            .collectors
            .iter()
            .flat_map(|r| r.descriptors.iter().cloned())
            .collect()
    }

    /// Appends an exposition of every registered family to `out`.
    ///
    /// Once `out` has the capacity of a snapshot (reuse the same buffer, cleared), encoding
    /// the built-in metrics allocates nothing.
    ///
    /// # Errors
    ///
    /// Only a custom collector's [`EncodeError`]; `out` may then hold a partial exposition.
    pub fn encode(&self, format: Format, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.encode_filtered(format, out, None)
    }

    /// As [`encode`](Self::encode), keeping only families for which `filter` returns true
    /// for either spelling of their name, in both formats: the family name or the sample
    /// name with a counter's `_total` / an info's `_info` (prefixed). Prometheus asks for
    /// `name[]=req_total`, the `__name__` it stores.
    ///
    /// # Errors
    ///
    /// As [`encode`](Self::encode).
    pub fn encode_filtered(
        &self,
        format: Format,
        out: &mut Vec<u8>,
        filter: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<(), EncodeError> {
        self.write(format, out, filter, None)
    }

    /// Process-unique identity of this registry (shared by its clones), never reused.
    #[cfg(feature = "remote-write")]
    pub(crate) fn id(&self) -> u64 {
        self.inner.id
    }

    /// Hands every sample of every registered family to `sink` (remote write), with the
    /// registry's prefix and constant labels applied; `scratch` is a reusable buffer for the
    /// collector contract checks. Allocation-free once `scratch` and the sink are warm.
    ///
    /// # Errors
    ///
    /// As [`encode`](Self::encode).
    #[cfg(feature = "remote-write")]
    pub(crate) fn collect_samples(
        &self,
        sink: &mut dyn encode::sink::SampleSink,
        scratch: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        scratch.clear();
        self.write(Format::Text, scratch, None, Some(sink))
    }

    fn write(
        &self,
        format: Format,
        out: &mut Vec<u8>,
        filter: Option<&dyn Fn(&str) -> bool>,
        sink: Option<&mut dyn encode::sink::SampleSink>,
    ) -> Result<(), EncodeError> {
        let mut guard = lock(&self.inner.state);
        let state = &mut *guard;
        // Protobuf: the samples go to the encoder, which writes `out`; the writer keeps its
        // series text in a buffer of its own.
        #[cfg(feature = "protobuf")]
        let mut encoder;
        #[cfg(feature = "protobuf")]
        let (out, sink, protobuf) = if format == Format::Protobuf && sink.is_none() {
            let (buffers, series) = &mut state.protobuf;
            series.clear();
            encoder = encode::protobuf::Encoder::new(out, buffers);
            (
                series,
                Some(&mut encoder as &mut dyn encode::sink::SampleSink),
                true,
            )
        } else {
            // Reborrowed, so both arms have the encoder's (shorter) lifetimes.
            let sink = sink.map(|s| &mut *s as &mut dyn encode::sink::SampleSink);
            (&mut *out, sink, false)
        };
        let mut w = MetricWriter::new(
            out,
            format,
            &self.inner.prefix,
            (&self.inner.const_labels, &self.inner.const_label_names),
            filter,
            core::mem::take(&mut state.scratch),
        )
        .with_created(self.inner.created);
        if let Some(sink) = sink {
            #[cfg(feature = "protobuf")]
            if protobuf {
                w = w.with_protobuf_sink(sink);
            } else {
                w = w.with_sink(sink);
            }
            #[cfg(not(feature = "protobuf"))]
            {
                w = w.with_sink(sink);
            }
        }
        let mut result = Ok(());
        for r in &state.collectors {
            w.begin_collector(&r.descriptors);
            result = r.collector.collect(&mut w).and_then(|()| w.end_collector());
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            result = self.write_overflow(&state.collectors, &mut w);
        }
        if result.is_ok() {
            w.finish();
        }
        state.scratch = w.into_scratch();
        result
    }

    /// Writes the overflow self-metric if any family has overflowed (see [`OVERFLOW_FAMILY`]).
    fn write_overflow<'a>(
        &'a self,
        collectors: &[Registered],
        w: &mut MetricWriter<'a>,
    ) -> Result<(), EncodeError> {
        let mut any = false;
        for r in collectors {
            r.collector.overflowed_updates(&mut |_, n| any |= n > 0);
        }
        if !any {
            return Ok(());
        }
        let desc = &self.inner.overflow_desc;
        w.begin_collector(core::slice::from_ref(desc));
        if let Some(mut fw) = w.family(desc) {
            let label = &*desc.label_names()[0];
            let mut result = Ok(());
            let mut name = String::new();
            for r in collectors {
                r.collector.overflowed_updates(&mut |family, n| {
                    if n > 0 && result.is_ok() {
                        name.clear();
                        name.push_str(&self.inner.prefix);
                        name.push_str(family);
                        result = fw.sample("_total", &[(label, &name)], n as f64);
                    }
                });
            }
            result?;
        }
        w.end_collector()
    }

    /// Encodes into a new string (convenience; allocates).
    pub fn encode_to_string(&self, format: Format) -> String {
        let mut out = Vec::new();
        // A custom collector's error leaves a partial body; the lossy conversion below keeps
        // whatever was written. Use `encode` to see the error.
        let _ = self.encode(format, &mut out);
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// The process-wide default registry (what `Registry` means in the Python client's
/// `REGISTRY`). Like the Python client's, it comes with a
/// [`ProcessCollector`](crate::ProcessCollector) registered (`process_*` families on Linux);
/// registries made with [`Registry::new`] start empty.
pub fn default_registry() -> &'static Registry {
    static DEFAULT: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    DEFAULT.get_or_init(|| {
        let r = Registry::new();
        // Cannot fail: the registry is empty and the process families are valid.
        let _ = r.register(crate::ProcessCollector::new());
        r
    })
}
