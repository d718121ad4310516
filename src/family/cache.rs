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

use core::any::TypeId;
use core::cell::RefCell;
use core::ptr::NonNull;

use super::{ChildRef, LabelQuery};

const SETS: usize = 128;
const WAYS: usize = 4;

struct Entry {
    family: u64,
    hash: u64,
    generation: u64,
    /// A `ChildRef<M>` given up by `into_erased`, for the `M` that `metric` names.
    child: NonNull<()>,
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
}

std::thread_local! {
    static CACHE: RefCell<Cache> = const {
        RefCell::new(Cache {
            entries: Vec::new(),
            victim: Vec::new(),
        })
    };
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
            // Family ids are unique and a family has one metric type, so the type check never
            // fails; it is what makes the cast below local knowledge (a compare of constants).
            if e.generation != generation || e.metric != TypeId::of::<M>() {
                return None;
            }
            // SAFETY: `fill` erased this pointer from a `ChildRef<M>` (the `TypeId` says which
            // `M`), the entry keeps it alive, and the borrow ends inside this closure, while
            // the cache is borrowed (so the entry cannot be replaced meanwhile).
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
            if cache.entries.is_empty() {
                cache.entries.resize_with(SETS * WAYS, || None);
                cache.victim.resize(SETS, 0);
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
            set[way] = Some(Entry {
                family,
                hash,
                generation,
                child: child.into_erased(),
                metric: TypeId::of::<M>(),
                release: release::<M>,
            });
        }
    });
}
