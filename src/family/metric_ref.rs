//! Module implementing [`MetricRef`], the borrowed child that
//! [`Family::with_label_values`](super::Family::with_label_values) returns.

use core::marker::PhantomData;
use core::ptr::NonNull;

use super::ChildRef;

/// A family's child, borrowed for the current thread: what
/// [`with_label_values`](super::Family::with_label_values) returns.
///
/// It dereferences to the child's metric (`Counter`, `Gauge`, `Histogram`, …), so
/// `family.with_label_values(&["GET", "200"]).inc()` reads as it does in every Prometheus
/// client. Unlike a cloned handle it writes no shared memory: on the usual path (this thread
/// looked the labels up before) it points into the child that this thread's lookup cache
/// already holds, so two threads using the same child never write one reference count.
///
/// To keep the child beyond the current scope, store it in a struct, move it into another
/// thread or hold it across an `.await` of a `Send` future, take an owned handle with
/// [`handle`](Self::handle) (or `.clone()`, which derefs to the metric's `Clone`). A
/// `MetricRef` is neither `Send` nor `Sync`.
///
/// ```
/// use tachymeter::{Counter, Registry};
/// let registry = Registry::new();
/// let requests = Counter::builder("requests_total", "Requests.")
///     .labels(["method", "status"])
///     .register(&registry)?;
/// requests.with_label_values(&["GET", "200"]).inc(); // borrowed, no reference count
/// let kept: Counter = requests.with_label_values(&["GET", "200"]).handle(); // owned
/// std::thread::spawn(move || kept.inc()).join().unwrap();
/// assert_eq!(requests.with_label_values(&["GET", "200"]).get(), 2.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// It cannot leave its thread:
///
/// ```compile_fail
/// # use tachymeter::{Counter, Registry};
/// # let requests = Counter::builder("r_total", "R.").labels(["m"]).build().unwrap();
/// let borrowed = requests.with_label_values(&["GET"]);
/// std::thread::spawn(move || borrowed.inc()); // error: `MetricRef` is not `Send`
/// ```
///
/// While any `MetricRef` lent from the cache is alive on a thread, cache entries that thread
/// replaces are kept until the last one is dropped; a `MetricRef` that is leaked (for
/// example with `std::mem::forget`) keeps them for the thread's lifetime.
#[must_use]
pub struct MetricRef<'a, M> {
    /// The child's metric: inside `owned`'s child, or inside a child this thread's lookup
    /// cache holds (`owned` is `None`; see `cache.rs`, `hit_ref`).
    metric: NonNull<M>,
    owned: Option<ChildRef<M>>,
    /// Tied to the family borrow; `*const ()` makes it neither `Send` nor `Sync` (a lent
    /// child is kept alive by this thread's cache only).
    _family: PhantomData<(&'a M, *const ())>,
}

impl<M> MetricRef<'_, M> {
    /// A borrow lent by `cache::hit_ref`, given back on drop.
    #[cfg(not(tachymeter_loom))]
    pub(super) fn lent(metric: NonNull<M>) -> Self {
        MetricRef {
            metric,
            owned: None,
            _family: PhantomData,
        }
    }

    /// A child this `MetricRef` keeps alive itself (a lookup the cache could not serve).
    pub(super) fn owned(child: ChildRef<M>) -> Self {
        MetricRef {
            metric: NonNull::from(&child.metric),
            owned: Some(child),
            _family: PhantomData,
        }
    }

    /// An owned handle to the same child, to keep, store or send (the metric's clone: one
    /// reference-count increment).
    pub fn handle(&self) -> M
    where
        M: Clone,
    {
        (**self).clone()
    }
}

impl<M> core::ops::Deref for MetricRef<'_, M> {
    type Target = M;
    #[inline]
    #[allow(unsafe_code)]
    fn deref(&self) -> &M {
        // SAFETY: `metric` points into a child that stays allocated while `self` lives:
        // either `owned` holds a reference to it, or this thread's lookup cache does and
        // drops no entry while a lent borrow is counted (this one is, until `drop`); the
        // child is never written except through atomics, so sharing it is fine.
        unsafe { self.metric.as_ref() }
    }
}

impl<M> Drop for MetricRef<'_, M> {
    #[inline]
    fn drop(&mut self) {
        if self.owned.is_none() {
            #[cfg(not(tachymeter_loom))]
            super::cache::end_borrow();
        }
    }
}

impl<M: core::fmt::Debug> core::fmt::Debug for MetricRef<'_, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(all(test, not(tachymeter_loom)))]
mod tests {
    use super::super::cache;
    use crate::Counter;

    fn family() -> crate::Family<Counter> {
        Counter::builder("c_total", "C.")
            .labels(["k"])
            .build()
            .unwrap()
    }

    #[test]
    fn a_repeated_lookup_is_lent_from_the_cache() {
        let fam = family();
        let first = fam.with_label_values(&["a"]);
        assert!(first.owned.is_some(), "a miss keeps its own reference");
        first.inc();
        let again = fam.with_label_values(&["a"]);
        assert!(again.owned.is_none(), "a hit borrows the cached child");
        again.inc();
        assert_eq!(again.get(), 2.0);
        let kept = again.handle();
        drop((first, again));
        kept.inc();
        assert_eq!(fam.with_label_values(&["a"]).get(), 3.0);
    }

    #[test]
    fn a_lent_child_outlives_its_removal_and_its_cache_entry() {
        let fam = family();
        fam.with_label_values(&["a"]).inc();
        let lent = fam.with_label_values(&["a"]);
        assert!(lent.owned.is_none());
        // Removed (the family drops its references) and pushed out of this thread's cache
        // by enough other label sets to replace every entry.
        assert!(fam.remove(&["a"]).unwrap());
        let others: Vec<String> = (0..2_000).map(|i| format!("o{i}")).collect();
        for o in &others {
            fam.with_label_values(&[o]).inc();
        }
        assert!(
            cache::deferred_len() > 0,
            "replaced entries wait for the borrow"
        );
        lent.inc();
        assert_eq!(lent.get(), 2.0, "the removed child is still intact");
        drop(lent);
        assert_eq!(cache::deferred_len(), 0, "the last borrow frees them");
        assert_eq!(fam.with_label_values(&["a"]).get(), 0.0, "a new child");
    }

    #[test]
    fn a_borrow_ended_inside_a_closure_is_cleaned_up_by_the_next_miss() {
        let fam = family();
        fam.with_label_values(&["a"]).inc();
        let lent = fam.with_label_values(&["a"]);
        assert!(lent.owned.is_none());
        for i in 0..2_000 {
            fam.with_label_values(&[&format!("o{i}")]).inc();
        }
        assert!(cache::deferred_len() > 0);
        // Dropped while `with` holds the cache: the parked entries cannot go yet.
        fam.with(&["o1999"], move |_| drop(lent)).unwrap();
        assert!(cache::deferred_len() > 0);
        fam.with_label_values(&["fresh"]).inc();
        assert_eq!(cache::deferred_len(), 0);
    }

    #[test]
    fn nested_borrows_keep_entries_until_the_last_one_ends() {
        let fam = family();
        for k in ["a", "b"] {
            fam.with_label_values(&[k]).inc();
        }
        let a = fam.with_label_values(&["a"]);
        let b = fam.with_label_values(&["b"]);
        for i in 0..2_000 {
            fam.with_label_values(&[&format!("o{i}")]).inc();
        }
        drop(a);
        assert!(cache::deferred_len() > 0, "b still borrows");
        b.inc();
        assert_eq!(b.get(), 2.0);
        drop(b);
        assert_eq!(cache::deferred_len(), 0);
    }
}
