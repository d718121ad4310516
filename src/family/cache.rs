//! Module implementing the per-thread lookup cache in front of every family's shared map.
//!
//! A hit reads only this thread's cache and the child itself: no guard to pin, no lock, no
//! reference count, no shared cache line written. Each entry holds a counted reference to the
//! child (taken on the miss path) and the family's removal generation at the time; `remove`
//! and `clear` bump the generation, so a cached child that was removed is never used for a
//! lookup that starts after the removal. The cache is 4-way set-associative with 512 entries
//! per thread (about 20 KiB, allocated on the thread's first lookup), so a thread cycling over
//! a few hundred label sets keeps hitting; at most that many removed children stay allocated
//! until their entry is reused or the thread exits.
//!
//! A hit can also lend the child out: [`hit_ref`] returns a pointer to the metric that stays
//! valid while the caller's [`MetricRef`](super::MetricRef) lives, without touching the
//! child's reference count. The entry's reference keeps the child allocated; while any such
//! borrow is alive on the thread (`GUARDS`), an entry that `fill` replaces is not dropped but
//! parked in `deferred` until the last borrow ends, and a cache torn down meanwhile (thread
//! exit) leaks its entries rather than free a lent child.

#[cfg(debug_assertions)]
use core::any::TypeId;
use core::cell::{Cell, RefCell};
use core::ptr::NonNull;

use super::{ChildRef, LabelQuery};

const SETS: usize = 128;
const WAYS: usize = 4;

struct Entry {
    family: u64,
    hash: u64,
    generation: u64,
    /// A `ChildRef<M>` given up by `into_erased`, for the `M` of the family `family` names
    /// (family ids are process-unique and a family has one metric type).
    child: NonNull<()>,
    /// That `M`, checked in debug builds (release builds rely on the family id alone: the
    /// compare cost 6 % of a hit).
    #[cfg(debug_assertions)]
    metric: TypeId,
    /// Takes `child` back (and drops it) as the `ChildRef<M>` it was.
    release: unsafe fn(NonNull<()>),
}

/// `Entry::release` for children of `M`.
///
/// # Safety
///
/// `p` came from `ChildRef::<M>::into_erased` and is taken back once.
#[allow(unsafe_code)]
unsafe fn release<M>(p: NonNull<()>) {
    // SAFETY: forwarded contract.
    drop(unsafe { ChildRef::<M>::from_erased(p) });
}

impl Drop for Entry {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: `fill` stored `release::<M>` with a `child` erased from a `ChildRef<M>`;
        // the entry owns that reference and is dropped once.
        unsafe { (self.release)(self.child) }
    }
}

struct Cache {
    /// `SETS` sets of `WAYS` entries each, contiguous per set.
    entries: Vec<Option<Entry>>,
    /// Per set, the way to evict next (round robin).
    victim: Vec<u8>,
    /// Entries replaced while a borrow was alive (see the module docs).
    deferred: Vec<Entry>,
}

impl Drop for Cache {
    fn drop(&mut self) {
        // A borrow still alive at thread exit (a `MetricRef` kept in another thread-local,
        // or forgotten) may point into any entry's child: leak them all instead.
        if GUARDS.try_with(|g| g.get() & !DEFERRED).unwrap_or(0) > 0 {
            core::mem::forget(core::mem::take(&mut self.entries));
            core::mem::forget(core::mem::take(&mut self.deferred));
        }
    }
}

/// Entries `deferred` holds without growing.
const DEFERRED_ROOM: usize = 16;

/// Flag in `GUARDS`: `deferred` holds entries (checked when the count drops to zero).
const DEFERRED: usize = 1 << (usize::BITS - 1);

std::thread_local! {
    static CACHE: RefCell<Cache> = const {
        RefCell::new(Cache {
            entries: Vec::new(),
            victim: Vec::new(),
            deferred: Vec::new(),
        })
    };
    /// Borrows lent by [`hit_ref`] and not yet given back, plus the [`DEFERRED`] flag. No
    /// destructor, so it stays usable while other thread-locals are torn down.
    static GUARDS: Cell<usize> = const { Cell::new(0) };
}

/// A pointer to the metric of the cached child for (`family`, `q`), valid until the caller
/// calls [`end_borrow`] once for it (see the module docs); `None` on a miss, as [`hit`].
#[inline]
pub(super) fn hit_ref<M: 'static>(
    family: u64,
    hash: u64,
    generation: u64,
    q: &LabelQuery<'_>,
    names: &[Box<str>],
) -> Option<NonNull<M>> {
    let p = hit(family, hash, generation, q, names, |c: &ChildRef<M>| {
        NonNull::from(&c.metric)
    })
    .ok()?;
    // Counted before anything else runs on this thread, so no entry can be dropped between
    // the lookup and the count.
    GUARDS.with(|g| g.set(g.get() + 1));
    Some(p)
}

/// Gives back one borrow lent by [`hit_ref`].
#[inline]
pub(super) fn end_borrow() {
    let left = GUARDS.with(|g| {
        let v = g.get() - 1;
        g.set(v);
        v
    });
    if left == DEFERRED {
        drop_deferred();
    }
}

/// Drops the parked entries once no borrow is left (unless the cache is busy: then the next
/// `fill` does it).
#[cold]
fn drop_deferred() {
    let _ = CACHE.try_with(|c| {
        if let Ok(mut cache) = c.try_borrow_mut() {
            GUARDS.with(|g| g.set(g.get() & !DEFERRED));
            cache.deferred.clear();
        }
    });
}

/// First entry index of the set for (`family`, `hash`).
#[inline]
fn set_start(family: u64, hash: u64) -> usize {
    // High bits: the multiplicative hash mixes upwards.
    let set = ((hash ^ family).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57) as usize & (SETS - 1);
    set * WAYS
}

/// Runs `f` on the cached child for (`family`, `q`) if this thread has one that is still
/// current. Returns `None` on a miss, when the cache is unavailable (thread teardown), or when
/// called from inside another lookup's closure (re-entrant; the caller falls back).
#[inline]
#[allow(unsafe_code)]
pub(super) fn hit<M: 'static, R>(
    family: u64,
    hash: u64,
    generation: u64,
    q: &LabelQuery<'_>,
    names: &[Box<str>],
    f: impl FnOnce(&ChildRef<M>) -> R,
) -> Result<R, impl FnOnce(&ChildRef<M>) -> R> {
    let mut f = Some(f);
    let r = CACHE
        .try_with(|c| {
            let cache = c.try_borrow().ok()?;
            let start = set_start(family, hash);
            let set = cache.entries.get(start..start + WAYS)?;
            let e = set
                .iter()
                .flatten()
                .find(|e| e.hash == hash && e.family == family)?;
            if e.generation != generation {
                return None;
            }
            #[cfg(debug_assertions)]
            assert!(e.metric == TypeId::of::<M>(), "one family, one metric type");
            // SAFETY: `fill` erased this pointer from a `ChildRef<M>`, and this `M` is that
            // one: entries are filled only by `Family<M>::with`/`try_with_label_values` under
            // the family's process-unique id, which matched above. The entry keeps it alive,
            // and the borrow ends inside this closure, while the cache is borrowed (so the
            // entry cannot be replaced meanwhile).
            let child = unsafe { ChildRef::<M>::borrow_erased(&e.child) };
            if !q.matches_in(child.key(), names) {
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
    child: ChildRef<M>,
) {
    let _ = CACHE.try_with(|c| {
        if let Ok(mut cache) = c.try_borrow_mut() {
            let cache = &mut *cache;
            let guards = GUARDS.with(Cell::get);
            if guards == DEFERRED {
                GUARDS.with(|g| g.set(0));
                cache.deferred.clear();
            }
            if cache.entries.is_empty() {
                cache.entries.resize_with(SETS * WAYS, || None);
                cache.victim.resize(SETS, 0);
                // Room for the entries replaced during a few borrows, so that parking them
                // allocates nothing (its capacity stays through `clear`).
                cache.deferred.reserve(DEFERRED_ROOM);
            }
            let start = set_start(family, hash);
            let set = &mut cache.entries[start..start + WAYS];
            // The same key (a stale generation), else a free way, else round robin.
            let way = set
                .iter()
                .position(|e| {
                    e.as_ref()
                        .is_some_and(|e| e.hash == hash && e.family == family)
                })
                .or_else(|| set.iter().position(Option::is_none))
                .unwrap_or_else(|| {
                    let v = &mut cache.victim[start / WAYS];
                    *v = (*v + 1) % WAYS as u8;
                    usize::from(*v)
                });
            if guards & !DEFERRED > 0 {
                if let Some(old) = set[way].take() {
                    cache.deferred.push(old);
                    GUARDS.with(|g| g.set(g.get() | DEFERRED));
                }
            }
            set[way] = Some(Entry {
                family,
                hash,
                generation,
                child: child.into_erased(),
                #[cfg(debug_assertions)]
                metric: TypeId::of::<M>(),
                release: release::<M>,
            });
        }
    });
}

/// Entries parked for live borrows on this thread (tests).
#[cfg(test)]
pub(super) fn deferred_len() -> usize {
    CACHE.with(|c| c.borrow().deferred.len())
}
