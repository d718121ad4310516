//! Shared by the round-trip fuzz targets: an independent minimal parser for the pieces of an
//! exposition that carry escaped text.

/// Undoes exposition escaping; `quote` says whether `\"` is an escape (label values, and HELP
/// in OpenMetrics). Returns None on an escape the format does not define.
pub(crate) fn unescape(s: &str, quote: bool) -> Option<String> {
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

/// Label pairs, unescaped, in order.
pub(crate) type Pairs = Vec<(String, String)>;

/// Parses `k="v",...}` (the text after a `{`); returns the unescaped pairs and the rest after
/// the `}`. Label names must be plain identifiers.
pub(crate) fn parse_labels(mut s: &str) -> Option<(Pairs, &str)> {
    let mut pairs = Vec::new();
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return Some((pairs, rest));
        }
        if !pairs.is_empty() {
            s = s.strip_prefix(',')?;
        }
        let eq = s.find("=\"")?;
        let name = &s[..eq];
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "label name {name:?}"
        );
        let body = &s[eq + 2..];
        // The closing quote: the first `"` not escaped by a backslash.
        let bytes = body.as_bytes();
        let mut i = 0;
        let end = loop {
            match bytes.get(i)? {
                b'\\' => i += 2,
                b'"' => break i,
                _ => i += 1,
            }
        };
        pairs.push((name.to_owned(), unescape(&body[..end], true)?));
        s = &body[end + 1..];
    }
}
