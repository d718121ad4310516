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
//!
//! A series' labels are the same in every collection, so the encoder keeps each built-in
//! family series' whole `TimeSeries` entry (its encoded, sorted `Label` messages and a
//! `Sample`) in a [`LabelCache`] arena and, once warm, only overwrites the sample's value and
//! timestamp there: snappy then compresses runs of the arena in place, with no copy of the
//! labels (series with exemplars, native histograms and uncached series go through a side
//! buffer; see `Series::seal`).

use core::ops::Range;

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};

use super::remote_write_labels::{CacheKey, Pieces, SeriesLabels};
use super::sink::{SampleSink, SinkSample};
use super::Descriptor;
use crate::error::EncodeError;
use crate::Registry;
use cache::LabelCache;

/// How many spare batch buffers an encoder keeps for reuse.
const MAX_FREE: usize = 64;

pub(crate) use super::remote_write_batch::Batch;

/// The sink side: turns samples into `TimeSeries` appended to the current batch.
struct Series {
    max_samples: usize,
    external: Vec<(Box<str>, Box<str>)>,
    /// [`Registry::id`] of the registry being collected.
    registry: u64,
    /// The `TimeSeries.samples` field of this collection with a zero value: its key and
    /// length, the `Sample.value` key, 8 value bytes from `SAMPLE_VALUE_AT`, the timestamp.
    sample: [u8; 32],
    sample_len: usize,
    cache: LabelCache,
    /// The current series' labels (cache misses).
    sorted: SeriesLabels,
    /// The encoded `Label` messages of the current series (cache misses).
    encoded: Vec<u8>,
    /// The current batch's bytes that are not in the cache's arena (uncached series, those
    /// with exemplars, native histograms, metadata).
    raw: Vec<u8>,
    /// The current batch, uncompressed, as runs of bytes in order: in the cache's arena
    /// (true: warm series, written in place) or in `raw` (false).
    segs: Vec<(bool, Range<usize>)>,
    /// The compressed segments of a batch of several, before they go into a body.
    stage: Vec<u8>,
    /// Snappy's output, as long as the largest batch's worst case.
    compressed: Vec<u8>,
    raw_samples: usize,
    snappy: snap::raw::Encoder,
    sealed: Vec<Batch>,
    free: Vec<Vec<u8>>,
    /// A snappy failure (input over 4 GiB: cannot happen with a sane batch size).
    error: Option<EncodeError>,
    /// Whether native histograms go as `TimeSeries.histograms` (else as `_count`/`_sum`).
    native: bool,
    /// The collection's timestamp (milliseconds), for `Histogram.timestamp`.
    timestamp_ms: i64,
    /// The current `Histogram` message, and its delta scratch.
    hist: Vec<u8>,
    deltas: Vec<u8>,
    /// Whether exemplars are sent (`TimeSeries.exemplars`).
    send_exemplars: bool,
    /// The `TimeSeries.exemplars` fields of the current series (see `exemplar_of`).
    exemplar: Vec<u8>,
    /// Unescaped label bytes of the exemplar being encoded, and its (name, value) ranges.
    ex_bytes: Vec<u8>,
    ex_labels: Vec<(Range<usize>, Range<usize>)>,
    /// A native histogram's exemplars to send: (timestamp ms, ring slot).
    ex_order: Vec<(i64, usize)>,
    /// Whether this collection sends `WriteRequest.metadata`.
    metadata_now: bool,
    /// The current batch's `WriteRequest.metadata` fields, and one message's scratch.
    meta: Vec<u8>,
    meta_msg: Vec<u8>,
}

/// Encodes registries into Remote-Write 1.0 batches of at most `max_samples` samples each.
///
/// Reuse one encoder: its buffers (series scratch, label cache, batch buffer, snappy tables
/// and output, and the bodies handed back with [`recycle`](Self::recycle)) are kept, so once
/// warm a collection allocates nothing.
pub(crate) struct WriteRequestEncoder {
    series: Series,
    /// The registries' contract-check scratch.
    scratch: Vec<u8>,
    /// How often metadata is sent (see [`metadata_every`](Self::metadata_every)), and the
    /// timestamp of the last collection that sent it.
    metadata_every_ms: Option<i64>,
    metadata_sent_ms: Option<i64>,
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
    /// An encoder adding `external` labels (checked names, unique) to every series; native
    /// histograms go as `_count`/`_sum` floats (see
    /// [`native_histograms`](Self::native_histograms)).
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
                registry: 0,
                sample: [0; 32],
                sample_len: 0,
                cache: LabelCache::default(),
                sorted: SeriesLabels::default(),
                encoded: Vec::new(),
                raw: Vec::new(),
                segs: Vec::new(),
                stage: Vec::new(),
                compressed: Vec::new(),
                raw_samples: 0,
                snappy: snap::raw::Encoder::new(),
                sealed: Vec::new(),
                free: Vec::new(),
                error: None,
                native: false,
                timestamp_ms: 0,
                hist: Vec::new(),
                deltas: Vec::new(),
                send_exemplars: false,
                exemplar: Vec::new(),
                ex_bytes: Vec::new(),
                ex_labels: Vec::new(),
                ex_order: Vec::new(),
                metadata_now: false,
                meta: Vec::new(),
                meta_msg: Vec::new(),
            },
            scratch: Vec::new(),
            metadata_every_ms: None,
            metadata_sent_ms: None,
        }
    }

    /// With `on`, histograms with native buckets go as `TimeSeries.histograms` (named after
    /// the family, no suffix; classic buckets, if any, still as `_bucket`/`_sum`/`_count`
    /// floats); off, as today, their native count and sum as `_count`/`_sum` floats.
    pub(crate) fn native_histograms(mut self, on: bool) -> Self {
        self.series.native = on;
        self
    }

    /// With `on`, each series' exemplars recorded since the previous collection go in
    /// `TimeSeries.exemplars` (see the `extras` module); off (the default), none.
    pub(crate) fn exemplars(mut self, on: bool) -> Self {
        self.series.send_exemplars = on;
        self
    }

    /// With `Some(every)`, a collection sends each family's `WriteRequest.metadata` when it
    /// is the first to, or when the last one that did is at least `every` older (by the
    /// collections' timestamps); a failed collection does not count. `None` (the default):
    /// never.
    pub(crate) fn metadata_every(mut self, every: Option<core::time::Duration>) -> Self {
        self.metadata_every_ms = every.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self
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
        self.series.set_timestamp(timestamp_ms);
        self.series.metadata_now = self.metadata_every_ms.is_some_and(|every| {
            self.metadata_sent_ms.is_none_or(|last| {
                // A clock stepped back also sends it.
                timestamp_ms < last || timestamp_ms - last >= every
            })
        });
        let mut result = Ok(());
        for r in registries {
            self.series.registry = r.id();
            result = r.collect_samples(&mut self.series, &mut self.scratch);
            if result.is_err() {
                break;
            }
        }
        // Sealed first: the open batch's segments point into the arena, which ending the
        // collection may compact.
        self.series.seal();
        self.series.cache.end_collection(result.is_ok());
        if let Some(e) = self.series.error.take() {
            result = result.and(Err(e));
        }
        if result.is_ok() && self.series.metadata_now {
            self.metadata_sent_ms = Some(timestamp_ms);
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

/// Where the value's 8 bytes go in [`Series::sample`].
const SAMPLE_VALUE_AT: usize = 3;

impl Series {
    /// Prepares the `TimeSeries.samples` bytes of a collection stamped `timestamp_ms`.
    fn set_timestamp(&mut self, timestamp_ms: i64) {
        // int64 is written as its two's-complement u64 (timestamps are positive anyway).
        self.timestamp_ms = timestamp_ms;
        let ts = timestamp_ms as u64;
        // At most 1 + 8 + 1 + 10 bytes: its length is a one-byte varint.
        let inner = 1 + 8 + 1 + encoded_len_varint(ts);
        let mut buf = [0u8; 32];
        // TimeSeries.samples = 2, one Sample { value = 1 (double), timestamp = 2 (int64) }.
        buf[..SAMPLE_VALUE_AT].copy_from_slice(&[(2 << 3) | 2, inner as u8, (1 << 3) | 1]);
        let mut at = SAMPLE_VALUE_AT + 8;
        buf[at] = 2 << 3;
        at += 1;
        let mut v = ts;
        while v >= 0x80 {
            buf[at] = (v as u8) | 0x80;
            v >>= 7;
            at += 1;
        }
        buf[at] = v as u8;
        self.sample = buf;
        self.sample_len = at + 1;
    }

    /// Appends one `WriteRequest.timeseries` entry for the cache entry `at`, whose record
    /// in the arena has this collection's sample length: writes `value` and the timestamp
    /// into the record in place, and adds the record to the batch.
    #[inline]
    fn write_cached(&mut self, at: usize, value: f64) {
        let r = self.cache.entries[at].record();
        let sample = &mut self.cache.arena[r.end - self.sample_len..r.end];
        sample.copy_from_slice(&self.sample[..self.sample_len]);
        sample[SAMPLE_VALUE_AT..SAMPLE_VALUE_AT + 8].copy_from_slice(&value.to_le_bytes());
        self.push_seg(true, r);
        self.raw_samples += 1;
        if self.raw_samples >= self.max_samples {
            self.seal();
        }
    }

    /// Appends one `WriteRequest.timeseries` entry to `raw`: the encoded `labels`, then the
    /// sample, then the exemplars, if any.
    #[inline]
    fn write_series(&mut self, labels: Range<usize>, from_cache: bool, value: f64) {
        let start = self.raw.len();
        let out = &mut self.raw;
        let labels = if from_cache {
            &self.cache.arena[labels]
        } else {
            &self.encoded[labels]
        };
        // WriteRequest.timeseries = 1, and its length: built on the stack (a call to the
        // generic varint writer per series was 3-4 % of a collection).
        let mut head = [0u8; 11];
        head[0] = (1 << 3) | 2;
        let head_len = 1 + varint(
            &mut head[1..],
            (labels.len() + self.sample_len + self.exemplar.len()) as u64,
        );
        out.reserve(head_len + labels.len() + self.sample_len + self.exemplar.len());
        out.extend_from_slice(&head[..head_len]);
        out.extend_from_slice(labels);
        let mut sample = self.sample;
        sample[SAMPLE_VALUE_AT..SAMPLE_VALUE_AT + 8].copy_from_slice(&value.to_le_bytes());
        out.extend_from_slice(&sample[..self.sample_len]);
        if !self.exemplar.is_empty() {
            out.extend_from_slice(&self.exemplar);
        }
        self.push_seg(false, start..self.raw.len());
        self.raw_samples += 1;
        if self.raw_samples >= self.max_samples {
            self.seal();
        }
    }
}

/// Writes `v` as a varint at the start of `buf` (at least 10 bytes); returns its length.
#[inline]
fn varint(buf: &mut [u8], mut v: u64) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        buf[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    buf[i] = v as u8;
    i + 1
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
    fn family(&mut self, prefix: &str, desc: &Descriptor) {
        self.push_metadata(prefix, desc);
    }

    fn sample(&mut self, s: &SinkSample<'_>) {
        let (labels, from_cache, at) = self.series_labels(s);
        self.exemplar_of(s.exemplar, at);
        match at {
            // The warm path: the cached record, its sample overwritten in place.
            Some(at)
                if self.exemplar.is_empty() && self.cache.entries[at].tail() == self.sample_len =>
            {
                self.write_cached(at, s.value);
            }
            _ => self.write_series(labels, from_cache, s.value),
        }
    }

    fn native(
        &mut self,
        s: &SinkSample<'_>,
        view: &crate::metrics::native::store::NativeView<'_>,
        exemplars: &[crate::exemplar::Slot],
    ) {
        if !self.native {
            return;
        }
        let (labels, from_cache, at) = self.series_labels(s);
        self.native_exemplars_of(exemplars, at);
        self.write_histogram(labels, from_cache, view);
    }

    fn takes_native(&self) -> bool {
        self.native
    }

    fn takes_exemplars(&self) -> bool {
        self.send_exemplars
    }
}

impl Series {
    /// The encoded labels of `s`: a range of the cache's arena (true) or of `encoded`
    /// (false, just encoded and, for a cacheable series, cached); and the series' cache
    /// entry, if it is cached.
    #[inline]
    fn series_labels(&mut self, s: &SinkSample<'_>) -> (Range<usize>, bool, Option<usize>) {
        let key = CacheKey::of(self.registry, s);
        let pieces = Pieces::of(s);
        if let Some(key) = &key {
            if let Some(at) = self.cache.get(key, &pieces) {
                return (self.cache.entries[at].labels(), true, Some(at));
            }
        }
        self.encode_labels(s);
        match key {
            Some(key) => {
                // The whole entry as a float sample of this collection would write it (a
                // native histogram's record only lends its labels).
                let mut head = [0u8; 11];
                head[0] = (1 << 3) | 2;
                let n = 1 + varint(
                    &mut head[1..],
                    (self.encoded.len() + self.sample_len) as u64,
                );
                let at = self.cache.insert(
                    key,
                    pieces,
                    [&head[..n], &self.encoded, &self.sample[..self.sample_len]],
                );
                (self.cache.entries[at].labels(), true, Some(at))
            }
            None => (0..self.encoded.len(), false, None),
        }
    }
}

impl Series {
    /// Encodes the sorted, unique, non-empty labels of `s` (with `__name__` and the external
    /// labels) into `encoded` as `TimeSeries.labels` entries.
    fn encode_labels(&mut self, s: &SinkSample<'_>) {
        self.sorted.fill(s, &self.external);
        let out = &mut self.encoded;
        out.clear();
        for (name, value) in self.sorted.iter() {
            let len = string_field_len(name.len()) + string_field_len(value.len());
            // TimeSeries.labels = 1
            encode_key(1, WireType::LengthDelimited, out);
            encode_varint(len as u64, out);
            put_bytes(out, 1, name);
            put_bytes(out, 2, value);
        }
    }
}

#[path = "remote_write_cache.rs"]
mod cache;
#[path = "remote_write_extras.rs"]
pub(super) mod extras;
#[path = "remote_write_native.rs"]
pub(crate) mod native;
#[path = "remote_write_seal.rs"]
mod seal;

#[cfg(test)]
#[path = "remote_write_tests.rs"]
mod tests;
