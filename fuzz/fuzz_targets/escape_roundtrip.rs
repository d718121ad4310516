//! Encodes arbitrary label values and HELP text in both formats and parses the output back
//! with an independent minimal parser: the values must come back exactly, and the body must
//! have the line structure the formats require.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tachymeter::{Counter, Format, Registry};

/// Undoes exposition escaping; `quote` says whether `\"` is an escape (label values, and HELP
/// in OpenMetrics). Returns None on an escape the format does not define.
fn unescape(s: &str, quote: bool) -> Option<String> {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next()? {
            '\\' => out.push('\\'),
            'n' => out.push('\n'),
            '"' if quote => out.push('"'),
            _ => return None,
        }
    }
    Some(out)
}

/// Splits `k="v",k2="v2"` (escaped values) into unescaped pairs; returns the rest after `}`.
fn parse_labels(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut pairs = Vec::new();
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return Some((pairs, rest));
        }
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        }
        let eq = s.find("=\"")?;
        let name = s[..eq].to_owned();
        let body = &s[eq + 2..];
        // Find the closing quote: the first `"` not preceded by an odd run of backslashes.
        let bytes = body.as_bytes();
        let mut i = 0;
        let end = loop {
            match bytes.get(i)? {
                b'\\' => i += 2,
                b'"' => break i,
                _ => i += 1,
            }
        };
        pairs.push((name, unescape(&body[..end], true)?));
        s = &body[end + 1..];
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\u{1}');
    let help = parts.next().unwrap_or("");
    let v1 = parts.next().unwrap_or("");
    let v2 = parts.next().unwrap_or("");
    if help.is_empty() {
        return;
    }
    // No `_created` line: this target checks escaping, and the line count below.
    let reg = Registry::builder().created_samples(false).build();
    let fam = Counter::builder("fuzz_total", help)
        .labels(["a", "b"])
        .register(&reg)
        .unwrap();
    fam.with_label_values(&[v1, v2]).inc_by(7);

    for format in [Format::Text, Format::OpenMetrics] {
        let body = reg.encode_to_string(format);
        assert!(body.ends_with('\n'));
        let lines: Vec<&str> = body.split('\n').collect();
        // Escaping must keep every logical line on one physical line.
        let expected_lines = if format == Format::Text { 3 } else { 4 };
        assert_eq!(lines.len(), expected_lines + 1, "{body:?}");
        let (help_line, sample_line) = match format {
            Format::Text => (lines[0], lines[2]),
            _ => (lines[1], lines[2]),
        };
        let prefix = if format == Format::Text {
            "# HELP fuzz_total "
        } else {
            "# HELP fuzz "
        };
        let got_help = unescape(
            help_line.strip_prefix(prefix).unwrap(),
            format == Format::OpenMetrics,
        )
        .unwrap();
        assert_eq!(got_help, help);
        let rest = sample_line.strip_prefix("fuzz_total{").unwrap();
        let (pairs, tail) = parse_labels(rest).unwrap();
        assert_eq!(
            pairs,
            vec![
                ("a".to_owned(), v1.to_owned()),
                ("b".to_owned(), v2.to_owned())
            ]
        );
        assert_eq!(tail, " 7");
    }
});
