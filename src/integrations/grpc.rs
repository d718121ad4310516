//! Module implementing the gRPC status label of the request metrics
//! ([`HttpMetricsBuilder::grpc`](super::HttpMetricsBuilder::grpc)): which gRPC status code a
//! response carried, read from the `grpc-status` trailer, or from the headers of a
//! trailers-only response (how tonic answers an error it knows before the first message).
//!
//! gRPC answers HTTP 200 for almost every call, so `status` alone says nothing about errors.
//! The label's values are bounded by construction: the codes `"0"` … `"16"` as numbers (what
//! OpenTelemetry's `rpc.grpc.status_code` records), and [`GRPC_OTHER`] for anything else a
//! peer could send. A gRPC response (`content-type: application/grpc…`) that never carried a
//! status is recorded as CANCELLED (`"1"`) when its body was dropped before its end (the
//! client went away, as a gRPC server reports it) and as UNKNOWN (`"2"`) when the body ended or
//! failed without one. A response that is not gRPC (a plain HTTP route served beside the gRPC
//! services, or an error answered before any response) gets the empty value, which Prometheus
//! treats as the label being absent.

#[cfg(feature = "tower")]
use http::{HeaderMap, HeaderValue};

/// The gRPC status label value of anything outside the codes 0 … 16 (a peer's invented code,
/// a header that is not a number).
#[cfg(feature = "tower")]
pub const GRPC_OTHER: &str = "_OTHER";

/// The label values of the codes 0 (OK) … 16 (UNAUTHENTICATED), by code.
const CODES: [&str; 17] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
];

/// CANCELLED: a gRPC body dropped before it carried a status.
const CANCELLED: &str = CODES[1];
/// UNKNOWN: a gRPC body that ended without a status.
const UNKNOWN: &str = CODES[2];
/// UNIMPLEMENTED: the code of a method the server does not have.
#[cfg(all(test, feature = "tower"))]
const UNIMPLEMENTED: &str = CODES[12];

#[cfg(feature = "tower")]
const GRPC_STATUS: &str = "grpc-status";

/// What a request knows of its gRPC status so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "tower"), allow(dead_code))]
pub(crate) enum Grpc {
    /// The metrics have no gRPC label.
    Off,
    /// Not a gRPC response (or no response yet): the empty value.
    Plain,
    /// A gRPC response whose status has not been seen yet (it comes in the trailers).
    Awaiting,
    /// The status code's label value.
    Code(&'static str),
}

impl Grpc {
    #[cfg(feature = "tower")]
    /// The state once the response head is known: a trailers-only response carries its code
    /// in `headers`; any other gRPC response awaits its trailers.
    pub(crate) fn after_head(self, headers: &HeaderMap) -> Grpc {
        if self == Grpc::Off {
            return Grpc::Off;
        }
        let grpc = headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| is_grpc_content_type(v.as_bytes()));
        if !grpc {
            return Grpc::Plain;
        }
        match headers.get(GRPC_STATUS) {
            Some(v) => Grpc::Code(code_label(v)),
            None => Grpc::Awaiting,
        }
    }

    #[cfg(feature = "tower")]
    /// The state after a trailers frame.
    pub(crate) fn after_trailers(self, trailers: &HeaderMap) -> Grpc {
        match (self, trailers.get(GRPC_STATUS)) {
            (Grpc::Awaiting, Some(v)) => Grpc::Code(code_label(v)),
            (s, _) => s,
        }
    }

    #[cfg(feature = "tower")]
    /// Whether a trailers frame could still change the state (so the body reads them).
    pub(crate) fn awaiting(self) -> bool {
        self == Grpc::Awaiting
    }

    /// The state when the body ended (`dropped`: before its end) still awaiting a status.
    pub(crate) fn at_end(self, dropped: bool) -> Grpc {
        match self {
            Grpc::Awaiting if dropped => Grpc::Code(CANCELLED),
            Grpc::Awaiting => Grpc::Code(UNKNOWN),
            s => s,
        }
    }

    /// The label value (`None` when the metrics have no gRPC label).
    pub(crate) fn label(self) -> Option<&'static str> {
        match self {
            Grpc::Off => None,
            Grpc::Plain => Some(""),
            Grpc::Awaiting => Some(UNKNOWN),
            Grpc::Code(c) => Some(c),
        }
    }
}

#[cfg(feature = "tower")]
/// `application/grpc`, alone or followed by `+proto`, `+json`, `;…` (the gRPC HTTP/2
/// protocol's content types), ASCII case-insensitively.
fn is_grpc_content_type(v: &[u8]) -> bool {
    const PREFIX: &[u8] = b"application/grpc";
    v.len() >= PREFIX.len()
        && v[..PREFIX.len()].eq_ignore_ascii_case(PREFIX)
        && matches!(v.get(PREFIX.len()), None | Some(b'+' | b';'))
}

#[cfg(feature = "tower")]
/// The label value of a `grpc-status` value: `"0"` … `"16"` written canonically (one or two
/// digits, no leading zero), else [`GRPC_OTHER`].
fn code_label(v: &HeaderValue) -> &'static str {
    let b = v.as_bytes();
    let code = match *b {
        [d @ b'0'..=b'9'] => usize::from(d - b'0'),
        [b'1', d @ b'0'..=b'6'] => 10 + usize::from(d - b'0'),
        _ => return GRPC_OTHER,
    };
    CODES[code]
}

#[cfg(feature = "tower")]
impl super::tower::MetricsLayer {
    /// Names the route of gRPC calls: a request whose path is one of `methods`
    /// (`"/grpc.health.v1.Health/Check"`: `/package.Service/Method`, as tonic routes it) has
    /// that route; any other path is `unmatched` (the
    /// [`unmatched_route`](super::HttpMetricsBuilder::unmatched_route) value). Replaces a
    /// [`route_fn`](super::tower::MetricsLayer::route_fn); use that instead for anything more
    /// elaborate.
    ///
    /// The path of a gRPC request is chosen by the client, so it cannot be a label as it is:
    /// the route is decided from a list fixed in advance, when the request arrives, so the
    /// in-flight gauge (whose series is taken before the service answers) and the duration
    /// histogram always agree. Keeping every path except those answered UNIMPLEMENTED would
    /// need the answer first, so the gauge would still take a series per raw path.
    ///
    /// ```
    /// use tachymeter::{integrations::HttpMetrics, Registry};
    ///
    /// let registry = Registry::new();
    /// let metrics = HttpMetrics::builder().registry(&registry).grpc(true).build()?;
    /// let layer = metrics.layer().grpc_methods([
    ///     "/grpc.health.v1.Health/Check",
    ///     "/grpc.health.v1.Health/Watch",
    /// ]);
    /// // tonic::transport::Server::builder().layer(layer).add_service(..)
    /// # let _ = layer;
    /// # Ok::<(), tachymeter::RegistrationError>(())
    /// ```
    pub fn grpc_methods(self, methods: impl IntoIterator<Item = &'static str>) -> Self {
        let methods: Box<[&'static str]> = methods.into_iter().collect();
        self.route_fn(move |req| methods.iter().copied().find(|m| *m == req.path()))
    }
}

#[cfg(all(test, feature = "tower"))]
mod tests {
    use super::*;

    fn head(ct: &'static str, status: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
        if let Some(s) = status {
            h.insert(GRPC_STATUS, HeaderValue::from_static(s));
        }
        h
    }

    #[test]
    fn codes_are_bounded_to_0_through_16() {
        for (i, want) in CODES.iter().enumerate() {
            let v = HeaderValue::from_str(&i.to_string()).unwrap();
            assert_eq!(code_label(&v), *want);
        }
        for bad in [
            "17", "99", "-1", "007", "01", "", " 0", "0 ", "OK", "1a", "100",
        ] {
            let v = HeaderValue::from_str(bad).unwrap();
            assert_eq!(code_label(&v), GRPC_OTHER, "{bad:?}");
        }
    }

    #[test]
    fn content_types() {
        for ct in [
            "application/grpc",
            "application/grpc+proto",
            "Application/GRPC+json",
            "application/grpc;charset=utf-8",
        ] {
            assert!(is_grpc_content_type(ct.as_bytes()), "{ct}");
        }
        for ct in [
            "application/grpc-web",
            "application/json",
            "text/plain",
            "application/grp",
        ] {
            assert!(!is_grpc_content_type(ct.as_bytes()), "{ct}");
        }
    }

    #[test]
    fn trailers_only_trailers_and_missing_status() {
        let start = Grpc::Plain;
        // Trailers-only (tonic's UNIMPLEMENTED for an unknown method): the code is in the head.
        let s = start.after_head(&head("application/grpc", Some("12")));
        assert_eq!(s.label(), Some(UNIMPLEMENTED));
        assert!(!s.awaiting());
        // A later trailer cannot change a code already seen.
        assert_eq!(
            s.after_trailers(&head("application/grpc", Some("0"))),
            Grpc::Code(UNIMPLEMENTED)
        );
        // A normal response: the code comes in the trailers.
        let s = start.after_head(&head("application/grpc", None));
        assert!(s.awaiting());
        assert_eq!(s.after_trailers(&head("x/y", Some("5"))).label(), Some("5"));
        // No status at all: cancelled when dropped early, unknown when it just ended.
        assert_eq!(s.at_end(true).label(), Some(CANCELLED));
        assert_eq!(s.at_end(false).label(), Some(UNKNOWN));
        // Not gRPC, and gRPC labels off.
        assert_eq!(
            start.after_head(&head("text/plain", Some("0"))).label(),
            Some("")
        );
        assert_eq!(
            Grpc::Off
                .after_head(&head("application/grpc", Some("0")))
                .label(),
            None
        );
    }

    /// The layer around a service answering `ct` with one data frame and `trailers`,
    /// the body drained to its end or (`drop_early`) dropped after the first frame.
    fn serve_one(ct: &'static str, trailers: Option<&'static str>, drop_early: bool) -> String {
        use core::pin::Pin;
        use core::task::{Context, Poll, Waker};
        use http_body::{Body, Frame};
        use tower_layer::Layer as _;
        use tower_service::Service as _;

        struct B(u8, Option<HeaderMap>);
        impl Body for B {
            type Data = bytes::Bytes;
            type Error = core::convert::Infallible;
            fn poll_frame(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<bytes::Bytes>, Self::Error>>> {
                self.0 += 1;
                Poll::Ready(match self.0 {
                    1 => Some(Ok(Frame::data(bytes::Bytes::from_static(b"x")))),
                    _ => self.1.take().map(|t| Ok(Frame::trailers(t))),
                })
            }
        }
        let svc = tower_service_fn(move || {
            let t = trailers.map(|c| {
                let mut t = HeaderMap::new();
                t.insert(GRPC_STATUS, HeaderValue::from_static(c));
                t
            });
            let mut r = http::Response::new(B(0, t));
            r.headers_mut()
                .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
            r
        });
        let reg = crate::Registry::builder().created_samples(false).build();
        let m = super::super::HttpMetrics::builder()
            .registry(&reg)
            .grpc(true)
            .build()
            .unwrap();
        let mut svc = m.layer().layer(svc);
        let mut cx = Context::from_waker(Waker::noop());
        let mut fut = core::pin::pin!(svc.call(http::Request::new(String::new())));
        let Poll::Ready(Ok(resp)) = core::future::Future::poll(fut.as_mut(), &mut cx) else {
            panic!("ready")
        };
        let mut body = Box::pin(resp.into_body());
        let mut frames = 0;
        while let Poll::Ready(Some(_)) = body.as_mut().poll_frame(&mut cx) {
            frames += 1;
            assert!(frames <= 2);
            if drop_early {
                break;
            }
        }
        drop(body);
        reg.encode_to_string(Default::default())
    }

    /// A service answering `f()` to every request.
    fn tower_service_fn<R>(
        f: impl Fn() -> R + Clone,
    ) -> impl tower_service::Service<
        http::Request<String>,
        Response = R,
        Error = core::convert::Infallible,
        Future = core::future::Ready<Result<R, core::convert::Infallible>>,
    > + Clone {
        #[derive(Clone)]
        struct S<F>(F);
        impl<F: Fn() -> R, R> tower_service::Service<http::Request<String>> for S<F> {
            type Response = R;
            type Error = core::convert::Infallible;
            type Future = core::future::Ready<Result<R, core::convert::Infallible>>;
            fn poll_ready(
                &mut self,
                _: &mut core::task::Context<'_>,
            ) -> core::task::Poll<Result<(), Self::Error>> {
                core::task::Poll::Ready(Ok(()))
            }
            fn call(&mut self, _: http::Request<String>) -> Self::Future {
                core::future::ready(Ok((self.0)()))
            }
        }
        S(f)
    }

    #[test]
    fn the_layer_labels_each_way_a_response_ends() {
        let count = |g: &str| {
            format!("http_server_request_duration_seconds_count{{method=\"GET\",route=\"unmatched\",status=\"200\",grpc_status=\"{g}\"}} 1\n")
        };
        for (ct, trailers, drop_early, want) in [
            ("application/grpc", Some("4"), false, "4"),
            ("application/grpc", Some("42"), false, GRPC_OTHER),
            ("application/grpc", None, false, UNKNOWN),
            ("application/grpc", Some("0"), true, CANCELLED),
            ("text/plain", Some("0"), false, ""),
        ] {
            let t = serve_one(ct, trailers, drop_early);
            assert!(
                t.contains(&count(want)),
                "{ct} {trailers:?} {drop_early}: {t}"
            );
            assert!(
                t.contains("_active_requests{method=\"GET\",route=\"unmatched\"} 0\n"),
                "{t}"
            );
        }
    }
}
