//! Module implementing the `Retry-After` header's two forms (RFC 9110 §10.2.3):
//! delay-seconds and HTTP-date. See [`parse_retry_after`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest `Retry-After` honoured; a longer one is capped to it.
pub(super) const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The wait a `Retry-After` value asks for, at `now`, capped at [`MAX_RETRY_AFTER`]:
/// `delay-seconds` (`120`) or an HTTP-date in any of the three forms a recipient must
/// accept (`Sun, 06 Nov 1994 08:49:37 GMT`, the obsolete `Sunday, 06-Nov-94 08:49:37 GMT`
/// and `Sun Nov  6 08:49:37 1994`). A date in the past asks for no wait. `None` for anything
/// else (the backoff applies).
pub(super) fn parse_retry_after(v: &str, now: SystemTime) -> Option<Duration> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // Digits only; too many for a u64 is a very long wait.
        let secs = v.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let at = UNIX_EPOCH + Duration::from_secs(http_date(v)?);
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Seconds since the Unix epoch of an HTTP-date (RFC 9110 §5.6.7), or `None` if `v` is not
/// one (dates before 1970 included: they are not waits).
fn http_date(v: &str) -> Option<u64> {
    let (day, month, year, time) = if let Some((wd, rest)) = v.split_once(", ") {
        if DAYS.contains(&wd) {
            // IMF-fixdate: "06 Nov 1994 08:49:37 GMT".
            let mut f = rest.split(' ');
            let (d, m, y, t, z) = (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
            if f.next().is_some() || z != "GMT" || d.len() != 2 || y.len() != 4 {
                return None;
            }
            (number(d)?, month(m)?, number(y)?, t)
        } else if LONG_DAYS.contains(&wd) {
            // RFC 850: "06-Nov-94 08:49:37 GMT"; a two-digit year more than 50 years ahead
            // is in the past century (RFC 9110 §5.6.7), so 70..=99 are 19xx here.
            let mut f = rest.split(' ');
            let (date, t, z) = (f.next()?, f.next()?, f.next()?);
            if f.next().is_some() || z != "GMT" {
                return None;
            }
            let mut d = date.split('-');
            let (dd, m, yy) = (d.next()?, d.next()?, d.next()?);
            if d.next().is_some() || dd.len() != 2 || yy.len() != 2 {
                return None;
            }
            let yy = number(yy)?;
            (
                number(dd)?,
                month(m)?,
                if yy >= 70 { 1900 + yy } else { 2000 + yy },
                t,
            )
        } else {
            return None;
        }
    } else {
        // asctime: "Sun Nov  6 08:49:37 1994" (the day padded with a space).
        let b = v.as_bytes();
        if b.len() != 24 || !DAYS.contains(&v.get(..3)?) || b[3] != b' ' || b[7] != b' ' {
            return None;
        }
        let day = v.get(8..10)?.trim_start();
        if b[10] != b' ' || b[19] != b' ' || day.is_empty() {
            return None;
        }
        (
            number(day)?,
            month(v.get(4..7)?)?,
            number(v.get(20..)?)?,
            v.get(11..19)?,
        )
    };
    let (h, m, s) = clock(time)?;
    if !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days.checked_mul(86_400)? + i64::from(h * 3600 + m * 60 + s);
    u64::try_from(secs).ok()
}

/// A run of ASCII digits (at most 4) as a number.
fn number(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// 1..=12 for a month's three-letter name (case-sensitive, as the grammar says).
fn month(s: &str) -> Option<u32> {
    MONTHS.iter().position(|m| *m == s).map(|i| i as u32 + 1)
}

/// `hh:mm:ss`; a leap second (60) is accepted as the grammar allows.
fn clock(t: &str) -> Option<(u32, u32, u32)> {
    let b = t.as_bytes();
    if b.len() != 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, s) = (number(&t[..2])?, number(&t[3..5])?, number(&t[6..])?);
    (h < 24 && m < 60 && s <= 60).then_some((h, m, s))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1994-11-06 08:49:37 UTC, RFC 9110's example date.
    const EXAMPLE: u64 = 784_111_777;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn delay_seconds() {
        let now = at(EXAMPLE);
        assert_eq!(parse_retry_after(" 2 ", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("86400", now), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        for bad in ["-1", "", "1.5", "+3", "2 s", "0x10"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn http_dates_in_all_three_forms() {
        for v in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(http_date(v), Some(EXAMPLE), "{v}");
            // 90 s before the date: wait 90 s; after it: no wait.
            assert_eq!(
                parse_retry_after(v, at(EXAMPLE - 90)),
                Some(Duration::from_secs(90)),
                "{v}"
            );
            assert_eq!(parse_retry_after(v, at(EXAMPLE + 5)), Some(Duration::ZERO));
            // Far ahead: capped.
            assert_eq!(parse_retry_after(v, at(0)), Some(MAX_RETRY_AFTER));
        }
        // Known instants: the epoch, a leap day, the last second of a century year, and
        // a two-digit RFC 850 year below 70 (20xx).
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            http_date("Thu, 29 Feb 2024 12:00:00 GMT"),
            Some(1_709_208_000)
        );
        assert_eq!(
            http_date("Fri, 31 Dec 1999 23:59:59 GMT"),
            Some(946_684_799)
        );
        assert_eq!(
            http_date("Wednesday, 21-Oct-15 07:28:00 GMT"),
            Some(1_445_412_480)
        );
        assert_eq!(http_date("Wed Oct 21 07:28:00 2015"), Some(1_445_412_480));
    }

    #[test]
    fn malformed_dates_are_not_waits() {
        for bad in [
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 29 Feb 2023 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov  6 08:49:37 19x4",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "soon",
        ] {
            assert_eq!(http_date(bad), None, "{bad}");
            assert_eq!(parse_retry_after(bad, at(EXAMPLE)), None, "{bad}");
        }
    }
}
