//! Module implementing the request metrics as a `tower` layer, for every server built on
//! `http` 1.x services: axum, hyper (through `hyper-util`), tonic. See [`MetricsLayer`].
//!
//! The route label comes from axum's `MatchedPath` when the `axum` feature is on and the
//! layer sits inside the router (`Router::layer`); otherwise every request is `unmatched`
//! unless a [`MetricsLayer::route_fn`] names it.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::sync::Arc;

use bytes::Buf as _;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};

use super::labels::{Headers, RequestInfo};
use super::recorder::{poll_recording_panics, HttpMetrics, InFlight, Route};

type RouteFn = dyn Fn(&RequestInfo<'_>) -> Option<&'static str> + Send + Sync;

/// A `tower::Layer` that measures every request of the service it wraps: duration until the
/// response body is fully sent, requests in flight, optionally body sizes (see
/// [`HttpMetrics`]).
///
/// With axum, add it with `Router::layer` **after** the routes (and any `nest`), so that it
/// sees `MatchedPath` and also wraps the fallback: 404s are then counted as `unmatched` and
/// 405s under their route. `route_layer` would skip both; a layer around the whole router
/// (`ServiceBuilder` outside it) runs before routing and sees no route at all.
///
/// ```
/// # #[cfg(feature = "axum")] {
/// use axum::{routing::get, Router};
/// use tachymeter::{integrations::{axum::metrics_route, HttpMetrics}, Registry};
///
/// let registry = Registry::new();
/// let metrics = HttpMetrics::builder().registry(&registry).exclude_path("/metrics").build()?;
/// let app: Router = Router::new()
///     .route("/users/{id}", get(|| async { "hi" }))
///     .route("/metrics", metrics_route(&registry))
///     .layer(metrics.layer());
/// # let _ = app;
/// # }
/// # Ok::<(), tachymeter::RegistrationError>(())
/// ```
#[derive(Clone)]
pub struct MetricsLayer {
    metrics: HttpMetrics,
    route_fn: Option<Arc<RouteFn>>,
}

impl core::fmt::Debug for MetricsLayer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MetricsLayer")
            .field("metrics", &self.metrics)
            .field("route_fn", &self.route_fn.is_some())
            .finish()
    }
}

impl HttpMetrics {
    /// The `tower` layer recording these metrics (see [`MetricsLayer`]).
    pub fn layer(&self) -> MetricsLayer {
        MetricsLayer {
            metrics: self.clone(),
            route_fn: None,
        }
    }
}

impl MetricsLayer {
    /// Names the route of requests the framework did not route (plain hyper, tonic): `f`
    /// gives a template from a fixed set (e.g. gRPC's `/pkg.Service/Method` checked against
    /// the service's methods), `None` for `unmatched`. Only `&'static str` values are
    /// accepted, so the series stay bounded. axum's `MatchedPath`, when present, wins.
    pub fn route_fn<F>(mut self, f: F) -> Self
    where
        F: Fn(&RequestInfo<'_>) -> Option<&'static str> + Send + Sync + 'static,
    {
        self.route_fn = Some(Arc::new(f));
        self
    }
}

impl<S> tower_layer::Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`MetricsLayer`] wraps around another.
#[derive(Clone, Debug)]
pub struct MetricsService<S> {
    inner: S,
    layer: MetricsLayer,
}

impl<S, ReqB, ResB> tower_service::Service<Request<ReqB>> for MetricsService<S>
where
    S: tower_service::Service<Request<ReqB>, Response = Response<ResB>>,
    ReqB: Body,
    ResB: Body,
{
    type Response = Response<MetricsBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let guard = self.begin(&req);
        ResponseFuture {
            inner: self.inner.call(req),
            guard,
        }
    }
}

impl<S> MetricsService<S> {
    fn begin<B: Body>(&self, req: &Request<B>) -> Option<InFlight> {
        #[cfg(feature = "axum")]
        let matched = req.extensions().get::<axum::extract::MatchedPath>();
        #[cfg(feature = "axum")]
        let matched_str = matched.map(|m| m.as_str());
        #[cfg(not(feature = "axum"))]
        let matched_str: Option<&str> = None;
        let mut info = RequestInfo {
            method: req.method().as_str(),
            path: req.uri().path(),
            route: matched_str,
            headers: Headers::Http(req.headers()),
        };
        #[cfg_attr(not(feature = "axum"), allow(unused_mut))]
        let mut route = Route::Unmatched;
        #[cfg(feature = "axum")]
        if let Some(m) = matched {
            route = Route::Axum(m.clone());
        }
        if info.route.is_none() {
            if let Some(f) = &self.layer.route_fn {
                if let Some(r) = f(&info) {
                    info.route = Some(r);
                    route = Route::Static(r);
                }
            }
        }
        let secure = req.uri().scheme() == Some(&http::uri::Scheme::HTTPS);
        let mut guard = self.layer.metrics.begin(&info, route, secure)?;
        if !self.layer.metrics.wants_request_size() {
            return Some(guard);
        }
        let size = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .or_else(|| req.body().size_hint().exact());
        guard.set_request_size(size);
        Some(guard)
    }
}

pin_project_lite::pin_project! {
    /// The future of [`MetricsService`]: the inner response, its body wrapped in
    /// [`MetricsBody`]. Dropping it before it completes (the client went away) gives back the
    /// in-flight slot; a panic in the inner future is recorded as a 500 and resumed.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        guard: Option<InFlight>,
    }
}

impl<F: core::fmt::Debug> core::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<MetricsBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = poll_recording_panics(this.inner, this.guard, cx);
        let result = match polled {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        let mut guard = this.guard.take();
        Poll::Ready(match result {
            Ok(resp) => {
                if let Some(g) = &mut guard {
                    g.set_status(resp.status().as_u16());
                    g.set_grpc(g.grpc().after_head(resp.headers()));
                }
                Ok(resp.map(|inner| MetricsBody { inner, guard }))
            }
            Err(e) => {
                // No response: the server will close the connection; count it as a 500.
                if let Some(g) = &mut guard {
                    g.finish_panicked();
                }
                Err(e)
            }
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that finishes its request's measurement when the last frame has been
    /// yielded, when it fails, or when it is dropped (the client went away mid-body).
    pub struct MetricsBody<B> {
        #[pin]
        inner: B,
        guard: Option<InFlight>,
    }
}

impl<B: core::fmt::Debug> core::fmt::Debug for MetricsBody<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MetricsBody")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<B: Body> Body for MetricsBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        if let Some(g) = this.guard.as_mut() {
            match &polled {
                Poll::Pending => {}
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        g.add_body_bytes(data.remaining());
                    } else if let Some(t) = frame.trailers_ref() {
                        if g.grpc().awaiting() {
                            g.set_grpc(g.grpc().after_trailers(t));
                        }
                    }
                    if this.inner.is_end_stream() {
                        g.set_grpc(g.grpc().at_end(false));
                        g.finish();
                    }
                }
                Poll::Ready(Some(Err(_)) | None) => {
                    g.set_grpc(g.grpc().at_end(false));
                    g.finish();
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    //! The layer as a plain tower service (what hyper and tonic see): no axum router, so the
    //! route comes from `route_fn`; a future dropped before it answers; a service error.
    use super::*;
    use crate::Registry;
    use core::convert::Infallible;
    use std::task::Waker;
    use tower_layer::Layer as _;
    use tower_service::Service as _;

    /// A body of one data frame.
    struct Once(Option<bytes::Bytes>);

    impl Body for Once {
        type Data = bytes::Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<bytes::Bytes>, Infallible>>> {
            Poll::Ready(self.0.take().map(|b| Ok(Frame::data(b))))
        }
    }

    /// Answers `status` with "hello", or stays pending forever, or fails.
    #[derive(Clone)]
    enum Svc {
        Answer(u16),
        Pending,
        Fail,
    }

    impl tower_service::Service<Request<Once>> for Svc {
        type Response = Response<Once>;
        type Error = &'static str;
        type Future =
            core::pin::Pin<Box<dyn Future<Output = Result<Response<Once>, &'static str>> + Send>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Request<Once>) -> Self::Future {
            match *self {
                Svc::Answer(s) => Box::pin(async move {
                    let mut r = Response::new(Once(Some(bytes::Bytes::from_static(b"hello"))));
                    *r.status_mut() = http::StatusCode::from_u16(s).unwrap();
                    Ok(r)
                }),
                Svc::Pending => Box::pin(core::future::pending()),
                Svc::Fail => Box::pin(async { Err("broken") }),
            }
        }
    }

    fn poll<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    fn req(method: &str, path: &str) -> Request<Once> {
        Request::builder()
            .method(method)
            .uri(path)
            .body(Once(None))
            .unwrap()
    }

    fn text(r: &Registry) -> String {
        r.encode_to_string(Default::default())
    }

    #[test]
    fn route_fn_names_the_route_and_the_body_end_records() {
        let r = Registry::new();
        let m = HttpMetrics::builder()
            .registry(&r)
            .exclude_path("/health")
            .build()
            .unwrap();
        let layer = m.layer().route_fn(|req| {
            ["/pkg.Greeter/SayHello"]
                .into_iter()
                .find(|p| *p == req.path())
        });
        let mut svc = layer.layer(Svc::Answer(200));
        for path in ["/pkg.Greeter/SayHello", "/pkg.Greeter/Other", "/health"] {
            let mut fut = Box::pin(svc.call(req("GET", path)));
            let Poll::Ready(Ok(resp)) = poll(fut.as_mut()) else {
                panic!("ready")
            };
            let mut body = Box::pin(resp.into_body());
            if path != "/health" {
                // In flight until the body has yielded its last frame.
                assert!(
                    text(&r).contains("_active_requests{method=\"GET\",route=")
                        && text(&r).contains("} 1\n")
                );
            }
            while let Poll::Ready(Some(_)) = poll(core::pin::pin!(core::future::poll_fn(|cx| body
                .as_mut()
                .poll_frame(cx))))
            {}
        }
        let t = text(&r);
        assert!(t.contains("http_server_request_duration_seconds_count{method=\"GET\",route=\"/pkg.Greeter/SayHello\",status=\"200\"} 1\n"), "{t}");
        assert!(t.contains("http_server_request_duration_seconds_count{method=\"GET\",route=\"unmatched\",status=\"200\"} 1\n"), "{t}");
        assert!(!t.contains("health") && !t.contains("Other"), "{t}");
        assert!(
            t.contains("http_server_active_requests{method=\"GET\",route=\"unmatched\"} 0\n"),
            "{t}"
        );
    }

    #[test]
    fn middleware_families_are_capped_and_overflow_into_one_series() {
        let r = Registry::builder().created_samples(false).build();
        let dflt = HttpMetrics::new(&r).unwrap();
        assert_eq!(
            dflt.inner.duration.max_children(),
            Some(crate::integrations::DEFAULT_MAX_CHILDREN)
        );
        assert_eq!(
            dflt.inner.active.max_children(),
            Some(crate::integrations::DEFAULT_MAX_CHILDREN)
        );
        // Four routes against a limit of 2 label sets per family.
        let r = Registry::builder().created_samples(false).build();
        let m = HttpMetrics::builder()
            .registry(&r)
            .max_children(2)
            .build()
            .unwrap();
        const ROUTES: [&str; 4] = ["/u/1", "/u/2", "/u/3", "/u/4"];
        serve(&m, &ROUTES, ROUTES);
        let t = text(&r);
        assert!(t.contains("http_server_request_duration_seconds_count{method=\"__overflow__\",route=\"__overflow__\",status=\"__overflow__\"} 2\n"), "{t}");
        assert!(t.contains("tachymeter_family_overflow_updates_total{family=\"http_server_request_duration_seconds\"} 2\n"), "{t}");
        assert_eq!(m.inner.duration.len(), 3);
    }

    /// Serves `GET` of each of `paths` through the layer (routes: those of `routes` the path
    /// equals), draining each body.
    fn serve<'p>(
        m: &HttpMetrics,
        routes: &'static [&'static str],
        paths: impl IntoIterator<Item = &'p str>,
    ) {
        let layer = m
            .layer()
            .route_fn(move |req| routes.iter().copied().find(|p| *p == req.path()));
        let mut svc = layer.layer(Svc::Answer(200));
        for path in paths {
            let mut fut = Box::pin(svc.call(req("GET", path)));
            let Poll::Ready(Ok(resp)) = poll(fut.as_mut()) else {
                panic!("ready")
            };
            let mut body = Box::pin(resp.into_body());
            while let Poll::Ready(Some(_)) = poll(core::pin::pin!(core::future::poll_fn(|cx| body
                .as_mut()
                .poll_frame(cx))))
            {}
        }
    }

    #[test]
    fn native_durations_keep_or_drop_the_classic_buckets() {
        let config = crate::NativeConfig::new(1.1).unwrap();
        for keep_classic in [true, false] {
            let r = Registry::builder().created_samples(false).build();
            let b = HttpMetrics::builder().registry(&r);
            let m = if keep_classic {
                b.duration_native(config)
            } else {
                b.duration_native_only(config)
            }
            .build()
            .unwrap();
            serve(&m, &["/x"], ["/x"; 3]);
            let h = m.inner.duration.with_label_values(&["GET", "/x", "200"]);
            let snap = h.native_snapshot().expect("native buckets");
            assert_eq!((snap.count, snap.schema), (3, config.schema()));
            let t = text(&r);
            assert!(t.contains("http_server_request_duration_seconds_count{method=\"GET\",route=\"/x\",status=\"200\"} 3\n"), "{t}");
            assert_eq!(t.contains("le=\"0.005\""), keep_classic, "{t}");
            assert!(t.contains("le=\"+Inf\"} 3\n"), "{t}");
        }
    }

    #[test]
    fn a_dropped_future_gives_the_slot_back_and_records_nothing() {
        let r = Registry::new();
        let m = HttpMetrics::new(&r).unwrap();
        let mut svc = m.layer().layer(Svc::Pending);
        let mut fut = Box::pin(svc.call(req("PROPFIND", "/x")));
        assert!(poll(fut.as_mut()).is_pending());
        assert!(text(&r)
            .contains("http_server_active_requests{method=\"_OTHER\",route=\"unmatched\"} 1\n"));
        drop(fut);
        let t = text(&r);
        assert!(
            t.contains("http_server_active_requests{method=\"_OTHER\",route=\"unmatched\"} 0\n"),
            "{t}"
        );
        assert!(
            !t.contains("_count{"),
            "a cancelled request is not a served one: {t}"
        );
    }

    #[test]
    fn a_service_error_is_a_500() {
        let r = Registry::new();
        let m = HttpMetrics::new(&r).unwrap();
        let mut svc = m.layer().layer(Svc::Fail);
        let mut fut = Box::pin(svc.call(req("GET", "/x")));
        assert!(matches!(poll(fut.as_mut()), Poll::Ready(Err("broken"))));
        let t = text(&r);
        assert!(t.contains("http_server_request_duration_seconds_count{method=\"GET\",route=\"unmatched\",status=\"500\"} 1\n"), "{t}");
        assert!(
            t.contains("http_server_active_requests{method=\"GET\",route=\"unmatched\"} 0\n"),
            "{t}"
        );
    }

    #[test]
    fn a_dropped_body_still_records_the_status() {
        let r = Registry::new();
        let m = HttpMetrics::new(&r).unwrap();
        let mut svc = m.layer().layer(Svc::Answer(204));
        let mut fut = Box::pin(svc.call(req("HEAD", "/x")));
        let Poll::Ready(Ok(resp)) = poll(fut.as_mut()) else {
            panic!("ready")
        };
        drop(resp);
        let t = text(&r);
        assert!(t.contains("http_server_request_duration_seconds_count{method=\"HEAD\",route=\"unmatched\",status=\"204\"} 1\n"), "{t}");
    }
}
