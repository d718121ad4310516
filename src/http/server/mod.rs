//! Module implementing the built-in scrape server: [`start_http_server`] and
//! [`ServerBuilder`], on hyper 1.x driven by a private tokio runtime (two threads of its own),
//! so the application needs no async runtime.
//!
//! The accept loop and connection handling live here; per-connection clocks and the
//! connection table in [`conn`]; routing, authentication and rendering in [`service`].

mod conn;
mod service;
#[cfg(feature = "server-tls")]
mod tls;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use self::conn::{ConnState, Conns, Deadlines, TimedIo};
use self::service::{Auth, Routes};
use super::ServeError;
use crate::Registry;

/// Starts serving `registry` at `http://addr/metrics` on a background thread and returns at
/// once: the one-line form of [`ServerBuilder`], with its defaults.
///
/// * `GET` and `HEAD /metrics` answer 200 with the format negotiated from `Accept`
///   (OpenMetrics 1.0.0 when asked for, else text 0.0.4; see [`negotiate`](super::negotiate)),
///   gzip when `Accept-Encoding` allows it, and `?name[]=family` filtering (400 for a bad
///   query string, 500 if a custom collector fails or panics).
/// * `GET /-/healthy` answers 200 `OK` (a liveness probe that does not encode anything).
/// * Other methods answer 405 with `Allow: GET, HEAD`; other paths 404.
///
/// Port 0 picks a free port: read it from [`ServerHandle::local_addr`]. The server runs
/// until [`ServerHandle::shutdown`] or the end of the process: dropping the handle leaves it
/// running (like dropping a thread's `JoinHandle`), so `start_http_server(..)?;` is enough
/// for a server that lives as long as the application.
///
/// ```no_run
/// use tachymeter::{http::start_http_server, Counter, Registry};
///
/// let registry = Registry::new();
/// let requests = Counter::builder("requests_total", "Requests handled.").register(&registry)?;
/// let server = start_http_server("127.0.0.1:8080", &registry)?;
/// println!("scrape me at http://{}/metrics", server.local_addr());
/// requests.inc();
/// // ... run the application ...
/// server.shutdown();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`ServeError::Bind`] if the address cannot be resolved or listened on, or the server's
/// threads cannot be started.
pub fn start_http_server(
    addr: impl ToSocketAddrs,
    registry: &Registry,
) -> Result<ServerHandle, ServeError> {
    ServerBuilder::new(registry).bind(addr)
}

/// Configures and starts the scrape server: limits, path, authentication and TLS.
///
/// Every limit has a default that holds against hostile clients on a server also used by
/// Prometheus; see each method. Limits apply per connection except
/// [`max_connections`](Self::max_connections).
///
/// ```no_run
/// use std::time::Duration;
/// use tachymeter::{http::ServerBuilder, Registry};
///
/// let registry = Registry::new();
/// let server = ServerBuilder::new(&registry)
///     .path("/internal/metrics")?
///     .bearer_token("s3cret-token")
///     .max_connections(256)
///     .idle_timeout(Duration::from_secs(30))
///     .bind("0.0.0.0:9100")?;
/// # server.shutdown();
/// # Ok::<(), tachymeter::http::ServeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    registry: Registry,
    path: String,
    health_path: Option<String>,
    auth: Option<Auth>,
    max_connections: usize,
    max_header_bytes: usize,
    max_headers: usize,
    deadlines: Deadlines,
    shutdown_timeout: Duration,
    #[cfg(feature = "server-tls")]
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

/// hyper's smallest read buffer; header limits below it are enforced by hyper separately.
const MIN_BUF: usize = 8192;

impl ServerBuilder {
    /// A builder serving `registry` with the defaults: path `/metrics`, liveness at
    /// `/-/healthy`, no authentication, plain HTTP, and the limits documented on each method.
    pub fn new(registry: &Registry) -> ServerBuilder {
        ServerBuilder {
            registry: registry.clone(),
            path: "/metrics".to_owned(),
            health_path: Some("/-/healthy".to_owned()),
            auth: None,
            max_connections: 512,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            deadlines: Deadlines {
                header_read: Duration::from_secs(10),
                idle: Duration::from_secs(120),
                write: Duration::from_secs(10),
            },
            shutdown_timeout: Duration::from_secs(3),
            #[cfg(feature = "server-tls")]
            tls: None,
        }
    }

    /// Serves the metrics at `path` instead of `/metrics`.
    ///
    /// # Errors
    ///
    /// [`ServeError::InvalidOption`] unless `path` starts with `/` and is a plain path (no
    /// `?`, `#`, spaces or control characters), or if it equals the health path.
    pub fn path(mut self, path: &str) -> Result<ServerBuilder, ServeError> {
        check_path("path", path)?;
        if self.health_path.as_deref() == Some(path) {
            return Err(invalid("path", "equals the health path"));
        }
        self.path = path.to_owned();
        Ok(self)
    }

    /// Serves the liveness probe at `path` (default `/-/healthy`, as Prometheus itself), or
    /// nowhere with `None`. It answers `200 OK` to `GET` and `HEAD`, without authentication
    /// and without encoding the registry.
    ///
    /// # Errors
    ///
    /// As [`path`](Self::path).
    pub fn health_path(mut self, path: Option<&str>) -> Result<ServerBuilder, ServeError> {
        if let Some(p) = path {
            check_path("health_path", p)?;
            if p == self.path {
                return Err(invalid("health_path", "equals the metrics path"));
            }
        }
        self.health_path = path.map(str::to_owned);
        Ok(self)
    }

    /// Requires HTTP basic authentication (`Authorization: Basic ...`, as Prometheus sends
    /// with `basic_auth` in a scrape config) on the metrics path; others get 401. Replaces an
    /// earlier [`bearer_token`](Self::bearer_token). Credentials are compared in constant
    /// time. Use it with TLS, or on a trusted network: basic auth sends the password in
    /// clear.
    pub fn basic_auth(mut self, user: &str, password: &str) -> ServerBuilder {
        self.auth = Some(Auth::Basic(format!("{user}:{password}").into_bytes()));
        self
    }

    /// Requires `Authorization: Bearer <token>` (Prometheus' `authorization` /
    /// `bearer_token` scrape options) on the metrics path; others get 401. Replaces an
    /// earlier [`basic_auth`](Self::basic_auth).
    pub fn bearer_token(mut self, token: &str) -> ServerBuilder {
        self.auth = Some(Auth::Bearer(token.as_bytes().to_vec()));
        self
    }

    /// At most this many open connections (default 512). When full, a new connection
    /// closes the oldest one that holds no request (idle keep-alive first, then one still
    /// sending its headers), so idle or stalled clients cannot lock scrapers out; if every
    /// connection is answering a request, the new one gets `503` and is closed.
    /// Values below 1 are raised to 1.
    pub fn max_connections(mut self, n: usize) -> ServerBuilder {
        self.max_connections = n.max(1);
        self
    }

    /// At most this many bytes in a request's line and headers (default 16 KiB); larger
    /// heads get `431` and the connection is closed. Nothing beyond this (and hyper's
    /// 8 KiB minimum read buffer) is buffered per connection.
    pub fn max_header_bytes(mut self, n: usize) -> ServerBuilder {
        self.max_header_bytes = n.max(64);
        self
    }

    /// At most this many request headers (default 64); more get `431`.
    pub fn max_headers(mut self, n: usize) -> ServerBuilder {
        self.max_headers = n.max(1);
        self
    }

    /// A request's line and headers must arrive within this time of their first byte
    /// (default 10 s), however slowly they trickle in; the TLS handshake counts too.
    pub fn header_read_timeout(mut self, d: Duration) -> ServerBuilder {
        self.deadlines.header_read = d;
        self
    }

    /// A keep-alive connection with no request for this long is closed (default 120 s,
    /// above Prometheus' default one-minute scrape interval, so its connection is reused).
    pub fn idle_timeout(mut self, d: Duration) -> ServerBuilder {
        self.deadlines.idle = d;
        self
    }

    /// A response must be fully handed to the kernel within this time of its first byte
    /// (default 10 s, Prometheus' default scrape timeout); a client that stops reading is
    /// disconnected then.
    pub fn write_timeout(mut self, d: Duration) -> ServerBuilder {
        self.deadlines.write = d;
        self
    }

    /// How long [`ServerHandle::shutdown`] lets responses in progress finish before it drops
    /// their connections (default 3 s).
    pub fn shutdown_timeout(mut self, d: Duration) -> ServerBuilder {
        self.shutdown_timeout = d;
        self
    }

    /// Serves HTTPS with this rustls configuration (feature `server-tls`). Its ALPN list is
    /// replaced with `http/1.1`.
    #[cfg(feature = "server-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "server-tls")))]
    pub fn tls(mut self, config: Arc<tokio_rustls::rustls::ServerConfig>) -> ServerBuilder {
        self.tls = Some(tls::with_alpn(config));
        self
    }

    /// Serves HTTPS with a certificate chain and private key in PEM (feature `server-tls`),
    /// e.g. the contents of `cert.pem` and `key.pem`. TLS 1.2 and 1.3, rustls' safe defaults
    /// with the `ring` provider.
    ///
    /// # Errors
    ///
    /// [`ServeError::Tls`] if the PEM holds no certificate or no usable key, or rustls
    /// refuses the pair.
    #[cfg(feature = "server-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "server-tls")))]
    pub fn tls_pem(
        self,
        cert_chain: &[u8],
        private_key: &[u8],
    ) -> Result<ServerBuilder, ServeError> {
        let config = tls::config_from_pem(cert_chain, private_key)?;
        Ok(self.tls(config))
    }

    /// Binds `addr` and starts serving on a background thread; returns once the socket
    /// listens.
    ///
    /// # Errors
    ///
    /// [`ServeError::Bind`] if the address cannot be resolved or listened on, or the
    /// server's runtime or thread cannot be started.
    pub fn bind(self, addr: impl ToSocketAddrs) -> Result<ServerHandle, ServeError> {
        let bind_err = |addr: &str, e: std::io::Error| ServeError::Bind {
            addr: addr.to_owned(),
            source: Arc::new(e),
        };
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|e| bind_err("(unresolved address)", e))?
            .collect();
        let shown = addrs
            .first()
            .map_or_else(|| "(no address)".to_owned(), ToString::to_string);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            // Threads that take over a worker's connections while it renders
            // (`block_in_place`); only collectors stuck in user code keep them long.
            .max_blocking_threads(16)
            .thread_name("tachymeter-http")
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| bind_err(&shown, e))?;
        let listener = {
            let _guard = runtime.enter();
            listen(&addrs).map_err(|e| bind_err(&shown, e))?
        };
        let local_addr = listener.local_addr().map_err(|e| bind_err(&shown, e))?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            wake: Notify::new(),
        });
        let server = Server::new(self);
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("tachymeter-http-accept".to_owned())
            .spawn(move || {
                let grace = server.shutdown_timeout;
                runtime.block_on(server.run(listener, s));
                // Whatever is still running (a response past the grace period, a collector
                // stuck in the blocking pool) is dropped or abandoned here.
                runtime.shutdown_timeout(Duration::from_millis(100).min(grace));
            })
            .map_err(|e| bind_err(&shown, e))?;
        Ok(ServerHandle {
            local_addr,
            shared,
            thread: Some(thread),
        })
    }
}

/// Pending connections the kernel queues before the accept loop takes them: std's 128 lets a
/// burst of connects (a flood, or many scrapers starting at once) see dropped SYNs and a
/// one-second retransmit.
const BACKLOG: u32 = 1024;

/// Listens on the first of `addrs` that can be bound, as `std::net::TcpListener::bind`
/// does, with a deeper backlog. Must run inside the runtime.
fn listen(addrs: &[SocketAddr]) -> std::io::Result<TcpListener> {
    let mut last = None;
    for a in addrs {
        let socket = if a.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        };
        let bound = socket.and_then(|s| {
            // As std does on Unix: a restarted server can rebind while old connections
            // linger in TIME_WAIT.
            #[cfg(unix)]
            s.set_reuseaddr(true)?;
            s.bind(*a)?;
            s.listen(BACKLOG)
        });
        match bound {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to listen on")
    }))
}

fn invalid(option: &'static str, reason: &'static str) -> ServeError {
    ServeError::InvalidOption { option, reason }
}

fn check_path(option: &'static str, p: &str) -> Result<(), ServeError> {
    if !p.starts_with('/') {
        return Err(invalid(option, "must start with '/'"));
    }
    if p.bytes()
        .any(|b| b <= b' ' || b == 0x7f || b == b'?' || b == b'#' || !b.is_ascii())
    {
        return Err(invalid(
            option,
            "must be a plain ASCII path without '?', '#', spaces or control characters",
        ));
    }
    Ok(())
}

/// What the handle shares with the server thread.
#[derive(Debug)]
struct Shared {
    stop: AtomicBool,
    wake: Notify,
}

/// The server's configuration and state on its runtime.
struct Server {
    routes: Arc<Routes>,
    http: http1::Builder,
    conns: Arc<Conns>,
    deadlines: Deadlines,
    max_connections: usize,
    shutdown_timeout: Duration,
    #[cfg(feature = "server-tls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Server {
    fn new(b: ServerBuilder) -> Server {
        let mut http = http1::Builder::new();
        http.keep_alive(true)
            // Our own clocks (conn.rs) replace hyper's header timer, which would also cut
            // idle keep-alive connections at the header deadline.
            .header_read_timeout(None)
            .max_headers(b.max_headers)
            .max_header_size(b.max_header_bytes)
            .max_buf_size(b.max_header_bytes.max(MIN_BUF));
        Server {
            routes: Arc::new(Routes {
                registry: b.registry,
                path: b.path,
                health_path: b.health_path,
                auth: b.auth,
            }),
            http,
            conns: Arc::new(Conns::default()),
            deadlines: b.deadlines,
            max_connections: b.max_connections,
            shutdown_timeout: b.shutdown_timeout,
            #[cfg(feature = "server-tls")]
            tls: b.tls.map(tokio_rustls::TlsAcceptor::from),
        }
    }

    async fn run(self, listener: TcpListener, shared: Arc<Shared>) {
        let this = Arc::new(self);
        // The accept loop runs on a worker, so a new connection's task usually starts on
        // the thread that accepted it (tokio's LIFO slot) instead of waking another one.
        let acceptor = this.clone();
        let accepting = tokio::spawn(async move {
            acceptor.accept_loop(&listener, &shared).await;
            // `listener` drops here: the port closes before connections are drained.
        });
        // The loop only ends by shutdown; a panic in it would be a bug, and stops it too.
        let _ = accepting.await;
        this.conns.close_all();
        let deadline = tokio::time::Instant::now() + this.shutdown_timeout;
        while this.conns.len() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn accept_loop(self: &Arc<Self>, listener: &TcpListener, shared: &Shared) {
        const MIN_BACKOFF: Duration = Duration::from_millis(5);
        const MAX_BACKOFF: Duration = Duration::from_secs(1);
        let mut backoff = MIN_BACKOFF;
        loop {
            // Acquire: pairs with the Release store in `ServerHandle::shutdown`.
            if shared.stop.load(Ordering::Acquire) {
                return;
            }
            let accepted = tokio::select! {
                r = listener.accept() => r,
                () = shared.wake.notified() => continue,
            };
            match accepted {
                Ok((tcp, _peer)) => {
                    backoff = MIN_BACKOFF;
                    if self.conns.len() >= self.max_connections && !self.conns.evict_one() {
                        refuse(&tcp);
                        continue;
                    }
                    let (id, state) = self.conns.insert();
                    tokio::spawn(self.clone().serve(tcp, id, state));
                }
                // The peer gave up before we accepted: nothing to do.
                Err(e) if per_connection(&e) => {}
                // Out of file descriptors or memory: free what we can and retry later
                // instead of spinning (or, as a naive loop would, giving up for good).
                // Closing an idle connection frees a descriptor for the next accept, so the
                // wait stays short while there are idle ones; otherwise it doubles.
                Err(_) => {
                    let wait = if self.conns.evict_one() {
                        MIN_BACKOFF
                    } else {
                        let w = backoff;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        w
                    };
                    // A connection closing frees a descriptor: retry at once then.
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = self.conns.left.notified() => {}
                        () = shared.wake.notified() => {}
                    }
                }
            }
        }
    }

    async fn serve(self: Arc<Self>, tcp: TcpStream, id: u64, state: Arc<ConnState>) {
        /// Removes the connection from the table however its task ends.
        struct Leave<'a>(&'a Conns, u64);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.remove(self.1);
            }
        }
        let _leave = Leave(&self.conns, id);
        // Responses go out in one write; without this, Nagle holds the last segment of a
        // large body until the client's delayed ACK (~40 ms per keep-alive scrape).
        let _ = tcp.set_nodelay(true);
        let io = TimedIo::new(tcp, state.clone(), self.deadlines);
        #[cfg(feature = "server-tls")]
        if let Some(acceptor) = &self.tls {
            let handshake = tokio::select! {
                r = acceptor.accept(io) => r,
                () = state.evict.notified() => return,
                () = state.close.notified() => return,
            };
            if let Ok(stream) = handshake {
                self.drive(TokioIo::new(stream), &state).await;
            }
            return;
        }
        self.drive(TokioIo::new(io), &state).await;
    }

    async fn drive<I>(&self, io: I, state: &Arc<ConnState>)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let routes = self.routes.clone();
        let st = state.clone();
        let svc = service_fn(move |req| service::handle(req, routes.clone(), st.clone()));
        let conn = self.http.serve_connection(io, svc);
        tokio::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => return,
            () = state.evict.notified() => return,
            () = state.close.notified() => conn.as_mut().graceful_shutdown(),
        }
        // Shutting down: the response in progress (if any) finishes, then hyper closes.
        tokio::select! {
            _ = conn.as_mut() => {}
            () = state.evict.notified() => {}
        }
    }
}

/// Accept errors that concern only the connection being accepted.
fn per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    )
}

/// Tells a client over the connection limit why it is closed (best effort, never waits).
fn refuse(tcp: &TcpStream) {
    let _ = tcp.try_write(
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    );
}

/// A running scrape server (see [`start_http_server`] and [`ServerBuilder`]).
///
/// Dropping the handle leaves the server running until the process exits, as dropping a
/// `JoinHandle` leaves its thread running; call [`shutdown`](Self::shutdown) to stop it.
pub struct ServerHandle {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl core::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The address the server listens on (with the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the server and waits for it: the listening socket closes at once, idle
    /// keep-alive connections are closed, responses in progress get the builder's
    /// [`shutdown_timeout`](ServerBuilder::shutdown_timeout) (default 3 s) to finish, and
    /// whatever remains is dropped. Returns within that timeout plus about 0.1 s, whatever
    /// the clients do (a collector stuck in user code is abandoned, not waited for).
    pub fn shutdown(mut self) {
        // Release: pairs with the Acquire load in the accept loop.
        self.shared.stop.store(true, Ordering::Release);
        // A stored permit if the loop is not waiting right now, so the wake-up is not lost.
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            // The server thread does not panic (errors become statuses); if it did, there
            // is nothing left to stop.
            let _ = t.join();
        }
    }
}
