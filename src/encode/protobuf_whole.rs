//! Module implementing the protobuf encoder's fast path for a family child with one sample
//! (a counter's `_total` with its `_created`, a gauge's or untyped value): its whole
//! `Metric` in one pass. See `Encoder::whole`.

use super::cache::Pieces;
use super::kind::Kind;
use super::wire::{build_exemplar, ld_len, put_bytes, put_double, put_ld_head};
use super::{write_labels, Encoder};
use crate::encode::sink::SinkSample;

impl Encoder<'_> {
    /// Writes the whole `Metric` of the series of `s`, a family child's only sample with
    /// its created time `created` (a counter's `_total` and `_created`; a gauge's value), at
    /// once: the child's labels and created timestamp come from the cache, so the lengths
    /// are known before anything is written and nothing needs patching. Returns false, having
    /// written nothing, for a sample this cannot take (not a family child's, or with labels
    /// other than its child's and the constant ones); [`sample`](SampleSink::sample) then
    /// takes it.
    pub(super) fn whole(&mut self, s: &SinkSample<'_>, created: Option<f64>) -> bool {
        let (Some(id), Some(pieces), Some(_)) = (s.series, Pieces::of(s, ""), self.family_at)
        else {
            return false;
        };
        self.close_metric();
        let b = &mut *self.b;
        let at = match b.cache.get(id.child, pieces) {
            Some(at) => at,
            None => {
                b.body.clear();
                write_labels(&mut b.body, &mut b.unescaped, s, "");
                b.cache.insert(id.child, pieces, &b.body)
            }
        };
        // The typed message: Counter { value = 1; exemplar = 2; created_timestamp = 3; },
        // Gauge / Untyped { value = 1; }.
        b.body.clear();
        put_double(&mut b.body, 1, s.value);
        if self.kind == Kind::Counter {
            if let Some(e) = &s.exemplar {
                build_exemplar(&mut b.exemplar, &mut b.unescaped, e);
                put_bytes(&mut b.body, 2, &b.exemplar);
            }
        }
        if let (Some(secs), Some(tag)) = (created, self.kind.created_field()) {
            b.put_created(Some(at), tag, secs);
        }
        let labels = b.cache.labels(at);
        let len = labels.len() + ld_len(b.body.len());
        let out = &mut *self.out;
        out.reserve(len + 4);
        // Metric.metric = 4
        put_ld_head(out, 4, len);
        out.extend_from_slice(labels);
        put_ld_head(out, self.kind.metric_field(), b.body.len());
        out.extend_from_slice(&b.body);
        self.last_metric = len;
        self.metrics += 1;
        true
    }
}
