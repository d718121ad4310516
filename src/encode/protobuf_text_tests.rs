//! The protobuf exposition against the text exposition: the samples Prometheus' protobuf
//! parser makes of a body, keyed as Prometheus stores series, equal those of the same
//! registry's text 0.0.4 body, cold and from the label cache.

use std::collections::BTreeMap;

use super::*;

/// A series key as Prometheus would store it: name and labels sorted, empty values dropped,
/// `le` / `quantile` respelled from their parsed value.
type Key = (String, BTreeMap<String, String>);

fn bound_key(v: f64) -> String {
    format!("{v:?}")
}

/// The samples Prometheus' protobuf parser makes of the families (classic histograms).
fn flatten(families: &[MetricFamily]) -> BTreeMap<Key, f64> {
    let mut out = BTreeMap::new();
    for f in families {
        let name = f.name();
        for m in &f.metric {
            let base: BTreeMap<String, String> = m
                .label
                .iter()
                .map(|l| (l.name().to_owned(), l.value().to_owned()))
                .collect();
            let mut put = |suffix: &str, extra: Option<(&str, f64)>, v: f64| {
                let mut l = base.clone();
                if let Some((n, b)) = extra {
                    l.insert(n.to_owned(), bound_key(b));
                }
                let fresh = out.insert((format!("{name}{suffix}"), l), v).is_none();
                assert!(fresh, "series {name}{suffix} twice");
            };
            match f.r#type() {
                COUNTER => put("", None, m.counter.as_ref().unwrap().value()),
                GAUGE => put("", None, m.gauge.as_ref().unwrap().value()),
                UNTYPED => put("", None, m.untyped.as_ref().unwrap().value()),
                SUMMARY => {
                    let s = m.summary.as_ref().unwrap();
                    for q in &s.quantile {
                        put("", Some(("quantile", q.quantile())), q.value());
                    }
                    put("_sum", None, s.sample_sum());
                    put("_count", None, s.sample_count() as f64);
                }
                HISTOGRAM => {
                    let h = m.histogram.as_ref().unwrap();
                    for b in &h.bucket {
                        put(
                            "_bucket",
                            Some(("le", b.upper_bound())),
                            b.cumulative_count() as f64,
                        );
                    }
                    if h.bucket
                        .last()
                        .is_none_or(|b| b.upper_bound() != f64::INFINITY)
                    {
                        put(
                            "_bucket",
                            Some(("le", f64::INFINITY)),
                            h.sample_count() as f64,
                        );
                    }
                    put("_sum", None, h.sample_sum());
                    put("_count", None, h.sample_count() as f64);
                }
                t => panic!("type {t}"),
            }
        }
    }
    out
}

fn parse_value(v: &str) -> f64 {
    match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        _ => v.parse().unwrap_or_else(|_| panic!("value {v:?}")),
    }
}

/// The samples of a text 0.0.4 body, keyed as [`flatten`] keys them.
fn parse_text(body: &str) -> BTreeMap<Key, f64> {
    let mut out = BTreeMap::new();
    for line in body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name_end = line.find(['{', ' ']).unwrap();
        let name = &line[..name_end];
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(r) = rest.strip_prefix('{') {
            let mut chars = r.char_indices().peekable();
            let mut end = 0;
            loop {
                let (i, c) = chars.next().unwrap();
                if c == '}' {
                    end = i + 1;
                    break;
                }
                if c == ',' {
                    continue;
                }
                let eq = r[i..].find('=').unwrap() + i;
                let n = &r[i..eq];
                while chars.peek().unwrap().0 <= eq + 1 {
                    chars.next();
                }
                let mut v = String::new();
                loop {
                    let (_, c) = chars.next().unwrap();
                    match c {
                        '"' => break,
                        '\\' => match chars.next().unwrap().1 {
                            'n' => v.push('\n'),
                            o => v.push(o),
                        },
                        o => v.push(o),
                    }
                }
                if n == "le" || n == "quantile" {
                    v = bound_key(parse_value(&v));
                }
                if !v.is_empty() {
                    labels.insert(n.to_owned(), v);
                }
                let _ = end;
            }
            rest = &r[end..];
        }
        out.insert((name.to_owned(), labels), parse_value(rest.trim()));
    }
    out
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// Asserts that `r`'s protobuf body holds exactly the series and values of its text
/// exposition; returns the decoded families and the number of series compared.
pub(super) fn assert_round_trips_text(r: &Registry) -> (Vec<MetricFamily>, usize) {
    let fs = decode(&encode(r));
    let from_pb = flatten(&fs);
    let text = r.encode_to_string(Format::Text);
    let from_text = parse_text(&text);
    let keys = |m: &BTreeMap<Key, f64>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&from_pb), keys(&from_text), "text:\n{text}");
    for (k, v) in &from_text {
        assert!(same(from_pb[k], *v), "{k:?}: {} != {v}", from_pb[k]);
    }
    (fs, from_text.len())
}

#[test]
fn values_round_trip_the_text_exposition() {
    let (_, n) = assert_round_trips_text(&full_registry());
    assert!(n > 30, "{n}");
}

#[test]
fn warm_scrapes_from_the_label_cache_equal_a_cold_one() {
    // The first scrape fills the per-child cache; later ones copy from it. Children added
    // and removed in between must come out with their own labels, and families whose size
    // crosses a length-prefix width must still decode.
    let r = full_registry();
    let c = Counter::builder("grow_total", "Grows.")
        .labels(["k"])
        .register(&r)
        .unwrap();
    let cold = encode(&r);
    assert_eq!(encode(&r), cold, "warm scrape differs from the cold one");
    assert_eq!(encode(&r), cold);
    for i in 0..200 {
        c.with_label_values(&[&format!("v{i}-{}", "y".repeat(i))])
            .inc();
    }
    let grown = encode(&r);
    let fresh = full_registry();
    let text = |r: &Registry| {
        let mut t = Vec::new();
        r.encode(Format::Text, &mut t).unwrap();
        parse_text(&String::from_utf8(t).unwrap())
    };
    let fs = decode(&grown);
    assert_eq!(family(&fs, "app_grow_total").metric.len(), 200);
    assert_eq!(flatten(&fs), text(&r));
    assert!(c.remove(&["v0-"]).unwrap());
    assert!(c.try_with_label_values(&["late"]).is_ok());
    let fs = decode(&encode(&r));
    assert_eq!(family(&fs, "app_grow_total").metric.len(), 200);
    assert_eq!(flatten(&fs), text(&r));
    assert_eq!(flatten(&decode(&encode(&fresh))), text(&fresh));
}
