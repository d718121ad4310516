//! Module implementing the Prometheus Remote-Write 1.0 client. See [`RemoteWriter`].

mod background;
mod error;
mod protocol;
mod queue;
mod retry_after;
mod send;
mod stats;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

pub use background::RemoteWriteHandle;
pub use error::RemoteWriteError;
pub use protocol::RemoteWriteProtocol;
pub use stats::RemoteWriteStats;

use super::push::{agent, check_header, panic_message, parse_gateway, replace_header, Hook};
use super::{PushError, PushRequest};
use crate::encode::remote_write::{Batch, WriteRequestEncoder};
use crate::encode::remote_write_v2::RequestEncoder;
use crate::{RegistrationError, Registry};
use protocol::Encoder;
use stats::{Counters, SelfMetrics};

/// Sends registries to a Prometheus Remote-Write 1.0 receiver (Prometheus with
/// `--web.enable-remote-write-receiver`, VictoriaMetrics, Mimir, Thanos Receive, Cortex):
/// once ([`write_once`](Self::write_once)) or every interval from background threads
/// ([`spawn`](Self::spawn)).
///
/// Each collection reads every registry once, stamps every sample with the collection's time
/// and sends them as `prometheus.WriteRequest` protobufs, snappy-compressed (block format),
/// in batches of at most [`max_samples_per_send`](Self::max_samples_per_send) samples, with
/// `Content-Encoding: snappy`, `Content-Type: application/x-protobuf` and
/// `X-Prometheus-Remote-Write-Version: 0.1.0`. Series carry the registry's prefix and
/// constant labels plus the [external labels](Self::external_label); labels are sorted and
/// unique. Classic histograms and summaries go as their `_bucket`/`_sum`/`_count`/quantile
/// series, `le` spelled as Prometheus stores scraped text (`le="1"`); native histograms as
/// their count and sum, or as native histograms with
/// [`native_histograms`](Self::native_histograms). Exemplars
/// ([`exemplars`](Self::exemplars)) and metadata ([`metadata_interval`](Self::metadata_interval))
/// are opt-in; `_created` samples are not sent. Remote-Write 2.0, with metadata and created
/// timestamps (and exemplars, when on), is an opt-in that falls back to 1.0: see
/// [`protocol`](Self::protocol).
///
/// Failures: 5xx, 429, timeouts and unreachable receivers are retried with exponential
/// backoff and jitter ([`backoff`](Self::backoff)), waiting what a `Retry-After` header
/// (seconds or an HTTP-date; at most 5 minutes) asks instead, up to
/// [`max_retries`](Self::max_retries); any other 4xx is final
/// (never retried: Prometheus answers a re-sent batch with 400 `out of order sample`). Every
/// outcome is counted ([`RemoteWriteStats`]).
///
/// ```no_run
/// use std::time::Duration;
/// use tachymeter::{http::RemoteWriter, Counter, Registry};
///
/// let registry = Registry::new();
/// let jobs = Counter::builder("jobs_total", "Jobs done.").register(&registry)?;
/// jobs.inc();
///
/// let writer = RemoteWriter::new("http://127.0.0.1:8428/api/v1/write")?
///     .registry(&registry)
///     .external_label("instance", "edge-1")?
///     .header("X-BK-TOKEN", "s3cr3t")?
///     .interval(Duration::from_secs(15));
/// let handle = writer.spawn(); // collects and sends every 15 s
/// // ... work ...
/// let stats = handle.shutdown()?; // final collection, flushed within the shutdown timeout
/// println!("sent {} samples, dropped {}", stats.samples_sent, stats.samples_dropped);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Clones share their counters.
#[derive(Clone)]
pub struct RemoteWriter {
    url: String,
    registries: Vec<Registry>,
    external: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    hook: Option<Hook>,
    timeout: Duration,
    agent: ureq::Agent,
    interval: Duration,
    max_samples: usize,
    capacity: usize,
    min_backoff: Duration,
    max_backoff: Duration,
    max_retries: u32,
    shutdown_timeout: Duration,
    native_histograms: bool,
    protocol: RemoteWriteProtocol,
    exemplars: bool,
    metadata_interval: Option<Duration>,
    counters: Arc<Counters>,
}

impl core::fmt::Debug for RemoteWriter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Header values are left out: they are usually credentials.
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("RemoteWriter")
            .field("url", &self.url)
            .field("registries", &self.registries.len())
            .field("external_labels", &self.external)
            .field("headers", &header_names)
            .field("interval", &self.interval)
            .field("max_samples_per_send", &self.max_samples)
            .field("queue_capacity", &self.capacity)
            .field("native_histograms", &self.native_histograms)
            .field("protocol", &self.protocol)
            .field("exemplars", &self.exemplars)
            .field("metadata_interval", &self.metadata_interval)
            .finish_non_exhaustive()
    }
}

fn invalid_option(option: &'static str, reason: &'static str) -> RemoteWriteError {
    RemoteWriteError::InvalidOption { option, reason }
}

impl RemoteWriter {
    /// Request timeout unless [`timeout`](Self::timeout) is called: 30 s (Prometheus'
    /// `remote_timeout`).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    /// Collection interval unless [`interval`](Self::interval) is called: 15 s.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);
    /// The shortest collection interval: 100 ms (shorter ones are raised to it).
    pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
    /// Samples per request unless [`max_samples_per_send`](Self::max_samples_per_send) is
    /// called: 2,000 (Prometheus' default).
    pub const DEFAULT_MAX_SAMPLES: usize = 2000;
    /// Queue bound unless [`queue_capacity`](Self::queue_capacity) is called: 100,000
    /// samples.
    pub const DEFAULT_CAPACITY: usize = 100_000;
    /// Retries per batch unless [`max_retries`](Self::max_retries) is called: 10.
    pub const DEFAULT_MAX_RETRIES: u32 = 10;

    /// A writer to the receiver at `url`, the full endpoint (e.g.
    /// `http://127.0.0.1:9090/api/v1/write`). `https://` needs the `push-tls` feature.
    ///
    /// # Errors
    ///
    /// [`RemoteWriteError::InvalidUrl`], [`RemoteWriteError::TlsNotEnabled`].
    pub fn new(url: &str) -> Result<RemoteWriter, RemoteWriteError> {
        let base = parse_gateway(url).map_err(|e| match e {
            PushError::InvalidAddress { problem, .. } => RemoteWriteError::InvalidUrl {
                url: url.to_owned(),
                problem: Some(problem),
            },
            _ => RemoteWriteError::InvalidUrl {
                url: url.to_owned(),
                problem: None,
            },
        })?;
        if base.starts_with("https://") && !cfg!(feature = "push-tls") {
            return Err(RemoteWriteError::TlsNotEnabled { url: base });
        }
        Ok(RemoteWriter {
            url: base,
            registries: Vec::new(),
            external: Vec::new(),
            headers: Vec::new(),
            hook: None,
            timeout: Self::DEFAULT_TIMEOUT,
            agent: agent(Self::DEFAULT_TIMEOUT),
            interval: Self::DEFAULT_INTERVAL,
            max_samples: Self::DEFAULT_MAX_SAMPLES,
            capacity: Self::DEFAULT_CAPACITY,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            max_retries: Self::DEFAULT_MAX_RETRIES,
            shutdown_timeout: Duration::from_secs(5),
            native_histograms: false,
            protocol: RemoteWriteProtocol::V1,
            exemplars: false,
            metadata_interval: None,
            counters: Arc::default(),
        })
    }

    /// Adds a registry to collect (call it once per registry; all are collected together).
    #[must_use]
    pub fn registry(mut self, registry: &Registry) -> RemoteWriter {
        self.registries.push(registry.clone());
        self
    }

    /// Adds a label to every series that does not have one of that name already (e.g.
    /// `instance`, `job`, or Mimir/Thanos HA labels `cluster` / `__replica__`-style names
    /// without the leading `__`).
    ///
    /// # Errors
    ///
    /// [`RemoteWriteError::InvalidExternalLabel`] for an invalid or `__`-reserved name,
    /// [`RemoteWriteError::DuplicateExternalLabel`].
    pub fn external_label(mut self, name: &str, value: &str) -> Result<Self, RemoteWriteError> {
        crate::names::check_label_name(name).map_err(RemoteWriteError::InvalidExternalLabel)?;
        if self.external.iter().any(|(n, _)| n == name) {
            return Err(RemoteWriteError::DuplicateExternalLabel(name.to_owned()));
        }
        self.external.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Sends a header with every request (e.g. `X-BK-TOKEN`, or `X-Scope-OrgID` for a
    /// Mimir/Cortex tenant), replacing an earlier one with the same name.
    ///
    /// # Errors
    ///
    /// [`RemoteWriteError::InvalidHeader`].
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, RemoteWriteError> {
        check_header(name, value).map_err(|_| RemoteWriteError::InvalidHeader {
            name: name.to_owned(),
        })?;
        replace_header(&mut self.headers, name, value);
        Ok(self)
    }

    /// Sends `Authorization: Basic ...` with every request.
    #[must_use]
    pub fn basic_auth(mut self, user: &str, password: &str) -> Self {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        replace_header(
            &mut self.headers,
            "Authorization",
            &format!("Basic {token}"),
        );
        self
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    #[must_use]
    pub fn bearer_token(mut self, token: &str) -> Self {
        replace_header(
            &mut self.headers,
            "Authorization",
            &format!("Bearer {token}"),
        );
        self
    }

    /// Calls `hook` on every request just before it is sent (retries included), as
    /// [`Pusher::request_hook`](super::Pusher::request_hook) does; the body is the
    /// snappy-compressed protobuf. A panicking hook fails that batch for good
    /// ([`RemoteWriteError::HookPanicked`]).
    ///
    /// ```
    /// # use tachymeter::http::RemoteWriter;
    /// let writer = RemoteWriter::new("http://127.0.0.1:9090/api/v1/write")?
    ///     .request_hook(|req| req.set_header("X-Body-Length", &req.body.len().to_string()));
    /// # Ok::<(), tachymeter::http::RemoteWriteError>(())
    /// ```
    #[must_use]
    pub fn request_hook(mut self, hook: impl Fn(&mut PushRequest) + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Limits each request (connect, send, answer) to `timeout` (default
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT), at most one hour).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.min(super::Pusher::MAX_TIMEOUT);
        self.agent = agent(self.timeout);
        self
    }

    /// With `on`, histograms with native buckets are sent as native histograms
    /// (`TimeSeries.histograms`: integer counts, schema, zero bucket, spans and deltas), one
    /// series named after the family (no suffix), each counted as one sample; their classic
    /// buckets, if they have them too, still go as `_bucket`/`_sum`/`_count` series.
    ///
    /// Off (the default), they go as their native count and sum in `_count`/`_sum` float
    /// series (a native-only one also as a `_bucket{le="+Inf"}` series), which every
    /// receiver stores. Turn it on only for receivers that store native histograms:
    /// Prometheus started with `--enable-feature=native-histograms` (tested with 2.42: it
    /// reads back `histogram_count` and `histogram_sum` exactly), or Mimir, Thanos Receive
    /// and Cortex with native histograms enabled (not tested here). Prometheus 2.42 without
    /// the flag answers `500 native histograms are disabled` and stores nothing of that
    /// request, its float series included (a 5xx: retried, then counted as failed);
    /// VictoriaMetrics 1.79 answers 204, stores the float series and silently drops the
    /// histograms.
    ///
    /// ```no_run
    /// use tachymeter::{http::RemoteWriter, Histogram, Registry};
    ///
    /// let registry = Registry::new();
    /// let rpc = Histogram::builder("rpc_seconds", "RPC latency.")
    ///     .native(1.1)?
    ///     .register(&registry)?;
    /// rpc.observe(0.042);
    /// // Prometheus started with `--web.enable-remote-write-receiver
    /// // --enable-feature=native-histograms`:
    /// RemoteWriter::new("http://127.0.0.1:9090/api/v1/write")?
    ///     .registry(&registry)
    ///     .native_histograms(true)
    ///     .write_once()?; // one series `rpc_seconds`, its buckets in `histograms`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn native_histograms(mut self, on: bool) -> Self {
        self.native_histograms = on;
        self
    }

    /// The protocol to speak (default [`RemoteWriteProtocol::V1`]).
    ///
    /// With [`RemoteWriteProtocol::V2`], requests are `io.prometheus.write.v2.Request`s
    /// (`Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request`,
    /// `X-Prometheus-Remote-Write-Version: 2.0.0`): a symbol table, every series' labels as
    /// references into it, its family's metadata (type, help, unit), and the child's creation
    /// time as `created_timestamp` for counters, histograms and summaries (when the registry
    /// has [`created_samples`](crate::RegistryBuilder::created_samples) on, the default).
    ///
    /// Fallback: a 2xx answer without any `X-Prometheus-Remote-Write-*-Written` header (a
    /// 1.0 receiver, which stores nothing of a 2.0 body and still answers 204), or a 415,
    /// makes the writer send that batch again as 1.0 (the same series and values, once) and
    /// speak 1.0 from then on, counted in [`RemoteWriteStats::protocol_fallbacks`] and
    /// `tachymeter_remote_write_protocol_fallbacks_total`. It does not probe 2.0 again: a
    /// new writer (or a restart) does. When the headers are there but count fewer samples
    /// than were sent, the rest are counted as failed and the batch's error is
    /// [`RemoteWriteError::PartialWrite`].
    ///
    /// ```no_run
    /// use tachymeter::http::{RemoteWriteProtocol, RemoteWriter};
    /// use tachymeter::{Counter, Registry};
    ///
    /// let registry = Registry::new();
    /// Counter::builder("jobs_total", "Jobs done.").register(&registry)?.inc();
    /// let writer = RemoteWriter::new("http://127.0.0.1:9090/api/v1/write")?
    ///     .registry(&registry)
    ///     .protocol(RemoteWriteProtocol::V2);
    /// writer.write_once()?;
    /// if writer.stats().protocol_fallbacks > 0 {
    ///     println!("the receiver speaks 1.0 only; sent as 1.0");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn protocol(mut self, protocol: RemoteWriteProtocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// With `on`, exemplars go with their series (`TimeSeries.exemplars`: labels, value,
    /// timestamp in milliseconds): a counter's, each classic histogram bucket's, and with
    /// [`native_histograms`](Self::native_histograms) a native histogram's. Each is sent
    /// once, in the first collection after it was recorded; one recorded without a timestamp
    /// is stamped with that collection's time (native histograms send only timestamped
    /// ones, oldest first). Off by default.
    ///
    /// Both protocols send them, with the same choice of exemplars: in 2.0
    /// ([`protocol`](Self::protocol)) as `TimeSeries.exemplars` whose labels are symbol
    /// references, and a 2.0 request re-sent as 1.0 after a fallback keeps its exemplars.
    ///
    /// Prometheus stores them when started with `--enable-feature=exemplar-storage` (tested
    /// with 2.42: read back through `/api/v1/query_exemplars`); without it, it drops them
    /// and still stores the samples. VictoriaMetrics 1.79 ignores them.
    ///
    /// ```no_run
    /// use tachymeter::{http::RemoteWriter, Counter, Registry};
    ///
    /// let registry = Registry::new();
    /// let jobs = Counter::builder("jobs_total", "Jobs done.").register(&registry)?;
    /// jobs.inc_with_exemplar(&[("trace_id", "4bf92f3577b34da6")]);
    /// RemoteWriter::new("http://127.0.0.1:9090/api/v1/write")?
    ///     .registry(&registry)
    ///     .exemplars(true)
    ///     .write_once()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn exemplars(mut self, on: bool) -> Self {
        self.exemplars = on;
        self
    }

    /// Sends each family's metadata (`WriteRequest.metadata`: type, help, unit) with the
    /// first collection and then with the first collection at least `every` after the last
    /// one that sent it (`Duration::ZERO`: every collection; Prometheus' own default is one
    /// minute). Off by default.
    ///
    /// A family's entry goes in the request that carries its first series, named as the
    /// text exposition's `# TYPE` line names it (a counter family `jobs` as `jobs_total`);
    /// info and state-set families are typed `GAUGE`, as in the text format. Prometheus 2.42
    /// and VictoriaMetrics 1.79 accept and ignore it; Mimir and Cortex store it for their
    /// metadata API.
    ///
    /// Remote-Write 1.0 only: 2.0 requests carry each series' metadata anyway.
    #[must_use]
    pub fn metadata_interval(mut self, every: Duration) -> Self {
        self.metadata_interval = Some(every);
        self
    }

    /// Collects every `interval` in the background (default
    /// [`DEFAULT_INTERVAL`](Self::DEFAULT_INTERVAL), at least
    /// [`MIN_INTERVAL`](Self::MIN_INTERVAL)).
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Self::MIN_INTERVAL);
        self
    }

    /// At most `n` samples per request (default
    /// [`DEFAULT_MAX_SAMPLES`](Self::DEFAULT_MAX_SAMPLES)).
    ///
    /// # Errors
    ///
    /// [`RemoteWriteError::InvalidOption`] for 0.
    pub fn max_samples_per_send(mut self, n: usize) -> Result<Self, RemoteWriteError> {
        if n == 0 {
            return Err(invalid_option("max_samples_per_send", "must be at least 1"));
        }
        self.max_samples = n;
        Ok(self)
    }

    /// Bounds the background queue to `samples` samples (default
    /// [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY)). Memory: the queue holds compressed
    /// bodies, at most `samples` × the compressed size of a sample (tens of bytes for
    /// typical label sets) plus one batch in flight. When a new collection does not fit, the
    /// oldest queued batches are dropped and counted
    /// ([`RemoteWriteStats::samples_dropped`], [`RemoteWriteError::QueueFull`]); a batch
    /// larger than the whole queue is dropped itself, so keep it at least
    /// [`max_samples_per_send`](Self::max_samples_per_send).
    ///
    /// To ride out an outage of `T` without loss, give it `T / interval` × the samples of one
    /// collection.
    ///
    /// # Errors
    ///
    /// [`RemoteWriteError::InvalidOption`] for 0.
    pub fn queue_capacity(mut self, samples: usize) -> Result<Self, RemoteWriteError> {
        if samples == 0 {
            return Err(invalid_option("queue_capacity", "must be at least 1"));
        }
        self.capacity = samples;
        Ok(self)
    }

    /// Backoff between retries: `min` doubled per retry up to `max`, each wait jittered
    /// down by up to half (defaults 100 ms and 10 s). A `Retry-After` header replaces it.
    ///
    /// # Errors
    ///
    /// [`RemoteWriteError::InvalidOption`] when `min` is zero or above `max`.
    pub fn backoff(mut self, min: Duration, max: Duration) -> Result<Self, RemoteWriteError> {
        if min.is_zero() || min > max {
            return Err(invalid_option("backoff", "need 0 < min <= max"));
        }
        self.min_backoff = min;
        self.max_backoff = max;
        Ok(self)
    }

    /// Retries per batch before it is given up and counted in
    /// [`RemoteWriteStats::samples_failed`] (default
    /// [`DEFAULT_MAX_RETRIES`](Self::DEFAULT_MAX_RETRIES); 0 = never retry).
    #[must_use]
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// How long [`RemoteWriteHandle::shutdown`] may take for its final collection and flush
    /// (default 5 s); requests in flight are cut to fit.
    #[must_use]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout.min(super::Pusher::MAX_TIMEOUT);
        self
    }

    /// Registers the writer's own metrics on `registry`:
    /// `tachymeter_remote_write_samples_{sent,retried,dropped,failed}_total`,
    /// `tachymeter_remote_write_queue_samples`,
    /// `tachymeter_remote_write_last_success_timestamp_seconds` and
    /// `tachymeter_remote_write_protocol_fallbacks_total` (see [`protocol`](Self::protocol)).
    ///
    /// # Errors
    ///
    /// A [`RegistrationError`] if those names are taken.
    pub fn register_self_metrics(self, registry: &Registry) -> Result<Self, RegistrationError> {
        registry.register(SelfMetrics::new(self.counters.clone()))?;
        Ok(self)
    }

    /// The receiver's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What this writer (and its clones and background threads) has done so far.
    pub fn stats(&self) -> RemoteWriteStats {
        self.counters.snapshot()
    }

    /// Collects now and sends everything, retrying as configured, on the calling thread.
    ///
    /// # Errors
    ///
    /// [`RemoteWriteError::NoRegistry`], the collection's error, or the first batch that was
    /// not accepted (the rest are still tried).
    pub fn write_once(&self) -> Result<(), RemoteWriteError> {
        let mut enc = self.encoder()?;
        self.collect(&mut enc)?;
        let batches: Vec<Batch> = enc.take_batches().collect();
        let mut first_error = None;
        for mut b in batches {
            if let Err(e) = self.send_batch(&mut b, None, &self.counters) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Starts the background writer: a collecting thread (now, then every interval, and
    /// once more at shutdown) and a sending thread, joined by the bounded queue. Observers
    /// never wait for either. If a thread cannot be started, the error is in the stats and
    /// nothing is written.
    pub fn spawn(self) -> RemoteWriteHandle {
        RemoteWriteHandle::spawn(self)
    }

    /// An encoder for the protocol spoken now: 2.0 if asked for and not fallen back.
    fn encoder(&self) -> Result<Encoder, RemoteWriteError> {
        if self.registries.is_empty() {
            return Err(RemoteWriteError::NoRegistry);
        }
        let (n, ext, native) = (self.max_samples, &self.external[..], self.native_histograms);
        Ok(
            if self.protocol == RemoteWriteProtocol::V2 && !self.counters.on_v1() {
                Encoder::V2(Box::new(
                    RequestEncoder::new(n, ext)
                        .native_histograms(native)
                        .exemplars(self.exemplars),
                ))
            } else {
                Encoder::V1(Box::new(
                    WriteRequestEncoder::new(n, ext)
                        .native_histograms(native)
                        .exemplars(self.exemplars)
                        .metadata_every(self.metadata_interval),
                ))
            },
        )
    }

    /// One collection into `enc`'s sealed batches, counted.
    fn collect(&self, enc: &mut Encoder) -> Result<(), RemoteWriteError> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Counters::add(&self.counters.collections, 1);
        // AssertUnwindSafe: after a panic the encoder discards the partial collection (its
        // buffers are cleared before reuse); the registry's lock recovers from poisoning.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            enc.collect(&self.registries, now_ms)
        }));
        let result = match result {
            Ok(r) => r.map_err(RemoteWriteError::from),
            Err(payload) => {
                let _ = enc.take_batches().count();
                Err(RemoteWriteError::CollectorPanicked {
                    message: panic_message(&*payload),
                })
            }
        };
        if let Err(e) = &result {
            Counters::add(&self.counters.collection_failures, 1);
            self.counters.error(e);
        }
        result
    }
}

#[cfg(feature = "_bench")]
mod bench;
#[cfg(feature = "_bench")]
pub use bench::BenchEncoder;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_validates() {
        let w = RemoteWriter::new("127.0.0.1:9090/api/v1/write").unwrap();
        assert_eq!(w.url(), "http://127.0.0.1:9090/api/v1/write");
        assert!(matches!(
            RemoteWriter::new("ftp://x/"),
            Err(RemoteWriteError::InvalidUrl {
                problem: Some(_),
                ..
            })
        ));
        assert!(matches!(
            w.clone().external_label("__x", "1"),
            Err(RemoteWriteError::InvalidExternalLabel(_))
        ));
        assert!(matches!(
            w.clone()
                .external_label("a", "1")
                .unwrap()
                .external_label("a", "2"),
            Err(RemoteWriteError::DuplicateExternalLabel(_))
        ));
        assert!(matches!(
            w.clone().header("X-BK-TOKEN", "a\nb"),
            Err(RemoteWriteError::InvalidHeader { .. })
        ));
        assert!(w.clone().max_samples_per_send(0).is_err());
        assert!(w.clone().queue_capacity(0).is_err());
        assert!(w.clone().backoff(Duration::ZERO, Duration::ZERO).is_err());
        assert!(matches!(w.write_once(), Err(RemoteWriteError::NoRegistry)));
        let w = w
            .header("X-BK-TOKEN", "secret")
            .unwrap()
            .bearer_token("tok");
        let debug = format!("{w:?}");
        assert!(
            !debug.contains("secret") && !debug.contains("tok\""),
            "{debug}"
        );
    }
}
