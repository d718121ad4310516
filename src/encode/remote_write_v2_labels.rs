//! Module implementing a Remote-Write 2.0 series' labels: looked up in the series cache, or
//! gathered (`__name__`, the rendered labels, the external ones), unescaped, sorted by name
//! and numbered in the encoder's string table. See `Sink::hold`.

use super::symbols::{CacheKey, Pieces};
use super::{Held, LabelRef, Payload, Sink};
use crate::encode::sink::{for_each_pair, unescape, SinkSample};

impl Sink {
    fn push_label(&mut self, name: &[u8], value: impl FnOnce(&mut Vec<u8>), external: bool) {
        let n0 = self.bytes.len();
        self.bytes.extend_from_slice(name);
        let v0 = self.bytes.len();
        value(&mut self.bytes);
        self.labels.push(LabelRef {
            name: n0..v0,
            value: v0..self.bytes.len(),
            external,
        });
    }

    /// Holds the series of `s`: its labels from the cache, or sorted and numbered now.
    /// Returns whether the series has a cache entry (then the cache's last entry, which holds
    /// its exemplar mark).
    pub(super) fn hold(&mut self, s: &SinkSample<'_>, payload: Payload) -> bool {
        // Cached: built-in family samples, except an info's labels (changed in place by
        // `Info::set`). Custom collectors' labels are borrowed for the call only.
        let key = match s.series {
            Some(series) if s.rendered[2].is_empty() && s.pairs.is_empty() => Some(CacheKey {
                registry: self.registry,
                series,
            }),
            _ => None,
        };
        let pieces = Pieces::of(s);
        let start = self.held_ids.len();
        let cached = key.as_ref().and_then(|k| self.tables.cache.get(k, &pieces));
        if let Some(ids) = cached {
            self.held_ids.extend_from_slice(ids);
        } else {
            self.sort_labels(s);
            for l in &self.labels {
                let strings = &mut self.tables.strings;
                self.held_ids
                    .push(strings.intern(&self.bytes[l.name.clone()]));
                self.held_ids
                    .push(strings.intern(&self.bytes[l.value.clone()]));
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

    /// Fills `labels` with the sorted, unique, non-empty labels of `s` (`__name__` and the
    /// external labels among them), their bytes in `bytes`.
    fn sort_labels(&mut self, s: &SinkSample<'_>) {
        self.bytes.clear();
        self.labels.clear();
        for part in s.name {
            self.bytes.extend_from_slice(part.as_bytes());
        }
        let v0 = self.bytes.len();
        self.bytes.extend_from_slice(b"__name__");
        self.labels.push(LabelRef {
            name: v0..self.bytes.len(),
            value: 0..v0,
            external: false,
        });
        for part in s.rendered {
            for_each_pair(part, |n, v, escaped| {
                self.push_label(
                    n,
                    |b| {
                        if escaped {
                            unescape(b, v);
                        } else {
                            b.extend_from_slice(v);
                        }
                    },
                    false,
                );
            });
        }
        if let Some((n, v)) = s.extra {
            self.push_label(n.as_bytes(), |b| b.extend_from_slice(v.as_bytes()), false);
        }
        for (n, v) in s.pairs {
            self.push_label(n.as_bytes(), |b| b.extend_from_slice(v.as_bytes()), false);
        }
        for i in 0..self.external.len() {
            let (n, v) = &self.external[i];
            let (n0, v0) = (self.bytes.len(), self.bytes.len() + n.len());
            self.bytes.extend_from_slice(n.as_bytes());
            self.bytes.extend_from_slice(v.as_bytes());
            self.labels.push(LabelRef {
                name: n0..v0,
                value: v0..self.bytes.len(),
                external: true,
            });
        }
        let bytes = &self.bytes;
        // Sorted by name; for one name the series' own label first, so `dedup_by` (which
        // keeps the first of a run) lets it win over an external label; then empty values
        // are dropped (as 1.0 does).
        self.labels.sort_unstable_by(|a, b| {
            bytes[a.name.clone()]
                .cmp(&bytes[b.name.clone()])
                .then(a.external.cmp(&b.external))
        });
        self.labels
            .dedup_by(|later, kept| bytes[later.name.clone()] == bytes[kept.name.clone()]);
        self.labels.retain(|l| !l.value.is_empty());
    }
}
