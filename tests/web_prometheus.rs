//! A real Prometheus (Debian 2.42) scrapes the `/metrics` endpoint of the two example apps,
//! `axum_app` and `actix_app` (run as the binaries users run, `--addr 127.0.0.1:0`), in both
//! formats: job `*_om` passes Prometheus' own `Accept` (OpenMetrics first, gzip), job
//! `*_text` goes through a proxy that asks for text 0.0.4. Every series of each body must be
//! ingested with its value, and the targets must be up.

mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::{LoggingProxy, Peer};

/// An example app running as a child process, killed (by its PID) on drop.
struct ExampleApp {
    child: Child,
    addr: SocketAddr,
}

impl ExampleApp {
    fn start(name: &str) -> ExampleApp {
        let mut child = Command::new(support::example_bin(name))
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Bounded: the child's stdout ends when it exits.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(a) = line.strip_prefix("listening on http://") {
                    let _ = tx.send(a.parse::<SocketAddr>().unwrap());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{name} did not print its address within 20 s: {e}");
            }
        };
        ExampleApp { child, addr }
    }
}

impl Drop for ExampleApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The request mix against one app.
fn traffic(addr: SocketAddr) {
    for id in 1..=5 {
        assert_eq!(
            support::http_get(&format!("http://{addr}/users/{id}"))
                .unwrap()
                .status,
            200
        );
    }
    for _ in 0..2 {
        assert_eq!(
            support::http_get(&format!("http://{addr}/nope"))
                .unwrap()
                .status,
            404
        );
    }
    assert_eq!(
        support::http_post(&format!("http://{addr}/users/1"), b"")
            .unwrap()
            .status,
        405
    );
}

#[test]
fn prometheus_scrapes_both_apps_in_both_formats() {
    if !support::have(&[Peer::Prometheus]) {
        return;
    }
    let axum = ExampleApp::start("axum_app");
    let actix = ExampleApp::start("actix_app");
    let apps = [("axum", axum.addr), ("actix", actix.addr)];
    for (_, addr) in apps {
        traffic(addr);
    }
    let text_accept = "text/plain;version=0.0.4;q=1,*/*;q=0.1";
    let proxies: Vec<(String, LoggingProxy, &str)> = apps
        .iter()
        .flat_map(|(name, addr)| {
            [
                (
                    format!("{name}_om"),
                    LoggingProxy::start(*addr, None),
                    "application/openmetrics-text;version=1.0.0",
                ),
                (
                    format!("{name}_text"),
                    LoggingProxy::start(*addr, Some(text_accept)),
                    text_accept,
                ),
            ]
        })
        .collect();
    let targets: Vec<(String, String)> = proxies
        .iter()
        .map(|(job, p, _)| (job.clone(), p.addr().to_string()))
        .collect();
    let target_refs: Vec<(&str, &str)> = targets
        .iter()
        .map(|(j, t)| (j.as_str(), t.as_str()))
        .collect();
    let prom = support::start_prometheus(&target_refs, "1s");

    let up = support::wait_until(Duration::from_secs(30), Duration::from_millis(250), || {
        proxies
            .iter()
            .all(|(job, _, _)| {
                support::query_values(&prom, &format!("up{{job=\"{job}\"}}")).len() == 1
            })
            .then_some(())
    });
    assert!(
        up.is_some(),
        "no scrape within 30 s; Prometheus log:\n{}",
        prom.log()
    );

    for (job, proxy, accept) in &proxies {
        assert_eq!(
            support::query_values(&prom, &format!("up{{job=\"{job}\"}}")),
            ["1"],
            "{}",
            prom.log()
        );
        let log = proxy.log();
        if job.ends_with("_om") {
            assert!(
                log.responses_contain("application/openmetrics-text; version=1.0.0; charset=utf-8"),
                "{job}"
            );
            assert!(log.responses_contain("gzip"), "{job}: gzip negotiated");
        } else {
            assert!(
                log.responses_contain("text/plain; version=0.0.4; charset=utf-8"),
                "{job}"
            );
        }
        let app = if job.starts_with("axum") {
            axum.addr
        } else {
            actix.addr
        };
        // /metrics is excluded from the request metrics: the body does not move between
        // Prometheus' scrape and this one.
        let body = support::http_request(
            "GET",
            &format!("http://{app}/metrics"),
            &[("Accept", accept)],
            b"",
        )
        .unwrap()
        .text();
        assert!(body.contains(
            "http_server_request_duration_seconds_count{method=\"GET\",route=\"/users/{id}\",status=\"200\"} 5"
        ), "{job}:\n{body}");
        let expected = support::exposition_samples(&body);
        for (selector, value) in &expected {
            let q = support::with_job(selector, job);
            let got = support::query_values(&prom, &q);
            assert_eq!(got.len(), 1, "{q} not ingested; body:\n{body}");
            assert!(
                support::same_value(&got[0], value),
                "{q}: {} != {value}",
                got[0]
            );
        }
        let scraped =
            support::query_values(&prom, &format!("scrape_samples_scraped{{job=\"{job}\"}}"));
        assert_eq!(
            scraped,
            [expected.len().to_string()],
            "job {job}, body:\n{body}"
        );
    }
    drop(prom);
}
