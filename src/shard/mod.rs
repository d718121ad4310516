//! Module implementing per-thread, single-writer slots. See [`Sharded`].
//!
//! # Design
//!
//! Every thread that records a metric gets a small **thread index** from a global pool the
//! first time it does so; the index goes back to the pool when the thread exits and the lowest
//! free index is handed out first, so indices stay dense.
//!
//! A metric's storage is a [`Sharded<S>`] where `S` is a *slot* (a few atomics: a counter's
//! integer and float parts, or a histogram's buckets and sum). Every thread that writes the
//! metric gets a slot of its own on its first write, and only the thread holding that index
//! ever writes it, so an update is a plain `load` + `store` (no locked instruction, no cache
//! line written by two threads). A metric pays for the threads that wrote it, not for every
//! possible thread:
//!
//! * the slots live in per-thread-index **slabs** (see `slab`): blocks of one index are
//!   packed together (a counter's slot is 16 bytes), and no cache line holds two indices'
//!   blocks, so there is no false sharing without padding each slot to a line;
//! * the metric holds pointers to its slots: those of the first [`INLINE`] threads that write
//!   it (whatever their indices, tagged in one `owners` word) in the metric itself, the rest in
//!   a **directory** indexed by thread index, in chunks that double in size (created on demand,
//!   chunk `c` one pointer hop further), so a thread with index 15 reaches its slot in three
//!   hops and no thread count falls back to a shared slot;
//! * one shared **overflow** slot, updated with atomic read-modify-writes, serves only threads
//!   without an index (thread-local teardown) or past [`MAX_INDEXED`] threads alive at once.
//!
//! Readers sum every slot. No update is ever lost: a slot with a single writer is only ever
//! written by the thread holding that index, and an index changes hands only through the
//! pool's mutex, which orders the departing thread's last store before the next owner's first
//! load (the next thread with that index continues the slot).

mod index;
mod slab;

use core::ptr;

#[cfg(test)]
pub(crate) use index::pool_snapshot;
pub(crate) use index::{thread_index, NO_INDEX};

use crate::sync::{AtomicPtr, AtomicU64, Ordering};

/// The machine's parallelism rounded up to a power of two, at least 2 and at most 256 (2
/// under loom). Tests size their thread counts by it.
#[cfg(test)]
pub(crate) fn shard_count() -> usize {
    std::thread::available_parallelism()
        .map_or(4, usize::from)
        .next_power_of_two()
        .clamp(2, 256)
}

/// Slot pointers kept in the metric itself, for the first threads that write it (whatever
/// their indices); their owners' tags are packed in [`Sharded`]'s `owners` word.
#[cfg(not(tachymeter_loom))]
const INLINE: usize = 2;
/// (One under loom, so that models of three threads reach the directory and the overflow
/// slot.)
#[cfg(tachymeter_loom)]
const INLINE: usize = 1;

/// Bits of the `owners` word per inline slot: 0 while free, else the owner's index + 1.
const TAG_BITS: usize = 16;
const _: () = assert!(INLINE * TAG_BITS <= 64 && MAX_INDEXED < (1 << TAG_BITS) - 1);

/// The owner tag of thread index `idx` in the `owners` word (0, a free field's value, for
/// `NO_INDEX`, whose fast-path match then finds a null pointer and falls back).
#[inline]
fn tag(idx: usize) -> u64 {
    (idx as u64).wrapping_add(1) & ((1 << TAG_BITS) - 1)
}

/// Field `k` of an `owners` word.
#[inline]
fn field(owners: u64, k: usize) -> u64 {
    (owners >> (k * TAG_BITS)) & ((1 << TAG_BITS) - 1)
}

/// Slot pointers in the directory's first chunk; chunk `c` holds `FIRST_CHUNK << c`.
#[cfg(not(tachymeter_loom))]
const FIRST_CHUNK: usize = 4;
#[cfg(tachymeter_loom)]
const FIRST_CHUNK: usize = 1;

/// Thread indices below this get a slot of their own in every metric they write; threads
/// past it (more than this many alive at once) and threads without an index share the
/// overflow slot.
#[cfg(not(tachymeter_loom))]
pub(crate) const MAX_INDEXED: usize = 510;
#[cfg(tachymeter_loom)]
pub(crate) const MAX_INDEXED: usize = 2;

/// Slot id of the shared overflow slot (see [`Sharded::by_id`]), and the largest id
/// [`Sharded::locate`] can return: indexed slots have ids `1..=MAX_INDEXED`, and 0 names no
/// slot.
pub(crate) const OVERFLOW_ID: usize = MAX_INDEXED + 1;

/// One metric's worth of atomics, updated either by its single owner (plain load + store)
/// or, in the overflow slot, by atomic read-modify-writes.
pub(crate) trait Slot: Send + Sync + Sized {
    /// What a slot needs to be built (a histogram's bucket count; `()` for counters).
    type Config: Copy;
    /// A zeroed slot.
    fn new(config: Self::Config) -> Self;
}

/// Where chunk `c` of the directory starts, in thread indices.
#[inline]
fn chunk_start(c: u32) -> usize {
    FIRST_CHUNK * ((1 << c) - 1)
}

/// The directory chunk and position within it of thread index `idx`.
#[inline]
fn chunk_of(idx: usize) -> (u32, usize) {
    let j = idx / FIRST_CHUNK + 1;
    let c = usize::BITS - 1 - j.leading_zeros();
    (c, idx - chunk_start(c))
}

/// Entries before chunk `c`'s slot pointers: the next chunk, and in chunk 0 the overflow slot.
#[inline]
fn header(c: u32) -> usize {
    if c == 0 {
        2
    } else {
        1
    }
}

/// Entry length of chunk `c`.
fn chunk_len(c: u32) -> usize {
    header(c) + (FIRST_CHUNK << c)
}

/// A directory chunk: `chunk_len(c)` type-erased pointers (next chunk, [overflow,] slots),
/// leaked from a boxed slice and freed in `Sharded`'s `Drop`.
type Chunk = *mut AtomicPtr<()>;

/// Storage for one metric: a slot per thread that has written it, each written by that
/// thread alone. See the [module docs](self).
pub(crate) struct Sharded<S: Slot> {
    /// Who owns each inline slot: [`TAG_BITS`] per slot, 0 while free, else the owner's
    /// thread index + 1. A field is claimed once (compare-and-swap) and never freed, so a
    /// thread index's slot is inline or in the directory for the metric's whole life.
    owners: AtomicU64,
    /// The first writers' slots, null until claimed and filled.
    inline: [AtomicPtr<S>; INLINE],
    /// The directory's first chunk (thread indices whose slot is not inline, and the overflow
    /// slot), null until needed.
    more: AtomicPtr<AtomicPtr<()>>,
    config: S::Config,
}

impl<S: Slot> Sharded<S> {
    pub(crate) fn new(config: S::Config) -> Self {
        Sharded {
            owners: AtomicU64::new(0),
            inline: core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            more: AtomicPtr::new(ptr::null_mut()),
            config,
        }
    }

    /// Applies an update. `exclusive` runs on a slot the calling thread alone writes (so it may
    /// use plain load + store); `shared` runs on the overflow slot and must use atomic
    /// read-modify-writes.
    #[inline]
    pub(crate) fn update(&self, exclusive: impl FnOnce(&S), shared: impl FnOnce(&S)) {
        let idx = thread_index();
        match self.inline_of(idx) {
            Some(slot) => exclusive(slot),
            None => self.update_slow(idx, exclusive, shared),
        }
    }

    /// The calling thread's (index `idx`) inline slot, if it has one.
    #[inline]
    fn inline_of(&self, idx: usize) -> Option<&S> {
        // Relaxed: a tag publishes no memory (the pointer's Acquire load below does), and a
        // thread always sees its own claim.
        let owners = self.owners.load(Ordering::Relaxed);
        let t = tag(idx);
        // The first field first, written out: it is the single writer's, the common case.
        let e = if field(owners, 0) == t {
            &self.inline[0]
        } else {
            &self.inline[(1..INLINE).find(|&k| field(owners, k) == t)?]
        };
        // Acquire pairs with the Release store in `fill`: seeing the pointer means seeing the
        // initialised slot.
        let p = e.load(Ordering::Acquire);
        // SAFETY: non-null entries point at live slots (see `fill`), freed only in `Drop`,
        // which takes `&mut self`, so the reference cannot outlive them.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// `update` past the inline fast path.
    #[inline(never)]
    fn update_slow(&self, idx: usize, exclusive: impl FnOnce(&S), shared: impl FnOnce(&S)) {
        match self.locate_slow(idx) {
            (slot, _, true) => exclusive(slot),
            (slot, _, false) => shared(slot),
        }
    }

    /// The slot the calling thread should use: its own, or the shared overflow slot. For
    /// slots that synchronise themselves (a summary's mutex-guarded buffer), where the
    /// exclusive/shared distinction of [`update`](Self::update) does not matter.
    #[inline]
    pub(crate) fn slot(&self) -> &S {
        self.locate().0
    }

    /// The slot the calling thread writes, its [slot id](Self::by_id), and whether the thread
    /// writes it alone (`false`: the shared overflow slot, whose writers must serialise
    /// themselves). Like [`update`](Self::update), but for slots whose contents name the slot
    /// they live in (a gauge's `set`).
    #[inline]
    pub(crate) fn locate(&self) -> (&S, usize, bool) {
        let idx = thread_index();
        match self.inline_of(idx) {
            Some(slot) => (slot, idx + 1, true),
            None => self.locate_slow(idx),
        }
    }

    /// `locate` for a first write, a slot in the directory, or no index.
    #[inline(never)]
    fn locate_slow(&self, idx: usize) -> (&S, usize, bool) {
        if idx >= MAX_INDEXED {
            return (self.overflow(), OVERFLOW_ID, false);
        }
        let e = self.entry(idx, true).expect("created on demand");
        // Acquire: as in `inline_of`.
        let p = e.load(Ordering::Acquire);
        let p = if p.is_null() { self.fill(idx, e) } else { p };
        // SAFETY: as in `inline_of`.
        (unsafe { &*p }, idx + 1, true)
    }

    /// Allocates thread `idx`'s slot into `e`, its entry (the caller holds that index, so
    /// nobody else writes `e`).
    #[cold]
    fn fill(&self, idx: usize, e: &AtomicPtr<S>) -> *mut S {
        let p = slab::alloc_slot(idx, S::new(self.config)).as_ptr();
        // Release publishes the initialised slot to every Acquire load of the entry. A plain
        // store suffices: only the holder of index `idx` ever writes this entry, and an index
        // changes hands only through the pool's mutex.
        e.store(p, Ordering::Release);
        p
    }

    /// The entry of thread index `idx` (`idx < MAX_INDEXED`): its inline slot's (claiming a
    /// free one if `create`), else its place in the directory (creating chunks on the way if
    /// `create`). `None` if `create` is false and the directory chunk is missing.
    fn entry(&self, idx: usize, create: bool) -> Option<&AtomicPtr<S>> {
        let t = tag(idx);
        // Relaxed: as in `inline_of`. The compare-and-swap below makes claims exclusive; a
        // reader that needs another thread's claim (a gauge read resolving a slot id) reached
        // it through that thread's later Release store of the era word.
        let mut owners = self.owners.load(Ordering::Relaxed);
        // Each failed compare-and-swap means another field was claimed (fields are never
        // freed), so this loop runs at most INLINE + 1 times.
        loop {
            if let Some(k) = (0..INLINE).find(|&k| field(owners, k) == t) {
                return Some(&self.inline[k]);
            }
            let free = (0..INLINE).find(|&k| field(owners, k) == 0);
            match free {
                Some(k) if create => {
                    let claimed = owners | (t << (k * TAG_BITS));
                    // Relaxed: see above.
                    match self.owners.compare_exchange(
                        owners,
                        claimed,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return Some(&self.inline[k]),
                        Err(now) => owners = now,
                    }
                }
                _ => break,
            }
        }
        let (c, off) = chunk_of(idx);
        let chunk = self.chunk(c, create)?;
        // SAFETY: `chunk` is chunk `c`, `chunk_len(c)` entries long, and
        // `header(c) + off < chunk_len(c)` since `off < FIRST_CHUNK << c`. Slot entries only
        // ever hold null or a `*mut S` from `claim`, so viewing one as `AtomicPtr<S>` (same
        // layout as `AtomicPtr<()>`) reads what was stored.
        Some(unsafe { &*chunk.add(header(c) + off).cast::<AtomicPtr<S>>() })
    }

    /// Directory chunk `c`, creating it (and the chunks before it) if `create`.
    fn chunk(&self, c: u32, create: bool) -> Option<Chunk> {
        let mut link = &self.more;
        let mut k = 0;
        loop {
            // Acquire pairs with the Release of the CAS in `grow`: the chunk's entries are
            // initialised (null).
            let mut p = link.load(Ordering::Acquire);
            if p.is_null() {
                if !create {
                    return None;
                }
                p = grow(link, k);
            }
            if k == c {
                return Some(p);
            }
            // SAFETY: entry 0 of every chunk is its link to the next one.
            link = unsafe { &*p.cast::<AtomicPtr<AtomicPtr<()>>>() };
            k += 1;
        }
    }

    /// The shared overflow slot, created on first use.
    #[cold]
    fn overflow(&self) -> &S {
        let chunk = self.chunk(0, true).expect("created on demand");
        // SAFETY: entry 1 of chunk 0 is the overflow entry, which only ever holds null or a
        // `*mut S` boxed below.
        let e = unsafe { &*chunk.add(1).cast::<AtomicPtr<S>>() };
        // Acquire pairs with the Release of the CAS below.
        let mut p = e.load(Ordering::Acquire);
        if p.is_null() {
            let fresh = Box::into_raw(Box::new(S::new(self.config)));
            // Release publishes the initialised slot; Acquire on failure lets us use the
            // winner's.
            match e.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => p = fresh,
                Err(winner) => {
                    // SAFETY: `fresh` came from `Box::into_raw` just above and was never shared.
                    drop(unsafe { Box::from_raw(fresh) });
                    p = winner;
                }
            }
        }
        // SAFETY: as in `inline_of`: live until `Drop`.
        unsafe { &*p }
    }

    /// The slot with id `id`: `1..=MAX_INDEXED` are the per-thread slots (thread index
    /// `id - 1`), [`OVERFLOW_ID`] the overflow slot. `None` for 0, past the overflow, or a
    /// slot not created yet.
    #[inline]
    pub(crate) fn by_id(&self, id: usize) -> Option<&S> {
        let p = match id {
            0 => return None,
            OVERFLOW_ID => {
                let chunk = self.chunk(0, false)?;
                // SAFETY: as in `overflow`.
                unsafe { &*chunk.add(1).cast::<AtomicPtr<S>>() }.load(Ordering::Acquire)
            }
            // Acquire: as in `inline_of`.
            _ if id <= MAX_INDEXED => self.entry(id - 1, false)?.load(Ordering::Acquire),
            _ => return None,
        };
        // SAFETY: as in `inline_of`.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// Calls `f` with each slot that exists and its thread index (`NO_INDEX` for the
    /// overflow slot).
    fn for_each_indexed(&self, mut f: impl FnMut(usize, *mut S)) {
        // Relaxed: a non-null inline pointer (Acquire below) was stored after its field's
        // claim by the same thread, so the claim is visible once the pointer is.
        let owners = self.owners.load(Ordering::Relaxed);
        for (k, e) in self.inline.iter().enumerate() {
            // Acquire: as in `inline_of`.
            let p = e.load(Ordering::Acquire);
            if !p.is_null() {
                f(field(owners, k) as usize - 1, p);
            }
        }
        self.for_each_in_directory(f);
    }

    /// As [`for_each_indexed`](Self::for_each_indexed), for the directory's slots only.
    fn for_each_in_directory(&self, mut f: impl FnMut(usize, *mut S)) {
        // Acquire pairs with the Release in `grow`.
        let mut chunk = self.more.load(Ordering::Acquire);
        let mut c = 0;
        while !chunk.is_null() {
            let start = chunk_start(c);
            for i in header(c)..chunk_len(c) {
                // SAFETY: `i < chunk_len(c)`; slot entries hold null or a `*mut S` (see
                // `entry`), and entry 1 of chunk 0 the overflow slot (see `overflow`).
                let p = unsafe { &*chunk.add(i).cast::<AtomicPtr<S>>() }.load(Ordering::Acquire);
                let idx = start + i - header(c);
                if !p.is_null() && idx < MAX_INDEXED {
                    f(idx, p);
                }
            }
            if c == 0 {
                // SAFETY: as above.
                let p = unsafe { &*chunk.add(1).cast::<AtomicPtr<S>>() }.load(Ordering::Acquire);
                if !p.is_null() {
                    f(NO_INDEX, p);
                }
            }
            // SAFETY: entry 0 links the next chunk; Acquire as above.
            chunk = unsafe { &*chunk.cast::<AtomicPtr<AtomicPtr<()>>>() }.load(Ordering::Acquire);
            c += 1;
        }
    }

    /// Calls `f` on every slot that may hold data.
    #[inline]
    pub(crate) fn for_each(&self, mut f: impl FnMut(&S)) {
        for e in &self.inline {
            // Acquire: as in `inline_of`.
            let p = e.load(Ordering::Acquire);
            if !p.is_null() {
                // SAFETY: as in `inline_of`: slots live until `Drop`.
                f(unsafe { &*p });
            }
        }
        // Acquire pairs with the Release in `grow`. Null unless more than `INLINE` threads
        // (or a thread without an index) wrote the metric.
        if !self.more.load(Ordering::Acquire).is_null() {
            self.for_each_past_inline(&mut f);
        }
    }

    /// `for_each`'s part past the inline slots, out of line.
    #[inline(never)]
    fn for_each_past_inline(&self, f: &mut impl FnMut(&S)) {
        // SAFETY: as in `inline_of`: slots live until `Drop`.
        self.for_each_in_directory(|_, p| f(unsafe { &*p }));
    }

    /// Whether a second thread has written this metric (it has more than one slot).
    pub(crate) fn is_inflated(&self) -> bool {
        self.slot_count() > 1
    }

    /// Number of slots created (threads that wrote the metric, plus the overflow slot if used).
    pub(crate) fn slot_count(&self) -> usize {
        let mut n = 0;
        self.for_each_indexed(|_, _| n += 1);
        n
    }

    /// Heap bytes held by the slots and the directory.
    pub(crate) fn shard_bytes(&self) -> usize {
        let mut n = 0;
        self.for_each_indexed(|i, _| {
            n += if i == NO_INDEX {
                core::mem::size_of::<S>()
            } else {
                slab::footprint::<S>()
            }
        });
        // Acquire: as in `for_each_indexed`.
        let mut chunk = self.more.load(Ordering::Acquire);
        let mut c = 0;
        while !chunk.is_null() {
            n += chunk_len(c) * core::mem::size_of::<AtomicPtr<()>>();
            // SAFETY: as in `for_each_indexed`.
            chunk = unsafe { &*chunk.cast::<AtomicPtr<AtomicPtr<()>>>() }.load(Ordering::Acquire);
            c += 1;
        }
        n
    }
}

/// Creates directory chunk `c` at `link` (or returns the one another thread created first).
#[cold]
fn grow(link: &AtomicPtr<AtomicPtr<()>>, c: u32) -> Chunk {
    let entries: Box<[AtomicPtr<()>]> = (0..chunk_len(c))
        .map(|_| AtomicPtr::new(ptr::null_mut()))
        .collect();
    let fresh = Box::into_raw(entries).cast::<AtomicPtr<()>>();
    // Release publishes the initialised entries to every Acquire load of the link; Acquire on
    // failure lets us use the winner's chunk.
    match link.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => fresh,
        Err(winner) => {
            // SAFETY: `fresh` came from `Box::into_raw` of a `chunk_len(c)` slice just above
            // and was never shared.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(fresh, chunk_len(c))) });
            winner
        }
    }
}

impl<S: Slot> Drop for Sharded<S> {
    fn drop(&mut self) {
        self.for_each_indexed(|i, p| {
            if i == NO_INDEX {
                // SAFETY: the overflow slot came from `Box::into_raw` in `overflow`; `&mut self`
                // proves no reference to it exists, and it is freed exactly once, here.
                drop(unsafe { Box::from_raw(p) });
            } else {
                // SAFETY: slot `i` came from `slab::alloc_slot(i, _)` in `claim`; as above.
                unsafe { slab::free_slot(i, ptr::NonNull::new_unchecked(p)) };
            }
        });
        // Relaxed: `&mut self` excludes every other access.
        let mut chunk = self.more.load(Ordering::Relaxed);
        let mut c = 0;
        while !chunk.is_null() {
            // SAFETY: as in `for_each_indexed`; read before the chunk is freed.
            let next =
                unsafe { &*chunk.cast::<AtomicPtr<AtomicPtr<()>>>() }.load(Ordering::Relaxed);
            // SAFETY: `chunk` came from `Box::into_raw` of a `chunk_len(c)` slice in `grow`
            // and is freed exactly once, here.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(chunk, chunk_len(c))) });
            chunk = next;
            c += 1;
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

#[cfg(all(test, not(tachymeter_loom)))]
mod tests;
