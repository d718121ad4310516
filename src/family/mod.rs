//! Module implementing labelled families of metrics. See [`Family`].

use core::hash::{Hash, Hasher};

use crate::encode::{render_labels, Descriptor, MetricWriter};
use crate::error::{EncodeError, LabelError, RegistrationError};
use crate::metrics::Metric;
use crate::registry::Collector;
use crate::sync::{Arc, Ordering};

/// The owned key of a child: its label values in label-name order, in one allocation (so a
/// lookup compares it with one pointer chase): each value as a 4-byte little-endian length,
/// then its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LabelKey(Box<[u8]>);

impl LabelKey {
    /// The values' bytes, in order.
    fn values(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut rest = &self.0[..];
        core::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let (v, tail) = tail.split_at(u32::from_le_bytes(*len) as usize);
            rest = tail;
            Some(v)
        })
    }
}

/// A borrowed lookup key, hashed exactly like [`LabelKey`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabelQuery<'q>(&'q [&'q str]);

// Both hash every value as (length, bytes): the length prefix keeps ["ab","c"] and
// ["a","bc"] apart, and equality below compares values in full, so a hash collision can never
// merge two series.
impl Hash for LabelKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for v in self.values() {
            state.write_usize(v.len());
            state.write(v);
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
    /// Full comparison of every value (never by hash alone).
    #[inline]
    fn matches(&self, key: &LabelKey) -> bool {
        let mut rest = &key.0[..];
        for v in self.0 {
            let v = v.as_bytes();
            let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                return false;
            };
            let len = u32::from_le_bytes(*len) as usize;
            if len != v.len() || !bytes_eq(v, &tail[..len]) {
                return false;
            }
            rest = &tail[len..];
        }
        rest.is_empty()
    }

    /// A fast, unkeyed hash of the values for the per-thread cache, where a collision (even a
    /// provoked one) only costs a miss: the entry is compared in full before use.
    #[cfg(not(tachymeter_loom))]
    #[inline]
    fn quick_hash(&self) -> u64 {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mix = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(K);
        let mut h = 0u64;
        for v in self.0 {
            let b = v.as_bytes();
            h = mix(h, b.len() as u64);
            if b.len() <= 16 {
                let (w1, w2) = words(b);
                h = mix(mix(h, w1), w2);
            } else {
                for c in b.chunks(8) {
                    h = mix(h, words(c).0);
                }
            }
        }
        h
    }

    /// The owned key. Label values longer than `u32::MAX` bytes are not supported (an
    /// exposition line that long is not either).
    fn to_key(self) -> LabelKey {
        let mut k = Vec::with_capacity(self.0.iter().map(|v| 4 + v.len()).sum());
        for v in self.0 {
            k.extend_from_slice(&(v.len() as u32).to_le_bytes());
            k.extend_from_slice(v.as_bytes());
        }
        LabelKey(k.into_boxed_slice())
    }
}

/// Two words that together hold every byte of `b` (at most 16 bytes), by overlapping loads:
/// for equal lengths, equal words mean equal bytes.
#[inline]
fn words(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    let le4 = |s: &[u8]| u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
    let le8 = |s: &[u8]| u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]);
    match n {
        0 => (0, 0),
        1..=3 => (
            u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16,
            0,
        ),
        4..=7 => (le4(b), le4(&b[n - 4..])),
        _ => (le8(b), le8(&b[n - 8..])),
    }
}

/// Byte equality without a `memcmp` call for the short values labels usually hold.
#[inline]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && if a.len() <= 16 {
            words(a) == words(b)
        } else {
            a == b
        }
}

/// A child of a family: its label values, the metric, and its label pairs rendered once for
/// exposition.
#[derive(Debug)]
pub(crate) struct Child<M> {
    pub(crate) key: LabelKey,
    pub(crate) metric: M,
    pub(crate) labels: Box<str>,
    /// When the child was created, in seconds since the Unix epoch (`_created`).
    pub(crate) created: f64,
    /// Process-unique identity, never reused: remote write caches each series' encoded
    /// labels under it (an address could be reused by a later child once this one is freed).
    pub(crate) id: u64,
    /// Position in the creation-order list (see `order.rs`); only under the writer lock.
    pub(crate) pos: crate::sync::AtomicUsize,
}

#[cfg(not(tachymeter_loom))]
mod cache;
mod lifecycle;
mod map;
mod order;

pub use lifecycle::{set_overflow_hook, OverflowEvent, OVERFLOW_LABEL_VALUE};
pub(crate) use lifecycle::{Lifecycle, LifecycleConfig};
use map::{ChildMap, Resolved};
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
            let inner = &*self.inner;
            let hash = q.quick_hash();
            // Acquire pairs with the Release bump in `remove`/`clear`: reading the new
            // generation means the shared map no longer holds the removed child. Read it
            // before the map, so a child found there is never cached under a newer generation
            // than the removal that unlinked it.
            let generation = inner.generation.load(Ordering::Acquire);
            let f = match cache::hit(inner.id, hash, generation, &q, |c: &Child<M>| f(&c.metric)) {
                Ok(r) => return Ok(r),
                Err(f) => f,
            };
            let child = self.get_or_insert(q);
            // Not the overflow child under an overflowed query: that entry would never hit.
            if q.matches(&child.key) {
                cache::fill(inner.id, hash, generation, child.clone());
            }
            Ok(f(&child))
        }
        #[cfg(tachymeter_loom)]
        {
            Ok(f(&self.get_or_insert(q).metric))
        }
    }

    #[cold]
    fn get_or_insert(&self, q: LabelQuery<'_>) -> Arc<Child<M>> {
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
                let child = Child {
                    key: q.to_key(),
                    labels: render_labels(inner.desc.label_names(), q.0),
                    created: crate::encode::now_seconds(),
                    // AcqRel: pairs with the Acquire load that starts a scrape's walk (see
                    // `Order::walk`): ids order creations for walks, not just name them.
                    id: NEXT_CHILD_ID.fetch_add(1, std::sync::atomic::Ordering::AcqRel),
                    pos: crate::sync::AtomicUsize::new(0),
                    metric,
                };
                (child, idle)
            },
        );
        if resolved == Resolved::Overflow {
            inner.life.note_overflow(&inner.desc);
        }
        child
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
            .for_each(|c, _| n += c.metric.heap_bytes() + c.labels.len());
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
                c.metric.encode_child(&inner.options, &mut fw, &c.labels);
                fw.end_child(&c.labels);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_eq_agrees_with_byte_equality_at_every_length() {
        let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for n in 0..40 {
            let a = std::str::from_utf8(&base[..n]).unwrap();
            assert!(bytes_eq(a.as_bytes(), a.as_bytes()));
            for i in 0..n {
                // Differ in exactly one position: must be unequal wherever it is.
                let mut m = base[..n].to_vec();
                m[i] = b'Z';
                let b = std::str::from_utf8(&m).unwrap();
                assert!(
                    !bytes_eq(a.as_bytes(), b.as_bytes()),
                    "len {n}, position {i}"
                );
            }
            if n > 0 {
                assert!(!bytes_eq(a.as_bytes(), &base[..n - 1]));
            }
        }
    }

    #[test]
    fn key_and_query_hash_and_compare_alike() {
        let s = ahash::RandomState::new();
        for v in [
            &["a", "bc"][..],
            &["ab", "c"],
            &["", ""],
            &[],
            &["ünï", "x".repeat(40).as_str()],
        ] {
            let key = LabelQuery(v).to_key();
            assert_eq!(s.hash_one(&key), s.hash_one(LabelQuery(v)), "{v:?}");
            assert!(LabelQuery(v).matches(&key));
            assert_eq!(key.values().count(), v.len());
        }
        let key = LabelQuery(&["ab", "c"]).to_key();
        assert!(!LabelQuery(&["a", "bc"]).matches(&key));
        assert!(!LabelQuery(&["ab"]).matches(&key));
        assert!(!LabelQuery(&["ab", "c", ""]).matches(&key));
    }

    #[cfg(not(tachymeter_loom))]
    #[test]
    fn quick_hash_separates_value_boundaries() {
        let h = |v: &[&str]| LabelQuery(v).quick_hash();
        assert_ne!(h(&["ab", "c"]), h(&["a", "bc"]));
        assert_ne!(h(&["", "abc"]), h(&["abc", ""]));
        assert_eq!(h(&["GET", "/p42"]), h(&["GET", "/p42"]));
    }
}
