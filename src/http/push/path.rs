//! Module implementing the Pushgateway's grouping-key URL path (FORMATS rule 19). See
//! [`encode_push_path`].

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

/// URL-safe alphabet, padding optional when decoding (as the Pushgateway accepts).
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Whether a value must go base64-encoded: it holds `/` (which the gateway would route on
/// even when percent-encoded), is empty (an empty segment would collapse), or is `.`/`..`
/// (which routers and proxies normalise away).
fn needs_base64(value: &str) -> bool {
    value.is_empty() || value == "." || value == ".." || value.contains('/')
}

/// Appends `value` percent-encoded: everything but RFC 3986 unreserved characters, so a
/// space is `%20` (never `+`, which the gateway keeps as a literal `+`).
fn percent_encode_into(value: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
        }
    }
}

/// Appends `/<name>/<value>` or `/<name>@base64/<value in URL-safe base64>`.
fn push_pair(out: &mut String, name: &str, value: &str) {
    out.push('/');
    out.push_str(name);
    out.push_str(if needs_base64(value) { "@base64/" } else { "/" });
    if value.is_empty() {
        // The gateway's spelling of an empty value (its README: "use `=`").
        out.push('=');
    } else if needs_base64(value) {
        URL_SAFE.encode_string(value, out);
    } else {
        percent_encode_into(value, out);
    }
}

/// The Pushgateway path for a job and grouping key:
/// `/metrics/job/<job>{/<label>/<value>}`, with base64url `@base64` for values (and a job)
/// containing `/`, `=` for an empty value and `%20` (never `+`) for a space.
///
/// Names are written as given: [`Pusher`](super::Pusher) validates them. Exposed for the fuzz
/// targets; not part of the stable API.
#[doc(hidden)]
pub fn encode_push_path(job: &str, grouping_key: &[(String, String)]) -> String {
    let mut out = String::with_capacity(16 + job.len() * 2);
    out.push_str("/metrics");
    push_pair(&mut out, "job", job);
    for (n, v) in grouping_key {
        push_pair(&mut out, n, v);
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = core::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Decodes a path the way the Pushgateway does: the job and the grouping key. `None` for a
/// path it would reject. The inverse of [`encode_push_path`]; exposed for the fuzz targets.
#[doc(hidden)]
pub fn decode_push_path(path: &str) -> Option<(String, Vec<(String, String)>)> {
    let rest = path.strip_prefix("/metrics/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.len() % 2 != 0 {
        return None;
    }
    let mut pairs = Vec::with_capacity(segments.len() / 2);
    for pair in segments.chunks(2) {
        let (name, value) = match pair[0].strip_suffix("@base64") {
            Some(name) => {
                let value = if pair[1] == "=" {
                    String::new()
                } else {
                    String::from_utf8(URL_SAFE_LENIENT.decode(pair[1]).ok()?).ok()?
                };
                (name, value)
            }
            None => (pair[0], percent_decode(pair[1])?),
        };
        pairs.push((name.to_owned(), value));
    }
    let (first, value) = pairs.first()?;
    if first != "job" || value.is_empty() {
        return None;
    }
    let job = pairs.remove(0).1;
    Some((job, pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn encodes_every_rule() {
        assert_eq!(encode_push_path("batch", &[]), "/metrics/job/batch");
        assert_eq!(
            encode_push_path("batch", &key(&[("instance", "10.0.0.1:80")])),
            "/metrics/job/batch/instance/10.0.0.1%3A80"
        );
        // `/` → base64url (Pushgateway README example: `/path/to/job` → L3BhdGgvdG8vam9i).
        assert_eq!(
            encode_push_path("/path/to/job", &key(&[("path", "a/b")])),
            "/metrics/job@base64/L3BhdGgvdG8vam9i/path@base64/YS9i"
        );
        // The URL-safe alphabet: `-` and `_` instead of `+` and `/`.
        assert_eq!(
            encode_push_path("j", &key(&[("v", "/>>?")])),
            "/metrics/job/j/v@base64/Lz4-Pw=="
        );
        assert_eq!(
            encode_push_path("j", &key(&[("empty", "")])),
            "/metrics/job/j/empty@base64/="
        );
        assert_eq!(
            encode_push_path("my job", &key(&[("a", "x y+z")])),
            "/metrics/job/my%20job/a/x%20y%2Bz"
        );
        assert_eq!(
            encode_push_path("j", &key(&[("u", "café ✓"), ("d", ".."), ("e", ".")])),
            "/metrics/job/j/u/caf%C3%A9%20%E2%9C%93/d@base64/Li4=/e@base64/Lg=="
        );
        assert!(!encode_push_path("a b", &key(&[("x", "c d e")])).contains('+'));
    }

    #[test]
    fn decodes_back() {
        for (job, pairs) in [
            ("batch", key(&[])),
            (
                "/a/b",
                key(&[("instance", "x/y"), ("e", ""), ("s", "a b+c%")]),
            ),
            ("ünï", key(&[("k", "✓"), ("dots", ".."), ("eq", "=")])),
        ] {
            let path = encode_push_path(job, &pairs);
            assert_eq!(
                decode_push_path(&path),
                Some((job.to_owned(), pairs)),
                "{path}"
            );
        }
        // Padding is optional; a literal `+` stays `+`; `%20` is a space.
        assert_eq!(
            decode_push_path("/metrics/job/j/v@base64/YS9i/w/a+b%20c"),
            Some(("j".into(), key(&[("v", "a/b"), ("w", "a+b c")])))
        );
        for bad in [
            "/metrics/job",
            "/metrics/job/j/odd",
            "/other/job/j",
            "/metrics/job/j/v@base64/+/",
        ] {
            assert_eq!(decode_push_path(bad), None, "{bad}");
        }
    }
}
