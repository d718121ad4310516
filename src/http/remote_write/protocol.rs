//! Module implementing the choice between Remote-Write 1.0 and 2.0 and the fallback from 2.0
//! to 1.0. See [`RemoteWriteProtocol`].
//!
//! The fallback, modelled on what the 2.0 spec asks of senders: a 2.0 receiver MUST answer a
//! successful write with `X-Prometheus-Remote-Write-Samples-Written` (and `-Histograms-` /
//! `-Exemplars-Written`); a 1.0 receiver (Prometheus before 2.54, VictoriaMetrics 1.79)
//! decodes a 2.0 body as an empty 1.0 `WriteRequest` (2.0 uses none of 1.0's field numbers)
//! and answers 204 without them, having stored nothing. So a 2xx without any of those
//! headers, or a 415 Unsupported Media Type, means "1.0 only": the writer turns that batch
//! (and any 2.0 batch still queued) into the 1.0 body of the same series and sends it again,
//! once, and from then on collects and sends 1.0 only.

use std::sync::atomic::Ordering::Relaxed;

use super::stats::Counters;
use super::RemoteWriteError;
use crate::encode::remote_write::{Batch, WriteRequestEncoder};
use crate::encode::remote_write_v2::{to_v1::to_v1, RequestEncoder};
use crate::{EncodeError, Registry};

/// The Remote-Write protocol a [`RemoteWriter`](super::RemoteWriter) speaks (see
/// [`RemoteWriter::protocol`](super::RemoteWriter::protocol)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum RemoteWriteProtocol {
    /// Remote-Write 1.0: `prometheus.WriteRequest`, `X-Prometheus-Remote-Write-Version:
    /// 0.1.0`. Every receiver takes it.
    #[default]
    V1,
    /// Remote-Write 2.0: `io.prometheus.write.v2.Request` (symbol table, per-series
    /// metadata, created timestamps), `X-Prometheus-Remote-Write-Version: 2.0.0`, falling
    /// back to 1.0 for receivers that do not speak it.
    V2,
}

/// The protocol headers of a request, sent before the user's.
pub(super) fn protocol_headers(v2: bool) -> [(&'static str, &'static str); 3] {
    if v2 {
        [
            ("Content-Encoding", "snappy"),
            (
                "Content-Type",
                "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            ),
            ("X-Prometheus-Remote-Write-Version", "2.0.0"),
        ]
    } else {
        [
            ("Content-Encoding", "snappy"),
            ("Content-Type", "application/x-protobuf"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ]
    }
}

/// The headers in which a 2.0 receiver says what it wrote.
pub(super) const WRITTEN_HEADERS: [&str; 3] = [
    "x-prometheus-remote-write-samples-written",
    "x-prometheus-remote-write-histograms-written",
    "x-prometheus-remote-write-exemplars-written",
];

/// What a 2xx answer's written headers say: `None` when it has none of them (a 1.0
/// receiver), else the samples and histograms written (exemplars are not counted: a batch
/// counts its samples and histograms only). `get` reads a header by its lower-case name; an unparsable value counts as 0.
pub(super) fn written<'h>(get: impl Fn(&str) -> Option<&'h str>) -> Option<u64> {
    let values = WRITTEN_HEADERS.map(get);
    if values.iter().all(Option::is_none) {
        return None;
    }
    let count = |v: Option<&str>| v.and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
    Some(count(values[0]).saturating_add(count(values[1])))
}

/// The encoder of one protocol (boxed: both are a few KiB, made once per writer thread).
#[derive(Debug)]
pub(super) enum Encoder {
    V1(Box<WriteRequestEncoder>),
    V2(Box<RequestEncoder>),
}

impl Encoder {
    pub(super) fn collect(&mut self, r: &[Registry], timestamp_ms: i64) -> Result<(), EncodeError> {
        match self {
            Encoder::V1(e) => e.collect(r, timestamp_ms),
            Encoder::V2(e) => e.collect(r, timestamp_ms),
        }
    }

    pub(super) fn take_batches(&mut self) -> std::vec::Drain<'_, Batch> {
        match self {
            Encoder::V1(e) => e.take_batches(),
            Encoder::V2(e) => e.take_batches(),
        }
    }

    pub(super) fn recycle(&mut self, body: Vec<u8>) {
        match self {
            Encoder::V1(e) => e.recycle(body),
            Encoder::V2(e) => e.recycle(body),
        }
    }

    pub(super) fn is_v2(&self) -> bool {
        matches!(self, Encoder::V2(_))
    }
}

impl Counters {
    /// Whether the writer has fallen back to 1.0.
    pub(super) fn on_v1(&self) -> bool {
        // Relaxed: the flag only picks the protocol of later requests; no other memory is
        // published through it. A stale `false` costs nothing: a 2.0 batch made then is
        // turned into 1.0 before it is sent, as this flag is read again by the sender.
        self.on_v1.load(Relaxed)
    }

    /// Falls back to 1.0 (counted the first time) and turns `batch` into 1.0.
    pub(super) fn fall_back(&self, batch: &mut Batch) -> Result<(), RemoteWriteError> {
        // Relaxed: as in `on_v1`; the swap makes exactly one caller count the fallback.
        if !self.on_v1.swap(true, Relaxed) {
            Counters::add(&self.protocol_fallbacks, 1);
        }
        downgrade(batch)
    }
}

/// Turns a 2.0 `batch` into the 1.0 body of the same series (nothing for a 1.0 one).
pub(super) fn downgrade(batch: &mut Batch) -> Result<(), RemoteWriteError> {
    if batch.v2 {
        batch.body = to_v1(&batch.body)?;
        batch.v2 = false;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_needs_one_of_the_headers_and_sums_samples_and_histograms() {
        assert_eq!(written(|_| None), None);
        let h = |name: &str| match name {
            "x-prometheus-remote-write-samples-written" => Some("7"),
            "x-prometheus-remote-write-histograms-written" => Some(" 2 "),
            "x-prometheus-remote-write-exemplars-written" => Some("5"),
            _ => None,
        };
        assert_eq!(written(h), Some(9));
        let only_exemplars =
            |name: &str| (name == "x-prometheus-remote-write-exemplars-written").then_some("0");
        assert_eq!(written(only_exemplars), Some(0), "present but zero");
        let garbage =
            |name: &str| (name == "x-prometheus-remote-write-samples-written").then_some("x");
        assert_eq!(written(garbage), Some(0));
    }

    #[test]
    fn headers_name_the_protocol() {
        let v2 = protocol_headers(true);
        assert!(v2.contains(&("X-Prometheus-Remote-Write-Version", "2.0.0")));
        assert!(v2.contains(&(
            "Content-Type",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request"
        )));
        let v1 = protocol_headers(false);
        assert!(v1.contains(&("X-Prometheus-Remote-Write-Version", "0.1.0")));
    }
}
