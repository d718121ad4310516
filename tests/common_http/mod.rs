//! Test support for the HTTP tests: real peers (Prometheus, Pushgateway) found through
//! `TACHYMETER_*` environment variables or `PATH`, started on free loopback ports and killed
//! by PID on drop; a capture server; a tiny JSON reader; bounded waiting.
//!
//! Rules: a missing peer fails the test when `CI=true`, else it prints
//! `SKIPPED (peer missing)` and the test returns; every loop is bounded; only 127.0.0.1.
#![allow(dead_code, unreachable_pub)] // each test file uses a different part; a test-only module

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Polls `f` every `step` until it returns true or `limit` passes.
pub fn wait_until(limit: Duration, step: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if f() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(step);
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// The peer binary from `env_var`, else `name` on `PATH`. `None` (after printing
/// `SKIPPED (peer missing)`) when absent; panics instead when `CI=true`.
pub fn require_peer(env_var: &str, name: &str) -> Option<PathBuf> {
    let found = std::env::var_os(env_var)
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        });
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("peer {name} missing (set {env_var} or put it on PATH); CI=true requires it");
        }
        eprintln!("SKIPPED (peer missing): {name} (set {env_var} or put it on PATH)");
    }
    found
}

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "tachymeter-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A started peer process; killed by PID (and reaped) on drop.
pub struct Peer {
    child: Child,
    pub addr: SocketAddr,
    _dir: TempDir,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    fn start(bin: &Path, args: &[String], addr: SocketAddr, dir: TempDir) -> Peer {
        let log = std::fs::File::create(dir.0.join("log")).expect("log file");
        let child = Command::new(bin)
            .args(args)
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let peer = Peer {
            child,
            addr,
            _dir: dir,
        };
        let ready = wait_until(Duration::from_secs(20), Duration::from_millis(50), || {
            get(addr, "/-/ready", &[]).is_ok_and(|r| r.status == 200)
        });
        assert!(
            ready,
            "{} not ready on {addr}: {}",
            bin.display(),
            peer.log()
        );
        peer
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.0.join("log")).unwrap_or_default()
    }

    /// Prometheus on a free loopback port with this `scrape_configs` YAML body.
    pub fn prometheus(scrape_configs: &str) -> Option<Peer> {
        let bin = require_peer("TACHYMETER_PROMETHEUS", "prometheus")?;
        let dir = TempDir::new("prometheus");
        let cfg = dir.0.join("prometheus.yml");
        std::fs::write(&cfg, format!("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{scrape_configs}"))
            .expect("write config");
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let args = vec![
            format!("--config.file={}", cfg.display()),
            format!("--web.listen-address={addr}"),
            format!("--storage.tsdb.path={}", dir.0.join("data").display()),
        ];
        Some(Peer::start(&bin, &args, addr, dir))
    }

    /// Pushgateway on a free loopback port, without persistence.
    pub fn pushgateway() -> Option<Peer> {
        let bin = require_peer("TACHYMETER_PUSHGATEWAY", "prometheus-pushgateway")?;
        let dir = TempDir::new("pushgateway");
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let args = vec![
            format!("--web.listen-address={addr}"),
            "--persistence.file=".to_owned(),
        ];
        Some(Peer::start(&bin, &args, addr, dir))
    }
}

/// A parsed HTTP message (request or response) from the tiny helpers below.
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// Request: method; response: unused.
    pub method: String,
    /// Request: path with query.
    pub path: String,
    /// Response: status code.
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
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

/// A one-shot `GET`/`HEAD`/... over a fresh connection (`Connection: close`).
pub fn request(
    method: &str,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Message> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut r = BufReader::new(s);
    let (start, headers) = read_head(&mut r)?
        .ok_or_else(|| std::io::Error::other("connection closed before an answer"))?;
    let status = start
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {start:?}")))?;
    let mut body = Vec::new();
    if method != "HEAD" {
        r.read_to_end(&mut body)?;
    }
    Ok(Message {
        status,
        headers,
        body,
        ..Message::default()
    })
}

pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Message> {
    request("GET", addr, path, headers)
}

/// Percent-encodes a query parameter value.
pub fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What a capture server answers.
#[derive(Clone, Debug)]
pub enum Answer {
    /// This status and body.
    Reply(u16, &'static str),
    /// Read the request, then say nothing until the server is dropped.
    Silence,
}

/// A loopback HTTP server that records every request and answers from a script (the last
/// answer repeats).
pub struct CaptureServer {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Message>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CaptureServer {
    pub fn start(script: Vec<Answer>) -> CaptureServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (reqs, st) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut n = 0;
            // Bounded: at most 60 s and 10 000 connections.
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut silent = Vec::new();
            while !st.load(Ordering::Acquire) && Instant::now() < deadline && n < 10_000 {
                let (stream, _) = match listener.accept() {
                    Ok(c) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                let answer = script[n.min(script.len() - 1)].clone();
                n += 1;
                if let Some(s) = serve_one(stream, &answer, &reqs) {
                    silent.push(s); // keep it open, unanswered
                }
            }
        });
        CaptureServer {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn requests(&self) -> Vec<Message> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for CaptureServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(stream: TcpStream, answer: &Answer, reqs: &Mutex<Vec<Message>>) -> Option<TcpStream> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut r = BufReader::new(stream.try_clone().ok()?);
    let (start, headers) = read_head(&mut r).ok()??;
    let mut parts = start.split(' ');
    let mut msg = Message {
        method: parts.next().unwrap_or("").to_owned(),
        path: parts.next().unwrap_or("").to_owned(),
        headers,
        ..Message::default()
    };
    let len: usize = msg
        .header("Content-Length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    msg.body = body;
    reqs.lock().unwrap().push(msg);
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
        Answer::Silence => Some(stream),
    }
}

/// A JSON value, enough to read the Pushgateway's and Prometheus' APIs.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(BTreeMap<String, Json>),
}

impl Json {
    pub fn parse(s: &str) -> Json {
        let b = s.as_bytes();
        let mut i = 0;
        let v = Self::value(b, &mut i);
        v.unwrap_or_else(|| panic!("bad JSON at {i}: {s}"))
    }

    pub fn get(&self, key: &str) -> &Json {
        static NULL: Json = Json::Null;
        match self {
            Json::Obj(m) => m.get(key).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    pub fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            _ => &[],
        }
    }

    pub fn str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn obj(&self) -> Option<&BTreeMap<String, Json>> {
        match self {
            Json::Obj(m) => Some(m),
            _ => None,
        }
    }

    fn ws(b: &[u8], i: &mut usize) {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    }

    fn value(b: &[u8], i: &mut usize) -> Option<Json> {
        Self::ws(b, i);
        match *b.get(*i)? {
            b'{' => {
                *i += 1;
                let mut m = BTreeMap::new();
                loop {
                    Self::ws(b, i);
                    if b.get(*i) == Some(&b'}') {
                        *i += 1;
                        return Some(Json::Obj(m));
                    }
                    let Json::Str(k) = Self::value(b, i)? else {
                        return None;
                    };
                    Self::ws(b, i);
                    (b.get(*i) == Some(&b':')).then_some(())?;
                    *i += 1;
                    let v = Self::value(b, i)?;
                    m.insert(k, v);
                    Self::ws(b, i);
                    if b.get(*i) == Some(&b',') {
                        *i += 1;
                    }
                }
            }
            b'[' => {
                *i += 1;
                let mut a = Vec::new();
                loop {
                    Self::ws(b, i);
                    if b.get(*i) == Some(&b']') {
                        *i += 1;
                        return Some(Json::Arr(a));
                    }
                    a.push(Self::value(b, i)?);
                    Self::ws(b, i);
                    if b.get(*i) == Some(&b',') {
                        *i += 1;
                    }
                }
            }
            b'"' => {
                *i += 1;
                let mut out = Vec::new();
                loop {
                    match *b.get(*i)? {
                        b'"' => {
                            *i += 1;
                            return String::from_utf8(out).ok().map(Json::Str);
                        }
                        b'\\' => {
                            let c = *b.get(*i + 1)?;
                            *i += 2;
                            match c {
                                b'n' => out.push(b'\n'),
                                b't' => out.push(b'\t'),
                                b'r' => out.push(b'\r'),
                                b'b' => out.push(8),
                                b'f' => out.push(12),
                                b'u' => {
                                    let hex = std::str::from_utf8(b.get(*i..*i + 4)?).ok()?;
                                    let mut cp = u32::from_str_radix(hex, 16).ok()?;
                                    *i += 4;
                                    if (0xD800..0xDC00).contains(&cp) && b.get(*i) == Some(&b'\\') {
                                        let lo =
                                            std::str::from_utf8(b.get(*i + 2..*i + 6)?).ok()?;
                                        let lo = u32::from_str_radix(lo, 16).ok()?;
                                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                        *i += 6;
                                    }
                                    let mut buf = [0; 4];
                                    out.extend_from_slice(
                                        char::from_u32(cp)?.encode_utf8(&mut buf).as_bytes(),
                                    );
                                }
                                c => out.push(c),
                            }
                        }
                        c => {
                            out.push(c);
                            *i += 1;
                        }
                    }
                }
            }
            b't' if b[*i..].starts_with(b"true") => {
                *i += 4;
                Some(Json::Bool(true))
            }
            b'f' if b[*i..].starts_with(b"false") => {
                *i += 5;
                Some(Json::Bool(false))
            }
            b'n' if b[*i..].starts_with(b"null") => {
                *i += 4;
                Some(Json::Null)
            }
            _ => {
                let start = *i;
                while *i < b.len() && b"+-.eE0123456789".contains(&b[*i]) {
                    *i += 1;
                }
                std::str::from_utf8(&b[start..*i])
                    .ok()?
                    .parse()
                    .ok()
                    .map(Json::Num)
            }
        }
    }
}
