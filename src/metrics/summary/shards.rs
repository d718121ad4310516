//! Module implementing the buffered quantile store behind a [`Summary`](super::Summary) with
//! objectives. See [`WindowStore`].
//!
//! # Hot path
//!
//! Every thread appends its observations to its own buffer (a [`Sharded`] slot holding a
//! mutex that only that thread takes on the hot path, so it is uncontended: two uncontended
//! atomic operations, no clock read, no allocation once warm). The shard also keeps the
//! cumulative `count` and `sum` under the same lock, so they need no atomics of their own.
//!
//! When a buffer reaches the batch size it is swapped for the shard's spare and the shard is
//! released. The observing thread then:
//!
//! * merges the batch itself if the window lock is free (`try_lock`): one sort and one merge
//!   into every age bucket, plus any queued batches; the emptied buffer becomes the shard's
//!   spare again, so the steady state allocates nothing;
//! * otherwise pushes the batch onto the pending queue and returns: **an observer never waits
//!   for another thread's merge**. Only when more than [`MAX_PENDING`] batches are queued
//!   does the observer wait for the window lock and merge the queue itself, which bounds the
//!   memory held by queued batches.
//!
//! A scrape locks the window, then each shard in turn just long enough to read its totals and
//! copy its buffered values out, adds the pending queue, and merges all of it as one batch
//! (one sort, one merge per age bucket), rotates and queries. The values are gathered in a
//! per-thread vector, so a child holds no copy buffer of its own.
//!
//! # Lock order
//!
//! `window → shard`, `window → pending` and `shard → pending`; nothing takes the window while
//! holding a shard or the pending lock except through `try_lock`, so there is no cycle.
//!
//! # Memory
//!
//! A buffer starts empty and grows by doubling up to the batch size, so a child observed a few
//! times holds a few dozen bytes of buffer, and a busy thread at most two buffers (`2 × batch
//! × 8` bytes). Slots for other threads appear only when a second thread observes (see
//! [`Sharded`]). Queued batches are bounded by [`MAX_PENDING`]; emptied queued batches are
//! kept for reuse up to [`MAX_POOL`].

use core::mem;
use std::cell::Cell;
use std::time::Instant;

use crate::quantile::AgeBuckets;
use crate::shard::{Sharded, Slot};
use crate::sync::{lock, try_lock, Mutex};

use super::Clock;

/// Default number of values a shard buffers before they are merged: 512 measured 32–35 ns per
/// value amortised against 38–42 at 128 (QUANTILES.md §4), with a flush stall under 50 µs.
pub(crate) const DEFAULT_BATCH: usize = 512;

/// Queued batches past which an observer merges the queue itself (bounded memory).
pub(crate) const MAX_PENDING: usize = 64;

/// Emptied queued batches kept for reuse as shard spares.
pub(crate) const MAX_POOL: usize = 8;

/// One thread's part: cumulative totals and the values not merged yet.
#[derive(Debug, Default)]
struct ShardBuf {
    /// Non-NaN observations since creation.
    count: u64,
    /// Their sum.
    sum: f64,
    /// Values waiting to be merged (never NaN).
    buf: Vec<f64>,
    /// An empty buffer swapped in when `buf` is full (its capacity is what matters).
    spare: Vec<f64>,
}

/// A shard slot: its buffer behind its own lock.
pub(crate) struct BufSlot(Mutex<ShardBuf>);

impl Slot for BufSlot {
    type Config = ();
    fn new((): ()) -> Self {
        BufSlot(Mutex::new(ShardBuf::default()))
    }
}

/// Values a scrape gathers beyond which its thread gives the memory back afterwards.
const GATHER_KEEP: usize = 8 * DEFAULT_BATCH;

#[cfg(not(tachymeter_loom))]
crate::sync::thread_local! {
    /// The values a scrape drained from every shard and the queue, shared by every summary
    /// scraped on this thread: no child keeps a copy buffer of its own.
    static GATHER: Cell<Vec<f64>> = const { Cell::new(Vec::new()) };
}

// loom's `thread_local!` has no `const` form.
#[cfg(tachymeter_loom)]
crate::sync::thread_local! {
    static GATHER: Cell<Vec<f64>> = Cell::new(Vec::new());
}

/// Runs `f` on this thread's empty gather buffer (a fresh one while thread-locals are torn
/// down), then puts it back empty, shrunk to [`GATHER_KEEP`] after a peak.
fn with_gather(f: impl FnOnce(&mut Vec<f64>)) {
    let mut batch = GATHER.try_with(Cell::take).unwrap_or_default();
    f(&mut batch);
    batch.clear();
    if batch.capacity() > GATHER_KEEP {
        batch.shrink_to(GATHER_KEEP);
    }
    let _ = GATHER.try_with(|b| b.set(batch));
}

/// Batches handed over by observers that found the window busy, and emptied ones for reuse.
#[derive(Default)]
struct Pending {
    queue: Vec<Vec<f64>>,
    pool: Vec<Vec<f64>>,
}

/// Per-thread buffers feeding a time window of quantile summaries. See the
/// [module docs](self).
pub(crate) struct WindowStore {
    shards: Sharded<BufSlot>,
    window: Mutex<AgeBuckets>,
    pending: Mutex<Pending>,
    batch: usize,
    clock: Clock,
}

impl core::fmt::Debug for WindowStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WindowStore")
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

/// A snapshot taken by [`WindowStore::scrape`].
pub(crate) struct Scrape<'a> {
    /// The window, drained and ready to query at `now`.
    pub(crate) window: &'a mut AgeBuckets,
    /// The instant the scrape read.
    pub(crate) now: Instant,
    /// Cumulative count over all shards.
    pub(crate) count: u64,
    /// Cumulative sum over all shards.
    pub(crate) sum: f64,
}

impl WindowStore {
    pub(crate) fn new(window: AgeBuckets, batch: usize, clock: Clock) -> Self {
        WindowStore {
            shards: Sharded::new(()),
            window: Mutex::new(window),
            pending: Mutex::new(Pending::default()),
            batch: batch.max(1),
            clock,
        }
    }

    fn now(&self) -> Instant {
        self.clock.as_ref().map_or_else(Instant::now, |c| c())
    }

    /// Records `v` (not NaN) in the calling thread's shard.
    #[inline]
    pub(crate) fn observe(&self, v: f64) {
        let slot = self.shards.slot();
        let mut g = lock(&slot.0);
        g.count += 1;
        g.sum += v;
        g.buf.push(v);
        if g.buf.len() >= self.batch {
            let full = self.swap_out(&mut g);
            drop(g);
            self.flush(slot, full);
        }
    }

    /// Takes the full buffer out of a shard, leaving its spare (or a pooled buffer) in place.
    #[cold]
    fn swap_out(&self, g: &mut ShardBuf) -> Vec<f64> {
        let mut next = mem::take(&mut g.spare);
        if next.capacity() == 0 {
            // Lock order shard → pending. Without a pooled buffer the new one grows by
            // doubling (allocations only until it reaches the batch size).
            if let Some(b) = lock(&self.pending).pool.pop() {
                next = b;
            }
        }
        mem::replace(&mut g.buf, next)
    }

    /// Merges a full batch taken from `slot`, or queues it if the window is busy.
    #[cold]
    fn flush(&self, slot: &BufSlot, mut full: Vec<f64>) {
        if let Some(mut w) = try_lock(&self.window) {
            let now = self.now();
            w.insert_batch(&mut full, now);
            self.merge_pending(&mut w, now);
            drop(w);
            full.clear();
            let mut g = lock(&slot.0);
            if g.spare.capacity() == 0 {
                g.spare = full;
            } else {
                drop(g);
                self.recycle(full);
            }
            return;
        }
        let backlog = {
            let mut p = lock(&self.pending);
            if p.queue.capacity() == 0 {
                p.queue.reserve_exact(MAX_PENDING + 1);
            }
            p.queue.push(full);
            p.queue.len()
        };
        if backlog > MAX_PENDING {
            // Bounded memory: past the bound, wait for the window and merge the queue.
            let mut w = lock(&self.window);
            let now = self.now();
            self.merge_pending(&mut w, now);
        }
    }

    /// Keeps an emptied buffer for reuse, up to [`MAX_POOL`] of them.
    fn recycle(&self, b: Vec<f64>) {
        let mut p = lock(&self.pending);
        if p.pool.len() < MAX_POOL {
            if p.pool.capacity() == 0 {
                p.pool.reserve_exact(MAX_POOL);
            }
            p.pool.push(b);
        }
    }

    /// Merges every queued batch. The caller holds the window lock (`buckets` is behind it).
    fn merge_pending(&self, buckets: &mut AgeBuckets, now: Instant) {
        loop {
            // Pop under the pending lock, merge without it: observers can keep queueing.
            let Some(mut b) = lock(&self.pending).queue.pop() else {
                return;
            };
            buckets.insert_batch(&mut b, now);
            b.clear();
            self.recycle(b);
        }
    }

    /// Locks the window, drains every shard and the queue into it, rotates it to now and hands
    /// it to `f` with the cumulative totals.
    ///
    /// Everything drained is merged as one batch: one sort and one merge per age bucket,
    /// however many shards and queued batches there are.
    pub(crate) fn scrape<R>(&self, f: impl FnOnce(Scrape<'_>) -> R) -> R {
        let mut w = lock(&self.window);
        let now = self.now();
        let buckets = &mut *w;
        let (mut count, mut sum) = (0u64, 0.0f64);
        with_gather(|batch| {
            self.shards.for_each(|slot| {
                // Lock order window → shard. Copy rather than swap: both buffers keep their
                // capacity, so neither side allocates in steady state.
                let mut g = lock(&slot.0);
                count += g.count;
                sum += g.sum;
                batch.extend_from_slice(&g.buf);
                g.buf.clear();
            });
            // Lock order window → pending; the queue is empty unless observers found the
            // window busy.
            loop {
                // `let … else`, not `while let`: the pending guard must drop before `recycle`.
                let Some(mut b) = lock(&self.pending).queue.pop() else {
                    break;
                };
                batch.extend_from_slice(&b);
                b.clear();
                self.recycle(b);
            }
            if !batch.is_empty() {
                buckets.insert_batch(batch, now);
            }
        });
        buckets.rotate(now);
        f(Scrape {
            window: buckets,
            now,
            count,
            sum,
        })
    }

    /// Cumulative count and sum without draining anything.
    pub(crate) fn totals(&self) -> (u64, f64) {
        let (mut count, mut sum) = (0u64, 0.0f64);
        self.shards.for_each(|slot| {
            let g = lock(&slot.0);
            count += g.count;
            sum += g.sum;
        });
        (count, sum)
    }

    /// Approximate heap bytes: shards, buffers, queued and pooled batches, tuples.
    pub(crate) fn heap_bytes(&self) -> usize {
        let f = mem::size_of::<f64>();
        let mut n = self.shards.shard_bytes();
        self.shards.for_each(|slot| {
            let g = lock(&slot.0);
            n += (g.buf.capacity() + g.spare.capacity()) * f;
        });
        {
            let w = lock(&self.window);
            n += w.heap_bytes();
        }
        let p = lock(&self.pending);
        n += (p.queue.capacity() + p.pool.capacity()) * mem::size_of::<Vec<f64>>();
        n += p
            .queue
            .iter()
            .chain(&p.pool)
            .map(|b| b.capacity() * f)
            .sum::<usize>();
        n
    }

    /// Whether a second thread has observed (the shards are allocated).
    pub(crate) fn is_sharded(&self) -> bool {
        self.shards.is_inflated()
    }
}
