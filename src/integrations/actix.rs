//! Module implementing the actix-web side: the request-metrics middleware ([`RequestMetrics`],
//! route from `match_pattern`) and the `/metrics` resource ([`metrics_resource`]), which
//! answers exactly as `start_http_server` does.

use core::future::{ready, Future, Ready};
use core::pin::Pin;
use core::task::{Context, Poll};

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;

use super::endpoint::{scrape, VARY};
use super::labels::{Headers, RequestInfo};
use super::recorder::{poll_recording_panics, HttpMetrics, InFlight, Route};
use crate::Registry;

/// actix-web middleware recording [`HttpMetrics`] for every request of the app (or scope) it
/// wraps: `App::new().wrap(metrics.middleware())`. The route is the resource pattern
/// (`/users/{id}`, scopes included); requests no resource matched (404s, the default
/// service) are `unmatched`.
///
/// actix-web's `match_pattern` builds the pattern as a new `String`: that is one allocation
/// per measured request that actix-web's API imposes. `match_pattern` matches the path only,
/// so a method refused by an `App::route` guard (a 404 in actix-web) keeps its pattern; use
/// `web::resource(..).route(..)`, which answers 405.
///
/// actix-web runs a handler to completion even when the client has gone away, so such a
/// request is recorded with the status the handler produced (the in-flight slot is given
/// back then); under hyper/axum the handler is dropped and only the slot is given back.
#[derive(Clone, Debug)]
pub struct RequestMetrics {
    metrics: HttpMetrics,
}

impl HttpMetrics {
    /// The actix-web middleware recording these metrics (see [`RequestMetrics`]).
    pub fn middleware(&self) -> RequestMetrics {
        RequestMetrics {
            metrics: self.clone(),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequestMetrics
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<MetricsBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequestMetricsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestMetricsService {
            service,
            metrics: self.metrics.clone(),
        }))
    }
}

/// The service [`RequestMetrics`] wraps around an app's.
#[derive(Debug)]
pub struct RequestMetricsService<S> {
    service: S,
    metrics: HttpMetrics,
}

impl<S, B> Service<ServiceRequest> for RequestMetricsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<MetricsBody<B>>;
    type Error = actix_web::Error;
    type Future = ResponseFuture<S::Future>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let guard = self.begin(&req);
        ResponseFuture {
            inner: self.service.call(req),
            guard,
        }
    }
}

impl<S> RequestMetricsService<S> {
    fn begin(&self, req: &ServiceRequest) -> Option<InFlight> {
        let pattern = req.match_pattern();
        let info = RequestInfo {
            method: req.method().as_str(),
            path: req.path(),
            route: pattern.as_deref(),
            headers: Headers::Actix(req.headers()),
        };
        let secure = req.app_config().secure();
        let mut guard = self.metrics.prepare(&info, secure)?;
        if let Some(p) = pattern {
            guard.set_route(Route::Owned(p));
        }
        guard.enter();
        if !self.metrics.wants_request_size() {
            return Some(guard);
        }
        let size = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        guard.set_request_size(size);
        Some(guard)
    }
}

pin_project_lite::pin_project! {
    /// The future of [`RequestMetricsService`]; see the tower twin
    /// (`integrations::tower::ResponseFuture`) for what happens on drop and panic.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        guard: Option<InFlight>,
    }
}

impl<F, B> Future for ResponseFuture<F>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = Result<ServiceResponse<MetricsBody<B>>, actix_web::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = poll_recording_panics(this.inner, this.guard, cx);
        let result = match polled {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        let mut guard = this.guard.take();
        Poll::Ready(match result {
            Ok(res) => {
                if let Some(g) = &mut guard {
                    g.set_status(res.status().as_u16());
                }
                Ok(res.map_body(|_, inner| MetricsBody { inner, guard }))
            }
            Err(e) => {
                // actix-web turns the error into a response after the middleware: its status
                // is the error's.
                if let Some(g) = &mut guard {
                    g.set_status(e.as_response_error().status_code().as_u16());
                    g.finish();
                }
                Err(e)
            }
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that finishes its request's measurement when its last chunk has been
    /// yielded, when it fails, or when it is dropped (the client went away mid-body).
    pub struct MetricsBody<B> {
        #[pin]
        inner: B,
        guard: Option<InFlight>,
    }
}

impl<B: MessageBody> MessageBody for MetricsBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_next(cx);
        if let Some(g) = this.guard.as_mut() {
            match &polled {
                Poll::Pending => {}
                Poll::Ready(Some(Ok(chunk))) => g.add_body_bytes(chunk.len()),
                Poll::Ready(Some(Err(_)) | None) => g.finish(),
            }
        }
        polled
    }
}

/// A resource at `path` serving `registry` to `GET` and `HEAD`: content negotiation (text
/// 0.0.4 or OpenMetrics), gzip and `name[]` filtering as the built-in server, with
/// `Vary: Accept, Accept-Encoding`; 400 for a malformed `name[]`, 500 when a collector fails;
/// other methods get actix-web's 405.
///
/// ```
/// use actix_web::App;
/// use tachymeter::{integrations::actix::metrics_resource, Registry};
/// let registry = Registry::new();
/// let app = App::new().service(metrics_resource("/metrics", &registry));
/// # let _ = app;
/// ```
pub fn metrics_resource(path: &str, registry: &Registry) -> actix_web::Resource {
    let registry = registry.clone();
    web::resource(path).route(
        web::route()
            .guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
            .to(move |req: HttpRequest| {
                let registry = registry.clone();
                async move { metrics_response(&registry, &req) }
            }),
    )
}

/// The answer to one scrape request, for a handler of your own (what [`metrics_resource`]
/// serves).
pub fn metrics_response(registry: &Registry, req: &HttpRequest) -> HttpResponse {
    let text = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let s = scrape(
        registry,
        text(header::ACCEPT),
        text(header::ACCEPT_ENCODING),
        Some(req.query_string()),
    );
    let status = StatusCode::from_u16(s.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = HttpResponse::with_body(status, s.body);
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
    resp.map_into_boxed_body()
}
