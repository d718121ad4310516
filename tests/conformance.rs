//! Exposition bodies checked by software nobody here wrote: `promtool check metrics`,
//! Prometheus' OpenMetrics parser (via `promtool tsdb create-blocks-from openmetrics`), and the
//! Python `prometheus_client` text and strict OpenMetrics parsers. What they parse must equal
//! what was recorded, sample for sample, including nasty label values and HELP text.

mod support;

use std::collections::BTreeMap;

use support::{Peer, PromtoolOutcome};
use tachymeter::{Counter, Format, Gauge, Histogram, Registry};

/// Label values that break naive encoders.
fn nasty_values() -> Vec<String> {
    vec![
        r"back\slash".to_owned(),
        "double \"quote\"".to_owned(),
        "new\nline".to_owned(),
        r"\n literal backslash-n".to_owned(),
        "ünïcødé ✓ 日本".to_owned(),
        "tab\tand spaces  ".to_owned(),
        "}{,=\"".to_owned(),
        "x".repeat(5_000),
        String::new(),
    ]
}

type Key = (String, Vec<(String, String)>);

/// Builds a registry and returns it with every sample it must expose: (sample name, sorted
/// labels) → value, computed from what was recorded, not from the encoder.
fn recorded() -> (Registry, BTreeMap<Key, f64>) {
    let reg = Registry::builder()
        .const_label("service", "api \"v2\"")
        .unwrap()
        .build();
    let mut want = BTreeMap::new();
    let key = |name: &str, labels: &[(&str, &str)]| -> Key {
        let mut l: Vec<(String, String)> = labels
            .iter()
            .filter(|(_, v)| !v.is_empty()) // an empty label value is no label (data model)
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        l.push(("service".into(), "api \"v2\"".into()));
        l.sort();
        (name.to_owned(), l)
    };

    let calls = Counter::builder(
        "api_called_total",
        "How many times \\ the API was called.\nSecond line with \"quotes\".",
    )
    .labels(["inner_ip", "path"])
    .register(&reg)
    .unwrap();
    for (i, v) in nasty_values().iter().enumerate() {
        calls
            .with_label_values(&["10.0.0.1", v])
            .inc_by(i as u64 + 1);
        want.insert(
            key("api_called_total", &[("inner_ip", "10.0.0.1"), ("path", v)]),
            i as f64 + 1.0,
        );
    }
    let frac = Counter::builder("bytes_total", "Bytes, fractional.")
        .register(&reg)
        .unwrap();
    frac.inc_by_f64(0.1);
    frac.inc_by_f64(0.2);
    want.insert(key("bytes_total", &[]), 0.1 + 0.2);

    let gauge = Gauge::builder("cpu_usage", "simulate the cpu usage metric")
        .labels(["case"])
        .register(&reg)
        .unwrap();
    for (case, v) in [
        ("neg", -3.25),
        ("tiny", 1e-300),
        ("huge", 1.7976931348623157e308),
        ("pinf", f64::INFINITY),
        ("ninf", f64::NEG_INFINITY),
        ("nan", f64::NAN),
        ("third", 1.0 / 3.0),
        ("million", 1e6),
    ] {
        gauge.with_label_values(&[case]).set(v);
        want.insert(key("cpu_usage", &[("case", case)]), v);
    }

    let bounds = [1e-5, 0.0001, 0.5, 1.0, 2.5, 1e6];
    let hist = Histogram::builder(
        "task_time_seconds",
        "analyze the time of task with histogram",
    )
    .labels(["kind"])
    .buckets(bounds)
    .unwrap()
    .register(&reg)
    .unwrap();
    let observations = [0.0, 3e-6, 0.00005, 0.3, 1.0, 2.0, 2.5, 7.0, 2e6, -1.0];
    for &o in &observations {
        hist.with_label_values(&["a"]).observe(o);
    }
    for le in bounds.iter().copied().chain([f64::INFINITY]) {
        let n = observations.iter().filter(|&&o| o <= le).count();
        // `le` strings as Go/promtool spell them; checked separately in `le_spelling`.
        let le_s = if le == 1e-5 {
            "1e-05".to_owned()
        } else if le == 1e6 {
            "1e+06".to_owned()
        } else if le.is_infinite() {
            "+Inf".to_owned()
        } else {
            format!("{le}")
        };
        want.insert(
            key("task_time_seconds_bucket", &[("kind", "a"), ("le", &le_s)]),
            n as f64,
        );
    }
    want.insert(
        key("task_time_seconds_count", &[("kind", "a")]),
        observations.len() as f64,
    );
    want.insert(
        key("task_time_seconds_sum", &[("kind", "a")]),
        observations.iter().sum(),
    );
    (reg, want)
}

fn assert_same(
    parsed: &[support::ParsedFamily],
    want: &BTreeMap<Key, f64>,
    le_fix: impl Fn(&str) -> String,
) {
    let mut got = BTreeMap::new();
    for f in parsed {
        for s in &f.samples {
            if s.name.ends_with("_created") {
                continue;
            }
            // An empty label value is the same as no label (data model); parsers differ in
            // whether they keep it, so compare without.
            let labels = s
                .labels
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.clone(), if k == "le" { le_fix(v) } else { v.clone() }))
                .collect();
            assert!(
                got.insert((s.name.clone(), labels), s.value).is_none(),
                "duplicate series {} {:?}",
                s.name,
                s.labels
            );
        }
    }
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:#?}\nextra {extra:#?}"
    );
    for (k, w) in want {
        let g = got[k];
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "{k:?}: parsed {g:e}, recorded {w:e}"
        );
    }
}

#[test]
fn text_body_passes_promtool_and_round_trips_through_python() {
    if !support::have(&[Peer::Promtool, Peer::Python]) {
        return;
    }
    let (reg, want) = recorded();
    let body = reg.encode_to_string(Format::Text);
    match support::promtool_check(&body) {
        PromtoolOutcome::Clean => {}
        other => panic!("promtool: {other:?}\n{body}"),
    }
    let parsed = support::python_parse_text(&body).expect("python text parser");
    assert_same(&parsed, &want, str::to_owned);
    let help = &support::family(&parsed, "api_called").expect("family").help;
    assert_eq!(
        help,
        "How many times \\ the API was called.\nSecond line with \"quotes\"."
    );
}

#[test]
fn openmetrics_body_passes_both_strict_parsers_and_round_trips() {
    if !support::have(&[Peer::Promtool, Peer::Python]) {
        return;
    }
    let (reg, want) = recorded();
    let body = reg.encode_to_string(Format::OpenMetrics);
    assert!(body.ends_with("# EOF\n"));
    support::promtool_openmetrics_check(&body)
        .unwrap_or_else(|e| panic!("promtool OM: {e}\n{body}"));
    let parsed = support::python_parse_openmetrics(&body).expect("python OpenMetrics parser");
    // OpenMetrics spells le canonically (1.0, 100000.0, ...): map to the text spelling to compare.
    // Go %g drops the ".0" that OpenMetrics adds to integral values; exponents are alike.
    let to_text = |v: &str| -> String { v.strip_suffix(".0").unwrap_or(v).to_owned() };
    assert_same(&parsed, &want, to_text);
    let fam = support::family(&parsed, "api_called").expect("counter family without _total");
    assert_eq!(fam.typ, "counter");
    assert_eq!(
        fam.help,
        "How many times \\ the API was called.\nSecond line with \"quotes\"."
    );
}

/// The `le` label is series identity: Go's text spelling and OpenMetrics' canonical one.
#[test]
fn le_spelling_matches_go_and_openmetrics() {
    let reg = Registry::new();
    let h = Histogram::builder("h", "H.")
        .buckets([1e-5, 0.0001, 1.0, 100000.0, 1e6])
        .unwrap()
        .register(&reg)
        .unwrap();
    h.observe(1.0);
    let text = reg.encode_to_string(Format::Text);
    for le in ["1e-05", "0.0001", "1", "100000", "1e+06", "+Inf"] {
        assert!(
            text.contains(&format!("h_bucket{{le=\"{le}\"}}")),
            "text le={le}\n{text}"
        );
    }
    let om = reg.encode_to_string(Format::OpenMetrics);
    for le in ["1e-05", "0.0001", "1.0", "100000.0", "1e+06", "+Inf"] {
        assert!(
            om.contains(&format!("h_bucket{{le=\"{le}\"}}")),
            "OpenMetrics le={le}\n{om}"
        );
    }
}
