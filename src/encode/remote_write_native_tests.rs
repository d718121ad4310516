//! Tests of native histograms in the Remote-Write body: decoded with message structs derived
//! (`prost` derive, a dev-dependency) from `prompb/remote.proto` and `prompb/types.proto`,
//! and compared with [`Histogram::native_snapshot`].

use std::sync::mpsc;
use std::time::Duration;

use prost::Message;

use super::super::{Batch, WriteRequestEncoder};
use crate::encode::remote_write_proto::v1::{
    BucketSpan, Histogram as PbHistogram, TimeSeries, WriteRequest,
};
use crate::encode::remote_write_v2::RequestEncoder;
use crate::{Histogram, NativeSnapshot, Registry};

const TS: i64 = 1_700_000_000_456;

/// Every series of every batch, and the sample count each batch claims.
fn collect(enc: &mut WriteRequestEncoder, r: &Registry) -> (Vec<TimeSeries>, Vec<usize>) {
    enc.collect(std::slice::from_ref(r), TS).unwrap();
    let batches: Vec<Batch> = enc.take_batches().collect();
    let (mut series, mut counts) = (Vec::new(), Vec::new());
    for b in batches {
        let raw = snap::raw::Decoder::new().decompress_vec(&b.body).unwrap();
        let req = WriteRequest::decode(&raw[..]).unwrap();
        counts.push(b.samples);
        assert_eq!(req.timeseries.len(), b.samples);
        series.extend(req.timeseries);
        enc.recycle(b.body);
    }
    (series, counts)
}

fn names(series: &[TimeSeries]) -> Vec<String> {
    series
        .iter()
        .map(|t| {
            t.labels
                .iter()
                .find(|l| l.name == "__name__")
                .unwrap()
                .value
                .clone()
        })
        .collect()
}

/// The non-empty `(key, count)` buckets of one side, checking that spans and deltas agree
/// and that keys only grow.
fn side(spans: &[BucketSpan], deltas: &[i64]) -> Vec<(i32, u64)> {
    let total: u32 = spans.iter().map(|s| s.length).sum();
    assert_eq!(
        total as usize,
        deltas.len(),
        "span lengths cover every delta"
    );
    let mut out = Vec::new();
    let (mut key, mut count, mut d) = (0i32, 0i64, deltas.iter());
    for (i, s) in spans.iter().enumerate() {
        if i > 0 {
            assert!(s.offset >= 0, "later spans move forward: {spans:?}");
        }
        assert!(s.length > 0, "no empty span: {spans:?}");
        key += s.offset;
        for _ in 0..s.length {
            count += d.next().unwrap();
            assert!(count >= 0, "a bucket count went negative");
            if count > 0 {
                out.push((key, count as u64));
            }
            key += 1;
        }
    }
    out
}

/// Asserts that `h` is `snap`, stamped `TS`.
fn assert_matches(h: &PbHistogram, snap: &NativeSnapshot) {
    assert_eq!(h.count_int, Some(snap.count));
    assert_eq!(h.count_float, None);
    assert_eq!(h.sum.to_bits(), snap.sum.to_bits());
    assert_eq!(h.schema, i32::from(snap.schema));
    assert_eq!(h.zero_threshold.to_bits(), snap.zero_threshold.to_bits());
    assert_eq!(h.zero_count_int, Some(snap.zero_count));
    assert_eq!(h.zero_count_float, None);
    assert!(h.positive_counts.is_empty() && h.negative_counts.is_empty());
    assert_eq!(side(&h.positive_spans, &h.positive_deltas), snap.positive);
    assert_eq!(side(&h.negative_spans, &h.negative_deltas), snap.negative);
    assert_eq!(h.reset_hint, 0, "UNKNOWN");
    assert_eq!(h.timestamp, TS);
}

fn observe_spread(h: &Histogram) {
    // Positive buckets close together (inside one span) and far apart (a new span), negative
    // ones, and zeros.
    for v in [
        1.0, 1.1, 1.25, 1.6, 3.0, 1000.0, 1e6, -2.0, -2.2, -7e3, 0.0, 0.0,
    ] {
        h.observe(v);
    }
}

#[test]
fn off_sends_native_histograms_as_floats_on_as_histograms() {
    let r = Registry::builder()
        .prefix("app")
        .unwrap()
        .const_label("region", "eu")
        .unwrap()
        .build();
    let h = Histogram::builder("lat", "L.")
        .native(1.1)
        .unwrap()
        .labels(["path"])
        .register(&r)
        .unwrap();
    let child = h.with_label_values(&["/a"]);
    observe_spread(&child);
    let snap = child.native_snapshot().unwrap();
    assert!(snap.positive.len() >= 5 && snap.negative.len() >= 2 && snap.zero_count == 2);

    let mut off = WriteRequestEncoder::new(100, &[]);
    let (series, _) = collect(&mut off, &r);
    assert_eq!(
        names(&series),
        ["app_lat_bucket", "app_lat_sum", "app_lat_count"]
    );
    assert!(series.iter().all(|t| t.histograms.is_empty()));
    assert_eq!(series[2].samples[0].value, snap.count as f64);

    let mut on =
        WriteRequestEncoder::new(100, &[("instance".into(), "i1".into())]).native_histograms(true);
    let (series, counts) = collect(&mut on, &r);
    assert_eq!(counts, [1]);
    assert_eq!(names(&series), ["app_lat"]);
    let t = &series[0];
    let got: Vec<(&str, &str)> = t
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("__name__", "app_lat"),
            ("instance", "i1"),
            ("path", "/a"),
            ("region", "eu")
        ]
    );
    assert!(t.samples.is_empty());
    assert_eq!(t.histograms.len(), 1);
    assert_matches(&t.histograms[0], &snap);
}

#[test]
fn warm_collections_reuse_labels_and_send_current_buckets() {
    let r = Registry::new();
    let h = Histogram::builder("lat", "L.")
        .native(1.1)
        .unwrap()
        .labels(["k"])
        .register(&r)
        .unwrap();
    let (a, b) = (h.with_label_values(&["a"]), h.with_label_values(&["b"]));
    let mut enc = WriteRequestEncoder::new(100, &[]).native_histograms(true);
    for round in 0..3 {
        a.observe(f64::from(round) + 0.5);
        b.observe(-100.0 * f64::from(round + 1));
        let (series, _) = collect(&mut enc, &r);
        assert_eq!(series.len(), 2, "round {round}");
        for (t, child, k) in [(&series[0], &a, "a"), (&series[1], &b, "b")] {
            assert!(t.labels.iter().any(|l| l.name == "k" && l.value == k));
            assert_matches(&t.histograms[0], &child.native_snapshot().unwrap());
        }
    }
}

#[test]
fn classic_and_native_histograms_send_both() {
    let r = Registry::new();
    let h = Histogram::builder("lat", "L.")
        .buckets([1.0, 5.0])
        .unwrap()
        .native(1.1)
        .unwrap()
        .register(&r)
        .unwrap();
    observe_spread(&h);
    let mut enc = WriteRequestEncoder::new(100, &[]).native_histograms(true);
    let (series, _) = collect(&mut enc, &r);
    assert_eq!(
        names(&series),
        [
            "lat_bucket",
            "lat_bucket",
            "lat_bucket",
            "lat_sum",
            "lat_count",
            "lat"
        ]
    );
    assert_eq!(series[4].samples[0].value, h.count() as f64);
    assert!(series[..5].iter().all(|t| t.histograms.is_empty()));
    assert_matches(&series[5].histograms[0], &h.native_snapshot().unwrap());
}

#[test]
fn an_empty_histogram_is_an_integer_histogram_without_buckets() {
    let r = Registry::new();
    let h = Histogram::builder("idle", "I.")
        .native(2.0)
        .unwrap()
        .register(&r)
        .unwrap();
    let mut enc = WriteRequestEncoder::new(100, &[]).native_histograms(true);
    let (series, _) = collect(&mut enc, &r);
    let got = &series[0].histograms[0];
    assert_matches(got, &h.native_snapshot().unwrap());
    assert_eq!(got.count_int, Some(0));
    assert!(got.positive_spans.is_empty() && got.negative_spans.is_empty());
}

#[test]
fn a_histogram_counts_as_one_sample_of_a_batch() {
    let r = Registry::new();
    let h = Histogram::builder("lat", "L.")
        .native(1.1)
        .unwrap()
        .labels(["k"])
        .register(&r)
        .unwrap();
    for k in ["a", "b", "c"] {
        h.with_label_values(&[k]).observe(2.0);
    }
    let mut enc = WriteRequestEncoder::new(2, &[]).native_histograms(true);
    let (series, counts) = collect(&mut enc, &r);
    assert_eq!(counts, [2, 1]);
    assert_eq!(series.iter().map(|t| t.histograms.len()).sum::<usize>(), 3);
}

#[test]
fn exemplars_off_leave_the_exemplar_ring_unlocked() {
    // A native histogram that had an exemplar has a ring, behind a mutex. With exemplars off
    // (the default) a collection must not take that lock: the test holds it, and both
    // protocols' collections, native histograms on and off, still complete.
    let r = Registry::new();
    let h = Histogram::builder("lat", "L.")
        .native(1.1)
        .unwrap()
        .register(&r)
        .unwrap();
    h.observe_with_exemplar(0.5, &[("trace_id", "t1")]);
    let ring = h.native_part().and_then(|n| n.exemplars.read());
    assert!(ring.is_some(), "a ring after an exemplar");
    let r = &r;
    let done = std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        s.spawn(move || {
            let mut sent = Vec::new();
            for native in [true, false] {
                let mut v1 = WriteRequestEncoder::new(100, &[]).native_histograms(native);
                sent.push(collect(&mut v1, r).0.len());
                let mut v2 = RequestEncoder::new(100, &[]).native_histograms(native);
                v2.collect(std::slice::from_ref(r), TS).unwrap();
            }
            let _ = tx.send(sent);
        });
        let done = rx.recv_timeout(Duration::from_secs(10));
        // Unblocks a collection waiting for the lock, so that the scope's join returns.
        drop(ring);
        done
    });
    assert_eq!(
        done,
        Ok(vec![1, 3]),
        "a collection with exemplars off waited for the exemplar ring's lock"
    );
}
