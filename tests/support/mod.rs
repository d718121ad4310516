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
//! | `victoria-metrics` | `TACHYMETER_VICTORIA_METRICS` | `victoria-metrics` on `PATH` |
//! | `vmagent` | `TACHYMETER_VMAGENT` | `vmagent` on `PATH` |
//!
//! A missing peer is a test failure when `CI` is set (a test that silently skips in CI is a
//! defect). Outside CI, the lookup functions print `SKIPPED (peer missing)` to stderr and return
//! `None`; guard a test with `if !support::have(&[Peer::Python]) { return; }`. The higher-level
//! helpers (`python_parse_text`, `start_pushgateway`, ...) always panic when their peer is
//! missing, so a test that forgets the guard fails loudly instead of passing vacuously.
//!
//! Loopback stand-ins need no peer: [`CaptureServer`] records what a client sends,
//! [`LoggingProxy`] records what passes between a peer and our server, and [`CountingAlloc`]
//! counts a thread's allocations once a test binary installs it as its global allocator.
//!
//! All helpers panic when the harness itself is broken (a peer that cannot be spawned, an
//! unexpected exit code); they return `Err` only for the verdict a test may assert on
//! (the peer rejected the body).

#![allow(dead_code, unreachable_pub, missing_docs, unused_imports)]

mod capture;
mod counting_alloc;
mod http;
mod json;
mod prom;
mod promtool;
mod python;
#[cfg(feature = "remote-write")]
mod remote_write;
mod server;

pub use capture::*;
pub use counting_alloc::*;
pub use http::*;
pub use json::*;
pub use prom::*;
pub use promtool::*;
pub use python::*;
#[cfg(feature = "remote-write")]
pub use remote_write::*;
pub use server::*;

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
    VictoriaMetrics,
    Vmagent,
}

impl Peer {
    pub fn env_var(self) -> &'static str {
        match self {
            Peer::Python => "TACHYMETER_PYTHON",
            Peer::Promtool => "TACHYMETER_PROMTOOL",
            Peer::Prometheus => "TACHYMETER_PROMETHEUS",
            Peer::Pushgateway => "TACHYMETER_PUSHGATEWAY",
            Peer::VictoriaMetrics => "TACHYMETER_VICTORIA_METRICS",
            Peer::Vmagent => "TACHYMETER_VMAGENT",
        }
    }

    /// Path of the peer: env var, then fallbacks; `None` if missing (outside CI only).
    pub fn path(self) -> Option<PathBuf> {
        match self {
            Peer::Python => python(),
            Peer::Promtool => promtool(),
            Peer::Prometheus => prometheus_bin(),
            Peer::Pushgateway => pushgateway_bin(),
            Peer::VictoriaMetrics => {
                resolve(self, || which("victoria-metrics").into_iter().collect())
            }
            Peer::Vmagent => resolve(self, || which("vmagent").into_iter().collect()),
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

/// Path of the example binary `name`, built by this test's cargo if a bare
/// `cargo test --test X` did not build examples (a full `cargo test` does).
pub fn example_bin(name: &str) -> PathBuf {
    // target/<profile>/deps/<test> → target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("test executable path");
    let path = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("target dir")
        .join("examples")
        .join(name);
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let st = std::process::Command::new(cargo)
            .args(["build", "--all-features", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build --example");
        assert!(st.success(), "cargo build --example {name} failed");
    }
    path
}
