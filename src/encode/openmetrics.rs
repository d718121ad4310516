//! Module implementing the parts of the OpenMetrics 1.0 text format that the text format
//! lacks: exemplars (FORMATS.md rule 14) and timestamps in seconds (rule 8). Everything
//! writes straight into the output buffer without allocating.

use super::float::{self, FloatStyle};

/// An exemplar to write after a sample: label pairs already rendered and escaped
/// (`trace_id="abc"`), its value, and its timestamp in seconds since the Unix epoch, if it
/// has one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExemplarRef<'e> {
    pub(crate) labels: &'e [u8],
    pub(crate) value: f64,
    pub(crate) timestamp: Option<f64>,
}

/// Appends ` # {labels} value [timestamp]` (OpenMetrics ABNF `exemplar`: the timestamp is
/// optional).
pub(crate) fn write_exemplar(out: &mut Vec<u8>, e: ExemplarRef<'_>) {
    out.extend_from_slice(b" # {");
    out.extend_from_slice(e.labels);
    out.extend_from_slice(b"} ");
    float::write_f64(out, e.value, FloatStyle::OpenMetrics);
    if let Some(ts) = e.timestamp {
        out.push(b' ');
        write_seconds(out, ts);
    }
}

/// Appends seconds since the epoch in fixed notation with millisecond precision
/// (`1712345678.123`): OpenMetrics timestamps are seconds, and exponent form would lose
/// precision (FORMATS.md rule 8). Negative or non-finite input is written as `0.000`.
pub(crate) fn write_seconds(out: &mut Vec<u8>, secs: f64) {
    let ms = if secs.is_finite() && secs > 0.0 {
        (secs * 1000.0).round() as u64
    } else {
        0
    };
    float::write_u64(out, ms / 1000);
    out.push(b'.');
    let frac = ms % 1000;
    out.extend_from_slice(&[
        b'0' + (frac / 100) as u8,
        b'0' + (frac / 10 % 10) as u8,
        b'0' + (frac % 10) as u8,
    ]);
}

/// Seconds since the Unix epoch, now (0 if the clock is before 1970).
pub(crate) fn now_seconds() -> f64 {
    epoch_seconds(std::time::SystemTime::now())
}

/// Seconds from the Unix epoch to `t` (0 for a time before 1970).
pub(crate) fn epoch_seconds(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn seconds_are_fixed_decimal_milliseconds() {
        assert_eq!(s(|o| write_seconds(o, 1712345678.1234)), "1712345678.123");
        assert_eq!(s(|o| write_seconds(o, 1.0)), "1.000");
        assert_eq!(s(|o| write_seconds(o, 0.0005)), "0.001");
        assert_eq!(s(|o| write_seconds(o, f64::NAN)), "0.000");
    }

    #[test]
    fn exemplar_layout() {
        let e = ExemplarRef {
            labels: b"trace_id=\"a\"",
            value: 1.0,
            timestamp: Some(2.5),
        };
        assert_eq!(s(|o| write_exemplar(o, e)), " # {trace_id=\"a\"} 1.0 2.500");
        let empty = ExemplarRef { labels: b"", ..e };
        assert_eq!(s(|o| write_exemplar(o, empty)), " # {} 1.0 2.500");
        let untimed = ExemplarRef {
            timestamp: None,
            ..e
        };
        assert_eq!(s(|o| write_exemplar(o, untimed)), " # {trace_id=\"a\"} 1.0");
    }
}
