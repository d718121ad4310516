//! Prometheus and Pushgateway processes on loopback, killed by PID on drop.

use super::*;

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
        if let Some(f) = pid_file(self.child.id()) {
            let _ = fs::remove_file(f);
        }
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
            if let Some(f) = pid_file(child.id()) {
                // Lets .ci/test stop this PID even if the test process dies without Drop.
                let _ = fs::write(f, bin.as_os_str().as_encoded_bytes());
            }
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

/// `$TACHYMETER_PID_DIR/<pid>` when `.ci/test` asked for a record of started servers.
fn pid_file(pid: u32) -> Option<PathBuf> {
    let dir = env::var_os("TACHYMETER_PID_DIR").filter(|d| !d.is_empty())?;
    Some(PathBuf::from(dir).join(pid.to_string()))
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

/// Starts a VictoriaMetrics single node on a free loopback port with its storage in a temp
/// dir; remote write at `/api/v1/write`, queries at `/api/v1/query` and `/api/v1/export`.
pub fn start_victoria_metrics() -> Server {
    let bin = require(Peer::VictoriaMetrics);
    let dir = TempDir::new("victoria-metrics");
    let data = dir.path().join("data");
    Server::start("victoria-metrics", &bin, dir, |addr| {
        vec![
            format!("-httpListenAddr={addr}"),
            format!("-storageDataPath={}", data.display()),
            "-loggerLevel=ERROR".to_string(),
            // Read back what was just written, without waiting for the search cache.
            "-search.disableCache".to_string(),
            "-search.latencyOffset=0s".to_string(),
        ]
    })
}

/// Starts `vmagent` on a free loopback port, scraping `targets` every `scrape_interval` with
/// job name `job` and remote-writing to `remote_write_url`.
pub fn start_vmagent(
    job: &str,
    targets: &[String],
    scrape_interval: &str,
    remote_write_url: &str,
) -> Server {
    let bin = require(Peer::Vmagent);
    let dir = TempDir::new("vmagent");
    let mut cfg = String::new();
    writeln!(
        cfg,
        "global:\n  scrape_interval: {scrape_interval}\nscrape_configs:"
    )
    .unwrap();
    writeln!(
        cfg,
        "  - job_name: {}\n    static_configs:\n      - targets:",
        yaml_str(job)
    )
    .unwrap();
    for t in targets {
        writeln!(cfg, "          - {}", yaml_str(t)).unwrap();
    }
    let cfg_path = dir.path().join("scrape.yml");
    fs::write(&cfg_path, cfg).expect("write scrape.yml");
    let tmp = dir.path().join("queue");
    let url = remote_write_url.to_owned();
    Server::start("vmagent", &bin, dir, |addr| {
        vec![
            format!("-httpListenAddr={addr}"),
            format!("-promscrape.config={}", cfg_path.display()),
            format!("-remoteWrite.url={url}"),
            format!("-remoteWrite.tmpDataPath={}", tmp.display()),
            "-remoteWrite.flushInterval=200ms".to_string(),
            "-loggerLevel=ERROR".to_string(),
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
    let mut jobs = String::new();
    if scrape_targets.is_empty() {
        // keep the file valid YAML: an empty list
        jobs.push_str("  []\n");
    }
    for (job, target) in scrape_targets {
        writeln!(jobs, "  - job_name: {}", yaml_str(job)).unwrap();
        writeln!(jobs, "    scrape_interval: {scrape_interval}").unwrap();
        writeln!(jobs, "    scrape_timeout: {scrape_interval}").unwrap();
        writeln!(jobs, "    static_configs:").unwrap();
        writeln!(jobs, "      - targets: [{}]", yaml_str(target)).unwrap();
    }
    start_prometheus_jobs(&jobs, scrape_interval, extra_args)
}

/// Starts Prometheus with `jobs` as the YAML list under `scrape_configs:` (each entry
/// indented by two spaces), for options [`start_prometheus`] does not write (TLS, auth,
/// `metrics_path`). Relative file paths in `jobs` resolve against the returned server's
/// [`dir`](Server::dir); write such files there before the first scrape, or pass absolute
/// paths.
pub fn start_prometheus_jobs(jobs: &str, scrape_interval: &str, extra_args: &[&str]) -> Server {
    let bin = require(Peer::Prometheus);
    let dir = TempDir::new("prometheus");
    let mut cfg = String::new();
    writeln!(cfg, "global:").unwrap();
    writeln!(cfg, "  scrape_interval: {scrape_interval}").unwrap();
    writeln!(cfg, "  evaluation_interval: {scrape_interval}").unwrap();
    writeln!(cfg, "scrape_configs:").unwrap();
    cfg.push_str(jobs);
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

pub fn yaml_str(s: &str) -> String {
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
