//! Module implementing the Pushgateway client on `ureq`. See [`Pusher`].

mod background;
mod path;

use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use ureq::http;

pub use background::BackgroundPusher;
pub use path::{decode_push_path, encode_push_path};

use super::error::{AddressProblem, PushError};
use crate::{Format, Registry};

/// The most of a gateway's error answer kept in [`PushError::Status`].
pub(crate) const MAX_ERROR_BODY: u64 = 64 * 1024;

/// The HTTP method of a push request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PushMethod {
    /// `PUT`: replace every metric of the group ([`Pusher::push`]).
    Put,
    /// `POST`: replace only the metrics with the same names ([`Pusher::push_add`]).
    Post,
    /// `DELETE`: remove the group ([`Pusher::delete`]).
    Delete,
}

impl PushMethod {
    /// The method's name as sent on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            PushMethod::Put => "PUT",
            PushMethod::Post => "POST",
            PushMethod::Delete => "DELETE",
        }
    }
}

/// A push request about to be sent, as a [`Pusher::request_hook`] sees it; the hook may
/// change any field (what the Python client's `handler` argument does).
///
/// A `RemoteWriter`'s request hook (feature `remote-write`) gets the same type: method
/// `POST`, the receiver's URL, the remote-write headers, and the snappy-compressed protobuf
/// body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    /// The method.
    pub method: PushMethod,
    /// The absolute URL, e.g. `http://gw:9091/metrics/job/batch/instance/a`.
    pub url: String,
    /// Headers in order: `Content-Type` (not for `DELETE`), then those of
    /// [`Pusher::header`], [`Pusher::basic_auth`] and [`Pusher::bearer_token`].
    pub headers: Vec<(String, String)>,
    /// The body: the registry in text format 0.0.4, or in the protobuf format after
    /// [`Pusher::protobuf`] (empty for `DELETE`).
    pub body: Vec<u8>,
}

impl PushRequest {
    /// Sets a header, replacing any with the same (case-insensitive) name.
    pub fn set_header(&mut self, name: &str, value: &str) {
        replace_header(&mut self.headers, name, value);
    }

    /// The value of a header (case-insensitive name), if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sets a header in `headers`, dropping any with the same (case-insensitive) name.
pub(crate) fn replace_header(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    headers.push((name.to_owned(), value.to_owned()));
}

pub(crate) type Hook = Arc<dyn Fn(&mut PushRequest) + Send + Sync>;

/// A Pushgateway client for one job and grouping key: [`push`](Self::push) (PUT),
/// [`push_add`](Self::push_add) (POST) and [`delete`](Self::delete) (DELETE), or
/// [`spawn_background`](Self::spawn_background) to push periodically.
///
/// Bodies are sent in text format 0.0.4 (the gateway misreads OpenMetrics), or, with
/// [`protobuf`](Self::protobuf) (feature `protobuf`), as delimited protobuf `MetricFamily`
/// messages: the only way a gateway keeps native histograms. Requests follow no redirects
/// and use the `HTTP(S)_PROXY` environment variables if set.
///
/// ```no_run
/// use std::time::Duration;
/// use tachymeter::{http::Pusher, Counter, Registry};
///
/// let registry = Registry::new();
/// Counter::builder("batch_runs_total", "Batch runs.").register(&registry)?.inc();
///
/// let pusher = Pusher::new("pushgateway.example:9091", "nightly_batch")?
///     .grouping_key("instance", "10.0.0.1")?
///     .header("X-BK-TOKEN", "s3cr3t")?
///     .timeout(Duration::from_secs(5));
/// pusher.push(&registry)?; // PUT /metrics/job/nightly_batch/instance/10.0.0.1
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Pusher {
    /// `scheme://authority[/prefix]`, no trailing `/`.
    base: String,
    job: String,
    grouping_key: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    hook: Option<Hook>,
    agent: ureq::Agent,
    /// The body format: text, or protobuf.
    format: Format,
}

impl core::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Header values are left out: they are usually credentials.
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Pusher")
            .field("url", &self.url())
            .field("headers", &header_names)
            .field("timeout", &self.timeout)
            .field("hook", &self.hook.is_some())
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

fn invalid(address: &str, problem: AddressProblem) -> PushError {
    PushError::InvalidAddress {
        address: address.to_owned(),
        problem,
    }
}

/// Validates a gateway address and returns `scheme://authority[/prefix]`.
pub(crate) fn parse_gateway(address: &str) -> Result<String, PushError> {
    let a = address;
    if a.bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'?' || b == b'#')
    {
        return Err(invalid(address, AddressProblem::BadCharacter));
    }
    let (scheme, rest) = match a.split_once("://") {
        Some((s, r)) if s.eq_ignore_ascii_case("http") => ("http", r),
        Some((s, r)) if s.eq_ignore_ascii_case("https") => ("https", r),
        Some(_) => return Err(invalid(address, AddressProblem::UnsupportedScheme)),
        None => ("http", a),
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Err(invalid(address, AddressProblem::Empty));
    }
    let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host_end = if authority.starts_with('[') {
        authority.find(']').map_or(authority.len(), |i| i + 1)
    } else {
        authority.rfind(':').unwrap_or(authority.len())
    };
    let (host, port) = authority.split_at(host_end);
    if host.is_empty() || host.contains('@') {
        return Err(invalid(address, AddressProblem::BadHost));
    }
    if let Some(port) = port.strip_prefix(':') {
        if !matches!(port.parse::<u16>(), Ok(p) if p > 0) {
            return Err(invalid(address, AddressProblem::BadPort));
        }
    } else if !port.is_empty() {
        return Err(invalid(address, AddressProblem::BadHost));
    }
    let base = format!("{scheme}://{authority}{prefix}");
    match http::Uri::try_from(format!("{base}/metrics")) {
        Ok(u) if u.host().is_some() => Ok(base),
        _ => Err(invalid(address, AddressProblem::BadHost)),
    }
}

pub(crate) fn check_header(name: &str, value: &str) -> Result<(), PushError> {
    if http::HeaderName::from_bytes(name.as_bytes()).is_ok()
        && http::HeaderValue::from_str(value).is_ok()
    {
        Ok(())
    } else {
        Err(PushError::InvalidHeader {
            name: name.to_owned(),
        })
    }
}

/// `https://` without the `push-tls` feature: ureq would open a TCP connection and then
/// fail with `TlsRequired`; answer before anything is sent, naming the feature to enable.
fn check_tls(url: &str, https: bool) -> Result<(), PushError> {
    if https && !cfg!(feature = "push-tls") {
        return Err(PushError::TlsNotEnabled {
            url: url.to_owned(),
        });
    }
    Ok(())
}

/// The message of a caught panic, if it was a string.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic payload>".to_owned())
}

pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        // Non-2xx answers come back as responses so their body can go into the error.
        .http_status_as_error(false)
        // A redirect would turn a PUT into a GET on some servers: report it instead.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(concat!("tachymeter/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}

impl Pusher {
    /// The timeout of a request when [`timeout`](Self::timeout) is not called.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// The longest request timeout: one hour. [`timeout`](Self::timeout) caps longer ones
    /// (`Duration::MAX` included) to it, since the deadline is computed as `now + timeout`.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(60 * 60);

    /// A pusher to the gateway at `gateway` (`host:port`, or `http://` / `https://` URL with
    /// an optional path prefix, e.g. `https://gw.example/pushgateway`) for `job`. `https://`
    /// needs the `push-tls` feature.
    ///
    /// # Errors
    ///
    /// [`PushError::InvalidAddress`] for an unusable address, [`PushError::EmptyJob`],
    /// [`PushError::TlsNotEnabled`] for `https://` without the `push-tls` feature.
    pub fn new(gateway: &str, job: &str) -> Result<Pusher, PushError> {
        let base = parse_gateway(gateway)?;
        check_tls(&base, base.starts_with("https://"))?;
        if job.is_empty() {
            return Err(PushError::EmptyJob);
        }
        Ok(Pusher {
            base,
            job: job.to_owned(),
            grouping_key: Vec::new(),
            headers: Vec::new(),
            timeout: Self::DEFAULT_TIMEOUT,
            hook: None,
            agent: agent(Self::DEFAULT_TIMEOUT),
            format: Format::Text,
        })
    }

    /// Adds a grouping-key label (e.g. `instance`); the value may be anything, including
    /// empty or containing `/` or spaces (encoded as the gateway requires).
    ///
    /// # Errors
    ///
    /// [`PushError::InvalidGroupingLabel`] for an invalid or `__`-reserved name,
    /// [`PushError::JobInGroupingKey`] for `job`, [`PushError::DuplicateGroupingLabel`].
    pub fn grouping_key(mut self, name: &str, value: &str) -> Result<Pusher, PushError> {
        crate::names::check_label_name(name).map_err(PushError::InvalidGroupingLabel)?;
        if name == "job" {
            return Err(PushError::JobInGroupingKey);
        }
        if self.grouping_key.iter().any(|(n, _)| n == name) {
            return Err(PushError::DuplicateGroupingLabel(name.to_owned()));
        }
        self.grouping_key.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Sends a header with every request (e.g. `X-BK-TOKEN`), replacing an earlier one with
    /// the same name.
    ///
    /// # Errors
    ///
    /// [`PushError::InvalidHeader`] if the name is not an HTTP token or the value has a
    /// control character.
    pub fn header(mut self, name: &str, value: &str) -> Result<Pusher, PushError> {
        check_header(name, value)?;
        self.set_header(name, value);
        Ok(self)
    }

    fn set_header(&mut self, name: &str, value: &str) {
        replace_header(&mut self.headers, name, value);
    }

    /// Sends `Authorization: Basic ...` with every request.
    #[must_use]
    pub fn basic_auth(mut self, user: &str, password: &str) -> Pusher {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.set_header("Authorization", &format!("Basic {token}"));
        self
    }

    /// Sends `Authorization: Bearer <token>` with every request. A token with a control
    /// character makes each request fail with [`PushError::InvalidHeader`].
    #[must_use]
    pub fn bearer_token(mut self, token: &str) -> Pusher {
        self.set_header("Authorization", &format!("Bearer {token}"));
        self
    }

    /// Limits each request (connect, send and answer together) to `timeout`; default
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT), at most
    /// [`MAX_TIMEOUT`](Self::MAX_TIMEOUT) (longer ones are capped to it).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Pusher {
        let timeout = timeout.min(Self::MAX_TIMEOUT);
        self.timeout = timeout;
        self.agent = agent(timeout);
        self
    }

    /// Sends bodies in the Prometheus protobuf format (delimited `MetricFamily` messages,
    /// [`Format::Protobuf`], with its `Content-Type`) instead of text format 0.0.4. The
    /// Pushgateway keeps native histograms only from protobuf pushes (from text it gets
    /// their classic buckets, if any), and exemplars and created timestamps travel too.
    ///
    /// ```
    /// # use tachymeter::{http::Pusher, Format};
    /// let pusher = Pusher::new("localhost:9091", "batch")?.protobuf();
    /// assert_eq!(pusher.body_format(), Format::Protobuf);
    /// # Ok::<(), tachymeter::http::PushError>(())
    /// ```
    #[cfg(feature = "protobuf")]
    #[cfg_attr(docsrs, doc(cfg(feature = "protobuf")))]
    #[must_use]
    pub fn protobuf(mut self) -> Pusher {
        self.format = Format::Protobuf;
        self
    }

    /// The format of the bodies pushed: [`Format::Text`], or [`Format::Protobuf`] after
    /// [`protobuf`](Self::protobuf).
    pub fn body_format(&self) -> Format {
        self.format
    }

    /// The request timeout in effect (see [`timeout`](Self::timeout)).
    pub fn request_timeout(&self) -> Duration {
        self.timeout
    }

    /// Calls `hook` on every request just before it is sent; it may change the method, URL,
    /// headers and body (sign the body, add a computed header, route through another path).
    ///
    /// If the hook panics, the panic is caught (after the panic hook has printed it as
    /// usual): nothing is sent and the push fails with [`PushError::HookPanicked`]; a
    /// [`BackgroundPusher`] counts it as a failure and keeps pushing.
    ///
    /// ```
    /// # use tachymeter::http::Pusher;
    /// let pusher = Pusher::new("localhost:9091", "job")?.request_hook(|req| {
    ///     let signature = req.body.len().to_string(); // compute something from the body
    ///     req.set_header("X-Body-Length", &signature);
    /// });
    /// # Ok::<(), tachymeter::http::PushError>(())
    /// ```
    #[must_use]
    pub fn request_hook(
        mut self,
        hook: impl Fn(&mut PushRequest) + Send + Sync + 'static,
    ) -> Pusher {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// The group's URL: `<gateway>/metrics/job/<job>{/<label>/<value>}`.
    pub fn url(&self) -> String {
        format!(
            "{}{}",
            self.base,
            encode_push_path(&self.job, &self.grouping_key)
        )
    }

    /// Replaces the whole group with `registry`'s metrics (HTTP `PUT`; Python's
    /// `push_to_gateway`).
    ///
    /// # Errors
    ///
    /// [`PushError::Status`] with the gateway's status and body, [`PushError::Timeout`],
    /// [`PushError::Transport`] when unreachable, [`PushError::Encode`] from a custom
    /// collector, or a header or URL the hook made invalid.
    pub fn push(&self, registry: &Registry) -> Result<(), PushError> {
        self.send(PushMethod::Put, Some(registry), &mut Vec::new())
    }

    /// Replaces only the metrics of the group that `registry` has, by name (HTTP `POST`;
    /// Python's `pushadd_to_gateway`).
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn push_add(&self, registry: &Registry) -> Result<(), PushError> {
        self.send(PushMethod::Post, Some(registry), &mut Vec::new())
    }

    /// Deletes the group (HTTP `DELETE`; Python's `delete_from_gateway`). The gateway answers
    /// 202 and deletes asynchronously, also for a group that does not exist.
    ///
    /// # Errors
    ///
    /// As [`push`](Self::push).
    pub fn delete(&self) -> Result<(), PushError> {
        self.send(PushMethod::Delete, None, &mut Vec::new())
    }

    /// Pushes `registry` (PUT) now and then every `interval` on a background thread, with
    /// exponential backoff on failure and a final push on shutdown; see [`BackgroundPusher`].
    /// An interval under [`BackgroundPusher::MIN_INTERVAL`] (100 ms; `Duration::ZERO`
    /// included) is raised to it.
    pub fn spawn_background(self, registry: &Registry, interval: Duration) -> BackgroundPusher {
        BackgroundPusher::spawn(self, registry.clone(), interval)
    }

    /// Builds, hooks and sends one request; `body` is a reusable buffer.
    fn send(
        &self,
        method: PushMethod,
        registry: Option<&Registry>,
        body: &mut Vec<u8>,
    ) -> Result<(), PushError> {
        body.clear();
        if let Some(r) = registry {
            // AssertUnwindSafe: after a panic the partial body is discarded (cleared before
            // reuse) and nothing is sent; the registry's lock recovers from poisoning.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| r.encode(self.format, body)))
                .map_err(|payload| PushError::CollectorPanicked {
                    message: panic_message(&*payload),
                })??;
        }
        let mut headers = Vec::with_capacity(self.headers.len() + 1);
        if method != PushMethod::Delete {
            headers.push((
                "Content-Type".to_owned(),
                self.format.content_type().to_owned(),
            ));
        }
        headers.extend(self.headers.iter().cloned());
        let mut req = PushRequest {
            method,
            url: self.url(),
            headers,
            body: core::mem::take(body),
        };
        let result = match &self.hook {
            // AssertUnwindSafe: after a panic `req` is only read back for its body buffer
            // (cleared before reuse) and nothing is sent, so a half-edited request is never
            // observed; the hook's own state is the hook's business.
            Some(hook) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&mut req)))
                .map_err(|payload| PushError::HookPanicked {
                    message: panic_message(&*payload),
                }),
            None => Ok(()),
        };
        let result = result.and_then(|()| self.execute(&req));
        *body = req.body;
        result
    }

    fn execute(&self, req: &PushRequest) -> Result<(), PushError> {
        let uri = match http::Uri::try_from(req.url.as_str()) {
            Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => u,
            _ => {
                return Err(PushError::InvalidUrl {
                    url: req.url.clone(),
                })
            }
        };
        check_tls(&req.url, uri.scheme_str() == Some("https"))?;
        let mut builder = http::Request::builder()
            .method(req.method.as_str())
            .uri(uri);
        for (n, v) in &req.headers {
            check_header(n, v)?;
            builder = builder.header(n.as_str(), v.as_str());
        }
        let request = builder
            .body(&req.body[..])
            .map_err(|_| PushError::InvalidUrl {
                url: req.url.clone(),
            })?;
        let mut response = self.agent.run(request).map_err(|e| match e {
            ureq::Error::Timeout(_) => PushError::Timeout {
                url: req.url.clone(),
                after: self.timeout,
            },
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => PushError::InvalidUrl {
                url: req.url.clone(),
            },
            ureq::Error::TlsRequired => PushError::TlsNotEnabled {
                url: req.url.clone(),
            },
            e => PushError::Transport {
                url: req.url.clone(),
                source: Arc::new(e),
            },
        })?;
        let status = response.status().as_u16();
        let mut answer = Vec::new();
        // The answer is informative only; a body cut short by the timeout still leaves the
        // status, which decides.
        let _ = response
            .body_mut()
            .as_reader()
            .take(MAX_ERROR_BODY)
            .read_to_end(&mut answer);
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(PushError::Status {
                status,
                body: String::from_utf8_lossy(&answer).into_owned(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for (given, base) in [
            ("localhost:9091", "http://localhost:9091"),
            ("127.0.0.1:9091/", "http://127.0.0.1:9091"),
            ("HTTPS://gw.example/push/", "https://gw.example/push"),
            ("http://[::1]:9091", "http://[::1]:9091"),
            ("gw", "http://gw"),
        ] {
            assert_eq!(parse_gateway(given).unwrap(), base, "{given}");
        }
        for (bad, problem) in [
            ("", AddressProblem::Empty),
            ("http://", AddressProblem::Empty),
            ("ftp://gw:21", AddressProblem::UnsupportedScheme),
            ("gw:port", AddressProblem::BadPort),
            ("gw:0", AddressProblem::BadPort),
            ("gw:70000", AddressProblem::BadPort),
            ("gw 1:9091", AddressProblem::BadCharacter),
            ("gw:9091?x=1", AddressProblem::BadCharacter),
            (":9091", AddressProblem::BadHost),
            ("user@gw:9091", AddressProblem::BadHost),
            ("[::1", AddressProblem::BadHost),
        ] {
            match parse_gateway(bad) {
                Err(PushError::InvalidAddress { problem: p, .. }) => {
                    assert_eq!(p, problem, "{bad}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn builder_validates() {
        let p = Pusher::new("gw:9091", "j").unwrap();
        assert!(matches!(Pusher::new("gw", ""), Err(PushError::EmptyJob)));
        assert!(matches!(
            p.clone().grouping_key("in-stance", "x"),
            Err(PushError::InvalidGroupingLabel(_))
        ));
        assert!(matches!(
            p.clone().grouping_key("__x", "x"),
            Err(PushError::InvalidGroupingLabel(_))
        ));
        assert!(matches!(
            p.clone().grouping_key("job", "x"),
            Err(PushError::JobInGroupingKey)
        ));
        assert!(matches!(
            p.clone()
                .grouping_key("a", "1")
                .unwrap()
                .grouping_key("a", "2"),
            Err(PushError::DuplicateGroupingLabel(_))
        ));
        assert!(matches!(
            p.clone().header("X-BK-TOKEN", "a\nb"),
            Err(PushError::InvalidHeader { .. })
        ));
        assert!(matches!(
            p.clone().header("bad header", "v"),
            Err(PushError::InvalidHeader { .. })
        ));
        let p = p
            .grouping_key("instance", "a/b")
            .unwrap()
            .header("X-BK-TOKEN", "t")
            .unwrap()
            .basic_auth("u", "p")
            .bearer_token("tok");
        assert_eq!(p.url(), "http://gw:9091/metrics/job/j/instance@base64/YS9i");
        assert!(
            !format!("{p:?}").contains("tok"),
            "credentials stay out of Debug"
        );
        assert_eq!(
            p.headers,
            [
                ("X-BK-TOKEN".to_owned(), "t".to_owned()),
                ("Authorization".to_owned(), "Bearer tok".to_owned())
            ]
        );
    }
}
