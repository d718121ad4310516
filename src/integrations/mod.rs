//! Module implementing web-framework integration: request metrics recorded by a middleware,
//! and a metrics endpoint inside the app, the way django-prometheus serves Django.
//!
//! | feature | gives |
//! | --- | --- |
//! | `tower` | [`HttpMetrics::layer`]: a `tower` layer for hyper, tonic and axum ([`tower`]) |
//! | `axum` | the layer reads axum's `MatchedPath`; [`axum::metrics_route`] serves `/metrics` |
//! | `actix-web` | [`HttpMetrics::middleware`] ([`actix::RequestMetrics`]); [`actix::metrics_resource`] serves `/metrics` |
//!
//! What is recorded (names as in [`Naming::Prometheus`]; [`Naming`] shows the
//! OpenTelemetry semantic-convention names side by side):
//!
//! * `http_server_request_duration_seconds{method,route,status}`, a histogram with
//!   [`DEFAULT_DURATION_BUCKETS`] (OpenTelemetry's advisory boundaries), measured from the
//!   request's arrival at the middleware until the response body has been fully yielded
//!   (streaming bodies included), or until the client went away mid-body;
//! * `http_server_active_requests{method,route}`, held by a drop guard: a request that is
//!   cancelled or whose handler panics gives its slot back;
//! * optionally `http_server_request_body_size_bytes` and
//!   `http_server_response_body_size_bytes` ([`HttpMetricsBuilder::body_sizes`]);
//! * for gRPC (tonic), optionally the gRPC status code as a label of the histograms
//!   (`HttpMetricsBuilder::grpc`, feature `tower`), with routes from the methods listed to
//!   `MetricsLayer::grpc_methods`.
//!
//! Cardinality is bounded by construction: `route` is the framework's matched template
//! (axum `MatchedPath`, nested routers in full; actix-web `match_pattern`), never the raw
//! path, and requests no route matched share one value ([`UNMATCHED`]); methods outside
//! [`KNOWN_METHODS`] become [`OTHER_METHOD`]; `status` is the numeric code; a custom label
//! takes its values from a fixed set. A handler that panics is recorded with status 500 and
//! the panic continues. A request cancelled before it had a response is not a served request:
//! it only gives its in-flight slot back.
//!
//! The endpoints answer as `start_http_server` does (they share [`crate::http::Renderer`]:
//! one per worker thread, so a warm scrape allocates only the body the framework sends).
//!
//! ```
//! # #[cfg(feature = "axum")] {
//! use axum::{routing::get, Router};
//! use tachymeter::integrations::{axum::metrics_route, HttpMetrics};
//! use tachymeter::Registry;
//!
//! let registry = Registry::new();
//! let metrics = HttpMetrics::builder()
//!     .registry(&registry)
//!     .exclude_path("/metrics")
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "hello" }))
//!     .route("/metrics", metrics_route(&registry))
//!     .layer(metrics.layer()); // after the routes, so it sees MatchedPath and 404s
//! # let _ = app;
//! # }
//! # Ok::<(), tachymeter::RegistrationError>(())
//! ```

#[cfg(feature = "actix-web")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix-web")))]
pub mod actix;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
#[cfg(any(feature = "axum", feature = "actix-web"))]
mod endpoint;
mod grpc;
mod labels;
mod options;
mod recorder;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

#[cfg(feature = "tower")]
pub use grpc::GRPC_OTHER;
pub use labels::{normalize_method, RequestInfo, TraceId, KNOWN_METHODS, OTHER_METHOD};
pub use options::{
    HttpMetricsBuilder, Naming, DEFAULT_DURATION_BUCKETS, DEFAULT_MAX_CHILDREN,
    DEFAULT_SIZE_BUCKETS, OTHER_VALUE, UNMATCHED,
};
pub use recorder::HttpMetrics;
