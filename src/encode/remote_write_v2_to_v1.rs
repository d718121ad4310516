//! Module implementing the fallback from Remote-Write 2.0 to 1.0: a 2.0 request body turned
//! into the 1.0 `prometheus.WriteRequest` of the same series, so that a batch a 1.0 receiver
//! did not store can be sent again as 1.0 without collecting it again. See [`to_v1`].
//!
//! Each `TimeSeries` keeps its labels (looked up in the symbol table), its samples (the
//! `Sample` message is the same in both) and its native histograms (the `Histogram` message
//! too, field 3 in 2.0 and 4 in 1.0); metadata and the created timestamp have no place in a
//! 1.0 series and are left out.

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
    for mut ts in series {
        one.clear();
        refs.clear();
        let mut payload = Vec::new();
        while !ts.is_empty() {
            let (tag, wt) = decode_key(&mut ts).map_err(|_| bad("bad key"))?;
            match (tag, wt) {
                (1, WireType::LengthDelimited) => {
                    let mut packed = take(&mut ts)?;
                    while !packed.is_empty() {
                        refs.push(decode_varint(&mut packed).map_err(|_| bad("bad ref"))?);
                    }
                }
                (1, WireType::Varint) => {
                    refs.push(decode_varint(&mut ts).map_err(|_| bad("bad ref"))?);
                }
                // Sample: TimeSeries.samples = 2 in both.
                (2, WireType::LengthDelimited) => payload.push((2, take(&mut ts)?)),
                // Histogram: 3 in 2.0, TimeSeries.histograms = 4 in 1.0.
                (3, WireType::LengthDelimited) => payload.push((4, take(&mut ts)?)),
                _ => skip(&mut ts, wt)?,
            }
        }
        if refs.len() % 2 != 0 {
            return Err(bad("odd labels_refs"));
        }
        let symbol = |r: u64| {
            usize::try_from(r)
                .ok()
                .and_then(|i| symbols.get(i).copied())
                .ok_or_else(|| bad("symbol reference out of range"))
        };
        for pair in refs.chunks_exact(2) {
            let (name, value) = (symbol(pair[0])?, symbol(pair[1])?);
            // TimeSeries.labels = 1: Label { name = 1, value = 2 }.
            let len = 2
                + prost::encoding::encoded_len_varint(name.len() as u64)
                + name.len()
                + prost::encoding::encoded_len_varint(value.len() as u64)
                + value.len();
            encode_key(1, WireType::LengthDelimited, &mut one);
            encode_varint(len as u64, &mut one);
            put_bytes(&mut one, 1, name);
            put_bytes(&mut one, 2, value);
        }
        for (tag, bytes) in payload {
            put_bytes(&mut one, tag, bytes);
        }
        // WriteRequest.timeseries = 1.
        put_bytes(&mut out, 1, &one);
    }
    snap::raw::Encoder::new()
        .compress_vec(&out)
        .map_err(|e| bad(&format!("snappy: {e}")))
}
