//! Test support: the real peers our output is judged against.
//!
//! Include it from an integration test with `mod support;`. Only `std` is used.
//!
//! Peers (installed by `bash .ci/test`, see `.ci/README.md`):
//!
//! | peer | env var | fallback |
//! | --- | --- | --- |
//! | Python with `prometheus_client` | `TACHYMETER_PYTHON` | `.venv/bin/python` in the repo |
//! | `promtool` | `TACHYMETER_PROMTOOL` | `promtool` on `PATH` |
//! | `prometheus` | `TACHYMETER_PROMETHEUS` | `prometheus` on `PATH` |
//! | `prometheus-pushgateway` | `TACHYMETER_PUSHGATEWAY` | `prometheus-pushgateway` / `pushgateway` on `PATH` |
//!
//! A missing peer is a test failure when `CI` is set (a test that silently skips in CI is a
//! defect). Outside CI, the lookup functions print `SKIPPED (peer missing)` to stderr and return
//! `None`; guard a test with `if !support::have(&[Peer::Python]) { return; }`. The higher-level
//! helpers (`python_parse_text`, `start_pushgateway`, ...) always panic when their peer is
//! missing, so a test that forgets the guard fails loudly instead of passing vacuously.
//!
//! All helpers panic when the harness itself is broken (a peer that cannot be spawned, an
//! unexpected exit code); they return `Err` only for the verdict a test may assert on
//! (the peer rejected the body).

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::collections::BTreeMap;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------------
// Peer discovery
// ---------------------------------------------------------------------------------------------

/// The external programs tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Python,
    Promtool,
    Prometheus,
    Pushgateway,
}

impl Peer {
    pub fn env_var(self) -> &'static str {
        match self {
            Peer::Python => "TACHYMETER_PYTHON",
            Peer::Promtool => "TACHYMETER_PROMTOOL",
            Peer::Prometheus => "TACHYMETER_PROMETHEUS",
            Peer::Pushgateway => "TACHYMETER_PUSHGATEWAY",
        }
    }

    /// Path of the peer: env var, then fallbacks; `None` if missing (outside CI only).
    pub fn path(self) -> Option<PathBuf> {
        match self {
            Peer::Python => python(),
            Peer::Promtool => promtool(),
            Peer::Prometheus => prometheus_bin(),
            Peer::Pushgateway => pushgateway_bin(),
        }
    }
}

/// True when running under CI (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    match env::var("CI") {
        Ok(v) => !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "false" | "no"
        ),
        Err(_) => false,
    }
}

/// Repository root (where Cargo.toml of the crate under test lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn which(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Resolves a peer: `$VAR` if set (must exist), else the fallbacks in order.
fn resolve(peer: Peer, fallbacks: impl FnOnce() -> Vec<PathBuf>) -> Option<PathBuf> {
    let var = peer.env_var();
    if let Some(v) = env::var_os(var).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(&v);
        if is_executable(&p) {
            return Some(p);
        }
        // An explicit setting that points nowhere is a broken environment, never a skip.
        panic!("{var}={} is not an executable file", p.display());
    }
    if let Some(p) = fallbacks().into_iter().find(|p| is_executable(p)) {
        return Some(p);
    }
    if in_ci() {
        panic!(
            "peer {peer:?} missing in CI: set {var} or install it (bash .ci/test installs every peer)"
        );
    }
    eprintln!(
        "SKIPPED (peer missing): {peer:?} not found; set {var} or run `bash .ci/test`, which installs it"
    );
    None
}

pub fn python() -> Option<PathBuf> {
    resolve(Peer::Python, || {
        let mut fb = vec![repo_root().join(".venv/bin/python")];
        fb.extend(which("python3"));
        // A fallback only counts if it has prometheus_client.
        fb.into_iter()
            .filter(|p| {
                Command::new(p)
                    .args(["-c", "import prometheus_client.openmetrics.parser"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false)
            })
            .collect()
    })
}

pub fn promtool() -> Option<PathBuf> {
    resolve(Peer::Promtool, || which("promtool").into_iter().collect())
}

pub fn prometheus_bin() -> Option<PathBuf> {
    resolve(Peer::Prometheus, || {
        which("prometheus").into_iter().collect()
    })
}

pub fn pushgateway_bin() -> Option<PathBuf> {
    resolve(Peer::Pushgateway, || {
        ["prometheus-pushgateway", "pushgateway"]
            .iter()
            .filter_map(|n| which(n))
            .collect()
    })
}

/// True when every peer is available. Outside CI a missing peer prints `SKIPPED (peer missing)`
/// and gives `false` (return from the test); in CI it panics.
///
/// ```ignore
/// if !support::have(&[support::Peer::Promtool]) { return; }
/// ```
pub fn have(peers: &[Peer]) -> bool {
    peers.iter().all(|p| p.path().is_some())
}

/// The peer's path, or a panic naming what to install.
pub fn require(peer: Peer) -> PathBuf {
    peer.path().unwrap_or_else(|| {
        panic!(
            "peer {peer:?} missing: set {} or run `bash .ci/test` (guard the test with support::have)",
            peer.env_var()
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Running a peer
// ---------------------------------------------------------------------------------------------

/// Output of a finished peer process.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs `cmd` with `stdin` fed to it; panics if it cannot be spawned.
pub fn run_with_stdin(cmd: &mut Command, stdin: &[u8]) -> Finished {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmd:?}: {e}"));
    let mut pipe = child.stdin.take().expect("stdin piped");
    let data = stdin.to_vec();
    // Write from a thread so a peer that writes a lot before reading cannot deadlock us.
    let writer = thread::spawn(move || {
        // A peer may exit before reading everything (broken pipe): its exit code tells.
        let _ = pipe.write_all(&data);
    });
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {cmd:?}: {e}"));
    writer.join().expect("stdin writer thread");
    Finished {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// promtool
// ---------------------------------------------------------------------------------------------

/// Verdict of `promtool check metrics` (text format 0.0.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromtoolOutcome {
    /// Exit 0: parses, no lint findings.
    Clean,
    /// Exit 3: parses, but with lint findings (e.g. a counter without `_total`, missing HELP).
    Lint(String),
    /// Exit 1: does not parse.
    Error(String),
}

impl PromtoolOutcome {
    /// Parses (clean or lint-only).
    pub fn parses(&self) -> bool {
        !matches!(self, PromtoolOutcome::Error(_))
    }
}

/// Runs `promtool check metrics` with `body` on stdin.
pub fn promtool_check(body: &str) -> PromtoolOutcome {
    let promtool = require(Peer::Promtool);
    let out = run_with_stdin(
        Command::new(&promtool).args(["check", "metrics"]),
        body.as_bytes(),
    );
    let msg = format!("{}{}", out.stdout, out.stderr).trim().to_string();
    match out.code() {
        Some(0) => PromtoolOutcome::Clean,
        Some(3) => PromtoolOutcome::Lint(msg),
        Some(1) => PromtoolOutcome::Error(msg),
        other => panic!("promtool check metrics: unexpected exit {other:?}: {msg}"),
    }
}

/// `Ok` when promtool parses the body (lint findings allowed), `Err(message)` otherwise.
/// Use [`promtool_check`] to see lint findings.
pub fn promtool_check_metrics(body: &str) -> Result<(), String> {
    match promtool_check(body) {
        PromtoolOutcome::Clean | PromtoolOutcome::Lint(_) => Ok(()),
        PromtoolOutcome::Error(e) => Err(e),
    }
}

/// Fixed timestamp (seconds) added to OpenMetrics samples for the backfill check.
pub const BACKFILL_TIMESTAMP: &str = "1700000000";

/// Checks an OpenMetrics body with Prometheus' own OpenMetrics parser, through
/// `promtool tsdb create-blocks-from openmetrics FILE DIR`.
///
/// The backfiller only takes timestamped samples, so a copy of the body gets
/// [`BACKFILL_TIMESTAMP`] after the value of every sample line that has no timestamp
/// (see [`add_timestamps`]); everything else is byte-identical. The temp dir is removed.
pub fn promtool_openmetrics_check(body: &str) -> Result<(), String> {
    let promtool = require(Peer::Promtool);
    let dir = TempDir::new("om-check");
    let file = dir.path().join("body.om");
    fs::write(&file, add_timestamps(body, BACKFILL_TIMESTAMP)).expect("write OpenMetrics copy");
    let out = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(dir.path().join("blocks"))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", promtool.display()));
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(msg.trim().to_string()),
        other => panic!("promtool tsdb create-blocks-from: unexpected exit {other:?}: {msg}"),
    }
}

/// Inserts ` <ts>` after the value of every OpenMetrics sample line that has no timestamp.
/// Comment lines, blank lines, line endings (including a missing final newline or CR) and
/// exemplars are left untouched, so format defects in `body` survive the copy.
pub fn add_timestamps(body: &str, ts: &str) -> String {
    let mut out = String::with_capacity(body.len() + 16 * body.lines().count());
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&add_timestamp_to_line(line, ts));
    }
    out
}

fn add_timestamp_to_line(line: &str, ts: &str) -> String {
    let b = line.as_bytes();
    if b.is_empty() || b[0] == b'#' || b[0] == b' ' || b[0] == b'\r' {
        return line.to_string();
    }
    // End of the metric name.
    let mut i = 0;
    while i < b.len() && !matches!(b[i], b'{' | b' ' | b'\t' | b'\r') {
        i += 1;
    }
    // Label set: skip to the matching '}' outside quoted strings.
    if i < b.len() && b[i] == b'{' {
        let mut in_str = false;
        while i < b.len() {
            match b[i] {
                b'\\' if in_str => i += 1,
                b'"' => in_str = !in_str,
                b'}' if !in_str => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
    // Value token.
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let value_start = i;
    while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\r') {
        i += 1;
    }
    if i == value_start {
        return line.to_string(); // no value: leave the defect for the parser
    }
    let value_end = i.min(b.len());
    // Is there already a timestamp (a token that does not start an exemplar)?
    let rest = &line[value_end..];
    let has_ts = rest
        .strip_prefix(' ')
        .map(|r| {
            !r.is_empty() && !r.starts_with('#') && !r.starts_with(' ') && !r.starts_with('\r')
        })
        .unwrap_or(false);
    if has_ts {
        return line.to_string();
    }
    format!("{} {ts}{}", &line[..value_end], rest)
}

// ---------------------------------------------------------------------------------------------
// Python reference parsers
// ---------------------------------------------------------------------------------------------

/// A metric family as `prometheus_client`'s parser returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFamily {
    pub name: String,
    /// `counter`, `gauge`, `histogram`, `summary`, `unknown`, `info`, `stateset`, `gaugehistogram`.
    pub typ: String,
    pub help: String,
    pub unit: String,
    pub samples: Vec<ParsedSample>,
}

/// Labels, sorted by name.
pub type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    pub name: String,
    /// Sorted by name.
    pub labels: Labels,
    pub value: f64,
    /// Seconds (the text parser divides the millisecond timestamp by 1000).
    pub timestamp: Option<f64>,
    /// (labels, value, timestamp in seconds)
    pub exemplar: Option<(Labels, f64, Option<f64>)>,
}

impl ParsedSample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl ParsedFamily {
    /// Samples called `name` (e.g. `foo_bucket`).
    pub fn samples_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a ParsedSample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }
}

/// Finds a family by name.
pub fn family<'a>(families: &'a [ParsedFamily], name: &str) -> Option<&'a ParsedFamily> {
    families.iter().find(|f| f.name == name)
}

/// Parses text 0.0.4 with `prometheus_client.parser.text_string_to_metric_families`
/// (lenient: see shared/REAL_PEERS.md; promtool is the stricter text check).
pub fn python_parse_text(body: &str) -> Result<Vec<ParsedFamily>, String> {
    python_parse("text", body)
}

/// Parses OpenMetrics 1.0 with `prometheus_client.openmetrics.parser.text_string_to_metric_families`
/// (strict; the body must end with `# EOF`).
pub fn python_parse_openmetrics(body: &str) -> Result<Vec<ParsedFamily>, String> {
    python_parse("openmetrics", body)
}

fn python_parse(mode: &str, body: &str) -> Result<Vec<ParsedFamily>, String> {
    let python = require(Peer::Python);
    let script = repo_root().join("tests/support/parse.py");
    let out = run_with_stdin(
        Command::new(&python)
            .arg(&script)
            .arg(mode)
            .env("PYTHONIOENCODING", "utf-8"),
        body.as_bytes(),
    );
    match out.code() {
        Some(0) => {}
        Some(2) => return Err(out.stdout.trim().to_string()),
        other => panic!(
            "{} {} {mode}: harness failure, exit {other:?}\nstdout: {}\nstderr: {}",
            python.display(),
            script.display(),
            out.stdout,
            out.stderr
        ),
    }
    out.stdout
        .lines()
        .map(|line| {
            let v = Json::parse(line)
                .unwrap_or_else(|e| panic!("parse.py printed bad JSON ({e}): {line}"));
            decode_family(&v)
                .unwrap_or_else(|| panic!("parse.py printed an unexpected shape: {line}"))
        })
        .map(Ok)
        .collect()
}

/// Parses a float the way Python's `repr` prints it (`inf`, `-inf`, `nan`, `1e-05`) and the
/// way Prometheus prints it (`+Inf`, `-Inf`, `NaN`).
pub fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "inf" | "Inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

fn decode_labels(v: &Json) -> Option<Labels> {
    let mut labels = v
        .as_array()?
        .iter()
        .map(|pair| {
            let p = pair.as_array()?;
            Some((
                p.first()?.as_str()?.to_string(),
                p.get(1)?.as_str()?.to_string(),
            ))
        })
        .collect::<Option<Labels>>()?;
    labels.sort();
    Some(labels)
}

fn decode_opt_float(v: Option<&Json>) -> Option<Option<f64>> {
    match v? {
        Json::Null => Some(None),
        Json::Str(s) => Some(Some(parse_float(s)?)),
        _ => None,
    }
}

fn decode_family(v: &Json) -> Option<ParsedFamily> {
    let samples = v
        .get("samples")?
        .as_array()?
        .iter()
        .map(|s| {
            let exemplar = match s.get("exemplar")? {
                Json::Null => None,
                e => Some((
                    decode_labels(e.get("labels")?)?,
                    parse_float(e.get("value")?.as_str()?)?,
                    decode_opt_float(e.get("timestamp"))?,
                )),
            };
            Some(ParsedSample {
                name: s.get("name")?.as_str()?.to_string(),
                labels: decode_labels(s.get("labels")?)?,
                value: parse_float(s.get("value")?.as_str()?)?,
                timestamp: decode_opt_float(s.get("timestamp"))?,
                exemplar,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(ParsedFamily {
        name: v.get("name")?.as_str()?.to_string(),
        typ: v.get("type")?.as_str()?.to_string(),
        help: v.get("help")?.as_str()?.to_string(),
        unit: v.get("unit")?.as_str()?.to_string(),
        samples,
    })
}

// ---------------------------------------------------------------------------------------------
// Minimal JSON (for parse.py output and the Prometheus / Pushgateway HTTP APIs)
// ---------------------------------------------------------------------------------------------

/// A parsed JSON value. Numbers are kept as their source text (see [`Json::as_f64`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

impl Json {
    pub fn parse(s: &str) -> Result<Json, String> {
        let mut p = JsonParser {
            s: s.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing data at byte {}", p.i));
        }
        Ok(v)
    }

    /// Object member.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(m) => m.get(key),
            _ => None,
        }
    }

    /// Follows a path of object keys and array indices: `v.at(&["data", "result", "0", "value"])`.
    pub fn at(&self, path: &[&str]) -> Option<&Json> {
        path.iter().try_fold(self, |v, k| match v {
            Json::Object(m) => m.get(*k),
            Json::Array(a) => a.get(k.parse::<usize>().ok()?),
            _ => None,
        })
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&BTreeMap<String, Json>> {
        match self {
            Json::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A number, or a string holding one (Prometheus sends sample values as strings like "+Inf").
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Num(n) => n.parse().ok(),
            Json::Str(s) => parse_float(s),
            _ => None,
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at byte {}", self.i))
    }

    fn eat(&mut self, lit: &str) -> Result<(), String> {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            Ok(())
        } else {
            self.err(&format!("expected {lit}"))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            None => self.err("unexpected end"),
            Some(b'n') => self.eat("null").map(|_| Json::Null),
            Some(b't') => self.eat("true").map(|_| Json::Bool(true)),
            Some(b'f') => self.eat("false").map(|_| Json::Bool(false)),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'[') => {
                self.i += 1;
                let mut a = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Array(a));
                }
                loop {
                    a.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Array(a));
                        }
                        _ => return self.err("expected , or ]"),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut m = BTreeMap::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Object(m));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return self.err("expected key");
                    }
                    let k = self.string()?;
                    self.ws();
                    self.eat(":")?;
                    let v = self.value()?;
                    m.insert(k, v);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Object(m));
                        }
                        _ => return self.err("expected , or }"),
                    }
                }
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let n = std::str::from_utf8(&self.s[start..self.i]).expect("ascii");
                if n.parse::<f64>().is_err() {
                    return self.err("bad number");
                }
                Ok(Json::Num(n.to_string()))
            }
            Some(_) => self.err("unexpected character"),
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
        let h = std::str::from_utf8(h).map_err(|e| e.to_string())?;
        let v = u32::from_str_radix(h, 16).map_err(|e| format!("bad \\u escape: {e}"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1; // opening quote
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return self.err("unterminated string");
            };
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(buf).map_err(|e| e.to_string()),
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return self.err("unterminated escape");
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                self.eat("\\u")?;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return self.err("bad low surrogate");
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            match char::from_u32(cp) {
                                Some(ch) => ch,
                                None => return self.err("bad code point"),
                            }
                        }
                        _ => return self.err("bad escape"),
                    };
                    let mut tmp = [0u8; 4];
                    buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                }
                _ => buf.push(c),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Temp dirs, ports, polling
// ---------------------------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed (recursively) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = env::temp_dir().join(format!(
            "tachymeter-{prefix}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A loopback port that was free a moment ago (bind 127.0.0.1:0, read it, release it).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Calls `f` every `step` until it returns `Some`, or gives `None` after `timeout`.
pub fn wait_until<T>(
    timeout: Duration,
    step: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(step);
    }
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

/// A peer server process on loopback. Dropping it kills it by PID and waits for it; its temp dir
/// (config, TSDB) is removed after that.
#[derive(Debug)]
pub struct Server {
    child: Child,
    addr: SocketAddr,
    name: &'static str,
    log: PathBuf,
    // Dropped after the child is reaped (see Drop).
    dir: Option<TempDir>,
}

impl Server {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's combined stdout/stderr so far (for assertion messages).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The temp dir holding the config and data.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("dir lives until drop").path()
    }

    /// Kills the process now and waits for it (also done on drop).
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill(); // SIGKILL to this PID only
        }
        let _ = self.child.wait();
    }

    /// Spawns `bin` with `make_args(addr)` on a free loopback port and waits (≤ 10 s) for
    /// `/-/ready`. A port taken between [`free_port`] and the server's bind is retried on
    /// another port (up to 5 attempts).
    fn start(
        name: &'static str,
        bin: &Path,
        dir: TempDir,
        make_args: impl Fn(SocketAddr) -> Vec<String>,
    ) -> Server {
        let log = dir.path().join(format!("{name}.log"));
        let mut dir = Some(dir);
        for attempt in 1..=5 {
            let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
            let logf = fs::File::create(&log).expect("create server log");
            let cwd = dir.as_ref().expect("dir").path().to_path_buf();
            let child = Command::new(bin)
                .args(make_args(addr))
                .current_dir(&cwd)
                .stdin(Stdio::null())
                .stdout(logf.try_clone().expect("dup log"))
                .stderr(logf)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin.display()));
            let mut server = Server {
                child,
                addr,
                name,
                log: log.clone(),
                dir: dir.take(),
            };
            let ready = format!("{}/-/ready", server.url());
            let mut exited = None;
            let ok = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
                if let Ok(Some(status)) = server.child.try_wait() {
                    exited = Some(status);
                    return Some(false);
                }
                match http_get(&ready) {
                    // Still ours? (another process may have answered on a stolen port)
                    Ok(r) if r.status == 200 => match server.child.try_wait() {
                        Ok(None) => Some(true),
                        Ok(Some(status)) => {
                            exited = Some(status);
                            Some(false)
                        }
                        Err(e) => panic!("{name}: wait: {e}"),
                    },
                    _ => None,
                }
            });
            if ok == Some(true) {
                return server;
            }
            let text = server.log();
            server.stop();
            if exited.is_some() && text.contains("address already in use") && attempt < 5 {
                dir = server.dir.take();
                continue;
            }
            match exited {
                Some(status) => panic!("{name} exited during startup ({status}):\n{text}"),
                None => panic!("{name} not ready at {ready} within 10 s:\n{text}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        // The TempDir field is dropped after this, once the process is gone.
    }
}

/// Starts `prometheus-pushgateway` on a free loopback port without persistence.
pub fn start_pushgateway() -> Server {
    let bin = require(Peer::Pushgateway);
    let dir = TempDir::new("pushgateway");
    Server::start("pushgateway", &bin, dir, |addr| {
        vec![
            format!("--web.listen-address={addr}"),
            "--persistence.file=".to_string(),
            "--log.level=warn".to_string(),
        ]
    })
}

/// Starts Prometheus on a free loopback port, scraping each `(job, "host:port")` target every
/// `scrape_interval` (e.g. `"1s"`); config and TSDB live in a temp dir removed on drop.
/// Note: the first scrape comes ~5-6 s after start (REAL_PEERS.md).
pub fn start_prometheus(scrape_targets: &[(&str, &str)], scrape_interval: &str) -> Server {
    start_prometheus_with(scrape_targets, scrape_interval, &[])
}

/// [`start_prometheus`] with extra command-line flags (e.g. `--web.enable-remote-write-receiver`).
pub fn start_prometheus_with(
    scrape_targets: &[(&str, &str)],
    scrape_interval: &str,
    extra_args: &[&str],
) -> Server {
    let bin = require(Peer::Prometheus);
    let dir = TempDir::new("prometheus");
    let mut cfg = String::new();
    writeln!(cfg, "global:").unwrap();
    writeln!(cfg, "  scrape_interval: {scrape_interval}").unwrap();
    writeln!(cfg, "  evaluation_interval: {scrape_interval}").unwrap();
    writeln!(cfg, "scrape_configs:").unwrap();
    if scrape_targets.is_empty() {
        // keep the file valid YAML: an empty list
        cfg.push_str("  []\n");
    }
    for (job, target) in scrape_targets {
        writeln!(cfg, "  - job_name: {}", yaml_str(job)).unwrap();
        writeln!(cfg, "    scrape_interval: {scrape_interval}").unwrap();
        writeln!(cfg, "    scrape_timeout: {scrape_interval}").unwrap();
        writeln!(cfg, "    static_configs:").unwrap();
        writeln!(cfg, "      - targets: [{}]", yaml_str(target)).unwrap();
    }
    let cfg_path = dir.path().join("prometheus.yml");
    fs::write(&cfg_path, cfg).expect("write prometheus.yml");
    let data = dir.path().join("data");
    Server::start("prometheus", &bin, dir, |addr| {
        let mut args = vec![
            format!("--config.file={}", cfg_path.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.listen-address={addr}"),
            "--log.level=warn".to_string(),
        ];
        args.extend(extra_args.iter().map(|s| s.to_string()));
        args
    })
}

fn yaml_str(s: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether a process with this PID exists (and is not a zombie).
pub fn pid_alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // state is the field after the ")" that closes the command name
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Tiny blocking HTTP client (HTTP/1.1, Connection: close)
// ---------------------------------------------------------------------------------------------

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// In order received; names as sent.
    pub headers: Vec<(String, String)>,
    /// Decoded from chunked transfer encoding if needed (never decompressed).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Body as UTF-8 (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Body as JSON.
    pub fn json(&self) -> Result<Json, String> {
        Json::parse(&self.text())
    }
}

/// Timeouts for connect, each read and each write.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

pub fn http_get(url: &str) -> Result<HttpResponse, String> {
    http_request("GET", url, &[], b"")
}

pub fn http_put(url: &str, body: &[u8]) -> Result<HttpResponse, String> {
    http_request("PUT", url, &[], body)
}

pub fn http_post(url: &str, body: &[u8]) -> Result<HttpResponse, String> {
    http_request("POST", url, &[], body)
}

pub fn http_delete(url: &str) -> Result<HttpResponse, String> {
    http_request("DELETE", url, &[], b"")
}

/// Sends one request to an `http://host:port/path?query` URL and reads the whole response.
/// `Host`, `Content-Length` and `Connection: close` are added; `headers` may add others
/// (e.g. `Accept`, `Content-Type`). `Err` only for transport failures, any status is `Ok`.
pub fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("only http:// URLs are supported: {url}"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| format!("resolve {hostport}: {e}"))?
        .next()
        .ok_or_else(|| format!("no address for {hostport}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(HTTP_TIMEOUT))
        .map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(HTTP_TIMEOUT))
        .map_err(|e| e.to_string())?;

    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n");
    for (k, v) in headers {
        write!(req, "{k}: {v}\r\n").unwrap();
    }
    if !body.is_empty() || matches!(method, "PUT" | "POST") {
        write!(req, "Content-Length: {}\r\n", body.len()).unwrap();
    }
    req.push_str("\r\n");
    let mut raw_req = req.into_bytes();
    raw_req.extend_from_slice(body);
    stream
        .write_all(&raw_req)
        .and_then(|_| stream.flush())
        .map_err(|e| format!("{method} {url}: write: {e}"))?;

    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("{method} {url}: read: {e}"))?;
    parse_response(&raw).map_err(|e| format!("{method} {url}: {e}"))
}

fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers in response")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| format!("header not UTF-8: {e}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("empty response")?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line: {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    if chunked {
        body = dechunk(&body)?;
    } else if let Some(len) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        if body.len() < len {
            return Err(format!("body truncated: {} of {len} bytes", body.len()));
        }
        body.truncate(len);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk header")?;
        let size_str = std::str::from_utf8(&b[..eol]).map_err(|e| e.to_string())?;
        let size_str = size_str.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size_str, 16).map_err(|e| format!("bad chunk size: {e}"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 {
            return Err("chunk truncated".into());
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for query strings).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            write!(out, "%{b:02X}").unwrap();
        }
    }
    out
}

/// Runs an instant PromQL query against a Prometheus [`Server`]; returns `data.result`
/// (an array of `{"metric": {...}, "value": [ts, "v"]}`), or `Err` with the body on failure.
pub fn prometheus_query(prom: &Server, promql: &str) -> Result<Vec<Json>, String> {
    let url = format!("{}/api/v1/query?query={}", prom.url(), url_encode(promql));
    let r = http_get(&url)?;
    let v = r.json().map_err(|e| format!("{e}: {}", r.text()))?;
    if r.status != 200 || v.get("status").and_then(Json::as_str) != Some("success") {
        return Err(format!("HTTP {}: {}", r.status, r.text()));
    }
    v.at(&["data", "result"])
        .and_then(Json::as_array)
        .map(<[Json]>::to_vec)
        .ok_or_else(|| format!("no data.result: {}", r.text()))
}
