//! Module implementing the creation-order list of a family's children: what a scrape walks.
//!
//! The list is a directory of fixed-size segments, each behind its own mutex. A scrape walks
//! it one segment at a time (it holds one segment's lock while it encodes that segment's
//! children, never the lock that creation takes), so creating a child never waits for a
//! scrape: creation appends to the last segment if that segment's lock is free, and starts a
//! new segment otherwise. Removal takes the child out of its slot (a tombstone) in O(1): each
//! child knows its position (segment index, slot). Tombstones are squeezed out by a
//! compaction that runs only when no walk is in progress, so a walk never sees a child move:
//! it sees every child that was in the list for the whole walk exactly once, a child removed
//! meanwhile at most once, and none created after it began (see [`Order::walk`]).
//!
//! Locks, outermost first: the map's writer lock (held by every change), the directory, a
//! segment. A walk takes the writer lock for an instant to register, the directory lock only
//! to fetch the next batch of segments, and never holds two segment locks.

use super::ChildRef;
use crate::sync::{lock, try_lock, Arc, AtomicUsize, Mutex, Ordering};

/// Children per segment: a scrape holds a segment's lock while it encodes this many children
/// at most (a few microseconds); a removal may wait that long for its own segment. Under loom,
/// 2, so that models reach new segments and compaction with a handful of children.
#[cfg(not(tachymeter_loom))]
pub(super) const SEG: usize = 64;
#[cfg(tachymeter_loom)]
pub(super) const SEG: usize = 2;
/// Dead slots below which compaction is not worth it.
const COMPACT_MIN: usize = if cfg!(tachymeter_loom) { 2 } else { 4 * SEG };
/// `pos` packs (segment index << SLOT_BITS) | slot into a `u32` (four bytes of every child).
const SLOT_BITS: u32 = 6;
const _: () = assert!(SEG <= 1 << SLOT_BITS);

/// A child's `pos`. Past 2^26 segments (over 4·10^9 children in one family) the position
/// saturates to one no segment has: `remove` then finds nothing (the child stays listed
/// until the next compaction gives it a real position) instead of taking another child.
fn pack(seg: usize, slot: usize) -> u32 {
    u32::try_from((seg << SLOT_BITS) | slot).unwrap_or(u32::MAX)
}

/// What idle expiry remembers of a child between collections. It lives in the child's slot,
/// not in the child, because only walks touch it (under the segment lock, so plain
/// integers), and keeping the child small keeps the scrape's walk fast.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Idle {
    /// The value's fingerprint as the last collection saw it.
    pub(crate) seen: u64,
    /// The expiry clock (nanoseconds) when it last changed.
    pub(crate) since: u64,
}

/// A segment: children (`None` for a tombstone) and, in a family with idle expiry only,
/// their idle states at the same indexes (kept apart so that other families' walks stride
/// over 8 bytes per child).
pub(super) struct Slots<M> {
    children: Vec<Option<ChildRef<M>>>,
    idle: Vec<Idle>,
}

impl<M> Slots<M> {
    fn new() -> Self {
        Slots {
            children: Vec::with_capacity(SEG),
            idle: Vec::new(),
        }
    }

    fn push(&mut self, child: Option<ChildRef<M>>, idle: Option<Idle>) {
        self.children.push(child);
        if let Some(i) = idle {
            self.idle.push(i);
        }
    }
}

type Segment<M> = Mutex<Slots<M>>;

/// Bookkeeping of the list that only the map's writer (under its lock) touches.
#[derive(Debug, Default)]
pub(super) struct Tally {
    /// Slots that hold no child and never will again (tombstones and the unused tail of a
    /// segment that a walk kept locked when creation wanted it).
    pub(super) dead: usize,
    /// Children in the list.
    pub(super) live: usize,
    /// Slots used in the last segment (only the writer appends, so it knows without a lock).
    pub(super) tail_len: usize,
}

pub(super) struct Order<M> {
    /// Segments in creation order. Between compactions it is only appended to, so a child's
    /// segment index stays valid.
    dir: Mutex<Vec<Arc<Segment<M>>>>,
    /// Walks in progress, or [`RESHAPING`] while the writer compacts or resets the list
    /// (only when no walk is in progress; walks wait for it to finish).
    walkers: AtomicUsize,
}

/// `walkers` while the writer moves children or replaces the directory.
const RESHAPING: usize = 1 << (usize::BITS - 1);

/// Ends a walk, also when the walker's closure panics.
struct Walking<'a>(&'a AtomicUsize);

impl Drop for Walking<'_> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire compare-exchange in `try_reshape`; a writer that
        // sees the count drop to zero has seen every read of this walk finish.
        self.0.fetch_sub(1, Ordering::Release);
    }
}

impl<M> Order<M> {
    pub(super) fn new() -> Self {
        Order {
            dir: Mutex::new(Vec::new()),
            walkers: AtomicUsize::new(0),
        }
    }

    /// Appends `child`; the caller holds the writer lock (`tally` is under it). Never waits
    /// for a walk: a segment a walk holds is left for a new one.
    /// `idle` is `Some` exactly in families with idle expiry.
    pub(super) fn push(&self, tally: &mut Tally, child: &ChildRef<M>, idle: Option<Idle>) {
        let mut dir = lock(&self.dir);
        if let Some(tail) = dir.last().filter(|_| tally.tail_len < SEG) {
            if let Some(mut slots) = try_lock(tail) {
                let pos = pack(dir.len() - 1, slots.children.len());
                // Relaxed: `pos` is read and written only under the writer lock.
                child.pos.store(pos, Ordering::Relaxed);
                slots.push(Some(child.clone()), idle);
                tally.live += 1;
                tally.tail_len += 1;
                return;
            }
            // A walk holds it: its free slots are given up (counted for compaction).
            tally.dead += SEG - tally.tail_len;
        }
        let mut slots = Slots::new();
        slots.push(Some(child.clone()), idle);
        // Relaxed: as above.
        child.pos.store(pack(dir.len(), 0), Ordering::Relaxed);
        dir.push(Arc::new(Mutex::new(slots)));
        tally.live += 1;
        tally.tail_len = 1;
    }

    /// Takes `child` out of its slot in O(1); the caller holds the writer lock. Returns whether
    /// it was there.
    pub(super) fn remove(&self, tally: &mut Tally, child: &ChildRef<M>) -> bool {
        // Relaxed: written only under the writer lock, which the caller holds.
        let pos = child.pos.load(Ordering::Relaxed) as usize;
        let Some(seg) = lock(&self.dir).get(pos >> SLOT_BITS).cloned() else {
            return false;
        };
        let taken = {
            let mut slots = lock(&seg);
            match slots.children.get_mut(pos & ((1 << SLOT_BITS) - 1)) {
                Some(slot) if slot.as_ref().is_some_and(|c| ChildRef::ptr_eq(c, child)) => {
                    slot.take()
                }
                _ => None,
            }
        };
        if taken.is_some() {
            tally.live -= 1;
            tally.dead += 1;
        }
        taken.is_some()
    }

    /// Removes every child; the caller holds the writer lock.
    pub(super) fn clear(&self, tally: &mut Tally) {
        let old = if self.try_reshape() {
            *tally = Tally::default();
            let old = core::mem::take(&mut *lock(&self.dir));
            self.end_reshape();
            old
        } else {
            // A walk is indexing the directory: keep its shape, empty the slots.
            let dir: Vec<_> = lock(&self.dir).clone();
            let mut emptied = Vec::with_capacity(tally.live);
            for seg in &dir {
                emptied.extend(lock(seg).children.iter_mut().filter_map(Option::take));
            }
            tally.dead += emptied.len();
            tally.live = 0;
            drop(emptied);
            Vec::new()
        };
        drop(old);
    }

    /// Registers a walk: one compare-exchange, unless the writer is reshaping the list; then
    /// it waits for the writer (which holds `writer` while it reshapes).
    fn begin_walk<W>(&self, writer: &Mutex<W>) -> Walking<'_> {
        loop {
            // Relaxed: the compare-exchange below is what orders.
            let n = self.walkers.load(Ordering::Relaxed);
            if n & RESHAPING != 0 {
                drop(lock(writer));
                continue;
            }
            // Acquire: pairs with the Release store that ends a reshape, so this walk sees
            // the directory as the writer left it.
            if self
                .walkers
                .compare_exchange_weak(n, n + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Walking(&self.walkers);
            }
        }
    }

    /// Claims the list for moving children or replacing the directory, if no walk is in
    /// progress; the caller holds the writer lock and calls [`end_reshape`] after.
    fn try_reshape(&self) -> bool {
        // Acquire: pairs with the Release decrement that ends a walk.
        self.walkers
            .compare_exchange(0, RESHAPING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    fn end_reshape(&self) {
        // Release: pairs with the Acquire compare-exchange that begins a walk.
        self.walkers.store(0, Ordering::Release);
    }

    /// Calls `f` on each child in creation order, holding that child's segment lock and no
    /// other. `writer` is the map's writer lock, never held while walking: a walk waits for
    /// it only while the writer reshapes the list (see [`try_reshape`](Self::try_reshape)).
    ///
    /// Children created after the walk began are skipped: a child removed after the walk
    /// passed it may be re-created with the same labels at the end of the list, and listing
    /// both would expose one series twice. At the walk's start at most one child per label
    /// set is in the list, and ids grow in creation order (they are taken under the writer
    /// lock), so skipping ids from then on leaves at most one child per label set.
    pub(super) fn walk<W>(
        &self,
        writer: &Mutex<W>,
        mut f: impl FnMut(&ChildRef<M>, Option<&mut Idle>),
    ) {
        let _walking = self.begin_walk(writer);
        // Acquire: pairs with the AcqRel increment that gives a new child its id (under the
        // writer lock). A child with a smaller id began its creation before this load, so
        // any removal it followed (an earlier child with its labels) is visible to this walk.
        let bound = super::NEXT_CHILD_ID.load(std::sync::atomic::Ordering::Acquire);
        // Segments are fetched a batch at a time, so the directory lock (which creation
        // takes too) is taken once per `BATCH` segments, not once per segment.
        // A fixed array: a scrape allocates nothing.
        const BATCH: usize = 16;
        let mut batch: [Option<Arc<Segment<M>>>; BATCH] = core::array::from_fn(|_| None);
        let mut i = 0;
        loop {
            let n = {
                let dir = lock(&self.dir);
                let next = dir.get(i..).unwrap_or(&[]);
                let n = next.len().min(BATCH);
                for (b, seg) in batch.iter_mut().zip(&next[..n]) {
                    *b = Some(seg.clone());
                }
                n
            };
            if n == 0 {
                break;
            }
            i += n;
            // A short batch is the end of the directory as of now, which holds every segment
            // that existed when the walk began (nothing is removed from it during a walk);
            // later segments hold only children created since, which the walk may skip.
            let last = n < BATCH;
            for seg in batch[..n].iter_mut().filter_map(Option::take) {
                let mut slots = lock(&seg);
                let slots = &mut *slots;
                if slots.idle.is_empty() {
                    for c in slots.children.iter().flatten().filter(|c| c.id < bound) {
                        f(c, None);
                    }
                } else {
                    for (c, idle) in slots.children.iter().zip(&mut slots.idle) {
                        match c {
                            Some(c) if c.id < bound => f(c, Some(idle)),
                            _ => {}
                        }
                    }
                }
            }
            if last {
                break;
            }
        }
    }

    /// Moves the live children into full segments when at least half the slots are dead
    /// and no walk is in progress; the caller holds the writer lock. O(n), run at most once
    /// per n/2 removals, so O(1) amortised per removal.
    pub(super) fn compact_if_worth_it(&self, tally: &mut Tally) {
        if tally.dead < COMPACT_MIN || tally.dead <= tally.live {
            return;
        }
        if !self.try_reshape() {
            return;
        }
        let mut dir = lock(&self.dir);
        let mut fresh: Vec<Arc<Segment<M>>> = Vec::with_capacity(tally.live.div_ceil(SEG));
        let mut cur = Slots::new();
        for seg in dir.iter() {
            let mut old = lock(seg);
            let old = &mut *old;
            let mut idle = old.idle.drain(..);
            for c in old.children.drain(..) {
                let i = idle.next();
                let Some(c) = c else { continue };
                if cur.children.len() == SEG {
                    fresh.push(Arc::new(Mutex::new(core::mem::replace(
                        &mut cur,
                        Slots::new(),
                    ))));
                }
                // Relaxed: `pos` is only accessed under the writer lock, held here.
                c.pos
                    .store(pack(fresh.len(), cur.children.len()), Ordering::Relaxed);
                cur.push(Some(c), i);
            }
        }
        let cur_len = cur.children.len();
        if cur_len > 0 {
            fresh.push(Arc::new(Mutex::new(cur)));
        }
        tally.tail_len = if cur_len == 0 { SEG } else { cur_len };
        *dir = fresh;
        drop(dir);
        self.end_reshape();
        tally.dead = 0;
    }
}
