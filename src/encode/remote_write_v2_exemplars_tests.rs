//! Tests of exemplars in the Remote-Write 2.0 body: decoded with message structs derived
//! (`prost` derive, a dev-dependency) from Prometheus'
//! `prompb/io/prometheus/write/v2/types.proto`, and the fallback's 1.0 body compared with the
//! 1.0 encoder's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prost::Message;

use super::super::to_v1::to_v1;
use super::super::{Batch, RequestEncoder};
use crate::encode::remote_write::WriteRequestEncoder;
use crate::encode::remote_write_proto::v2::Request;
use crate::{Collector, Counter, Descriptor, Family, Histogram, MetricWriter, Registry};

/// A decoded series: its labels, sample values, histogram count and exemplars (labels
/// resolved, value, timestamp).
#[derive(Debug, Clone, PartialEq)]
struct Row {
    labels: Vec<(String, String)>,
    samples: Vec<f64>,
    histograms: usize,
    exemplars: Vec<Ex>,
}

#[derive(Debug, Clone, PartialEq)]
struct Ex {
    labels: Vec<(String, String)>,
    value: f64,
    ts: i64,
}

const T0: i64 = 1_700_000_000_000;

fn unsnap(body: &[u8]) -> Vec<u8> {
    snap::raw::Decoder::new().decompress_vec(body).unwrap()
}

fn pairs(symbols: &[String], refs: &[u32]) -> Vec<(String, String)> {
    assert_eq!(refs.len() % 2, 0);
    let sym = |r: u32| symbols.get(r as usize).expect("ref in range").clone();
    refs.chunks(2).map(|p| (sym(p[0]), sym(p[1]))).collect()
}

/// Collects `regs` and decodes every request, each with its own symbol table.
fn collect(enc: &mut RequestEncoder, regs: &[Registry], ts: i64) -> Vec<Row> {
    enc.collect(regs, ts).unwrap();
    let batches: Vec<Batch> = enc.take_batches().collect();
    let mut out = Vec::new();
    for b in batches {
        let req = Request::decode(&unsnap(&b.body)[..]).unwrap();
        assert_eq!(req.timeseries.len(), b.samples);
        assert_eq!(req.symbols.first().map(String::as_str), Some(""));
        for ts in &req.timeseries {
            out.push(Row {
                labels: pairs(&req.symbols, &ts.labels_refs),
                samples: ts.samples.iter().map(|s| s.value).collect(),
                histograms: ts.histograms.len(),
                exemplars: ts
                    .exemplars
                    .iter()
                    .map(|e| Ex {
                        labels: pairs(&req.symbols, &e.labels_refs),
                        value: e.value,
                        ts: e.timestamp,
                    })
                    .collect(),
            });
        }
    }
    out
}

fn row<'r>(rows: &'r [Row], want: &[(&str, &str)]) -> &'r Row {
    rows.iter()
        .find(|r| {
            want.iter()
                .all(|(n, v)| r.labels.iter().any(|(a, b)| a == n && b == v))
        })
        .unwrap_or_else(|| panic!("no series {want:?} in {rows:?}"))
}

fn l(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn at(ms: u64) -> Option<SystemTime> {
    Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
}

fn count(rows: &[Row]) -> usize {
    rows.iter().map(|r| r.exemplars.len()).sum()
}

#[test]
fn exemplars_are_sent_once_sorted_and_stamped() {
    let r = Registry::builder().created_samples(false).build();
    let c = Counter::builder("jobs_total", "Jobs.")
        .labels(["queue"])
        .register(&r)
        .unwrap();
    let h = Histogram::builder("rpc_seconds", "RPC.")
        .buckets([0.1, 1.0])
        .unwrap()
        .register(&r)
        .unwrap();
    let fast = c.with_label_values(&["fast"]);
    fast.inc_by_with_exemplar_at(
        2,
        &[("trace_id", "t\"1"), ("span", "s1")],
        at(1_699_999_999_500),
    );
    c.with_label_values(&["slow"]).inc();
    h.observe_with_exemplar_at(0.5, &[("trace_id", "h1")], None);
    let regs = std::slice::from_ref(&r);

    let mut off = RequestEncoder::new(100, &[]);
    assert_eq!(count(&collect(&mut off, regs, T0)), 0, "off by default");

    let mut enc = RequestEncoder::new(100, &[]).exemplars(true);
    let rows = collect(&mut enc, regs, T0);
    // Labels unescaped and sorted by name; the recorded timestamp in milliseconds.
    let want = Ex {
        labels: l(&[("span", "s1"), ("trace_id", "t\"1")]),
        value: 2.0,
        ts: 1_699_999_999_500,
    };
    assert_eq!(row(&rows, &[("queue", "fast")]).exemplars, vec![want]);
    assert_eq!(row(&rows, &[("queue", "fast")]).samples, vec![2.0]);
    assert!(row(&rows, &[("queue", "slow")]).exemplars.is_empty());
    // No timestamp: stamped with the collection's; only the bucket that holds it.
    let bucket = row(&rows, &[("__name__", "rpc_seconds_bucket"), ("le", "1")]);
    assert_eq!(
        bucket.exemplars,
        vec![Ex {
            labels: l(&[("trace_id", "h1")]),
            value: 0.5,
            ts: T0,
        }]
    );
    assert_eq!(count(&rows), 2);

    // Nothing new: no exemplar goes again, the samples still do.
    let again = collect(&mut enc, regs, T0 + 15_000);
    assert_eq!(again.len(), 2 + 5);
    assert_eq!(count(&again), 0);

    // A new exemplar goes, once; the same one recorded again does not.
    fast.inc_by_with_exemplar_at(1, &[("trace_id", "t2")], at(1_700_000_010_000));
    let third = collect(&mut enc, regs, T0 + 30_000);
    assert_eq!(count(&third), 1);
    assert_eq!(
        row(&third, &[("queue", "fast")]).exemplars[0].labels,
        l(&[("trace_id", "t2")])
    );
    fast.inc_by_with_exemplar_at(1, &[("trace_id", "t2")], at(1_700_000_010_000));
    let fourth = collect(&mut enc, regs, T0 + 45_000);
    assert_eq!(count(&fourth), 0);
    assert_eq!(row(&fourth, &[("queue", "fast")]).samples, vec![4.0]);
}

#[test]
fn native_histogram_exemplars_go_newest_since_last_oldest_first() {
    let r = Registry::builder().created_samples(false).build();
    let h = Histogram::builder("lat_seconds", "L.")
        .native(1.1)
        .unwrap()
        .register(&r)
        .unwrap();
    h.observe_with_exemplar_at(0.2, &[("trace_id", "b")], at(1_699_999_000_200));
    h.observe_with_exemplar_at(0.1, &[("trace_id", "a")], at(1_699_999_000_100));
    h.observe_with_exemplar_at(0.3, &[("trace_id", "none")], None);
    let regs = std::slice::from_ref(&r);
    let mut enc = RequestEncoder::new(100, &[])
        .native_histograms(true)
        .exemplars(true);
    let rows = collect(&mut enc, regs, T0);
    let s = row(&rows, &[("__name__", "lat_seconds")]);
    assert_eq!(s.histograms, 1);
    assert_eq!(
        s.exemplars,
        vec![
            Ex {
                labels: l(&[("trace_id", "a")]),
                value: 0.1,
                ts: 1_699_999_000_100,
            },
            Ex {
                labels: l(&[("trace_id", "b")]),
                value: 0.2,
                ts: 1_699_999_000_200,
            },
        ]
    );
    assert_eq!(count(&collect(&mut enc, regs, T0 + 1)), 0);
    h.observe_with_exemplar_at(0.4, &[("trace_id", "c")], at(1_699_999_000_300));
    let later = collect(&mut enc, regs, T0 + 2);
    let e = &row(&later, &[("__name__", "lat_seconds")]).exemplars;
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].value, e[0].ts), (0.4, 1_699_999_000_300));
}

#[test]
fn each_request_numbers_its_own_exemplar_symbols() {
    let r = Registry::builder().created_samples(false).build();
    let c = Counter::builder("jobs_total", "Jobs.")
        .labels(["queue"])
        .register(&r)
        .unwrap();
    // The same trace id on three series, one request each: every request must carry it.
    for q in ["a", "b", "c"] {
        c.with_label_values(&[q])
            .inc_with_exemplar(&[("trace_id", "shared"), ("queue", q)]);
    }
    let mut enc = RequestEncoder::new(1, &[]).exemplars(true);
    let rows = collect(&mut enc, std::slice::from_ref(&r), T0);
    assert_eq!(rows.len(), 3);
    for q in ["a", "b", "c"] {
        // `queue` and the value are the series' own symbols, reused by the exemplar.
        assert_eq!(
            row(&rows, &[("queue", q)]).exemplars[0].labels,
            l(&[("queue", q), ("trace_id", "shared")])
        );
    }
}

/// A collector that fails while `fail` is set.
struct Failing(Arc<AtomicBool>);
impl Collector for Failing {
    fn describe(&self) -> Vec<Descriptor> {
        Vec::new()
    }
    fn collect(&self, _w: &mut MetricWriter<'_>) -> Result<(), crate::EncodeError> {
        // Relaxed: the flag is set and read on the test's one thread.
        if self.0.load(Ordering::Relaxed) {
            return Err(crate::EncodeError::InvalidSample("failing".into()));
        }
        Ok(())
    }
}

#[test]
fn a_failed_collection_sends_its_exemplars_again() {
    let r = Registry::builder().created_samples(false).build();
    let c = Counter::builder("jobs_total", "Jobs.")
        .register(&r)
        .unwrap();
    c.inc_with_exemplar(&[("trace_id", "a")]);
    let bad = Registry::new();
    let fail = Arc::new(AtomicBool::new(true));
    bad.register(Failing(fail.clone())).unwrap();
    let regs = [r.clone(), bad];
    let mut enc = RequestEncoder::new(100, &[]).exemplars(true);
    assert!(enc.collect(&regs, T0).is_err());
    assert_eq!(
        enc.take_batches().count(),
        0,
        "the failed collection's requests are dropped"
    );
    fail.store(false, Ordering::Relaxed);
    assert_eq!(count(&collect(&mut enc, &regs, T0 + 1)), 1, "sent again");
    assert_eq!(count(&collect(&mut enc, &regs, T0 + 2)), 0);
}

/// A registry with exemplars on counters, classic buckets and a native histogram.
fn with_exemplars() -> (Registry, Family<Counter>, Histogram) {
    let r = Registry::new();
    let c = Counter::builder("jobs_total", "Jobs.")
        .labels(["queue"])
        .register(&r)
        .unwrap();
    let h = Histogram::builder("rpc_seconds", "RPC.")
        .buckets([0.1, 1.0])
        .unwrap()
        .native(1.1)
        .unwrap()
        .register(&r)
        .unwrap();
    c.with_label_values(&["q\"1"]).inc_by_with_exemplar_at(
        3,
        &[("trace_id", "t1"), ("a", "x")],
        at(1_699_999_999_000),
    );
    c.with_label_values(&["q2"])
        .inc_with_exemplar(&[("trace_id", "t2")]);
    h.observe_with_exemplar_at(0.05, &[("trace_id", "h1")], at(1_699_999_999_100));
    h.observe_with_exemplar_at(0.5, &[("trace_id", "h2")], at(1_699_999_999_200));
    (r, c, h)
}

#[test]
fn fallback_body_is_the_one_point_zero_encoders_body_with_exemplars() {
    for native in [false, true] {
        let (r, c, h) = with_exemplars();
        let regs = std::slice::from_ref(&r);
        let ext = [("instance".into(), "i".into())];
        let mut v2 = RequestEncoder::new(1000, &ext)
            .native_histograms(native)
            .exemplars(true);
        let mut v1 = WriteRequestEncoder::new(1000, &ext)
            .native_histograms(native)
            .exemplars(true);
        for round in 0..3 {
            if round == 2 {
                c.with_label_values(&["q2"])
                    .inc_with_exemplar(&[("trace_id", "t3")]);
                h.observe_with_exemplar_at(0.7, &[("trace_id", "h3")], at(1_699_999_999_300));
            }
            let t = T0 + round * 1000;
            v2.collect(regs, t).unwrap();
            v1.collect(regs, t).unwrap();
            let a: Vec<Batch> = v2.take_batches().collect();
            let b: Vec<Batch> = v1.take_batches().collect();
            assert_eq!((a.len(), b.len()), (1, 1));
            let v1_raw = unsnap(&b[0].body);
            assert_eq!(
                unsnap(&to_v1(&a[0].body).unwrap()),
                v1_raw,
                "native {native} round {round}"
            );
            // Round 0 carries 4 exemplars (5 with the native ring's two), round 1 none,
            // round 2 the two new ones (three: h3 on a bucket and in the ring): the
            // comparison is not of empty bodies.
            let has = v1_raw.windows(2).any(|w| w == b"h1");
            assert_eq!(has, round == 0, "native {native} round {round}");
        }
    }
}
