//! Module implementing the escaping rules of the exposition formats (FORMATS.md rules 1
//! and 2), writing straight into the output buffer without allocating.

/// Appends a label value escaped for both formats: `\` → `\\`, `"` → `\"`, LF → `\n`.
/// Escaping is unconditional: input is never assumed to be escaped already.
pub(crate) fn label_value(out: &mut Vec<u8>, v: &str) {
    escape(out, v.as_bytes(), true);
}

/// Appends HELP text escaped for the Prometheus text format: `\` → `\\`, LF → `\n`
/// (double quotes stay as they are).
pub(crate) fn help_text(out: &mut Vec<u8>, v: &str) {
    escape(out, v.as_bytes(), false);
}

/// Appends HELP text escaped for OpenMetrics, where HELP is an escaped string: `\`, `"`
/// and LF are all escaped.
pub(crate) fn help_openmetrics(out: &mut Vec<u8>, v: &str) {
    escape(out, v.as_bytes(), true);
}

/// Whether [`label_value`] writes `v` changed (it holds a `\`, `"` or LF), i.e. whether a
/// rendered label value differs from the raw one.
pub(crate) fn label_value_changes(v: &str) -> bool {
    v.bytes().any(|b| replacement(b, true).is_some())
}

/// What `b` is escaped as, if it is escaped (`quote`: whether `"` is).
#[inline]
fn replacement(b: u8, quote: bool) -> Option<&'static [u8]> {
    match b {
        b'\\' => Some(b"\\\\"),
        b'\n' => Some(b"\\n"),
        b'"' if quote => Some(b"\\\""),
        _ => None,
    }
}

fn escape(out: &mut Vec<u8>, bytes: &[u8], quote: bool) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let Some(rep) = replacement(b, quote) else {
            continue;
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(rep);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: fn(&mut Vec<u8>, &str), s: &str) -> String {
        let mut v = Vec::new();
        f(&mut v, s);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn label_values_escape_backslash_quote_newline() {
        assert_eq!(run(label_value, r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(run(label_value, "x\ny"), r"x\ny");
        assert_eq!(
            run(label_value, r"\n"),
            r"\\n",
            "already-escaped input is escaped again"
        );
        assert_eq!(run(label_value, "ünï\tcode"), "ünï\tcode");
    }

    #[test]
    fn help_text_differs_by_format() {
        assert_eq!(run(help_text, "say \"hi\"\\\n"), "say \"hi\"\\\\\\n");
        assert_eq!(
            run(help_openmetrics, "say \"hi\"\\\n"),
            "say \\\"hi\\\"\\\\\\n"
        );
    }
}
