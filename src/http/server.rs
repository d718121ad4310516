//! Module implementing the built-in scrape server on `tiny_http`. See [`start_http_server`].

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

use super::{Renderer, ServeError};
use crate::Registry;

/// Worker threads answering scrapes. Encoding holds the registry's lock, so more workers
/// would not encode faster; two keep one slow client from delaying the next scraper.
const WORKERS: usize = 2;

/// Starts serving `registry` at `http://addr/metrics` on background threads and returns at
/// once.
///
/// * `GET` and `HEAD /metrics` answer 200 with the format negotiated from `Accept`
///   (OpenMetrics 1.0.0 when asked for, else text 0.0.4; see [`negotiate`](super::negotiate)),
///   gzip when `Accept-Encoding` allows it, and `?name[]=family` filtering (400 for a bad
///   query string, 500 if a custom collector fails).
/// * Other methods on `/metrics` answer 405 with `Allow: GET, HEAD`; other paths 404.
/// * Scrapes are answered by two worker threads (plus `tiny_http`'s connection threads), each
///   reusing its buffers. Recording metrics never waits for a scrape.
///
/// Port 0 picks a free port: read it from [`ServerHandle::local_addr`]. The server stops
/// when the handle is shut down or dropped, so keep the handle alive.
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
/// [`ServeError::Bind`] if the address cannot be resolved or listened on.
pub fn start_http_server(
    addr: impl ToSocketAddrs,
    registry: &Registry,
) -> Result<ServerHandle, ServeError> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| ServeError::Bind {
            addr: "(unresolved address)".to_owned(),
            source: Arc::new(e),
        })?
        .collect();
    let shown = addrs
        .first()
        .map_or_else(|| "(no address)".to_owned(), ToString::to_string);
    let server = Server::http(&addrs[..]).map_err(|e| ServeError::Bind {
        addr: shown.clone(),
        source: Arc::from(e),
    })?;
    let local_addr = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| ServeError::Bind {
            addr: shown,
            source: Arc::new(std::io::Error::other("not an IP listener")),
        })?;
    let server = Arc::new(server);
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::with_capacity(WORKERS);
    for i in 0..WORKERS {
        let (s, st, r) = (server.clone(), stop.clone(), registry.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("tachymeter-http-{i}"))
            .spawn(move || serve(&s, &st, &r));
        match spawned {
            Ok(h) => workers.push(h),
            Err(e) => {
                let handle = ServerHandle {
                    local_addr,
                    server,
                    stop,
                    workers,
                };
                drop(handle);
                return Err(ServeError::Bind {
                    addr: local_addr.to_string(),
                    source: Arc::new(e),
                });
            }
        }
    }
    Ok(ServerHandle {
        local_addr,
        server,
        stop,
        workers,
    })
}

/// A running scrape server (see [`start_http_server`]). Dropping it stops the server, like
/// [`shutdown`](Self::shutdown).
#[must_use = "the server stops when the handle is dropped"]
pub struct ServerHandle {
    local_addr: SocketAddr,
    server: Arc<Server>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
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

    /// Stops the server: the workers finish the scrape they are answering and their threads
    /// are joined; then the listening socket is closed (by `tiny_http`'s accept thread,
    /// moments after this returns).
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if self.workers.is_empty() {
            return;
        }
        // Release: pairs with the Acquire load in `serve` after an unblocked `recv`.
        self.stop.store(true, Ordering::Release);
        for _ in &self.workers {
            // Each call wakes exactly one blocked `recv`, and each worker exits on its first
            // wake-up once `stop` is set.
            self.server.unblock();
        }
        for w in self.workers.drain(..) {
            // A worker does not panic (it answers errors with a status); if it did, there is
            // nothing left to clean up for it.
            let _ = w.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

fn serve(server: &Server, stop: &AtomicBool, registry: &Registry) {
    let mut renderer = Renderer::new();
    loop {
        match server.recv() {
            Ok(request) => answer(request, &mut renderer, registry),
            // Acquire: pairs with the Release store in `stop_and_join`.
            Err(_) if stop.load(Ordering::Acquire) => return,
            // An accept error (e.g. too many open files) is reported once per failure; the
            // listener keeps going, so do we.
            Err(_) => {}
        }
    }
}

fn header(name: &'static str, value: &str) -> Header {
    // Only called with ASCII names and values from this module.
    Header::from_bytes(name, value).expect("static ASCII header")
}

fn plain(status: u16, text: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(text)
        .with_status_code(StatusCode(status))
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

fn answer(request: Request, renderer: &mut Renderer, registry: &Registry) {
    let (path, query) = match request.url().split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (request.url(), None),
    };
    // Errors writing an answer mean the client went away; nothing to do about it.
    if path != "/metrics" {
        let _ = request.respond(plain(404, "Not Found: metrics are served at /metrics\n"));
        return;
    }
    if !matches!(request.method(), Method::Get | Method::Head) {
        let r = plain(405, "Method Not Allowed: use GET or HEAD\n")
            .with_header(header("Allow", "GET, HEAD"));
        let _ = request.respond(r);
        return;
    }
    let find = |name: &'static str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.as_str())
    };
    let rendered = renderer.render(
        registry,
        find("Accept"),
        find("Accept-Encoding"),
        query.filter(|q| !q.is_empty()),
    );
    match rendered {
        Ok(r) => {
            let mut headers = vec![
                header("Content-Type", r.content_type),
                header("Vary", "Accept, Accept-Encoding"),
            ];
            if let Some(enc) = r.content_encoding {
                headers.push(header("Content-Encoding", enc));
            }
            let len = r.body.len();
            let _ = request.respond(Response::new(
                StatusCode(200),
                headers,
                r.body,
                Some(len),
                None,
            ));
        }
        Err(e) => {
            let _ = request.respond(plain(e.status(), &format!("{e}\n")));
        }
    }
}
