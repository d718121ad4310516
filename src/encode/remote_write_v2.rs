//! Module implementing the Prometheus Remote-Write 2.0 body: an
//! `io.prometheus.write.v2.Request` protobuf, written by hand with `prost`'s wire helpers (no
//! generated code), compressed with snappy's block format. See [`RequestEncoder`].
//!
//! The messages, from Prometheus' `prompb/io/prometheus/write/v2/types.proto`:
//!
//! ```text
//! message Request    { repeated string symbols = 4; repeated TimeSeries timeseries = 5; }
//! message TimeSeries { repeated uint32 labels_refs = 1;      // packed: name, value, ...
//!                      repeated Sample samples = 2; repeated Histogram histograms = 3;
//!                      repeated Exemplar exemplars = 4;
//!                      Metadata metadata = 5; int64 created_timestamp = 6; }  // ms, 0 = unset
//! message Sample     { double value = 1; int64 timestamp = 2; }
//! message Exemplar   { repeated uint32 labels_refs = 1; double value = 2; int64 timestamp = 3; }
//! message Metadata   { MetricType type = 1; uint32 help_ref = 3; uint32 unit_ref = 4; }
//! ```
//!
//! `Histogram` has the fields, numbers and meaning of Remote-Write 1.0's (see
//! [`histogram_body`]), so native histograms are written by the same code.
//!
//! Each request has its own symbol table: symbol 0 is `""` (the spec's MUST), then every
//! label name and value, help text and unit the request's series use, once each, in the order
//! first used. A series' `labels_refs` are its labels sorted by name (`__name__` among them,
//! the external labels added as in 1.0: the series' own label wins, empty values are left
//! out). Every series carries its family's metadata (type, help, unit) and, for counters,
//! histograms and summaries of built-in families when the registry has
//! [`created_samples`](crate::RegistryBuilder::created_samples) on, the child's creation time
//! as `created_timestamp`: the `_created` sample itself is not sent. As the `_created` sample
//! comes after the child's other samples, a child's series are held (as label and value
//! bytes) until it ends, then written.
//!
//! With [`exemplars`](RequestEncoder::exemplars) on, a series carries the exemplars recorded
//! since the previous collection, chosen, stamped and ordered as the 1.0 encoder does (each
//! sent once; see the `exemplars` module), their labels sorted by name and given as symbol
//! references like the series'. The series' labels are looked up and numbered by the
//! `labels` module, the string tables and series cache live in the `symbols` module, and the
//! fallback to 1.0 (exemplars included) in [`to_v1`].

use core::ops::Range;

use prost::encoding::encoded_len_varint;

use super::remote_write::native::histogram_body;
use super::remote_write_batch::{grow_zeroed, take_body, Batch};
use super::remote_write_labels::SeriesLabels;
use super::sink::{SampleSink, SinkSample};
use super::{Descriptor, MetricType};
use crate::error::EncodeError;
use crate::metrics::native::store::NativeView;
use crate::Registry;
use symbols::{Strings, Symbols, Tables};

/// How many spare batch buffers an encoder keeps for reuse.
const MAX_FREE: usize = 64;

/// What a held series carries.
#[derive(Debug, Clone)]
enum Payload {
    /// One float sample.
    Sample(f64),
    /// One native histogram: its `Histogram` message body in `Sink::held_hist`.
    Histogram(Range<usize>),
}

/// A series of the current child, held until the child ends.
#[derive(Debug, Clone)]
struct Held {
    /// Its sorted labels as string numbers (name, value, ...) in `Sink::held_ids`.
    ids: Range<usize>,
    payload: Payload,
    /// Its exemplars to send, in `Sink::held_ex`.
    exemplars: Range<usize>,
}

/// An exemplar of a held series.
#[derive(Debug, Clone)]
struct HeldExemplar {
    /// Its (name, value) ranges in `Sink::held_ex_bytes`, sorted by name, in
    /// `Sink::held_ex_labels`.
    labels: Range<usize>,
    value: f64,
    ts_ms: i64,
}

/// The sink side: turns samples into `TimeSeries` appended to the current request.
#[derive(Debug)]
struct Sink {
    max_samples: usize,
    external: Vec<(Box<str>, Box<str>)>,
    /// Whether native histograms go as `TimeSeries.histograms` (else as `_count`/`_sum`).
    native: bool,
    /// The collection's timestamp (milliseconds).
    timestamp_ms: i64,
    /// [`Registry::id`] of the registry being collected.
    registry: u64,
    /// The current family's `Metadata.type`, and its help text and unit as string numbers.
    kind: u64,
    help: u32,
    unit: u32,
    /// Whether the current family's children end with a `_created` sample.
    has_created: bool,
    /// The current family's help and unit symbols in the current request, once interned.
    family_refs: Option<(u32, u32)>,
    /// The built-in family child whose series are held, if any.
    child: Option<u64>,
    /// The held series, their label numbers and histogram bodies.
    held: Vec<Held>,
    held_ids: Vec<u32>,
    held_hist: Vec<u8>,
    /// The held child's created timestamp (ms), once its `_created` sample came; 0 = none.
    created_ms: i64,
    /// A series' labels (cache misses).
    sorted: SeriesLabels,
    tables: Tables,
    symbols: Symbols,
    /// One series' packed `labels_refs`.
    refs: Vec<u8>,
    /// One `TimeSeries` message body.
    one: Vec<u8>,
    /// The current request's `Request.timeseries` fields.
    series: Vec<u8>,
    /// The current request, uncompressed.
    raw: Vec<u8>,
    /// Snappy's output, as long as the largest request's worst case.
    compressed: Vec<u8>,
    raw_samples: usize,
    snappy: snap::raw::Encoder,
    sealed: Vec<Batch>,
    free: Vec<Vec<u8>>,
    /// A snappy failure (input over 4 GiB: cannot happen with a sane batch size).
    error: Option<EncodeError>,
    /// Native histogram scratch.
    hist: Vec<u8>,
    deltas: Vec<u8>,
    /// Whether exemplars are sent (`TimeSeries.exemplars`).
    send_exemplars: bool,
    /// The held series' exemplars, their labels' ranges and bytes.
    held_ex: Vec<HeldExemplar>,
    held_ex_labels: Vec<(Range<usize>, Range<usize>)>,
    held_ex_bytes: Vec<u8>,
    /// A native histogram's exemplars to send: (timestamp ms, ring slot).
    ex_order: Vec<(i64, usize)>,
    /// The current request's exemplar strings not in `tables.strings`, and their symbols
    /// (see the `exemplars` module).
    ex_strings: Strings,
    ex_local: Vec<u32>,
    /// One exemplar's packed `labels_refs`.
    ex_refs: Vec<u8>,
}

/// Encodes registries into Remote-Write 2.0 requests of at most `max_samples` samples
/// (series) each.
///
/// Reuse one encoder: its buffers (held series, symbol table, request buffer, snappy tables
/// and output, and the bodies handed back with [`recycle`](Self::recycle)) are kept, so once
/// warm a collection allocates nothing.
pub(crate) struct RequestEncoder {
    sink: Sink,
    /// The registries' contract-check scratch.
    scratch: Vec<u8>,
}

impl core::fmt::Debug for RequestEncoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RequestEncoder")
            .field("max_samples", &self.sink.max_samples)
            .field("sealed", &self.sink.sealed.len())
            .finish_non_exhaustive()
    }
}

impl RequestEncoder {
    /// An encoder adding `external` labels (checked names, unique) to every series; native
    /// histograms go as `_count`/`_sum` floats unless
    /// [`native_histograms`](Self::native_histograms) turns them on.
    pub(crate) fn new(max_samples: usize, external: &[(String, String)]) -> Self {
        let mut external: Vec<(Box<str>, Box<str>)> = external
            .iter()
            .map(|(n, v)| (n.as_str().into(), v.as_str().into()))
            .collect();
        external.sort();
        RequestEncoder {
            sink: Sink {
                max_samples: max_samples.max(1),
                external,
                native: false,
                timestamp_ms: 0,
                registry: 0,
                kind: 0,
                help: 0,
                unit: 0,
                has_created: false,
                family_refs: None,
                child: None,
                held: Vec::new(),
                held_ids: Vec::new(),
                held_hist: Vec::new(),
                created_ms: 0,
                sorted: SeriesLabels::default(),
                tables: Tables::new(),
                symbols: Symbols::default(),
                refs: Vec::new(),
                one: Vec::new(),
                series: Vec::new(),
                raw: Vec::new(),
                compressed: Vec::new(),
                raw_samples: 0,
                snappy: snap::raw::Encoder::new(),
                sealed: Vec::new(),
                free: Vec::new(),
                error: None,
                hist: Vec::new(),
                deltas: Vec::new(),
                send_exemplars: false,
                held_ex: Vec::new(),
                held_ex_labels: Vec::new(),
                held_ex_bytes: Vec::new(),
                ex_order: Vec::new(),
                ex_strings: Strings::new(),
                ex_local: Vec::new(),
                ex_refs: Vec::new(),
            },
            scratch: Vec::new(),
        }
        .started()
    }

    fn started(mut self) -> Self {
        self.sink.symbols.reset();
        self.sink.reset_exemplar_symbols();
        self
    }

    /// With `on`, each series' exemplars recorded since the previous collection go in
    /// `TimeSeries.exemplars` (see the `exemplars` module); off (the default), none.
    pub(crate) fn exemplars(mut self, on: bool) -> Self {
        self.sink.send_exemplars = on;
        self
    }

    /// With `on`, histograms with native buckets go as `TimeSeries.histograms` (see
    /// [`WriteRequestEncoder::native_histograms`](super::remote_write::WriteRequestEncoder::native_histograms)).
    pub(crate) fn native_histograms(mut self, on: bool) -> Self {
        self.sink.native = on;
        self
    }

    /// Collects `registries` with every sample stamped `timestamp_ms` (milliseconds since the
    /// Unix epoch) into sealed requests (see [`take_batches`](Self::take_batches)).
    ///
    /// # Errors
    ///
    /// A custom collector's [`EncodeError`]: this collection's requests are then discarded.
    pub(crate) fn collect(
        &mut self,
        registries: &[Registry],
        timestamp_ms: i64,
    ) -> Result<(), EncodeError> {
        let first_new = self.sink.sealed.len();
        self.sink.timestamp_ms = timestamp_ms;
        let mut result = Ok(());
        for r in registries {
            self.sink.registry = r.id();
            result = r.collect_samples(&mut self.sink, &mut self.scratch);
            self.sink.flush();
            if result.is_err() {
                break;
            }
        }
        self.sink.seal();
        self.sink.tables.end_collection();
        if let Some(e) = self.sink.error.take() {
            result = result.and(Err(e));
        }
        if result.is_err() {
            self.sink.tables.cache.clear_marks();
            let dropped: Vec<Batch> = self.sink.sealed.drain(first_new..).collect();
            for b in dropped {
                self.recycle(b.body);
            }
        }
        result
    }

    /// The sealed requests, oldest first.
    pub(crate) fn take_batches(&mut self) -> std::vec::Drain<'_, Batch> {
        self.sink.sealed.drain(..)
    }

    /// Gives a body buffer back for reuse by a later request.
    pub(crate) fn recycle(&mut self, mut body: Vec<u8>) {
        if self.sink.free.len() < MAX_FREE {
            body.clear();
            self.sink.free.push(body);
        }
    }
}

/// Appends `v` as a varint (`prost`'s generic `encode_varint` is most of a warm
/// collection's time here).
#[inline]
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    if v < 0x80 {
        // Most refs, lengths and tags: one byte, without a `memcpy` call.
        out.push(v as u8);
        return;
    }
    let mut buf = [0u8; 10];
    let mut n = 0;
    while v >= 0x80 {
        buf[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    buf[n] = v as u8;
    out.extend_from_slice(&buf[..=n]);
}

/// `Metadata.type` of a family type (`METRIC_TYPE_*`).
fn metric_type(t: MetricType) -> u64 {
    match t {
        MetricType::Unknown => 0,
        MetricType::Counter => 1,
        MetricType::Gauge => 2,
        MetricType::Histogram => 3,
        MetricType::Summary => 5,
        MetricType::Info => 6,
        MetricType::StateSet => 7,
    }
}

impl SampleSink for Sink {
    fn family(&mut self, _prefix: &str, desc: &Descriptor) {
        self.flush();
        self.kind = metric_type(desc.metric_type());
        self.help = self.tables.strings.intern(desc.help().as_bytes());
        self.unit = self.tables.strings.intern(desc.unit().as_bytes());
        self.has_created = desc.metric_type().suffixes().contains(&"_created");
        self.family_refs = None;
    }

    fn sample(&mut self, s: &SinkSample<'_>) {
        let child = s.series.map(|id| id.child);
        if child.is_none() || child != self.child {
            self.flush();
        }
        self.child = child;
        if child.is_some() && self.has_created && s.name[2] == "_created" {
            // Seconds with millisecond precision; a float-to-int cast saturates (NaN: 0).
            self.created_ms = (s.value * 1000.0).round() as i64;
            self.flush();
            return;
        }
        let cached = self.hold(s, Payload::Sample(s.value));
        self.hold_exemplar(s.exemplar, cached);
        if child.is_none() {
            self.flush();
        }
    }

    fn family_end(&mut self) {
        self.flush();
    }

    fn native(
        &mut self,
        s: &SinkSample<'_>,
        view: &NativeView<'_>,
        exemplars: &[crate::exemplar::Slot],
    ) {
        if !self.native {
            return;
        }
        let child = s.series.map(|id| id.child);
        if child.is_none() || child != self.child {
            self.flush();
        }
        self.child = child;
        histogram_body(&mut self.hist, &mut self.deltas, view, self.timestamp_ms);
        let start = self.held_hist.len();
        self.held_hist.extend_from_slice(&self.hist);
        let range = start..self.held_hist.len();
        let cached = self.hold(s, Payload::Histogram(range));
        self.hold_native_exemplars(exemplars, cached);
        if child.is_none() {
            self.flush();
        }
    }

    fn takes_native(&self) -> bool {
        self.native
    }

    fn takes_created(&self) -> bool {
        true
    }

    fn takes_exemplars(&self) -> bool {
        self.send_exemplars
    }
}

impl Sink {
    /// Writes the held series (with the created timestamp, if one came) and ends the child.
    fn flush(&mut self) {
        let created = core::mem::take(&mut self.created_ms);
        for i in 0..self.held.len() {
            let held = self.held[i].clone();
            self.write_series(&held, created);
        }
        self.held.clear();
        self.held_ids.clear();
        self.held_hist.clear();
        self.held_ex.clear();
        self.held_ex_labels.clear();
        self.held_ex_bytes.clear();
        self.child = None;
    }

    /// Appends one `Request.timeseries` entry to the current request.
    fn write_series(&mut self, held: &Held, created_ms: i64) {
        let strings = &self.tables.strings;
        // The packed `labels_refs` varints.
        let refs = &mut self.refs;
        refs.clear();
        for &id in &self.held_ids[held.ids.clone()] {
            put_varint(refs, u64::from(self.symbols.symbol(id, strings)));
        }
        self.tables.used_series += 1;
        self.tables.used_ids += held.ids.len();
        let (help_ref, unit_ref) = match self.family_refs {
            Some(r) => r,
            None => {
                let r = (
                    self.symbols.symbol(self.help, strings),
                    self.symbols.symbol(self.unit, strings),
                );
                self.family_refs = Some(r);
                r
            }
        };
        let mut one = core::mem::take(&mut self.one);
        let ts = &mut one;
        ts.clear();
        // TimeSeries.labels_refs = 1, packed.
        ts.push((1 << 3) | 2);
        put_varint(ts, refs.len() as u64);
        ts.extend_from_slice(refs);
        match &held.payload {
            Payload::Sample(v) => {
                // TimeSeries.samples = 2: Sample { value = 1 (double), timestamp = 2 }.
                // int64 is written as its two's-complement u64.
                let t = self.timestamp_ms as u64;
                ts.push((2 << 3) | 2);
                put_varint(ts, (1 + 8 + 1 + encoded_len_varint(t)) as u64);
                ts.push((1 << 3) | 1);
                ts.extend_from_slice(&v.to_le_bytes());
                ts.push(2 << 3);
                put_varint(ts, t);
            }
            Payload::Histogram(r) => {
                // TimeSeries.histograms = 3.
                let body = &self.held_hist[r.clone()];
                ts.push((3 << 3) | 2);
                put_varint(ts, body.len() as u64);
                ts.extend_from_slice(body);
            }
        }
        self.write_exemplars(held.exemplars.clone(), ts);
        // TimeSeries.metadata = 5: type = 1, help_ref = 3, unit_ref = 4; zeros left out.
        let fields = [
            (1u8, self.kind),
            (3, u64::from(help_ref)),
            (4, u64::from(unit_ref)),
        ];
        let meta: usize = fields
            .iter()
            .filter(|(_, v)| *v != 0)
            .map(|(_, v)| 1 + encoded_len_varint(*v))
            .sum();
        if meta > 0 {
            ts.push((5 << 3) | 2);
            put_varint(ts, meta as u64);
            for (tag, v) in fields {
                if v != 0 {
                    ts.push(tag << 3);
                    put_varint(ts, v);
                }
            }
        }
        if created_ms != 0 {
            // TimeSeries.created_timestamp = 6 (int64).
            ts.push(6 << 3);
            put_varint(ts, created_ms as u64);
        }
        // Request.timeseries = 5.
        self.series.push((5 << 3) | 2);
        put_varint(&mut self.series, ts.len() as u64);
        self.series.extend_from_slice(ts);
        self.one = one;
        self.raw_samples += 1;
        if self.raw_samples >= self.max_samples {
            self.seal();
        }
    }

    /// Compresses the current request, if it has series, into a sealed [`Batch`] and starts
    /// the next one (with a fresh symbol table).
    fn seal(&mut self) {
        if self.raw_samples == 0 {
            return;
        }
        self.raw.clear();
        self.raw.extend_from_slice(&self.symbols.encoded);
        self.raw.extend_from_slice(&self.series);
        // Snappy writes into a slice, which must be initialised: keep one output buffer at
        // its largest length (zeroed once, not per request) and copy the smaller result.
        let need = snap::raw::max_compress_len(self.raw.len());
        grow_zeroed(&mut self.compressed, need);
        match self.snappy.compress(&self.raw, &mut self.compressed) {
            Ok(n) => {
                let mut body = take_body(&mut self.free, n);
                body.extend_from_slice(&self.compressed[..n]);
                self.sealed.push(Batch {
                    body,
                    samples: self.raw_samples,
                    v2: true,
                });
            }
            Err(e) => {
                self.error
                    .get_or_insert(EncodeError::InvalidSample(format!("snappy: {e}")));
            }
        }
        self.series.clear();
        self.tables.used_symbols += self.symbols.count as usize;
        self.symbols.reset();
        self.reset_exemplar_symbols();
        self.family_refs = None;
        self.raw_samples = 0;
    }
}

#[path = "remote_write_v2_exemplars.rs"]
mod exemplars;
#[path = "remote_write_v2_labels.rs"]
mod labels;
#[path = "remote_write_v2_symbols.rs"]
mod symbols;

#[path = "remote_write_v2_to_v1.rs"]
pub(crate) mod to_v1;

#[cfg(test)]
#[path = "remote_write_v2_tests.rs"]
mod tests;
