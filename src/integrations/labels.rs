//! Module implementing the label values the request metrics derive from a request: the
//! normalised method, the numeric status, the scheme, and the [`RequestInfo`] view that
//! user hooks read. See [`normalize_method`] and [`TraceId`].

/// The methods that keep their own label value: RFC 9110 §9 plus `PATCH` (RFC 5789), the
/// set OpenTelemetry's HTTP semantic conventions name. Anything else is [`OTHER_METHOD`].
pub const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// The label value of every method outside [`KNOWN_METHODS`] (OpenTelemetry's `_OTHER`), so
/// a client inventing methods cannot create series.
pub const OTHER_METHOD: &str = "_OTHER";

/// The method's label value: itself when it is one of [`KNOWN_METHODS`] (compared exactly:
/// methods are case-sensitive, RFC 9110 §9.1), else [`OTHER_METHOD`].
///
/// ```
/// use tachymeter::integrations::normalize_method;
/// assert_eq!(normalize_method("GET"), "GET");
/// assert_eq!(normalize_method("PATCH"), "PATCH");
/// assert_eq!(normalize_method("get"), "_OTHER");
/// assert_eq!(normalize_method("PROPFIND"), "_OTHER");
/// ```
pub fn normalize_method(method: &str) -> &'static str {
    KNOWN_METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or(OTHER_METHOD)
}

/// `url_scheme` (semantic-convention mode): `https` or `http`, nothing else.
pub(crate) fn scheme(secure: bool) -> &'static str {
    if secure {
        "https"
    } else {
        "http"
    }
}

/// The request headers, in whichever `http` crate version the framework uses.
#[derive(Clone, Copy)]
pub(crate) enum Headers<'a> {
    /// `http` 1.x (tower, hyper, axum, tonic).
    #[cfg(feature = "tower")]
    Http(&'a http::HeaderMap),
    /// actix-web's own header map.
    #[cfg(feature = "actix-web")]
    Actix(&'a actix_web::http::header::HeaderMap),
    /// No headers (unit tests).
    #[allow(dead_code)]
    None(core::marker::PhantomData<&'a ()>),
}

/// What a hook may read from a request before it is handled: method, path, matched route and
/// headers. Given to the hooks of
/// [`HttpMetricsBuilder::custom_label`](super::HttpMetricsBuilder::custom_label) and
/// [`HttpMetricsBuilder::exemplar`](super::HttpMetricsBuilder::exemplar).
#[derive(Clone, Copy)]
pub struct RequestInfo<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) route: Option<&'a str>,
    pub(crate) headers: Headers<'a>,
}

impl core::fmt::Debug for RequestInfo<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RequestInfo")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

impl<'a> RequestInfo<'a> {
    /// The request method as sent (not normalised).
    pub fn method(&self) -> &'a str {
        self.method
    }

    /// The raw request path (never use it as a label value: it is unbounded).
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The matched route template (`/users/{id}`), or `None` when no route matched.
    pub fn route(&self) -> Option<&'a str> {
        self.route
    }

    /// The first value of header `name` (case-insensitive), if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        match self.headers {
            #[cfg(feature = "tower")]
            Headers::Http(h) => h.get(name).and_then(|v| v.to_str().ok()),
            #[cfg(feature = "actix-web")]
            Headers::Actix(h) => h.get(name).and_then(|v| v.to_str().ok()),
            Headers::None(_) => None,
        }
    }

    /// The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), the usual
    /// source of exemplars: `builder.exemplar(|req| req.traceparent_trace_id())`.
    pub fn traceparent_trace_id(&self) -> Option<TraceId> {
        let v = self.header("traceparent")?;
        let mut parts = v.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        let ok = hex(version, 2)
            && version != "ff"
            && hex(trace, 32)
            && trace.bytes().any(|b| b != b'0')
            && hex(span, 16)
            && hex(flags, 2);
        if ok {
            TraceId::new(trace)
        } else {
            None
        }
    }
}

/// A trace id carried to an exemplar, stored inline (at most [`TraceId::MAX_LEN`] bytes) so
/// recording it allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceId {
    len: u8,
    bytes: [u8; TraceId::MAX_LEN],
}

impl TraceId {
    /// The longest id kept: 64 bytes (a W3C trace id is 32 hex digits). Exemplar labels are
    /// limited to 128 code points in all, name included.
    pub const MAX_LEN: usize = 64;

    /// The id `s`, or `None` when it is empty or longer than [`TraceId::MAX_LEN`] bytes.
    ///
    /// ```
    /// use tachymeter::integrations::TraceId;
    /// assert_eq!(TraceId::new("4bf92f3577b34da6a3ce929d0e0e4736").unwrap().as_str(),
    ///            "4bf92f3577b34da6a3ce929d0e0e4736");
    /// assert!(TraceId::new("").is_none());
    /// ```
    pub fn new(s: &str) -> Option<TraceId> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return None;
        }
        let mut bytes = [0; Self::MAX_LEN];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Some(TraceId {
            len: s.len() as u8,
            bytes,
        })
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        // Always valid: the bytes were copied from a `&str` whole.
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl core::fmt::Debug for TraceId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("TraceId").field(&self.as_str()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_known_set_are_other() {
        for m in KNOWN_METHODS {
            assert_eq!(normalize_method(m), m);
        }
        for m in ["get", "Get", "PROPFIND", "", "GET ", "QUERY"] {
            assert_eq!(normalize_method(m), OTHER_METHOD, "{m:?}");
        }
    }

    #[test]
    fn trace_ids_are_bounded() {
        assert!(TraceId::new(&"a".repeat(64)).is_some());
        assert!(TraceId::new(&"a".repeat(65)).is_none());
        assert_eq!(TraceId::new("é").unwrap().as_str(), "é");
    }
}
