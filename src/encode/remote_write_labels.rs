//! Module implementing a series' label set as both Remote-Write versions send it: `__name__`,
//! the rendered labels (unescaped), an extra pair, a custom collector's pairs and the
//! external labels, sorted by name, unique (the series' own label wins over an external one)
//! and without empty values (Prometheus treats an empty value as no label). See
//! [`SeriesLabels`].

use core::ops::Range;

use super::sink::{for_each_pair, unescape, SinkSample};

#[derive(Debug, Clone)]
struct LabelRef {
    name: Range<usize>,
    value: Range<usize>,
    external: bool,
}

/// One series' labels, gathered by [`fill`](Self::fill); reused across series.
#[derive(Debug, Default)]
pub(crate) struct SeriesLabels {
    /// Unescaped label bytes.
    bytes: Vec<u8>,
    labels: Vec<LabelRef>,
}

impl SeriesLabels {
    /// Gathers, sorts and de-duplicates the labels of `s` with `external` added.
    pub(crate) fn fill(&mut self, s: &SinkSample<'_>, external: &[(Box<str>, Box<str>)]) {
        self.bytes.clear();
        self.labels.clear();
        for part in s.name {
            self.bytes.extend_from_slice(part.as_bytes());
        }
        let v0 = self.bytes.len();
        // `__name__` is stored as the value of a label named `__name__`.
        self.bytes.extend_from_slice(b"__name__");
        self.labels.push(LabelRef {
            name: v0..self.bytes.len(),
            value: 0..v0,
            external: false,
        });
        for part in s.rendered {
            for_each_pair(part, |n, v, escaped| {
                self.push(n, v, escaped, false);
            });
        }
        if let Some((n, v)) = s.extra {
            self.push(n.as_bytes(), v.as_bytes(), false, false);
        }
        for (n, v) in s.pairs {
            self.push(n.as_bytes(), v.as_bytes(), false, false);
        }
        for (n, v) in external {
            self.push(n.as_bytes(), v.as_bytes(), false, true);
        }
        let bytes = &self.bytes;
        // Sorted by name; for one name the series' own label first, so `dedup_by` (which
        // keeps the first of a run) lets it win over an external label.
        self.labels.sort_unstable_by(|a, b| {
            bytes[a.name.clone()]
                .cmp(&bytes[b.name.clone()])
                .then(a.external.cmp(&b.external))
        });
        self.labels
            .dedup_by(|later, kept| bytes[later.name.clone()] == bytes[kept.name.clone()]);
        self.labels.retain(|l| !l.value.is_empty());
    }

    /// The labels as (name, value), sorted by name.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.labels
            .iter()
            .map(|l| (&self.bytes[l.name.clone()], &self.bytes[l.value.clone()]))
    }

    fn push(&mut self, name: &[u8], value: &[u8], escaped: bool, external: bool) {
        let n0 = self.bytes.len();
        self.bytes.extend_from_slice(name);
        let v0 = self.bytes.len();
        if escaped {
            unescape(&mut self.bytes, value);
        } else {
            self.bytes.extend_from_slice(value);
        }
        self.labels.push(LabelRef {
            name: n0..v0,
            value: v0..self.bytes.len(),
            external,
        });
    }
}
