//! Module implementing number rendering without allocation: integers through `itoa`, floats
//! in Go's shortest `%g` layout (what Prometheus' own Go code and `promtool` produce) through
//! `ryu`. See [`write_f64`].

/// Which float layout to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FloatStyle {
    /// Go `strconv.FormatFloat(v, 'g', -1, 64)`: `1`, `0.0001`, `1e-05`, `1e+06`.
    Go,
    /// OpenMetrics canonical numbers: Go `%g` with `.0` appended when the result has neither
    /// a decimal point nor an exponent: `1.0`, `0.0001`, `1e-05`, `1e+06`.
    OpenMetrics,
}

/// Appends `v` to `out` in the given style. `NaN`, `+Inf` and `-Inf` are spelled as both
/// formats require.
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64, style: FloatStyle) {
    let mut buf = [0u8; 40];
    let n = format_f64(&mut buf, v, style);
    out.extend_from_slice(&buf[..n]);
}

/// Appends the decimal form of `v`.
#[inline]
pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(v).as_bytes());
}

/// Formats `v` into `buf` and returns the length used (at most 40 bytes are ever needed:
/// 17 significant digits, sign, point, and `e-308`).
pub(crate) fn format_f64(buf: &mut [u8; 40], v: f64, style: FloatStyle) -> usize {
    if v.is_nan() {
        return put(buf, 0, b"NaN");
    }
    if v.is_infinite() {
        return put(buf, 0, if v > 0.0 { b"+Inf" } else { b"-Inf" });
    }
    let mut n = 0;
    if v.is_sign_negative() {
        n = put(buf, n, b"-");
    }
    if v == 0.0 {
        n = put(buf, n, b"0");
        if style == FloatStyle::OpenMetrics {
            n = put(buf, n, b".0");
        }
        return n;
    }
    // Shortest round-trip digits from ryu, then re-laid out the way Go does.
    let mut r = ryu::Buffer::new();
    let s = r.format_finite(v.abs()).as_bytes();
    let (mant, exp10) = match s.iter().position(|&c| c == b'e') {
        Some(p) => (&s[..p], parse_exp(&s[p + 1..])),
        None => (s, 0i32),
    };
    // Collect significant digits and the decimal point position `dp`
    // (value = 0.d1d2d3... × 10^dp).
    let mut digits = [0u8; 24];
    let mut nd = 0usize;
    let mut dp: i32 = 0;
    let mut seen_point = false;
    let mut leading = true;
    for &c in mant {
        if c == b'.' {
            seen_point = true;
            continue;
        }
        if leading && c == b'0' {
            if seen_point {
                dp -= 1;
            }
            continue;
        }
        leading = false;
        digits[nd] = c;
        nd += 1;
        if !seen_point {
            dp += 1;
        }
    }
    while nd > 1 && digits[nd - 1] == b'0' {
        nd -= 1;
    }
    dp += exp10;
    let digits = &digits[..nd];
    let exp = dp - 1;
    if !(-4..6).contains(&exp) {
        // %e layout: d[.ddd]e±XX
        n = put(buf, n, &digits[..1]);
        if nd > 1 {
            n = put(buf, n, b".");
            n = put(buf, n, &digits[1..]);
        }
        n = put(buf, n, if exp < 0 { b"e-" } else { b"e+" });
        let e = exp.unsigned_abs();
        if e < 10 {
            n = put(buf, n, b"0");
        }
        let mut ib = itoa::Buffer::new();
        n = put(buf, n, ib.format(e).as_bytes());
        return n;
    }
    // %f layout with exactly the significant digits.
    if dp <= 0 {
        n = put(buf, n, b"0.");
        for _ in 0..(-dp) {
            n = put(buf, n, b"0");
        }
        n = put(buf, n, digits);
    } else {
        let dpu = dp as usize;
        if nd <= dpu {
            n = put(buf, n, digits);
            for _ in nd..dpu {
                n = put(buf, n, b"0");
            }
            if style == FloatStyle::OpenMetrics {
                n = put(buf, n, b".0");
            }
        } else {
            n = put(buf, n, &digits[..dpu]);
            n = put(buf, n, b".");
            n = put(buf, n, &digits[dpu..]);
        }
    }
    n
}

fn parse_exp(s: &[u8]) -> i32 {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut e: i32 = 0;
    for &c in digits {
        e = e * 10 + i32::from(c - b'0');
    }
    if neg {
        -e
    } else {
        e
    }
}

#[inline]
fn put(buf: &mut [u8; 40], at: usize, s: &[u8]) -> usize {
    buf[at..at + s.len()].copy_from_slice(s);
    at + s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(v: f64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, v, FloatStyle::Go);
        String::from_utf8(out).unwrap()
    }

    fn om(v: f64) -> String {
        let mut out = Vec::new();
        write_f64(&mut out, v, FloatStyle::OpenMetrics);
        String::from_utf8(out).unwrap()
    }

    /// Expected strings are what Go's `strconv.FormatFloat(v, 'g', -1, 64)` prints
    /// (FORMATS.md rule 4 and the Go strconv test table).
    #[test]
    fn go_g_layout_matches_go() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (1e6, "1e+06"),
            (100000.0, "100000"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (123456789.0, "1.23456789e+08"),
            (1.7560473e7, "1.7560473e+07"),
            (0.1 + 0.2, "0.30000000000000004"),
            (2.5, "2.5"),
            (0.005, "0.005"),
            (0.25, "0.25"),
            (1e-10, "1e-10"),
            (1e10, "1e+10"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-3.5, "-3.5"),
            (-0.0, "-0"),
            (0.0, "0"),
            (12.0, "12"),
            (0.000123, "0.000123"),
            (0.0000123, "1.23e-05"),
            (999999.0, "999999"),
            (1e15, "1e+15"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for &(v, want) in cases {
            assert_eq!(go(v), want, "formatting {v:e}");
        }
    }

    /// The OpenMetrics "Canonical Numbers" examples, verbatim from the spec.
    #[test]
    fn openmetrics_canonical_numbers() {
        let spec = [
            (0.0, "0.0"),
            (0.001, "0.001"),
            (1.0, "1.0"),
            (1.7, "1.7"),
            (10.0, "10.0"),
            (1e-10, "1e-10"),
            (1e-9, "1e-09"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (0.1, "0.1"),
            (100000.0, "100000.0"),
            (1e6, "1e+06"),
            (1e10, "1e+10"),
        ];
        for (v, want) in spec {
            assert_eq!(om(v), want, "canonical rendering of {v:e}");
        }
    }

    /// Every rendering parses back to the same f64 (shortest round trip).
    #[test]
    fn round_trips() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x);
            if !v.is_finite() {
                continue;
            }
            let s = go(v);
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{s}");
            let o = om(v);
            assert_eq!(o.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{o}");
        }
    }
}
