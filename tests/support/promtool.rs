//! `promtool check metrics` and Prometheus' own OpenMetrics parser (via the TSDB backfiller).

use super::*;

/// Verdict of `promtool check metrics` (text format 0.0.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromtoolOutcome {
    /// Exit 0: parses, no lint findings.
    Clean,
    /// Exit 3: parses, but with lint findings (e.g. a counter without `_total`, missing HELP).
    Lint(String),
    /// Exit 1: does not parse.
    Error(String),
}

impl PromtoolOutcome {
    /// Parses (clean or lint-only).
    pub fn parses(&self) -> bool {
        !matches!(self, PromtoolOutcome::Error(_))
    }
}

/// Runs `promtool check metrics` with `body` on stdin.
pub fn promtool_check(body: &str) -> PromtoolOutcome {
    let promtool = require(Peer::Promtool);
    let out = run_with_stdin(
        Command::new(&promtool).args(["check", "metrics"]),
        body.as_bytes(),
    );
    let msg = format!("{}{}", out.stdout, out.stderr).trim().to_string();
    match out.code() {
        Some(0) => PromtoolOutcome::Clean,
        Some(3) => PromtoolOutcome::Lint(msg),
        Some(1) => PromtoolOutcome::Error(msg),
        other => panic!("promtool check metrics: unexpected exit {other:?}: {msg}"),
    }
}

/// `Ok` when promtool parses the body (lint findings allowed), `Err(message)` otherwise.
/// Use [`promtool_check`] to see lint findings.
pub fn promtool_check_metrics(body: &str) -> Result<(), String> {
    match promtool_check(body) {
        PromtoolOutcome::Clean | PromtoolOutcome::Lint(_) => Ok(()),
        PromtoolOutcome::Error(e) => Err(e),
    }
}

/// Fixed timestamp (seconds) added to OpenMetrics samples for the backfill check.
pub const BACKFILL_TIMESTAMP: &str = "1700000000";

/// Checks an OpenMetrics body with Prometheus' own OpenMetrics parser, through
/// `promtool tsdb create-blocks-from openmetrics FILE DIR`.
///
/// The backfiller only takes timestamped samples, so a copy of the body gets
/// [`BACKFILL_TIMESTAMP`] after the value of every sample line that has no timestamp
/// (see [`add_timestamps`]); everything else is byte-identical. The temp dir is removed.
pub fn promtool_openmetrics_check(body: &str) -> Result<(), String> {
    let promtool = require(Peer::Promtool);
    let dir = TempDir::new("om-check");
    let file = dir.path().join("body.om");
    fs::write(&file, add_timestamps(body, BACKFILL_TIMESTAMP)).expect("write OpenMetrics copy");
    let out = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(dir.path().join("blocks"))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", promtool.display()));
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(msg.trim().to_string()),
        other => panic!("promtool tsdb create-blocks-from: unexpected exit {other:?}: {msg}"),
    }
}

/// Inserts ` <ts>` after the value of every OpenMetrics sample line that has no timestamp.
/// Comment lines, blank lines, line endings (including a missing final newline or CR) and
/// exemplars are left untouched, so format defects in `body` survive the copy.
pub fn add_timestamps(body: &str, ts: &str) -> String {
    let mut out = String::with_capacity(body.len() + 16 * body.lines().count());
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&add_timestamp_to_line(line, ts));
    }
    out
}

fn add_timestamp_to_line(line: &str, ts: &str) -> String {
    let b = line.as_bytes();
    if b.is_empty() || b[0] == b'#' || b[0] == b' ' || b[0] == b'\r' {
        return line.to_string();
    }
    // End of the metric name.
    let mut i = 0;
    while i < b.len() && !matches!(b[i], b'{' | b' ' | b'\t' | b'\r') {
        i += 1;
    }
    // Label set: skip to the matching '}' outside quoted strings.
    if i < b.len() && b[i] == b'{' {
        let mut in_str = false;
        while i < b.len() {
            match b[i] {
                b'\\' if in_str => i += 1,
                b'"' => in_str = !in_str,
                b'}' if !in_str => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
    }
    // Value token.
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let value_start = i;
    while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\r') {
        i += 1;
    }
    if i == value_start {
        return line.to_string(); // no value: leave the defect for the parser
    }
    let value_end = i.min(b.len());
    // Is there already a timestamp (a token that does not start an exemplar)?
    let rest = &line[value_end..];
    let has_ts = rest
        .strip_prefix(' ')
        .map(|r| {
            !r.is_empty() && !r.starts_with('#') && !r.starts_with(' ') && !r.starts_with('\r')
        })
        .unwrap_or(false);
    if has_ts {
        return line.to_string();
    }
    format!("{} {ts}{}", &line[..value_end], rest)
}
