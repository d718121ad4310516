//! Runs the `seed_metrics` example binary (cargo builds examples before tests) and checks its
//! output with promtool and the Python parsers.

mod support;

use std::process::Command;

use support::{Peer, PromtoolOutcome};

fn run(args: &[&str]) -> String {
    let out = Command::new(support::example_bin("seed_metrics"))
        .args(args)
        .output()
        .expect("run seed_metrics");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 exposition")
}

#[test]
fn seed_metrics_prints_a_valid_text_exposition() {
    let body = run(&[]);
    assert!(
        body.contains("api_called_total{inner_ip=\"10.0.0.2\"} 3\n"),
        "{body}"
    );
    assert!(
        body.contains("cpu_usage{inner_ip=\"10.0.0.1\"} 0.3\n"),
        "{body}"
    );
    assert!(
        body.contains("task_time_histogram_bucket{le=\"3\"} 4\n"),
        "{body}"
    );
    assert!(body.contains("task_time_histogram_count 6\n"), "{body}");
    // Six observations: every objective's εn < 1, so the quantiles are exact nearest ranks.
    assert!(
        body.contains(
            "# TYPE task_time_summary summary\n\
             task_time_summary{quantile=\"0.5\"} 3\n\
             task_time_summary{quantile=\"0.9\"} 7\n\
             task_time_summary{quantile=\"0.99\"} 7\n\
             task_time_summary_sum 19.2\n\
             task_time_summary_count 6\n"
        ),
        "{body}"
    );
    if !support::have(&[Peer::Promtool, Peer::Python]) {
        return;
    }
    match support::promtool_check(&body) {
        // The seed's own name contains its type; promtool lints that, and only that.
        PromtoolOutcome::Clean => {}
        PromtoolOutcome::Lint(l) => assert!(
            l.lines().all(|x| x.contains("should not include type")),
            "unexpected lint: {l}"
        ),
        PromtoolOutcome::Error(e) => panic!("promtool rejected the body: {e}\n{body}"),
    }
    let parsed = support::python_parse_text(&body).unwrap();
    let hist = support::family(&parsed, "task_time_histogram").expect("histogram family");
    assert_eq!(hist.typ, "histogram");
    let sum: f64 = hist
        .samples_named("task_time_histogram_sum")
        .map(|s| s.value)
        .sum();
    assert_eq!(sum, 0.5 + 1.5 + 3.0 + 3.0 + 4.2 + 7.0);
    let summ = support::family(&parsed, "task_time_summary").expect("summary family");
    assert_eq!(summ.typ, "summary");
    let quantiles: Vec<(&str, f64)> = summ
        .samples_named("task_time_summary")
        .map(|s| (s.label("quantile").expect("quantile label"), s.value))
        .collect();
    assert_eq!(quantiles, [("0.5", 3.0), ("0.9", 7.0), ("0.99", 7.0)]);
    let count = summ
        .samples_named("task_time_summary_count")
        .next()
        .unwrap();
    assert_eq!(count.value, 6.0);
}

#[test]
fn seed_metrics_prints_openmetrics_on_request() {
    let body = run(&["--format", "openmetrics"]);
    assert!(body.starts_with("# TYPE api_called counter\n"), "{body}");
    assert!(body.ends_with("# EOF\n"));
    if !support::have(&[Peer::Python]) {
        return;
    }
    let parsed = support::python_parse_openmetrics(&body).unwrap();
    let summ = support::family(&parsed, "task_time_summary").expect("summary family");
    assert_eq!(summ.typ, "summary");
    assert!(
        body.contains("task_time_summary{quantile=\"0.99\"} 7.0\n"),
        "{body}"
    );
    let bad = Command::new(support::example_bin("seed_metrics"))
        .args(["--format", "xml"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
