//! Module implementing the per-thread lookup cache in front of every family's shared map.
//!
//! A hit reads only this thread's cache and the child itself: no guard to pin, no lock, no
//! reference count, no shared cache line written. Each entry holds a clone of the child's
//! `Arc` (taken on the miss path) and the family's removal generation at the time; `remove`
//! and `clear` bump the generation, so a cached child that was removed is never used for a
//! lookup that starts after the removal. The cache is direct-mapped with 256 entries per
//! thread: at most that many removed children stay allocated until their slot is reused or
//! the thread exits.

use core::any::Any;
use core::cell::RefCell;

use super::{Child, LabelQuery};
use crate::sync::Arc;

const SLOTS: usize = 256;

struct Entry {
    family: u64,
    hash: u64,
    generation: u64,
    child: Arc<dyn Any + Send + Sync>,
}

std::thread_local! {
    static CACHE: RefCell<Vec<Option<Entry>>> = const { RefCell::new(Vec::new()) };
}

#[inline]
fn slot(family: u64, hash: u64) -> usize {
    // High bits: the multiplicative hash mixes upwards.
    ((hash ^ family).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize & (SLOTS - 1)
}

/// Runs `f` on the cached child for (`family`, `q`) if this thread has one that is still
/// current. Returns `None` on a miss, when the cache is unavailable (thread teardown), or when
/// called from inside another lookup's closure (re-entrant; the caller falls back).
#[inline]
pub(super) fn hit<M: 'static, R>(
    family: u64,
    hash: u64,
    generation: u64,
    q: &LabelQuery<'_>,
    f: impl FnOnce(&Child<M>) -> R,
) -> Result<R, impl FnOnce(&Child<M>) -> R> {
    let mut f = Some(f);
    let r = CACHE
        .try_with(|c| {
            let cache = c.try_borrow().ok()?;
            let e = cache.get(slot(family, hash))?.as_ref()?;
            if e.family != family || e.hash != hash || e.generation != generation {
                return None;
            }
            let child = e.child.downcast_ref::<Child<M>>()?;
            if !q.matches(&child.key) {
                return None;
            }
            f.take().map(|f| f(child))
        })
        .ok()
        .flatten();
    match (r, f) {
        (Some(r), _) => Ok(r),
        (None, Some(f)) => Err(f),
        // `f` is taken only when it runs and returns Some.
        (None, None) => unreachable!(),
    }
}

/// Remembers `child` for (`family`, `hash`) in this thread's cache.
pub(super) fn fill<M: Send + Sync + 'static>(
    family: u64,
    hash: u64,
    generation: u64,
    child: Arc<Child<M>>,
) {
    let _ = CACHE.try_with(|c| {
        if let Ok(mut cache) = c.try_borrow_mut() {
            if cache.is_empty() {
                cache.resize_with(SLOTS, || None);
            }
            cache[slot(family, hash)] = Some(Entry {
                family,
                hash,
                generation,
                child,
            });
        }
    });
}
