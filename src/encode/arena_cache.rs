//! Module implementing the end-of-pass step shared by the per-series caches of the protobuf
//! encoder and the remote-write encoder: both keep entries whose encoded labels live in one
//! byte arena, indexed by a key, and after each pass keep only what the pass used. See
//! [`retain_used`].

use core::hash::Hash;
use core::ops::Range;
use std::collections::HashMap;

/// Arena bytes that may be garbage before the arena is compacted, beyond the live bytes.
pub(crate) const ARENA_SLACK: usize = 64 * 1024;

/// An entry of such a cache: its key and where its bytes are in the arena.
pub(crate) trait ArenaEntry: Clone {
    /// The index key.
    type Key: Hash + Eq + Copy;
    /// This entry's key.
    fn key(&self) -> Self::Key;
    /// This entry's bytes in the arena.
    fn bytes(&mut self) -> &mut Range<usize>;
}

/// Ends a pass: when `reorder`, keeps only the entries the pass used (`order`: their
/// positions, in the order it used them) and rebuilds the index and the live byte count;
/// then compacts the arena when more than half of it (plus [`ARENA_SLACK`]) is garbage.
pub(crate) fn retain_used<E: ArenaEntry>(
    entries: &mut Vec<E>,
    order: &[usize],
    index: &mut HashMap<E::Key, usize, ahash::RandomState>,
    arena: &mut Vec<u8>,
    live: &mut usize,
    reorder: bool,
) {
    if reorder {
        let mut kept = Vec::with_capacity(order.len());
        kept.extend(order.iter().map(|&at| entries[at].clone()));
        *entries = kept;
        index.clear();
        if index.capacity() > 4 * entries.len() + 64 {
            index.shrink_to(2 * entries.len());
        }
        index.extend(entries.iter().enumerate().map(|(at, e)| (e.key(), at)));
        *live = entries.iter_mut().map(|e| e.bytes().len()).sum();
    }
    if arena.len() > 2 * *live + ARENA_SLACK {
        let mut compact = Vec::with_capacity(*live);
        for e in entries.iter_mut() {
            let start = compact.len();
            compact.extend_from_slice(&arena[e.bytes().clone()]);
            *e.bytes() = start..compact.len();
        }
        *arena = compact;
    }
}
