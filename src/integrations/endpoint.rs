//! Module implementing the scrape answer the framework endpoints share with
//! `start_http_server`: [`Renderer`] negotiation, gzip and `name[]` filtering, one renderer
//! per worker thread.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::Bytes;

use crate::http::Renderer;
use crate::Registry;

/// What an endpoint answers: status, headers and body.
pub(crate) struct Scrape {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    /// `Some("gzip")` when the body is compressed.
    pub(crate) content_encoding: Option<&'static str>,
    /// Whether to send `Vary: Accept, Accept-Encoding` (a scrape, not an error).
    pub(crate) vary: bool,
    pub(crate) body: Bytes,
}

/// The `Vary` value of a scrape: caches must key on both negotiated headers.
pub(crate) const VARY: &str = "Accept, Accept-Encoding";

const PLAIN: &str = "text/plain; charset=utf-8";

thread_local! {
    /// One renderer per worker thread, so warm scrapes reuse their buffers.
    static RENDERER: RefCell<Renderer> = RefCell::new(Renderer::new());
}

/// Renders `registry` for a request with these headers and query string, as the built-in
/// server does: 200 with the negotiated format, 400 for a bad `name[]`, 500 when encoding
/// fails or a collector panics.
///
/// Encoding runs inline on the calling worker thread (a scrape of a few thousand series takes
/// well under a millisecond); the body is copied once into a `Bytes` the framework can hold
/// while the socket drains.
pub(crate) fn scrape(
    registry: &Registry,
    accept: Option<&str>,
    accept_encoding: Option<&str>,
    query: Option<&str>,
) -> Scrape {
    let query = query.filter(|q| !q.is_empty());
    let rendered = catch_unwind(AssertUnwindSafe(|| {
        RENDERER.with(|r| {
            // A nested scrape on this thread (a collector that scrapes) gets a fresh renderer.
            let mut fresh;
            let mut guard = r.try_borrow_mut();
            let r = match &mut guard {
                Ok(r) => &mut **r,
                Err(_) => {
                    fresh = Renderer::new();
                    &mut fresh
                }
            };
            r.render(registry, accept, accept_encoding, query)
                .map(|out| Scrape {
                    status: 200,
                    content_type: out.content_type,
                    content_encoding: out.content_encoding,
                    vary: true,
                    body: Bytes::copy_from_slice(out.body),
                })
                .map_err(|e| (e.status(), format!("{e}\n")))
        })
    }));
    match rendered {
        Ok(Ok(s)) => s,
        Ok(Err((status, text))) => plain(status, text),
        Err(_) => plain(
            500,
            "Internal Server Error: a collector panicked while encoding the registry\n".into(),
        ),
    }
}

fn plain(status: u16, text: String) -> Scrape {
    Scrape {
        status,
        content_type: PLAIN,
        content_encoding: None,
        vary: false,
        body: Bytes::from(text),
    }
}
