//! Module implementing the string tables of the Remote-Write 2.0 encoder: [`Strings`], every
//! label name and value, help text and unit seen, numbered for the encoder's life;
//! [`Symbols`], one request's symbol table, mapping those numbers to the request's own; and
//! [`SeriesCache`], each built-in family series' sorted labels as string numbers, so that a
//! warm collection neither parses, sorts nor hashes label strings.
//!
//! Memory follows the live series: [`Tables::end_collection`] drops everything (the next
//! collection starts cold) once more than half of the strings or cached labels were not used
//! by the last collection (plus a fixed slack).

use core::ops::Range;
use std::collections::HashMap;

use prost::encoding::{encode_key, encode_varint, WireType};

use crate::encode::remote_write_labels::{CacheKey, Pieces};

/// End of a [`Strings`] hash chain.
const NONE: u32 = u32::MAX;

/// Entries the tables may hold beyond twice the last collection's use before they are
/// dropped.
const SLACK: usize = 4096;

/// Strings numbered in the order first seen; 0 is `""`.
#[derive(Debug)]
pub(super) struct Strings {
    bytes: Vec<u8>,
    spans: Vec<Range<usize>>,
    /// Hash of a string → the newest string with that hash.
    index: HashMap<u64, u32, ahash::RandomState>,
    /// Per string, the next older one with the same hash, or [`NONE`].
    next: Vec<u32>,
    hasher: ahash::RandomState,
}

impl Strings {
    pub(super) fn new() -> Self {
        let mut s = Strings {
            bytes: Vec::new(),
            spans: Vec::new(),
            index: HashMap::default(),
            next: Vec::new(),
            // Fixed seeds: the hash only finds strings; their numbers follow first use.
            hasher: ahash::RandomState::with_seeds(1, 2, 3, 4),
        };
        s.clear();
        s
    }

    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
        self.index.clear();
        self.next.clear();
        self.spans.push(0..0);
        self.next.push(NONE);
    }

    /// The number of `s`, added if new.
    pub(super) fn intern(&mut self, s: &[u8]) -> u32 {
        self.intern_hashed(self.hash(s), s)
    }

    /// The hash [`intern_hashed`](Self::intern_hashed) and [`find_hashed`](Self::find_hashed)
    /// take: the same for every `Strings` (fixed seeds), so one hash serves two tables.
    pub(super) fn hash(&self, s: &[u8]) -> u64 {
        self.hasher.hash_one(s)
    }

    /// [`intern`](Self::intern) of `s`, whose [`hash`](Self::hash) is `h`.
    pub(super) fn intern_hashed(&mut self, h: u64, s: &[u8]) -> u32 {
        if s.is_empty() {
            return 0;
        }
        if let Some(at) = self.lookup(h, s) {
            return at;
        }
        let id = self.spans.len() as u32;
        let start = self.bytes.len();
        self.bytes.extend_from_slice(s);
        self.spans.push(start..self.bytes.len());
        let older = self.index.insert(h, id).unwrap_or(NONE);
        self.next.push(older);
        id
    }

    /// The number of `s`, whose [`hash`](Self::hash) is `h`, if it has one.
    pub(super) fn find_hashed(&self, h: u64, s: &[u8]) -> Option<u32> {
        if s.is_empty() {
            return Some(0);
        }
        self.lookup(h, s)
    }

    /// The number of `s`, whose hash is `h`, if it has one.
    fn lookup(&self, h: u64, s: &[u8]) -> Option<u32> {
        let mut at = self.index.get(&h).copied().unwrap_or(NONE);
        while at != NONE {
            if self.bytes[self.spans[at as usize].clone()] == *s {
                return Some(at);
            }
            at = self.next[at as usize];
        }
        None
    }

    /// How many strings are numbered (`""` included).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.spans.len()
    }

    fn get(&self, id: u32) -> &[u8] {
        &self.bytes[self.spans[id as usize].clone()]
    }
}

/// One request's symbol table: the encoded `Request.symbols` fields (`""` first) and, per
/// [`Strings`] number, its symbol number in this request.
#[derive(Debug, Default)]
pub(super) struct Symbols {
    pub(super) encoded: Vec<u8>,
    /// Symbols in this request.
    pub(super) count: u32,
    /// Per string number: the request (`generation`) that numbered it, and its number there.
    stamp: Vec<u32>,
    local: Vec<u32>,
    generation: u32,
}

impl Symbols {
    /// Starts the next request's table.
    pub(super) fn reset(&mut self) {
        self.encoded.clear();
        // Request.symbols = 4, the empty string.
        self.encoded.extend_from_slice(&[(4 << 3) | 2, 0]);
        self.count = 1;
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Wrapped: forget every stamp rather than mistake an old one for this request's.
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
    }

    /// This request's number of string `id`, added to the table if new.
    #[inline]
    pub(super) fn symbol(&mut self, id: u32, strings: &Strings) -> u32 {
        if id == 0 {
            return 0;
        }
        let at = id as usize;
        if self.stamp.get(at) == Some(&self.generation) {
            return self.local[at];
        }
        self.add(id, strings)
    }

    /// Adds `s` to this request's table as a new symbol (the caller knows it is not there
    /// yet) and returns its number.
    pub(super) fn raw(&mut self, s: &[u8]) -> u32 {
        encode_key(4, WireType::LengthDelimited, &mut self.encoded);
        encode_varint(s.len() as u64, &mut self.encoded);
        self.encoded.extend_from_slice(s);
        self.count += 1;
        self.count - 1
    }

    /// [`symbol`](Self::symbol) for a string not yet in this request.
    #[cold]
    fn add(&mut self, id: u32, strings: &Strings) -> u32 {
        let at = id as usize;
        if at >= self.stamp.len() {
            let n = strings.spans.len().max(at + 1);
            self.stamp.resize(n, 0);
            self.local.resize(n, 0);
        }
        let s = strings.get(id);
        encode_key(4, WireType::LengthDelimited, &mut self.encoded);
        encode_varint(s.len() as u64, &mut self.encoded);
        self.encoded.extend_from_slice(s);
        self.stamp[at] = self.generation;
        self.local[at] = self.count;
        self.count += 1;
        self.local[at]
    }
}

#[derive(Debug, Clone)]
struct Entry {
    key: CacheKey,
    pieces: Pieces,
    /// The series' sorted labels as string numbers (name, value, ...) in `SeriesCache::ids`.
    ids: Range<usize>,
    /// What of the series' exemplars was last sent (0: nothing), as the 1.0 encoder's cache
    /// marks it: a fingerprint of a float sample's exemplar, the newest exemplar timestamp
    /// (ms) of a native histogram's ring.
    mark: u64,
}

/// Each built-in family series' sorted labels as [`Strings`] numbers.
///
/// Registries write their series in the same order every time, so a lookup first tries the
/// entry after the previous one and only then the hash index.
#[derive(Debug, Default)]
pub(super) struct SeriesCache {
    entries: Vec<Entry>,
    index: HashMap<CacheKey, usize, ahash::RandomState>,
    ids: Vec<u32>,
    cursor: usize,
    /// The entry the last [`get`](Self::get) found or [`insert`](Self::insert) wrote.
    last: usize,
}

impl SeriesCache {
    /// The cached label numbers of `key`, if held for these `pieces`.
    #[inline]
    pub(super) fn get(&mut self, key: &CacheKey, pieces: &Pieces) -> Option<&[u32]> {
        let at = match self.entries.get(self.cursor) {
            Some(e) if e.key == *key => self.cursor,
            _ => *self.index.get(key)?,
        };
        let e = &self.entries[at];
        if e.pieces != *pieces {
            return None;
        }
        self.cursor = at + 1;
        self.last = at;
        Some(&self.ids[e.ids.clone()])
    }

    /// The exemplar mark of the entry the last [`get`](Self::get) found or
    /// [`insert`](Self::insert) wrote; `None` when the cache is empty.
    pub(super) fn last_mark(&mut self) -> Option<&mut u64> {
        self.entries.get_mut(self.last).map(|e| &mut e.mark)
    }

    /// Forgets every exemplar mark: a failed collection's requests (and the exemplars in
    /// them) are discarded, so the next collection sends the latest exemplars again.
    pub(super) fn clear_marks(&mut self) {
        for e in &mut self.entries {
            e.mark = 0;
        }
    }

    /// Caches `ids` for `key`, replacing what it held (the old numbers become garbage).
    pub(super) fn insert(&mut self, key: CacheKey, pieces: Pieces, ids: &[u32]) {
        let start = self.ids.len();
        self.ids.extend_from_slice(ids);
        let entry = Entry {
            key,
            pieces,
            ids: start..self.ids.len(),
            mark: 0,
        };
        self.last = match self.index.get(&key) {
            Some(&at) => {
                self.entries[at] = entry;
                at
            }
            None => {
                self.index.insert(key, self.entries.len());
                self.entries.push(entry);
                self.entries.len() - 1
            }
        };
    }
}

/// The tables, and what the current collection used of them.
#[derive(Debug)]
pub(super) struct Tables {
    pub(super) strings: Strings,
    pub(super) cache: SeriesCache,
    /// This collection's symbols (summed over requests: at least the distinct strings used),
    /// series and label numbers written.
    pub(super) used_symbols: usize,
    pub(super) used_series: usize,
    pub(super) used_ids: usize,
}

impl Tables {
    pub(super) fn new() -> Self {
        Tables {
            strings: Strings::new(),
            cache: SeriesCache::default(),
            used_symbols: 0,
            used_series: 0,
            used_ids: 0,
        }
    }

    /// Ends a collection: drops the tables when most of them is garbage (see the module
    /// docs), and resets the use counts.
    pub(super) fn end_collection(&mut self) {
        let c = &self.cache;
        if self.strings.spans.len() > 2 * self.used_symbols + SLACK
            || c.entries.len() > 2 * self.used_series + SLACK
            || c.ids.len() > 2 * self.used_ids + 16 * SLACK
        {
            self.strings.clear();
            self.cache.entries.clear();
            self.cache.index.clear();
            self.cache.ids.clear();
        }
        self.cache.cursor = 0;
        self.used_symbols = 0;
        self.used_series = 0;
        self.used_ids = 0;
    }
}
