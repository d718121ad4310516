//! Module implementing a Remote-Write 2.0 series' labels: looked up in the series cache, or
//! gathered (`__name__`, the rendered labels, the external ones), unescaped, sorted by name
//! and numbered in the encoder's string table. See `Sink::hold`.

use super::{Held, Payload, Sink};
use crate::encode::remote_write_labels::{CacheKey, Pieces};
use crate::encode::sink::SinkSample;

impl Sink {
    /// Holds the series of `s`: its labels from the cache, or sorted and numbered now.
    /// Returns whether the series has a cache entry (then the cache's last entry, which holds
    /// its exemplar mark).
    pub(super) fn hold(&mut self, s: &SinkSample<'_>, payload: Payload) -> bool {
        let key = CacheKey::of(self.registry, s);
        let pieces = Pieces::of(s);
        let start = self.held_ids.len();
        let cached = key.as_ref().and_then(|k| self.tables.cache.get(k, &pieces));
        if let Some(ids) = cached {
            self.held_ids.extend_from_slice(ids);
        } else {
            self.sorted.fill(s, &self.external);
            for (name, value) in self.sorted.iter() {
                let strings = &mut self.tables.strings;
                self.held_ids.push(strings.intern(name));
                self.held_ids.push(strings.intern(value));
            }
            if let Some(k) = key {
                self.tables.cache.insert(k, pieces, &self.held_ids[start..]);
            }
        }
        let cached = key.is_some();
        let ex = self.held_ex.len();
        self.held.push(Held {
            ids: start..self.held_ids.len(),
            payload,
            exemplars: ex..ex,
        });
        cached
    }
}
