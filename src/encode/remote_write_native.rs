//! Module implementing native histograms in the Remote-Write body: one `TimeSeries` with its
//! labels and one `prometheus.Histogram` in `TimeSeries.histograms`, from `prompb/types.proto`:
//!
//! ```text
//! message TimeSeries { repeated Label labels = 1; ...; repeated Histogram histograms = 4; }
//! message Histogram {
//!   oneof count { uint64 count_int = 1; double count_float = 2; }
//!   double sum = 3;
//!   sint32 schema = 4;
//!   double zero_threshold = 5;
//!   oneof zero_count { uint64 zero_count_int = 6; double zero_count_float = 7; }
//!   repeated BucketSpan negative_spans = 8;
//!   repeated sint64 negative_deltas = 9;    // packed
//!   repeated double negative_counts = 10;   // float histograms only
//!   repeated BucketSpan positive_spans = 11;
//!   repeated sint64 positive_deltas = 12;   // packed
//!   repeated double positive_counts = 13;   // float histograms only
//!   ResetHint reset_hint = 14;              // UNKNOWN = 0, YES, NO, GAUGE
//!   int64 timestamp = 15;                   // milliseconds
//! }
//! message BucketSpan { sint32 offset = 1; uint32 length = 2; }
//! ```
//!
//! Integer counts only (the store's counts are integers). `reset_hint` is left at its default,
//! UNKNOWN, as Prometheus' own remote write sends a scraped counter histogram: the receiver
//! detects resets from the counts.

use core::ops::Range;

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};

use super::Series;
use crate::metrics::native::store::NativeView;

/// Zigzag form of a signed varint (`sint32`/`sint64`).
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn put_uint(out: &mut Vec<u8>, tag: u32, v: u64) {
    encode_key(tag, WireType::Varint, out);
    encode_varint(v, out);
}

fn put_double(out: &mut Vec<u8>, tag: u32, v: f64) {
    encode_key(tag, WireType::SixtyFourBit, out);
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a `BucketSpan` as field `tag`.
fn put_span(out: &mut Vec<u8>, tag: u32, offset: i32, length: u32) {
    let zz = zigzag(i64::from(offset));
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(
        (2 + encoded_len_varint(zz) + encoded_len_varint(u64::from(length))) as u64,
        out,
    );
    put_uint(out, 1, zz);
    put_uint(out, 2, u64::from(length));
}

/// Appends one side of the histogram: its spans as fields `span_tag` and its delta-encoded
/// counts as the packed field `delta_tag`, from `counts[i]` = the count of bucket key
/// `first + i` (zeros included). A run of at most two empty buckets between non-empty ones
/// stays inside a span (as zero deltas), longer ones start a new span, as Prometheus does.
fn put_side(
    out: &mut Vec<u8>,
    deltas: &mut Vec<u8>,
    (counts, first): (&[u64], i32),
    span_tag: u32,
    delta_tag: u32,
) {
    deltas.clear();
    let mut prev = 0i64;
    // The open span (first key, length) and the key after the last span written.
    let mut open: Option<(i32, u32)> = None;
    let mut end = 0i32;
    for (j, &n) in counts.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let k = first.saturating_add(j as i32);
        let n = n.min(i64::MAX as u64) as i64;
        match &mut open {
            Some((start, len)) if k - (*start + *len as i32) <= 2 => {
                let gap = k - (*start + *len as i32);
                for _ in 0..gap {
                    encode_varint(zigzag(-prev), deltas);
                    prev = 0;
                }
                *len += gap as u32 + 1;
            }
            _ => {
                if let Some((start, len)) = open.take() {
                    put_span(out, span_tag, start - end, len);
                    end = start + len as i32;
                }
                open = Some((k, 1));
            }
        }
        encode_varint(zigzag(n - prev), deltas);
        prev = n;
    }
    if let Some((start, len)) = open {
        put_span(out, span_tag, start - end, len);
    }
    if !deltas.is_empty() {
        encode_key(delta_tag, WireType::LengthDelimited, out);
        encode_varint(deltas.len() as u64, out);
        out.extend_from_slice(deltas);
    }
}

/// Writes `view` stamped `timestamp_ms` into `h` (cleared first) as the body of a `Histogram`
/// message; `deltas` is scratch. Remote-Write 2.0's `io.prometheus.write.v2.Histogram` has
/// the same fields with the same numbers, so its encoder writes the same bytes.
pub(crate) fn histogram_body(
    h: &mut Vec<u8>,
    deltas: &mut Vec<u8>,
    view: &NativeView<'_>,
    timestamp_ms: i64,
) {
    h.clear();
    // The oneof counts are written even when 0: their presence says "integer histogram".
    put_uint(h, 1, view.count);
    put_double(h, 3, view.sum);
    put_uint(h, 4, zigzag(i64::from(view.schema)));
    put_double(h, 5, view.zero_threshold);
    put_uint(h, 6, view.zero_count);
    put_side(h, deltas, view.sides[1], 8, 9);
    put_side(h, deltas, view.sides[0], 11, 12);
    // int64 is written as its two's-complement u64.
    put_uint(h, 15, timestamp_ms as u64);
}

impl Series {
    /// Appends one `WriteRequest.timeseries` entry: the encoded `labels`, then `view` as its
    /// one `Histogram`, stamped with the collection's time. Counts as one sample of the batch.
    pub(super) fn write_histogram(
        &mut self,
        labels: Range<usize>,
        from_cache: bool,
        view: &NativeView<'_>,
    ) {
        let h = &mut self.hist;
        histogram_body(h, &mut self.deltas, view, self.timestamp_ms);

        let labels = if from_cache {
            &self.cache.arena[labels]
        } else {
            &self.encoded[labels]
        };
        let hist_field = 1 + encoded_len_varint(h.len() as u64) + h.len();
        let start = self.raw.len();
        let out = &mut self.raw;
        // WriteRequest.timeseries = 1
        out.push((1 << 3) | 2);
        encode_varint(
            (labels.len() + self.exemplar.len() + hist_field) as u64,
            out,
        );
        out.extend_from_slice(labels);
        // TimeSeries.exemplars = 3 (already framed), then TimeSeries.histograms = 4
        out.extend_from_slice(&self.exemplar);
        out.push((4 << 3) | 2);
        encode_varint(h.len() as u64, out);
        out.extend_from_slice(h);
        self.push_seg(false, start..self.raw.len());
        self.raw_samples += 1;
        if self.raw_samples >= self.max_samples {
            self.seal();
        }
    }
}

#[cfg(test)]
#[path = "remote_write_native_tests.rs"]
mod tests;
