//! Reading back what a real Prometheus stored, and comparing it with an exposition body.

use super::*;

/// `/api/v1/query` results for `q`: each series' value as a string (panics on a failed
/// query or a result without a value).
pub fn query_values(prom: &Server, q: &str) -> Vec<String> {
    prometheus_query(prom, q)
        .unwrap_or_else(|e| panic!("{q}: {e}"))
        .iter()
        .map(|r| {
            r.at(&["value", "1"])
                .and_then(Json::as_str)
                .unwrap_or_else(|| panic!("{q}: no value in {r:?}"))
                .to_owned()
        })
        .collect()
}

/// The first series' value for `q`, or `None` while Prometheus has none (or the query fails).
pub fn query_first(prom: &Server, q: &str) -> Option<String> {
    prometheus_query(prom, q)
        .ok()?
        .first()?
        .at(&["value", "1"])
        .and_then(Json::as_str)
        .map(str::to_owned)
}

/// [`query_first`] polled until it has a value, for at most 30 s (the first scrape comes
/// ~5-6 s after Prometheus starts).
pub fn wait_for_value(prom: &Server, q: &str) -> Option<String> {
    wait_until(Duration::from_secs(30), Duration::from_millis(250), || {
        query_first(prom, q)
    })
}

/// The sample lines of a text exposition body: (selector, value).
pub fn exposition_samples(body: &str) -> Vec<(String, String)> {
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (sel, value) = l.rsplit_once(' ').unwrap();
            (sel.to_owned(), value.to_owned())
        })
        .collect()
}

/// `selector` with `job="job"` added, as Prometheus stores a scraped series.
pub fn with_job(selector: &str, job: &str) -> String {
    match selector.strip_suffix('}') {
        Some(s) => format!("{s},job=\"{job}\"}}"),
        None => format!("{selector}{{job=\"{job}\"}}"),
    }
}

/// Whether two sample values (as written) are the same number, within 1e-9 relative.
pub fn same_value(a: &str, b: &str) -> bool {
    let (x, y): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
    x == y || (x.is_nan() && y.is_nan()) || ((x - y) / x).abs() < 1e-9
}
