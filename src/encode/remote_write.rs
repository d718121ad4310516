//! Module implementing the Prometheus Remote-Write 1.0 body: a `prometheus.WriteRequest`
//! protobuf, written by hand with `prost`'s wire helpers (no generated code), compressed with
//! snappy's block format. See [`WriteRequestEncoder`].
//!
//! The messages, from Prometheus' `prompb/remote.proto` and `prompb/types.proto`:
//!
//! ```text
//! message WriteRequest { repeated TimeSeries timeseries = 1; }
//! message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//! message Label        { string name = 1; string value = 2; }
//! message Sample       { double value = 1; int64 timestamp = 2; }   // milliseconds
//! ```
//!
//! Every sample of a collection becomes one `TimeSeries` with one `Sample` stamped with the
//! collection's time; labels are sorted by name and unique (the spec's MUSTs), `__name__`
//! among them. External labels are added to every series that does not already have a
//! label of that name (Prometheus' rule: the series' own label wins). Labels with an empty
//! value are left out, as Prometheus treats an empty value as no label.

use core::ops::Range;

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};

use super::sink::{for_each_pair, unescape, SampleSink, SinkSample};
use super::Descriptor;
use crate::error::EncodeError;
use crate::Registry;

/// How many spare batch buffers an encoder keeps for reuse.
const MAX_FREE: usize = 64;

/// One request body: a snappy-compressed `WriteRequest` and how many samples it holds.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The snappy block-format body.
    pub(crate) body: Vec<u8>,
    /// Samples (one per series) in it.
    pub(crate) samples: usize,
}

#[derive(Debug, Clone)]
struct LabelRef {
    name: Range<usize>,
    value: Range<usize>,
    external: bool,
}

/// The sink side: turns samples into `TimeSeries` appended to the current batch.
struct Series {
    max_samples: usize,
    external: Vec<(Box<str>, Box<str>)>,
    timestamp_ms: i64,
    /// Unescaped label bytes of the current series.
    bytes: Vec<u8>,
    labels: Vec<LabelRef>,
    /// The current batch, uncompressed.
    raw: Vec<u8>,
    raw_samples: usize,
    snappy: snap::raw::Encoder,
    sealed: Vec<Batch>,
    free: Vec<Vec<u8>>,
    /// A snappy failure (input over 4 GiB: cannot happen with a sane batch size).
    error: Option<EncodeError>,
}

/// Encodes registries into Remote-Write 1.0 batches of at most `max_samples` samples each.
///
/// Reuse one encoder: its buffers (series scratch, batch buffer, snappy tables, and the
/// bodies handed back with [`recycle`](Self::recycle)) are kept, so once warm a collection
/// allocates nothing.
pub(crate) struct WriteRequestEncoder {
    series: Series,
    /// The registries' contract-check scratch.
    scratch: Vec<u8>,
}

impl core::fmt::Debug for WriteRequestEncoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WriteRequestEncoder")
            .field("max_samples", &self.series.max_samples)
            .field("sealed", &self.series.sealed.len())
            .finish_non_exhaustive()
    }
}

impl WriteRequestEncoder {
    /// An encoder adding `external` labels (checked names, unique) to every series.
    pub(crate) fn new(max_samples: usize, external: &[(String, String)]) -> Self {
        let mut external: Vec<(Box<str>, Box<str>)> = external
            .iter()
            .map(|(n, v)| (n.as_str().into(), v.as_str().into()))
            .collect();
        external.sort();
        WriteRequestEncoder {
            series: Series {
                max_samples: max_samples.max(1),
                external,
                timestamp_ms: 0,
                bytes: Vec::new(),
                labels: Vec::new(),
                raw: Vec::new(),
                raw_samples: 0,
                snappy: snap::raw::Encoder::new(),
                sealed: Vec::new(),
                free: Vec::new(),
                error: None,
            },
            scratch: Vec::new(),
        }
    }

    /// Collects `registries` with every sample stamped `timestamp_ms` (milliseconds since the
    /// Unix epoch) into sealed batches (see [`take_batches`](Self::take_batches)).
    ///
    /// # Errors
    ///
    /// A custom collector's [`EncodeError`]: this collection's batches are then discarded.
    pub(crate) fn collect(
        &mut self,
        registries: &[Registry],
        timestamp_ms: i64,
    ) -> Result<(), EncodeError> {
        let first_new = self.series.sealed.len();
        self.series.timestamp_ms = timestamp_ms;
        let mut result = Ok(());
        for r in registries {
            result = r.collect_samples(&mut self.series, &mut self.scratch);
            if result.is_err() {
                break;
            }
        }
        self.series.seal();
        if let Some(e) = self.series.error.take() {
            result = result.and(Err(e));
        }
        if result.is_err() {
            let dropped: Vec<Batch> = self.series.sealed.drain(first_new..).collect();
            for b in dropped {
                self.recycle(b.body);
            }
        }
        result
    }

    /// The sealed batches, oldest first.
    pub(crate) fn take_batches(&mut self) -> std::vec::Drain<'_, Batch> {
        self.series.sealed.drain(..)
    }

    /// Gives a body buffer back for reuse by a later batch.
    pub(crate) fn recycle(&mut self, mut body: Vec<u8>) {
        if self.series.free.len() < MAX_FREE {
            body.clear();
            self.series.free.push(body);
        }
    }
}

impl Series {
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

    /// Compresses the current batch, if it has samples, into a sealed [`Batch`].
    fn seal(&mut self) {
        if self.raw_samples == 0 {
            return;
        }
        let mut body = self.free.pop().unwrap_or_default();
        body.clear();
        body.resize(snap::raw::max_compress_len(self.raw.len()), 0);
        match self.snappy.compress(&self.raw, &mut body) {
            Ok(n) => {
                body.truncate(n);
                self.sealed.push(Batch {
                    body,
                    samples: self.raw_samples,
                });
            }
            Err(e) => {
                self.error
                    .get_or_insert(EncodeError::InvalidSample(format!("snappy: {e}")));
            }
        }
        self.raw.clear();
        self.raw_samples = 0;
    }
}

/// Length of a `string` field (tag < 16) holding `len` bytes.
fn string_field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

fn put_bytes(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

impl SampleSink for Series {
    fn family(&mut self, _prefix: &str, _desc: &Descriptor) {}

    fn sample(&mut self, s: &SinkSample<'_>) {
        self.bytes.clear();
        self.labels.clear();
        let n0 = self.bytes.len();
        for part in s.name {
            self.bytes.extend_from_slice(part.as_bytes());
        }
        let v0 = self.bytes.len();
        // `__name__` is stored as the value of a label named `__name__`.
        self.bytes.extend_from_slice(b"__name__");
        let l = self.bytes.len();
        self.labels.push(LabelRef {
            name: v0..l,
            value: n0..v0,
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
        // keeps the first of a run) lets it win over an external label.
        self.labels.sort_unstable_by(|a, b| {
            bytes[a.name.clone()]
                .cmp(&bytes[b.name.clone()])
                .then(a.external.cmp(&b.external))
        });
        self.labels
            .dedup_by(|later, kept| bytes[later.name.clone()] == bytes[kept.name.clone()]);
        self.labels.retain(|l| !l.value.is_empty());

        let label_len =
            |l: &LabelRef| string_field_len(l.name.len()) + string_field_len(l.value.len());
        let sample_len = 1 + 8 + 1 + encoded_len_varint(self.timestamp_ms as u64);
        let series_len: usize = self
            .labels
            .iter()
            .map(|l| {
                let n = label_len(l);
                1 + encoded_len_varint(n as u64) + n
            })
            .sum::<usize>()
            + 1
            + encoded_len_varint(sample_len as u64)
            + sample_len;
        let out = &mut self.raw;
        // WriteRequest.timeseries = 1
        encode_key(1, WireType::LengthDelimited, out);
        encode_varint(series_len as u64, out);
        for l in &self.labels {
            // TimeSeries.labels = 1
            encode_key(1, WireType::LengthDelimited, out);
            encode_varint(label_len(l) as u64, out);
            put_bytes(out, 1, &bytes[l.name.clone()]);
            put_bytes(out, 2, &bytes[l.value.clone()]);
        }
        // TimeSeries.samples = 2
        encode_key(2, WireType::LengthDelimited, out);
        encode_varint(sample_len as u64, out);
        encode_key(1, WireType::SixtyFourBit, out);
        out.extend_from_slice(&s.value.to_le_bytes());
        encode_key(2, WireType::Varint, out);
        // int64 is written as its two's-complement u64 (timestamps are positive anyway).
        encode_varint(self.timestamp_ms as u64, out);
        self.raw_samples += 1;
        if self.raw_samples >= self.max_samples {
            self.seal();
        }
    }
}

#[cfg(test)]
#[path = "remote_write_tests.rs"]
mod tests;
