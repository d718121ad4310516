//! Module implementing the shared child map of a [`Family`](super::Family): who owns the
//! children, the authority every lookup falls back to, and where the child limit is decided.
//!
//! Two structures hold the same children: an index by label values (lock-free lookups) and
//! the creation-order list a scrape walks ([`Order`]). Every change (insert, remove, clear)
//! takes the writer lock, which keeps the two in step; neither lookups nor scrapes hold it
//! (a scrape takes it for an instant to register its walk), so creating a child never waits
//! for a scrape.

use super::order::{Idle, Order, Tally};
use super::{ChildRef, LabelKey, LabelQuery};
use crate::sync::{lock, AtomicUsize, Mutex, Ordering};

/// How [`ChildMap::get_or_insert`] resolved a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// An existing child, or one created now.
    Own,
    /// The family is at its limit: the overflow child.
    Overflow,
}

#[cfg(not(tachymeter_loom))]
mod index {
    //! Lookups are lock-free: `papaya`'s concurrent hash set of children, keyed by their label
    //! values; a lookup pins a thread-local guard and probes with atomic loads.
    use super::*;
    use core::hash::{Hash, Hasher};

    /// A child in the set, hashed and compared by its label values.
    struct Entry<M>(ChildRef<M>);

    impl<M> Hash for Entry<M> {
        fn hash<H: Hasher>(&self, state: &mut H) {
            self.0.key().hash(state);
        }
    }
    impl<M> PartialEq for Entry<M> {
        fn eq(&self, other: &Self) -> bool {
            self.0.key() == other.0.key()
        }
    }
    impl<M> Eq for Entry<M> {}

    impl<M> papaya::Equivalent<Entry<M>> for LabelQuery<'_> {
        fn equivalent(&self, e: &Entry<M>) -> bool {
            self.matches(e.0.key())
        }
    }

    // A key hashes exactly like the query of the same values (tested in the parent module).
    impl<M> papaya::Equivalent<Entry<M>> for LabelKey<'_> {
        fn equivalent(&self, e: &Entry<M>) -> bool {
            *self == e.0.key()
        }
    }

    pub(super) struct Index<M>(papaya::HashSet<Entry<M>, ahash::RandomState>);

    impl<M> Index<M> {
        pub(super) fn new(hasher: ahash::RandomState) -> Self {
            // Blocking resizes: an incremental resize finishes only as later *writes* help
            // it, and until then every lookup probes the old table to its limit first
            // (measured: 80 ns instead of 22 for a 100-child family built once). Resizes
            // happen on inserts, which are rare and already the slow path.
            Index(
                papaya::HashSet::builder()
                    .hasher(hasher)
                    .resize_mode(papaya::ResizeMode::Blocking)
                    .build(),
            )
        }

        pub(super) fn get(&self, q: &LabelQuery<'_>) -> Option<ChildRef<M>> {
            self.0.pin().get(q).map(|e| e.0.clone())
        }

        /// Only under the writer lock.
        pub(super) fn insert(&self, c: ChildRef<M>) {
            self.0.pin().insert(Entry(c));
        }

        pub(super) fn get_key(&self, k: LabelKey<'_>) -> Option<ChildRef<M>> {
            self.0.pin().get(&k).map(|e| e.0.clone())
        }

        /// Only under the writer lock.
        pub(super) fn remove_key(&self, k: LabelKey<'_>) {
            self.0.pin().remove(&k);
        }

        /// Only under the writer lock.
        pub(super) fn clear(&self) {
            self.0.pin().clear();
        }

        pub(super) fn len(&self) -> usize {
            self.0.len()
        }
    }
}

#[cfg(tachymeter_loom)]
mod index {
    //! Under loom the index is a mutex-protected list with the same contract, so the models
    //! check this crate's use of it (and the order list, which is the same code in both
    //! builds). papaya's own algorithm is tested by papaya.
    use super::*;

    pub(super) struct Index<M>(Mutex<Vec<ChildRef<M>>>);

    impl<M> Index<M> {
        pub(super) fn new(_: ahash::RandomState) -> Self {
            Index(Mutex::new(Vec::new()))
        }

        pub(super) fn get(&self, q: &LabelQuery<'_>) -> Option<ChildRef<M>> {
            lock(&self.0).iter().find(|c| q.matches(c.key())).cloned()
        }

        pub(super) fn insert(&self, c: ChildRef<M>) {
            lock(&self.0).push(c);
        }

        pub(super) fn get_key(&self, k: LabelKey<'_>) -> Option<ChildRef<M>> {
            lock(&self.0).iter().find(|c| c.key() == k).cloned()
        }

        pub(super) fn remove_key(&self, k: LabelKey<'_>) {
            lock(&self.0).retain(|c| c.key() != k);
        }

        pub(super) fn clear(&self) {
            lock(&self.0).clear();
        }

        pub(super) fn len(&self) -> usize {
            lock(&self.0).len()
        }
    }
}

use index::Index;

/// What the writer lock guards besides the two structures' consistency.
struct Writer<M> {
    tally: Tally,
    /// The overflow child, while it is in the map (it does not count against the limit).
    overflow: Option<ChildRef<M>>,
}

impl<M> Writer<M> {
    /// Children that count against the limit.
    fn counted(&self) -> usize {
        self.tally.live - usize::from(self.overflow.is_some())
    }
}

pub(crate) struct ChildMap<M> {
    index: Index<M>,
    /// Serialises every change of `index` and `order`.
    writer: Mutex<Writer<M>>,
    order: Order<M>,
    /// Children that count against the limit (all but the overflow child), as of the last
    /// change: a lock-free hint that the family is full. The writer decides exactly.
    limited: AtomicUsize,
}

impl<M> ChildMap<M> {
    pub(crate) fn new(hasher: ahash::RandomState) -> Self {
        ChildMap {
            index: Index::new(hasher),
            writer: Mutex::new(Writer {
                tally: Tally::default(),
                overflow: None,
            }),
            order: Order::new(),
            limited: AtomicUsize::new(0),
        }
    }

    /// The child for `q`, inserting `make(q)` if there is none and fewer than `limit`
    /// children count against the limit; at the limit, the child for `overflow` (created
    /// with `make(overflow)` if need be). Racing inserters of the same labels all get the
    /// one child that won.
    pub(crate) fn get_or_insert(
        &self,
        q: LabelQuery<'_>,
        limit: usize,
        overflow: LabelQuery<'_>,
        make: impl Fn(LabelQuery<'_>) -> (ChildRef<M>, Option<Idle>),
    ) -> (ChildRef<M>, Resolved) {
        if let Some(c) = self.index.get(&q) {
            return (c, Resolved::Own);
        }
        // Relaxed: a hint only (a stale value sends us to the writer, which decides).
        if self.limited.load(Ordering::Relaxed) >= limit {
            if let Some(c) = self.index.get(&overflow) {
                return (c, Resolved::Overflow);
            }
        }
        let mut w = lock(&self.writer);
        // Another thread may have inserted it while we waited for the lock.
        if let Some(c) = self.index.get(&q) {
            return (c, Resolved::Own);
        }
        let is_overflow_key = !q.0.is_empty() && q.0 == overflow.0;
        let (q, resolved) = if is_overflow_key || w.counted() < limit {
            (q, Resolved::Own)
        } else if let Some(c) = &w.overflow {
            return (c.clone(), Resolved::Overflow);
        } else {
            (overflow, Resolved::Overflow)
        };
        let (fresh, idle) = make(q);
        if is_overflow_key || resolved == Resolved::Overflow {
            w.overflow = Some(fresh.clone());
        }
        self.index.insert(fresh.clone());
        self.order.push(&mut w.tally, &fresh, idle);
        self.publish(&w);
        (fresh, resolved)
    }

    fn publish(&self, w: &Writer<M>) {
        // Relaxed: a hint (see the field).
        self.limited.store(w.counted(), Ordering::Relaxed);
    }

    /// Removes the child for `q`; returns whether it existed.
    pub(crate) fn remove(&self, q: &LabelQuery<'_>) -> bool {
        let mut w = lock(&self.writer);
        let Some(c) = self.index.get(q) else {
            return false;
        };
        self.unlink(&mut w, &c);
        self.order.compact_if_worth_it(&mut w.tally);
        self.publish(&w);
        true
    }

    /// Removes each of `children` that is still in the map (the very child, not just one with
    /// the same labels); returns how many were.
    pub(crate) fn remove_children(&self, children: &[ChildRef<M>]) -> usize {
        if children.is_empty() {
            return 0;
        }
        let mut w = lock(&self.writer);
        let mut n = 0;
        for c in children {
            if self
                .index
                .get_key(c.key())
                .is_some_and(|cur| ChildRef::ptr_eq(&cur, c))
            {
                self.unlink(&mut w, c);
                n += 1;
            }
        }
        self.order.compact_if_worth_it(&mut w.tally);
        self.publish(&w);
        n
    }

    fn unlink(&self, w: &mut Writer<M>, c: &ChildRef<M>) {
        self.index.remove_key(c.key());
        self.order.remove(&mut w.tally, c);
        if w.overflow.as_ref().is_some_and(|o| ChildRef::ptr_eq(o, c)) {
            w.overflow = None;
        }
    }

    pub(crate) fn clear(&self) {
        let mut w = lock(&self.writer);
        self.index.clear();
        self.order.clear(&mut w.tally);
        w.overflow = None;
        self.publish(&w);
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// Calls `f` on every child in creation order, holding one segment's lock at a time and
    /// never the writer lock: children created meanwhile do not wait (and are not visited);
    /// every child present for the whole walk is visited exactly once, one removed meanwhile
    /// at most once, and never two children with the same labels.
    pub(crate) fn for_each(&self, f: impl FnMut(&ChildRef<M>, Option<&mut Idle>)) {
        self.order.walk(&self.writer, f);
    }

    /// Every child, in creation order, cloned out (so the caller holds no lock while it looks
    /// at them: it may use the family, even remove children).
    pub(crate) fn snapshot(&self) -> Vec<ChildRef<M>> {
        let mut all = Vec::new();
        self.order.walk(&self.writer, |c, _| all.push(c.clone()));
        all
    }
}
