//! The whole-`Metric` path of the protobuf encoder (a family child's one sample with its
//! created time, labels and timestamp from the cache, lengths known up front) against the
//! sample-by-sample path, which the same samples take when they carry no [`SeriesId`] (as a
//! custom collector's do): byte for byte, cold and warm, and decoded with the `metrics.proto`
//! structs of the parent module.

use super::super::{Buffers, Encoder};
use super::*;
use crate::encode::sink::{SampleSink, SeriesId, SinkSample};
use crate::encode::{write_label_pairs, ExemplarRef, Value};

/// One family child, as a built-in family hands it to the sink.
struct Child {
    id: u64,
    /// Escaped `a="x",b="y"`, as a child renders its labels.
    labels: String,
    value: Value,
    created: Option<f64>,
    /// Escaped exemplar labels, value, timestamp.
    exemplar: Option<(String, f64, Option<f64>)>,
    /// Whether the child's samples carry its series id (the whole-`Metric` path); otherwise
    /// they go sample by sample.
    series: bool,
}

fn rendered(pairs: &[(&str, &str)]) -> String {
    let mut out = Vec::new();
    write_label_pairs(&mut out, pairs.iter().copied());
    String::from_utf8(out).unwrap()
}

fn child(id: u64, pairs: &[(&str, &str)], value: Value, created: Option<f64>) -> Child {
    Child {
        id,
        labels: rendered(pairs),
        value,
        created,
        exemplar: None,
        series: true,
    }
}

/// Feeds `families` to an encoder over `buffers`, as one scrape; `whole` false strips every
/// series id, so that every sample takes the sample-by-sample path.
fn scrape(
    buffers: &mut Buffers,
    whole: bool,
    const_labels: &str,
    families: &[(Descriptor, Vec<Child>)],
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = Encoder::new(&mut out, buffers);
    for (desc, children) in families {
        enc.family("app_", desc);
        let counter = desc.metric_type() == MetricType::Counter;
        for c in children {
            let ex = c.exemplar.as_ref().map(|(l, v, t)| ExemplarRef {
                labels: l.as_bytes(),
                value: *v,
                timestamp: *t,
            });
            let s = SinkSample {
                name: ["app_", desc.name(), if counter { "_total" } else { "" }],
                rendered: [const_labels.as_bytes(), c.labels.as_bytes(), b""],
                extra: None,
                pairs: &[],
                series: (whole && c.series).then_some(SeriesId {
                    child: c.id,
                    ordinal: 0,
                }),
                value: c.value.as_f64(),
                exact: c.value,
                exemplar: ex,
            };
            if counter {
                enc.sample_created(&s, c.created);
            } else {
                enc.sample(&s);
            }
        }
        enc.family_end();
    }
    drop(enc);
    out
}

fn families() -> Vec<(Descriptor, Vec<Child>)> {
    let long = "x".repeat(200);
    let huge = "y".repeat(20_000);
    let counter = Descriptor::new("requests_total", "Requests.", MetricType::Counter, &[]).unwrap();
    let gauge = Descriptor::new("depth", "Depth.", MetricType::Gauge, &[]).unwrap();
    let untyped = Descriptor::new("raw", "", MetricType::Unknown, &[]).unwrap();
    let other = Descriptor::new("other_total", "Other.", MetricType::Counter, &[]).unwrap();
    let mut with_exemplar = child(
        2,
        &[("path", "/q\"uote\\d\nx"), ("empty", "")],
        Value::F64(1.5),
        Some(1_712_345_678.25),
    );
    with_exemplar.exemplar = Some((rendered(&[("trace_id", "t\"1")]), 0.5, Some(1.75e9)));
    let mut by_sample = child(4, &[("path", "/s")], Value::U64(9), Some(2.0));
    by_sample.series = false;
    vec![
        (
            counter,
            vec![
                child(1, &[("path", "/a")], Value::U64(7), Some(1_700_000_000.5)),
                with_exemplar,
                // A `Metric` over 127 bytes (two-byte length) and one over 16383 (three).
                child(3, &[("path", &long)], Value::U64(u64::MAX), Some(3.0)),
                // A sample-by-sample child between whole ones: its open `Metric` is closed
                // before the next whole one is written.
                by_sample,
                child(5, &[("path", &huge)], Value::F64(f64::NAN), None),
                child(6, &[], Value::U64(0), Some(0.0)),
            ],
        ),
        (
            gauge,
            vec![
                child(7, &[("room", "k")], Value::F64(-2.5), None),
                child(8, &[("room", &long)], Value::F64(f64::INFINITY), None),
            ],
        ),
        (
            untyped,
            vec![child(9, &[("u", "v")], Value::F64(4.0), None)],
        ),
        (other, vec![child(10, &[], Value::U64(1), None)]),
    ]
}

#[test]
fn whole_metrics_equal_the_sample_by_sample_encoding() {
    let fs = families();
    for const_labels in ["", r#"host="h\"1""#] {
        let by_sample = scrape(&mut Buffers::default(), false, const_labels, &fs);
        let mut buffers = Buffers::default();
        let cold = scrape(&mut buffers, true, const_labels, &fs);
        assert_eq!(cold, by_sample, "cold, const labels {const_labels:?}");
        for warm in 0..2 {
            let again = scrape(&mut buffers, true, const_labels, &fs);
            assert_eq!(again, by_sample, "warm scrape {warm}");
        }
    }
}

#[test]
fn warm_whole_metrics_follow_new_values_and_created_times() {
    // The cache keeps labels and the created timestamp; a new value or a new created time
    // (another child under a reused id cannot happen, but the cache must not trust it) must
    // still come out.
    let mut buffers = Buffers::default();
    let mut fs = families();
    scrape(&mut buffers, true, "", &fs);
    fs[0].1[0].value = Value::U64(8);
    fs[0].1[0].created = Some(1_800_000_000.0);
    fs[1].1[0].value = Value::F64(3.25);
    let warm = scrape(&mut buffers, true, "", &fs);
    assert_eq!(warm, scrape(&mut Buffers::default(), false, "", &fs));
    let decoded = decode(&warm);
    let c = decoded[0].metric[0].counter.as_ref().unwrap();
    assert_eq!(c.value, Some(8.0));
    let ts = c.created_timestamp.as_ref().unwrap();
    assert_eq!((ts.seconds, ts.nanos), (1_800_000_000, 0));
    assert_eq!(
        decoded[1].metric[0].gauge.as_ref().unwrap().value,
        Some(3.25)
    );
}

#[test]
fn whole_metrics_decode_to_their_samples() {
    let fs = families();
    let body = scrape(&mut Buffers::default(), true, r#"host="h\"1""#, &fs);
    let decoded = decode(&body);
    let names: Vec<&str> = decoded.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        [
            "app_requests_total",
            "app_depth",
            "app_raw",
            "app_other_total"
        ]
    );
    let counters = &decoded[0];
    assert_eq!(counters.r#type, Some(COUNTER));
    assert_eq!(counters.metric.len(), 6);
    let first = &counters.metric[0];
    assert_eq!(labels(first), [("host", "h\"1"), ("path", "/a")]);
    let c = first.counter.as_ref().unwrap();
    assert_eq!(c.value, Some(7.0));
    let ts = c.created_timestamp.as_ref().unwrap();
    assert_eq!((ts.seconds, ts.nanos), (1_700_000_000, 500_000_000));
    assert!(c.exemplar.is_none());

    let second = &counters.metric[1];
    // The empty label is left out; escapes are undone.
    assert_eq!(
        labels(second),
        [("host", "h\"1"), ("path", "/q\"uote\\d\nx")]
    );
    let c = second.counter.as_ref().unwrap();
    assert_eq!(c.value, Some(1.5));
    let ex = c.exemplar.as_ref().expect("exemplar");
    assert_eq!(
        ex.label
            .iter()
            .map(|l| (l.name(), l.value()))
            .collect::<Vec<_>>(),
        [("trace_id", "t\"1")]
    );
    assert_eq!(ex.value, Some(0.5));
    assert_eq!(
        ex.timestamp.as_ref().map(|t| t.seconds),
        Some(1_750_000_000)
    );

    assert_eq!(counters.metric[2].label[1].value().len(), 200);
    assert_eq!(
        counters.metric[2].counter.as_ref().unwrap().value,
        Some(u64::MAX as f64)
    );
    assert_eq!(
        counters.metric[3].counter.as_ref().unwrap().value,
        Some(9.0)
    );
    let huge = counters.metric[4].counter.as_ref().unwrap();
    assert!(huge.value.unwrap().is_nan());
    assert!(huge.created_timestamp.is_none());
    assert_eq!(counters.metric[4].label[1].value().len(), 20_000);
    assert_eq!(labels(&counters.metric[5]), [("host", "h\"1")]);

    let gauges = &decoded[1];
    assert_eq!(gauges.r#type, Some(GAUGE));
    assert_eq!(gauges.metric[0].gauge.as_ref().unwrap().value, Some(-2.5));
    assert!(gauges.metric[0].counter.is_none());
    assert_eq!(
        gauges.metric[1].gauge.as_ref().unwrap().value,
        Some(f64::INFINITY)
    );
    assert_eq!(decoded[2].r#type, Some(UNTYPED));
    assert_eq!(
        decoded[2].metric[0].untyped.as_ref().unwrap().value,
        Some(4.0)
    );
}
