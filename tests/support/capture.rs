//! Loopback stand-ins for the other end of a connection: a [`CaptureServer`] that records the
//! requests a client sends and answers from a script, and a [`LoggingProxy`] that sits between
//! a real peer and our server and records the traffic both ways.
//!
//! Both bind 127.0.0.1 only, run bounded loops, and stop their accept thread on drop.

use super::*;

use std::io::{BufRead, BufReader};
use std::net::Shutdown;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// How long an accept thread lives at most, whether or not it is dropped.
const ACCEPT_LIFETIME: Duration = Duration::from_secs(120);

/// At most this many connections per listener.
const MAX_CONNECTIONS: usize = 10_000;

/// A 127.0.0.1 listener whose thread hands each connection to `serve`, in order. The thread
/// ends on drop (which joins it), after [`ACCEPT_LIFETIME`] or after [`MAX_CONNECTIONS`];
/// `serve` is dropped with it, and so is every stream it kept.
struct Acceptor {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Acceptor {
    fn start(serve: impl FnMut(TcpStream) + Send + 'static) -> Acceptor {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        Acceptor::start_on(listener, serve)
    }

    fn start_on(
        listener: TcpListener,
        mut serve: impl FnMut(TcpStream) + Send + 'static,
    ) -> Acceptor {
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local_addr");
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = thread::spawn(move || {
            let deadline = Instant::now() + ACCEPT_LIFETIME;
            let mut n = 0;
            while !st.load(Ordering::Acquire) && Instant::now() < deadline && n < MAX_CONNECTIONS {
                match listener.accept() {
                    Ok((stream, _)) => {
                        n += 1;
                        serve(stream);
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Acceptor {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request as a [`CaptureServer`] received it.
#[derive(Debug, Clone, Default)]
pub struct CapturedRequest {
    pub method: String,
    /// Path with query, as on the request line.
    pub path: String,
    /// In order received; names as sent.
    pub headers: Vec<(String, String)>,
    /// `Content-Length` bytes of body.
    pub body: Vec<u8>,
    /// When the request was read completely.
    pub at: Option<Instant>,
}

impl CapturedRequest {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Body as UTF-8 (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What a [`CaptureServer`] answers to one request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// This status and `text/plain` body.
    Reply(u16, &'static str),
    /// This status, these extra headers and a `text/plain` body.
    ReplyWith(u16, &'static [(&'static str, &'static str)], &'static str),
    /// Read the request, then say nothing (and keep the connection open) until the server is
    /// dropped.
    Silence,
}

/// A loopback HTTP/1.1 server that records every request and answers from a script: the n-th
/// connection gets `script[n]`, the last answer repeats. One request per connection.
pub struct CaptureServer {
    acceptor: Acceptor,
    requests: Arc<Mutex<Vec<CapturedRequest>>>,
}

impl CaptureServer {
    pub fn start(script: Vec<Answer>) -> CaptureServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        CaptureServer::start_on(listener, script)
    }

    /// [`start`](Self::start) on `127.0.0.1:port` (e.g. a port a client already targets).
    pub fn start_at(port: u16, script: Vec<Answer>) -> CaptureServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the given port");
        CaptureServer::start_on(listener, script)
    }

    fn start_on(listener: TcpListener, script: Vec<Answer>) -> CaptureServer {
        assert!(!script.is_empty(), "a capture server needs an answer");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let reqs = requests.clone();
        let mut silent = Vec::new();
        let mut n = 0;
        let acceptor = Acceptor::start_on(listener, move |stream| {
            let answer = &script[n.min(script.len() - 1)];
            n += 1;
            if let Some(s) = serve_one(stream, answer, &reqs) {
                silent.push(s); // kept open, unanswered, until the acceptor ends
            }
        });
        CaptureServer { acceptor, requests }
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.acceptor.addr)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<CapturedRequest> {
        self.requests.lock().unwrap().clone()
    }
}

/// A start line and its headers.
type Head = (String, Vec<(String, String)>);

/// Reads the start line and headers of one HTTP/1.1 message; `None` at a clean EOF.
fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<Head>> {
    let mut start = String::new();
    if r.read_line(&mut start)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    for _ in 0..200 {
        let mut line = String::new();
        r.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((n, v)) = line.split_once(':') {
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }
    Ok(Some((start.trim_end().to_owned(), headers)))
}

/// Reads one request, records it and answers; gives the stream back when told to stay silent.
fn serve_one(
    stream: TcpStream,
    answer: &Answer,
    reqs: &Mutex<Vec<CapturedRequest>>,
) -> Option<TcpStream> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut r = BufReader::new(stream.try_clone().ok()?);
    let (start, headers) = read_head(&mut r).ok()??;
    let mut parts = start.split(' ');
    let mut req = CapturedRequest {
        method: parts.next().unwrap_or("").to_owned(),
        path: parts.next().unwrap_or("").to_owned(),
        headers,
        body: Vec::new(),
        at: None,
    };
    let len: usize = req
        .header("Content-Length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    req.body = body;
    req.at = Some(Instant::now());
    reqs.lock().unwrap().push(req);
    match answer {
        Answer::Reply(status, text) => {
            let mut s = stream;
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            None
        }
        Answer::ReplyWith(status, headers, text) => {
            let mut s = stream;
            let mut head = format!("HTTP/1.1 {status} X\r\n");
            for (n, v) in *headers {
                head.push_str(&format!("{n}: {v}\r\n"));
            }
            let _ = write!(
                s,
                "{head}Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            None
        }
        Answer::Silence => Some(stream),
    }
}

/// A loopback HTTP proxy to `target` for requests with a `Content-Length` body (remote
/// write): records each request as received, forwards it with `Connection: close`, and
/// relays the whole answer. One request per connection.
pub struct RecordingProxy {
    acceptor: Acceptor,
    requests: Arc<Mutex<Vec<CapturedRequest>>>,
}

impl RecordingProxy {
    pub fn start(target: SocketAddr) -> RecordingProxy {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let reqs = requests.clone();
        let acceptor = Acceptor::start(move |client| {
            let reqs = reqs.clone();
            thread::spawn(move || {
                let _ = proxy_one(client, target, &reqs);
            });
        });
        RecordingProxy { acceptor, requests }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.acceptor.addr)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<CapturedRequest> {
        self.requests.lock().unwrap().clone()
    }
}

fn proxy_one(
    client: TcpStream,
    target: SocketAddr,
    reqs: &Mutex<Vec<CapturedRequest>>,
) -> std::io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(client.try_clone()?);
    let Some((start, headers)) = read_head(&mut r)? else {
        return Ok(());
    };
    let len: usize = find_header(&headers, "Content-Length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    let mut parts = start.split(' ');
    let req = CapturedRequest {
        method: parts.next().unwrap_or("").to_owned(),
        path: parts.next().unwrap_or("").to_owned(),
        headers: headers.clone(),
        body: body.clone(),
        at: Some(Instant::now()),
    };
    reqs.lock().unwrap().push(req);
    let mut up = TcpStream::connect_timeout(&target, HTTP_TIMEOUT)?;
    up.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = format!("{start}\r\n");
    for (n, v) in headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("connection"))
    {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("Connection: close\r\n\r\n");
    up.write_all(head.as_bytes())?;
    up.write_all(&body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    let mut c = client;
    c.write_all(&answer)?;
    c.shutdown(Shutdown::Both)
}

/// What a [`LoggingProxy`] has seen: request heads as forwarded, and response bytes (each
/// capped at [`LoggingProxy::CAP`]).
#[derive(Debug, Clone, Default)]
pub struct ProxyLog {
    pub requests: Vec<u8>,
    pub responses: Vec<u8>,
}

impl ProxyLog {
    /// Whether some forwarded request contains `needle` (ignoring ASCII case).
    pub fn requests_contain(&self, needle: &str) -> bool {
        bytes_contain(&self.requests, needle)
    }

    /// Whether some response contains `needle` (ignoring ASCII case).
    pub fn responses_contain(&self, needle: &str) -> bool {
        bytes_contain(&self.responses, needle)
    }
}

/// ASCII case-insensitive: HTTP field names are (hyper writes them in lowercase), and the
/// needles here are header lines such as `Content-Encoding: gzip`.
fn bytes_contain(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// A loopback TCP proxy to `target` for bodiless requests (scrapes): logs the request heads
/// and the responses, and can replace each request's `Accept` header.
pub struct LoggingProxy {
    acceptor: Acceptor,
    log: Arc<Mutex<ProxyLog>>,
}

impl LoggingProxy {
    /// How many bytes each direction's log keeps.
    pub const CAP: usize = 1 << 20;

    pub fn start(target: SocketAddr, accept: Option<&'static str>) -> LoggingProxy {
        let log = Arc::new(Mutex::new(ProxyLog::default()));
        let log2 = log.clone();
        let acceptor = Acceptor::start(move |client| {
            let Ok(server) = TcpStream::connect_timeout(&target, HTTP_TIMEOUT) else {
                return;
            };
            for s in [&client, &server] {
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
            }
            let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                return;
            };
            let up = log2.clone();
            thread::spawn(move || forward_requests(c2, s2, accept, &up));
            let down = log2.clone();
            thread::spawn(move || forward_responses(server, client, &down));
        });
        LoggingProxy { acceptor, log }
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr
    }

    /// A copy of the traffic seen so far.
    pub fn log(&self) -> ProxyLog {
        self.log.lock().unwrap().clone()
    }
}

/// Forwards request heads (bodiless requests only), rewriting `Accept` if asked.
fn forward_requests(
    mut from: TcpStream,
    mut to: TcpStream,
    accept: Option<&str>,
    log: &Mutex<ProxyLog>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    for _ in 0..10_000_000 {
        match from.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
        if head.ends_with(b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&head).into_owned();
            let out: String = text
                .split_inclusive("\r\n")
                .map(|line| match accept {
                    Some(a) if line.to_ascii_lowercase().starts_with("accept:") => {
                        format!("Accept: {a}\r\n")
                    }
                    _ => line.to_owned(),
                })
                .collect();
            {
                let mut l = log.lock().unwrap();
                if l.requests.len() < LoggingProxy::CAP {
                    l.requests.extend_from_slice(out.as_bytes());
                }
            }
            if to.write_all(out.as_bytes()).is_err() {
                break;
            }
            head.clear();
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn forward_responses(mut from: TcpStream, mut to: TcpStream, log: &Mutex<ProxyLog>) {
    let mut buf = [0u8; 16 * 1024];
    for _ in 0..1_000_000 {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut l = log.lock().unwrap();
            if l.responses.len() < LoggingProxy::CAP {
                l.responses.extend_from_slice(&buf[..n]);
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
