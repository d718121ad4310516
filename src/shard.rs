//! Module implementing per-thread, single-writer, cache-padded shards. See [`Sharded`].
//!
//! # Design
//!
//! Every thread that records a metric gets a small **thread index** from a global pool the
//! first time it does so; the index goes back to the pool when the thread exits and the lowest
//! free index is handed out first, so indices stay dense.
//!
//! A metric's storage is a [`Sharded<S>`] where `S` is a *slot* (a few atomics: a counter's
//! integer and float parts, or a histogram's buckets and sum):
//!
//! * a **home** slot, owned by the first thread that writes the metric. Only the thread that
//!   holds the owner index writes it, so an update is a plain `load` + `store` (no locked
//!   instruction). A metric touched by one thread costs one slot, not one per possible thread.
//! * once a second thread writes, the metric **inflates** (as Java's `LongAdder` does) to an
//!   array of `shard_count()` cache-padded slots, one per thread index below that count, plus
//!   one shared **overflow** slot for threads whose index does not fit (or that run during
//!   thread-local teardown). From then on every writer, the former owner included, uses its own
//!   padded slot, so no cache line is written by two threads and the home slot is frozen.
//!   Only the overflow slot is shared; it is updated with atomic read-modify-writes.
//!
//! Readers sum home + every shard + overflow. No update is ever lost: a slot with a single
//! writer is only ever written by the thread holding that index, and an index changes hands
//! only through the pool's mutex, which orders the departing thread's last store before the
//! next owner's first load.

use core::cell::Cell;
use core::ptr;
use crossbeam_utils::CachePadded;

use crate::sync::{lock, AtomicPtr, Mutex, Ordering};

/// Slot id of the home slot (see [`Sharded::by_id`]).
pub(crate) const HOME_ID: usize = 0;

/// Most shards a metric inflates to (see [`shard_count`]).
const MAX_SHARDS: usize = 256;

/// Largest slot id [`Sharded::locate`] can return: the overflow slot of a metric with the
/// most shards.
pub(crate) const MAX_SLOT_ID: usize = MAX_SHARDS + 1;

/// Index value meaning "this thread has no index (TLS torn down or pool exhausted)".
pub(crate) const NO_INDEX: usize = usize::MAX;

/// Owner value of a [`Sharded`] whose home slot nobody has claimed yet. Neither a real index
/// nor `NO_INDEX`, so `owner == thread_index()` alone decides ownership.
const UNOWNED: usize = usize::MAX - 2;

/// The pool of thread indices: the next never-used index and the returned ones.
#[derive(Default)]
struct IndexPool {
    next: usize,
    /// Returned indices, kept sorted descending so `pop` yields the lowest.
    free: Vec<usize>,
}

impl IndexPool {
    fn acquire(&mut self) -> usize {
        if let Some(i) = self.free.pop() {
            return i;
        }
        let i = self.next;
        self.next += 1;
        i
    }

    fn release(&mut self, i: usize) {
        // Insert keeping descending order; the list is at most the number of threads that
        // ever ran concurrently, and this runs once per thread exit.
        let pos = self.free.partition_point(|&x| x > i);
        self.free.insert(pos, i);
    }
}

#[cfg(not(tachymeter_loom))]
mod tls {
    use super::*;

    static POOL: Mutex<IndexPool> = Mutex::new(IndexPool {
        next: 0,
        free: Vec::new(),
    });

    pub(super) fn pool() -> &'static Mutex<IndexPool> {
        &POOL
    }

    crate::sync::thread_local! {
        /// This thread's index, `UNSET` before first use, `NO_INDEX` after teardown.
        /// Const-initialised and without a destructor, so reading it is a plain TLS load.
        static INDEX: Cell<usize> = const { Cell::new(UNSET) };
        /// Returns the index to the pool when the thread exits.
        static GUARD: Registration = const { Registration(Cell::new(NO_INDEX)) };
    }

    const UNSET: usize = NO_INDEX - 1;

    pub(super) struct Registration(Cell<usize>);

    impl Drop for Registration {
        fn drop(&mut self) {
            let i = self.0.get();
            if i != NO_INDEX {
                // Later TLS destructors that record metrics see NO_INDEX and take the
                // shared path instead of re-registering.
                let _ = INDEX.try_with(|c| c.set(NO_INDEX));
                lock(pool()).release(i);
            }
        }
    }

    #[inline]
    pub(crate) fn thread_index() -> usize {
        let i = INDEX.try_with(Cell::get).unwrap_or(NO_INDEX);
        if i < UNSET {
            i
        } else if i == UNSET {
            register()
        } else {
            NO_INDEX
        }
    }

    #[cold]
    fn register() -> usize {
        let i = lock(pool()).acquire();
        match GUARD.try_with(|g| g.0.set(i)) {
            Ok(()) => {
                let _ = INDEX.try_with(|c| c.set(i));
                i
            }
            Err(_) => {
                // TLS is being torn down: give the index straight back.
                lock(pool()).release(i);
                let _ = INDEX.try_with(|c| c.set(NO_INDEX));
                NO_INDEX
            }
        }
    }
}

#[cfg(tachymeter_loom)]
mod tls {
    use super::*;
    use crate::sync::Arc;

    loom::lazy_static! {
        static ref POOL: Arc<Mutex<IndexPool>> = Arc::new(Mutex::new(IndexPool::default()));
    }

    /// Holds its own handle on the pool: loom may tear the lazy static down before the main
    /// model thread's thread-locals are dropped.
    pub(super) struct Registration(Cell<usize>, Cell<Option<Arc<Mutex<IndexPool>>>>);

    impl Drop for Registration {
        fn drop(&mut self) {
            let i = self.0.get();
            if let Some(pool) = self.1.take() {
                if i != NO_INDEX {
                    lock(&pool).release(i);
                }
            }
        }
    }

    crate::sync::thread_local! {
        static GUARD: Registration = Registration(Cell::new(NO_INDEX), Cell::new(None));
    }

    pub(crate) fn thread_index() -> usize {
        GUARD
            .try_with(|g| {
                if g.0.get() == NO_INDEX {
                    let pool: Arc<Mutex<IndexPool>> = POOL.clone();
                    g.0.set(lock(&pool).acquire());
                    g.1.set(Some(pool));
                }
                g.0.get()
            })
            .unwrap_or(NO_INDEX)
    }
}

pub(crate) use tls::thread_index;

/// Number of single-writer shards a metric inflates to: the next power of two at or above the
/// machine's parallelism (2 under loom), at least 2 and at most 256.
pub(crate) fn shard_count() -> usize {
    #[cfg(tachymeter_loom)]
    {
        2
    }
    #[cfg(not(tachymeter_loom))]
    {
        static COUNT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *COUNT.get_or_init(|| {
            std::thread::available_parallelism()
                .map_or(4, usize::from)
                .next_power_of_two()
                .clamp(2, MAX_SHARDS)
        })
    }
}

/// One metric's worth of atomics, updated either by its single owner (plain load + store)
/// or, in the overflow slot, by atomic read-modify-writes.
pub(crate) trait Slot: Send + Sync + Sized {
    /// What a slot needs to be built (a histogram's bucket count; `()` for counters).
    type Config: Copy;
    /// A zeroed slot.
    fn new(config: Self::Config) -> Self;
}

/// Storage for one metric: a home slot for the first writer, inflating to per-thread padded
/// shards on the first write by a second thread. See the [module docs](self).
pub(crate) struct Sharded<S: Slot> {
    /// Thread index of the home slot's owner, or `UNOWNED`.
    owner: crate::sync::AtomicUsize,
    /// Null until inflated; then the first of `count + 1` padded slots in one leaked boxed
    /// slice (`count` per-thread shards, then the overflow slot), freed in `Drop`. One
    /// allocation, so a write reaches its shard with a single pointer hop.
    shards: AtomicPtr<CachePadded<S>>,
    /// Number of per-thread shards once inflated (`shard_count()` at creation).
    count: usize,
    config: S::Config,
    home: S,
}

impl<S: Slot> Sharded<S> {
    pub(crate) fn new(config: S::Config) -> Self {
        Sharded {
            owner: crate::sync::AtomicUsize::new(UNOWNED),
            shards: AtomicPtr::new(ptr::null_mut()),
            count: shard_count(),
            config,
            home: S::new(config),
        }
    }

    /// Whether the calling thread (index `idx`) owns the home slot, claiming it if nobody
    /// does yet.
    #[inline]
    fn owns_home(&self, idx: usize) -> bool {
        // Relaxed: `owner` publishes no memory. Uniqueness of thread indices (handed out under
        // the pool mutex) is what makes the home slot single-writer; a stale read can only
        // make us miss our own claim, which the CAS then rejects.
        let owner = self.owner.load(Ordering::Relaxed);
        owner == idx
            || (owner == UNOWNED
                && idx != NO_INDEX
                && self
                    .owner
                    .compare_exchange(UNOWNED, idx, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok())
    }

    /// The inflated slot for thread `idx`, and whether the thread writes it alone.
    #[inline]
    fn shard(&self, p: *mut CachePadded<S>, idx: usize) -> (&S, bool) {
        let exclusive = idx < self.count;
        let i = if exclusive { idx } else { self.count };
        // SAFETY:
        // - `p` is non-null and points at the first of `count + 1` slots leaked by `inflate`,
        //   published with Release and loaded with Acquire, so all are initialised;
        // - `i <= count`, so `p.add(i)` stays inside that allocation;
        // - the allocation is freed only in `Drop`, which takes `&mut self`, so the returned
        //   reference (tied to `&self`) cannot outlive it.
        (unsafe { &*p.add(i) }, exclusive)
    }

    /// Applies an update. `exclusive` runs on a slot the calling thread alone writes (so it may
    /// use plain load + store); `shared` runs on the overflow slot and must use atomic
    /// read-modify-writes.
    #[inline]
    pub(crate) fn update(&self, exclusive: impl FnOnce(&S), shared: impl FnOnce(&S)) {
        let idx = thread_index();
        // Acquire pairs with the Release of the CAS in `inflate`: seeing the pointer means
        // seeing the initialised shards.
        let mut p = self.shards.load(Ordering::Acquire);
        if p.is_null() {
            if self.owns_home(idx) {
                return exclusive(&self.home);
            }
            p = self.inflate();
        }
        match self.shard(p, idx) {
            (slot, true) => exclusive(slot),
            (slot, false) => shared(slot),
        }
    }

    /// The slot the calling thread should use: its home or own shard, or the shared overflow
    /// slot. For slots that synchronise themselves (a summary's mutex-guarded buffer), where
    /// the exclusive/shared distinction of [`update`](Self::update) does not matter.
    #[inline]
    pub(crate) fn slot(&self) -> &S {
        let idx = thread_index();
        // Acquire pairs with the Release of the CAS in `inflate`, as in `update`.
        let mut p = self.shards.load(Ordering::Acquire);
        if p.is_null() {
            if self.owns_home(idx) {
                return &self.home;
            }
            p = self.inflate();
        }
        self.shard(p, idx).0
    }

    /// The slot the calling thread writes, its [slot id](Self::by_id), and whether the thread
    /// writes it alone (`false`: the shared overflow slot, whose writers must serialise
    /// themselves). Like [`update`](Self::update), but for slots whose contents name the slot
    /// they live in (a gauge's `set`).
    #[inline]
    pub(crate) fn locate(&self) -> (&S, usize, bool) {
        let idx = thread_index();
        // Acquire pairs with the Release of the CAS in `inflate`, as in `update`.
        let mut p = self.shards.load(Ordering::Acquire);
        if p.is_null() {
            if self.owns_home(idx) {
                return (&self.home, HOME_ID, true);
            }
            p = self.inflate();
        }
        let (slot, exclusive) = self.shard(p, idx);
        let id = if exclusive { idx + 1 } else { self.count + 1 };
        (slot, id, exclusive)
    }

    /// The slot with id `id`: [`HOME_ID`] is the home slot, `1..=count` the per-thread shards
    /// and `count + 1` the overflow slot. `None` for a shard id while not inflated, or past
    /// the overflow.
    #[inline]
    pub(crate) fn by_id(&self, id: usize) -> Option<&S> {
        if id == HOME_ID {
            return Some(&self.home);
        }
        // Acquire pairs with the Release in `inflate`.
        let p = self.shards.load(Ordering::Acquire);
        (!p.is_null() && id <= self.count + 1).then(|| self.shard(p, id - 1).0)
    }

    #[cold]
    fn inflate(&self) -> *mut CachePadded<S> {
        let slots: Box<[CachePadded<S>]> = (0..=self.count)
            .map(|_| CachePadded::new(S::new(self.config)))
            .collect();
        let fresh = Box::into_raw(slots).cast::<CachePadded<S>>();
        // Release publishes the initialised shards to every Acquire load of `shards`;
        // Acquire on failure lets us use the winner's allocation.
        match self.shards.compare_exchange(
            ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(winner) => {
                // SAFETY: `fresh` came from `Box::into_raw` of a `count + 1` slice just above
                // and was never shared.
                drop(unsafe {
                    Box::from_raw(ptr::slice_from_raw_parts_mut(fresh, self.count + 1))
                });
                winner
            }
        }
    }

    /// Calls `f` on every slot that may hold data: home, then each shard and the overflow.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&S)) {
        f(&self.home);
        // Acquire pairs with the Release in `inflate`.
        let p = self.shards.load(Ordering::Acquire);
        if !p.is_null() {
            for i in 0..=self.count {
                f(self.shard(p, i).0);
            }
        }
    }

    /// Whether this metric has inflated to per-thread shards.
    pub(crate) fn is_inflated(&self) -> bool {
        // Relaxed: informational only (memory accounting and tests).
        !self.shards.load(Ordering::Relaxed).is_null()
    }

    /// Heap bytes held by the shards (0 while not inflated).
    pub(crate) fn shard_bytes(&self) -> usize {
        if self.is_inflated() {
            (self.count + 1) * core::mem::size_of::<CachePadded<S>>()
        } else {
            0
        }
    }
}

impl<S: Slot> Drop for Sharded<S> {
    fn drop(&mut self) {
        // Acquire: pairs with the Release in `inflate` (`&mut self` already excludes races).
        let p = self.shards.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: `p` came from `Box::into_raw` of a `count + 1` slice in `inflate`;
            // `&mut self` proves no other reference to it exists, and it is freed exactly
            // once, here.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(p, self.count + 1)) });
        }
    }
}

impl<S: Slot + core::fmt::Debug> core::fmt::Debug for Sharded<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sharded")
            .field("inflated", &self.is_inflated())
            .finish_non_exhaustive()
    }
}

/// Test-only access to the thread-index pool, so tests can check that indices are reused.
#[cfg(test)]
pub(crate) fn pool_snapshot() -> (usize, Vec<usize>) {
    let p = lock(tls::pool());
    (p.next, p.free.clone())
}

#[cfg(all(test, not(tachymeter_loom)))]
mod tests {
    use super::*;
    use crate::sync::AtomicU64;

    #[derive(Debug)]
    struct Cell64(AtomicU64);
    impl Slot for Cell64 {
        type Config = ();
        fn new((): ()) -> Self {
            Cell64(AtomicU64::new(0))
        }
    }

    fn add(s: &Sharded<Cell64>, n: u64) {
        s.update(
            |c| {
                c.0.store(c.0.load(Ordering::Relaxed) + n, Ordering::Relaxed)
            },
            |c| {
                c.0.fetch_add(n, Ordering::Relaxed);
            },
        );
    }

    fn total(s: &Sharded<Cell64>) -> u64 {
        let mut t = 0;
        s.for_each(|c| t += c.0.load(Ordering::Relaxed));
        t
    }

    #[test]
    fn indices_are_returned_and_reused_lowest_first() {
        let mine = thread_index();
        assert_ne!(mine, NO_INDEX);
        assert_eq!(thread_index(), mine, "stable within a thread");
        // The pool is process-wide and other tests' threads take indices concurrently, so
        // one of them may grab the freed index between the join and the snapshot: retry a
        // bounded number of times, and require one clean round.
        let mut clean = None;
        for _ in 0..50 {
            let a = std::thread::spawn(thread_index).join().unwrap();
            // The exited thread's index is free again, and is handed out before fresh ones.
            let (_, free) = pool_snapshot();
            if !free.contains(&a) {
                continue;
            }
            let b = std::thread::spawn(thread_index).join().unwrap();
            let (next, _) = pool_snapshot();
            clean = Some((a, b, next, free));
            break;
        }
        let (a, b, next, free) = clean.expect("an exited thread's index was never returned");
        assert!(b < next);
        assert!(
            b <= a || free.iter().any(|&f| f < a),
            "lowest free index first"
        );
    }

    #[test]
    fn single_writer_stays_home_and_second_writer_inflates() {
        let s = Sharded::<Cell64>::new(());
        add(&s, 5);
        assert!(!s.is_inflated());
        assert_eq!(s.shard_bytes(), 0);
        std::thread::scope(|sc| {
            sc.spawn(|| add(&s, 7));
        });
        assert!(s.is_inflated());
        add(&s, 1); // the former owner now writes its shard
        assert_eq!(total(&s), 13);
        assert!(s.shard_bytes() >= (shard_count() + 1) * 128);
    }

    #[test]
    fn more_threads_than_shards_use_the_overflow_without_loss() {
        let s = Sharded::<Cell64>::new(());
        let n = shard_count() * 2 + 3;
        let barrier = std::sync::Barrier::new(n);
        std::thread::scope(|sc| {
            for _ in 0..n {
                sc.spawn(|| {
                    // Hold every index at once so some threads get indices ≥ shard_count().
                    barrier.wait();
                    for _ in 0..1000 {
                        add(&s, 1);
                    }
                    barrier.wait();
                });
            }
        });
        assert_eq!(total(&s), n as u64 * 1000);
    }
}
