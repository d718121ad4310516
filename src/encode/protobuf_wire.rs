//! Module implementing the protobuf wire pieces of the exposition encoder (see
//! [`Encoder`](super::Encoder)): varints, keys, scalar and length-delimited fields, label
//! pairs, timestamps, native histogram spans and deltas, and the in-place length prefix.

use prost::encoding::{encoded_len_varint, WireType};

use super::super::sink::{for_each_pair, unescape};
use super::super::ExemplarRef;

/// Appends a varint: one byte for the small values (lengths, tags) that are most of them,
/// else `prost`'s encoder.
#[inline]
pub(super) fn encode_varint(v: u64, out: &mut Vec<u8>) {
    if v < 0x80 {
        out.push(v as u8);
    } else {
        prost::encoding::encode_varint(v, out);
    }
}

/// Appends a length-delimited field's key (tag < 16) and length `len`: in one write of two or
/// three bytes for the lengths below 2^14 that hot paths have (a `Metric` of a few hundred
/// bytes, its typed message), else through [`encode_varint`].
#[inline]
pub(super) fn put_ld_head(out: &mut Vec<u8>, tag: u32, len: usize) {
    let key = (tag << 3 | WireType::LengthDelimited as u32) as u8;
    if len < 0x80 {
        out.extend_from_slice(&[key, len as u8]);
    } else if len < 0x4000 {
        out.extend_from_slice(&[key, len as u8 | 0x80, (len >> 7) as u8]);
    } else {
        out.push(key);
        encode_varint(len as u64, out);
    }
}

/// Appends a field key.
#[inline]
pub(super) fn encode_key(tag: u32, wire_type: WireType, out: &mut Vec<u8>) {
    encode_varint(u64::from(tag << 3 | wire_type as u32), out);
}

/// Length of a length-delimited field (tag < 16) of `len` bytes.
pub(super) fn ld_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

pub(super) fn put_bytes(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

pub(super) fn put_double(out: &mut Vec<u8>, tag: u32, v: f64) {
    encode_key(tag, WireType::SixtyFourBit, out);
    out.extend_from_slice(&v.to_le_bytes());
}

pub(super) fn put_uint(out: &mut Vec<u8>, tag: u32, v: u64) {
    encode_key(tag, WireType::Varint, out);
    encode_varint(v, out);
}

/// Appends a `LabelPair` as field 1 (of `Metric` and of `Exemplar`); an empty value is left
/// out.
pub(super) fn put_label(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    if value.is_empty() {
        return;
    }
    encode_key(1, WireType::LengthDelimited, out);
    encode_varint((ld_len(name.len()) + ld_len(value.len())) as u64, out);
    put_bytes(out, 1, name);
    put_bytes(out, 2, value);
}

/// Appends the pairs of an escaped `a="x",b="y"` rendering as `LabelPair`s.
pub(super) fn put_rendered(out: &mut Vec<u8>, unescaped: &mut Vec<u8>, rendered: &[u8]) {
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
pub(super) fn put_timestamp(out: &mut Vec<u8>, tag: u32, secs: f64) {
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
pub(super) fn put_sint(out: &mut Vec<u8>, tag: u32, v: i64) {
    encode_key(tag, WireType::Varint, out);
    encode_varint(((v << 1) ^ (v >> 63)) as u64, out);
}

/// Appends a `BucketSpan` as field `tag`.
pub(super) fn put_span(out: &mut Vec<u8>, tag: u32, offset: i32, length: u32) {
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
pub(super) fn put_native_side(
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
pub(super) fn build_exemplar(out: &mut Vec<u8>, unescaped: &mut Vec<u8>, e: &ExemplarRef<'_>) {
    out.clear();
    put_rendered(out, unescaped, e.labels);
    put_double(out, 2, e.value);
    if let Some(ts) = e.timestamp {
        put_timestamp(out, 3, ts);
    }
}

/// Reserves `width` bytes at the end of `out` for a length prefix (see [`patch_len`]);
/// returns where it starts.
#[inline]
pub(super) fn reserve_len(out: &mut Vec<u8>, width: usize) -> usize {
    let at = out.len();
    out.resize(at + width, 0);
    at
}

/// Writes, at `at`, the minimal varint of the length of what follows the `width` bytes
/// reserved there by [`reserve_len`] up to the end of `out`, moving that content when the
/// varint needs fewer or more bytes than reserved. Returns the length.
///
/// Lengths stay canonical (the shortest varint), so a wrong guess of the width costs one
/// move of the message, never a longer encoding.
pub(super) fn patch_len(out: &mut Vec<u8>, at: usize, width: usize) -> usize {
    let content = at + width;
    let len = out.len() - content;
    let need = encoded_len_varint(len as u64);
    if need != width {
        let end = out.len();
        if need > width {
            out.resize(end + need - width, 0);
        }
        out.copy_within(content..end, at + need);
        out.truncate(at + need + len);
    }
    let mut v = len as u64;
    for b in &mut out[at..at + need] {
        *b = (v as u8 & 0x7F) | 0x80;
        v >>= 7;
    }
    out[at + need - 1] &= 0x7F;
    len
}
