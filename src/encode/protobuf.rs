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
//! Lengths come first in protobuf, so each level is built in its own reused buffer and
//! copied into its parent once it is complete: the typed message (`Counter`, `Histogram`,
//! ...) and the `Metric`'s labels into the family, the family into the output. Once the
//! buffers have grown, encoding allocates nothing.

use core::ops::Range;

use prost::encoding::{encoded_len_varint, WireType};

use super::sink::{for_each_pair, unescape, SampleSink, SinkSample};
use super::{Descriptor, ExemplarRef, Format, MetricType, Value};
use crate::exemplar::Slot as ExemplarSlot;
use crate::metrics::native::store::NativeView;

/// The `Content-Type` of a body in this format (what client_golang sends).
pub(crate) const CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// What a family's `Metric`s hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Summary,
    Untyped,
    Histogram,
}

impl Kind {
    fn of(t: MetricType) -> Kind {
        match t {
            MetricType::Counter => Kind::Counter,
            MetricType::Histogram => Kind::Histogram,
            MetricType::Summary => Kind::Summary,
            MetricType::Unknown => Kind::Untyped,
            MetricType::Gauge | MetricType::Info | MetricType::StateSet => Kind::Gauge,
        }
    }

    /// `MetricFamily.type`.
    fn proto_type(self) -> u64 {
        match self {
            Kind::Counter => 0,
            Kind::Gauge => 1,
            Kind::Summary => 2,
            Kind::Untyped => 3,
            Kind::Histogram => 4,
        }
    }

    /// The `Metric` field holding the typed message.
    fn metric_field(self) -> u32 {
        match self {
            Kind::Gauge => 2,
            Kind::Counter => 3,
            Kind::Summary => 4,
            Kind::Untyped => 5,
            Kind::Histogram => 7,
        }
    }

    /// The typed message's `created_timestamp` field.
    fn created_field(self) -> Option<u32> {
        match self {
            Kind::Counter => Some(3),
            Kind::Summary => Some(4),
            Kind::Histogram => Some(15),
            Kind::Gauge | Kind::Untyped => None,
        }
    }

    /// The label that is part of the type (a bucket's bound, a quantile), not of the series.
    fn special(self) -> &'static str {
        match self {
            Kind::Histogram => "le",
            Kind::Summary => "quantile",
            _ => "",
        }
    }
}

/// What one sample is within its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role<'s> {
    /// A counter's, gauge's or untyped value.
    Value,
    /// A histogram bucket, with its `le`.
    Bucket(&'s str),
    /// A summary quantile, with its `quantile`.
    Quantile(&'s str),
    Sum,
    Count,
    Created,
    /// Nothing the protobuf format can say (a histogram sample without a suffix).
    Skip,
}

impl Role<'_> {
    /// The bit marking a role seen in the open metric; 0 for the repeated ones.
    fn bit(self) -> u8 {
        match self {
            Role::Value => 1,
            Role::Sum => 2,
            Role::Count => 4,
            Role::Created => 8,
            Role::Bucket(_) | Role::Quantile(_) | Role::Skip => 0,
        }
    }
}

const COUNT_SEEN: u8 = 4;

/// The encoder's buffers, kept by the registry from scrape to scrape.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    /// The current `MetricFamily` body.
    family: Vec<u8>,
    /// The open `Metric`'s `LabelPair` fields.
    labels: Vec<u8>,
    /// The open `Metric`'s typed message body.
    body: Vec<u8>,
    /// The open series' identity: its label pieces as given, `0xFF`-separated.
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
}

/// Writes the samples of a collection as delimited `MetricFamily` messages into `out`.
pub(crate) struct Encoder<'o> {
    out: &'o mut Vec<u8>,
    b: &'o mut Buffers,
    kind: Kind,
    /// `Metric`s in the current family.
    metrics: usize,
    /// Whether a `Metric` is open (its labels and body in the buffers).
    open: bool,
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

/// Appends a varint: one byte for the small values (lengths, tags) that are most of them,
/// else `prost`'s encoder.
#[inline]
fn encode_varint(v: u64, out: &mut Vec<u8>) {
    if v < 0x80 {
        out.push(v as u8);
    } else {
        prost::encoding::encode_varint(v, out);
    }
}

/// Appends a field key.
#[inline]
fn encode_key(tag: u32, wire_type: WireType, out: &mut Vec<u8>) {
    encode_varint(u64::from(tag << 3 | wire_type as u32), out);
}

/// Length of a length-delimited field (tag < 16) of `len` bytes.
fn ld_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

fn put_bytes(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn put_double(out: &mut Vec<u8>, tag: u32, v: f64) {
    encode_key(tag, WireType::SixtyFourBit, out);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_uint(out: &mut Vec<u8>, tag: u32, v: u64) {
    encode_key(tag, WireType::Varint, out);
    encode_varint(v, out);
}

/// Appends a `LabelPair` as field 1 (of `Metric` and of `Exemplar`); an empty value is left
/// out.
fn put_label(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    if value.is_empty() {
        return;
    }
    encode_key(1, WireType::LengthDelimited, out);
    encode_varint((ld_len(name.len()) + ld_len(value.len())) as u64, out);
    put_bytes(out, 1, name);
    put_bytes(out, 2, value);
}

/// Appends the pairs of an escaped `a="x",b="y"` rendering as `LabelPair`s.
fn put_rendered(out: &mut Vec<u8>, unescaped: &mut Vec<u8>, rendered: &[u8]) {
    for_each_pair(rendered, |n, v, escaped| {
        if escaped {
            unescaped.clear();
            unescape(unescaped, v);
            put_label(out, n, unescaped);
        } else {
            put_label(out, n, v);
        }
    });
}

/// Appends a `google.protobuf.Timestamp` field for `secs` seconds since the epoch
/// (nanosecond fraction rounded; zero for negative or non-finite input).
fn put_timestamp(out: &mut Vec<u8>, tag: u32, secs: f64) {
    let (s, n) = if secs.is_finite() && secs > 0.0 {
        let whole = secs.floor();
        (
            whole as i64,
            ((secs - whole) * 1e9).round().min(999_999_999.0) as i32,
        )
    } else {
        (0, 0)
    };
    let len = 1
        + encoded_len_varint(s as u64)
        + if n > 0 {
            1 + encoded_len_varint(n as u64)
        } else {
            0
        };
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
    put_uint(out, 1, s as u64);
    if n > 0 {
        put_uint(out, 2, n as u64);
    }
}

/// Appends a `sint32`/`sint64` field (zigzag varint).
fn put_sint(out: &mut Vec<u8>, tag: u32, v: i64) {
    encode_key(tag, WireType::Varint, out);
    encode_varint(((v << 1) ^ (v >> 63)) as u64, out);
}

/// Appends a `BucketSpan` as field `tag`.
fn put_span(out: &mut Vec<u8>, tag: u32, offset: i32, length: u32) {
    let zz = ((i64::from(offset) << 1) ^ (i64::from(offset) >> 63)) as u64;
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(
        (2 + encoded_len_varint(zz) + encoded_len_varint(u64::from(length))) as u64,
        out,
    );
    put_sint(out, 1, i64::from(offset));
    put_uint(out, 2, u64::from(length));
}

/// Appends one side of a native histogram: its spans as fields `span_tag` and the
/// delta-encoded counts as packed field `delta_tag`, from `counts[i]` = the count of key
/// `first + i`. Runs of at most two empty buckets stay inside a span (one byte each, less
/// than a new span), longer ones start a new span. Returns whether any span was written.
fn put_native_side(
    out: &mut Vec<u8>,
    deltas: &mut Vec<u8>,
    (counts, first): (&[u64], i32),
    span_tag: u32,
    delta_tag: u32,
) -> bool {
    deltas.clear();
    let push = |d: i64, deltas: &mut Vec<u8>| encode_varint(((d << 1) ^ (d >> 63)) as u64, deltas);
    let mut prev = 0i64;
    // The open span (first key, length) and the key after the last written one.
    let mut open: Option<(i32, u32)> = None;
    let mut end = 0i32;
    let mut wrote = false;
    for (j, &n) in counts.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let k = first + j as i32;
        let n = n.min(i64::MAX as u64) as i64;
        match &mut open {
            Some((start, len)) if k - (*start + *len as i32) <= 2 => {
                let gap = k - (*start + *len as i32);
                for _ in 0..gap {
                    push(-prev, deltas);
                    prev = 0;
                }
                *len += gap as u32 + 1;
            }
            _ => {
                if let Some((start, len)) = open.take() {
                    put_span(out, span_tag, start - end, len);
                    end = start + len as i32;
                    wrote = true;
                }
                open = Some((k, 1));
            }
        }
        push(n - prev, deltas);
        prev = n;
    }
    if let Some((start, len)) = open {
        put_span(out, span_tag, start - end, len);
        wrote = true;
    }
    if !deltas.is_empty() {
        put_bytes(out, delta_tag, deltas);
    }
    wrote
}

/// Writes the body of an `Exemplar` message into `out` (cleared first).
fn build_exemplar(out: &mut Vec<u8>, unescaped: &mut Vec<u8>, e: &ExemplarRef<'_>) {
    out.clear();
    put_rendered(out, unescaped, e.labels);
    put_double(out, 2, e.value);
    if let Some(ts) = e.timestamp {
        put_timestamp(out, 3, ts);
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

impl<'o> Encoder<'o> {
    /// An encoder appending to `out`, with reused `buffers`.
    pub(crate) fn new(out: &'o mut Vec<u8>, buffers: &'o mut Buffers) -> Self {
        Encoder {
            out,
            b: buffers,
            kind: Kind::Untyped,
            metrics: 0,
            open: false,
            seen: 0,
            index: 0,
            top: 0,
        }
    }

    /// Moves the open `Metric` into the family.
    fn close_metric(&mut self) {
        if !core::mem::take(&mut self.open) {
            return;
        }
        let b = &mut *self.b;
        if self.kind == Kind::Histogram && self.seen & COUNT_SEEN == 0 {
            // Prometheus needs the count; the +Inf bucket holds it.
            put_uint(&mut b.body, 1, self.top);
        }
        let metric_len = b.labels.len() + ld_len(b.body.len());
        let f = &mut b.family;
        encode_key(4, WireType::LengthDelimited, f);
        encode_varint(metric_len as u64, f);
        f.extend_from_slice(&b.labels);
        put_bytes(f, self.kind.metric_field(), &b.body);
        self.metrics += 1;
    }

    /// Opens a `Metric` for the series of `s`: writes its labels.
    fn open_metric(&mut self, s: &SinkSample<'_>, special: &str) {
        self.close_metric();
        self.open = true;
        self.seen = 0;
        self.index = 0;
        self.top = 0;
        let b = &mut *self.b;
        b.labels.clear();
        b.body.clear();
        for part in s.rendered {
            put_rendered(&mut b.labels, &mut b.unescaped, part);
        }
        if let Some((n, v)) = s.extra.filter(|(n, _)| *n != special) {
            // A state set's state: escaped like a rendered value.
            b.unescaped.clear();
            unescape(&mut b.unescaped, v.as_bytes());
            put_label(&mut b.labels, n.as_bytes(), &b.unescaped);
        }
        for (n, v) in s.pairs.iter().filter(|(n, _)| *n != special) {
            put_label(&mut b.labels, n.as_bytes(), v.as_bytes());
        }
    }

    /// Whether `s` belongs to the open series; if not, records its identity.
    fn same_series(&mut self, s: &SinkSample<'_>, special: &str) -> bool {
        let ident = &mut self.b.ident;
        if self.open {
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
        self.close_metric();
        self.kind = Kind::of(desc.metric_type());
        self.metrics = 0;
        let b = &mut *self.b;
        b.family.clear();
        b.ident.clear();
        b.bounds.clear();
        b.bound_cache.clear();
        let f = &mut b.family;
        let suffix = desc.type_line_suffix(Format::Text);
        encode_key(1, WireType::LengthDelimited, f);
        encode_varint((prefix.len() + desc.name().len() + suffix.len()) as u64, f);
        for part in [prefix, desc.name(), suffix] {
            f.extend_from_slice(part.as_bytes());
        }
        if !desc.help().is_empty() {
            put_bytes(f, 2, desc.help().as_bytes());
        }
        put_uint(f, 3, self.kind.proto_type());
        if !desc.unit().is_empty() {
            put_bytes(f, 5, desc.unit().as_bytes());
        }
    }

    fn sample(&mut self, s: &SinkSample<'_>) {
        let role = self.role(s);
        if role == Role::Skip {
            return;
        }
        let special = self.kind.special();
        let standalone = matches!(self.kind, Kind::Gauge | Kind::Untyped);
        let join = !standalone
            && self.same_series(s, special)
            && (role.bit() == 0 || self.seen & role.bit() == 0);
        if !join {
            self.open_metric(s, special);
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
                    put_timestamp(&mut self.b.body, tag, s.exact.as_f64());
                }
            }
            Role::Skip => {}
        }
        if standalone {
            self.close_metric();
        }
    }

    fn native(&mut self, s: &SinkSample<'_>, h: &NativeView<'_>, exemplars: &[ExemplarSlot]) {
        if self.kind != Kind::Histogram {
            return;
        }
        let special = self.kind.special();
        if !self.same_series(s, special) {
            self.open_metric(s, special);
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
        if self.metrics > 0 {
            encode_varint(self.b.family.len() as u64, self.out);
            self.out.extend_from_slice(&self.b.family);
        }
        self.metrics = 0;
        self.b.family.clear();
    }
}

#[cfg(test)]
#[path = "protobuf_tests.rs"]
mod tests;
