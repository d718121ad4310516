//! Module implementing the protobuf encoder's per-series cache: each built-in family child's
//! encoded `LabelPair` fields and its encoded `created_timestamp`, kept from scrape to
//! scrape. See [`LabelCache`].
//!
//! A child's labels and creation time never change while it lives, so once a scrape has
//! encoded them the next ones copy the bytes instead of walking and unescaping the rendered
//! `a="x",b="y"` text again (what most of a protobuf encode's time went to).

use core::ops::Range;
use std::collections::HashMap;

use super::super::arena_cache::{retain_used, ArenaEntry};
use super::super::sink::SinkSample;

/// Where a sample's series labels come from, when they are only the registry's constant
/// labels and one rendered string (a family child's labels), with at most the type's own
/// label (`le`, `quantile`) besides: the addresses and lengths of those two strings.
///
/// A child's rendered labels stay put and unchanged while it lives, and no two live
/// children share one, so equal pieces mean the same series within one collection; with an
/// equal child id they mean the same labels as when cached. Empty pieces count as `(0, 0)`
/// whatever their address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pieces([(usize, usize); 2]);

impl Pieces {
    /// The pieces of `s`, if its series labels are only its first two rendered strings (no
    /// info labels, state, or collector pairs other than `special`).
    #[inline]
    pub(super) fn of(s: &SinkSample<'_>, special: &str) -> Option<Pieces> {
        let simple = s.rendered[2].is_empty()
            && s.extra.is_none_or(|(n, _)| n == special)
            && s.pairs.iter().all(|(n, _)| *n == special);
        let at = |b: &[u8]| {
            if b.is_empty() {
                (0, 0)
            } else {
                (b.as_ptr().addr(), b.len())
            }
        };
        simple.then(|| Pieces([at(s.rendered[0]), at(s.rendered[1])]))
    }
}

/// An encoded `created_timestamp` field (key, length, message): at most 1 + 1 + 11 + 6 bytes.
#[derive(Debug, Clone, Copy)]
struct Created {
    /// The seconds it encodes, as `f64` bits.
    bits: u64,
    len: u8,
    bytes: [u8; 24],
}

#[derive(Debug, Clone)]
struct Entry {
    child: u64,
    pieces: Pieces,
    /// The encoded `Metric.label` fields in the arena.
    labels: Range<usize>,
    created: Option<Created>,
    /// The scrape that last used this entry.
    seen: u64,
}

impl ArenaEntry for Entry {
    type Key = u64;
    fn key(&self) -> u64 {
        self.child
    }
    fn bytes(&mut self) -> &mut Range<usize> {
        &mut self.labels
    }
}

/// Each built-in family child's encoded labels (and created timestamp), across scrapes.
///
/// Entries are kept in the order the last scrape used them, and registries write their
/// children in the same order every time (registration order, then creation order), so a
/// lookup first tries the entry after the previous one and falls back to the hash index only
/// when children were added, removed or reordered.
///
/// Memory follows the live children: each scrape keeps only the entries it used (a filtered
/// scrape, `?name[]=`, so drops the others, which the next full scrape encodes again), and
/// the arena is compacted once more than half of it (plus [`ARENA_SLACK`](crate::encode::arena_cache::ARENA_SLACK)) is evicted bytes.
/// A warm scrape of the same children only reads and marks entries: no allocation.
#[derive(Debug, Default)]
pub(super) struct LabelCache {
    entries: Vec<Entry>,
    /// Child id → position in `entries`.
    index: HashMap<u64, usize, ahash::RandomState>,
    arena: Vec<u8>,
    /// Bytes of the arena that `entries` use.
    live: usize,
    /// Where the next lookup looks first.
    cursor: usize,
    /// The current scrape's number.
    epoch: u64,
    /// Positions in `entries` used in this scrape, first use only, in order of use.
    order: Vec<usize>,
    /// Whether this scrape used entries out of order, or added some.
    changed: bool,
}

impl LabelCache {
    /// The entry of `child`, if it holds the labels for these `pieces`; marks it used.
    #[inline]
    pub(super) fn get(&mut self, child: u64, pieces: Pieces) -> Option<usize> {
        let at = match self.entries.get(self.cursor) {
            Some(e) if e.child == child => self.cursor,
            _ => {
                self.changed = true;
                *self.index.get(&child)?
            }
        };
        let e = &mut self.entries[at];
        if e.pieces != pieces {
            return None;
        }
        self.cursor = at + 1;
        if e.seen != self.epoch {
            e.seen = self.epoch;
            self.order.push(at);
        }
        Some(at)
    }

    /// The encoded labels of entry `at`.
    #[inline]
    pub(super) fn labels(&self, at: usize) -> &[u8] {
        &self.arena[self.entries[at].labels.clone()]
    }

    /// Caches `labels` for `child`, replacing what it held; returns its entry.
    pub(super) fn insert(&mut self, child: u64, pieces: Pieces, labels: &[u8]) -> usize {
        self.changed = true;
        let start = self.arena.len();
        self.arena.extend_from_slice(labels);
        let fresh = Entry {
            child,
            pieces,
            labels: start..self.arena.len(),
            created: None,
            seen: self.epoch,
        };
        self.live += labels.len();
        let at = match self.index.get(&child) {
            Some(&at) => {
                let old = core::mem::replace(&mut self.entries[at], fresh);
                self.live -= old.labels.len();
                if old.seen != self.epoch {
                    self.order.push(at);
                }
                at
            }
            None => {
                let at = self.entries.len();
                self.index.insert(child, at);
                self.order.push(at);
                self.entries.push(fresh);
                at
            }
        };
        self.cursor = at + 1;
        at
    }

    /// The encoded created timestamp of entry `at`, if it was cached for these seconds.
    #[inline]
    pub(super) fn created(&self, at: usize, secs: f64) -> Option<&[u8]> {
        match &self.entries[at].created {
            Some(c) if c.bits == secs.to_bits() => Some(&c.bytes[..usize::from(c.len)]),
            _ => None,
        }
    }

    /// Caches the encoded created timestamp `field` of `secs` for entry `at` (ignored if
    /// longer than any timestamp field can be).
    pub(super) fn set_created(&mut self, at: usize, secs: f64, field: &[u8]) {
        let mut bytes = [0u8; 24];
        if let (Some(dst), Ok(len)) = (bytes.get_mut(..field.len()), u8::try_from(field.len())) {
            dst.copy_from_slice(field);
            self.entries[at].created = Some(Created {
                bits: secs.to_bits(),
                len,
                bytes,
            });
        }
    }

    /// Ends a scrape: keeps only the entries it used, in the order it used them, and
    /// compacts the arena when most of it is garbage.
    pub(super) fn end_scrape(&mut self) {
        let reorder = self.changed || self.order.len() != self.entries.len();
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
