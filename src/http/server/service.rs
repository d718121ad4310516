//! Module implementing what the server answers to one request: routing, authentication and
//! the scrape itself (rendered in place on a runtime worker, see [`route`]).

use std::cell::RefCell;
use std::convert::Infallible;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};

use super::conn::{ConnState, Phase};
use crate::http::{Renderer, ServeError};
use crate::Registry;

/// The credentials a scrape must present (see `ServerBuilder::basic_auth` and
/// `ServerBuilder::bearer_token`).
#[derive(Clone)]
pub(super) enum Auth {
    /// `user:password`, as the `Basic` scheme carries it before base64.
    Basic(Vec<u8>),
    /// The token after `Bearer `.
    Bearer(Vec<u8>),
}

impl core::fmt::Debug for Auth {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print secrets.
        f.write_str(match self {
            Auth::Basic(_) => "Basic(..)",
            Auth::Bearer(_) => "Bearer(..)",
        })
    }
}

/// What every request on every connection needs.
#[derive(Debug)]
pub(super) struct Routes {
    pub(super) registry: Registry,
    pub(super) path: String,
    pub(super) health_path: Option<String>,
    pub(super) auth: Option<Auth>,
}

pub(super) type Body = Full<Bytes>;

/// The hyper service: marks the connection busy while it holds a request (see
/// [`super::conn`]) and never reads the request body.
pub(super) async fn handle(
    req: Request<Incoming>,
    routes: Arc<Routes>,
    state: Arc<ConnState>,
) -> Result<Response<Body>, Infallible> {
    state.set_phase(Phase::Busy);
    let (parts, body) = req.into_parts();
    // Dropping the body unread: hyper then closes the connection after the answer instead
    // of reading (or buffering) whatever the client claims to send.
    drop(body);
    let resp = route(&parts.method, &parts.uri, &parts.headers, &routes);
    state.set_phase(Phase::Answered);
    Ok(resp)
}

fn route(
    method: &Method,
    uri: &hyper::Uri,
    headers: &HeaderMap,
    routes: &Routes,
) -> Response<Body> {
    let path = uri.path();
    let get_or_head = matches!(*method, Method::GET | Method::HEAD);
    if routes.health_path.as_deref() == Some(path) {
        if !get_or_head {
            return not_allowed();
        }
        return plain(StatusCode::OK, "OK\n");
    }
    if path != routes.path {
        return plain(
            StatusCode::NOT_FOUND,
            format!("Not Found: metrics are served at {}\n", routes.path),
        );
    }
    if !get_or_head {
        return not_allowed();
    }
    if let Some(auth) = &routes.auth {
        if !authorized(auth, headers.get(header::AUTHORIZATION)) {
            return unauthorized(auth);
        }
    }
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let query = uri.query().filter(|q| !q.is_empty());
    // Encoding is CPU work under the registry's lock and runs user collectors, which may
    // block or panic. `block_in_place` hands this worker's other connections to another
    // thread while it renders (no hop to a blocking-pool thread and back, which would add
    // two wake-ups to every scrape), and a panic is caught into a 500.
    // AssertUnwindSafe: after a panic the thread's renderer is cleared before its next use
    // and the registry's lock recovers from poisoning; nothing else is shared.
    let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tokio::task::block_in_place(|| {
            render(
                &routes.registry,
                text(header::ACCEPT),
                text(header::ACCEPT_ENCODING),
                query,
            )
        })
    }));
    match rendered {
        Ok(Ok(scrape)) => scrape.into_response(),
        Ok(Err(e)) => plain(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            format!("{e}\n"),
        ),
        Err(_panic) => plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error: a collector panicked while encoding the registry\n",
        ),
    }
}

struct Scrape {
    content_type: &'static str,
    content_encoding: Option<&'static str>,
    body: Bytes,
}

impl Scrape {
    fn into_response(self) -> Response<Body> {
        let mut r = Response::new(Full::new(self.body));
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        h.insert(
            header::VARY,
            HeaderValue::from_static("Accept, Accept-Encoding"),
        );
        if let Some(enc) = self.content_encoding {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
        }
        r
    }
}

thread_local! {
    /// One renderer per blocking thread, so warm scrapes reuse their buffers.
    static RENDERER: RefCell<Renderer> = RefCell::new(Renderer::new());
}

fn render(
    registry: &Registry,
    accept: Option<&str>,
    accept_encoding: Option<&str>,
    query: Option<&str>,
) -> Result<Scrape, ServeError> {
    RENDERER.with(|r| {
        let mut r = r.borrow_mut();
        let out = r.render(registry, accept, accept_encoding, query)?;
        Ok(Scrape {
            content_type: out.content_type,
            content_encoding: out.content_encoding,
            // One copy into a shared buffer hyper can hold while the socket drains.
            body: Bytes::copy_from_slice(out.body),
        })
    })
}

fn plain(status: StatusCode, text: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(text.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn not_allowed() -> Response<Body> {
    let mut r = plain(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method Not Allowed: use GET or HEAD\n",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    r
}

fn unauthorized(auth: &Auth) -> Response<Body> {
    let mut r = plain(
        StatusCode::UNAUTHORIZED,
        "Unauthorized: this endpoint needs credentials\n",
    );
    let challenge = match auth {
        Auth::Basic(_) => "Basic realm=\"metrics\", charset=\"UTF-8\"",
        Auth::Bearer(_) => "Bearer realm=\"metrics\"",
    };
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    r
}

/// Whether an `Authorization` header value carries the expected credentials.
pub(super) fn authorized(auth: &Auth, value: Option<&HeaderValue>) -> bool {
    let Some(value) = value.map(HeaderValue::as_bytes) else {
        return false;
    };
    // RFC 9110 §11.1: the scheme is case-insensitive, followed by one or more spaces.
    let Some(space) = value.iter().position(|&b| b == b' ') else {
        return false;
    };
    let (scheme, rest) = value.split_at(space);
    let credentials = rest.trim_ascii_start();
    match auth {
        Auth::Basic(expected) => {
            if !scheme.eq_ignore_ascii_case(b"basic") {
                return false;
            }
            match base64::engine::general_purpose::STANDARD.decode(credentials) {
                Ok(decoded) => constant_time_eq(&decoded, expected),
                Err(_) => false,
            }
        }
        Auth::Bearer(expected) => {
            scheme.eq_ignore_ascii_case(b"bearer") && constant_time_eq(credentials, expected)
        }
    }
}

/// Compares without an early exit on the first differing byte, so response time does not
/// tell an attacker how much of a guess was right (the length still shows).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn basic_auth_accepts_only_the_right_pair() {
        let auth = Auth::Basic(b"prom:s3cret".to_vec());
        // base64("prom:s3cret")
        assert!(authorized(&auth, Some(&hv("Basic cHJvbTpzM2NyZXQ="))));
        assert!(authorized(&auth, Some(&hv("basic   cHJvbTpzM2NyZXQ="))));
        assert!(!authorized(&auth, Some(&hv("Basic cHJvbTpzM2NyZXU="))));
        assert!(!authorized(&auth, Some(&hv("Bearer cHJvbTpzM2NyZXQ="))));
        assert!(!authorized(&auth, Some(&hv("Basic !!!"))));
        assert!(!authorized(&auth, Some(&hv("Basic"))));
        assert!(!authorized(&auth, None));
    }

    #[test]
    fn bearer_token_must_match_exactly() {
        let auth = Auth::Bearer(b"tok-123".to_vec());
        assert!(authorized(&auth, Some(&hv("Bearer tok-123"))));
        assert!(authorized(&auth, Some(&hv("BEARER tok-123"))));
        assert!(!authorized(&auth, Some(&hv("Bearer tok-1234"))));
        assert!(!authorized(&auth, Some(&hv("Bearer tok-12"))));
        assert!(!authorized(&auth, Some(&hv("Basic tok-123"))));
    }
}
