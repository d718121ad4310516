//! Tests of the Remote-Write body: decoded back with `prost`'s wire readers and `snap`.

use super::*;
use crate::encode::arena_cache::ARENA_SLACK;
use crate::{Collector, Counter, Descriptor, Gauge, Histogram, MetricType, MetricWriter, Summary};
use prost::encoding::{decode_key, decode_varint};

type Series = (Vec<(String, String)>, f64, i64);

fn take<'b>(buf: &mut &'b [u8]) -> &'b [u8] {
    let n = decode_varint(buf).unwrap() as usize;
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    head
}

/// Decodes a snappy-compressed `WriteRequest` into (sorted labels, value, timestamp) rows.
fn decode(body: &[u8]) -> Vec<Series> {
    let raw = snap::raw::Decoder::new().decompress_vec(body).unwrap();
    let mut buf = &raw[..];
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (tag, wt) = decode_key(&mut buf).unwrap();
        assert_eq!((tag, wt), (1, WireType::LengthDelimited));
        let mut ts = take(&mut buf);
        let (mut labels, mut value, mut time) = (Vec::new(), f64::NAN, 0);
        while !ts.is_empty() {
            let (tag, _) = decode_key(&mut ts).unwrap();
            let mut m = take(&mut ts);
            match tag {
                1 => {
                    let (mut n, mut v) = (String::new(), String::new());
                    while !m.is_empty() {
                        let (t, _) = decode_key(&mut m).unwrap();
                        let s = String::from_utf8(take(&mut m).to_vec()).unwrap();
                        if t == 1 {
                            n = s
                        } else {
                            v = s
                        }
                    }
                    labels.push((n, v));
                }
                2 => {
                    let samples_before = value.is_nan();
                    assert!(samples_before, "one sample per series");
                    while !m.is_empty() {
                        match decode_key(&mut m).unwrap() {
                            (1, WireType::SixtyFourBit) => {
                                let (b, rest) = m.split_at(8);
                                value = f64::from_le_bytes(b.try_into().unwrap());
                                m = rest;
                            }
                            (2, WireType::Varint) => time = decode_varint(&mut m).unwrap() as i64,
                            other => panic!("unexpected sample field {other:?}"),
                        }
                    }
                }
                other => panic!("unexpected TimeSeries field {other}"),
            }
        }
        out.push((labels, value, time));
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn all(enc: &mut WriteRequestEncoder) -> Vec<Series> {
    let batches: Vec<Batch> = enc.take_batches().collect();
    let mut rows = Vec::new();
    for b in batches {
        let decoded = decode(&b.body);
        assert_eq!(decoded.len(), b.samples);
        rows.extend(decoded);
        enc.recycle(b.body);
    }
    rows
}

#[test]
fn counters_gauges_and_escaped_labels() {
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
    Gauge::builder("temp", "T.").register(&r).unwrap().set(-1.5);
    let mut enc = WriteRequestEncoder::new(100, &[("instance".into(), "i1".into())]);
    enc.collect(std::slice::from_ref(&r), 1_700_000_000_123)
        .unwrap();
    let rows = all(&mut enc);
    assert_eq!(
        rows,
        vec![
            (
                labels(&[
                    ("Zone", "z"),
                    ("__name__", "app_req_total"),
                    ("instance", "i1"),
                    ("path", "/a\"b\\c\nd"),
                    ("region", "eu"),
                ]),
                3.0,
                1_700_000_000_123
            ),
            (
                labels(&[
                    ("__name__", "app_temp"),
                    ("instance", "i1"),
                    ("region", "eu")
                ]),
                -1.5,
                1_700_000_000_123
            ),
        ]
    );
}

#[test]
fn histogram_and_summary_series_and_batching() {
    let r = Registry::new();
    let h = Histogram::builder("lat", "L.")
        .buckets([1.0, 2.5])
        .unwrap()
        .register(&r)
        .unwrap();
    h.observe(2.0);
    let s = Summary::builder("sz", "S.").register(&r).unwrap();
    s.observe(4.0);
    let mut enc = WriteRequestEncoder::new(2, &[]);
    enc.collect(std::slice::from_ref(&r), 5).unwrap();
    let batches: Vec<usize> = enc.series.sealed.iter().map(|b| b.samples).collect();
    assert!(batches.iter().all(|&n| n <= 2), "{batches:?}");
    let rows = all(&mut enc);
    let names: Vec<String> = rows
        .iter()
        .map(|(l, v, _)| {
            let extra: Vec<String> = l
                .iter()
                .filter(|(n, _)| n != "__name__")
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            format!("{}{{{}}} {v}", l[0].1, extra.join(","))
        })
        .collect();
    assert_eq!(
        names,
        [
            "lat_bucket{le=1} 0",
            "lat_bucket{le=2.5} 1",
            "lat_bucket{le=+Inf} 1",
            "lat_sum{} 2",
            "lat_count{} 1",
            "sz_sum{} 4",
            "sz_count{} 1",
        ]
    );
    assert_eq!(batches.iter().sum::<usize>(), 7);
}

#[test]
fn series_labels_win_over_external_labels_and_empty_values_are_dropped() {
    let r = Registry::new();
    let g = Gauge::builder("g", "G.")
        .labels(["instance", "e"])
        .register(&r)
        .unwrap();
    g.with_label_values(&["own", ""]).set(1.0);
    let mut enc = WriteRequestEncoder::new(
        10,
        &[
            ("instance".into(), "ext".into()),
            ("job".into(), "j".into()),
        ],
    );
    enc.collect(std::slice::from_ref(&r), 1).unwrap();
    let rows = all(&mut enc);
    assert_eq!(
        rows[0].0,
        labels(&[("__name__", "g"), ("instance", "own"), ("job", "j")])
    );
}

struct Custom(bool);
impl Collector for Custom {
    fn describe(&self) -> Vec<Descriptor> {
        vec![Descriptor::new("cu", "C.", MetricType::Gauge, &["k"]).unwrap()]
    }
    fn collect(&self, w: &mut MetricWriter<'_>) -> Result<(), EncodeError> {
        let d = &self.describe()[0];
        if let Some(mut f) = w.family(d) {
            f.sample("", &[("k", "v\"")], 2.0)?;
            if self.0 {
                f.sample("_bad", &[], 1.0)?;
            }
        }
        Ok(())
    }
}

#[test]
fn custom_collectors_and_their_errors() {
    let r = Registry::new();
    r.register(Custom(false)).unwrap();
    let mut enc = WriteRequestEncoder::new(10, &[]);
    enc.collect(std::slice::from_ref(&r), 1).unwrap();
    assert_eq!(
        all(&mut enc)[0].0,
        labels(&[("__name__", "cu"), ("k", "v\"")])
    );

    let bad = Registry::new();
    bad.register(Custom(true)).unwrap();
    let err = enc.collect(&[r, bad], 1).unwrap_err();
    assert!(matches!(err, EncodeError::InvalidSample(_)), "{err:?}");
    assert_eq!(
        enc.take_batches().count(),
        0,
        "a failed collection sends nothing"
    );
}

/// The bodies a fresh encoder (no cache) configured as `like` makes of `regs` at time 1.
fn fresh_bodies(like: &WriteRequestEncoder, regs: &[Registry]) -> Vec<Vec<u8>> {
    let external: Vec<(String, String)> = like
        .series
        .external
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let mut enc = WriteRequestEncoder::new(like.series.max_samples, &external);
    enc.collect(regs, 1).unwrap();
    enc.take_batches().map(|b| b.body).collect()
}

/// Collects with `enc` at time 1; checks the bodies are byte for byte those of a fresh
/// encoder once decompressed (the compressed bytes may differ: a warm batch is compressed
/// run by run, see `Series::seal`), and returns the decoded rows.
fn warm_rows(enc: &mut WriteRequestEncoder, regs: &[Registry]) -> Vec<Series> {
    enc.collect(regs, 1).unwrap();
    let batches: Vec<Batch> = enc.take_batches().collect();
    let raw = |b: &[u8]| snap::raw::Decoder::new().decompress_vec(b).unwrap();
    let bodies: Vec<Vec<u8>> = batches.iter().map(|b| raw(&b.body)).collect();
    let fresh: Vec<Vec<u8>> = fresh_bodies(enc, regs).iter().map(|b| raw(b)).collect();
    assert_eq!(bodies, fresh);
    let mut rows = Vec::new();
    for b in batches {
        rows.extend(decode(&b.body));
        enc.recycle(b.body);
    }
    rows
}

fn label_of<'r>(row: &'r Series, name: &str) -> Option<&'r str> {
    row.0
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn cached_labels_follow_removed_added_and_changed_series() {
    let r = Registry::builder()
        .const_label("region", "eu")
        .unwrap()
        .build();
    let c = Counter::builder("req_total", "R.")
        .labels(["path"])
        .register(&r)
        .unwrap();
    let h = Histogram::builder("lat", "L.")
        .labels(["path"])
        .buckets([1.0])
        .unwrap()
        .register(&r)
        .unwrap();
    for (i, p) in ["/a", "/b", "/c"].iter().enumerate() {
        c.with_label_values(&[p]).inc_by(i as u64 + 1);
        h.with_label_values(&[p]).observe(0.5);
    }
    let regs = [r];
    let mut enc = WriteRequestEncoder::new(3, &[("job".into(), "j".into())]);
    let first = warm_rows(&mut enc, &regs);
    assert_eq!(first.len(), 3 + 3 * 4);
    assert_eq!(enc.series.cache.entries.len(), 15);
    // Warm: the same bodies again, all from the cache (nothing new encoded).
    let arena = enc.series.cache.arena.len();
    assert_eq!(warm_rows(&mut enc, &regs), first);
    assert_eq!(enc.series.cache.arena.len(), arena);

    // One series goes, one comes (labels of the same length, so the allocator may well
    // hand the new child the old one's address), and one changes its value ("/c" to "/d"
    // is a remove and an add).
    c.remove(&["/b"]).unwrap();
    c.remove(&["/c"]).unwrap();
    h.remove(&["/a"]).unwrap();
    c.with_label_values(&["/x"]).inc_by(7);
    c.with_label_values(&["/d"]).inc_by(3);
    h.with_label_values(&["/y"]).observe(2.0);
    let rows = warm_rows(&mut enc, &regs);
    let counters: Vec<(Option<&str>, f64)> = rows
        .iter()
        .filter(|r| label_of(r, "__name__") == Some("req_total"))
        .map(|r| (label_of(r, "path"), r.1))
        .collect();
    assert_eq!(
        counters,
        [(Some("/a"), 1.0), (Some("/x"), 7.0), (Some("/d"), 3.0)]
    );
    let paths: Vec<Option<&str>> = rows
        .iter()
        .filter(|r| label_of(r, "__name__") == Some("lat_count"))
        .map(|r| label_of(r, "path"))
        .collect();
    assert_eq!(paths, [Some("/b"), Some("/c"), Some("/y")]);
    for row in &rows {
        assert_eq!(label_of(row, "region"), Some("eu"));
        assert_eq!(label_of(row, "job"), Some("j"));
    }
    // Evicted: only the live series stay cached.
    assert_eq!(enc.series.cache.entries.len(), rows.len());
    assert_eq!(enc.series.cache.index.len(), rows.len());
    assert_eq!(warm_rows(&mut enc, &regs), rows);

    // All gone, then the cache is empty too.
    c.clear();
    h.clear();
    assert!(warm_rows(&mut enc, &regs).is_empty());
    assert!(enc.series.cache.entries.is_empty());
    assert_eq!(enc.series.cache.live, 0);
}

#[test]
fn info_labels_changed_in_place_are_sent_as_they_are_now() {
    let r = Registry::new();
    let i = crate::Info::builder("build", "B.").register(&r).unwrap();
    let regs = [r];
    let mut enc = WriteRequestEncoder::new(10, &[]);
    let rows = warm_rows(&mut enc, &regs);
    assert_eq!(rows[0].0, labels(&[("__name__", "build_info")]));
    for v in ["1.0", "2.0", "3.5"] {
        i.set(&[("version", v)]).unwrap();
        let rows = warm_rows(&mut enc, &regs);
        assert_eq!(
            rows[0].0,
            labels(&[("__name__", "build_info"), ("version", v)])
        );
    }
}

#[test]
fn registries_sharing_a_family_keep_their_own_labels() {
    let a = Registry::builder().prefix("a").unwrap().build();
    let b = Registry::builder().const_label("k", "v").unwrap().build();
    let g = Gauge::builder("g", "G.")
        .labels(["x"])
        .register(&a)
        .unwrap();
    b.register(g.clone()).unwrap();
    g.with_label_values(&["1"]).set(2.0);
    let regs = [a, b];
    let mut enc = WriteRequestEncoder::new(10, &[]);
    for _ in 0..3 {
        let rows = warm_rows(&mut enc, &regs);
        assert_eq!(
            rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
            [
                labels(&[("__name__", "a_g"), ("x", "1")]),
                labels(&[("__name__", "g"), ("k", "v"), ("x", "1")]),
            ]
        );
    }
    // The other order reorders the cache, and still gives each its labels.
    let swapped = [regs[1].clone(), regs[0].clone()];
    let rows = warm_rows(&mut enc, &swapped);
    assert_eq!(label_of(&rows[0], "__name__"), Some("g"));
    assert_eq!(label_of(&rows[1], "__name__"), Some("a_g"));
}

#[test]
fn arena_is_compacted_as_series_come_and_go() {
    let r = Registry::new();
    let c = Counter::builder("c", "C.")
        .labels(["id"])
        .register(&r)
        .unwrap();
    let regs = [r];
    let mut enc = WriteRequestEncoder::new(1000, &[]);
    for round in 0..200u32 {
        c.clear();
        for k in 0..20 {
            let v = format!("{round}-{k}-{}", "x".repeat(100));
            c.with_label_values(&[&v]).inc();
        }
        let rows = warm_rows(&mut enc, &regs);
        assert_eq!(rows.len(), 20);
        assert_eq!(
            label_of(&rows[19], "id"),
            Some(&*format!("{round}-19-{}", "x".repeat(100)))
        );
        let cache = &enc.series.cache;
        assert_eq!(cache.entries.len(), 20);
        assert!(
            cache.arena.len() <= 2 * cache.live + ARENA_SLACK,
            "arena {} for {} live bytes",
            cache.arena.len(),
            cache.live
        );
    }
}
