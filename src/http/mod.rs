//! Module implementing the HTTP transports: the scrape endpoint (`start_http_server`, feature
//! `http-server`, or [`render`] / [`Renderer`] to mount in your own server) and the
//! Pushgateway client (`Pusher`, feature `push`).
//!
//! The request parsing here ([`negotiate`], [`accepts_gzip`], [`NameFilter`]) has no
//! dependency; the built-in server (feature `http-server`) uses `hyper` on a private `tokio` runtime and the push
//! client (feature `push`) uses `ureq`.
//!
//! # Serving from your own HTTP server
//!
//! [`render`] turns the three request headers that matter (`Accept`, `Accept-Encoding`, and
//! the query string) into a status, headers and a body; wire it into any framework:
//!
//! ```
//! use tachymeter::{http, Counter, Registry};
//!
//! let registry = Registry::new();
//! Counter::builder("jobs_total", "Jobs done.").register(&registry)?.inc();
//!
//! // In your handler, with the request's headers and query:
//! match http::render(&registry, Some("application/openmetrics-text"), Some("identity"), None) {
//!     Ok(reply) => {
//!         assert_eq!(reply.content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8");
//!         assert_eq!(reply.content_encoding, None);
//!         assert!(reply.body.ends_with(b"# EOF\n"));
//!         // respond 200 with Content-Type (and Content-Encoding if set)
//!     }
//!     Err(e) => {
//!         // respond e.status() with e.to_string()
//! #       unreachable!("{e}");
//!     }
//! }
//! # Ok::<(), tachymeter::RegistrationError>(())
//! ```
//!
//! A long-running handler should keep a [`Renderer`] per worker instead, so scrapes reuse
//! their buffers.

mod error;
mod gzip;
mod negotiate;
#[cfg(feature = "push")]
mod push;
#[cfg(feature = "remote-write")]
mod remote_write;
#[cfg(feature = "http-server")]
mod server;

pub use error::{AcceptError, QueryError, ServeError};
#[cfg(feature = "push")]
pub use error::{AddressProblem, PushError};
pub use negotiate::{accepts_gzip, negotiate, NameFilter};
#[cfg(feature = "push")]
pub use push::{
    decode_push_path, encode_push_path, BackgroundPusher, PushMethod, PushRequest, Pusher,
};
#[cfg(all(feature = "remote-write", feature = "_bench"))]
#[doc(hidden)]
pub use remote_write::BenchEncoder;
#[cfg(feature = "remote-write")]
pub use remote_write::{
    RemoteWriteError, RemoteWriteHandle, RemoteWriteProtocol, RemoteWriteStats, RemoteWriter,
};
#[cfg(feature = "http-server")]
pub use server::{start_http_server, ServerBuilder, ServerHandle};

use crate::{Format, Registry};
use gzip::Gzip;

/// The answer to one scrape, borrowing a [`Renderer`]'s buffers.
#[derive(Debug, Clone, Copy)]
pub struct Rendered<'r> {
    /// The negotiated format.
    pub format: Format,
    /// The exact `Content-Type` header value (see [`Format::content_type`]).
    pub content_type: &'static str,
    /// `Some("gzip")` when the body is gzip-compressed: send it as `Content-Encoding`.
    pub content_encoding: Option<&'static str>,
    /// The body (compressed when `content_encoding` says so).
    pub body: &'r [u8],
}

/// The answer to one scrape, owning its body (see [`render`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The negotiated format.
    pub format: Format,
    /// The exact `Content-Type` header value (see [`Format::content_type`]).
    pub content_type: &'static str,
    /// `Some("gzip")` when the body is gzip-compressed: send it as `Content-Encoding`.
    pub content_encoding: Option<&'static str>,
    /// The body (compressed when `content_encoding` says so).
    pub body: Vec<u8>,
}

/// Renders scrapes into buffers it keeps, so that once warm a scrape allocates nothing
/// (encoding, `name[]` decoding and gzip all reuse their state). Keep one per worker thread.
pub struct Renderer {
    body: Vec<u8>,
    compressed: Vec<u8>,
    gzip: Option<Gzip>,
    filter: NameFilter,
}

impl core::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Renderer")
            .field("body_capacity", &self.body.capacity())
            .finish_non_exhaustive()
    }
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer::new()
    }
}

impl Renderer {
    /// A renderer with empty buffers.
    pub fn new() -> Renderer {
        Renderer {
            body: Vec::new(),
            compressed: Vec::new(),
            gzip: None,
            filter: NameFilter::new(),
        }
    }

    /// Encodes `registry` for a request with these header values and query string (the part
    /// after `?`); see [`render`] for the rules.
    ///
    /// # Errors
    ///
    /// As [`render`].
    pub fn render(
        &mut self,
        registry: &Registry,
        accept: Option<&str>,
        accept_encoding: Option<&str>,
        query: Option<&str>,
    ) -> Result<Rendered<'_>, ServeError> {
        let (format, gzipped) = self.render_inner(registry, accept, accept_encoding, query)?;
        Ok(Rendered {
            format,
            content_type: format.content_type(),
            content_encoding: gzipped.then_some("gzip"),
            body: if gzipped {
                &self.compressed
            } else {
                &self.body
            },
        })
    }

    fn render_inner(
        &mut self,
        registry: &Registry,
        accept: Option<&str>,
        accept_encoding: Option<&str>,
        query: Option<&str>,
    ) -> Result<(Format, bool), ServeError> {
        // A malformed Accept header gets the fallback format rather than an error: every
        // scraper reads text 0.0.4, and failing the scrape would only lose data.
        let format = accept.map_or(Format::Text, |a| negotiate(a).unwrap_or(Format::Text));
        self.filter.parse(query.unwrap_or(""))?;
        self.body.clear();
        if self.filter.is_empty() {
            registry.encode(format, &mut self.body)?;
        } else {
            let filter = &self.filter;
            registry.encode_filtered(format, &mut self.body, Some(&|n| filter.keeps(n)))?;
        }
        let gzipped = accept_encoding.is_some_and(accepts_gzip);
        if gzipped {
            self.gzip
                .get_or_insert_with(Gzip::new)
                .compress(&self.body, &mut self.compressed)
                .map_err(|e| ServeError::Compress(std::sync::Arc::new(e)))?;
        }
        Ok((format, gzipped))
    }
}

/// Encodes `registry` for one scrape request: the plain function to mount in your own
/// server (axum, hyper, actix, ...).
///
/// * `accept`: the `Accept` header. The format is chosen by [`negotiate`]; a missing or
///   malformed header gets text 0.0.4 (the spec's fallback; a malformed header is not worth
///   failing a scrape for).
/// * `accept_encoding`: the `Accept-Encoding` header; the body is gzipped when it allows gzip
///   ([`accepts_gzip`]).
/// * `query`: the query string without `?`; `name[]=family` keeps only those families (see
///   [`NameFilter`]).
///
/// Answer with status 200, `Content-Type: reply.content_type` and, when set,
/// `Content-Encoding: reply.content_encoding`. This allocates a fresh body per call; keep a
/// [`Renderer`] to reuse buffers.
///
/// # Errors
///
/// [`ServeError::BadQuery`] (answer 400) or [`ServeError::Encode`] /
/// [`ServeError::Compress`] (answer 500); [`ServeError::status`] gives the status.
pub fn render(
    registry: &Registry,
    accept: Option<&str>,
    accept_encoding: Option<&str>,
    query: Option<&str>,
) -> Result<Reply, ServeError> {
    let mut r = Renderer::new();
    let (format, gzipped) = r.render_inner(registry, accept, accept_encoding, query)?;
    Ok(Reply {
        format,
        content_type: format.content_type(),
        content_encoding: gzipped.then_some("gzip"),
        body: if gzipped { r.compressed } else { r.body },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Counter, Gauge};
    use std::io::Read;

    fn registry() -> Registry {
        let r = Registry::new();
        Counter::builder("a", "A.").register(&r).unwrap().inc();
        Gauge::builder("b", "B.").register(&r).unwrap().set(2.0);
        r
    }

    #[test]
    fn render_negotiates_filters_and_compresses() {
        let r = registry();
        let reply = render(&r, None, None, None).unwrap();
        assert_eq!(reply.format, Format::Text);
        assert_eq!(
            reply.content_type,
            "text/plain; version=0.0.4; charset=utf-8"
        );
        assert_eq!(reply.body, r.encode_to_string(Format::Text).into_bytes());

        let reply = render(&r, Some("nonsense"), None, None).unwrap();
        assert_eq!(
            reply.format,
            Format::Text,
            "malformed Accept falls back to text"
        );

        let reply = render(&r, None, None, Some("name[]=a_total")).unwrap();
        assert_eq!(
            String::from_utf8(reply.body).unwrap(),
            "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"
        );
        let reply = render(&r, None, None, Some("name[]=b&name[]=nope")).unwrap();
        assert_eq!(
            String::from_utf8(reply.body).unwrap(),
            "# HELP b B.\n# TYPE b gauge\nb 2\n"
        );

        let reply = render(&r, Some("application/openmetrics-text"), Some("gzip"), None).unwrap();
        assert_eq!(reply.content_encoding, Some("gzip"));
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&reply.body[..])
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, r.encode_to_string(Format::OpenMetrics));

        let e = render(&r, None, None, Some("name[]=%")).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("%25"), "{e}");
    }

    #[test]
    fn renderer_reuses_buffers() {
        let r = registry();
        let mut rr = Renderer::new();
        let first = rr
            .render(&r, None, Some("gzip"), None)
            .unwrap()
            .body
            .as_ptr();
        let second = rr
            .render(&r, None, Some("gzip"), None)
            .unwrap()
            .body
            .as_ptr();
        assert_eq!(first, second, "the compressed buffer is reused");
        let a = rr.render(&r, None, None, None).unwrap().body.to_vec();
        let b = rr.render(&r, None, None, None).unwrap().body.to_vec();
        assert_eq!(a, b);
    }
}
