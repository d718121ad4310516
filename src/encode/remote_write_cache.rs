//! The remote-write encoder's label cache: each built-in family series' encoded, sorted
//! `Label` messages, kept across collections so a warm collection copies them and writes
//! only the sample.

use core::ops::Range;
use std::collections::HashMap;

use crate::encode::arena_cache::{retain_used, ArenaEntry};
use crate::encode::remote_write_labels::{CacheKey, Pieces};

#[derive(Debug, Clone)]
pub(super) struct Cached {
    key: CacheKey,
    pieces: Pieces,
    /// The series' whole `WriteRequest.timeseries` entry in the arena: its key and length
    /// (`head` bytes), the encoded `Label` messages, then its `TimeSeries.samples` field
    /// (`tail` bytes), whose value and timestamp each collection overwrites in place.
    record: Range<usize>,
    head: u8,
    tail: u8,
    /// The collection that last wrote this series.
    seen: u64,
    /// What of the series' exemplars was last sent (0: nothing): a fingerprint of the
    /// exemplar for a float sample, the newest exemplar timestamp (ms) for a native
    /// histogram. See `Series::exemplar_of`.
    pub(super) mark: u64,
}

impl Cached {
    /// The arena range of the whole entry (see `record`).
    #[inline]
    pub(super) fn record(&self) -> Range<usize> {
        self.record.clone()
    }

    /// The arena range of its encoded labels.
    #[inline]
    pub(super) fn labels(&self) -> Range<usize> {
        self.record.start + usize::from(self.head)..self.record.end - usize::from(self.tail)
    }

    /// Length of its `TimeSeries.samples` field.
    #[inline]
    pub(super) fn tail(&self) -> usize {
        usize::from(self.tail)
    }
}

impl ArenaEntry for Cached {
    type Key = CacheKey;
    fn key(&self) -> CacheKey {
        self.key
    }
    fn bytes(&mut self) -> &mut Range<usize> {
        &mut self.record
    }
}

/// Each built-in family series' encoded labels, across collections.
///
/// Entries are kept in the order the last collection wrote them, and registries write their
/// series in the same order every time (registration order, then child creation order), so
/// a lookup first tries the entry after the previous one and only falls back to the hash
/// index when series were added, removed or reordered.
///
/// Memory follows the live series: a collection that completes keeps only the entries it
/// wrote (in the order it wrote them), and the arena is compacted once more than half of it
/// (plus [`ARENA_SLACK`](crate::encode::arena_cache::ARENA_SLACK)) is evicted bytes. A warm collection with the same series only
/// reads and marks entries: no allocation.
#[derive(Debug, Default)]
pub(super) struct LabelCache {
    pub(super) entries: Vec<Cached>,
    /// Key → position in `entries`.
    pub(super) index: HashMap<CacheKey, usize, ahash::RandomState>,
    /// Encoded labels of all entries (and, until compacted, of evicted ones).
    pub(super) arena: Vec<u8>,
    /// Bytes of the arena that `entries` use.
    pub(super) live: usize,
    /// Where the next lookup looks first.
    cursor: usize,
    /// The current collection's number.
    epoch: u64,
    /// Positions in `entries` of the series written in this collection, first write only, in
    /// the order written.
    order: Vec<usize>,
    /// Whether this collection wrote series out of `entries`' order, or new ones.
    changed: bool,
}

impl LabelCache {
    /// The position of `key`'s entry, if it holds its labels for these `pieces`.
    #[inline]
    pub(super) fn get(&mut self, key: &CacheKey, pieces: &Pieces) -> Option<usize> {
        let at = match self.entries.get(self.cursor) {
            Some(e) if e.key == *key => self.cursor,
            _ => {
                self.changed = true;
                *self.index.get(key)?
            }
        };
        let e = &mut self.entries[at];
        if e.pieces != *pieces {
            return None;
        }
        self.cursor = at + 1;
        if e.seen != self.epoch {
            e.seen = self.epoch;
            self.order.push(at);
        }
        Some(at)
    }

    /// Caches the entry `head`, `labels`, `tail` (see [`Cached::record`]; `head` and `tail`
    /// at most 255 bytes) for `key`, replacing what it held (its exemplar mark too);
    /// returns the entry's position.
    pub(super) fn insert(
        &mut self,
        key: CacheKey,
        pieces: Pieces,
        [head, labels, tail]: [&[u8]; 3],
    ) -> usize {
        self.changed = true;
        let start = self.arena.len();
        self.arena.extend_from_slice(head);
        self.arena.extend_from_slice(labels);
        self.arena.extend_from_slice(tail);
        let fresh = Cached {
            key,
            pieces,
            record: start..self.arena.len(),
            head: head.len() as u8,
            tail: tail.len() as u8,
            seen: self.epoch,
            mark: 0,
        };
        self.live += fresh.record.len();
        match self.index.get(&key) {
            Some(&at) => {
                let old = core::mem::replace(&mut self.entries[at], fresh);
                self.live -= old.record.len();
                if old.seen != self.epoch {
                    self.order.push(at);
                }
                at
            }
            None => {
                let at = self.entries.len();
                self.index.insert(key, at);
                self.order.push(at);
                self.entries.push(fresh);
                at
            }
        }
    }

    /// Ends a collection. One that `completed` keeps only the series it wrote, in the order
    /// it wrote them; one that failed part-way keeps everything. Compacts the arena when most
    /// of it is garbage.
    ///
    /// A failed collection's batches are discarded, and with them any exemplar they held:
    /// every exemplar mark is cleared so the next collection sends the latest ones again.
    pub(super) fn end_collection(&mut self, completed: bool) {
        if !completed {
            for e in &mut self.entries {
                e.mark = 0;
            }
        }
        let reorder = completed && (self.changed || self.order.len() != self.entries.len());
        retain_used(
            &mut self.entries,
            &self.order,
            &mut self.index,
            &mut self.arena,
            &mut self.live,
            reorder,
        );
        self.order.clear();
        self.changed = false;
        self.cursor = 0;
        self.epoch += 1;
    }
}
