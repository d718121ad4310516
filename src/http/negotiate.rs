//! Module implementing dependency-free request parsing for scrapes: `Accept` negotiation
//! ([`negotiate`]), `Accept-Encoding` ([`accepts_gzip`]) and the `name[]` filter
//! ([`NameFilter`]).

use core::ops::Range;

use super::error::{AcceptError, QueryError};
use crate::Format;

/// HTTP `tchar` (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn skip_ows(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
        i += 1;
    }
    i
}

fn token(s: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < s.len() && is_tchar(s[i]) {
        i += 1;
    }
    i
}

/// Parses an RFC 9110 `qvalue` into thousandths: `0(.ddd)?` or `1(.000)?`.
fn parse_q(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(p) => (&v[..p], &v[p + 1..]),
        None => (v, &[][..]),
    };
    if int.len() != 1 || frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut q = match int[0] {
        b'0' => 0u16,
        b'1' => 1000,
        _ => return None,
    };
    let mut scale = 100;
    for &d in frac {
        q += u16::from(d - b'0') * scale;
        scale /= 10;
    }
    (q <= 1000).then_some(q)
}

/// One parsed element of an `Accept` header: what matters for choosing a format.
struct MediaRange {
    /// The format this range selects, if any, and how specifically (higher is more specific).
    matches: Option<(Format, u8)>,
    /// Quality in thousandths.
    q: u16,
}

/// Parses one media range starting at `i` (after optional whitespace); returns it and the
/// index just past it (at a `,` or the end).
fn media_range(h: &str, i: usize) -> Result<(MediaRange, usize), AcceptError> {
    let s = h.as_bytes();
    let t_end = token(s, i);
    if t_end == i || t_end >= s.len() || s[t_end] != b'/' {
        return Err(AcceptError::BadMediaRange { at: i });
    }
    let st_end = token(s, t_end + 1);
    if st_end == t_end + 1 {
        return Err(AcceptError::BadMediaRange { at: i });
    }
    let ty = &h[i..t_end];
    let sub = &h[t_end + 1..st_end];
    let mut q = 1000;
    let mut version: Option<(usize, usize)> = None;
    // `proto=` and `encoding=` of `application/vnd.google.protobuf`.
    let mut proto: Option<(usize, usize)> = None;
    let mut encoding: Option<(usize, usize)> = None;
    let mut j = st_end;
    loop {
        j = skip_ows(s, j);
        if j >= s.len() || s[j] == b',' {
            break;
        }
        if s[j] != b';' {
            return Err(AcceptError::BadParameter { at: j });
        }
        j = skip_ows(s, j + 1);
        let n_end = token(s, j);
        if n_end == j || n_end >= s.len() || s[n_end] != b'=' {
            return Err(AcceptError::BadParameter { at: j });
        }
        let name = &h[j..n_end];
        let v_start = n_end + 1;
        let (value, v_end) = if s.get(v_start) == Some(&b'"') {
            // quoted-string: up to the next unescaped quote.
            let mut k = v_start + 1;
            loop {
                match s.get(k) {
                    None => return Err(AcceptError::BadParameter { at: j }),
                    Some(b'\\') => k += 2,
                    Some(b'"') => break,
                    Some(_) => k += 1,
                }
            }
            ((v_start + 1, k), k + 1)
        } else {
            let e = token(s, v_start);
            if e == v_start {
                return Err(AcceptError::BadParameter { at: j });
            }
            ((v_start, e), e)
        };
        if name.eq_ignore_ascii_case("q") {
            q = parse_q(&s[value.0..value.1]).ok_or(AcceptError::BadQValue { at: j })?;
        } else if name.eq_ignore_ascii_case("version") {
            version = Some(value);
        } else if name.eq_ignore_ascii_case("proto") {
            proto = Some(value);
        } else if name.eq_ignore_ascii_case("encoding") {
            encoding = Some(value);
        }
        j = v_end;
    }
    let version = version.map(|(a, b)| &h[a..b]);
    let matches =
        if ty.eq_ignore_ascii_case("application") && sub.eq_ignore_ascii_case("openmetrics-text") {
            match version {
                None => Some((Format::OpenMetrics, 2)),
                Some("1.0.0") => Some((Format::OpenMetrics, 3)),
                Some(_) => None,
            }
        } else if ty.eq_ignore_ascii_case("text") && sub.eq_ignore_ascii_case("plain") {
            match version {
                None => Some((Format::Text, 2)),
                Some("0.0.4") => Some((Format::Text, 3)),
                Some(_) => None,
            }
        } else if ty.eq_ignore_ascii_case("application")
            && sub.eq_ignore_ascii_case("vnd.google.protobuf")
        {
            let param = |p: Option<(usize, usize)>| p.map(|(a, b)| &h[a..b]);
            protobuf_range(param(proto), param(encoding))
        } else if ty.eq_ignore_ascii_case("text") && sub == "*" {
            Some((Format::Text, 1))
        } else if ty == "*" && sub == "*" {
            Some((Format::Text, 0))
        } else {
            None
        };
    Ok((MediaRange { matches, q }, j))
}

/// What `application/vnd.google.protobuf` with these `proto` and `encoding` parameters
/// selects: the delimited `MetricFamily` stream only (as client_golang's `expfmt.Negotiate`
/// reads it), and only with feature `protobuf`.
#[cfg(feature = "protobuf")]
fn protobuf_range(proto: Option<&str>, encoding: Option<&str>) -> Option<(Format, u8)> {
    (proto == Some("io.prometheus.client.MetricFamily") && encoding == Some("delimited"))
        .then_some((Format::Protobuf, 3))
}

#[cfg(not(feature = "protobuf"))]
fn protobuf_range(_proto: Option<&str>, _encoding: Option<&str>) -> Option<(Format, u8)> {
    None
}

/// Index of a format's slot in [`negotiate`]'s table.
fn slot(format: Format) -> usize {
    match format {
        Format::Text => 0,
        Format::OpenMetrics => 1,
        #[cfg(feature = "protobuf")]
        Format::Protobuf => 2,
    }
}

/// The formats [`negotiate`] chooses among, in [`slot`] order.
const FORMATS: &[Format] = &[
    Format::Text,
    Format::OpenMetrics,
    #[cfg(feature = "protobuf")]
    Format::Protobuf,
];

/// Chooses the exposition format for an `Accept` header (FORMATS rule 17, exposition formats
/// "Selection of Format").
///
/// Each supported format takes the `q` of the most specific media range that matches it;
/// the highest `q` wins, then the more specific range, then the one listed first. A format
/// whose range has `q=0` is refused. OpenMetrics is chosen only for
/// `application/openmetrics-text` with `version=1.0.0` or no version (wildcards never select
/// it); text 0.0.4 matches `text/plain` with `version=0.0.4` or none, `text/*` and `*/*`, and
/// is also the answer when nothing supported is acceptable (the spec's fallback, never 406).
/// With feature `protobuf`, `application/vnd.google.protobuf` with
/// `proto=io.prometheus.client.MetricFamily` and `encoding=delimited` selects
/// [`Format::Protobuf`] (what Prometheus lists first when it wants native histograms).
///
/// ```
/// use tachymeter::{http::negotiate, Format};
/// // What Prometheus 2.42 sends:
/// let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
///             version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
/// assert_eq!(negotiate(prom), Ok(Format::OpenMetrics));
/// assert_eq!(negotiate("text/plain;q=0.9, application/openmetrics-text;q=0.5"), Ok(Format::Text));
/// assert_eq!(negotiate("*/*"), Ok(Format::Text));
/// assert!(negotiate("openmetrics").is_err());
/// ```
///
/// # Errors
///
/// [`AcceptError`] for a header that is not a list of `type/subtype;param=value` ranges;
/// [`render`](super::render) answers such requests in text 0.0.4.
pub fn negotiate(accept: &str) -> Result<Format, AcceptError> {
    let s = accept.as_bytes();
    // Best (specificity, q, position) per format, by `slot`.
    let mut best: [Option<(u8, u16, usize)>; 3] = [None, None, None];
    let mut i = 0;
    let mut pos = 0;
    loop {
        i = skip_ows(s, i);
        if i >= s.len() {
            break;
        }
        if s[i] == b',' {
            // Empty list elements are allowed (RFC 9110 §5.6.1).
            i += 1;
            continue;
        }
        let (range, end) = media_range(accept, i)?;
        if let Some((format, spec)) = range.matches {
            let slot = &mut best[slot(format)];
            if slot.is_none_or(|(s0, _, _)| spec > s0) {
                *slot = Some((spec, range.q, pos));
            }
        }
        pos += 1;
        i = end;
    }
    let key = |b: Option<(u8, u16, usize)>| {
        b.filter(|&(_, q, _)| q > 0)
            .map(|(spec, q, pos)| (q, spec, usize::MAX - pos))
    };
    // The highest key wins; text on a tie (there is none: positions differ) or when
    // nothing is acceptable.
    let mut chosen = (Format::Text, key(best[0]));
    for &format in &FORMATS[1..] {
        let k = key(best[slot(format)]);
        if k.is_some() && chosen.1.is_none_or(|c| k > Some(c)) {
            chosen = (format, k);
        }
    }
    Ok(chosen.0)
}

/// Whether an `Accept-Encoding` header allows gzip: `gzip` (or `x-gzip`) with a non-zero
/// `q`, or `*` with a non-zero `q` when gzip is not listed. Malformed elements are ignored
/// (the body is then sent uncompressed).
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    let mut gzip = None;
    let mut star = None;
    for element in accept_encoding.split(',') {
        let mut parts = element.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let mut q = Some(1000);
        for p in parts {
            if let Some((n, v)) = p.split_once('=') {
                if n.trim().eq_ignore_ascii_case("q") {
                    q = parse_q(v.trim().as_bytes());
                }
            }
        }
        let Some(q) = q else { continue };
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(gzip.map_or(q, |g: u16| g.max(q)));
        } else if coding == "*" {
            star = Some(q);
        }
    }
    gzip.or(star).is_some_and(|q| q > 0)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s` (form style: `+` is a space) onto `out`; `offset` is where `s`
/// starts in the query, for error positions.
fn percent_decode_into(s: &[u8], offset: usize, out: &mut Vec<u8>) -> Result<(), QueryError> {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let (Some(h), Some(l)) = (
                    s.get(i + 1).copied().and_then(hex),
                    s.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(QueryError::BadPercentEncoding { at: offset + i });
                };
                out.push(h << 4 | l);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(())
}

/// The `name[]` values of a scrape's query string (`/metrics?name[]=a&name[]=b`), decoded
/// into one reused buffer.
///
/// A family is kept when its name (as the registry offers it: prefixed, and for counters
/// with or without `_total`, for infos with or without `_info`, in either format) equals
/// one of the values. No `name[]` means no filter.
#[derive(Debug, Default, Clone)]
pub struct NameFilter {
    buf: String,
    names: Vec<Range<usize>>,
    /// Scratch space for decoding parameter names.
    key: Vec<u8>,
}

impl NameFilter {
    /// An empty filter (keeps everything).
    pub fn new() -> NameFilter {
        NameFilter::default()
    }

    /// Replaces the filter with the `name[]` values of `query` (the part after `?`, without
    /// it). Other parameters are ignored. `name[]` may also be spelled `name%5B%5D`.
    ///
    /// ```
    /// let mut f = tachymeter::http::NameFilter::new();
    /// f.parse("name[]=up&x=1&name%5B%5D=http%5Frequests_total")?;
    /// assert_eq!(f.names().collect::<Vec<_>>(), ["up", "http_requests_total"]);
    /// # Ok::<(), tachymeter::http::QueryError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`QueryError`] for bad percent-encoding or a value that is not UTF-8; the filter is
    /// then empty.
    pub fn parse(&mut self, query: &str) -> Result<(), QueryError> {
        self.buf.clear();
        self.names.clear();
        let mut bytes = core::mem::take(&mut self.buf).into_bytes();
        let key = &mut self.key;
        let result = (|| {
            let mut offset = 0;
            for pair in query.split('&') {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                key.clear();
                percent_decode_into(k.as_bytes(), offset, key)?;
                if key.as_slice() == b"name[]" {
                    let start = bytes.len();
                    percent_decode_into(v.as_bytes(), offset + k.len() + 1, &mut bytes)?;
                    if core::str::from_utf8(&bytes[start..]).is_err() {
                        return Err(QueryError::NotUtf8);
                    }
                    self.names.push(start..bytes.len());
                }
                offset += pair.len() + 1;
            }
            Ok(())
        })();
        // Each pushed range was checked to be UTF-8 and ranges are contiguous, so the whole
        // buffer is UTF-8; on error it is dropped.
        match (result, String::from_utf8(bytes)) {
            (Ok(()), Ok(s)) => {
                self.buf = s;
                Ok(())
            }
            (Err(e), _) => {
                self.names.clear();
                Err(e)
            }
            (Ok(()), Err(_)) => {
                self.names.clear();
                Err(QueryError::NotUtf8)
            }
        }
    }

    /// Whether no `name[]` was given (everything is kept).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The decoded names.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.iter().map(|r| &self.buf[r.clone()])
    }

    /// Whether the family `name` is kept.
    pub fn keeps(&self, name: &str) -> bool {
        self.is_empty() || self.names().any(|n| n == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROM_242: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn prometheus_headers() {
        assert_eq!(negotiate(PROM_242), Ok(Format::OpenMetrics));
        // Prometheus 3.x, default scrape protocols.
        let p3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,\
                  application/openmetrics-text;version=0.0.1;q=0.4,\
                  text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,\
                  text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        assert_eq!(negotiate(p3), Ok(Format::OpenMetrics));
        // Prometheus with the text job's rewritten header.
        assert_eq!(
            negotiate("text/plain;version=0.0.4;q=1,*/*;q=0.1"),
            Ok(Format::Text)
        );
    }

    /// Prometheus 2.42 with `--enable-feature=native-histograms`.
    const PROM_242_NATIVE: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

    #[test]
    fn protobuf_ranges() {
        let want = if cfg!(feature = "protobuf") {
            FORMATS[FORMATS.len() - 1]
        } else {
            Format::Text
        };
        assert_eq!(negotiate(PROM_242_NATIVE), Ok(want));
        // Prometheus 3.x with native histograms / `scrape_protocols: [PrometheusProto, ...]`.
        let p3 = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,\
                  application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.4,\
                  application/openmetrics-text;version=0.0.1;q=0.3,\
                  text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        let want_p3 = if cfg!(feature = "protobuf") {
            want
        } else {
            Format::OpenMetrics
        };
        assert_eq!(negotiate(p3), Ok(want_p3));
        // Lower q than OpenMetrics: OpenMetrics.
        assert_eq!(
            negotiate("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,application/openmetrics-text;version=1.0.0"),
            Ok(Format::OpenMetrics)
        );
        // Other encodings, another message, or no parameters: not ours.
        for h in [
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=compact-text",
            "application/vnd.google.protobuf;proto=other.Message;encoding=delimited",
            "application/vnd.google.protobuf",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0",
        ] {
            assert_eq!(negotiate(h), Ok(Format::Text), "{h:?}");
        }
        // Spaces, quoting and case of the type as in RFC 9110.
        assert_eq!(
            negotiate("Application/Vnd.Google.Protobuf; proto=\"io.prometheus.client.MetricFamily\"; encoding=delimited"),
            Ok(want)
        );
    }

    #[test]
    fn q_values_decide() {
        assert_eq!(
            negotiate("text/plain;q=0.9, application/openmetrics-text;q=0.5"),
            Ok(Format::Text)
        );
        assert_eq!(
            negotiate("text/plain;q=0.5, application/openmetrics-text;q=0.9"),
            Ok(Format::OpenMetrics)
        );
        assert_eq!(
            negotiate("text/plain;q=0.5, application/openmetrics-text;q=0.500"),
            Ok(Format::Text),
            "tie, same specificity: the first listed wins"
        );
        assert_eq!(
            negotiate("application/openmetrics-text;q=0"),
            Ok(Format::Text),
            "q=0 refuses OpenMetrics; text is the fallback"
        );
        assert_eq!(
            negotiate("application/openmetrics-text;q=0.001"),
            Ok(Format::OpenMetrics)
        );
        assert_eq!(
            negotiate("application/openmetrics-text;q=0.2;version=1.0.0, application/openmetrics-text;q=1"),
            Ok(Format::OpenMetrics),
        );
        // The versioned range is more specific and refuses it.
        assert_eq!(
            negotiate(
                "application/openmetrics-text;version=1.0.0;q=0, application/openmetrics-text"
            ),
            Ok(Format::Text)
        );
    }

    #[test]
    fn wildcards_and_versions() {
        for h in [
            "*/*",
            "text/*",
            "application/*",
            "text/plain",
            "",
            " , ,",
            "image/png",
        ] {
            assert_eq!(negotiate(h), Ok(Format::Text), "{h:?}");
        }
        assert_eq!(
            negotiate("*/*, application/openmetrics-text"),
            Ok(Format::OpenMetrics),
            "a tie goes to the more specific range"
        );
        assert_eq!(
            negotiate("application/openmetrics-text;version=0.0.1"),
            Ok(Format::Text)
        );
        assert_eq!(
            negotiate("application/openmetrics-text; version=\"1.0.0\"; charset=utf-8"),
            Ok(Format::OpenMetrics)
        );
        assert_eq!(
            negotiate("APPLICATION/OpenMetrics-Text;VERSION=1.0.0"),
            Ok(Format::OpenMetrics)
        );
        assert_eq!(
            negotiate("text/plain;version=0.0.4, application/openmetrics-text;version=2.0.0"),
            Ok(Format::Text)
        );
    }

    #[test]
    fn malformed() {
        assert_eq!(
            negotiate("openmetrics"),
            Err(AcceptError::BadMediaRange { at: 0 })
        );
        assert_eq!(
            negotiate("text/plain, /x"),
            Err(AcceptError::BadMediaRange { at: 12 })
        );
        assert_eq!(
            negotiate("text/plain;q"),
            Err(AcceptError::BadParameter { at: 11 })
        );
        assert_eq!(
            negotiate("text/plain;q=2"),
            Err(AcceptError::BadQValue { at: 11 })
        );
        for bad in [
            "text/plain;q=0.1234",
            "text/plain;q=1.5",
            "text/plain;q=-1",
            "text/plain;q=",
            "text/plain x",
            "text/plain;a=\"unterminated",
            "text/",
            "t\u{e9}xt/plain",
        ] {
            assert!(negotiate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn gzip() {
        for yes in [
            "gzip",
            "deflate, gzip",
            "GZIP;q=0.5",
            "*",
            "br;q=1, *;q=0.1",
            "x-gzip",
        ] {
            assert!(accepts_gzip(yes), "{yes:?}");
        }
        for no in [
            "",
            "identity",
            "gzip;q=0",
            "*;q=0",
            "gzip;q=0, *",
            "gzip;q=nope",
            "br",
        ] {
            assert!(!accepts_gzip(no), "{no:?}");
        }
    }

    #[test]
    fn name_filter() {
        let mut f = NameFilter::new();
        f.parse("").unwrap();
        assert!(f.is_empty() && f.keeps("anything"));
        f.parse("name[]=a_total&name%5b%5d=b%3Ac&other=x&name[]=sp+ace%20x")
            .unwrap();
        assert_eq!(
            f.names().collect::<Vec<_>>(),
            ["a_total", "b:c", "sp ace x"]
        );
        assert!(f.keeps("a_total") && f.keeps("b:c") && !f.keeps("a"));
        assert_eq!(
            f.parse("name[]=ok&name[]=%zz"),
            Err(QueryError::BadPercentEncoding { at: 17 })
        );
        assert!(f.is_empty());
        assert_eq!(f.parse("name[]=%ff"), Err(QueryError::NotUtf8));
        f.parse("name[]=caf%C3%A9").unwrap();
        assert_eq!(f.names().collect::<Vec<_>>(), ["café"]);
    }
}
