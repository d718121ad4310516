//! The `prometheus_client` reference parsers, driven through `parse.py`.

use super::*;

/// A metric family as `prometheus_client`'s parser returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFamily {
    pub name: String,
    /// `counter`, `gauge`, `histogram`, `summary`, `unknown`, `info`, `stateset`, `gaugehistogram`.
    pub typ: String,
    pub help: String,
    pub unit: String,
    pub samples: Vec<ParsedSample>,
}

/// Labels, sorted by name.
pub type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    pub name: String,
    /// Sorted by name.
    pub labels: Labels,
    pub value: f64,
    /// Seconds (the text parser divides the millisecond timestamp by 1000).
    pub timestamp: Option<f64>,
    /// (labels, value, timestamp in seconds)
    pub exemplar: Option<(Labels, f64, Option<f64>)>,
}

impl ParsedSample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl ParsedFamily {
    /// Samples called `name` (e.g. `foo_bucket`).
    pub fn samples_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a ParsedSample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }
}

/// Finds a family by name.
pub fn family<'a>(families: &'a [ParsedFamily], name: &str) -> Option<&'a ParsedFamily> {
    families.iter().find(|f| f.name == name)
}

/// Parses text 0.0.4 with `prometheus_client.parser.text_string_to_metric_families`
/// (lenient: see shared/REAL_PEERS.md; promtool is the stricter text check).
pub fn python_parse_text(body: &str) -> Result<Vec<ParsedFamily>, String> {
    python_parse("text", body)
}

/// Parses OpenMetrics 1.0 with `prometheus_client.openmetrics.parser.text_string_to_metric_families`
/// (strict; the body must end with `# EOF`).
pub fn python_parse_openmetrics(body: &str) -> Result<Vec<ParsedFamily>, String> {
    python_parse("openmetrics", body)
}

fn python_parse(mode: &str, body: &str) -> Result<Vec<ParsedFamily>, String> {
    let python = require(Peer::Python);
    let script = repo_root().join("tests/support/parse.py");
    let out = run_with_stdin(
        Command::new(&python)
            .arg(&script)
            .arg(mode)
            .env("PYTHONIOENCODING", "utf-8"),
        body.as_bytes(),
    );
    match out.code() {
        Some(0) => {}
        Some(2) => return Err(out.stdout.trim().to_string()),
        other => panic!(
            "{} {} {mode}: harness failure, exit {other:?}\nstdout: {}\nstderr: {}",
            python.display(),
            script.display(),
            out.stdout,
            out.stderr
        ),
    }
    out.stdout
        .lines()
        .map(|line| {
            let v = Json::parse(line)
                .unwrap_or_else(|e| panic!("parse.py printed bad JSON ({e}): {line}"));
            decode_family(&v)
                .unwrap_or_else(|| panic!("parse.py printed an unexpected shape: {line}"))
        })
        .map(Ok)
        .collect()
}

/// Parses a float the way Python's `repr` prints it (`inf`, `-inf`, `nan`, `1e-05`) and the
/// way Prometheus prints it (`+Inf`, `-Inf`, `NaN`).
pub fn parse_float(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "inf" | "Inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

fn decode_labels(v: &Json) -> Option<Labels> {
    let mut labels = v
        .as_array()?
        .iter()
        .map(|pair| {
            let p = pair.as_array()?;
            Some((
                p.first()?.as_str()?.to_string(),
                p.get(1)?.as_str()?.to_string(),
            ))
        })
        .collect::<Option<Labels>>()?;
    labels.sort();
    Some(labels)
}

fn decode_opt_float(v: Option<&Json>) -> Option<Option<f64>> {
    match v? {
        Json::Null => Some(None),
        Json::Str(s) => Some(Some(parse_float(s)?)),
        _ => None,
    }
}

fn decode_family(v: &Json) -> Option<ParsedFamily> {
    let samples = v
        .get("samples")?
        .as_array()?
        .iter()
        .map(|s| {
            let exemplar = match s.get("exemplar")? {
                Json::Null => None,
                e => Some((
                    decode_labels(e.get("labels")?)?,
                    parse_float(e.get("value")?.as_str()?)?,
                    decode_opt_float(e.get("timestamp"))?,
                )),
            };
            Some(ParsedSample {
                name: s.get("name")?.as_str()?.to_string(),
                labels: decode_labels(s.get("labels")?)?,
                value: parse_float(s.get("value")?.as_str()?)?,
                timestamp: decode_opt_float(s.get("timestamp"))?,
                exemplar,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(ParsedFamily {
        name: v.get("name")?.as_str()?.to_string(),
        typ: v.get("type")?.as_str()?.to_string(),
        help: v.get("help")?.as_str()?.to_string(),
        unit: v.get("unit")?.as_str()?.to_string(),
        samples,
    })
}
