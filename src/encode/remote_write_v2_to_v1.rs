//! Module implementing the fallback from Remote-Write 2.0 to 1.0: a 2.0 request body turned
//! into the 1.0 `prometheus.WriteRequest` of the same series, so that a batch a 1.0 receiver
//! did not store can be sent again as 1.0 without collecting it again. See [`to_v1`].
//!
//! Each `TimeSeries` keeps its labels (looked up in the symbol table), its samples (the
//! `Sample` message is the same in both), its native histograms (the `Histogram` message
//! too, field 3 in 2.0 and 4 in 1.0) and its exemplars (field 4 in 2.0, 3 in 1.0; their
//! labels looked up as the series'); metadata and the created timestamp have no place in a
//! 1.0 series and are left out. Fields are written in the order of their 1.0 numbers, as the
//! 1.0 encoder writes them.

use prost::encoding::{decode_key, decode_varint, encode_key, encode_varint, WireType};

use crate::error::EncodeError;

fn bad(what: &str) -> EncodeError {
    EncodeError::InvalidSample(format!("remote write 2.0 body: {what}"))
}

/// The next length-delimited value of `buf`.
fn take<'b>(buf: &mut &'b [u8]) -> Result<&'b [u8], EncodeError> {
    let n = decode_varint(buf).map_err(|_| bad("bad length"))?;
    let n = usize::try_from(n).map_err(|_| bad("bad length"))?;
    if n > buf.len() {
        return Err(bad("length past the end"));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

/// Skips a field's value of wire type `wt`.
fn skip(buf: &mut &[u8], wt: WireType) -> Result<(), EncodeError> {
    let n = match wt {
        WireType::Varint => {
            decode_varint(buf).map_err(|_| bad("bad varint"))?;
            0
        }
        WireType::SixtyFourBit => 8,
        WireType::ThirtyTwoBit => 4,
        WireType::LengthDelimited => {
            take(buf)?;
            0
        }
        WireType::StartGroup | WireType::EndGroup => return Err(bad("group field")),
    };
    if n > buf.len() {
        return Err(bad("field past the end"));
    }
    *buf = &buf[n..];
    Ok(())
}

/// Appends a 1.0 `Label { name = 1, value = 2 }` as field `tag` of `out`.
fn put_label(out: &mut Vec<u8>, tag: u32, name: &[u8], value: &[u8]) {
    let len = 2
        + prost::encoding::encoded_len_varint(name.len() as u64)
        + name.len()
        + prost::encoding::encoded_len_varint(value.len() as u64)
        + value.len();
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
    put_bytes(out, 1, name);
    put_bytes(out, 2, value);
}

/// Appends packed or single `uint32` references of field value `wt` from `buf` to `refs`.
fn take_refs(buf: &mut &[u8], wt: WireType, refs: &mut Vec<u64>) -> Result<(), EncodeError> {
    if wt == WireType::LengthDelimited {
        let mut packed = take(buf)?;
        while !packed.is_empty() {
            refs.push(decode_varint(&mut packed).map_err(|_| bad("bad ref"))?);
        }
    } else {
        refs.push(decode_varint(buf).map_err(|_| bad("bad ref"))?);
    }
    Ok(())
}

/// Appends the 1.0 `TimeSeries.exemplars = 3` field of the 2.0 `Exemplar` message `ex`,
/// its label references resolved by `symbol`.
fn put_exemplar<'s>(
    out: &mut Vec<u8>,
    mut ex: &[u8],
    symbol: impl Fn(u64) -> Result<&'s [u8], EncodeError>,
) -> Result<(), EncodeError> {
    let mut refs = Vec::new();
    let mut rest = Vec::new();
    while !ex.is_empty() {
        let (tag, wt) = decode_key(&mut ex).map_err(|_| bad("bad key"))?;
        match (tag, wt) {
            (1, WireType::LengthDelimited | WireType::Varint) => take_refs(&mut ex, wt, &mut refs)?,
            // Exemplar.value = 2 (double): the same field in 1.0.
            (2, WireType::SixtyFourBit) => {
                if ex.len() < 8 {
                    return Err(bad("field past the end"));
                }
                encode_key(2, WireType::SixtyFourBit, &mut rest);
                rest.extend_from_slice(&ex[..8]);
                ex = &ex[8..];
            }
            // Exemplar.timestamp = 3 (int64): the same field in 1.0.
            (3, WireType::Varint) => {
                let t = decode_varint(&mut ex).map_err(|_| bad("bad varint"))?;
                encode_key(3, WireType::Varint, &mut rest);
                encode_varint(t, &mut rest);
            }
            _ => skip(&mut ex, wt)?,
        }
    }
    if refs.len() % 2 != 0 {
        return Err(bad("odd exemplar labels_refs"));
    }
    let mut msg = Vec::new();
    for pair in refs.chunks_exact(2) {
        // Exemplar.labels = 1.
        put_label(&mut msg, 1, symbol(pair[0])?, symbol(pair[1])?);
    }
    msg.extend_from_slice(&rest);
    put_bytes(out, 3, &msg);
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// Re-encodes the snappy-compressed 2.0 `body` as a snappy-compressed 1.0 body with the same
/// series, in the same order.
///
/// # Errors
///
/// [`EncodeError::InvalidSample`] when `body` is not a well-formed 2.0 request (a symbol
/// reference out of range, a truncated field); this crate's encoder never writes one.
pub(crate) fn to_v1(body: &[u8]) -> Result<Vec<u8>, EncodeError> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| bad(&format!("snappy: {e}")))?;
    let mut symbols: Vec<&[u8]> = Vec::new();
    let mut series: Vec<&[u8]> = Vec::new();
    let mut buf = &raw[..];
    while !buf.is_empty() {
        let (tag, wt) = decode_key(&mut buf).map_err(|_| bad("bad key"))?;
        match (tag, wt) {
            (4, WireType::LengthDelimited) => symbols.push(take(&mut buf)?),
            (5, WireType::LengthDelimited) => series.push(take(&mut buf)?),
            _ => skip(&mut buf, wt)?,
        }
    }
    let mut out = Vec::with_capacity(raw.len() * 2);
    let mut one = Vec::new();
    let mut refs = Vec::new();
    let symbol = |r: u64| {
        usize::try_from(r)
            .ok()
            .and_then(|i| symbols.get(i).copied())
            .ok_or_else(|| bad("symbol reference out of range"))
    };
    for mut ts in series {
        one.clear();
        refs.clear();
        let mut samples = Vec::new();
        let mut exemplars = Vec::new();
        let mut histograms = Vec::new();
        while !ts.is_empty() {
            let (tag, wt) = decode_key(&mut ts).map_err(|_| bad("bad key"))?;
            match (tag, wt) {
                (1, WireType::LengthDelimited | WireType::Varint) => {
                    take_refs(&mut ts, wt, &mut refs)?;
                }
                // Sample: TimeSeries.samples = 2 in both.
                (2, WireType::LengthDelimited) => samples.push(take(&mut ts)?),
                // Histogram: 3 in 2.0, TimeSeries.histograms = 4 in 1.0.
                (3, WireType::LengthDelimited) => histograms.push(take(&mut ts)?),
                // Exemplar: 4 in 2.0, TimeSeries.exemplars = 3 in 1.0.
                (4, WireType::LengthDelimited) => {
                    put_exemplar(&mut exemplars, take(&mut ts)?, symbol)?;
                }
                _ => skip(&mut ts, wt)?,
            }
        }
        if refs.len() % 2 != 0 {
            return Err(bad("odd labels_refs"));
        }
        for pair in refs.chunks_exact(2) {
            // TimeSeries.labels = 1.
            put_label(&mut one, 1, symbol(pair[0])?, symbol(pair[1])?);
        }
        for bytes in samples {
            put_bytes(&mut one, 2, bytes);
        }
        one.extend_from_slice(&exemplars);
        for bytes in histograms {
            put_bytes(&mut one, 4, bytes);
        }
        // WriteRequest.timeseries = 1.
        put_bytes(&mut out, 1, &one);
    }
    snap::raw::Encoder::new()
        .compress_vec(&out)
        .map_err(|e| bad(&format!("snappy: {e}")))
}
