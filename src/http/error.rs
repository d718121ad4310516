//! Module implementing the error types of the HTTP transports: [`AcceptError`],
//! [`QueryError`], [`ServeError`] and [`PushError`].
//!
//! They live next to the transports (not in the crate's `error.rs`) so that a build without
//! the HTTP features does not carry them.

use core::fmt;
use std::sync::Arc;
#[cfg(feature = "push")]
use std::time::Duration;

use crate::EncodeError;
#[cfg(feature = "push")]
use crate::NameError;

/// What is wrong with an `Accept` header (see [`negotiate`](super::negotiate)).
///
/// [`render`](super::render) and the built-in server do not fail on it: they answer in the
/// text format 0.0.4, the format every Prometheus-compatible scraper reads, as the
/// exposition spec's "fall back to text" rule asks for unusable headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcceptError {
    /// A media range is not `type/subtype` made of HTTP token characters.
    BadMediaRange {
        /// Byte offset in the header.
        at: usize,
    },
    /// A parameter is not `name=value` (value a token or a quoted string).
    BadParameter {
        /// Byte offset in the header.
        at: usize,
    },
    /// A `q` value is not a number from 0 to 1 with at most three decimals.
    BadQValue {
        /// Byte offset in the header.
        at: usize,
    },
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, at) = match *self {
            AcceptError::BadMediaRange { at } => ("a media range must be `type/subtype`", at),
            AcceptError::BadParameter { at } => ("a parameter must be `name=value`", at),
            AcceptError::BadQValue { at } => ("`q` must be a number from 0 to 1 (e.g. q=0.5)", at),
        };
        write!(
            f,
            "malformed Accept header at byte {at}: {what}; \
             send e.g. `application/openmetrics-text; version=1.0.0` or `text/plain; version=0.0.4`"
        )
    }
}

impl std::error::Error for AcceptError {}

/// What is wrong with a scrape's query string (the `name[]` filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryError {
    /// A `%` is not followed by two hexadecimal digits.
    BadPercentEncoding {
        /// Byte offset in the query string.
        at: usize,
    },
    /// A `name[]` value is not UTF-8 once percent-decoded.
    NotUtf8,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            QueryError::BadPercentEncoding { at } => write!(
                f,
                "bad percent-encoding at byte {at} of the query: write `%` as `%25`"
            ),
            QueryError::NotUtf8 => f.write_str(
                "a `name[]` value is not UTF-8 after percent-decoding: send metric names in UTF-8",
            ),
        }
    }
}

impl std::error::Error for QueryError {}

/// Serving metrics failed: the server could not start, or one scrape could not be answered.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ServeError {
    /// The listening socket could not be opened (address in use, no permission, bad address).
    Bind {
        /// The address as given.
        addr: String,
        /// Why binding failed.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The scrape's query string is unusable (answered with 400 Bad Request).
    BadQuery(QueryError),
    /// A custom collector produced something that cannot be exposed (answered with 500).
    Encode(EncodeError),
    /// Compressing the body failed (answered with 500).
    Compress(Arc<std::io::Error>),
    /// A [`ServerBuilder`](super::ServerBuilder) option has a value the server cannot use.
    InvalidOption {
        /// The builder method.
        option: &'static str,
        /// What is wrong with the value.
        reason: &'static str,
    },
    /// The TLS certificate or key cannot be used (feature `server-tls`).
    Tls(Arc<dyn std::error::Error + Send + Sync>),
}

impl ServeError {
    /// The HTTP status a server should answer this error with: 400 for a bad request, 500
    /// for everything else.
    pub fn status(&self) -> u16 {
        match self {
            ServeError::BadQuery(_) => 400,
            _ => 500,
        }
    }
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Bind { addr, source } => write!(
                f,
                "cannot listen on {addr:?}: {source}; pick a free port or another address"
            ),
            ServeError::BadQuery(e) => write!(f, "bad scrape request: {e}"),
            ServeError::Encode(e) => write!(f, "cannot encode the registry: {e}"),
            ServeError::Compress(e) => write!(f, "cannot gzip the body: {e}"),
            ServeError::InvalidOption { option, reason } => {
                write!(f, "invalid server option `{option}`: {reason}")
            }
            ServeError::Tls(e) => write!(f, "cannot configure TLS: {e}"),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServeError::Bind { source, .. } => Some(&**source),
            ServeError::BadQuery(e) => Some(e),
            ServeError::Encode(e) => Some(e),
            ServeError::Compress(e) => Some(&**e),
            ServeError::Tls(e) => Some(&**e),
            ServeError::InvalidOption { .. } => None,
        }
    }
}

impl From<QueryError> for ServeError {
    fn from(e: QueryError) -> Self {
        ServeError::BadQuery(e)
    }
}

impl From<EncodeError> for ServeError {
    fn from(e: EncodeError) -> Self {
        ServeError::Encode(e)
    }
}

/// What is wrong with a Pushgateway address given to [`Pusher::new`](super::Pusher::new).
#[cfg(feature = "push")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressProblem {
    /// Empty, or nothing but a scheme.
    Empty,
    /// A scheme other than `http://` or `https://`.
    UnsupportedScheme,
    /// Whitespace, a control character, a query (`?`) or a fragment (`#`).
    BadCharacter,
    /// The port is not a number from 1 to 65535.
    BadPort,
    /// The host is missing or not a valid URL authority.
    BadHost,
}

#[cfg(feature = "push")]
impl fmt::Display for AddressProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressProblem::Empty => "it is empty",
            AddressProblem::UnsupportedScheme => "only http:// and https:// are supported",
            AddressProblem::BadCharacter => {
                "it contains whitespace, a control character, `?` or `#`"
            }
            AddressProblem::BadPort => "the port must be a number from 1 to 65535",
            AddressProblem::BadHost => "the host is missing or invalid",
        })
    }
}

/// Why a push could not be configured or sent.
///
/// Configuration errors (bad address, job, grouping key or header) come from the builder;
/// the others from [`Pusher::push`](super::Pusher::push) and friends. The gateway's answer is
/// carried in [`PushError::Status`].
#[cfg(feature = "push")]
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum PushError {
    /// The gateway address is not usable. Give `host:port` or `http(s)://host:port[/prefix]`.
    InvalidAddress {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        problem: AddressProblem,
    },
    /// The job name is empty; the Pushgateway requires one.
    EmptyJob,
    /// A grouping-key label name is invalid or reserved.
    InvalidGroupingLabel(NameError),
    /// `job` cannot be a grouping-key label: it is given to [`Pusher::new`](super::Pusher::new).
    JobInGroupingKey,
    /// The same grouping-key label was given twice.
    DuplicateGroupingLabel(String),
    /// A header name or value cannot be sent (not a token, or a value with a control
    /// character such as a newline).
    InvalidHeader {
        /// The header name as given.
        name: String,
    },
    /// The request hook left a URL that is not a valid absolute `http(s)` URL.
    InvalidUrl {
        /// The URL after the hook.
        url: String,
    },
    /// A custom collector produced something that cannot be exposed; nothing was sent.
    Encode(EncodeError),
    /// The [request hook](super::Pusher::request_hook) panicked; nothing was sent. The panic
    /// is caught, so a background pusher counts it as a failed push and keeps going.
    HookPanicked {
        /// The panic message (`"<non-string panic payload>"` when it was not a string).
        message: String,
    },
    /// A custom collector panicked while the registry was encoded for the push: nothing was
    /// sent. A [`BackgroundPusher`](super::BackgroundPusher) counts it as a failure and
    /// keeps pushing.
    CollectorPanicked {
        /// The panic message (`"<non-string panic payload>"` when it was not a string).
        message: String,
    },
    /// The gateway answered with a non-2xx status.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The gateway's answer (at most 64 KiB, lossily decoded as UTF-8), e.g.
        /// `pushed metrics are invalid or inconsistent with existing metrics: ...`.
        body: String,
    },
    /// No complete answer came within the timeout (see [`Pusher::timeout`](super::Pusher::timeout)).
    Timeout {
        /// The request's URL.
        url: String,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The gateway could not be reached: connection refused, unknown host, TLS failure or a
    /// broken connection.
    Transport {
        /// The request's URL.
        url: String,
        /// The underlying error.
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// The URL is `https://` but this build has no TLS: enable the crate's `push-tls`
    /// feature, or push over `http://`. Nothing was sent.
    TlsNotEnabled {
        /// The `https://` URL.
        url: String,
    },
}

#[cfg(feature = "push")]
impl PushError {
    /// The HTTP status the gateway answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            PushError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[cfg(feature = "push")]
impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::InvalidAddress { address, problem } => write!(
                f,
                "invalid Pushgateway address {address:?}: {problem}; \
                 give host:port or http(s)://host:port[/prefix]"
            ),
            PushError::EmptyJob => f.write_str("the job name is empty; the Pushgateway needs one"),
            PushError::InvalidGroupingLabel(e) => write!(f, "invalid grouping key: {e}"),
            PushError::JobInGroupingKey => f.write_str(
                "`job` cannot be a grouping-key label; pass the job to Pusher::new instead",
            ),
            PushError::DuplicateGroupingLabel(n) => {
                write!(f, "grouping-key label {n:?} is given more than once")
            }
            PushError::InvalidHeader { name } => write!(
                f,
                "header {name:?} cannot be sent: names must be HTTP tokens and values must not \
                 contain control characters such as newlines"
            ),
            PushError::InvalidUrl { url } => write!(
                f,
                "the request hook produced an invalid URL {url:?}; keep it an absolute http(s) URL"
            ),
            PushError::Encode(e) => write!(f, "cannot encode the registry: {e}"),
            PushError::HookPanicked { message } => write!(
                f,
                "the push request hook panicked ({message}); nothing was sent: fix the hook"
            ),
            PushError::CollectorPanicked { message } => write!(
                f,
                "a custom collector panicked while encoding the push ({message}); nothing was sent"
            ),
            PushError::Status { status, body } => {
                write!(f, "the Pushgateway answered {status}: {}", body.trim_end())
            }
            PushError::Timeout { url, after } => write!(
                f,
                "no answer from {url} within {after:?}; check the gateway or raise the timeout"
            ),
            PushError::Transport { url, source } => write!(
                f,
                "cannot reach {url}: {source}; check the gateway address and that it is running"
            ),
            PushError::TlsNotEnabled { url } => write!(
                f,
                "cannot push to {url}: https:// needs tachymeter's `push-tls` feature \
                 (features = [\"push-tls\"] in Cargo.toml), or use an http:// gateway"
            ),
        }
    }
}

#[cfg(feature = "push")]
impl std::error::Error for PushError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PushError::InvalidGroupingLabel(e) => Some(e),
            PushError::Encode(e) => Some(e),
            PushError::Transport { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

#[cfg(feature = "push")]
impl From<EncodeError> for PushError {
    fn from(e: EncodeError) -> Self {
        PushError::Encode(e)
    }
}
