//! A real Prometheus (Debian 2.42, `--enable-feature=native-histograms`) scrapes the
//! `native_histogram` example over protobuf. Its native histogram (schema 3) of a fixed
//! stream of 100,000 values over six decades, zeros and negatives included, must come back
//! with `histogram_count` and `histogram_sum` exact and `histogram_quantile` within the
//! schema's relative error of the exact quantile; the classic metrics of the same body must
//! be ingested with the values of the example's text exposition.

mod support;

#[path = "../examples/native_stream/mod.rs"]
mod native_stream;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::Peer;

/// Kills the example when the test ends, by its own handle.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn prometheus_reads_back_the_native_histogram() {
    if !support::have(&[Peer::Prometheus]) {
        return;
    }
    let mut child = Child(
        Command::new(support::example_bin("native_histogram"))
            .args(["--addr", "127.0.0.1:0", "--seconds", "120"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the native_histogram example"),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("serving http://")
        .and_then(|s| s.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();

    let prom = support::start_prometheus_with(
        &[("native", &addr)],
        "1s",
        &["--enable-feature=native-histograms"],
    );
    let count = support::wait_until(Duration::from_secs(40), Duration::from_millis(250), || {
        support::query_first(
            &prom,
            "histogram_count(native_latency_seconds{job=\"native\"})",
        )
    });
    let count = count.unwrap_or_else(|| panic!("no native histogram in 40 s:\n{}", prom.log()));

    let mut values: Vec<f64> = native_stream::values().collect();
    let exact_sum: f64 = values.iter().sum();
    values.sort_by(f64::total_cmp);
    assert_eq!(count, native_stream::COUNT.to_string(), "histogram_count");
    let sum: f64 = support::query_first(
        &prom,
        "histogram_sum(native_latency_seconds{job=\"native\"})",
    )
    .unwrap()
    .parse()
    .unwrap();
    assert_eq!(sum, exact_sum, "histogram_sum");

    let growth = 2f64.powf(1.0 / 8.0); // schema 3
    for q in [0.5, 0.9, 0.99] {
        let got: f64 = support::query_first(
            &prom,
            &format!("histogram_quantile({q}, native_latency_seconds{{job=\"native\"}})"),
        )
        .unwrap()
        .parse()
        .unwrap();
        let rank = (q * values.len() as f64).ceil() as usize;
        let exact = values[rank - 1];
        let ratio = (got / exact).max(exact / got);
        assert!(
            exact > 0.0 && ratio <= growth,
            "q{q}: Prometheus {got}, exact {exact}, off by {ratio} > {growth}"
        );
        eprintln!("q{q}: Prometheus {got}, exact {exact} (ratio {ratio:.5}, bound {growth:.5})");
    }

    // The classic series of the same body: everything in the text exposition but the native
    // histogram's own lines.
    let text = support::http_get(&format!("http://{addr}/metrics"))
        .unwrap()
        .text();
    let classic: Vec<(String, String)> = support::exposition_samples(&text)
        .into_iter()
        .filter(|(sel, _)| !sel.starts_with("native_latency_seconds"))
        .collect();
    assert!(classic.len() >= 10, "{text}");
    for (sel, want) in &classic {
        // Prometheus spells `le` from protobuf the OpenMetrics way (`1.0`).
        let q = support::with_job(sel, "native")
            .replace("le=\"1\"", "le=\"1.0\"")
            .replace("le=\"10\"", "le=\"10.0\"")
            .replace("le=\"100\"", "le=\"100.0\"");
        let got = support::query_first(&prom, &q).unwrap_or_else(|| panic!("{q} not ingested"));
        assert!(support::same_value(&got, want), "{q}: {got} != {want}");
    }
    eprintln!(
        "Prometheus: native count {count}, sum {sum}; {} classic series read back",
        classic.len()
    );
    drop(prom);
}
