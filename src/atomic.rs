//! Module implementing float arithmetic on atomics, and the crate's ordering policy.
//!
//! # Ordering policy
//!
//! Metric values publish no other memory: a reader only needs each value to be a value that
//! was really stored, not a particular interleaving with other memory. So value updates and
//! scrape reads are `Relaxed`, and each such site says so. The only non-`Relaxed` operations
//! in the crate publish pointers to freshly initialised memory (a thread's new slot: `Release` on
//! the store, `Acquire` on the load) and hand thread indices over through a mutex.

use crate::sync::{AtomicU64, Ordering};

/// Adds `v` to the `f64` stored as bits in `cell`, with a compare-and-swap loop (for cells
/// with several writers).
#[inline]
pub(crate) fn f64_add(cell: &AtomicU64, v: f64) {
    f64_update(cell, |x| x + v);
}

/// Adds `v` to the `f64` in `cell` as [`f64_add`] does, but never past `f64::MAX` (a
/// counter's float part, which must stay finite).
#[inline]
pub(crate) fn f64_add_saturating(cell: &AtomicU64, v: f64) {
    f64_update(cell, |x| (x + v).min(f64::MAX));
}

/// Replaces the `f64` in `cell` by `f(old)`, with a compare-and-swap loop.
#[inline]
fn f64_update(cell: &AtomicU64, f: impl Fn(f64) -> f64) {
    // Relaxed: see the module's ordering policy; the CAS makes the update itself atomic.
    let mut cur = cell.load(Ordering::Relaxed);
    loop {
        let new = f(f64::from_bits(cur)).to_bits();
        match cell.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => cur = actual,
        }
    }
}
