//! Module implementing the configuration of the request metrics. See [`HttpMetricsBuilder`]
//! and [`Naming`].

use std::sync::Arc;

use super::labels::{RequestInfo, TraceId};
use super::recorder::{HttpMetrics, Inner};
use crate::error::{BucketError, NameError, RegistrationError};
use crate::{Buckets, Gauge, Histogram, NativeConfig, Registry};

/// The request-duration buckets by default: OpenTelemetry's advisory boundaries for
/// `http.server.request.duration`, which are also Python `prometheus_client`'s defaults with
/// 0.075, 0.75 and 7.5 added.
pub const DEFAULT_DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The body-size buckets by default, in bytes: powers of 4 from 64 B to 16 MiB.
pub const DEFAULT_SIZE_BUCKETS: [f64; 10] = [
    64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
];

/// The route value of requests that matched no route (404s and the like), by default.
pub const UNMATCHED: &str = "unmatched";

/// How the metrics and their labels are named.
///
/// | metric | [`Naming::Prometheus`] labels | [`Naming::Semconv`] labels |
/// | --- | --- | --- |
/// | `http_server_request_duration_seconds` (histogram) | `method`, `route`, `status` | `http_request_method`, `http_route`, `http_response_status_code`, `url_scheme` |
/// | `http_server_active_requests` (gauge) | `method`, `route` | `http_request_method`, `http_route`, `url_scheme` |
/// | `http_server_request_body_size_bytes` (histogram, optional) | as the duration | as the duration |
/// | `http_server_response_body_size_bytes` (histogram, optional) | as the duration | as the duration |
/// | with [`HttpMetricsBuilder::grpc`], on the histograms | `grpc_status` | `rpc_grpc_status_code` |
///
/// The semantic-convention names are what OpenTelemetry's Prometheus exporter makes of
/// `http.server.request.duration`, `http.server.active_requests`,
/// `http.server.request.body.size` and `http.server.response.body.size`. One addition to the
/// conventions: `http_route` on the active-requests gauge (both frameworks know the route
/// before the handler runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Naming {
    /// Short label names, as Python's django-prometheus and most Prometheus middlewares use.
    #[default]
    Prometheus,
    /// OpenTelemetry HTTP semantic conventions (stable, v1.23+), with their label names.
    Semconv,
}

pub(crate) type LabelHook = dyn Fn(&RequestInfo<'_>) -> Option<&'static str> + Send + Sync;
pub(crate) type ExemplarHook = dyn Fn(&RequestInfo<'_>) -> Option<TraceId> + Send + Sync;

/// A user label whose values are fixed in advance.
pub(crate) struct CustomLabel {
    pub(crate) name: String,
    pub(crate) allowed: Box<[&'static str]>,
    pub(crate) hook: Box<LabelHook>,
}

impl CustomLabel {
    /// The hook's value if it is one of the allowed values, else `other`.
    pub(crate) fn value(&self, req: &RequestInfo<'_>) -> &'static str {
        match (self.hook)(req) {
            Some(v) => self
                .allowed
                .iter()
                .find(|a| **a == v)
                .copied()
                .unwrap_or(OTHER_VALUE),
            None => OTHER_VALUE,
        }
    }
}

/// The custom label's value when the hook gives none or a value outside its allowed set.
pub const OTHER_VALUE: &str = "other";

/// Configures [`HttpMetrics`]: which registry, names, labels and histograms. Every setter is
/// optional; [`HttpMetrics::new`] is `builder().registry(r).build()`.
///
/// ```
/// use tachymeter::integrations::{HttpMetrics, Naming};
/// use tachymeter::Registry;
///
/// let registry = Registry::new();
/// let metrics = HttpMetrics::builder()
///     .registry(&registry)
///     .prefix("shop")?
///     .const_label("region", "eu")?
///     .exclude_path("/metrics")
///     .exclude_path("/healthz")
///     .naming(Naming::Prometheus)
///     .body_sizes(true)
///     .custom_label("plan", ["free", "pro"], |req| match req.header("x-plan") {
///         Some("pro") => Some("pro"),
///         _ => Some("free"),
///     })?
///     .exemplar(|req| req.traceparent_trace_id())
///     .build()?;
/// assert!(registry
///     .descriptors()
///     .iter()
///     .any(|d| d.name() == "shop_http_server_request_duration_seconds"));
/// # let _ = metrics;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub struct HttpMetricsBuilder {
    registry: Option<Registry>,
    prefix: Option<String>,
    const_labels: Vec<(String, String)>,
    excluded: Vec<String>,
    naming: Naming,
    duration_buckets: Buckets,
    duration_native: Option<(NativeConfig, bool)>,
    size_buckets: Option<Buckets>,
    unmatched: String,
    custom: Option<CustomLabel>,
    exemplar: Option<Box<ExemplarHook>>,
    max_children: usize,
    grpc: bool,
}

/// The child limit of each middleware family unless
/// [`HttpMetricsBuilder::max_children`] says otherwise: OpenTelemetry's default series limit
/// per instrument. The labels are bounded by construction (route templates, known methods,
/// status codes, a custom label from a fixed set), so this is a backstop for when that fails
/// (a router reporting raw paths, say): excess label sets go to the
/// [`OVERFLOW_LABEL_VALUE`](crate::OVERFLOW_LABEL_VALUE) series instead of growing without end.
pub const DEFAULT_MAX_CHILDREN: usize = 2_000;

impl core::fmt::Debug for HttpMetricsBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HttpMetricsBuilder")
            .field("prefix", &self.prefix)
            .field("const_labels", &self.const_labels)
            .field("excluded", &self.excluded)
            .field("naming", &self.naming)
            .finish_non_exhaustive()
    }
}

impl Default for HttpMetricsBuilder {
    fn default() -> Self {
        HttpMetricsBuilder {
            registry: None,
            prefix: None,
            const_labels: Vec::new(),
            excluded: Vec::new(),
            naming: Naming::default(),
            duration_buckets: Buckets::new(DEFAULT_DURATION_BUCKETS)
                .unwrap_or_else(|_| unreachable!("the default bounds are valid")),
            duration_native: None,
            size_buckets: None,
            unmatched: UNMATCHED.to_owned(),
            custom: None,
            exemplar: None,
            max_children: DEFAULT_MAX_CHILDREN,
            grpc: false,
        }
    }
}

fn check_name(name: &str) -> Result<(), NameError> {
    // Descriptor::new validates metric names (the type does not matter for the check).
    crate::Descriptor::new(name, "x", crate::MetricType::Gauge, &[]).map(|_| ())
}

fn check_label(name: &str) -> Result<(), NameError> {
    crate::Descriptor::new("x", "x", crate::MetricType::Gauge, &[name]).map(|_| ())
}

impl HttpMetricsBuilder {
    /// The registry the metrics are registered with (default: [`crate::default_registry`]).
    pub fn registry(mut self, registry: &Registry) -> Self {
        self.registry = Some(registry.clone());
        self
    }

    /// Prefixes the metric names with `namespace_` (on top of any registry prefix).
    ///
    /// # Errors
    ///
    /// [`NameError::InvalidMetricName`] when `namespace` is not a valid metric name.
    pub fn prefix(mut self, namespace: &str) -> Result<Self, NameError> {
        check_name(namespace)?;
        self.prefix = Some(namespace.to_owned());
        Ok(self)
    }

    /// Adds label `name` with the fixed `value` to every series of these metrics.
    ///
    /// # Errors
    ///
    /// An invalid or reserved label name, or one given twice; a clash with the standard
    /// label names is reported by [`build`](Self::build).
    pub fn const_label(mut self, name: &str, value: &str) -> Result<Self, NameError> {
        check_label(name)?;
        if self.const_labels.iter().any(|(n, _)| n == name) {
            return Err(NameError::DuplicateLabelName(name.to_owned()));
        }
        self.const_labels.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Requests whose path is exactly `path` are not measured (e.g. the metrics endpoint
    /// itself, health checks).
    pub fn exclude_path(mut self, path: &str) -> Self {
        self.excluded.push(path.to_owned());
        self
    }

    /// Metric and label naming (default [`Naming::Prometheus`]).
    pub fn naming(mut self, naming: Naming) -> Self {
        self.naming = naming;
        self
    }

    /// The request-duration buckets in seconds (default [`DEFAULT_DURATION_BUCKETS`]).
    ///
    /// # Errors
    ///
    /// [`BucketError`] for bounds that are empty, not finite or not increasing.
    pub fn duration_buckets(
        mut self,
        bounds: impl IntoIterator<Item = f64>,
    ) -> Result<Self, BucketError> {
        self.duration_buckets = Buckets::new(bounds)?;
        Ok(self)
    }

    /// Gives the request-duration histogram native buckets with these settings, beside its
    /// classic buckets: text and OpenMetrics scrapes see the classic buckets as before, a
    /// scraper negotiating protobuf (Prometheus with native histograms enabled) gets both.
    /// For example `NativeConfig::new(1.1)?` (schema 3, about 9 % per bucket).
    ///
    /// ```
    /// use tachymeter::{integrations::HttpMetrics, NativeConfig, Registry};
    ///
    /// let registry = Registry::new();
    /// let metrics = HttpMetrics::builder()
    ///     .registry(&registry)
    ///     .duration_native(NativeConfig::new(1.1)?)
    ///     .build()?;
    /// # let _ = metrics;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn duration_native(mut self, config: NativeConfig) -> Self {
        self.duration_native = Some((config, true));
        self
    }

    /// As [`duration_native`](Self::duration_native), without classic buckets: text scrapes
    /// then see only `_sum`, `_count` and the `+Inf` bucket, so use it where every scraper
    /// speaks protobuf.
    pub fn duration_native_only(mut self, config: NativeConfig) -> Self {
        self.duration_native = Some((config, false));
        self
    }

    /// Whether to record request and response body sizes (off by default), with
    /// [`DEFAULT_SIZE_BUCKETS`]. The request size is its `Content-Length` (or the body's
    /// exact size hint): a request without one is not recorded. The response size is the
    /// bytes the body yielded.
    pub fn body_sizes(mut self, on: bool) -> Self {
        self.size_buckets = on.then(|| {
            Buckets::new(DEFAULT_SIZE_BUCKETS).unwrap_or_else(|_| unreachable!("valid bounds"))
        });
        self
    }

    /// Records body sizes (as [`body_sizes`](Self::body_sizes)) with these buckets in bytes.
    ///
    /// # Errors
    ///
    /// [`BucketError`] for bounds that are empty, not finite or not increasing.
    pub fn body_size_buckets(
        mut self,
        bounds: impl IntoIterator<Item = f64>,
    ) -> Result<Self, BucketError> {
        self.size_buckets = Some(Buckets::new(bounds)?);
        Ok(self)
    }

    /// The child limit of each family the middleware registers (default
    /// [`DEFAULT_MAX_CHILDREN`]; `usize::MAX` for none); see
    /// [`LabeledBuilder::max_children`](crate::LabeledBuilder::max_children).
    pub fn max_children(mut self, limit: usize) -> Self {
        self.max_children = limit;
        self
    }

    /// The route value of requests no route matched (default [`UNMATCHED`]).
    pub fn unmatched_route(mut self, value: &str) -> Self {
        self.unmatched = value.to_owned();
        self
    }

    /// Adds label `name`, whose value `hook` picks from the request among `allowed`; the
    /// hook's `None`, or a value outside `allowed`, becomes [`OTHER_VALUE`]. The series count
    /// is bounded by construction: at most `allowed.len() + 1` values.
    ///
    /// # Errors
    ///
    /// An invalid or reserved label name; a clash with another label is reported by
    /// [`build`](Self::build).
    pub fn custom_label<F>(
        mut self,
        name: &str,
        allowed: impl IntoIterator<Item = &'static str>,
        hook: F,
    ) -> Result<Self, NameError>
    where
        F: Fn(&RequestInfo<'_>) -> Option<&'static str> + Send + Sync + 'static,
    {
        check_label(name)?;
        self.custom = Some(CustomLabel {
            name: name.to_owned(),
            allowed: allowed.into_iter().collect(),
            hook: Box::new(hook),
        });
        Ok(self)
    }

    /// Attaches an exemplar `{trace_id="…"}` to the duration observation when `hook` gives a
    /// trace id (see [`RequestInfo::traceparent_trace_id`]). Exemplars are exposed in
    /// OpenMetrics only.
    pub fn exemplar<F>(mut self, hook: F) -> Self
    where
        F: Fn(&RequestInfo<'_>) -> Option<TraceId> + Send + Sync + 'static,
    {
        self.exemplar = Some(Box::new(hook));
        self
    }

    /// Adds the gRPC status code to the duration (and body-size) histograms: label
    /// `grpc_status` ([`Naming::Prometheus`]) or `rpc_grpc_status_code` ([`Naming::Semconv`]),
    /// after the HTTP status. The value is read from the `grpc-status` trailer, or from the
    /// headers of a trailers-only response: `"0"` … `"16"`, or
    /// [`GRPC_OTHER`](super::GRPC_OTHER) for anything else; a gRPC response without a status
    /// is `"1"` (CANCELLED) when the client went away, `"2"` (UNKNOWN) otherwise; a response
    /// that is not gRPC (`content-type` not `application/grpc…`) has the empty value. The
    /// in-flight gauge keeps its labels: the status is only known at the end.
    ///
    /// For the route of a gRPC call (`/package.Service/Method`, which the client chooses),
    /// see [`MetricsLayer::grpc_methods`](super::tower::MetricsLayer::grpc_methods).
    #[cfg(feature = "tower")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
    pub fn grpc(mut self, on: bool) -> Self {
        self.grpc = on;
        self
    }

    /// Registers the metrics.
    ///
    /// # Errors
    ///
    /// A label clash (a constant or custom label named like a standard one), or a metric name
    /// already registered in the registry (build one `HttpMetrics` per registry and clone it).
    pub fn build(self) -> Result<HttpMetrics, RegistrationError> {
        let registry = self
            .registry
            .unwrap_or_else(|| crate::default_registry().clone());
        let name = |base: &str| match &self.prefix {
            Some(p) => format!("{p}_{base}"),
            None => base.to_owned(),
        };
        let (method, route, status, grpc, scheme) = match self.naming {
            Naming::Prometheus => ("method", "route", "status", "grpc_status", None),
            Naming::Semconv => (
                "http_request_method",
                "http_route",
                "http_response_status_code",
                "rpc_grpc_status_code",
                Some("url_scheme"),
            ),
        };
        let mut extra: Vec<&str> = self.const_labels.iter().map(|(n, _)| n.as_str()).collect();
        if let Some(c) = &self.custom {
            extra.push(&c.name);
        }
        let mut finished = vec![method, route, status];
        finished.extend(self.grpc.then_some(grpc));
        finished.extend(scheme);
        finished.extend(&extra);
        let mut active = vec![method, route];
        active.extend(scheme);
        active.extend(&extra);

        let mut duration = Histogram::builder(
            &name("http_server_request_duration_seconds"),
            "Duration of HTTP server requests, until the response body was sent.",
        )
        .unit("seconds")?
        .labels(&finished)
        .max_children(self.max_children);
        // Classic buckets unless native-only; a histogram given neither is classic.
        if !matches!(self.duration_native, Some((_, false))) {
            duration = duration.with_buckets(self.duration_buckets.clone());
        }
        if let Some((config, _)) = self.duration_native {
            duration = duration.native_config(config);
        }
        let duration = duration.register(&registry)?;
        let active_family = Gauge::builder(
            &name("http_server_active_requests"),
            "Number of HTTP server requests in flight.",
        )
        .labels(&active)
        .max_children(self.max_children)
        .register(&registry)?;
        let (request_size, response_size) = match &self.size_buckets {
            Some(b) => (
                Some(
                    Histogram::builder(
                        &name("http_server_request_body_size_bytes"),
                        "Size of HTTP server request bodies (Content-Length).",
                    )
                    .unit("bytes")?
                    .labels(&finished)
                    .max_children(self.max_children)
                    .with_buckets(b.clone())
                    .register(&registry)?,
                ),
                Some(
                    Histogram::builder(
                        &name("http_server_response_body_size_bytes"),
                        "Size of HTTP server response bodies, as sent.",
                    )
                    .unit("bytes")?
                    .labels(&finished)
                    .max_children(self.max_children)
                    .with_buckets(b.clone())
                    .register(&registry)?,
                ),
            ),
            None => (None, None),
        };
        Ok(HttpMetrics {
            inner: Arc::new(Inner {
                registry,
                with_scheme: scheme.is_some(),
                with_grpc: self.grpc,
                duration,
                active: active_family,
                request_size,
                response_size,
                const_values: self
                    .const_labels
                    .into_iter()
                    .map(|(_, v)| v.into_boxed_str())
                    .collect(),
                excluded: self
                    .excluded
                    .into_iter()
                    .map(String::into_boxed_str)
                    .collect(),
                unmatched: self.unmatched.into_boxed_str(),
                custom: self.custom,
                exemplar: self.exemplar,
            }),
        })
    }
}
