//! Native histograms in the protobuf exposition, decoded with the `metrics.proto` structs of
//! the parent module: spans and deltas rebuild exactly the histogram's own snapshot.

use super::text::assert_round_trips_text;
use super::*;
use crate::{NativeConfig, NativeSnapshot};

/// `(key, count)` of every bucket of one side, from its spans and deltas (empty buckets
/// inside spans dropped).
fn rebuild(spans: &[BucketSpan], deltas: &[i64]) -> Vec<(i32, u64)> {
    let mut out = Vec::new();
    let (mut key, mut count, mut d) = (0i32, 0i64, 0usize);
    for s in spans {
        key += s.offset();
        for _ in 0..s.length() {
            count += deltas[d];
            d += 1;
            assert!(count >= 0, "negative count");
            if count > 0 {
                out.push((key, count as u64));
            }
            key += 1;
        }
    }
    assert_eq!(d, deltas.len(), "as many deltas as the spans' lengths");
    out
}

fn native_of<'f>(fs: &'f [MetricFamily], name: &str) -> &'f Histogram_ {
    family(fs, name).metric[0]
        .histogram
        .as_ref()
        .expect("a histogram")
}

fn check(h: &Histogram_, want: &NativeSnapshot) {
    assert_eq!(h.schema(), i32::from(want.schema));
    assert_eq!(h.zero_threshold(), want.zero_threshold);
    assert_eq!(h.zero_count(), want.zero_count);
    assert_eq!(h.sample_count(), want.count);
    assert_eq!(h.sample_sum(), want.sum);
    let pos = rebuild(&h.positive_span, &h.positive_delta);
    let neg = rebuild(&h.negative_span, &h.negative_delta);
    assert_eq!(pos, want.positive);
    assert_eq!(neg, want.negative);
    let buckets: u64 = pos.iter().chain(&neg).map(|b| b.1).sum();
    assert_eq!(
        h.sample_count(),
        h.zero_count() + buckets,
        "count = zero + buckets"
    );
}

#[test]
fn native_buckets_decode_to_the_snapshot() {
    let r = Registry::builder().created_samples(false).build();
    let h = Histogram::builder("lat_seconds", "Latency.")
        .native(1.1)
        .unwrap()
        .register(&r)
        .unwrap();
    // Gaps of every size between buckets (1, 2, 3 and many empty keys), both sides, zeros.
    for v in [
        1.0, 1.1, 1.35, 1.8, 100.0, -0.5, -0.5, -7.0, 0.0, 0.0, 1e-6, 3e5,
    ] {
        h.observe(v);
    }
    let fs = decode(&encode(&r));
    let f = family(&fs, "lat_seconds");
    assert_eq!(f.r#type(), HISTOGRAM);
    let got = native_of(&fs, "lat_seconds");
    assert!(got.bucket.is_empty(), "native only: no classic buckets");
    let want = h.native_snapshot().unwrap();
    assert_eq!((want.count, want.zero_count), (12, 2));
    check(got, &want);
    assert!(got.positive_span.len() > 1 && !got.negative_span.is_empty());
}

#[test]
fn an_empty_native_histogram_has_the_no_op_span() {
    let r = Registry::builder().created_samples(false).build();
    let _h = Histogram::builder("idle", "Idle.")
        .native_config(
            NativeConfig::new(2.0)
                .unwrap()
                .with_zero_threshold(0.0)
                .unwrap(),
        )
        .register(&r)
        .unwrap();
    let fs = decode(&encode(&r));
    let h = native_of(&fs, "idle");
    assert_eq!(
        (h.sample_count(), h.zero_count(), h.zero_threshold()),
        (0, 0, 0.0)
    );
    assert_eq!(
        h.positive_span,
        vec![BucketSpan {
            offset: Some(0),
            length: Some(0)
        }]
    );
    assert!(h.positive_delta.is_empty() && h.negative_span.is_empty());
}

#[test]
fn classic_and_native_together_carry_both() {
    let r = Registry::new();
    let fam = Histogram::builder("rpc_seconds", "RPC.")
        .native(1.5)
        .unwrap()
        .buckets([0.1, 1.0])
        .unwrap()
        .labels(["m"])
        .register(&r)
        .unwrap();
    let a = fam.with_label_values(&["a"]);
    a.observe(0.05);
    a.observe(0.5);
    a.observe_with_exemplar(3.0, &[("trace_id", "abc")]);
    fam.with_label_values(&["b"]).observe(-2.0);
    let fs = decode(&encode(&r));
    let f = family(&fs, "rpc_seconds");
    assert_eq!(f.metric.len(), 2);
    let ha = f.metric[0].histogram.as_ref().unwrap();
    let cumulative: Vec<u64> = ha.bucket.iter().map(|b| b.cumulative_count()).collect();
    assert_eq!(cumulative, vec![1, 2, 3]);
    assert!(ha.created_timestamp.is_some());
    check(ha, &a.native_snapshot().unwrap());
    // The exemplar is on its classic bucket and among the native ones.
    assert_eq!(ha.bucket[2].exemplar.as_ref().map(|e| e.value()), Some(3.0));
    assert_eq!(ha.exemplars.len(), 1);
    assert_eq!(ha.exemplars[0].value(), 3.0);
    assert_eq!(ha.exemplars[0].label[0].value(), "abc");
    assert!(ha.exemplars[0].timestamp.is_some());
    let hb = f.metric[1].histogram.as_ref().unwrap();
    check(
        hb,
        &fam.with_label_values(&["b"]).native_snapshot().unwrap(),
    );
    assert_eq!(labels(&f.metric[1]), vec![("m", "b")]);
}

#[test]
fn snapshots_after_limit_changes_still_decode_consistently() {
    let r = Registry::builder().created_samples(false).build();
    let h = Histogram::builder("wide", "Wide.")
        .native_config(NativeConfig::new(1.01).unwrap().with_max_buckets(30))
        .register(&r)
        .unwrap();
    std::thread::scope(|sc| {
        for t in 0..3 {
            let h = h.clone();
            sc.spawn(move || {
                for i in 0..3000 {
                    h.observe(f64::from(i % 1000 + 1) * if t == 1 { -0.37 } else { 1.3 });
                }
            });
        }
        for _ in 0..50 {
            let fs = decode(&encode(&r));
            let got = native_of(&fs, "wide");
            let pos = rebuild(&got.positive_span, &got.positive_delta);
            let neg = rebuild(&got.negative_span, &got.negative_delta);
            let buckets: u64 = pos.iter().chain(&neg).map(|b| b.1).sum();
            assert_eq!(got.sample_count(), got.zero_count() + buckets);
            assert!(pos.len() + neg.len() <= 30);
        }
    });
    let fs = decode(&encode(&r));
    let want = h.native_snapshot().unwrap();
    assert_eq!(want.count, 9000);
    check(native_of(&fs, "wide"), &want);
}

#[test]
fn native_histograms_round_trip_the_text_exposition() {
    let r = full_registry();
    let fam = Histogram::builder("native_seconds", "Native.")
        .labels(["op"])
        .native(1.1)
        .unwrap()
        .register(&r)
        .unwrap();
    for v in [0.0, 0.25, 3.0, -1e-3] {
        fam.with_label_values(&["mixed"]).observe(v);
    }
    let _idle = fam.with_label_values(&["idle"]);
    let both = Histogram::builder("both_seconds", "Both.")
        .native(2.0)
        .unwrap()
        .buckets([0.5, 5.0])
        .unwrap()
        .register(&r)
        .unwrap();
    for v in [0.1, 1.0, 10.0] {
        both.observe(v);
    }
    let (fs, _) = assert_round_trips_text(&r);
    // The native fields are there as well.
    let n = family(&fs, "app_native_seconds");
    assert_eq!(n.metric.len(), 2);
    for m in &n.metric {
        assert!(!m.histogram.as_ref().unwrap().positive_span.is_empty());
    }
    assert_eq!(native_of(&fs, "app_both_seconds").schema(), 0);
}
