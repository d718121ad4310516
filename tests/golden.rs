//! Golden exposition files: `tests/golden/*.prom` were written by hand from the format specs
//! (FORMATS.md rules 1–4, 7, 12) and are themselves checked by the real parsers here, so the
//! expected bytes are the specs' and promtool's, not whatever the encoder happens to print.

mod support;

use support::{Peer, PromtoolOutcome};
use tachymeter::{Counter, Format, Gauge, Histogram, Registry};

fn registry() -> Registry {
    // `_created` samples carry the wall clock, so the golden registry has them off; they are
    // checked in tests/openmetrics.rs (rule 6).
    let reg = Registry::builder().created_samples(false).build();
    let req = Counter::builder(
        "http_requests_total",
        "Requests served, by method and code.",
    )
    .labels(["method", "code"])
    .register(&reg)
    .unwrap();
    req.with_label_values(&["GET", "200"]).inc_by(1027);
    let temp = Gauge::builder(
        "temperature_celsius",
        "Temperature with a backslash \\ and a newline \n in its help; \"quotes\" stay.",
    )
    .labels(["room"])
    .register(&reg)
    .unwrap();
    temp.with_label_values(&["lab \"A\"\n2nd floor \\ east"])
        .set(-4.5);
    let edge = Gauge::builder("edge_values", "Non-finite and extreme values.")
        .labels(["case"])
        .register(&reg)
        .unwrap();
    for (case, v) in [
        ("nan", f64::NAN),
        ("pinf", f64::INFINITY),
        ("ninf", f64::NEG_INFINITY),
        ("small", 1e-5),
        ("large", 1.7560473e7),
    ] {
        edge.with_label_values(&[case]).set(v);
    }
    let rpc = Histogram::builder("rpc_duration_seconds", "RPC latency.")
        .buckets([0.0001, 0.25, 1.0, 1e6])
        .unwrap()
        .register(&reg)
        .unwrap();
    for v in [0.00005, 0.25, 1.0, 1e6, 2e6] {
        rpc.observe(v);
    }
    reg
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/golden/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn text_matches_golden_file() {
    assert_eq!(
        registry().encode_to_string(Format::Text),
        golden("text.prom")
    );
}

#[test]
fn openmetrics_matches_golden_file() {
    assert_eq!(
        registry().encode_to_string(Format::OpenMetrics),
        golden("openmetrics.prom")
    );
}

/// The golden files are what the real parsers accept (and promtool lints nothing in them).
#[test]
fn golden_files_pass_the_real_parsers() {
    if !support::have(&[Peer::Promtool, Peer::Python]) {
        return;
    }
    let text = golden("text.prom");
    assert!(matches!(
        support::promtool_check(&text),
        PromtoolOutcome::Clean
    ));
    let parsed = support::python_parse_text(&text).unwrap();
    assert_eq!(parsed.len(), 4);
    let om = golden("openmetrics.prom");
    support::promtool_openmetrics_check(&om).unwrap();
    let parsed = support::python_parse_openmetrics(&om).unwrap();
    let temp = support::family(&parsed, "temperature_celsius").unwrap();
    assert_eq!(
        temp.help,
        "Temperature with a backslash \\ and a newline \n in its help; \"quotes\" stay."
    );
    assert_eq!(
        temp.samples[0].label("room"),
        Some("lab \"A\"\n2nd floor \\ east")
    );
}
