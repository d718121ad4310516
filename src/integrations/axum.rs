//! Module implementing the axum side: the `/metrics` route, answering exactly as
//! `start_http_server` does. The request metrics themselves are the `tower` layer
//! ([`HttpMetrics::layer`](super::HttpMetrics::layer)), which reads axum's `MatchedPath`
//! when this feature is on. See [`metrics_route`].

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::MethodRouter;

use super::endpoint::{scrape, VARY};
use crate::Registry;

/// A `GET` (and `HEAD`) route serving `registry`: content negotiation (text 0.0.4 or
/// OpenMetrics), gzip and `name[]` filtering as the built-in server, with
/// `Vary: Accept, Accept-Encoding`; 400 for a malformed `name[]`, 500 when a collector fails.
/// Other methods get axum's 405.
///
/// ```
/// use axum::Router;
/// use tachymeter::{integrations::axum::metrics_route, Registry};
/// let registry = Registry::new();
/// let app: Router = Router::new().route("/metrics", metrics_route(&registry));
/// # let _ = app;
/// ```
pub fn metrics_route<S>(registry: &Registry) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    let registry = registry.clone();
    axum::routing::get(move |req: Request| {
        let registry = registry.clone();
        async move { metrics_response(&registry, &req) }
    })
}

/// The answer to one scrape request, for a handler of your own (what [`metrics_route`]
/// serves).
pub fn metrics_response<B>(registry: &Registry, req: &axum::http::Request<B>) -> Response {
    let text = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let s = scrape(
        registry,
        text(header::ACCEPT),
        text(header::ACCEPT_ENCODING),
        req.uri().query(),
    );
    let mut resp = Response::new(Body::from(s.body));
    *resp.status_mut() =
        StatusCode::from_u16(s.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(s.content_type),
    );
    if s.vary {
        h.insert(header::VARY, HeaderValue::from_static(VARY));
    }
    if let Some(enc) = s.content_encoding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
    }
    resp
}
