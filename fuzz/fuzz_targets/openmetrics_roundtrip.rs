//! Encodes arbitrary label values, HELP text and exemplar labels in OpenMetrics and parses
//! the body back with an independent minimal parser: every value must come back exactly,
//! exemplars only where OpenMetrics allows them (counter `_total`, histogram `_bucket`), at
//! most 128 code points of exemplar labels, and the line structure OpenMetrics requires.
#![no_main]

mod common;

use common::{parse_labels, unescape, Pairs};
use libfuzzer_sys::fuzz_target;
use tachymeter::{Counter, Format, Histogram, Registry};

/// A sample line: name, labels, value, optional exemplar (labels, value, timestamp).
struct Line {
    name: String,
    labels: Pairs,
    value: String,
    exemplar: Option<(Pairs, String, String)>,
}

fn parse_line(line: &str) -> Line {
    let name_end = line.find(['{', ' ']).expect("name");
    let name = line[..name_end].to_owned();
    let (labels, rest) = if line[name_end..].starts_with('{') {
        parse_labels(&line[name_end + 1..]).expect("labels")
    } else {
        (Vec::new(), &line[name_end..])
    };
    let rest = rest.strip_prefix(' ').expect("single space before value");
    let (value, exemplar) = match rest.split_once(" # {") {
        None => (rest.to_owned(), None),
        Some((v, ex)) => {
            let (ex_labels, tail) = parse_labels(ex).expect("exemplar labels");
            let tail = tail.strip_prefix(' ').expect("space before exemplar value");
            let (ev, ts) = tail.split_once(' ').expect("exemplar timestamp");
            assert!(!ts.contains(' ') && !ts.contains('e'), "timestamp {ts:?}");
            (
                v.to_owned(),
                Some((ex_labels, ev.to_owned(), ts.to_owned())),
            )
        }
    };
    assert!(!value.contains(' '), "{line:?}");
    Line {
        name,
        labels,
        value,
        exemplar,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(4, '\u{1}');
    let help = parts.next().unwrap_or("");
    let value = parts.next().unwrap_or("");
    let ex_name = parts.next().unwrap_or("");
    let ex_value = parts.next().unwrap_or("");
    if help.is_empty() {
        return;
    }
    let reg = Registry::builder().created_samples(false).build();
    let c = Counter::builder("fuzz_total", help)
        .labels(["a"])
        .register(&reg)
        .unwrap();
    let h = Histogram::builder("lat", help)
        .buckets([1.0])
        .unwrap()
        .register(&reg)
        .unwrap();
    let ex = [(ex_name, ex_value)];
    let accepted = c
        .with_label_values(&[value])
        .try_inc_by_with_exemplar(7, &ex)
        .is_ok();
    let accepted_h = h.try_observe_with_exemplar(0.5, &ex).is_ok();
    assert_eq!(accepted, accepted_h);
    let code_points = ex_name.chars().count() + ex_value.chars().count();
    if accepted {
        assert!(code_points <= 128);
    }

    let body = reg.encode_to_string(Format::OpenMetrics);
    assert!(body.ends_with("\n# EOF\n"));
    // No blank lines. (A CR inside an escaped string is a `normal-char` in the OpenMetrics
    // ABNF and stays as it is; only LF ends a line, so split on LF, not `lines()`.)
    assert!(!body.contains("\n\n"));
    let lines: Vec<&str> = body.strip_suffix('\n').unwrap().split('\n').collect();
    // counter: TYPE, HELP, sample; histogram: TYPE, HELP, 2 buckets, sum, count; EOF.
    assert_eq!(lines.len(), 3 + 6 + 1, "{body:?}");
    assert_eq!(lines[0], "# TYPE fuzz counter");
    assert_eq!(
        unescape(lines[1].strip_prefix("# HELP fuzz ").unwrap(), true).unwrap(),
        help
    );
    assert_eq!(
        unescape(lines[4].strip_prefix("# HELP lat ").unwrap(), true).unwrap(),
        help
    );

    let s = parse_line(lines[2]);
    assert_eq!(s.name, "fuzz_total");
    assert_eq!(s.labels, vec![("a".to_owned(), value.to_owned())]);
    assert_eq!(s.value, "7");
    let want_ex = accepted.then(|| vec![(ex_name.to_owned(), ex_value.to_owned())]);
    assert_eq!(s.exemplar.as_ref().map(|e| e.0.clone()), want_ex);
    if let Some((_, v, _)) = &s.exemplar {
        assert_eq!(v, "7.0");
    }
    let b = parse_line(lines[5]);
    assert_eq!(b.name, "lat_bucket");
    assert_eq!(b.labels, vec![("le".to_owned(), "1.0".to_owned())]);
    assert_eq!(b.exemplar.as_ref().map(|e| e.0.clone()), want_ex);
    if let Some((_, v, _)) = &b.exemplar {
        assert_eq!(v, "0.5");
    }
    // Exemplars nowhere else.
    for l in &lines[6..9] {
        assert!(parse_line(l).exemplar.is_none(), "{l:?}");
    }
    // Never in the text format: the sample lines end with their values.
    let text = reg.encode_to_string(Format::Text);
    let t: Vec<&str> = text.strip_suffix('\n').unwrap().split('\n').collect();
    assert_eq!(t.len(), 3 + 6, "{text:?}");
    assert!(
        t[2].starts_with("fuzz_total{") && t[2].ends_with("\"} 7"),
        "{:?}",
        t[2]
    );
    assert_eq!(t[5], "lat_bucket{le=\"1\"} 1");
});
