//! Remote-write helpers: decode a request body (snappy + `prometheus.WriteRequest`) with
//! `snap` and `prost`'s wire readers, and read series back from Prometheus and
//! VictoriaMetrics through their query APIs.

use super::*;

use prost::encoding::{decode_key, decode_varint, WireType};

/// A series' sorted labels (`__name__` included).
pub type RwLabels = BTreeMap<String, String>;

/// One decoded `TimeSeries` sample.
#[derive(Debug, Clone, PartialEq)]
pub struct RwSample {
    pub labels: RwLabels,
    pub value: f64,
    pub timestamp_ms: i64,
}

fn take<'b>(buf: &mut &'b [u8]) -> Result<&'b [u8], String> {
    let n = decode_varint(buf).map_err(|e| e.to_string())? as usize;
    if n > buf.len() {
        return Err(format!("length {n} past the end"));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

/// Decodes a snappy-compressed `WriteRequest`; checks each series' labels are sorted and
/// unique, and that it has exactly one sample.
pub fn decode_write_request(body: &[u8]) -> Result<Vec<RwSample>, String> {
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy: {e}"))?;
    let mut buf = &raw[..];
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = decode_key(&mut buf).map_err(|e| e.to_string())?;
        if key != (1, WireType::LengthDelimited) {
            return Err(format!("unexpected WriteRequest field {key:?}"));
        }
        let mut ts = take(&mut buf)?;
        let mut names = Vec::new();
        let mut labels = RwLabels::new();
        let mut samples = Vec::new();
        while !ts.is_empty() {
            let (tag, _) = decode_key(&mut ts).map_err(|e| e.to_string())?;
            let mut m = take(&mut ts)?;
            match tag {
                1 => {
                    let (mut n, mut v) = (String::new(), String::new());
                    while !m.is_empty() {
                        let (t, _) = decode_key(&mut m).map_err(|e| e.to_string())?;
                        let s =
                            String::from_utf8(take(&mut m)?.to_vec()).map_err(|e| e.to_string())?;
                        if t == 1 {
                            n = s;
                        } else {
                            v = s;
                        }
                    }
                    names.push(n.clone());
                    labels.insert(n, v);
                }
                2 => {
                    let (mut value, mut time) = (f64::NAN, 0i64);
                    while !m.is_empty() {
                        match decode_key(&mut m).map_err(|e| e.to_string())? {
                            (1, WireType::SixtyFourBit) => {
                                let (b, rest) = m.split_at(8);
                                value = f64::from_le_bytes(b.try_into().unwrap());
                                m = rest;
                            }
                            (2, WireType::Varint) => {
                                time = decode_varint(&mut m).map_err(|e| e.to_string())? as i64;
                            }
                            other => return Err(format!("unexpected Sample field {other:?}")),
                        }
                    }
                    samples.push((value, time));
                }
                other => return Err(format!("unexpected TimeSeries field {other}")),
            }
        }
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        if sorted != names {
            return Err(format!("labels not sorted and unique: {names:?}"));
        }
        let [(value, timestamp_ms)] = samples[..] else {
            return Err(format!("{} samples in one series", samples.len()));
        };
        out.push(RwSample {
            labels,
            value,
            timestamp_ms,
        });
    }
    Ok(out)
}

fn labels_of(metric: &Json) -> RwLabels {
    metric
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Every series Prometheus has now, matching `selector`, with its latest value.
pub fn prometheus_series(prom: &Server, selector: &str) -> Vec<(RwLabels, f64)> {
    let rows = prometheus_query(prom, selector).unwrap_or_else(|e| panic!("query {selector}: {e}"));
    rows.iter()
        .map(|r| {
            let value = r
                .at(&["value"])
                .and_then(Json::as_array)
                .and_then(|v| v.get(1))
                .and_then(Json::as_str)
                .and_then(parse_float)
                .unwrap_or(f64::NAN);
            (labels_of(r.get("metric").unwrap_or(&Json::Null)), value)
        })
        .collect()
}

/// Every raw sample VictoriaMetrics holds for series matching `selector` (via
/// `/api/v1/export`, after `/internal/force_flush`): (labels, [(timestamp ms, value)]).
pub fn victoria_export(vm: &Server, selector: &str) -> Vec<(RwLabels, Vec<(i64, f64)>)> {
    let flush = http_get(&format!("{}/internal/force_flush", vm.url())).expect("force_flush");
    assert_eq!(flush.status, 200, "force_flush: {}", flush.text());
    let url = format!(
        "{}/api/v1/export?match[]={}",
        vm.url(),
        url_encode(selector)
    );
    let r = http_get(&url).expect("export");
    assert_eq!(r.status, 200, "export: {}", r.text());
    r.text()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let j = Json::parse(line).unwrap_or_else(|e| panic!("export line {line}: {e}"));
            let labels = labels_of(j.get("metric").unwrap_or(&Json::Null));
            let values = j.get("values").and_then(Json::as_array).unwrap_or_default();
            let times = j
                .get("timestamps")
                .and_then(Json::as_array)
                .unwrap_or_default();
            let points = times
                .iter()
                .zip(values)
                .map(|(t, v)| {
                    let v = v.as_f64().or_else(|| v.as_str().and_then(parse_float));
                    (t.as_f64().unwrap_or(0.0) as i64, v.unwrap_or(f64::NAN))
                })
                .collect();
            (labels, points)
        })
        .collect()
}

/// The fault and protocol tests' registry: 3 series (`jobs_total{queue="a"}` 1,
/// `jobs_total{queue="b"}` 2, `depth` 4).
pub fn three_series_registry() -> tachymeter::Registry {
    let r = tachymeter::Registry::new();
    let c = tachymeter::Counter::builder("jobs_total", "Jobs.")
        .labels(["queue"])
        .register(&r)
        .unwrap();
    c.with_label_values(&["a"]).inc();
    c.with_label_values(&["b"]).inc_by(2);
    tachymeter::Gauge::builder("depth", "Depth.")
        .register(&r)
        .unwrap()
        .set(4.0);
    r
}

/// A writer for `url`'s `/api/v1/write` collecting `r`, with a 5 s request timeout.
pub fn base_writer(url: &str, r: &tachymeter::Registry) -> tachymeter::http::RemoteWriter {
    tachymeter::http::RemoteWriter::new(&format!("{url}/api/v1/write"))
        .unwrap()
        .registry(r)
        .timeout(Duration::from_secs(5))
}
