//! Module implementing labelled families of metrics. See [`Family`].

use core::hash::{Hash, Hasher};

use crate::encode::{render_labels, Descriptor, MetricWriter};
use crate::error::{EncodeError, LabelError};
use crate::metrics::Metric;
use crate::registry::Collector;
use crate::sync::Arc;

/// The owned key of a child: its label values, in label-name order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LabelKey(Box<[Box<str>]>);

/// A borrowed lookup key, hashed exactly like [`LabelKey`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabelQuery<'q>(&'q [&'q str]);

// Both hash every value as (length, bytes): the length prefix keeps ["ab","c"] and
// ["a","bc"] apart, and equality below compares values in full, so a hash collision can never
// merge two series.
impl Hash for LabelKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for v in self.0.iter() {
            state.write_usize(v.len());
            state.write(v.as_bytes());
        }
    }
}

impl Hash for LabelQuery<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for v in self.0 {
            state.write_usize(v.len());
            state.write(v.as_bytes());
        }
    }
}

impl LabelQuery<'_> {
    fn matches(&self, key: &LabelKey) -> bool {
        self.0.len() == key.0.len() && self.0.iter().zip(key.0.iter()).all(|(a, b)| *a == &**b)
    }

    fn to_key(self) -> LabelKey {
        LabelKey(self.0.iter().map(|&v| v.into()).collect())
    }
}

/// A child of a family: the metric and its label pairs rendered once for exposition.
#[derive(Debug)]
pub(crate) struct Child<M> {
    pub(crate) metric: M,
    pub(crate) labels: Box<str>,
}

#[cfg(not(tachymeter_loom))]
mod map {
    //! Lock-free child map: `papaya`'s concurrent hash table. A lookup pins a thread-local
    //! guard and probes with atomic loads: it writes no shared cache line and takes no lock.
    use super::*;

    impl papaya::Equivalent<LabelKey> for LabelQuery<'_> {
        fn equivalent(&self, key: &LabelKey) -> bool {
            self.matches(key)
        }
    }

    pub(crate) struct ChildMap<M> {
        map: papaya::HashMap<LabelKey, Child<M>, ahash::RandomState>,
    }

    impl<M> ChildMap<M> {
        pub(crate) fn new() -> Self {
            ChildMap {
                // A random per-family seed: label values can come from untrusted input, so
                // the hash must not be predictable (hash flooding).
                // Blocking resizes: an incremental resize finishes only as later *writes* help
                // it, and until then every lookup probes the old table to its limit first
                // (measured: 80 ns instead of 10 for a 100-child family). Resizes happen on
                // inserts, which are rare and already the slow path.
                map: papaya::HashMap::builder()
                    .hasher(ahash::RandomState::new())
                    .resize_mode(papaya::ResizeMode::Blocking)
                    .build(),
            }
        }

        /// Runs `f` on the child for `q`, inserting `make()` first if there is none.
        #[inline]
        pub(crate) fn with<R>(
            &self,
            q: LabelQuery<'_>,
            make: impl FnOnce() -> Child<M>,
            f: impl FnOnce(&Child<M>) -> R,
        ) -> R {
            let pinned = self.map.pin();
            match pinned.get(&q) {
                Some(c) => f(c),
                // Whoever inserts first wins; every racer gets the winner's child.
                None => f(pinned.get_or_insert_with(q.to_key(), make)),
            }
        }

        pub(crate) fn remove(&self, q: &LabelQuery<'_>) -> bool {
            self.map.pin().remove(q).is_some()
        }

        pub(crate) fn clear(&self) {
            self.map.pin().clear();
        }

        pub(crate) fn len(&self) -> usize {
            self.map.len()
        }

        pub(crate) fn for_each(&self, mut f: impl FnMut(&Child<M>)) {
            let pinned = self.map.pin();
            for (_, c) in pinned.iter() {
                f(c);
            }
        }
    }
}

#[cfg(tachymeter_loom)]
mod map {
    //! Under loom the child map is a mutex-protected list with the same insert-or-get
    //! contract, so the models check this module's use of it (racing inserts of one child
    //! must yield one series). papaya's own algorithm is tested by papaya.
    use super::*;
    use crate::sync::{lock, Mutex};

    pub(crate) struct ChildMap<M> {
        map: Mutex<Vec<(LabelKey, Arc<Child<M>>)>>,
    }

    impl<M> ChildMap<M> {
        pub(crate) fn new() -> Self {
            ChildMap {
                map: Mutex::new(Vec::new()),
            }
        }

        pub(crate) fn with<R>(
            &self,
            q: LabelQuery<'_>,
            make: impl FnOnce() -> Child<M>,
            f: impl FnOnce(&Child<M>) -> R,
        ) -> R {
            let c = {
                let mut m = lock(&self.map);
                match m.iter().find(|(k, _)| q.matches(k)) {
                    Some((_, c)) => c.clone(),
                    None => {
                        let c = Arc::new(make());
                        m.push((q.to_key(), c.clone()));
                        c
                    }
                }
            };
            f(&c)
        }

        pub(crate) fn remove(&self, q: &LabelQuery<'_>) -> bool {
            let mut m = lock(&self.map);
            let before = m.len();
            m.retain(|(k, _)| !q.matches(k));
            m.len() != before
        }

        pub(crate) fn clear(&self) {
            lock(&self.map).clear();
        }

        pub(crate) fn len(&self) -> usize {
            lock(&self.map).len()
        }

        pub(crate) fn for_each(&self, mut f: impl FnMut(&Child<M>)) {
            let all: Vec<_> = lock(&self.map).iter().map(|(_, c)| c.clone()).collect();
            for c in all {
                f(&c);
            }
        }
    }
}

use map::ChildMap;

struct Inner<M: Metric> {
    desc: Descriptor,
    options: M::Options,
    children: ChildMap<M>,
}

/// A metric family: one child metric per combination of label values.
///
/// Looking up an existing child hashes the values (ahash, random per family), probes a
/// lock-free map and compares every value in full; it allocates nothing, takes no lock and
/// writes no shared cache line. Hot code should keep the handle that
/// [`with_label_values`](Family::with_label_values) returns (the pre-resolved form: an
/// increment through it costs what an unlabelled one does), or use
/// [`with`](Family::with) to act on a child without even touching its reference count.
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
        Family {
            inner: Arc::new(Inner {
                desc,
                options,
                children: ChildMap::new(),
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
        let inner = &*self.inner;
        Ok(inner.children.with(
            q,
            || Child {
                metric: M::new_child(&inner.options),
                labels: render_labels(inner.desc.label_names(), values),
            },
            |c| f(&c.metric),
        ))
    }

    /// The child for `values` (created if absent): a cheap handle that shares the child's
    /// value; keep it to skip the lookup next time.
    ///
    /// # Errors
    ///
    /// [`LabelError::Cardinality`] if the number of values differs from the label names.
    #[inline]
    pub fn try_with_label_values(&self, values: &[&str]) -> Result<M, LabelError> {
        self.with(values, M::clone)
    }

    /// The child for `values`, as [`try_with_label_values`](Self::try_with_label_values).
    ///
    /// # Panics
    ///
    /// If the number of values differs from the number of label names. This is the
    /// documented convenience form; use `try_with_label_values` where values come from input.
    #[inline]
    #[track_caller]
    pub fn with_label_values(&self, values: &[&str]) -> M {
        match self.try_with_label_values(values) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    /// Removes the child for `values`; returns whether it existed. Handles to it keep working
    /// but are no longer exposed.
    ///
    /// # Errors
    ///
    /// [`LabelError::Cardinality`] if the number of values differs from the label names.
    pub fn remove(&self, values: &[&str]) -> Result<bool, LabelError> {
        self.check(values)?;
        Ok(self.inner.children.remove(&LabelQuery(values)))
    }

    /// Removes every child.
    pub fn clear(&self) {
        self.inner.children.clear();
    }

    /// Number of children.
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
            .for_each(|c| n += c.metric.heap_bytes() + c.labels.len());
        n
    }
}

impl<M: Metric> Collector for Family<M> {
    fn describe(&self) -> Vec<Descriptor> {
        vec![self.inner.desc.clone()]
    }

    fn collect(&self, w: &mut MetricWriter<'_>) -> Result<(), EncodeError> {
        let inner = &*self.inner;
        if let Some(mut fw) = w.family(&inner.desc) {
            inner
                .children
                .for_each(|c| c.metric.encode_child(&inner.options, &mut fw, &c.labels));
        }
        Ok(())
    }
}
