//! Module implementing [`RemoteWriteError`].

use core::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::http::AddressProblem;
use crate::{EncodeError, NameError};

/// Why a [`RemoteWriter`](super::RemoteWriter) could not be configured, or why a batch was
/// not accepted.
///
/// Configuration errors come from the builder; the others from
/// [`RemoteWriter::write_once`](super::RemoteWriter::write_once), the background writer's
/// [`last_error`](super::RemoteWriteStats::last_error) and
/// [`RemoteWriteHandle::shutdown`](super::RemoteWriteHandle::shutdown).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RemoteWriteError {
    /// The receiver URL is not usable: give `http(s)://host:port/path`, e.g.
    /// `http://127.0.0.1:9090/api/v1/write`. `problem` is `None` when a request hook made
    /// the URL invalid.
    InvalidUrl {
        /// The URL as given (or as the hook left it).
        url: String,
        /// What is wrong with it, when known.
        problem: Option<AddressProblem>,
    },
    /// A header name or value cannot be sent (not a token, or a control character).
    InvalidHeader {
        /// The header name as given.
        name: String,
    },
    /// An external label name is invalid or reserved (`__` prefix).
    InvalidExternalLabel(NameError),
    /// The same external label was given twice.
    DuplicateExternalLabel(String),
    /// A builder option has a value the writer cannot use.
    InvalidOption {
        /// The builder method.
        option: &'static str,
        /// What is wrong with the value.
        reason: &'static str,
    },
    /// No registry to collect: call [`RemoteWriter::registry`](super::RemoteWriter::registry).
    NoRegistry,
    /// A custom collector produced something that cannot be sent; that collection was
    /// skipped.
    Encode(EncodeError),
    /// A custom collector panicked during a collection; that collection was skipped.
    CollectorPanicked {
        /// The panic message (`"<non-string panic payload>"` when it was not a string).
        message: String,
    },
    /// The request hook panicked; the batch was not sent (and not retried).
    HookPanicked {
        /// The panic message.
        message: String,
    },
    /// The receiver refused the batch: a 4xx other than 429 (never retried: Prometheus
    /// answers a re-sent batch with 400 `out of order sample`), or a 5xx/429 after the last
    /// retry.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The receiver's answer (at most 64 KiB, lossily decoded).
        body: String,
        /// How many times the batch had been retried before this answer.
        retries: u32,
    },
    /// No complete answer within the request timeout (retried like a 5xx).
    Timeout {
        /// The URL.
        url: String,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The receiver could not be reached (retried like a 5xx): connection refused, unknown
    /// host, TLS failure, broken connection.
    Transport {
        /// The URL.
        url: String,
        /// The underlying error.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The URL is `https://` but this build has no TLS: enable the `push-tls` feature.
    TlsNotEnabled {
        /// The URL.
        url: String,
    },
    /// The queue was full: the oldest queued batches were dropped to make room (counted in
    /// [`RemoteWriteStats::samples_dropped`](super::RemoteWriteStats::samples_dropped)).
    QueueFull {
        /// Samples dropped this time.
        dropped: u64,
    },
    /// Shutdown ran out of time with samples still unsent (they are counted as dropped).
    ShutdownTimeout {
        /// Samples left unsent.
        unsent: u64,
    },
    /// A Remote-Write 2.0 receiver accepted the batch (2xx) but its
    /// `X-Prometheus-Remote-Write-{Samples,Histograms}-Written` headers say it stored fewer
    /// samples than were sent (a partial write): the rest are counted in
    /// [`RemoteWriteStats::samples_failed`](super::RemoteWriteStats::samples_failed) and
    /// [`partial_writes`](super::RemoteWriteStats::partial_writes). Not retried (the stored
    /// part would be sent twice); check the receiver's logs for what it refused.
    PartialWrite {
        /// Samples (float samples and native histograms) in the batch.
        sent: u64,
        /// Samples the receiver says it wrote.
        written: u64,
    },
}

impl RemoteWriteError {
    /// The HTTP status the receiver answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            RemoteWriteError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether sending the same batch again may succeed: 5xx, 429, a timeout or an
    /// unreachable receiver.
    pub fn is_retryable(&self) -> bool {
        match self {
            RemoteWriteError::Status { status, .. } => *status == 429 || *status >= 500,
            RemoteWriteError::Timeout { .. } | RemoteWriteError::Transport { .. } => true,
            _ => false,
        }
    }
}

impl fmt::Display for RemoteWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteWriteError::InvalidUrl { url, problem } => {
                write!(f, "invalid remote-write URL {url:?}")?;
                if let Some(p) = problem {
                    write!(f, ": {p}")?;
                }
                f.write_str("; give http(s)://host:port/path, e.g. http://127.0.0.1:9090/api/v1/write")
            }
            RemoteWriteError::InvalidHeader { name } => write!(
                f,
                "header {name:?} cannot be sent: names must be HTTP tokens and values must not \
                 contain control characters such as newlines"
            ),
            RemoteWriteError::InvalidExternalLabel(e) => write!(f, "invalid external label: {e}"),
            RemoteWriteError::DuplicateExternalLabel(n) => {
                write!(f, "external label {n:?} is given more than once")
            }
            RemoteWriteError::InvalidOption { option, reason } => {
                write!(f, "invalid remote-write option `{option}`: {reason}")
            }
            RemoteWriteError::NoRegistry => {
                f.write_str("nothing to write: add a registry with RemoteWriter::registry")
            }
            RemoteWriteError::Encode(e) => write!(f, "cannot collect the registry: {e}"),
            RemoteWriteError::CollectorPanicked { message } => write!(
                f,
                "a custom collector panicked during a remote-write collection ({message}); \
                 that collection was skipped"
            ),
            RemoteWriteError::HookPanicked { message } => write!(
                f,
                "the remote-write request hook panicked ({message}); the batch was not sent"
            ),
            RemoteWriteError::Status {
                status,
                body,
                retries,
            } => write!(
                f,
                "the remote-write receiver answered {status} (after {retries} retries): {}",
                body.trim_end()
            ),
            RemoteWriteError::Timeout { url, after } => write!(
                f,
                "no answer from {url} within {after:?}; check the receiver or raise the timeout"
            ),
            RemoteWriteError::Transport { url, source } => write!(
                f,
                "cannot reach {url}: {source}; check the URL and that the receiver is running"
            ),
            RemoteWriteError::TlsNotEnabled { url } => write!(
                f,
                "cannot write to {url}: https:// needs tachymeter's `push-tls` feature, or use http://"
            ),
            RemoteWriteError::QueueFull { dropped } => write!(
                f,
                "the remote-write queue is full: dropped the {dropped} oldest queued samples; \
                 the receiver is too slow or down (raise queue_capacity to ride out longer outages)"
            ),
            RemoteWriteError::ShutdownTimeout { unsent } => write!(
                f,
                "shutdown timed out with {unsent} samples unsent; raise shutdown_timeout"
            ),
            RemoteWriteError::PartialWrite { sent, written } => write!(
                f,
                "the remote-write 2.0 receiver wrote {written} of the {sent} samples sent \
                 (a partial write); check its logs for what it refused"
            ),
        }
    }
}

impl std::error::Error for RemoteWriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RemoteWriteError::InvalidExternalLabel(e) => Some(e),
            RemoteWriteError::Encode(e) => Some(e),
            RemoteWriteError::Transport { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

impl From<EncodeError> for RemoteWriteError {
    fn from(e: EncodeError) -> Self {
        RemoteWriteError::Encode(e)
    }
}
