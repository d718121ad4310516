//! Module implementing a Remote-Write 2.0 series' exemplars (`TimeSeries.exemplars = 4`):
//!
//! ```text
//! message Exemplar { repeated uint32 labels_refs = 1; double value = 2; int64 timestamp = 3; }
//! ```
//!
//! Chosen as the 1.0 encoder chooses them (see `remote_write_extras`, whose helpers this
//! reuses): each is sent once, the series' cache entry holding a mark of what it last sent;
//! one without a timestamp gets the collection's; a native histogram sends every exemplar of
//! its ring newer than its mark, oldest first, timestamped ones only; uncached series send
//! theirs every collection. An exemplar's labels are sorted by name and, as the series' are,
//! numbered in the request's symbol table: a string the encoder's table already numbers gets
//! that symbol; any other (a trace id) is numbered in a table kept for the current request
//! only, so the encoder's long-lived tables do not fill with one-off values. (A string
//! first numbered there and later used by a series label of the same request is in the table
//! twice, under two numbers: valid, as a reference names one string either way.)
//!
//! Marks live in the series cache: a collection that fails clears them all (its requests
//! are discarded, exemplars with them), and when the tables are dropped for label churn
//! (see `symbols`) the marks go too, so each series' latest exemplar is sent once more.

use core::ops::Range;

use prost::encoding::encoded_len_varint;

use super::{put_varint, HeldExemplar, Sink};
use crate::encode::remote_write::extras::{exemplar_ms, fingerprint, sorted_labels};
use crate::encode::ExemplarRef;
use crate::exemplar::Slot;

impl Sink {
    /// Holds the exemplar `e` of the series just held (cached or not, see `hold`) if it is
    /// to be sent.
    pub(super) fn hold_exemplar(&mut self, e: Option<ExemplarRef<'_>>, cached: bool) {
        let Some(e) = e.filter(|_| self.send_exemplars) else {
            return;
        };
        if cached {
            let fp = fingerprint(&e);
            if let Some(mark) = self.tables.cache.last_mark() {
                if *mark == fp {
                    return;
                }
                *mark = fp;
            }
        }
        let ts = exemplar_ms(&e).unwrap_or(self.timestamp_ms);
        self.push_held_exemplar(&e, ts);
    }

    /// Holds the exemplars of a native histogram's `ring` newer than its mark, oldest first.
    pub(super) fn hold_native_exemplars(&mut self, ring: &[Slot], cached: bool) {
        if !self.send_exemplars {
            return;
        }
        let after = if cached {
            self.tables.cache.last_mark().map_or(0, |m| *m)
        } else {
            0
        };
        self.ex_order.clear();
        for (i, slot) in ring.iter().enumerate() {
            if let Some(ms) = slot.get().as_ref().and_then(exemplar_ms) {
                if ms as u64 > after {
                    self.ex_order.push((ms, i));
                }
            }
        }
        self.ex_order.sort_unstable();
        for k in 0..self.ex_order.len() {
            let (ms, i) = self.ex_order[k];
            if let Some(e) = ring[i].get() {
                self.push_held_exemplar(&e, ms);
            }
        }
        if let (true, Some(&(newest, _))) = (cached, self.ex_order.last()) {
            if let Some(mark) = self.tables.cache.last_mark() {
                *mark = newest as u64;
            }
        }
    }

    /// Adds `e`, stamped `ts_ms`, to the last held series' exemplars.
    fn push_held_exemplar(&mut self, e: &ExemplarRef<'_>, ts_ms: i64) {
        let first = self.held_ex_labels.len();
        sorted_labels(e.labels, &mut self.held_ex_bytes, &mut self.held_ex_labels);
        self.held_ex.push(HeldExemplar {
            labels: first..self.held_ex_labels.len(),
            value: e.value,
            ts_ms,
        });
        if let Some(h) = self.held.last_mut() {
            h.exemplars.end = self.held_ex.len();
        }
    }

    /// This request's symbol for an exemplar label's name or value `s`.
    fn exemplar_symbol(&mut self, s: &[u8]) -> u32 {
        // One hash for both tables (they share their seeds).
        let h = self.tables.strings.hash(s);
        if let Some(id) = self.tables.strings.find_hashed(h, s) {
            return self.symbols.symbol(id, &self.tables.strings);
        }
        let id = self.ex_strings.intern_hashed(h, s) as usize;
        if id == self.ex_local.len() {
            // New in this request (`ex_local` starts with `""`'s 0).
            let n = self.symbols.raw(s);
            self.ex_local.push(n);
        }
        self.ex_local[id]
    }

    /// Starts the next request's exemplar string table.
    pub(super) fn reset_exemplar_symbols(&mut self) {
        self.ex_strings.clear();
        self.ex_local.clear();
        self.ex_local.push(0);
    }

    /// Appends the `TimeSeries.exemplars` fields of the held exemplars `range` to `ts`.
    pub(super) fn write_exemplars(&mut self, range: Range<usize>, ts: &mut Vec<u8>) {
        if range.is_empty() {
            return;
        }
        let bytes = core::mem::take(&mut self.held_ex_bytes);
        let mut refs = core::mem::take(&mut self.ex_refs);
        for i in range {
            let ex = self.held_ex[i].clone();
            refs.clear();
            for l in ex.labels {
                let (n, v) = self.held_ex_labels[l].clone();
                let n = self.exemplar_symbol(&bytes[n]);
                let v = self.exemplar_symbol(&bytes[v]);
                put_varint(&mut refs, u64::from(n));
                put_varint(&mut refs, u64::from(v));
            }
            // int64 is written as its two's-complement u64.
            let t = ex.ts_ms as u64;
            let refs_field = if refs.is_empty() {
                0
            } else {
                1 + encoded_len_varint(refs.len() as u64) + refs.len()
            };
            // TimeSeries.exemplars = 4: Exemplar { labels_refs = 1 (packed), value = 2
            // (double), timestamp = 3 }.
            ts.push((4 << 3) | 2);
            put_varint(ts, (refs_field + 1 + 8 + 1 + encoded_len_varint(t)) as u64);
            if !refs.is_empty() {
                ts.push((1 << 3) | 2);
                put_varint(ts, refs.len() as u64);
                ts.extend_from_slice(&refs);
            }
            ts.push((2 << 3) | 1);
            ts.extend_from_slice(&ex.value.to_le_bytes());
            ts.push(3 << 3);
            put_varint(ts, t);
        }
        self.ex_refs = refs;
        self.held_ex_bytes = bytes;
    }
}

#[cfg(test)]
#[path = "remote_write_v2_exemplars_tests.rs"]
mod tests;
