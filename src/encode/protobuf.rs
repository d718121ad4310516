//! Module implementing the Prometheus protobuf exposition: length-delimited
//! `io.prometheus.client.MetricFamily` messages, written by hand with `prost`'s wire helpers
//! (no generated code, no `protoc`). See [`Encoder`].
//!
//! The messages, from `io/prometheus/client/metrics.proto` (client_model), as far as they
//! are written here:
//!
//! ```text
//! message MetricFamily { string name = 1; string help = 2; MetricType type = 3;
//!                        repeated Metric metric = 4; string unit = 5; }
//! enum MetricType      { COUNTER = 0; GAUGE = 1; SUMMARY = 2; UNTYPED = 3; HISTOGRAM = 4; }
//! message Metric       { repeated LabelPair label = 1; Gauge gauge = 2; Counter counter = 3;
//!                        Summary summary = 4; Untyped untyped = 5; Histogram histogram = 7; }
//! message LabelPair    { string name = 1; string value = 2; }
//! message Gauge        { double value = 1; }
//! message Untyped      { double value = 1; }
//! message Counter      { double value = 1; Exemplar exemplar = 2;
//!                        google.protobuf.Timestamp created_timestamp = 3; }
//! message Summary      { uint64 sample_count = 1; double sample_sum = 2;
//!                        repeated Quantile quantile = 3;
//!                        google.protobuf.Timestamp created_timestamp = 4; }
//! message Quantile     { double quantile = 1; double value = 2; }
//! message Histogram    { uint64 sample_count = 1; double sample_sum = 2;
//!                        repeated Bucket bucket = 3;
//!                        sint32 schema = 5; double zero_threshold = 6; uint64 zero_count = 7;
//!                        repeated BucketSpan negative_span = 9;
//!                        repeated sint64 negative_delta = 10;   // packed
//!                        repeated BucketSpan positive_span = 12;
//!                        repeated sint64 positive_delta = 13;   // packed
//!                        google.protobuf.Timestamp created_timestamp = 15;
//!                        repeated Exemplar exemplars = 16; }
//! message BucketSpan   { sint32 offset = 1; uint32 length = 2; }
//! message Bucket       { uint64 cumulative_count = 1; double upper_bound = 2;
//!                        Exemplar exemplar = 3; }
//! message Exemplar     { repeated LabelPair label = 1; double value = 2;
//!                        google.protobuf.Timestamp timestamp = 3; }
//! message Timestamp    { int64 seconds = 1; int32 nanos = 2; }
//! ```
//!
//! The encoder is a [`SampleSink`]: it receives the same samples the text encoders write
//! and folds those of one series (a counter's `_total` and `_created`; a histogram's
//! `_bucket`s, `_sum`, `_count` and `_created`; a summary's quantiles, `_sum`, `_count`
//! and `_created`) into one `Metric`. Info and state-set families become gauges (as in the
//! text format), unknown ones `UNTYPED`. Family names are the text format's (`x_total`,
//! `x_info`); the parser adds `_bucket`/`_sum`/`_count`, `le` and `quantile` itself.
//! Labels with an empty value are left out (Prometheus treats them as absent), and so are
//! families without samples (as client_golang drops them).
//!
//! Lengths come first in protobuf. The `MetricFamily` and each `Metric` are written straight
//! into the output after a length prefix of guessed width (the family's width in the last
//! scrape; the previous metric's), patched with the minimal varint once the message is
//! complete, moving the message in the rare case the guess was wrong (see
//! [`wire::patch_len`]); only the small typed message (`Counter`, `Histogram`, ...) is built
//! in a buffer of its own. A family child's encoded labels and created timestamp are
//! cached across scrapes ([`LabelCache`]), so a warm scrape copies them. Once the buffers
//! have grown, encoding allocates nothing.
//!
//! A family child with one sample (a counter, whose `_total` and `_created` come in one
//! [`SampleSink::sample_created`] call; a gauge) takes a shorter path, `Encoder::whole`:
//! with its labels and created timestamp in the cache, every length is known before
//! anything is written, so its `Metric` goes out in one pass, with no length to patch and
//! no series identity to compare. It writes the same bytes as the sample-by-sample path.

use core::ops::Range;

use prost::encoding::{encoded_len_varint, WireType};

#[path = "protobuf_cache.rs"]
mod cache;
#[path = "protobuf_kind.rs"]
mod kind;
#[path = "protobuf_whole.rs"]
mod whole;
#[path = "protobuf_wire.rs"]
mod wire;

use cache::{LabelCache, Pieces};
use kind::{Kind, Role};
use wire::{
    build_exemplar, encode_key, encode_varint, ld_len, patch_len, put_bytes, put_double, put_label,
    put_native_side, put_rendered, put_sint, put_span, put_timestamp, put_uint, reserve_len,
};

use super::sink::{unescape, SampleSink, SinkSample};
use super::{Descriptor, Format, Value};
use crate::exemplar::Slot as ExemplarSlot;
use crate::metrics::native::store::NativeView;

/// The `Content-Type` of a body in this format (what client_golang sends).
pub(crate) const CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

const COUNT_SEEN: u8 = 4;

/// The encoder's buffers, kept by the registry from scrape to scrape.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    /// The open `Metric`'s typed message body.
    body: Vec<u8>,
    /// The open series' identity when it is not [`Pieces`]: its label pieces as given,
    /// `0xFF`-separated.
    ident: Vec<u8>,
    /// Unescaped label values.
    unescaped: Vec<u8>,
    /// An exemplar's body.
    exemplar: Vec<u8>,
    /// Bound texts (`le`, `quantile`) seen in this family and their parsed values, by
    /// position in the series: every child of a family has the same bounds, so each is
    /// parsed once per family.
    bounds: Vec<u8>,
    bound_cache: Vec<(Range<usize>, f64)>,
    /// A native histogram side's packed deltas.
    deltas: Vec<u8>,
    /// Width of each family's length prefix in the last scrape, by position in the scrape:
    /// the guess for the next one.
    family_widths: Vec<u8>,
    /// Family children's encoded labels and created timestamps.
    cache: LabelCache,
}

impl Buffers {
    /// Appends the created timestamp `secs` to the open metric's body, from the series'
    /// cache entry `entry` when it has it there.
    fn put_created(&mut self, entry: Option<usize>, tag: u32, secs: f64) {
        let Some(at) = entry else {
            put_timestamp(&mut self.body, tag, secs);
            return;
        };
        if let Some(field) = self.cache.created(at, secs) {
            self.body.extend_from_slice(field);
            return;
        }
        let start = self.body.len();
        put_timestamp(&mut self.body, tag, secs);
        self.cache.set_created(at, secs, &self.body[start..]);
    }
}

/// The open series' identity, to tell whether the next sample belongs to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ident {
    /// The constant labels' and one rendered string's addresses (see [`Pieces`]).
    Pieces(Pieces),
    /// Anything else: the pieces in [`Buffers::ident`].
    Bytes,
}

/// Writes the samples of a collection as delimited `MetricFamily` messages into `out`.
pub(crate) struct Encoder<'o> {
    out: &'o mut Vec<u8>,
    b: &'o mut Buffers,
    kind: Kind,
    /// `Metric`s in the current family.
    metrics: usize,
    /// The open family's length prefix: where it starts in `out` and its reserved width.
    family_at: Option<(usize, usize)>,
    /// Families started in this scrape.
    families: usize,
    /// Whether a `Metric` is open (in `out` from `metric_at`, its body in the buffers).
    open: bool,
    /// The open `Metric`'s length prefix (position, reserved width).
    metric_at: (usize, usize),
    /// The length of the last `Metric` closed, for the next one's width guess.
    last_metric: usize,
    /// The open series' identity.
    ident: Ident,
    /// The open series' cache entry, for its created timestamp.
    entry: Option<usize>,
    /// [`Role::bit`]s of the open metric's samples.
    seen: u8,
    /// Position of the next bucket or quantile in the open metric.
    index: usize,
    /// The open histogram's highest cumulative count (its count when `_count` is missing).
    top: u64,
}

impl core::fmt::Debug for Encoder<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Encoder")
            .field("kind", &self.kind)
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

/// A bound label's value (`le`, `quantile`) as a double: Go spellings (`+Inf`, `1e-05`).
fn parse_bound(text: &str) -> f64 {
    match text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        _ => text.parse().unwrap_or(f64::NAN),
    }
}

/// An exact count from a sample value (custom collectors give floats).
fn count(v: Value) -> u64 {
    match v {
        Value::U64(v) => v,
        // Saturating casts; NaN counts as 0.
        Value::F64(v) | Value::Seconds(v) => v as u64,
    }
}

/// Calls `f` on each piece of the series identity of `s` until it returns false; returns
/// whether all pieces were taken. The rendered pieces count by address and length: they are
/// the strings a child keeps (its labels, an info's labels) or the registry's constant
/// labels, alive and unchanged for the whole collection, and two children never share one
/// (so this spares comparing label text per sample). Label pairs given by a custom
/// collector (stack data, reused) count by content, `0xFF`-separated; the type's own label
/// (`le`, `quantile`) is left out.
fn ident_pieces(s: &SinkSample<'_>, special: &str, mut f: impl FnMut(&[u8]) -> bool) -> bool {
    const SEP: &[u8] = &[0xFF];
    for part in s.rendered {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&(part.as_ptr() as usize as u64).to_le_bytes());
        id[8..].copy_from_slice(&(part.len() as u64).to_le_bytes());
        if !f(&id) {
            return false;
        }
    }
    let extra = s.extra.filter(|(n, _)| *n != special);
    for (n, v) in extra
        .iter()
        .chain(s.pairs.iter().filter(|(n, _)| *n != special))
    {
        if !(f(n.as_bytes()) && f(SEP) && f(v.as_bytes()) && f(SEP)) {
            return false;
        }
    }
    true
}

/// Appends the `LabelPair` fields of the series of `s`, leaving out the type's own label
/// `special`.
fn write_labels(out: &mut Vec<u8>, unescaped: &mut Vec<u8>, s: &SinkSample<'_>, special: &str) {
    for part in s.rendered {
        put_rendered(out, unescaped, part);
    }
    if let Some((n, v)) = s.extra.filter(|(n, _)| *n != special) {
        // A state set's state: escaped like a rendered value.
        unescaped.clear();
        unescape(unescaped, v.as_bytes());
        put_label(out, n.as_bytes(), unescaped);
    }
    for (n, v) in s.pairs.iter().filter(|(n, _)| *n != special) {
        put_label(out, n.as_bytes(), v.as_bytes());
    }
}

impl<'o> Encoder<'o> {
    /// An encoder appending to `out`, with reused `buffers`.
    pub(crate) fn new(out: &'o mut Vec<u8>, buffers: &'o mut Buffers) -> Self {
        Encoder {
            out,
            b: buffers,
            kind: Kind::Untyped,
            metrics: 0,
            family_at: None,
            families: 0,
            open: false,
            metric_at: (0, 0),
            last_metric: 0,
            ident: Ident::Bytes,
            entry: None,
            seen: 0,
            index: 0,
            top: 0,
        }
    }

    /// Completes the open `Metric`: appends its typed message and patches its length.
    fn close_metric(&mut self) {
        if !core::mem::take(&mut self.open) {
            return;
        }
        let b = &mut *self.b;
        if self.kind == Kind::Histogram && self.seen & COUNT_SEEN == 0 {
            // Prometheus needs the count; the +Inf bucket holds it.
            put_uint(&mut b.body, 1, self.top);
        }
        put_bytes(self.out, self.kind.metric_field(), &b.body);
        let (at, width) = self.metric_at;
        self.last_metric = patch_len(self.out, at, width);
        self.metrics += 1;
    }

    /// Opens a `Metric` for the series of `s` (whose identity `pieces` has, if simple):
    /// writes its key, length prefix and labels.
    fn open_metric(&mut self, s: &SinkSample<'_>, special: &str, pieces: Option<Pieces>) {
        self.close_metric();
        if self.family_at.is_none() {
            return;
        }
        self.open = true;
        self.seen = 0;
        self.index = 0;
        self.top = 0;
        self.entry = None;
        let b = &mut *self.b;
        b.body.clear();
        let out = &mut *self.out;
        // Metric.metric = 4
        encode_key(4, WireType::LengthDelimited, out);
        let width = encoded_len_varint(self.last_metric.max(1) as u64);
        self.metric_at = (reserve_len(out, width), width);
        let start = out.len();
        match (pieces, s.series) {
            (Some(p), Some(id)) => {
                if let Some(at) = b.cache.get(id.child, p) {
                    out.extend_from_slice(b.cache.labels(at));
                    self.entry = Some(at);
                } else {
                    write_labels(out, &mut b.unescaped, s, special);
                    self.entry = Some(b.cache.insert(id.child, p, &out[start..]));
                }
            }
            _ => write_labels(out, &mut b.unescaped, s, special),
        }
    }

    /// Whether `s` (with identity `pieces`, if simple) belongs to the open series; if not,
    /// records its identity.
    fn same_series(&mut self, s: &SinkSample<'_>, special: &str, pieces: Option<Pieces>) -> bool {
        if let Some(p) = pieces {
            let same = self.open && self.ident == Ident::Pieces(p);
            self.ident = Ident::Pieces(p);
            return same;
        }
        let ident = &mut self.b.ident;
        if self.open && self.ident == Ident::Bytes {
            let mut at = 0;
            let all = ident_pieces(s, special, |p| {
                let same = ident.get(at..at + p.len()) == Some(p);
                at += p.len();
                same
            });
            if all && at == ident.len() {
                return true;
            }
        }
        self.ident = Ident::Bytes;
        ident.clear();
        ident_pieces(s, special, |p| {
            ident.extend_from_slice(p);
            true
        });
        false
    }

    /// The parsed value of the bound text at the open metric's next bucket or quantile.
    fn bound(&mut self, text: &str) -> f64 {
        let i = self.index;
        self.index += 1;
        let b = &mut *self.b;
        if let Some((r, v)) = b.bound_cache.get(i) {
            if b.bounds[r.clone()] == *text.as_bytes() {
                return *v;
            }
        }
        let v = parse_bound(text);
        let start = b.bounds.len();
        b.bounds.extend_from_slice(text.as_bytes());
        let entry = (start..b.bounds.len(), v);
        match b.bound_cache.get_mut(i) {
            Some(e) => *e = entry,
            None => b.bound_cache.push(entry),
        }
        v
    }

    fn role<'s>(&self, s: &SinkSample<'s>) -> Role<'s> {
        let suffix = s.name[2];
        let special = self.kind.special();
        let bound = || {
            s.extra
                .filter(|(n, _)| *n == special)
                .or_else(|| s.pairs.iter().copied().find(|(n, _)| *n == special))
                .map(|(_, v)| v)
        };
        match (self.kind, suffix) {
            (Kind::Counter | Kind::Histogram | Kind::Summary, "_created") => Role::Created,
            (Kind::Histogram | Kind::Summary, "_sum") => Role::Sum,
            (Kind::Histogram | Kind::Summary, "_count") => Role::Count,
            (Kind::Histogram, "_bucket") => bound().map_or(Role::Skip, Role::Bucket),
            (Kind::Histogram, _) => Role::Skip,
            (Kind::Summary, _) => bound().map_or(Role::Skip, Role::Quantile),
            (Kind::Counter | Kind::Gauge | Kind::Untyped, _) => Role::Value,
        }
    }
}

impl SampleSink for Encoder<'_> {
    fn family(&mut self, prefix: &str, desc: &Descriptor) {
        self.family_end();
        self.kind = Kind::of(desc.metric_type());
        self.metrics = 0;
        self.ident = Ident::Bytes;
        let b = &mut *self.b;
        b.ident.clear();
        b.bounds.clear();
        b.bound_cache.clear();
        let out = &mut *self.out;
        let width = b
            .family_widths
            .get(self.families)
            .map_or(2, |&w| usize::from(w));
        self.family_at = Some((reserve_len(out, width), width));
        let suffix = desc.type_line_suffix(Format::Text);
        encode_key(1, WireType::LengthDelimited, out);
        encode_varint(
            (prefix.len() + desc.name().len() + suffix.len()) as u64,
            out,
        );
        for part in [prefix, desc.name(), suffix] {
            out.extend_from_slice(part.as_bytes());
        }
        if !desc.help().is_empty() {
            put_bytes(out, 2, desc.help().as_bytes());
        }
        put_uint(out, 3, self.kind.proto_type());
        if !desc.unit().is_empty() {
            put_bytes(out, 5, desc.unit().as_bytes());
        }
    }

    fn sample(&mut self, s: &SinkSample<'_>) {
        if matches!(self.kind, Kind::Gauge | Kind::Untyped) && self.whole(s, None) {
            return;
        }
        let role = self.role(s);
        if role == Role::Skip {
            return;
        }
        let special = self.kind.special();
        let pieces = Pieces::of(s, special);
        let standalone = matches!(self.kind, Kind::Gauge | Kind::Untyped);
        let join = !standalone
            && self.same_series(s, special, pieces)
            && (role.bit() == 0 || self.seen & role.bit() == 0);
        if !join {
            self.open_metric(s, special, pieces);
            if !self.open {
                return;
            }
        }
        self.seen |= role.bit();
        match role {
            Role::Value => {
                let b = &mut *self.b;
                put_double(&mut b.body, 1, s.value);
                if let (Kind::Counter, Some(e)) = (self.kind, &s.exemplar) {
                    build_exemplar(&mut b.exemplar, &mut b.unescaped, e);
                    put_bytes(&mut b.body, 2, &b.exemplar);
                }
            }
            Role::Bucket(le) => {
                let upper = self.bound(le);
                let cumulative = count(s.exact);
                self.top = self.top.max(cumulative);
                let b = &mut *self.b;
                // Bucket { cumulative_count = 1; upper_bound = 2; exemplar = 3; }
                let mut len = 1 + encoded_len_varint(cumulative) + 9;
                if let Some(e) = &s.exemplar {
                    build_exemplar(&mut b.exemplar, &mut b.unescaped, e);
                    len += ld_len(b.exemplar.len());
                }
                let body = &mut b.body;
                encode_key(3, WireType::LengthDelimited, body);
                encode_varint(len as u64, body);
                put_uint(body, 1, cumulative);
                put_double(body, 2, upper);
                if s.exemplar.is_some() {
                    put_bytes(body, 3, &b.exemplar);
                }
            }
            Role::Quantile(q) => {
                let q = self.bound(q);
                let body = &mut self.b.body;
                // Quantile { quantile = 1; value = 2; }
                encode_key(3, WireType::LengthDelimited, body);
                encode_varint(18, body);
                put_double(body, 1, q);
                put_double(body, 2, s.value);
            }
            Role::Sum => put_double(&mut self.b.body, 2, s.value),
            Role::Count => put_uint(&mut self.b.body, 1, count(s.exact)),
            Role::Created => {
                if let Some(tag) = self.kind.created_field() {
                    self.b.put_created(self.entry, tag, s.exact.as_f64());
                }
            }
            Role::Skip => {}
        }
        if standalone {
            self.close_metric();
        }
    }

    fn sample_created(&mut self, s: &SinkSample<'_>, created: Option<f64>) {
        let value = match self.kind {
            Kind::Counter => self.role(s) == Role::Value,
            Kind::Gauge | Kind::Untyped => created.is_none(),
            Kind::Histogram | Kind::Summary => false,
        };
        if value && self.whole(s, created) {
            return;
        }
        self.sample(s);
        if let Some(secs) = created {
            self.sample(&s.created(secs));
        }
    }

    fn native(&mut self, s: &SinkSample<'_>, h: &NativeView<'_>, exemplars: &[ExemplarSlot]) {
        if self.kind != Kind::Histogram {
            return;
        }
        let special = self.kind.special();
        let pieces = Pieces::of(s, special);
        if !self.same_series(s, special, pieces) {
            self.open_metric(s, special, pieces);
            if !self.open {
                return;
            }
        }
        self.seen |= Role::Sum.bit() | Role::Count.bit();
        let b = &mut *self.b;
        let body = &mut b.body;
        put_uint(body, 1, h.count);
        put_double(body, 2, h.sum);
        put_sint(body, 5, i64::from(h.schema));
        put_double(body, 6, h.zero_threshold);
        put_uint(body, 7, h.zero_count);
        let negative = put_native_side(body, &mut b.deltas, h.sides[1], 9, 10);
        let positive = put_native_side(body, &mut b.deltas, h.sides[0], 12, 13);
        if !negative && !positive {
            // The spec's no-op span, so that a histogram without buckets still parses as
            // native (Prometheus otherwise takes one with zero threshold and zero count 0
            // for a classic one).
            put_span(body, 12, 0, 0);
        }
        for e in exemplars.iter().filter_map(ExemplarSlot::get) {
            build_exemplar(&mut b.exemplar, &mut b.unescaped, &e);
            put_bytes(body, 16, &b.exemplar);
        }
    }

    fn family_end(&mut self) {
        self.close_metric();
        let Some((at, width)) = self.family_at.take() else {
            return;
        };
        let out = &mut *self.out;
        let width = if self.metrics == 0 {
            // Families without samples are left out.
            out.truncate(at);
            width
        } else {
            encoded_len_varint(patch_len(out, at, width) as u64)
        };
        // A varint of a length is at most 10 bytes.
        let width = width as u8;
        match self.b.family_widths.get_mut(self.families) {
            Some(w) => *w = width,
            None => self.b.family_widths.push(width),
        }
        self.families += 1;
        self.metrics = 0;
    }
}

impl Drop for Encoder<'_> {
    fn drop(&mut self) {
        self.family_end();
        self.b.cache.end_scrape();
    }
}

#[cfg(test)]
#[path = "protobuf_tests.rs"]
mod tests;
