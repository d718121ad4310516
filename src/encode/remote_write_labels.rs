//! Module implementing a series' label set as both Remote-Write versions send it: `__name__`,
//! the rendered labels (unescaped), an extra pair, a custom collector's pairs and the
//! external labels, sorted by name, unique (the series' own label wins over an external one)
//! and without empty values (Prometheus treats an empty value as no label). See
//! [`SeriesLabels`]. Also how both encoders' label caches know a series again from one
//! collection to the next ([`CacheKey`], [`Pieces`]).

use core::ops::Range;

use super::sink::{for_each_pair, unescape, SeriesId, SinkSample};

/// Key of a cached series: the registry it is collected from and its [`SeriesId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub(crate) registry: u64,
    pub(crate) series: SeriesId,
}

/// Addresses and lengths of a sample's name pieces, its first two rendered label pieces and
/// its extra pair. For a key that names a live child they point into memory that stays put
/// and unchanged while the child lives (registry prefix and constant labels, family name,
/// the child's rendered labels, `&'static` suffixes, the family's bucket bounds), so equal
/// pieces with an equal key mean equal labels; a sample whose ordinal shifted (one left out)
/// differs here and is re-encoded instead of getting another sample's labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pieces([(usize, usize); 7]);

impl CacheKey {
    /// The key of `s` collected from registry `registry`, if its labels can be cached:
    /// built-in family samples, except an info's labels (changed in place by `Info::set`).
    /// Custom collectors' labels are borrowed for the call only.
    #[inline]
    pub(crate) fn of(registry: u64, s: &SinkSample<'_>) -> Option<CacheKey> {
        match s.series {
            Some(series) if s.rendered[2].is_empty() && s.pairs.is_empty() => {
                Some(CacheKey { registry, series })
            }
            _ => None,
        }
    }
}

impl Pieces {
    pub(crate) fn of(s: &SinkSample<'_>) -> Self {
        let at = |b: &[u8]| (b.as_ptr().addr(), b.len());
        let (en, ev) = s
            .extra
            .map_or((&[][..], &[][..]), |(n, v)| (n.as_bytes(), v.as_bytes()));
        Pieces([
            at(s.name[0].as_bytes()),
            at(s.name[1].as_bytes()),
            at(s.name[2].as_bytes()),
            at(s.rendered[0]),
            at(s.rendered[1]),
            at(en),
            at(ev),
        ])
    }
}

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
