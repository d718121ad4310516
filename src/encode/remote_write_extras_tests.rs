//! Tests of exemplars and metadata in the Remote-Write body: decoded with message structs
//! derived (`prost` derive, a dev-dependency) from `prompb/remote.proto` and
//! `prompb/types.proto`.

use std::time::{Duration, SystemTime};

use prost::Message;

use super::super::{Batch, WriteRequestEncoder};
use crate::encode::remote_write_proto::v1::{
    Exemplar, Label, MetricMetadata, TimeSeries, WriteRequest,
};
use crate::{Counter, Gauge, Histogram, Info, Registry};

const T0: i64 = 1_700_000_000_000;

fn collect(enc: &mut WriteRequestEncoder, r: &Registry, ts: i64) -> Vec<WriteRequest> {
    enc.collect(std::slice::from_ref(r), ts).unwrap();
    let batches: Vec<Batch> = enc.take_batches().collect();
    let mut out = Vec::new();
    for b in batches {
        let raw = snap::raw::Decoder::new().decompress_vec(&b.body).unwrap();
        let req = WriteRequest::decode(&raw[..]).unwrap();
        assert_eq!(req.timeseries.len(), b.samples);
        out.push(req);
        enc.recycle(b.body);
    }
    out
}

fn name_of(ts: &TimeSeries) -> &str {
    &ts.labels
        .iter()
        .find(|l| l.name == "__name__")
        .unwrap()
        .value
}

fn series<'r>(reqs: &'r [WriteRequest], name: &str, le: Option<&str>) -> &'r TimeSeries {
    reqs.iter()
        .flat_map(|r| &r.timeseries)
        .find(|ts| {
            name_of(ts) == name
                && le.is_none_or(|le| ts.labels.iter().any(|l| l.name == "le" && l.value == le))
        })
        .unwrap_or_else(|| panic!("no series {name} {le:?}"))
}

fn label(n: &str, v: &str) -> Label {
    Label {
        name: n.into(),
        value: v.into(),
    }
}

fn at(ms: u64) -> Option<SystemTime> {
    Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
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

    let mut enc = WriteRequestEncoder::new(100, &[]).exemplars(true);
    let reqs = collect(&mut enc, &r, T0);
    let jobs = |reqs: &[WriteRequest], q: &str| {
        reqs.iter()
            .flat_map(|r| &r.timeseries)
            .find(|ts| ts.labels.iter().any(|l| l.name == "queue" && l.value == q))
            .unwrap()
            .clone()
    };
    // Labels unescaped and sorted by name; the recorded timestamp in milliseconds.
    assert_eq!(
        jobs(&reqs, "fast").exemplars,
        vec![Exemplar {
            labels: vec![label("span", "s1"), label("trace_id", "t\"1")],
            value: 2.0,
            timestamp: 1_699_999_999_500,
        }]
    );
    assert!(jobs(&reqs, "slow").exemplars.is_empty());
    assert_eq!(jobs(&reqs, "fast").samples[0].value, 2.0);
    // No timestamp: stamped with the collection's; only the bucket that holds it.
    let bucket = series(&reqs, "rpc_seconds_bucket", Some("1"));
    assert_eq!(
        bucket.exemplars,
        vec![Exemplar {
            labels: vec![label("trace_id", "h1")],
            value: 0.5,
            timestamp: T0,
        }]
    );
    for le in ["0.1", "+Inf"] {
        assert!(series(&reqs, "rpc_seconds_bucket", Some(le))
            .exemplars
            .is_empty());
    }
    assert!(series(&reqs, "rpc_seconds_sum", None).exemplars.is_empty());

    // Nothing new: no exemplar goes again, the samples still do.
    let again = collect(&mut enc, &r, T0 + 15_000);
    let all: Vec<&TimeSeries> = again.iter().flat_map(|r| &r.timeseries).collect();
    assert_eq!(all.len(), 2 + 5);
    assert!(all.iter().all(|ts| ts.exemplars.is_empty()));

    // A new exemplar on one series goes, once; the same exemplar recorded again does not.
    fast.inc_by_with_exemplar_at(1, &[("trace_id", "t2")], at(1_700_000_010_000));
    let third = collect(&mut enc, &r, T0 + 30_000);
    assert_eq!(
        jobs(&third, "fast").exemplars,
        vec![Exemplar {
            labels: vec![label("trace_id", "t2")],
            value: 1.0,
            timestamp: 1_700_000_010_000,
        }]
    );
    let n: usize = third
        .iter()
        .flat_map(|r| &r.timeseries)
        .map(|ts| ts.exemplars.len())
        .sum();
    assert_eq!(n, 1);
    fast.inc_by_with_exemplar_at(1, &[("trace_id", "t2")], at(1_700_000_010_000));
    let fourth = collect(&mut enc, &r, T0 + 45_000);
    assert!(jobs(&fourth, "fast").exemplars.is_empty());
    assert_eq!(jobs(&fourth, "fast").samples[0].value, 4.0);
}

#[test]
fn exemplars_off_by_default_and_after_a_failed_collection_resent() {
    let r = Registry::builder().created_samples(false).build();
    let c = Counter::builder("jobs_total", "Jobs.")
        .register(&r)
        .unwrap();
    c.inc_with_exemplar(&[("trace_id", "a")]);
    let mut off = WriteRequestEncoder::new(100, &[]);
    let reqs = collect(&mut off, &r, T0);
    assert!(reqs[0].timeseries[0].exemplars.is_empty());

    let mut on = WriteRequestEncoder::new(100, &[]).exemplars(true);
    assert_eq!(collect(&mut on, &r, T0)[0].timeseries[0].exemplars.len(), 1);
    // A collection that fails discards its batches: the marks are cleared, so the next
    // successful one sends the latest exemplar again.
    on.series.cache.end_collection(false);
    assert_eq!(
        collect(&mut on, &r, T0 + 1)[0].timeseries[0]
            .exemplars
            .len(),
        1
    );
    assert!(collect(&mut on, &r, T0 + 2)[0].timeseries[0]
        .exemplars
        .is_empty());
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
    let mut enc = WriteRequestEncoder::new(100, &[])
        .native_histograms(true)
        .exemplars(true);
    let reqs = collect(&mut enc, &r, T0);
    let ts = series(&reqs, "lat_seconds", None);
    assert_eq!(ts.histograms.len(), 1);
    let got: Vec<(String, i64)> = ts
        .exemplars
        .iter()
        .map(|e| (e.labels[0].value.clone(), e.timestamp))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".into(), 1_699_999_000_100),
            ("b".into(), 1_699_999_000_200)
        ]
    );
    assert!(series(&collect(&mut enc, &r, T0 + 1), "lat_seconds", None)
        .exemplars
        .is_empty());
    h.observe_with_exemplar_at(0.4, &[("trace_id", "c")], at(1_699_999_000_300));
    let later = collect(&mut enc, &r, T0 + 2);
    let e = &series(&later, "lat_seconds", None).exemplars;
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].value, e[0].timestamp), (0.4, 1_699_999_000_300));
}

#[test]
fn metadata_names_types_and_interval() {
    let r = Registry::builder()
        .prefix("app")
        .unwrap()
        .created_samples(false)
        .build();
    Counter::builder("jobs_total", "Jobs done.")
        .register(&r)
        .unwrap()
        .inc();
    Gauge::builder("temp_celsius", "Temperature.")
        .unit("celsius")
        .unwrap()
        .register(&r)
        .unwrap()
        .set(1.0);
    Histogram::builder("rpc_seconds", "")
        .register(&r)
        .unwrap()
        .observe(0.1);
    Info::builder("build_info", "Build.")
        .register(&r)
        .unwrap()
        .set(&[("version", "1")])
        .unwrap();
    // A family without children has no series.
    let _empty = Counter::builder("empty_total", "None yet.")
        .labels(["x"])
        .register(&r)
        .unwrap();

    let mut enc = WriteRequestEncoder::new(100, &[]).metadata_every(Some(Duration::from_secs(60)));
    let reqs = collect(&mut enc, &r, T0);
    assert_eq!(reqs.len(), 1);
    let meta = |n: &str, t: i32, help: &str, unit: &str| MetricMetadata {
        r#type: t,
        metric_family_name: n.into(),
        help: help.into(),
        unit: unit.into(),
    };
    assert_eq!(
        reqs[0].metadata,
        vec![
            meta("app_jobs_total", 1, "Jobs done.", ""),
            meta("app_temp_celsius", 2, "Temperature.", "celsius"),
            meta("app_rpc_seconds", 3, "", ""),
            meta("app_build_info", 2, "Build.", ""),
            meta("app_empty_total", 1, "None yet.", ""),
        ]
    );
    // Not again before the interval; again once it passed.
    assert!(collect(&mut enc, &r, T0 + 59_999)[0].metadata.is_empty());
    assert_eq!(collect(&mut enc, &r, T0 + 60_000)[0].metadata.len(), 5);
    assert!(collect(&mut enc, &r, T0 + 60_001)[0].metadata.is_empty());
    // Off by default.
    let mut off = WriteRequestEncoder::new(100, &[]);
    assert!(collect(&mut off, &r, T0)[0].metadata.is_empty());
}

#[test]
fn metadata_goes_with_the_batch_of_the_familys_first_series() {
    let r = Registry::builder().created_samples(false).build();
    let a = Counter::builder("a_total", "A.")
        .labels(["i"])
        .register(&r)
        .unwrap();
    for i in 0..3 {
        a.with_label_values(&[&i.to_string()]).inc();
    }
    Gauge::builder("b", "B.").register(&r).unwrap().set(2.0);
    let mut enc = WriteRequestEncoder::new(2, &[]).metadata_every(Some(Duration::ZERO));
    let reqs = collect(&mut enc, &r, T0);
    let names: Vec<Vec<&str>> = reqs
        .iter()
        .map(|q| q.metadata.iter().map(|m| &*m.metric_family_name).collect())
        .collect();
    // Batch 1: a_total{i=0,1}; batch 2: a_total{i=2}, b. `b`'s entry goes with batch 2.
    assert_eq!(names, vec![vec!["a_total"], vec!["b"]]);
    assert_eq!(collect(&mut enc, &r, T0 + 1)[0].metadata.len(), 1);
}

#[test]
fn a_batch_of_cached_and_uncached_runs_is_one_valid_snappy_block() {
    // Warm series are compressed from the cache's arena, a series with a new exemplar from
    // the side buffer: the batch is three runs, compressed one by one into one block.
    let r = Registry::builder().created_samples(false).build();
    let c = Counter::builder("jobs_total", "Jobs.")
        .labels(["queue"])
        .register(&r)
        .unwrap();
    let queues: Vec<Counter> = (0..30)
        .map(|i| {
            c.with_label_values(&[&format!("queue-{i:02}-with-a-long-name")])
                .handle()
        })
        .collect();
    for q in &queues {
        q.inc();
    }
    let mut enc = WriteRequestEncoder::new(100, &[]).exemplars(true);
    collect(&mut enc, &r, T0);
    queues[15].inc_by_with_exemplar_at(2, &[("trace_id", "x")], at(1_699_999_999_000));
    enc.collect(std::slice::from_ref(&r), T0 + 1).unwrap();
    let warm: Vec<Batch> = enc.take_batches().collect();
    assert_eq!(warm.len(), 1);
    let mut fresh = WriteRequestEncoder::new(100, &[]).exemplars(true);
    fresh.collect(std::slice::from_ref(&r), T0 + 1).unwrap();
    let fresh: Vec<Batch> = fresh.take_batches().collect();
    let raw = |b: &Batch| snap::raw::Decoder::new().decompress_vec(&b.body).unwrap();
    // The same request byte for byte, though compressed differently (the fresh one is one
    // run: every series was just encoded into the side buffer or appended to the arena).
    assert_eq!(raw(&warm[0]), raw(&fresh[0]));
    let req = WriteRequest::decode(&raw(&warm[0])[..]).unwrap();
    assert_eq!(req.timeseries.len(), 30);
    assert_eq!(req.timeseries[15].exemplars.len(), 1);
    assert_eq!(req.timeseries[15].samples[0].value, 3.0);
    assert_eq!(req.timeseries[14].samples[0].value, 1.0);
    assert_eq!(req.timeseries[29].samples[0].timestamp, T0 + 1);
}
