//! Module implementing labelled families of metrics. See [`Family`].

use crate::encode::{render_labels, Descriptor, MetricWriter};
use crate::error::{EncodeError, LabelError, RegistrationError};
use crate::metrics::Metric;
use crate::registry::Collector;
use crate::sync::{Arc, Ordering};

#[cfg(not(tachymeter_loom))]
mod cache;
mod child;
mod key;
mod lifecycle;
mod map;
mod metric_ref;
mod order;

pub(crate) use child::ChildRef;
#[cfg(tachymeter_loom)]
pub use child::LoomChild;
use key::{LabelKey, LabelQuery};
pub use lifecycle::{set_overflow_hook, OverflowEvent, OVERFLOW_LABEL_VALUE};
pub(crate) use lifecycle::{Lifecycle, LifecycleConfig};
use map::{ChildMap, Resolved};
pub use metric_ref::MetricRef;
use order::Idle;

/// Source of family identities for the per-thread lookup cache.
static NEXT_FAMILY_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Source of child identities ([`Child::id`]).
static NEXT_CHILD_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

struct Inner<M: Metric> {
    desc: Descriptor,
    options: M::Options,
    /// Process-unique identity (cache key; no cache under loom).
    #[cfg_attr(tachymeter_loom, allow(dead_code))]
    id: u64,
    /// Bumped after every `remove`/`clear`, so per-thread caches drop removed children.
    generation: crate::sync::AtomicU64,
    children: ChildMap<M>,
    /// Child limit, overflow accounting, idle expiry.
    life: Lifecycle,
    /// One [`OVERFLOW_LABEL_VALUE`] per label name: the overflow child's values.
    overflow_values: Box<[&'static str]>,
}

/// A metric family: one child metric per combination of label values.
///
/// Looking up an existing child hashes the values (ahash, random per family), probes a
/// lock-free map and compares every value in full; it allocates nothing, takes no lock and
/// writes no shared cache line. [`with_label_values`](Family::with_label_values) returns the
/// child borrowed for the current thread ([`MetricRef`], no reference-count traffic either);
/// hot code that wants to skip the lookup too keeps an owned handle
/// ([`MetricRef::handle`]: an increment through it costs what an unlabelled one does), and
/// [`with`](Family::with) acts on a child through a closure.
///
/// ```
/// use tachymeter::{Counter, Registry};
/// let registry = Registry::new();
/// let calls = Counter::builder("api_called_total", "How many times the API was called.")
///     .labels(["inner_ip"])
///     .register(&registry)?;
/// calls.with_label_values(&["10.0.0.1"]).inc();
/// calls.with(&["10.0.0.1"], |c| c.inc_by(2))?;
/// assert_eq!(calls.with_label_values(&["10.0.0.1"]).get(), 3.0);
/// assert!(calls.try_with_label_values(&["a", "b"]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub struct Family<M: Metric> {
    inner: Arc<Inner<M>>,
}

impl<M: Metric> Clone for Family<M> {
    fn clone(&self) -> Self {
        Family {
            inner: self.inner.clone(),
        }
    }
}

impl<M: Metric> core::fmt::Debug for Family<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Family")
            .field("descriptor", &self.inner.desc)
            .field("children", &self.len())
            .finish()
    }
}

impl<M: Metric> Family<M> {
    pub(crate) fn new(desc: Descriptor, options: M::Options) -> Self {
        Self::with_lifecycle(desc, options, LifecycleConfig::default())
    }

    pub(crate) fn with_lifecycle(
        desc: Descriptor,
        options: M::Options,
        config: LifecycleConfig,
    ) -> Self {
        let overflow_values = vec![OVERFLOW_LABEL_VALUE; desc.label_names().len()].into();
        // A random per-family seed: label values can come from untrusted input, so the hash
        // must not be predictable (hash flooding).
        let hasher = ahash::RandomState::new();
        Family {
            inner: Arc::new(Inner {
                desc,
                options,
                // Relaxed: only uniqueness matters.
                id: NEXT_FAMILY_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                generation: crate::sync::AtomicU64::new(0),
                children: ChildMap::new(hasher),
                life: Lifecycle::new(config),
                overflow_values,
            }),
        }
    }

    /// The family's descriptor (name, help, type, label names).
    pub fn descriptor(&self) -> &Descriptor {
        &self.inner.desc
    }

    fn check(&self, values: &[&str]) -> Result<(), LabelError> {
        let expected = self.inner.desc.label_names().len();
        if values.len() == expected {
            Ok(())
        } else {
            Err(LabelError::Cardinality {
                expected,
                got: values.len(),
            })
        }
    }

    /// Runs `f` on the child for `values` (created if absent), without cloning its handle.
    ///
    /// # Errors
    ///
    /// [`LabelError::Cardinality`] if the number of values differs from the label names.
    #[inline]
    pub fn with<R>(&self, values: &[&str], f: impl FnOnce(&M) -> R) -> Result<R, LabelError> {
        self.check(values)?;
        let q = LabelQuery(values);
        #[cfg(not(tachymeter_loom))]
        {
            let at = self.cache_key(&q);
            let names = self.inner.desc.label_names();
            let f = match cache::hit(at.0, at.1, at.2, &q, names, |c: &ChildRef<M>| f(&c.metric)) {
                Ok(r) => return Ok(r),
                Err(f) => f,
            };
            Ok(f(&self.miss(q, at)))
        }
        #[cfg(tachymeter_loom)]
        {
            Ok(f(&self.get_or_insert(q).metric))
        }
    }

    /// Where a lookup of `q` sits in this thread's cache: (family id, hash, generation).
    #[cfg(not(tachymeter_loom))]
    #[inline]
    fn cache_key(&self, q: &LabelQuery<'_>) -> (u64, u64, u64) {
        let inner = &*self.inner;
        // Acquire pairs with the Release bump in `remove`/`clear`: reading the new generation
        // means the shared map no longer holds the removed child. Read before the map (in
        // `miss`), so a child found there is never cached under a newer generation than the
        // removal that unlinked it.
        let generation = inner.generation.load(Ordering::Acquire);
        (inner.id, q.quick_hash(), generation)
    }

    /// A lookup the cache could not serve: the child from the shared map, remembered in this
    /// thread's cache under `at` (from [`cache_key`](Self::cache_key)).
    #[cfg(not(tachymeter_loom))]
    fn miss(&self, q: LabelQuery<'_>, at: (u64, u64, u64)) -> ChildRef<M> {
        let child = self.get_or_insert(q);
        // Not the overflow child under an overflowed query: that entry would never hit.
        if q.matches(child.key()) {
            cache::fill(at.0, at.1, at.2, child.clone());
        }
        child
    }

    #[cold]
    fn get_or_insert(&self, q: LabelQuery<'_>) -> ChildRef<M> {
        let inner = &*self.inner;
        let (child, resolved) = inner.children.get_or_insert(
            q,
            inner.life.limit(),
            LabelQuery(&inner.overflow_values),
            |q| {
                let metric = M::new_child_in(&inner.options, &inner.desc);
                let idle = inner.life.expiring().then(|| Idle {
                    seen: metric.fingerprint(),
                    since: inner.life.now_if_expiring(),
                });
                let child = ChildRef::new(
                    q,
                    &render_labels(inner.desc.label_names(), q.0),
                    crate::encode::now_seconds(),
                    // AcqRel: pairs with the Acquire load that starts a scrape's walk (see
                    // `Order::walk`): ids order creations for walks, not just name them.
                    NEXT_CHILD_ID.fetch_add(1, std::sync::atomic::Ordering::AcqRel),
                    metric,
                );
                (child, idle)
            },
        );
        if resolved == Resolved::Overflow {
            inner.life.note_overflow(&inner.desc);
        }
        child
    }

    /// The child for `values` (created if absent), borrowed for this thread: dereferences to
    /// the child's metric, so `family.with_label_values(&values).inc()` works, and costs no
    /// reference-count traffic on the usual path (see [`MetricRef`]). Call
    /// [`MetricRef::handle`] for an owned handle to keep or send.
    ///
    /// # Errors
    ///
    /// [`LabelError::Cardinality`] if the number of values differs from the label names.
    #[inline]
    pub fn try_with_label_values(&self, values: &[&str]) -> Result<MetricRef<'_, M>, LabelError> {
        self.check(values)?;
        let q = LabelQuery(values);
        #[cfg(not(tachymeter_loom))]
        {
            let at = self.cache_key(&q);
            let names = self.inner.desc.label_names();
            if let Some(metric) = cache::hit_ref(at.0, at.1, at.2, &q, names) {
                return Ok(MetricRef::lent(metric));
            }
            Ok(MetricRef::owned(self.miss(q, at)))
        }
        #[cfg(tachymeter_loom)]
        {
            Ok(MetricRef::owned(self.get_or_insert(q)))
        }
    }

    /// The child for `values`, as [`try_with_label_values`](Self::try_with_label_values).
    ///
    /// # Panics
    ///
    /// If the number of values differs from the number of label names. This is the
    /// documented convenience form; use `try_with_label_values` where values come from input.
    #[inline]
    #[track_caller]
    pub fn with_label_values(&self, values: &[&str]) -> MetricRef<'_, M> {
        match self.try_with_label_values(values) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    /// Removes the child for `values` in O(1) expected time; returns whether it existed.
    /// Handles to it keep working but are no longer exposed; the next lookup of `values`
    /// creates a new child (a new series, with a new `_created`).
    ///
    /// # Errors
    ///
    /// [`LabelError::Cardinality`] if the number of values differs from the label names.
    pub fn remove(&self, values: &[&str]) -> Result<bool, LabelError> {
        self.check(values)?;
        let removed = self.inner.children.remove(&LabelQuery(values));
        self.bump_generation();
        Ok(removed)
    }

    /// Removes every child.
    pub fn clear(&self) {
        self.inner.children.clear();
        self.bump_generation();
    }

    /// Makes per-thread caches drop removed children; after every removal.
    fn bump_generation(&self) {
        // Release: pairs with the Acquire load in `with` (see there).
        self.inner.generation.fetch_add(1, Ordering::Release);
    }

    /// Number of children, the overflow child (see
    /// [`max_children`](crate::LabeledBuilder::max_children)) included.
    pub fn len(&self) -> usize {
        self.inner.children.len()
    }

    /// Whether the family has no children.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate heap bytes held by the children's values (not counting the map).
    #[doc(hidden)]
    pub fn children_heap_bytes(&self) -> usize {
        let mut n = 0;
        self.inner
            .children
            .for_each(|c, _| n += c.metric.heap_bytes() + c.heap_bytes());
        n
    }
}

impl<M: Metric> Collector for Family<M> {
    fn describe(&self) -> Vec<Descriptor> {
        vec![self.inner.desc.clone()]
    }

    fn check_const_labels(&self, const_labels: &[Box<str>]) -> Result<(), RegistrationError> {
        let inner = &*self.inner;
        let mut children = Vec::new();
        inner
            .children
            .for_each(|c, _| children.push(c.metric.clone()));
        M::check_const_labels(&inner.options, &children, const_labels).map_err(|label| {
            RegistrationError::ConstLabelClash {
                name: inner.desc.name().to_owned(),
                label: label.into(),
            }
        })
    }

    fn apply_default_max_children(&self, limit: usize) {
        // An unlabelled family has one child: a limit would only make it overflow.
        if !self.inner.desc.label_names().is_empty() {
            self.inner.life.default_limit(limit);
        }
    }

    fn overflowed_updates(&self, f: &mut dyn FnMut(&str, u64)) {
        let n = self.inner.life.overflowed();
        if n > 0 {
            f(self.inner.desc.name(), n);
        }
    }

    fn collect(&self, w: &mut MetricWriter<'_>) -> Result<(), EncodeError> {
        let inner = &*self.inner;
        // Counters, histograms and summaries carry `_created` (OpenMetrics only, and only
        // when the registry has it on): written here, once for every type, after the child's
        // own samples so it stays inside the child's MetricPoint.
        let created = (w.created() || w.sink_takes_created())
            && inner.desc.metric_type().suffixes().contains(&"_created");
        if let Some(mut fw) = w.family(&inner.desc) {
            let mut sweep = inner.life.sweep();
            inner.children.for_each(|c, idle| {
                if let (Some(s), Some(idle)) = (sweep.as_mut(), idle) {
                    if s.expired(c, idle) {
                        return;
                    }
                }
                fw.begin_child(c.id, created.then_some(c.created));
                c.metric.encode_child(&inner.options, &mut fw, c.labels());
                fw.end_child(c.labels());
            });
            if let Some(s) = sweep {
                if inner.children.remove_children(&s.into_expired()) > 0 {
                    self.bump_generation();
                }
            }
        }
        Ok(())
    }
}
