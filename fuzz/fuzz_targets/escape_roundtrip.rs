//! Encodes arbitrary label values and HELP text in both formats and parses the output back
//! with an independent minimal parser: the values must come back exactly, and the body must
//! have the line structure the formats require.
#![no_main]

mod common;

use common::{parse_labels, unescape};
use libfuzzer_sys::fuzz_target;
use tachymeter::{Counter, Format, Registry};

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
