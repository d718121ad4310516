//! Module implementing the optional parts of a Remote-Write 1.0 body: exemplars
//! (`TimeSeries.exemplars`) and metric metadata (`WriteRequest.metadata`), from Prometheus'
//! `prompb/types.proto` and `prompb/remote.proto`:
//!
//! ```text
//! message WriteRequest   { repeated TimeSeries timeseries = 1; repeated MetricMetadata metadata = 3; }
//! message TimeSeries     { ...; repeated Exemplar exemplars = 3; ... }
//! message Exemplar       { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
//! message MetricMetadata {
//!   MetricType type = 1;   // UNKNOWN = 0, COUNTER, GAUGE, HISTOGRAM, GAUGEHISTOGRAM, SUMMARY, INFO, STATESET
//!   string metric_family_name = 2;
//!   string help = 4;
//!   string unit = 5;
//! }
//! ```
//!
//! **Exemplars** are sent once: each cached series remembers what it last sent (a
//! fingerprint of a float sample's exemplar; the newest timestamp of a native histogram's),
//! so a collection only carries exemplars recorded since the previous one, as a scrape
//! followed by Prometheus' exemplar storage would keep them. One without a timestamp gets
//! the collection's (the remote-write message requires one, and Prometheus stamps a scraped
//! one the same way). A native histogram sends every exemplar of its ring newer than the
//! last one sent, oldest first (Prometheus drops out-of-order exemplars); ones without a
//! timestamp are not sent for native histograms, since they cannot be ordered. Series that
//! are not cached (custom collectors' samples) send their exemplar every collection.
//!
//! **Metadata** is one `MetricMetadata` per family in the batch where the family's first
//! series goes, named and typed as the text exposition's `# TYPE` line names it (what
//! Prometheus itself sends for a target it scraped as text): a counter family `jobs` as
//! `jobs_total` / COUNTER, an info or a state set as GAUGE. A batch that ends up with no
//! series sends no metadata.

use core::ops::Range;

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};

use super::Series;
use crate::encode::sink::{for_each_pair, unescape};
use crate::encode::{Descriptor, ExemplarRef, Format, MetricType};
use crate::exemplar::Slot;

/// `MetricMetadata.MetricType` of a family, as the text format types it.
fn metadata_type(t: MetricType) -> u64 {
    match t {
        MetricType::Counter => 1,
        MetricType::Gauge | MetricType::Info | MetricType::StateSet => 2,
        MetricType::Histogram => 3,
        MetricType::Summary => 5,
        MetricType::Unknown => 0,
    }
}

/// Appends a length-delimited field `tag` made of the concatenation of `parts`.
fn put_string_parts(out: &mut Vec<u8>, tag: u32, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// An exemplar's timestamp in milliseconds, if it has a usable one (seconds since the epoch,
/// finite and positive). Shared with the Remote-Write 2.0 encoder.
pub(in crate::encode) fn exemplar_ms(e: &ExemplarRef<'_>) -> Option<i64> {
    e.timestamp
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| (s * 1000.0).round().min(i64::MAX as f64) as i64)
}

/// Fixed seeds: a fingerprint only has to tell this process' exemplars apart.
const FINGERPRINT: ahash::RandomState = ahash::RandomState::with_seeds(
    0x7461_6368_796d_6574,
    0x6572_2d72_772d_6578,
    0x656d_706c_6172_7321,
    0x0123_4567_89ab_cdef,
);

/// A non-zero fingerprint of an exemplar: its labels, value and timestamp. Shared with the
/// Remote-Write 2.0 encoder.
pub(in crate::encode) fn fingerprint(e: &ExemplarRef<'_>) -> u64 {
    let ts = e.timestamp.map_or(u64::MAX, f64::to_bits);
    FINGERPRINT.hash_one((e.labels, e.value.to_bits(), ts)) | 1
}

impl Series {
    /// Appends `desc`'s `WriteRequest.metadata` entry to the current batch's, when this
    /// collection sends metadata.
    pub(super) fn push_metadata(&mut self, prefix: &str, desc: &Descriptor) {
        if !self.metadata_now {
            return;
        }
        let m = &mut self.meta_msg;
        m.clear();
        let t = metadata_type(desc.metric_type());
        if t != 0 {
            encode_key(1, WireType::Varint, m);
            encode_varint(t, m);
        }
        let suffix = desc.type_line_suffix(Format::Text);
        put_string_parts(
            m,
            2,
            &[prefix.as_bytes(), desc.name().as_bytes(), suffix.as_bytes()],
        );
        if !desc.help().is_empty() {
            put_string_parts(m, 4, &[desc.help().as_bytes()]);
        }
        if !desc.unit().is_empty() {
            put_string_parts(m, 5, &[desc.unit().as_bytes()]);
        }
        // WriteRequest.metadata = 3
        put_string_parts(&mut self.meta, 3, &[m]);
    }

    /// Sets `exemplar` to the `TimeSeries.exemplars` field for `e`, if it is to be sent:
    /// always for an uncached series (`at` = None), else only when it differs from the one
    /// the cache entry `at` last sent. Clears it otherwise.
    pub(super) fn exemplar_of(&mut self, e: Option<ExemplarRef<'_>>, at: Option<usize>) {
        self.exemplar.clear();
        let Some(e) = e.filter(|_| self.send_exemplars) else {
            return;
        };
        if let Some(at) = at {
            let fp = fingerprint(&e);
            let mark = &mut self.cache.entries[at].mark;
            if *mark == fp {
                return;
            }
            *mark = fp;
        }
        let ts = exemplar_ms(&e).unwrap_or(self.timestamp_ms);
        self.push_exemplar(&e, ts);
    }

    /// Sets `exemplar` to the `TimeSeries.exemplars` fields of a native histogram's ring:
    /// those with a timestamp newer than the cache entry `at` last sent, oldest first.
    pub(super) fn native_exemplars_of(&mut self, ring: &[Slot], at: Option<usize>) {
        self.exemplar.clear();
        if !self.send_exemplars {
            return;
        }
        let after = at.map_or(0, |at| self.cache.entries[at].mark);
        self.ex_order.clear();
        for (i, slot) in ring.iter().enumerate() {
            if let Some(ms) = slot.get().as_ref().and_then(exemplar_ms) {
                if ms as u64 > after {
                    self.ex_order.push((ms, i));
                }
            }
        }
        if self.ex_order.is_empty() {
            return;
        }
        self.ex_order.sort_unstable();
        for k in 0..self.ex_order.len() {
            let (ms, i) = self.ex_order[k];
            if let Some(e) = ring[i].get() {
                self.push_exemplar(&e, ms);
            }
        }
        if let (Some(at), Some(&(newest, _))) = (at, self.ex_order.last()) {
            self.cache.entries[at].mark = newest as u64;
        }
    }

    /// Appends one `TimeSeries.exemplars` field for `e` stamped `ts_ms` to `exemplar`: its
    /// labels unescaped and sorted by name, its value, the timestamp.
    fn push_exemplar(&mut self, e: &ExemplarRef<'_>, ts_ms: i64) {
        self.ex_bytes.clear();
        self.ex_labels.clear();
        sorted_labels(e.labels, &mut self.ex_bytes, &mut self.ex_labels);
        let bytes = &self.ex_bytes;

        let label_len =
            |(n, v): &(Range<usize>, Range<usize>)| field_len(n.len()) + field_len(v.len());
        let labels_len: usize = self.ex_labels.iter().map(|l| field_len(label_len(l))).sum();
        let ts = ts_ms as u64;
        let msg_len = labels_len + 9 + 1 + encoded_len_varint(ts);
        let out = &mut self.exemplar;
        // TimeSeries.exemplars = 3
        encode_key(3, WireType::LengthDelimited, out);
        encode_varint(msg_len as u64, out);
        for l in &self.ex_labels {
            // Exemplar.labels = 1: Label { name = 1, value = 2 }
            encode_key(1, WireType::LengthDelimited, out);
            encode_varint(label_len(l) as u64, out);
            put_string_parts(out, 1, &[&bytes[l.0.clone()]]);
            put_string_parts(out, 2, &[&bytes[l.1.clone()]]);
        }
        // Exemplar.value = 2 (double), Exemplar.timestamp = 3 (int64, two's complement)
        encode_key(2, WireType::SixtyFourBit, out);
        out.extend_from_slice(&e.value.to_le_bytes());
        encode_key(3, WireType::Varint, out);
        encode_varint(ts, out);
    }
}

/// Appends the rendered exemplar `labels`' names and values, unescaped, to `bytes` and their
/// (name, value) ranges there to `out`, sorted by name. Shared with the Remote-Write 2.0
/// encoder.
pub(in crate::encode) fn sorted_labels(
    labels: &[u8],
    bytes: &mut Vec<u8>,
    out: &mut Vec<(Range<usize>, Range<usize>)>,
) {
    let first = out.len();
    for_each_pair(labels, |n, v, escaped| {
        let n0 = bytes.len();
        bytes.extend_from_slice(n);
        let v0 = bytes.len();
        if escaped {
            unescape(bytes, v);
        } else {
            bytes.extend_from_slice(v);
        }
        out.push((n0..v0, v0..bytes.len()));
    });
    let bytes = &bytes[..];
    out[first..].sort_unstable_by(|a, b| bytes[a.0.clone()].cmp(&bytes[b.0.clone()]));
}

/// Length of a length-delimited field (tag < 16) of `len` bytes.
fn field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

#[cfg(test)]
#[path = "remote_write_extras_tests.rs"]
mod tests;
