//! Module implementing what every framework adapter shares: the registered families
//! ([`HttpMetrics`]) and the per-request guard that holds the in-flight slot and records the
//! request when it ends, however it ends.

use std::sync::Arc;
use std::time::Instant;

use super::grpc::Grpc;
use super::labels::{normalize_method, scheme, RequestInfo, TraceId};
use super::options::{CustomLabel, ExemplarHook, HttpMetricsBuilder};
use crate::{Family, Gauge, Histogram, Registry};

/// Request metrics for a web server: the registered families and the options, shared by
/// every clone. Build one per registry with [`HttpMetrics::builder`], then hand it to a
/// framework: [`HttpMetrics::layer`] (tower: axum, hyper, tonic; feature `tower`) or
/// [`HttpMetrics::middleware`] (actix-web; feature `actix-web`).
///
/// ```
/// use tachymeter::{integrations::HttpMetrics, Registry};
/// let registry = Registry::new();
/// let metrics = HttpMetrics::new(&registry)?;
/// assert!(registry.encode_to_string(Default::default())
///     .contains("# TYPE http_server_request_duration_seconds histogram"));
/// # let _ = metrics;
/// # Ok::<(), tachymeter::RegistrationError>(())
/// ```
#[derive(Clone)]
pub struct HttpMetrics {
    pub(crate) inner: Arc<Inner>,
}

impl core::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HttpMetrics")
            .field("duration", self.inner.duration.descriptor())
            .field("excluded", &self.inner.excluded)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) registry: Registry,
    pub(crate) with_scheme: bool,
    /// Whether the duration (and size) histograms have the gRPC status label.
    pub(crate) with_grpc: bool,
    pub(crate) duration: Family<Histogram>,
    pub(crate) active: Family<Gauge>,
    pub(crate) request_size: Option<Family<Histogram>>,
    pub(crate) response_size: Option<Family<Histogram>>,
    pub(crate) const_values: Box<[Box<str>]>,
    pub(crate) excluded: Box<[Box<str>]>,
    pub(crate) unmatched: Box<str>,
    pub(crate) custom: Option<CustomLabel>,
    pub(crate) exemplar: Option<Box<ExemplarHook>>,
}

impl HttpMetrics {
    /// A builder for request metrics with other names, labels or histograms.
    pub fn builder() -> HttpMetricsBuilder {
        HttpMetricsBuilder::default()
    }

    /// Request metrics with the default options, registered with `registry`.
    ///
    /// # Errors
    ///
    /// The metric names are already registered there (clone the first `HttpMetrics`).
    pub fn new(registry: &Registry) -> Result<HttpMetrics, crate::RegistrationError> {
        Self::builder().registry(registry).build()
    }

    /// Whether request body sizes are recorded (so adapters skip reading `Content-Length`).
    pub(crate) fn wants_request_size(&self) -> bool {
        self.inner.request_size.is_some()
    }

    /// The registry the metrics are registered with (what a metrics endpoint serves).
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The guard for a request starting now (holding its in-flight slot), or `None` for an
    /// excluded path.
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn begin(
        &self,
        req: &RequestInfo<'_>,
        route: Route,
        secure: bool,
    ) -> Option<InFlight> {
        let mut guard = self.prepare(req, secure)?;
        guard.route = route;
        guard.enter();
        Some(guard)
    }

    /// As [`begin`](Self::begin), but the slot is taken only by [`InFlight::enter`], once the
    /// caller has set the route (when `req` borrows the route's string).
    pub(crate) fn prepare(&self, req: &RequestInfo<'_>, secure: bool) -> Option<InFlight> {
        let inner = &self.inner;
        if inner.excluded.iter().any(|p| **p == *req.path) {
            return None;
        }
        Some(InFlight {
            start: Instant::now(),
            method: normalize_method(req.method),
            scheme: scheme(secure),
            custom: inner.custom.as_ref().map(|c| c.value(req)),
            trace: inner.exemplar.as_ref().and_then(|h| h(req)),
            request_size: None,
            status: None,
            grpc: if inner.with_grpc {
                Grpc::Plain
            } else {
                Grpc::Off
            },
            response_bytes: 0,
            entered: false,
            done: false,
            route: Route::Unmatched,
            metrics: self.inner.clone(),
        })
    }
}

/// The route label of one request, kept until it ends.
#[derive(Debug)]
pub(crate) enum Route {
    /// No route matched.
    Unmatched,
    /// A template from a fixed set (a user's route function).
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    Static(&'static str),
    /// A template the framework keeps in a shared string (axum's `MatchedPath`).
    #[cfg(feature = "axum")]
    Axum(axum::extract::MatchedPath),
    /// A template the framework hands out as a fresh string (actix-web's `match_pattern`).
    #[cfg(feature = "actix-web")]
    Owned(String),
}

/// Label values of one series: up to `INLINE` on the stack, more (many constant labels) in a
/// `Vec`.
const INLINE: usize = 12;

fn with_values<R>(
    fixed: &[&str],
    consts: &[Box<str>],
    custom: Option<&str>,
    f: impl FnOnce(&[&str]) -> R,
) -> R {
    let n = fixed.len() + consts.len() + usize::from(custom.is_some());
    let all = fixed
        .iter()
        .copied()
        .chain(consts.iter().map(|c| &**c))
        .chain(custom);
    if n <= INLINE {
        let mut buf = [""; INLINE];
        for (slot, v) in buf.iter_mut().zip(all) {
            *slot = v;
        }
        f(&buf[..n])
    } else {
        let v: Vec<&str> = all.collect();
        f(&v)
    }
}

/// One request in flight: it holds its slot of `http_server_active_requests` from
/// [`HttpMetrics::begin`] until [`finish`](InFlight::finish) or its drop, so a request that is
/// cancelled (the client went away) or panics always gives the slot back.
#[derive(Debug)]
pub(crate) struct InFlight {
    metrics: Arc<Inner>,
    route: Route,
    start: Instant,
    method: &'static str,
    scheme: &'static str,
    custom: Option<&'static str>,
    trace: Option<TraceId>,
    request_size: Option<u64>,
    status: Option<u16>,
    grpc: Grpc,
    response_bytes: u64,
    /// Whether the in-flight slot is held (from `enter` until `finish`).
    entered: bool,
    done: bool,
}

impl core::fmt::Debug for Inner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Inner").finish_non_exhaustive()
    }
}

impl InFlight {
    fn route(&self) -> &str {
        match &self.route {
            Route::Unmatched => &self.metrics.unmatched,
            Route::Static(s) => s,
            #[cfg(feature = "axum")]
            Route::Axum(p) => p.as_str(),
            #[cfg(feature = "actix-web")]
            Route::Owned(s) => s,
        }
    }

    fn with_active(&self, f: impl FnOnce(&Gauge)) {
        let m = &*self.metrics;
        let route = self.route();
        let fixed: &[&str] = if m.with_scheme {
            &[self.method, route, self.scheme]
        } else {
            &[self.method, route]
        };
        with_values(fixed, &m.const_values, self.custom, |v| {
            let r = m.active.with(v, f);
            debug_assert!(r.is_ok(), "label count built to match: {r:?}");
        });
    }

    /// Sets the route label; call before [`enter`](Self::enter).
    #[cfg_attr(not(feature = "actix-web"), allow(dead_code))]
    pub(crate) fn set_route(&mut self, route: Route) {
        debug_assert!(!self.entered, "the in-flight slot is keyed by the route");
        self.route = route;
    }

    /// Takes the in-flight slot.
    pub(crate) fn enter(&mut self) {
        if !self.entered {
            self.entered = true;
            self.with_active(|g| g.inc());
        }
    }

    /// Records the request's body size (`Content-Length`).
    pub(crate) fn set_request_size(&mut self, bytes: Option<u64>) {
        self.request_size = bytes;
    }

    /// Records the response status once the head is known.
    pub(crate) fn set_status(&mut self, status: u16) {
        self.status = Some(status);
    }

    /// The gRPC status so far (see [`Grpc`]).
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn grpc(&self) -> Grpc {
        self.grpc
    }

    /// Updates the gRPC status (from the response head or trailers).
    #[cfg_attr(not(feature = "tower"), allow(dead_code))]
    pub(crate) fn set_grpc(&mut self, grpc: Grpc) {
        self.grpc = grpc;
    }

    /// Counts response body bytes as they are yielded.
    pub(crate) fn add_body_bytes(&mut self, n: usize) {
        self.response_bytes += n as u64;
    }

    /// Ends the request now: gives back the in-flight slot and, when a status is known,
    /// observes the duration (and sizes). Later calls and the drop do nothing.
    pub(crate) fn finish(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let elapsed = self.start.elapsed().as_secs_f64();
        if self.entered {
            self.with_active(|g| g.dec());
        }
        // A request cancelled before it had a response (the client went away) has no status:
        // it is not a request served, so only its in-flight slot is given back.
        let Some(status) = self.status else { return };
        let m = &*self.metrics;
        let route = self.route();
        let mut code = itoa::Buffer::new();
        let code = code.format(status);
        // method, route, status, then the optional gRPC status and scheme, in the order
        // `HttpMetricsBuilder::build` registered them.
        let mut fixed = [self.method, route, code, "", ""];
        let mut n = 3;
        // A body dropped before it ended (the client went away) still awaiting its status.
        if let Some(g) = self.grpc.at_end(true).label() {
            fixed[n] = g;
            n += 1;
        }
        if m.with_scheme {
            fixed[n] = self.scheme;
            n += 1;
        }
        with_values(&fixed[..n], &m.const_values, self.custom, |v| {
            let r = m.duration.with(v, |h| match &self.trace {
                Some(t) => h.observe_with_exemplar(elapsed, &[("trace_id", t.as_str())]),
                None => h.observe(elapsed),
            });
            debug_assert!(r.is_ok(), "label count built to match: {r:?}");
            if let (Some(f), Some(n)) = (&m.request_size, self.request_size) {
                let r = f.with(v, |h| h.observe(n as f64));
                debug_assert!(r.is_ok(), "same labels as the duration: {r:?}");
            }
            if let Some(f) = &m.response_size {
                let r = f.with(v, |h| h.observe(self.response_bytes as f64));
                debug_assert!(r.is_ok(), "same labels as the duration: {r:?}");
            }
        });
    }

    /// Ends the request as a panic: status 500, recorded now.
    pub(crate) fn finish_panicked(&mut self) {
        if self.status.is_none() {
            self.status = Some(500);
        }
        self.finish();
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // Dropped while unwinding from the handler: the request failed, count it as a 500.
        if self.status.is_none() && std::thread::panicking() {
            self.status = Some(500);
        }
        self.finish();
    }
}

/// Polls a request's inner future; if it panics, `guard` records the request as a 500 and
/// the panic resumes (the caller's framework then handles it as it would without metrics).
/// Shared by the tower and actix-web wrappers.
pub(crate) fn poll_recording_panics<F: core::future::Future>(
    inner: core::pin::Pin<&mut F>,
    guard: &mut Option<InFlight>,
    cx: &mut core::task::Context<'_>,
) -> core::task::Poll<F::Output> {
    // AssertUnwindSafe: after a panic the inner future is never polled again (the panic
    // resumes at once); the guard is only finished, not read as if the request went on.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
        Ok(p) => p,
        Err(panic) => {
            if let Some(mut g) = guard.take() {
                g.finish_panicked();
            }
            std::panic::resume_unwind(panic)
        }
    }
}
