//! Scrape load on the built-in HTTP server: many plain TCP clients scraping a ~46 KB body.
//!
//! ```text
//! cargo bench --bench scrape_load                                  # full run, 3 s a phase
//! SCRAPE_LOAD_SECS=1 cargo bench --bench scrape_load -- --clients 1,16 --mode keepalive
//! SCRAPE_LOAD_OUT=table.md cargo bench --bench scrape_load         # also write the table
//! ```
//!
//! What it does:
//!
//! * builds a registry whose Prometheus text exposition is about 46 KB (labelled counters and
//!   histograms; the real body size is printed), starts [`start_http_server`] on
//!   `127.0.0.1:0` in this process;
//! * for each mode, `close` (a new TCP connection per request, `Connection: close`) and
//!   `keepalive` (one persistent HTTP/1.1 connection per client), and each client count
//!   (1, 16, 64, 256), runs that many client threads for a fixed time. Clients are plain
//!   [`TcpStream`]s with `TCP_NODELAY`, a hand-written `GET /metrics` and a small response
//!   parser that reads `Content-Length` and chunked bodies to the end;
//! * reports per phase: requests/s (requests finished within the phase), mean / p50 / p99 /
//!   max latency of one request (write of the request to the last body byte; in `close` mode
//!   this includes the connect), the time until the median client and until *every* client
//!   got its first answer (starvation shows here; a client that got one only after the phase
//!   ended, once the others stopped, counts there too), clients with no answer within the
//!   phase, and errors;
//! * ends with the headline ratio: mean latency of one keep-alive client over that of one
//!   `close` client.
//!
//! It uses only the public API (metric registration, [`start_http_server`],
//! [`ServerHandle::local_addr`], [`ServerHandle::shutdown`]), so the same file measures any
//! server implementation behind that API (`benches/compare_server.sh` runs two revisions back
//! to back).
//!
//! Every wait is bounded: sockets have 5 s read/write/connect timeouts, each request has a
//! 10 s deadline, each phase has a request budget, and a watchdog exits the process if the
//! whole run overruns. Errors are counted and reported, never panicked on. In `close` mode
//! the client reads to the server's FIN, so the server (the active closer) holds the
//! TIME_WAIT state and the client's ephemeral ports are not used up.
//!
//! Settings (arguments after `--` win over environment variables):
//!
//! | argument | env | default |
//! | --- | --- | --- |
//! | `--secs S` | `SCRAPE_LOAD_SECS` | 3 (seconds per phase, fractions allowed) |
//! | `--clients 1,16,..` | `SCRAPE_LOAD_CLIENTS` | `1,16,64,256` |
//! | `--mode close,keepalive` | `SCRAPE_LOAD_MODE` | both |
//! | `--out FILE` | `SCRAPE_LOAD_OUT` | none (write the markdown table there too) |
//! | `--label NAME` | `SCRAPE_LOAD_LABEL` | none (a title line for the table) |
//! | `--body-bytes N` | `SCRAPE_LOAD_BODY_BYTES` | 46000 (target exposition size) |
//!
//! Without `--bench` on its command line (that is, under `cargo test --benches`) it runs a
//! short smoke test instead: 0.2 s phases at 1 and 4 clients.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tachymeter::{start_http_server, Counter, Format, Histogram, Registry, ServerHandle};

/// Read, write and connect timeout on every client socket.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest one request may take, however slowly the bytes trickle in.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Most requests (connections, in `close` mode) one phase may start, across all clients, so
/// that a fast server cannot make one phase open an unbounded number of connections. When a
/// phase reaches it, its requests/s are computed over the time it took to get there.
const PHASE_REQUEST_BUDGET: i64 = 60_000;
/// Latency samples kept per client (memory bound); requests past it still count.
const MAX_SAMPLES_PER_CLIENT: usize = 1 << 20;
/// Longest status or header line accepted from the server.
const MAX_LINE: u64 = 16 * 1024;
/// Most header lines accepted in one response.
const MAX_HEADERS: usize = 100;
/// Largest body accepted (the benchmark body is ~46 KB).
const MAX_BODY: u64 = 64 << 20;
/// Pause after a failed request before the client tries again, so a refusing server does not
/// turn the client into a busy loop.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// Thread stack for client threads: they hold a few buffers, nothing deep.
const CLIENT_STACK: usize = 256 * 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// A fresh TCP connection per request, `Connection: close`, read to EOF.
    Close,
    /// One persistent HTTP/1.1 connection per client, reopened only after an error or a
    /// server-side close.
    KeepAlive,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Close => "close",
            Mode::KeepAlive => "keep-alive",
        }
    }
}

struct Config {
    secs: f64,
    clients: Vec<usize>,
    modes: Vec<Mode>,
    out: Option<String>,
    label: Option<String>,
    body_bytes: usize,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "scrape_load: {msg}\nusage: cargo bench --bench scrape_load -- [--secs S] \
         [--clients 1,16,64,256] [--mode close,keepalive] [--out FILE] [--label NAME] \
         [--body-bytes N]"
    );
    std::process::exit(2);
}

fn parse_clients(s: &str) -> Vec<usize> {
    let v: Vec<usize> = s
        .split(',')
        .map(|c| {
            c.trim()
                .parse()
                .ok()
                .filter(|&n| (1..=4096).contains(&n))
                .unwrap_or_else(|| usage(&format!("bad client count {c:?} (1..=4096)")))
        })
        .collect();
    if v.is_empty() {
        usage("no client counts");
    }
    v
}

fn parse_modes(s: &str) -> Vec<Mode> {
    s.split(',')
        .map(|m| match m.trim() {
            "close" => Mode::Close,
            "keepalive" | "keep-alive" => Mode::KeepAlive,
            other => usage(&format!("bad mode {other:?} (close, keepalive)")),
        })
        .collect()
}

fn parse_secs(s: &str) -> f64 {
    s.parse()
        .ok()
        .filter(|&v: &f64| v > 0.0 && v <= 600.0)
        .unwrap_or_else(|| usage(&format!("bad duration {s:?} (seconds, 0 < S <= 600)")))
}

fn config() -> Config {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    let mut c = Config {
        secs: env("SCRAPE_LOAD_SECS").map_or(3.0, |s| parse_secs(&s)),
        clients: env("SCRAPE_LOAD_CLIENTS")
            .map_or_else(|| vec![1, 16, 64, 256], |s| parse_clients(&s)),
        modes: env("SCRAPE_LOAD_MODE")
            .map_or_else(|| vec![Mode::Close, Mode::KeepAlive], |s| parse_modes(&s)),
        out: env("SCRAPE_LOAD_OUT"),
        label: env("SCRAPE_LOAD_LABEL"),
        body_bytes: env("SCRAPE_LOAD_BODY_BYTES").map_or(46_000, |s| {
            s.parse()
                .unwrap_or_else(|_| usage("bad SCRAPE_LOAD_BODY_BYTES"))
        }),
    };
    if !bench {
        // `cargo test --benches` runs this binary without `--bench`: a smoke test only.
        c.secs = 0.2;
        c.clients = vec![1, 4];
    }
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--bench" => {}
            "--secs" => c.secs = parse_secs(&value()),
            "--clients" => c.clients = parse_clients(&value()),
            "--mode" => c.modes = parse_modes(&value()),
            "--out" => c.out = Some(value()),
            "--label" => c.label = Some(value()),
            "--body-bytes" => {
                c.body_bytes = value()
                    .parse()
                    .unwrap_or_else(|_| usage("bad --body-bytes"))
            }
            "-h" | "--help" => usage("help"),
            // Cargo may pass a name filter or libtest flags; there is only one benchmark here.
            _ => {}
        }
    }
    c
}

/// A registry whose text exposition is at least `target` bytes: per-endpoint request
/// counters and latency histograms (default buckets), as a typical service exports them.
fn build_registry(target: usize) -> Result<Registry, Box<dyn std::error::Error>> {
    let registry = Registry::new();
    let requests = Counter::builder("http_requests_total", "HTTP requests handled.")
        .labels(["method", "path", "status"])
        .register(&registry)?;
    let latency = Histogram::builder(
        "http_request_duration_seconds",
        "Time to answer an HTTP request.",
    )
    .labels(["method", "path"])
    .register(&registry)?;
    let methods = ["GET", "POST", "PUT", "DELETE"];
    let statuses = ["200", "404", "500"];
    for endpoint in 0..10_000u32 {
        let path = format!("/api/v1/resource_{endpoint}");
        let method = methods[endpoint as usize % methods.len()];
        for (i, status) in statuses.iter().enumerate() {
            requests
                .with_label_values(&[method, &path, status])
                .inc_by(u64::from(endpoint * 97 + i as u32 * 13 + 1));
        }
        let h = latency.with_label_values(&[method, &path]);
        for k in 0..8u32 {
            h.observe(f64::from((endpoint + k * 7) % 50) / 20.0);
        }
        if registry.encode_to_string(Format::Text).len() >= target {
            break;
        }
    }
    Ok(registry)
}

/// Why one request failed.
#[derive(Clone, Copy)]
enum Failure {
    /// Connect refused, timed out, or no local port left (`EADDRNOTAVAIL`).
    Connect,
    /// A read or write timed out, or the request passed its deadline.
    Timeout,
    /// The server closed or reset the connection before the response was complete.
    Closed,
    /// The response did not parse (or broke a size limit).
    Protocol,
    /// A response other than 200.
    Status,
}

#[derive(Default, Clone)]
struct Errors {
    connect: u64,
    timeout: u64,
    closed: u64,
    protocol: u64,
    status: u64,
}

impl Errors {
    fn add(&mut self, f: Failure) {
        match f {
            Failure::Connect => self.connect += 1,
            Failure::Timeout => self.timeout += 1,
            Failure::Closed => self.closed += 1,
            Failure::Protocol => self.protocol += 1,
            Failure::Status => self.status += 1,
        }
    }

    fn merge(&mut self, o: &Errors) {
        self.connect += o.connect;
        self.timeout += o.timeout;
        self.closed += o.closed;
        self.protocol += o.protocol;
        self.status += o.status;
    }

    fn total(&self) -> u64 {
        self.connect + self.timeout + self.closed + self.protocol + self.status
    }

    fn describe(&self) -> String {
        if self.total() == 0 {
            return "0".to_owned();
        }
        let parts: Vec<String> = [
            ("connect", self.connect),
            ("timeout", self.timeout),
            ("closed", self.closed),
            ("protocol", self.protocol),
            ("status", self.status),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
        format!("{} ({})", self.total(), parts.join(", "))
    }
}

fn classify(e: &io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Failure::Timeout,
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => Failure::Closed,
        _ => Failure::Protocol,
    }
}

fn protocol(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

fn connect(addr: SocketAddr) -> Result<BufReader<TcpStream>, Failure> {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| match classify(&e) {
        Failure::Timeout => Failure::Timeout,
        _ => Failure::Connect,
    })?;
    let setup = s
        .set_nodelay(true)
        .and_then(|()| s.set_read_timeout(Some(IO_TIMEOUT)))
        .and_then(|()| s.set_write_timeout(Some(IO_TIMEOUT)));
    setup.map_err(|_| Failure::Connect)?;
    Ok(BufReader::with_capacity(64 * 1024, s))
}

/// One line (status or header) without its CRLF, at most [`MAX_LINE`] bytes.
fn read_line(r: &mut BufReader<TcpStream>, line: &mut String) -> io::Result<()> {
    line.clear();
    let n = r.by_ref().take(MAX_LINE).read_line(line)?;
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    if !line.ends_with('\n') {
        return Err(protocol("header line too long or cut off"));
    }
    let trimmed = line.trim_end_matches(['\r', '\n']).len();
    line.truncate(trimmed);
    Ok(())
}

fn check_deadline(deadline: Instant) -> io::Result<()> {
    if Instant::now() > deadline {
        Err(io::ErrorKind::TimedOut.into())
    } else {
        Ok(())
    }
}

/// Reads and discards exactly `n` body bytes.
fn discard(r: &mut BufReader<TcpStream>, mut n: u64, deadline: Instant) -> io::Result<()> {
    while n > 0 {
        check_deadline(deadline)?;
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let take = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
        r.consume(take);
        n -= take as u64;
    }
    Ok(())
}

/// What one response said, once its body has been read.
struct Response {
    status: u16,
    body_len: u64,
    /// The server said it closes the connection after this response.
    closes: bool,
    chunked: bool,
}

/// Reads one whole response: status line, headers, then a `Content-Length` or chunked body
/// (or, with neither, a body up to EOF).
fn read_response(r: &mut BufReader<TcpStream>, deadline: Instant) -> io::Result<Response> {
    let mut line = String::with_capacity(128);
    read_line(r, &mut line)?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|_| version.starts_with("HTTP/1."))
        .ok_or_else(|| protocol("bad status line"))?;
    let mut content_length = None;
    let mut chunked = false;
    let mut closes = version == "HTTP/1.0";
    let mut headers = 0;
    loop {
        check_deadline(deadline)?;
        read_line(r, &mut line)?;
        if line.is_empty() {
            break;
        }
        headers += 1;
        if headers > MAX_HEADERS {
            return Err(protocol("too many headers"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| protocol("header without a colon"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value.parse().map_err(|_| protocol("bad Content-Length"))?;
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            closes = value
                .split(',')
                .any(|v| v.trim().eq_ignore_ascii_case("close"));
        }
    }
    let body_len = if chunked {
        let mut total = 0u64;
        loop {
            check_deadline(deadline)?;
            read_line(r, &mut line)?;
            let size = line.split(';').next().unwrap_or("").trim();
            let n = u64::from_str_radix(size, 16).map_err(|_| protocol("bad chunk size"))?;
            total = total.saturating_add(n);
            if total > MAX_BODY {
                return Err(protocol("body too large"));
            }
            if n == 0 {
                // Trailers, then the empty line that ends the message.
                for _ in 0..=MAX_HEADERS {
                    read_line(r, &mut line)?;
                    if line.is_empty() {
                        break;
                    }
                }
                if !line.is_empty() {
                    return Err(protocol("too many trailers"));
                }
                break total;
            }
            discard(r, n, deadline)?;
            read_line(r, &mut line)?;
            if !line.is_empty() {
                return Err(protocol("chunk not followed by CRLF"));
            }
        }
    } else if let Some(n) = content_length {
        if n > MAX_BODY {
            return Err(protocol("body too large"));
        }
        discard(r, n, deadline)?;
        n
    } else {
        // No length: the body runs to EOF (only valid when the server closes).
        closes = true;
        let mut total = 0u64;
        loop {
            check_deadline(deadline)?;
            let buf = r.fill_buf()?;
            if buf.is_empty() {
                break total;
            }
            total += buf.len() as u64;
            let n = buf.len();
            r.consume(n);
            if total > MAX_BODY {
                return Err(protocol("body too large"));
            }
        }
    };
    Ok(Response {
        status,
        body_len,
        closes,
        chunked,
    })
}

/// Waits for the server's FIN after a `Connection: close` response (bounded by the socket
/// timeout), so that the server is the side that closes first.
fn await_close(r: &mut BufReader<TcpStream>) {
    let mut scratch = [0u8; 4096];
    let deadline = Instant::now() + IO_TIMEOUT;
    while Instant::now() < deadline {
        match r.read(&mut scratch) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn request_bytes(mode: Mode) -> &'static [u8] {
    match mode {
        Mode::Close => b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
        Mode::KeepAlive => b"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\nConnection: keep-alive\r\n\r\n",
    }
}

/// Sends one request on `conn` and reads the whole response.
fn exchange(conn: &mut BufReader<TcpStream>, mode: Mode) -> Result<Response, Failure> {
    let deadline = Instant::now() + REQUEST_DEADLINE;
    conn.get_mut()
        .write_all(request_bytes(mode))
        .map_err(|e| classify(&e))?;
    let resp = read_response(conn, deadline).map_err(|e| classify(&e))?;
    if resp.status != 200 {
        return Err(Failure::Status);
    }
    Ok(resp)
}

/// What one client thread saw in one phase.
#[derive(Default)]
struct ClientResult {
    /// Latency of each successful request, in microseconds.
    latencies_us: Vec<u32>,
    /// Successful requests finished before the phase deadline.
    ok_in_phase: u64,
    /// Time from phase start to this client's first successful answer.
    first_answer: Option<Duration>,
    errors: Errors,
    /// Keep-alive connections the server closed (or said it would) after a good response.
    server_closes: u64,
    chunked: u64,
    /// Time from phase start to this client's last success within the phase.
    last_ok: Option<Duration>,
    /// The client stopped because the phase's request budget was spent.
    budget_out: bool,
}

fn client(
    addr: SocketAddr,
    mode: Mode,
    start: Instant,
    end: Instant,
    budget: &AtomicI64,
) -> ClientResult {
    let mut res = ClientResult::default();
    let mut conn: Option<BufReader<TcpStream>> = None;
    loop {
        if Instant::now() >= end {
            break;
        }
        // Relaxed: the budget is a plain counter; no other memory is published through it.
        if budget.fetch_sub(1, Ordering::Relaxed) <= 0 {
            res.budget_out = true;
            break;
        }
        let t0 = Instant::now();
        let outcome = match conn.take() {
            Some(c) => Ok(c),
            None => connect(addr),
        }
        .and_then(|mut c| exchange(&mut c, mode).map(|r| (c, r)));
        match outcome {
            Ok((mut c, r)) => {
                let done = Instant::now();
                let us = u32::try_from(done.duration_since(t0).as_micros()).unwrap_or(u32::MAX);
                if res.latencies_us.len() < MAX_SAMPLES_PER_CLIENT {
                    res.latencies_us.push(us);
                }
                if done <= end {
                    res.ok_in_phase += 1;
                    res.last_ok = Some(done.duration_since(start));
                }
                if res.first_answer.is_none() {
                    res.first_answer = Some(done.duration_since(start));
                }
                res.chunked += u64::from(r.chunked);
                debug_assert!(r.body_len > 0);
                match mode {
                    Mode::Close => await_close(&mut c),
                    Mode::KeepAlive if r.closes => res.server_closes += 1,
                    Mode::KeepAlive => conn = Some(c),
                }
            }
            Err(f) => {
                res.errors.add(f);
                std::thread::sleep(ERROR_BACKOFF);
            }
        }
    }
    res
}

/// The figures of one phase, ready for the table.
struct Phase {
    mode: Mode,
    clients: usize,
    /// Threads that could not be started (counted, not fatal).
    spawn_failures: usize,
    rps: f64,
    mean_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    first_p50_ms: Option<f64>,
    first_all_ms: Option<f64>,
    /// Clients that got no answer within the phase's duration.
    never_answered: usize,
    errors: Errors,
    server_closes: u64,
    chunked: u64,
    ok: u64,
    /// Successful responses (within the phase or finishing just after it).
    latencies: u64,
    /// When the phase's request budget ran out (the phase then ended early).
    budget_spent_after: Option<Duration>,
}

fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    f64::from(sorted_us[rank.clamp(1, sorted_us.len()) - 1]) / 1000.0
}

/// Start and end of a phase, published to the client threads once all are spawned.
type Gate = (Mutex<Option<(Instant, Instant)>>, Condvar);

fn run_phase(addr: SocketAddr, mode: Mode, clients: usize, secs: f64) -> Phase {
    let dur = Duration::from_secs_f64(secs);
    let budget = Arc::new(AtomicI64::new(PHASE_REQUEST_BUDGET));
    let gate: Arc<Gate> = Arc::new((Mutex::new(None), Condvar::new()));
    let mut handles = Vec::with_capacity(clients);
    let mut spawn_failures = 0;
    for i in 0..clients {
        let (gate, budget) = (gate.clone(), budget.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("scrape-client-{i}"))
            .stack_size(CLIENT_STACK)
            .spawn(move || {
                let (lock, cv) = &*gate;
                let mut g = lock.lock().unwrap_or_else(PoisonError::into_inner);
                while g.is_none() {
                    g = cv.wait(g).unwrap_or_else(PoisonError::into_inner);
                }
                let (start, end) = g.unwrap_or_else(|| unreachable!());
                drop(g);
                client(addr, mode, start, end, &budget)
            });
        match spawned {
            Ok(h) => handles.push(h),
            // Counted and reported; the phase runs with the threads it has.
            Err(_) => spawn_failures += 1,
        }
    }
    let start = Instant::now();
    {
        let (lock, cv) = &*gate;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = Some((start, start + dur));
        cv.notify_all();
    }
    // A client that panicked (it should not) counts as one that never got an answer.
    let results = handles
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .collect();
    summarize(mode, clients, spawn_failures, dur, results)
}

fn summarize(
    mode: Mode,
    clients: usize,
    spawn_failures: usize,
    dur: Duration,
    results: Vec<ClientResult>,
) -> Phase {
    let mut all: Vec<u32> = Vec::new();
    let mut firsts: Vec<Duration> = Vec::new();
    let mut errors = Errors::default();
    let (mut ok, mut server_closes, mut chunked) = (0, 0, 0);
    let mut budget_out = false;
    let mut last_ok = Duration::ZERO;
    for r in &results {
        all.extend_from_slice(&r.latencies_us);
        firsts.extend(r.first_answer);
        errors.merge(&r.errors);
        ok += r.ok_in_phase;
        server_closes += r.server_closes;
        chunked += r.chunked;
        budget_out |= r.budget_out;
        last_ok = last_ok.max(r.last_ok.unwrap_or(Duration::ZERO));
    }
    let budget_spent_after = budget_out.then_some(last_ok);
    // Throughput over the time the phase actually ran.
    let window = budget_spent_after
        .filter(|d| !d.is_zero())
        .unwrap_or(dur)
        .min(dur);
    all.sort_unstable();
    firsts.sort_unstable();
    // Clients with no answer before the phase ended (some get one only once the others stop).
    let never_answered = clients - firsts.iter().filter(|&&f| f <= dur).count();
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let mean_ms = if all.is_empty() {
        f64::NAN
    } else {
        all.iter().map(|&u| f64::from(u)).sum::<f64>() / all.len() as f64 / 1000.0
    };
    Phase {
        mode,
        clients,
        spawn_failures,
        rps: ok as f64 / window.as_secs_f64(),
        mean_ms,
        p50_ms: percentile_ms(&all, 50.0),
        p99_ms: percentile_ms(&all, 99.0),
        max_ms: all.last().map_or(f64::NAN, |&u| f64::from(u) / 1000.0),
        first_p50_ms: firsts.get(firsts.len().saturating_sub(1) / 2).map(ms),
        first_all_ms: if firsts.len() == clients {
            firsts.last().map(ms)
        } else {
            None
        },
        never_answered,
        errors,
        server_closes,
        chunked,
        ok,
        latencies: all.len() as u64,
        budget_spent_after,
    }
}

fn fmt_ms(v: f64) -> String {
    if v.is_nan() {
        "-".to_owned()
    } else if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

fn table(cfg: &Config, body_len: u64, chunked_body: bool, phases: &[Phase]) -> String {
    let mut s = String::new();
    if let Some(l) = &cfg.label {
        s.push_str(&format!("### scrape_load: {l}\n\n"));
    }
    s.push_str(&format!(
        "Body {body_len} bytes (text 0.0.4{}), {} s per phase, {} CPUs.\n\n",
        if chunked_body {
            "; the first scrape came chunked"
        } else {
            "; the first scrape came with a length"
        },
        cfg.secs,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    ));
    s.push_str(
        "| mode | clients | req/s | mean ms | p50 ms | p99 ms | max ms | first answer p50 ms | all answered by ms | no answer in phase | errors |\n",
    );
    s.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    for p in phases {
        let mut errors = p.errors.describe();
        if let Some(d) = p.budget_spent_after {
            errors.push_str(&format!(
                "; request budget ({PHASE_REQUEST_BUDGET}) spent after {:.2} s",
                d.as_secs_f64()
            ));
        }
        if p.spawn_failures > 0 {
            errors.push_str(&format!("; {} threads not started", p.spawn_failures));
        }
        s.push_str(&format!(
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            p.mode.name(),
            p.clients,
            p.rps,
            fmt_ms(p.mean_ms),
            fmt_ms(p.p50_ms),
            fmt_ms(p.p99_ms),
            fmt_ms(p.max_ms),
            p.first_p50_ms.map_or_else(|| "-".to_owned(), fmt_ms),
            p.first_all_ms.map_or_else(|| "-".to_owned(), fmt_ms),
            p.never_answered,
            errors,
        ));
    }
    let find = |m: Mode| phases.iter().find(|p| p.mode == m && p.clients == 1);
    if let (Some(k), Some(c)) = (find(Mode::KeepAlive), find(Mode::Close)) {
        s.push_str(&format!(
            "\nOne client, keep-alive / close mean latency: {} ms / {} ms = {:.2}x\n",
            fmt_ms(k.mean_ms),
            fmt_ms(c.mean_ms),
            k.mean_ms / c.mean_ms
        ));
    }
    let framing: Vec<String> = [Mode::Close, Mode::KeepAlive]
        .iter()
        .filter_map(|&m| {
            let (c, n) = phases
                .iter()
                .filter(|p| p.mode == m)
                .fold((0, 0), |(c, n), p| (c + p.chunked, n + p.latencies));
            (n > 0).then(|| format!("{} {c} of {n}", m.name()))
        })
        .collect();
    if !framing.is_empty() {
        s.push_str(&format!("\nChunked responses: {}.\n", framing.join(", ")));
    }
    let closes: u64 = phases
        .iter()
        .filter(|p| p.mode == Mode::KeepAlive)
        .map(|p| p.server_closes)
        .sum();
    if closes > 0 {
        s.push_str(&format!(
            "\nThe server closed {closes} keep-alive connections after a response (reopened).\n"
        ));
    }
    s
}

/// Warns when the open-file limit is too low for the largest phase (Linux only; no libc).
fn check_fd_limit(max_clients: usize) {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok());
    // Each client holds one socket here and the in-process server one more.
    if let Some(soft) = soft {
        let need = 2 * max_clients + 64;
        if soft < need {
            eprintln!(
                "scrape_load: open-file soft limit {soft} is below the ~{need} the largest phase \
                 needs; raise it (ulimit -n {need}) or expect connect errors"
            );
        }
    }
}

/// Stops the server, but gives up waiting after a bound (a server whose shutdown hangs is a
/// finding, not a reason for the benchmark to hang).
fn shutdown_bounded(server: ServerHandle) {
    let (tx, rx) = mpsc::channel();
    let t0 = Instant::now();
    let spawned = std::thread::Builder::new()
        .name("scrape-shutdown".to_owned())
        .spawn(move || {
            server.shutdown();
            let _ = tx.send(());
        });
    if spawned.is_err() {
        eprintln!("scrape_load: could not start the shutdown thread; leaving the server running");
        return;
    }
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(()) => eprintln!(
            "shutdown() returned in {:.1} ms",
            t0.elapsed().as_secs_f64() * 1e3
        ),
        Err(_) => eprintln!("scrape_load: shutdown() did not return within 10 s"),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = config();
    let max_clients = cfg.clients.iter().copied().max().unwrap_or(1);
    check_fd_limit(max_clients);

    // Watchdog: every wait below is bounded, but if they add up to far more than planned,
    // say so and stop rather than hold a CI job.
    let phases_n = (cfg.clients.len() * cfg.modes.len()) as f64;
    let budget = Duration::from_secs_f64(phases_n * (cfg.secs + 25.0) + 60.0);
    std::thread::Builder::new()
        .name("scrape-watchdog".to_owned())
        .spawn(move || {
            std::thread::sleep(budget);
            eprintln!("scrape_load: watchdog: run exceeded {budget:?}, exiting");
            std::process::exit(3);
        })?;

    let registry = build_registry(cfg.body_bytes)?;
    let server = start_http_server("127.0.0.1:0", &registry)?;
    let addr = server.local_addr();

    // One keep-alive request first: checks the server answers and measures the body.
    let mut probe = connect(addr).map_err(|_| format!("cannot connect to {addr}"))?;
    let first = exchange(&mut probe, Mode::KeepAlive)
        .map_err(|_| format!("the first scrape of {addr} failed"))?;
    drop(probe);
    eprintln!(
        "scrape_load: server at {addr}, body {} bytes{}",
        first.body_len,
        if first.chunked { " (chunked)" } else { "" }
    );

    let mut phases = Vec::new();
    for &mode in &cfg.modes {
        for &clients in &cfg.clients {
            let p = run_phase(addr, mode, clients, cfg.secs);
            eprintln!(
                "  {:>10} x{:<4} {:>8.0} req/s  mean {} ms  p99 {} ms  all answered by {} ms  errors {}  ({} ok, {} chunked)",
                mode.name(),
                clients,
                p.rps,
                fmt_ms(p.mean_ms),
                fmt_ms(p.p99_ms),
                p.first_all_ms.map_or_else(|| "-".to_owned(), fmt_ms),
                p.errors.describe(),
                p.ok,
                p.chunked,
            );
            phases.push(p);
        }
    }
    shutdown_bounded(server);

    let t = table(&cfg, first.body_len, first.chunked, &phases);
    println!("\n{t}");
    if let Some(path) = &cfg.out {
        std::fs::write(path, &t).map_err(|e| format!("writing {path}: {e}"))?;
    }
    Ok(())
}
