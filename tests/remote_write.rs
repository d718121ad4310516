//! Remote write against real receivers: Prometheus 2.42 (`--web.enable-remote-write-receiver`)
//! and a VictoriaMetrics single node. The `remote_write_demo` example writes the seed's
//! metrics once through a loopback [`RecordingProxy`]; every series it sent must read back
//! through the receiver's query API with identical labels and values, and the recorded
//! requests must carry `X-BK-TOKEN` and the remote-write headers. The scale-out path
//! (3 app instances → vmagent → VictoriaMetrics) is checked too.

mod support;

use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::time::Duration;

use support::*;

const TOKEN: &str = "t0k3n-for-the-proxy";

/// Runs the demo once through a proxy to `target`; returns what it sent.
fn write_demo_through_proxy(target: std::net::SocketAddr, instance: &str) -> Vec<RwSample> {
    let proxy = RecordingProxy::start(target);
    let out = Command::new(example_bin("remote_write_demo"))
        .args(["--url", &format!("{}/api/v1/write", proxy.url())])
        .args(["--token", TOKEN, "--instance", instance, "--once"])
        .output()
        .expect("run remote_write_demo");
    assert!(
        out.status.success(),
        "remote_write_demo failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let requests = proxy.requests();
    assert!(!requests.is_empty(), "no request reached the proxy");
    let mut sent = Vec::new();
    for r in &requests {
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/api/v1/write")
        );
        for (h, v) in [
            ("X-BK-TOKEN", TOKEN),
            ("Content-Encoding", "snappy"),
            ("Content-Type", "application/x-protobuf"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ] {
            assert_eq!(r.header(h), Some(v), "header {h} in {:?}", r.headers);
        }
        sent.extend(decode_write_request(&r.body).expect("decodable body"));
    }
    sent
}

fn label_map(pairs: &[(&str, &str)]) -> RwLabels {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// The seed's series as the demo writes them (values of `examples/seed_metrics.rs`).
fn expected_seed(instance: &str) -> BTreeMap<RwLabels, f64> {
    let ext = [("job", "remote_write_demo"), ("instance", instance)];
    let mut want = BTreeMap::new();
    let mut add = |name: &str, extra: &[(&str, &str)], v: f64| {
        let mut l = label_map(&ext);
        l.insert("__name__".into(), name.into());
        l.extend(label_map(extra));
        want.insert(l, v);
    };
    add("api_called_total", &[("inner_ip", "10.0.0.1")], 1.0);
    add("api_called_total", &[("inner_ip", "10.0.0.2")], 3.0);
    add("cpu_usage", &[("inner_ip", "10.0.0.1")], 0.3);
    add("cpu_usage", &[("inner_ip", "10.0.0.2")], 0.75);
    for (le, n) in [
        ("1", 1.0),
        ("2", 2.0),
        ("3", 4.0),
        ("4", 4.0),
        ("5", 5.0),
        ("+Inf", 6.0),
    ] {
        add("task_time_histogram_bucket", &[("le", le)], n);
    }
    add("task_time_histogram_sum", &[], 19.2);
    add("task_time_histogram_count", &[], 6.0);
    for (q, v) in [("0.5", 3.0), ("0.9", 7.0), ("0.99", 7.0)] {
        add("task_time_summary", &[("quantile", q)], v);
    }
    add("task_time_summary_sum", &[], 19.2);
    add("task_time_summary_count", &[], 6.0);
    want
}

fn as_map(sent: &[RwSample]) -> BTreeMap<RwLabels, f64> {
    let map: BTreeMap<RwLabels, f64> = sent.iter().map(|s| (s.labels.clone(), s.value)).collect();
    assert_eq!(map.len(), sent.len(), "a series was sent twice");
    map
}

fn assert_close(got: &BTreeMap<RwLabels, f64>, want: &BTreeMap<RwLabels, f64>) {
    let (g, w): (Vec<_>, Vec<_>) = (got.keys().collect(), want.keys().collect());
    assert_eq!(g, w, "series differ");
    for (l, v) in want {
        let x = got[l];
        assert!(
            (x - v).abs() <= 1e-9 * v.abs().max(1.0),
            "{l:?}: got {x}, want {v}"
        );
    }
}

#[test]
fn prometheus_receiver_holds_every_series_with_identical_labels_and_values() {
    if !have(&[Peer::Prometheus]) {
        return;
    }
    let prom = start_prometheus_with(&[], "1s", &["--web.enable-remote-write-receiver"]);
    let sent = write_demo_through_proxy(prom.addr(), "prom-1");
    let sent_map = as_map(&sent);
    assert_close(&sent_map, &expected_seed("prom-1"));
    let got = wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
        let rows = prometheus_series(&prom, r#"{job="remote_write_demo"}"#);
        (rows.len() >= sent.len()).then_some(rows)
    })
    .unwrap_or_else(|| panic!("Prometheus did not get every series:\n{}", prom.log()));
    let got: BTreeMap<RwLabels, f64> = got.into_iter().collect();
    assert_eq!(got, sent_map, "Prometheus holds exactly what was sent");
}

#[test]
fn victoria_metrics_holds_every_sample_with_identical_labels_values_and_timestamps() {
    if !have(&[Peer::VictoriaMetrics]) {
        return;
    }
    let vm = start_victoria_metrics();
    let sent = write_demo_through_proxy(vm.addr(), "vm-1");
    assert_close(&as_map(&sent), &expected_seed("vm-1"));
    let want: BTreeMap<RwLabels, Vec<(i64, f64)>> = sent
        .iter()
        .map(|s| (s.labels.clone(), vec![(s.timestamp_ms, s.value)]))
        .collect();
    let got = wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
        let rows = victoria_export(&vm, r#"{job="remote_write_demo"}"#);
        (rows.len() >= want.len()).then_some(rows)
    })
    .unwrap_or_else(|| panic!("VictoriaMetrics did not get every series:\n{}", vm.log()));
    let got: BTreeMap<RwLabels, Vec<(i64, f64)>> = got.into_iter().collect();
    assert_eq!(got, want, "VictoriaMetrics holds exactly what was sent");
}

/// Kills the child by PID on drop.
struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The scale-out path of the README: 3 instances of the `pull_demo` app, one vmagent
/// scraping them all and remote-writing to VictoriaMetrics; every series of every instance
/// must arrive, labelled with its `instance`.
#[test]
fn vmagent_forwards_every_series_of_every_instance() {
    if !have(&[Peer::VictoriaMetrics, Peer::Vmagent]) {
        return;
    }
    let vm = start_victoria_metrics();
    let mut apps = Vec::new();
    let mut targets = Vec::new();
    for _ in 0..3 {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new(example_bin("pull_demo"))
            .args(["--addr", &addr, "--seconds", "60"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start pull_demo");
        apps.push(Killed(child));
        targets.push(addr);
    }
    for t in &targets {
        let url = format!("http://{t}/metrics");
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            http_get(&url).ok().filter(|r| r.status == 200)
        })
        .unwrap_or_else(|| panic!("pull_demo at {t} not up"));
    }
    // The series each instance exposes, from its own text exposition.
    let body = http_get(&format!("http://{}/metrics", targets[0]))
        .unwrap()
        .text();
    let names: Vec<String> = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    assert!(names.len() >= 17, "{body}");
    let _agent = start_vmagent(
        "fleet",
        &targets,
        "1s",
        &format!("{}/api/v1/write", vm.url()),
    );
    let rows = wait_until(Duration::from_secs(30), Duration::from_millis(500), || {
        let rows = victoria_export(&vm, r#"{job="fleet"}"#);
        let per_instance = |t: &String| {
            rows.iter()
                .filter(|(l, _)| {
                    l.get("instance") == Some(t)
                        && l["__name__"] != "up"
                        && !l["__name__"].starts_with("scrape_")
                })
                .count()
        };
        targets
            .iter()
            .all(|t| per_instance(t) >= names.len())
            .then_some(rows)
    })
    .unwrap_or_else(|| {
        panic!(
            "not every series of every instance arrived: {:?}",
            victoria_export(&vm, r#"{job="fleet"}"#)
                .iter()
                .map(|(l, _)| l.clone())
                .collect::<Vec<_>>()
        )
    });
    for t in &targets {
        for n in &names {
            // `name{labels}` as exposed; compare by name and label set.
            let (name, labels) = n.split_once('{').unwrap_or((n, ""));
            let mut want = label_map(&[("__name__", name), ("job", "fleet"), ("instance", t)]);
            for pair in labels
                .trim_end_matches('}')
                .split(',')
                .filter(|p| !p.is_empty())
            {
                let (k, v) = pair.split_once('=').unwrap();
                want.insert(k.to_owned(), v.trim_matches('"').to_owned());
            }
            assert!(
                rows.iter()
                    .any(|(l, points)| *l == want && !points.is_empty()),
                "{want:?} missing"
            );
        }
    }
}
