//! Module implementing the shared child map of a [`Family`](super::Family): who owns the
//! children, and the authority every lookup falls back to.

use super::{Child, LabelQuery};
use crate::sync::Arc;

#[cfg(not(tachymeter_loom))]
mod imp {
    //! Lookups are lock-free: `papaya`'s concurrent hash set of children, keyed by their label
    //! values; a lookup pins a thread-local guard and probes with atomic loads. Changes
    //! (insert, remove, clear) are serialised by a mutex that also guards the creation-order
    //! list the encoder walks, so expositions list children in the order they were created,
    //! and the set and the list always hold the same children.
    use super::*;
    use crate::sync::{lock, Mutex};
    use core::hash::{Hash, Hasher};

    /// A child in the set, hashed and compared by its label values.
    pub(super) struct Entry<M>(pub(super) Arc<Child<M>>);

    impl<M> Hash for Entry<M> {
        fn hash<H: Hasher>(&self, state: &mut H) {
            self.0.key.hash(state);
        }
    }
    impl<M> PartialEq for Entry<M> {
        fn eq(&self, other: &Self) -> bool {
            self.0.key == other.0.key
        }
    }
    impl<M> Eq for Entry<M> {}

    impl<M> papaya::Equivalent<Entry<M>> for LabelQuery<'_> {
        fn equivalent(&self, e: &Entry<M>) -> bool {
            self.matches(&e.0.key)
        }
    }

    pub(crate) struct ChildMap<M> {
        set: papaya::HashSet<Entry<M>, ahash::RandomState>,
        /// Children in creation order. Held while changing the set, and while encoding.
        order: Mutex<Vec<Arc<Child<M>>>>,
    }

    impl<M> ChildMap<M> {
        pub(crate) fn new(hasher: ahash::RandomState) -> Self {
            ChildMap {
                // Blocking resizes: an incremental resize finishes only as later *writes*
                // help it, and until then every lookup probes the old table to its limit
                // first (measured: 80 ns instead of 22 for a 100-child family built once).
                // Resizes happen on inserts, which are rare and already the slow path.
                set: papaya::HashSet::builder()
                    .hasher(hasher)
                    .resize_mode(papaya::ResizeMode::Blocking)
                    .build(),
                order: Mutex::new(Vec::new()),
            }
        }

        /// The child for `q`, inserting `make()` if there is none. Racing inserters of the
        /// same labels all get the one child that won.
        pub(crate) fn get_or_insert(
            &self,
            q: LabelQuery<'_>,
            make: impl FnOnce() -> Child<M>,
        ) -> Arc<Child<M>> {
            let set = self.set.pin();
            if let Some(e) = set.get(&q) {
                return e.0.clone();
            }
            let mut order = lock(&self.order);
            // Another thread may have inserted it while we waited for the lock.
            if let Some(e) = set.get(&q) {
                return e.0.clone();
            }
            let fresh = Arc::new(make());
            set.insert(Entry(fresh.clone()));
            order.push(fresh.clone());
            fresh
        }

        pub(crate) fn remove(&self, q: &LabelQuery<'_>) -> bool {
            let mut order = lock(&self.order);
            let removed = self.set.pin().remove(q);
            if removed {
                order.retain(|c| !q.matches(&c.key));
            }
            removed
        }

        pub(crate) fn clear(&self) {
            let mut order = lock(&self.order);
            self.set.pin().clear();
            order.clear();
        }

        pub(crate) fn len(&self) -> usize {
            self.set.len()
        }

        /// Calls `f` on every child in creation order; children created meanwhile wait.
        pub(crate) fn for_each(&self, mut f: impl FnMut(&Child<M>)) {
            for c in lock(&self.order).iter() {
                f(c);
            }
        }
    }
}

#[cfg(tachymeter_loom)]
mod imp {
    //! Under loom the child map is a mutex-protected list with the same insert-or-get
    //! contract, so the models check this crate's use of it (racing inserts of one child
    //! must yield one series). papaya's own algorithm is tested by papaya.
    use super::*;
    use crate::sync::{lock, Mutex};

    pub(crate) struct ChildMap<M> {
        list: Mutex<Vec<Arc<Child<M>>>>,
    }

    impl<M> ChildMap<M> {
        pub(crate) fn new(_: ahash::RandomState) -> Self {
            ChildMap {
                list: Mutex::new(Vec::new()),
            }
        }

        pub(crate) fn get_or_insert(
            &self,
            q: LabelQuery<'_>,
            make: impl FnOnce() -> Child<M>,
        ) -> Arc<Child<M>> {
            let mut l = lock(&self.list);
            if let Some(c) = l.iter().find(|c| q.matches(&c.key)) {
                return c.clone();
            }
            let c = Arc::new(make());
            l.push(c.clone());
            c
        }

        pub(crate) fn remove(&self, q: &LabelQuery<'_>) -> bool {
            let mut l = lock(&self.list);
            let before = l.len();
            l.retain(|c| !q.matches(&c.key));
            l.len() != before
        }

        pub(crate) fn clear(&self) {
            lock(&self.list).clear();
        }

        pub(crate) fn len(&self) -> usize {
            lock(&self.list).len()
        }

        pub(crate) fn for_each(&self, mut f: impl FnMut(&Child<M>)) {
            let all: Vec<_> = lock(&self.list).clone();
            for c in all {
                f(&c);
            }
        }
    }
}

pub(crate) use imp::ChildMap;
