//! Module implementing the storage of a native histogram: per-thread shards of dense,
//! growable bucket windows, and generations for schema, zero-threshold and reset changes.
//! See [`NativeStore`].
//!
//! # Design
//!
//! Each thread's slot of a [`Sharded`] holds a pointer to its own [`ShardState`]: the
//! generation it counts in (schema, zero threshold, reset epoch), its sum, zero count and,
//! per side, a window of bucket counts indexed by key in 128-byte-aligned chunks. The
//! observing thread alone writes its state, with plain loads and stores; no two threads'
//! counts share a cache line.
//!
//! The hot path (a known generation, a key inside the window, a bucket already counted in)
//! reads one shared word (the current generation id, which also carries the schema, so the
//! key does not wait for the state's own copy) and writes only the thread's state: a bucket
//! count and the sum (the count is derived from the buckets at scrape time).
//! Everything else takes the histogram's `core` mutex: the first observation of a shard, a key
//! outside the window (the window grows: a new state is built, copied and published), the
//! first count in a bucket (the union of populated keys is tracked for the bucket limit, which
//! may publish a new generation), and a state from an older generation (migrated: buckets
//! merged into the coarser schema or the wider zero bucket; dropped after a reset). Threads
//! without a shard of their own (more threads than shards) share the overflow slot and always
//! take the mutex.
//!
//! A replaced state is freed at once: only its own writer (which has moved on) and scrapes
//! read it, and scrapes hold the same mutex for as long as they read states. A scrape merges
//! every state of the current reset epoch into the coarsest schema and the widest zero
//! threshold among them, and derives the count from the merged buckets, so it always sees
//! `count = zero count + Σ buckets`, whatever generations the shards are in.

use core::ptr;
use std::collections::BTreeSet;
use std::time::Instant;

use crossbeam_utils::CachePadded;

use super::{coarsen, key, key_of_bits, upper_bound, NativeConfig, MIN_SCHEMA};
use crate::shard::{Sharded, Slot};
use crate::sync::{lock, AtomicPtr, AtomicU64, Mutex, Ordering};

mod view;
pub(crate) use view::NativeView;

/// Counts per chunk: one 128-byte line (2 under loom, to keep models small).
#[cfg(not(tachymeter_loom))]
const LANES: usize = 16;
#[cfg(tachymeter_loom)]
const LANES: usize = 2;
/// The most keys one shard's window covers on one side (128 KiB). A wider spread of values
/// halves the resolution as the bucket limit does; at schema 2 and below every `f64` fits.
const MAX_WINDOW: usize = 1 << 14;

/// A generation: what the counts of a state mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Params {
    /// Changes with every new generation: a counter above the low byte, which is the schema
    /// (see [`Params::id_for`]).
    id: u64,
    /// Changes with every reset; states of an older epoch are not counted.
    epoch: u64,
    schema: i8,
    threshold: f64,
}

impl Params {
    /// The id of the `n`-th generation, at `schema`: the hot path reads the schema from the
    /// shared id word and computes the key without waiting for the shard's state.
    fn id_for(n: u64, schema: i8) -> u64 {
        n << 8 | u64::from(schema as u8)
    }
}

/// One side's window: counts of keys `lo .. lo + len()`.
struct Side {
    lo: i32,
    chunks: Box<[CachePadded<[AtomicU64; LANES]>]>,
}

impl Side {
    fn new(lo: i32, len: usize) -> Side {
        Side {
            lo,
            chunks: (0..len.div_ceil(LANES))
                .map(|_| CachePadded::new(core::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
        }
    }

    fn len(&self) -> usize {
        self.chunks.len() * LANES
    }

    #[inline]
    fn get(&self, k: i32) -> Option<&AtomicU64> {
        // Keys are within ±2^19, so the difference does not wrap; a key below `lo` becomes a
        // huge offset and fails the bound check.
        let off = k.wrapping_sub(self.lo) as u32 as usize;
        let chunk = self.chunks.get(off / LANES)?;
        Some(&chunk[off % LANES])
    }

    /// Calls `f(key, count)` for every non-zero count.
    fn for_each(&self, mut f: impl FnMut(i32, u64)) {
        for (c, chunk) in self.chunks.iter().enumerate() {
            for (i, n) in chunk.iter().enumerate() {
                // Relaxed: a snapshot read of a count that only grows.
                let n = n.load(Ordering::Relaxed);
                if n != 0 {
                    f(self.lo + (c * LANES + i) as i32, n);
                }
            }
        }
    }

    /// The first and last key of the window, or `None` if it has none.
    fn range(&self) -> Option<(i32, i32)> {
        (self.len() > 0).then(|| (self.lo, self.lo + self.len() as i32 - 1))
    }
}

/// One thread's counts in one generation.
struct ShardState {
    params: Params,
    /// `f64` bits.
    sum: AtomicU64,
    zero: AtomicU64,
    /// Positive, then negative observations.
    sides: [Side; 2],
}

impl ShardState {
    fn empty(params: Params) -> Box<CachePadded<ShardState>> {
        Box::new(CachePadded::new(ShardState {
            params,
            sum: AtomicU64::new(0f64.to_bits()),
            zero: AtomicU64::new(0),
            sides: [Side::new(0, 0), Side::new(0, 0)],
        }))
    }

    #[inline]
    fn add_sum(&self, v: f64) {
        // Relaxed: single writer (the owning thread, or the mutex holder for the overflow).
        let s = f64::from_bits(self.sum.load(Ordering::Relaxed)) + v;
        self.sum.store(s.to_bits(), Ordering::Relaxed);
    }

    #[inline]
    fn bump(c: &AtomicU64) {
        // Relaxed: single writer, as in `add_sum`.
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

/// A slot of the [`Sharded`]: the thread's current state, null before its first observation.
pub(crate) struct NativeSlot {
    state: AtomicPtr<CachePadded<ShardState>>,
}

impl Slot for NativeSlot {
    type Config = ();
    fn new((): ()) -> Self {
        NativeSlot {
            state: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

impl Drop for NativeSlot {
    fn drop(&mut self) {
        // Acquire: pairs with the Release in `publish` (`&mut self` already excludes races).
        let p = self.state.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: `p` came from `Box::into_raw` in `publish` and is owned by this slot;
            // `&mut self` means nobody else references it.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

impl core::fmt::Debug for NativeSlot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NativeSlot").finish_non_exhaustive()
    }
}

/// What the mutex guards: the current generation and the bucket-limit bookkeeping.
#[derive(Debug)]
struct Core {
    params: Params,
    /// Keys with a count in the current generation, over all shards (positive, negative).
    populated: [BTreeSet<i32>; 2],
    last_reset: Instant,
    /// When a reset is due after a widening or halving (client_golang schedules one).
    reset_due: Option<Instant>,
    /// Merged counts of the last scrape, reused.
    scratch: [Vec<u64>; 2],
}

/// A native histogram's storage. See the [module docs](self).
pub(crate) struct NativeStore {
    config: NativeConfig,
    /// Whether the bucket limit may reset the histogram.
    resets: bool,
    /// The id of the current generation. Written under `core` only.
    gen: AtomicU64,
    cells: Sharded<NativeSlot>,
    core: Mutex<Core>,
}

impl core::fmt::Debug for NativeStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NativeStore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The reference behind a state pointer.
///
/// # Safety
///
/// `p` must be null or a state published by `publish` that is still installed in its slot
/// or, if it has been replaced since, the caller holds `core` or is the state's only writer
/// and has not replaced it itself (a state is only freed by the thread that replaces it,
/// under `core`).
unsafe fn state<'a>(p: *mut CachePadded<ShardState>) -> Option<&'a ShardState> {
    // SAFETY: per the function's contract, `p` is null or points at a live state.
    unsafe { p.as_ref().map(|s| &**s) }
}

impl NativeStore {
    pub(crate) fn new(config: NativeConfig, resets: bool) -> NativeStore {
        let params = Params {
            id: Params::id_for(0, config.schema),
            epoch: 0,
            schema: config.schema,
            threshold: config.zero_threshold,
        };
        NativeStore {
            config,
            resets: resets && !config.min_reset.is_zero(),
            gen: AtomicU64::new(params.id),
            cells: Sharded::new(()),
            core: Mutex::new(Core {
                params,
                populated: [BTreeSet::new(), BTreeSet::new()],
                last_reset: Instant::now(),
                reset_due: None,
                scratch: [Vec::new(), Vec::new()],
            }),
        }
    }

    pub(crate) fn config(&self) -> &NativeConfig {
        &self.config
    }

    /// Records `v` (not NaN).
    #[inline]
    pub(crate) fn observe(&self, v: f64) {
        // `locate` rather than `update`: one call site for the hot path, so it inlines (with
        // `update`'s two, the closure stayed a call).
        let (slot, _, exclusive) = self.cells.locate();
        if exclusive {
            self.observe_exclusive(slot, v);
        } else {
            self.observe_locked(slot, v);
        }
    }

    /// The hot path: a known generation, a key inside the window, a bucket already counted
    /// in. Everything else is out of line: the zero bucket in [`observe_zero`](Self::observe_zero)
    /// (still without the mutex), the rest in [`observe_locked`](Self::observe_locked).
    #[inline(always)]
    fn observe_exclusive(&self, slot: &NativeSlot, v: f64) {
        // Relaxed: only this thread stores this slot's pointer (a thread index changes hands
        // through the index pool's mutex, which orders the previous owner's stores first).
        let p = slot.state.load(Ordering::Relaxed);
        // SAFETY: this thread is the state's only writer and has not replaced it.
        if let Some(st) = unsafe { state(p) } {
            // Relaxed: a stale id only delays this shard's move to the new generation (the
            // next observation makes it); scrapes merge shards of any generation. The new
            // generation's parameters are read under `core`.
            let gen = self.gen.load(Ordering::Relaxed);
            if st.params.id == gen {
                // `st.params.schema`, from the id word, which does not wait for `st`.
                let schema = gen as u8 as i8;
                // In bits: `|v|` and the threshold are not negative (and not NaN), and for
                // those the bit patterns order as the values do.
                let bits = v.to_bits();
                let a = bits & !(1 << 63);
                if a > st.params.threshold.to_bits() {
                    let side = &st.sides[(bits >> 63) as usize];
                    if let Some(c) = side.get(key_of_bits(a, schema)) {
                        // Relaxed: single writer.
                        let n = c.load(Ordering::Relaxed);
                        if n != 0 {
                            c.store(n + 1, Ordering::Relaxed);
                            st.add_sum(v);
                            return;
                        }
                    }
                } else {
                    return Self::observe_zero(st, v);
                }
            }
        }
        self.observe_locked(slot, v);
    }

    /// A count in the zero bucket of the thread's own, current state.
    #[cold]
    #[inline(never)]
    fn observe_zero(st: &ShardState, v: f64) {
        ShardState::bump(&st.zero);
        st.add_sum(v);
    }

    /// The slow path, under `core`: for the overflow slot always, else for a new shard, a new
    /// generation, a key outside the window or a bucket's first count.
    #[cold]
    #[inline(never)]
    fn observe_locked(&self, slot: &NativeSlot, v: f64) {
        let mut core = lock(&self.core);
        self.reset_if_due(&mut core);
        let a = v.abs();
        let side = usize::from(v < 0.0);
        // Each round either counts `v` or moves to a coarser or reset generation; there are
        // at most 12 halvings and one reset or widening per new bucket, so 32 rounds suffice.
        for _ in 0..32 {
            let st = self.current(slot, &core);
            if a <= st.params.threshold {
                ShardState::bump(&st.zero);
                st.add_sum(v);
                return;
            }
            let k = key(a, st.params.schema);
            let st = if st.sides[side].get(k).is_some() {
                st
            } else if let Some(st) = self.grow(slot, st, side, k) {
                st
            } else {
                // The values spread too far for one window at this resolution.
                self.halve(&mut core);
                continue;
            };
            let Some(c) = st.sides[side].get(k) else {
                continue;
            };
            // Relaxed: single writer (or the mutex holder, for the overflow slot).
            if c.load(Ordering::Relaxed) == 0
                && core.populated[side].insert(k)
                && self.limit(&mut core)
            {
                continue; // a new generation: count `v` in it
            }
            ShardState::bump(c);
            st.add_sum(v);
            return;
        }
        // Not reached (see above); counted in the zero bucket rather than lost.
        let st = self.current(slot, &core);
        ShardState::bump(&st.zero);
        st.add_sum(v);
    }

    /// Installs `fresh` in `slot`, freeing the state it replaces.
    fn publish<'a>(
        &self,
        slot: &'a NativeSlot,
        fresh: Box<CachePadded<ShardState>>,
    ) -> &'a ShardState {
        let fresh = Box::into_raw(fresh);
        // Release: a scrape's Acquire load of the pointer sees the initialised state.
        let old = slot.state.swap(fresh, Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: `old` came from `Box::into_raw` here and is no longer reachable from the
            // slot. Its writer is this thread (or, for the overflow, a holder of `core`, as
            // this thread is now), which no longer uses it; scrapes read states only while
            // holding `core`, which this thread holds. So nothing references it.
            drop(unsafe { Box::from_raw(old) });
        }
        // SAFETY: `fresh` is installed and is only freed by a later `publish` on this slot
        // (by this thread, or under `core` for the overflow) or when the slot drops.
        unsafe { &*fresh }
    }

    /// The slot's state in the current generation, creating or migrating it (under `core`).
    fn current<'a>(&self, slot: &'a NativeSlot, core: &Core) -> &'a ShardState {
        // Relaxed: as in `observe_exclusive` (for the overflow, `core` orders the stores).
        let p = slot.state.load(Ordering::Relaxed);
        // SAFETY: the caller holds `core`, so the installed state stays valid.
        match unsafe { state(p) } {
            Some(st) if st.params.id == core.params.id => st,
            Some(st) if st.params.epoch == core.params.epoch => {
                let fresh = self.migrate(st, core.params);
                self.publish(slot, fresh)
            }
            // No state yet, or one from before a reset: its counts are dropped.
            _ => self.publish(slot, ShardState::empty(core.params)),
        }
    }

    /// `st`'s counts in generation `to` (same epoch, coarser or equal schema, wider or equal
    /// zero threshold).
    fn migrate(&self, st: &ShardState, to: Params) -> Box<CachePadded<ShardState>> {
        let from = st.params;
        let mut fresh = ShardState::empty(to);
        // Relaxed: this thread's own counts (or, for the overflow, written under `core`).
        let mut zero = st.zero.load(Ordering::Relaxed);
        for (i, side) in st.sides.iter().enumerate() {
            let Some((lo, hi)) = side.range() else {
                continue;
            };
            let (lo, hi) = (
                coarsen(lo, from.schema, to.schema),
                coarsen(hi, from.schema, to.schema),
            );
            let target = Side::new(lo, (hi - lo + 1) as usize);
            side.for_each(|k, n| {
                if from.threshold < to.threshold && upper_bound(k, from.schema) <= to.threshold {
                    zero += n;
                } else if let Some(c) = target.get(coarsen(k, from.schema, to.schema)) {
                    c.store(c.load(Ordering::Relaxed) + n, Ordering::Relaxed);
                }
            });
            fresh.sides[i] = target;
        }
        fresh.zero.store(zero, Ordering::Relaxed);
        fresh
            .sum
            .store(st.sum.load(Ordering::Relaxed), Ordering::Relaxed);
        fresh
    }

    /// `st` with side `side`'s window widened to hold `k`, installed in `slot`; `None` if the
    /// window would exceed [`MAX_WINDOW`].
    fn grow<'a>(
        &self,
        slot: &'a NativeSlot,
        st: &ShardState,
        side: usize,
        k: i32,
    ) -> Option<&'a ShardState> {
        let old = &st.sides[side];
        let (lo, hi) = match old.range() {
            None => (k - LANES as i32, k + LANES as i32 - 1),
            Some((olo, ohi)) => {
                let (ulo, uhi) = (olo.min(k), ohi.max(k));
                let need = (uhi - ulo + 1) as usize;
                if need > MAX_WINDOW {
                    return None;
                }
                // Room for half as much again in the direction of growth.
                let slack = (need / 2).max(LANES) as i32;
                let max = MAX_WINDOW as i32;
                if k < olo {
                    ((k - slack).max(uhi - max + 1), uhi)
                } else {
                    (ulo, (k + slack).min(ulo + max - 1))
                }
            }
        };
        let len = (hi - lo + 1) as usize;
        let mut fresh = ShardState::empty(st.params);
        let target = Side::new(lo, len);
        old.for_each(|key, n| {
            if let Some(c) = target.get(key) {
                c.store(n, Ordering::Relaxed);
            }
        });
        fresh.sides[side] = target;
        let other = &st.sides[1 - side];
        if let Some((olo, ohi)) = other.range() {
            let copy = Side::new(olo, (ohi - olo + 1) as usize);
            other.for_each(|key, n| {
                if let Some(c) = copy.get(key) {
                    c.store(n, Ordering::Relaxed);
                }
            });
            fresh.sides[1 - side] = copy;
        }
        // Relaxed: this thread's own values (or, for the overflow, written under `core`).
        fresh
            .zero
            .store(st.zero.load(Ordering::Relaxed), Ordering::Relaxed);
        fresh
            .sum
            .store(st.sum.load(Ordering::Relaxed), Ordering::Relaxed);
        Some(self.publish(slot, fresh))
    }

    /// Starts generation `params` (its id is the next one).
    fn start(&self, core: &mut Core, mut params: Params) {
        params.id = Params::id_for((core.params.id >> 8) + 1, params.schema);
        core.params = params;
        // Relaxed: writers that see the new id read its parameters under `core`.
        self.gen.store(params.id, Ordering::Relaxed);
    }

    /// The bucket limit, after a new key was added to `populated`: applies client_golang's
    /// strategy if the limit is exceeded. Returns whether a new generation started.
    fn limit(&self, core: &mut Core) -> bool {
        let max = self.config.max_buckets as usize;
        if max == 0 || core.populated[0].len() + core.populated[1].len() <= max {
            return false;
        }
        if self.resets {
            let now = Instant::now();
            if now.duration_since(core.last_reset) >= self.config.min_reset {
                self.reset(core, now);
                return true;
            }
            core.reset_due
                .get_or_insert(core.last_reset + self.config.min_reset);
        }
        self.widen(core) || self.halve(core)
    }

    fn reset(&self, core: &mut Core, now: Instant) {
        let params = Params {
            id: 0,
            epoch: core.params.epoch + 1,
            schema: self.config.schema,
            threshold: self.config.zero_threshold,
        };
        self.start(core, params);
        core.populated.iter_mut().for_each(BTreeSet::clear);
        core.last_reset = now;
        core.reset_due = None;
    }

    fn reset_if_due(&self, core: &mut Core) {
        if let Some(due) = core.reset_due {
            let now = Instant::now();
            if now >= due {
                self.reset(core, now);
            }
        }
    }

    /// Widens the zero bucket over the lowest populated bucket, if the maximum zero
    /// threshold allows.
    fn widen(&self, core: &mut Core) -> bool {
        let p = core.params;
        if p.threshold >= self.config.max_zero_threshold {
            return false;
        }
        let lowest = core
            .populated
            .iter()
            .filter_map(|s| s.first())
            .min()
            .copied();
        let Some(lowest) = lowest else {
            return false;
        };
        let threshold = upper_bound(lowest, p.schema);
        if threshold > self.config.max_zero_threshold {
            return false;
        }
        for s in &mut core.populated {
            *s = s.split_off(&(lowest + 1));
        }
        self.start(core, Params { threshold, ..p });
        true
    }

    /// Halves the resolution (schema − 1), unless it is already the coarsest; with a bucket
    /// limit, again until the populated buckets fit it (or the schema is the coarsest).
    ///
    /// client_golang halves once per new bucket, so sparse buckets whose pairs do not merge
    /// (keys two apart) leave it over its limit until the next new bucket; halving until
    /// they fit keeps the limit after every observation.
    fn halve(&self, core: &mut Core) -> bool {
        let p = core.params;
        if p.schema <= MIN_SCHEMA {
            return false;
        }
        let max = self.config.max_buckets as usize;
        let mut schema = p.schema;
        loop {
            let coarser = schema - 1;
            for s in &mut core.populated {
                *s = s.iter().map(|&k| coarsen(k, schema, coarser)).collect();
            }
            schema = coarser;
            let fits = core.populated[0].len() + core.populated[1].len() <= max;
            if max == 0 || fits || schema <= MIN_SCHEMA {
                break;
            }
        }
        self.start(core, Params { schema, ..p });
        true
    }
}
