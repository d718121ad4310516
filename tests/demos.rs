//! The user's two programs, as shipped examples: `pull_demo` serves the seed's metrics for
//! scraping, `push_demo` pushes them with the `X-BK-TOKEN` header and `instance` grouping key.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Answer, CaptureServer, Peer, PromtoolOutcome};

/// Kills the child by PID when dropped.
struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn pull_demo_serves_the_seed_metrics() {
    let port = support::free_port();
    let addr = format!("127.0.0.1:{port}");
    let _demo = Kill(
        Command::new(support::example_bin("pull_demo"))
            .args(["--addr", &addr, "--seconds", "20"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start pull_demo"),
    );
    let url = format!("http://{addr}/metrics");
    let body = support::wait_until(Duration::from_secs(15), Duration::from_millis(100), || {
        support::http_get(&url)
            .ok()
            .filter(|r| r.status == 200)
            .map(|r| r.text())
    })
    .expect("pull_demo answers /metrics within 15 s");
    for family in [
        "api_called_total",
        "cpu_usage",
        "task_time_histogram",
        "task_time_summary",
    ] {
        assert!(
            body.contains(&format!("# TYPE {family} ")),
            "{family} missing:\n{body}"
        );
    }
    assert!(
        body.contains("api_called_total{inner_ip=\"10.0.0.1\"}"),
        "{body}"
    );
    assert!(
        body.contains("task_time_summary{quantile=\"0.99\"}"),
        "{body}"
    );
    if support::have(&[Peer::Promtool]) {
        match support::promtool_check(&body) {
            PromtoolOutcome::Clean => {}
            // The seed's own name contains its type; promtool lints that, and only that.
            PromtoolOutcome::Lint(l) => {
                assert!(
                    l.lines().all(|x| x.contains("should not include type")),
                    "{l}"
                )
            }
            PromtoolOutcome::Error(e) => panic!("{e}\n{body}"),
        }
    }
}

#[test]
fn push_demo_pushes_once_with_token_and_instance() {
    let gateway = CaptureServer::start(vec![Answer::Reply(200, "")]);
    let out = Command::new(support::example_bin("push_demo"))
        .args([
            "--gateway",
            &gateway.addr().to_string(),
            "--job",
            "batch job",
            "--instance",
            "my.host.ip",
            "--token",
            "s3cr3t",
            "--once",
        ])
        .output()
        .expect("run push_demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reqs = gateway.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let r = &reqs[0];
    assert_eq!(r.method, "PUT");
    assert_eq!(r.path, "/metrics/job/batch%20job/instance/my.host.ip");
    assert_eq!(r.header("X-BK-TOKEN"), Some("s3cr3t"));
    assert_eq!(
        r.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let body = r.text();
    assert!(
        body.contains("api_called_total{inner_ip=\"my.host.ip\"} 1\n"),
        "{body}"
    );
    assert!(
        body.contains("# TYPE task_time_summary summary\n"),
        "{body}"
    );
}

#[test]
fn push_demo_reports_an_unreachable_gateway() {
    let port = support::free_port(); // nothing listens there
    let out = Command::new(support::example_bin("push_demo"))
        .args([
            "--gateway",
            &format!("127.0.0.1:{port}"),
            "--job",
            "j",
            "--instance",
            "i",
            "--token",
            "t",
            "--once",
        ])
        .output()
        .expect("run push_demo");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("push_demo:"));
}
