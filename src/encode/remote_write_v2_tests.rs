//! Tests of the Remote-Write 2.0 body: decoded with message structs derived (`prost` derive,
//! a dev-dependency) from Prometheus' `prompb/io/prometheus/write/v2/types.proto`, and the
//! fallback's 1.0 body compared with the 1.0 encoder's.

use std::collections::BTreeMap;

use prost::Message;

use super::to_v1::to_v1;
use super::{Batch, RequestEncoder};
use crate::encode::remote_write::WriteRequestEncoder;
use crate::encode::remote_write_proto::v2::{Histogram as PbHistogram, Request};
use crate::{
    Collector, Counter, Descriptor, Format, Gauge, Histogram, MetricType, MetricWriter, Registry,
    Summary,
};

/// A decoded series: sorted labels, metadata resolved (type, help, unit), the rest as is.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    labels: Vec<(String, String)>,
    kind: i32,
    help: String,
    unit: String,
    samples: Vec<(f64, i64)>,
    histograms: Vec<PbHistogram>,
    created_ms: i64,
}

fn unsnap(body: &[u8]) -> Vec<u8> {
    snap::raw::Decoder::new().decompress_vec(body).unwrap()
}

/// Decodes one request; checks the symbol table's rules on the way.
fn decode(body: &[u8]) -> Vec<Row> {
    let req = Request::decode(&unsnap(body)[..]).unwrap();
    assert_eq!(
        req.symbols.first().map(String::as_str),
        Some(""),
        "symbol 0"
    );
    let mut unique = req.symbols.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), req.symbols.len(), "symbols are unique");
    let sym = |r: u32| req.symbols[r as usize].clone();
    req.timeseries
        .iter()
        .map(|ts| {
            assert_eq!(ts.labels_refs.len() % 2, 0);
            let labels: Vec<(String, String)> = ts
                .labels_refs
                .chunks(2)
                .map(|p| (sym(p[0]), sym(p[1])))
                .collect();
            let mut sorted = labels.clone();
            sorted.sort();
            sorted.dedup_by(|a, b| a.0 == b.0);
            assert_eq!(labels, sorted, "labels sorted by name and unique");
            let m = ts.metadata.clone().unwrap_or_default();
            Row {
                labels,
                kind: m.r#type,
                help: sym(m.help_ref),
                unit: sym(m.unit_ref),
                samples: ts.samples.iter().map(|s| (s.value, s.timestamp)).collect(),
                histograms: ts.histograms.clone(),
                created_ms: ts.created_timestamp,
            }
        })
        .collect()
}

fn batches(enc: &mut RequestEncoder) -> Vec<Batch> {
    enc.take_batches().collect()
}

fn rows(enc: &mut RequestEncoder) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches(enc) {
        assert!(b.v2);
        let decoded = decode(&b.body);
        assert_eq!(decoded.len(), b.samples);
        out.extend(decoded);
        enc.recycle(b.body);
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// Each `name_created` value of the OpenMetrics exposition, in milliseconds, by name.
fn created_ms(r: &Registry) -> BTreeMap<String, i64> {
    r.encode_to_string(Format::OpenMetrics)
        .lines()
        .filter_map(|l| {
            let (name, v) = l.split_once(' ')?;
            let family = name.split('{').next()?.strip_suffix("_created")?;
            Some((
                family.to_owned(),
                (v.parse::<f64>().ok()? * 1000.0).round() as i64,
            ))
        })
        .collect()
}

const T: i64 = 1_700_000_000_123;

#[test]
fn labels_values_metadata_and_created_timestamps() {
    let r = Registry::builder()
        .prefix("app")
        .unwrap()
        .const_label("region", "eu")
        .unwrap()
        .build();
    let c = Counter::builder("req_total", "Requests.")
        .labels(["path", "Zone"])
        .register(&r)
        .unwrap();
    c.with_label_values(&["/a\"b\\c\nd", "z"]).inc_by(3);
    Gauge::builder("temp_celsius", "Temperature.")
        .unit("celsius")
        .unwrap()
        .register(&r)
        .unwrap()
        .set(-1.5);
    let h = Histogram::builder("lat", "Latency.")
        .buckets([1.0])
        .unwrap()
        .register(&r)
        .unwrap();
    h.observe(2.0);
    Summary::builder("sz", "")
        .register(&r)
        .unwrap()
        .observe(4.0);
    let mut enc = RequestEncoder::new(100, &[("instance".into(), "i1".into())]);
    enc.collect(std::slice::from_ref(&r), T).unwrap();
    let got = rows(&mut enc);
    let created = created_ms(&r);
    let (ct_req, ct_lat, ct_sz) = (created["app_req"], created["app_lat"], created["app_sz"]);
    assert!(
        ct_req > 1_600_000_000_000 && ct_lat > 0 && ct_sz > 0,
        "{created:?}"
    );
    let row = |l: &[(&str, &str)], kind, help: &str, unit: &str, v, ct| Row {
        labels: labels(l),
        kind,
        help: help.into(),
        unit: unit.into(),
        samples: vec![(v, T)],
        histograms: vec![],
        created_ms: ct,
    };
    let base = |name: &'static str| [("__name__", name), ("instance", "i1"), ("region", "eu")];
    let with = |name: &'static str, extra: (&'static str, &'static str)| {
        let mut l = base(name).to_vec();
        l.push(extra);
        l.sort();
        l
    };
    let want = vec![
        row(
            &[
                ("Zone", "z"),
                ("__name__", "app_req_total"),
                ("instance", "i1"),
                ("path", "/a\"b\\c\nd"),
                ("region", "eu"),
            ],
            1,
            "Requests.",
            "",
            3.0,
            ct_req,
        ),
        row(
            &base("app_temp_celsius"),
            2,
            "Temperature.",
            "celsius",
            -1.5,
            0,
        ),
        row(
            &with("app_lat_bucket", ("le", "1")),
            3,
            "Latency.",
            "",
            0.0,
            ct_lat,
        ),
        row(
            &with("app_lat_bucket", ("le", "+Inf")),
            3,
            "Latency.",
            "",
            1.0,
            ct_lat,
        ),
        row(&base("app_lat_sum"), 3, "Latency.", "", 2.0, ct_lat),
        row(&base("app_lat_count"), 3, "Latency.", "", 1.0, ct_lat),
        row(&base("app_sz_sum"), 5, "", "", 4.0, ct_sz),
        row(&base("app_sz_count"), 5, "", "", 1.0, ct_sz),
    ];
    assert_eq!(got, want);
}

#[test]
fn no_created_timestamps_when_the_registry_has_them_off() {
    let r = Registry::builder().created_samples(false).build();
    Counter::builder("c_total", "C.")
        .register(&r)
        .unwrap()
        .inc();
    let mut enc = RequestEncoder::new(100, &[]);
    enc.collect(std::slice::from_ref(&r), T).unwrap();
    let got = rows(&mut enc);
    assert_eq!(got.len(), 1, "no `_created` series either");
    assert_eq!(got[0].created_ms, 0);
    assert_eq!(got[0].samples, vec![(1.0, T)]);
}

#[test]
fn series_labels_win_over_external_labels_and_empty_values_are_dropped() {
    let r = Registry::new();
    let g = Gauge::builder("g", "G.")
        .labels(["instance", "e"])
        .register(&r)
        .unwrap();
    g.with_label_values(&["own", ""]).set(1.0);
    let ext = [
        ("instance".into(), "ext".into()),
        ("job".into(), "j".into()),
    ];
    let mut enc = RequestEncoder::new(10, &ext);
    enc.collect(std::slice::from_ref(&r), 1).unwrap();
    assert_eq!(
        rows(&mut enc)[0].labels,
        labels(&[("__name__", "g"), ("instance", "own"), ("job", "j")])
    );
}

struct Custom;
impl Collector for Custom {
    fn describe(&self) -> Vec<Descriptor> {
        vec![Descriptor::new("cu", "Custom.", MetricType::Gauge, &["k"]).unwrap()]
    }
    fn collect(&self, w: &mut MetricWriter<'_>) -> Result<(), crate::EncodeError> {
        let d = &self.describe()[0];
        if let Some(mut f) = w.family(d) {
            f.sample("", &[("k", "a")], 1.0)?;
            f.sample("", &[("k", "b")], 2.0)?;
        }
        Ok(())
    }
}

#[test]
fn requests_split_at_max_samples_each_with_its_own_symbol_table() {
    let r = Registry::new();
    let c = Counter::builder("c_total", "Count.")
        .labels(["k"])
        .register(&r)
        .unwrap();
    for i in 0..7 {
        c.with_label_values(&[&format!("v{i}")]).inc_by(i);
    }
    r.register(Custom).unwrap();
    let mut enc = RequestEncoder::new(3, &[]);
    enc.collect(std::slice::from_ref(&r), T).unwrap();
    let bs = batches(&mut enc);
    assert_eq!(
        bs.iter().map(|b| b.samples).collect::<Vec<_>>(),
        [3, 3, 3],
        "7 counter series and 2 custom ones"
    );
    let mut all = Vec::new();
    for b in &bs {
        // Every request resolves on its own (decode checks refs against its symbols).
        let rows = decode(&b.body);
        assert!(rows.iter().all(|r| !r.help.is_empty()));
        all.extend(rows);
    }
    let values: Vec<(String, f64)> = all
        .iter()
        .map(|r| (r.labels[1].1.clone(), r.samples[0].0))
        .collect();
    let mut want: Vec<(String, f64)> = (0..7).map(|i| (format!("v{i}"), f64::from(i))).collect();
    want.extend([("a".into(), 1.0), ("b".into(), 2.0)]);
    assert_eq!(values, want);
    // The custom collector's series have metadata but no created timestamp.
    assert_eq!((all[7].kind, all[7].help.as_str()), (2, "Custom."));
    assert_eq!(all[7].created_ms, 0);
    assert!(all[..7].iter().all(|r| r.created_ms > 0 && r.kind == 1));
}

fn busy_registry() -> Registry {
    let r = Registry::new();
    let c = Counter::builder("c_total", "C.")
        .labels(["k"])
        .register(&r)
        .unwrap();
    let h = Histogram::builder("h", "H.")
        .buckets([0.5, 1.0])
        .unwrap()
        .labels(["k"])
        .register(&r)
        .unwrap();
    for i in 0..20 {
        let k = format!("key-{i}");
        c.with_label_values(&[&k]).inc_by(i);
        h.with_label_values(&[&k]).observe(i as f64 / 10.0);
    }
    r.register(Custom).unwrap();
    r
}

#[test]
fn warm_bodies_are_byte_identical_to_a_fresh_encoders() {
    let r = busy_registry();
    let regs = std::slice::from_ref(&r);
    let mut warm = RequestEncoder::new(7, &[("job".into(), "j".into())]);
    for _ in 0..3 {
        warm.collect(regs, T).unwrap();
        for b in batches(&mut warm) {
            warm.recycle(b.body);
        }
    }
    warm.collect(regs, T).unwrap();
    let mut fresh = RequestEncoder::new(7, &[("job".into(), "j".into())]);
    fresh.collect(regs, T).unwrap();
    let (w, f) = (batches(&mut warm), batches(&mut fresh));
    assert_eq!(w.len(), f.len());
    assert!(w.len() > 3);
    for (a, b) in w.iter().zip(&f) {
        assert_eq!(a.body, b.body);
        assert_eq!(a.samples, b.samples);
    }
}

#[test]
fn fallback_body_is_the_one_point_zero_encoders_body() {
    let r = busy_registry();
    let regs = std::slice::from_ref(&r);
    let ext = [("instance".into(), "i".into())];
    // One request each, so the series split identically.
    let mut v2 = RequestEncoder::new(1000, &ext);
    let mut v1 = WriteRequestEncoder::new(1000, &ext);
    v2.collect(regs, T).unwrap();
    v1.collect(regs, T).unwrap();
    let (a, b) = (batches(&mut v2), v1.take_batches().collect::<Vec<_>>());
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_eq!(a[0].samples, b[0].samples);
    let converted = to_v1(&a[0].body).unwrap();
    assert_eq!(unsnap(&converted), unsnap(&b[0].body));
    assert!(to_v1(b"not snappy").is_err());
}

#[test]
fn native_histograms_go_as_histograms_with_created_timestamps() {
    let r = Registry::new();
    let h = Histogram::builder("rpc", "RPC.")
        .native(1.1)
        .unwrap()
        .register(&r)
        .unwrap();
    for v in [0.5, 1.0, 1.0, 4.0] {
        h.observe(v);
    }
    let regs = std::slice::from_ref(&r);
    let mut enc = RequestEncoder::new(100, &[]).native_histograms(true);
    enc.collect(regs, T).unwrap();
    let got = rows(&mut enc);
    assert_eq!(got.len(), 1, "{got:?}");
    let row = &got[0];
    assert_eq!(row.labels, labels(&[("__name__", "rpc")]));
    assert_eq!((row.kind, row.help.as_str()), (3, "RPC."));
    assert_eq!(row.created_ms, created_ms(&r)["rpc"]);
    assert!(row.samples.is_empty());
    let hist = &row.histograms[0];
    let snap = h.native_snapshot().unwrap();
    assert_eq!(hist.count_int, Some(snap.count));
    assert_eq!(hist.sum, snap.sum);
    assert_eq!(hist.schema, i32::from(snap.schema));
    assert_eq!(hist.zero_count_int, Some(snap.zero_count));
    assert_eq!(hist.timestamp, T);
    let buckets: u64 = snap.positive.iter().map(|(_, n)| n).sum();
    assert_eq!(
        hist.positive_deltas.len(),
        snap.positive.len(),
        "no gaps: one delta per bucket"
    );
    assert!(buckets > 0);
    // The fallback carries the same histogram as the 1.0 encoder.
    enc.collect(regs, T).unwrap();
    let v2 = batches(&mut enc);
    let mut v1 = WriteRequestEncoder::new(100, &[]).native_histograms(true);
    v1.collect(regs, T).unwrap();
    let v1: Vec<Batch> = v1.take_batches().collect();
    assert_eq!(unsnap(&to_v1(&v2[0].body).unwrap()), unsnap(&v1[0].body));
}

/// A custom collector whose label value changes every collection.
struct Churn(std::sync::atomic::AtomicU64);
impl Collector for Churn {
    fn describe(&self) -> Vec<Descriptor> {
        vec![Descriptor::new("churn", "Churn.", MetricType::Gauge, &["id"]).unwrap()]
    }
    fn collect(&self, w: &mut MetricWriter<'_>) -> Result<(), crate::EncodeError> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = &self.describe()[0];
        if let Some(mut f) = w.family(d) {
            for i in 0..100 {
                f.sample("", &[("id", &format!("{n}-{i}"))], 1.0)?;
            }
        }
        Ok(())
    }
}

#[test]
fn an_info_changed_in_place_is_sent_with_its_new_labels() {
    let r = Registry::new();
    let info = crate::Info::builder("build_info", "Build.")
        .register(&r)
        .unwrap();
    info.set(&[("version", "1")]).unwrap();
    let regs = std::slice::from_ref(&r);
    let mut enc = RequestEncoder::new(10, &[]);
    enc.collect(regs, T).unwrap();
    let first = rows(&mut enc);
    info.set(&[("version", "2")]).unwrap();
    enc.collect(regs, T).unwrap();
    let second = rows(&mut enc);
    for (got, v) in [(&first, "1"), (&second, "2")] {
        assert_eq!(
            got[0].labels,
            labels(&[("__name__", "build_info"), ("version", v)])
        );
        assert_eq!((got[0].kind, got[0].created_ms), (6, 0), "info, no created");
    }
}

#[test]
fn added_and_removed_children_are_encoded_as_a_fresh_encoder_does() {
    let r = Registry::new();
    let c = Counter::builder("c_total", "C.")
        .labels(["k"])
        .register(&r)
        .unwrap();
    for i in 0..10 {
        c.with_label_values(&[&format!("k{i}")]).inc();
    }
    let regs = std::slice::from_ref(&r);
    let mut warm = RequestEncoder::new(4, &[]);
    warm.collect(regs, T).unwrap();
    let _ = batches(&mut warm);
    // Children come and go between collections: the cache must not hand one child's labels
    // to another.
    c.remove(&["k3"]).unwrap();
    c.remove(&["k0"]).unwrap();
    c.with_label_values(&["new"]).inc_by(5);
    warm.collect(regs, T).unwrap();
    let mut fresh = RequestEncoder::new(4, &[]);
    fresh.collect(regs, T).unwrap();
    let (w, f) = (batches(&mut warm), batches(&mut fresh));
    let bodies = |b: &[Batch]| b.iter().map(|b| b.body.clone()).collect::<Vec<_>>();
    assert_eq!(bodies(&w), bodies(&f));
    let keys: Vec<String> = w
        .iter()
        .flat_map(|b| decode(&b.body))
        .map(|r| r.labels[1].1.clone())
        .collect();
    assert_eq!(keys.len(), 9);
    assert!(!keys.contains(&"k3".to_owned()) && keys.contains(&"new".to_owned()));
}

#[test]
fn string_tables_stay_bounded_when_label_values_churn() {
    let r = Registry::new();
    r.register(Churn(Default::default())).unwrap();
    let regs = std::slice::from_ref(&r);
    let mut enc = RequestEncoder::new(1000, &[]);
    let mut most = 0;
    for _ in 0..200 {
        enc.collect(regs, T).unwrap();
        let got = rows(&mut enc);
        assert_eq!(got.len(), 100);
        most = most.max(enc.sink.tables.strings.len());
    }
    // 200 collections × 100 new values each: without the bound, 20,000 strings.
    assert!(most < 2 * 105 + 4096 + 200, "{most} strings kept");
}
