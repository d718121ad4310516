//! Module implementing what a [`RemoteWriter`](super::RemoteWriter) counts: the shared
//! counters, their snapshot [`RemoteWriteStats`], and the self-metrics collector.
//!
//! The counters are `std` atomics with `Relaxed` ordering: they are statistics only (no other
//! memory is published through them, and readers tolerate a slightly stale view), the case
//! where STYLE.md lets counters stay off the crate's sync shim.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::RemoteWriteError;
use crate::{Collector, Descriptor, EncodeError, MetricType, MetricWriter};

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) samples_sent: AtomicU64,
    pub(super) samples_retried: AtomicU64,
    pub(super) samples_dropped: AtomicU64,
    pub(super) samples_failed: AtomicU64,
    pub(super) requests: AtomicU64,
    pub(super) request_failures: AtomicU64,
    pub(super) collections: AtomicU64,
    pub(super) collection_failures: AtomicU64,
    pub(super) queued: AtomicU64,
    /// Samples left unsent when the shutdown deadline passed (also in `samples_dropped`).
    pub(super) unsent_at_shutdown: AtomicU64,
    /// Milliseconds since the epoch of the last accepted batch; 0 = never.
    pub(super) last_success_ms: AtomicU64,
    pub(super) last_error: Mutex<Option<RemoteWriteError>>,
    /// Set once a Remote-Write 2.0 writer fell back to 1.0 (see `protocol.rs`); never
    /// cleared.
    pub(super) on_v1: AtomicBool,
    /// Times a writer fell back from 2.0 to 1.0 (at most once per writer and its clones).
    pub(super) protocol_fallbacks: AtomicU64,
    /// 2.0 batches whose written counts were below what was sent.
    pub(super) partial_writes: AtomicU64,
}

impl Counters {
    pub(super) fn add(c: &AtomicU64, n: u64) {
        // Relaxed: a statistic (see the module docs).
        c.fetch_add(n, Relaxed);
    }

    /// `n` samples given up at the shutdown deadline.
    pub(super) fn give_up(&self, n: u64) {
        Self::add(&self.samples_dropped, n);
        Self::add(&self.unsent_at_shutdown, n);
    }

    pub(super) fn error(&self, e: &RemoteWriteError) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(e.clone());
    }

    pub(super) fn success(&self, samples: u64) {
        Self::add(&self.samples_sent, samples);
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        // Relaxed: a statistic.
        self.last_success_ms.store(ms, Relaxed);
    }

    pub(super) fn snapshot(&self) -> RemoteWriteStats {
        // Relaxed loads: a statistic; the fields may come from slightly different moments.
        let get = |c: &AtomicU64| c.load(Relaxed);
        let ms = get(&self.last_success_ms);
        RemoteWriteStats {
            samples_sent: get(&self.samples_sent),
            samples_retried: get(&self.samples_retried),
            samples_dropped: get(&self.samples_dropped),
            samples_failed: get(&self.samples_failed),
            requests: get(&self.requests),
            request_failures: get(&self.request_failures),
            collections: get(&self.collections),
            collection_failures: get(&self.collection_failures),
            queued_samples: get(&self.queued),
            protocol_fallbacks: get(&self.protocol_fallbacks),
            partial_writes: get(&self.partial_writes),
            last_success: (ms > 0).then(|| UNIX_EPOCH + Duration::from_millis(ms)),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

/// What a [`RemoteWriter`](super::RemoteWriter) has done so far (a snapshot).
///
/// Every sample collected ends up in exactly one of `samples_sent`, `samples_dropped`
/// (queue full, or unsent at shutdown), `samples_failed` (refused with a final 4xx, or out of
/// retries) or is still in `queued_samples` / in flight.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RemoteWriteStats {
    /// Samples the receiver accepted (2xx).
    pub samples_sent: u64,
    /// Samples sent again after a retryable failure (5xx, 429, timeout, unreachable),
    /// counted once per retry.
    pub samples_retried: u64,
    /// Samples dropped without being accepted: the queue was full (oldest first), or
    /// shutdown ran out of time.
    pub samples_dropped: u64,
    /// Samples the receiver refused for good: a 4xx other than 429, or retries exhausted.
    pub samples_failed: u64,
    /// HTTP requests made (retries included).
    pub requests: u64,
    /// Requests that did not get a 2xx.
    pub request_failures: u64,
    /// Collections made.
    pub collections: u64,
    /// Collections that failed (a custom collector's error or panic).
    pub collection_failures: u64,
    /// Samples waiting in the queue.
    pub queued_samples: u64,
    /// Times the writer fell back from Remote-Write 2.0 to 1.0 (0 or 1; see
    /// [`RemoteWriter::protocol`](super::RemoteWriter::protocol)).
    pub protocol_fallbacks: u64,
    /// Remote-Write 2.0 batches the receiver wrote only part of (see
    /// [`RemoteWriteError::PartialWrite`]).
    pub partial_writes: u64,
    /// When the receiver last accepted a batch.
    pub last_success: Option<SystemTime>,
    /// The most recent error (kept after later successes).
    pub last_error: Option<RemoteWriteError>,
}

impl RemoteWriteStats {
    /// The most recent error, if any.
    pub fn last_error(&self) -> Option<&RemoteWriteError> {
        self.last_error.as_ref()
    }

    /// Samples dropped (see the field).
    pub fn samples_dropped(&self) -> u64 {
        self.samples_dropped
    }
}

/// The writer's own metrics, as a collector (see
/// [`RemoteWriter::register_self_metrics`](super::RemoteWriter::register_self_metrics)).
pub(super) struct SelfMetrics {
    pub(super) counters: std::sync::Arc<Counters>,
    descriptors: Vec<Descriptor>,
}

const FAMILIES: [(&str, &str, MetricType); 7] = [
    (
        "tachymeter_remote_write_samples_sent",
        "Samples the remote-write receiver accepted.",
        MetricType::Counter,
    ),
    (
        "tachymeter_remote_write_samples_retried",
        "Samples sent again after a retryable failure.",
        MetricType::Counter,
    ),
    (
        "tachymeter_remote_write_samples_dropped",
        "Samples dropped unsent (queue full or shutdown timeout).",
        MetricType::Counter,
    ),
    (
        "tachymeter_remote_write_samples_failed",
        "Samples the receiver refused for good (4xx, or retries exhausted).",
        MetricType::Counter,
    ),
    (
        "tachymeter_remote_write_queue_samples",
        "Samples waiting in the remote-write queue.",
        MetricType::Gauge,
    ),
    (
        "tachymeter_remote_write_last_success_timestamp_seconds",
        "When the receiver last accepted a batch (0 = never).",
        MetricType::Gauge,
    ),
    (
        "tachymeter_remote_write_protocol_fallbacks",
        "Times the writer fell back from Remote-Write 2.0 to 1.0.",
        MetricType::Counter,
    ),
];

impl SelfMetrics {
    pub(super) fn new(counters: std::sync::Arc<Counters>) -> SelfMetrics {
        let descriptors = FAMILIES
            .iter()
            .filter_map(|(n, h, t)| Descriptor::new(n, h, *t, &[]).ok())
            .collect();
        SelfMetrics {
            counters,
            descriptors,
        }
    }
}

impl Collector for SelfMetrics {
    fn describe(&self) -> Vec<Descriptor> {
        self.descriptors.clone()
    }

    fn collect(&self, w: &mut MetricWriter<'_>) -> Result<(), EncodeError> {
        let c = &*self.counters;
        // Relaxed loads: statistics.
        let values = [
            c.samples_sent.load(Relaxed) as f64,
            c.samples_retried.load(Relaxed) as f64,
            c.samples_dropped.load(Relaxed) as f64,
            c.samples_failed.load(Relaxed) as f64,
            c.queued.load(Relaxed) as f64,
            c.last_success_ms.load(Relaxed) as f64 / 1000.0,
            c.protocol_fallbacks.load(Relaxed) as f64,
        ];
        for (d, v) in self.descriptors.iter().zip(values) {
            if let Some(mut f) = w.family(d) {
                let suffix = if d.metric_type() == MetricType::Counter {
                    "_total"
                } else {
                    ""
                };
                f.sample(suffix, &[], v)?;
            }
        }
        Ok(())
    }
}
