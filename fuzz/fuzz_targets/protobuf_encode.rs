//! Encodes a registry in the protobuf exposition from arbitrary input (label values, help
//! text, counter increments, exemplar labels, and native/classic histogram observations with
//! arbitrary `f64` bits and bucket-limit settings), then walks the body with an independent
//! minimal protobuf wire reader: every delimited `MetricFamily` must parse exactly, label
//! values must come back as given, and every histogram's spans and deltas must rebuild
//! non-negative bucket counts with `sample_count = zero_count + Σ buckets`, equal to the
//! histogram's own snapshot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tachymeter::{Counter, Format, Histogram, NativeConfig, Registry};

/// One field: tag, and its varint value or its bytes.
enum Field<'a> {
    Varint(u32, u64),
    Fixed64(u32, f64),
    Bytes(u32, &'a [u8]),
}

fn varint(b: &mut &[u8]) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&x, rest) = b.split_first().expect("truncated varint");
        *b = rest;
        v |= u64::from(x & 0x7f) << shift;
        if x & 0x80 == 0 {
            return v;
        }
    }
    panic!("varint over 10 bytes");
}

fn fields(mut b: &[u8]) -> Vec<Field<'_>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        let tag = (key >> 3) as u32;
        assert!(tag > 0, "field number 0");
        match key & 7 {
            0 => out.push(Field::Varint(tag, varint(&mut b))),
            1 => {
                let (x, rest) = b.split_at(8);
                out.push(Field::Fixed64(tag, f64::from_le_bytes(x.try_into().unwrap())));
                b = rest;
            }
            2 => {
                let n = varint(&mut b) as usize;
                assert!(n <= b.len(), "length past the end");
                let (x, rest) = b.split_at(n);
                out.push(Field::Bytes(tag, x));
                b = rest;
            }
            w => panic!("wire type {w}"),
        }
    }
    out
}

fn zigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// Buckets `(key, count)` of one side from its spans and packed or unpacked deltas.
fn side(spans: &[(i32, u32)], deltas: &[i64]) -> Vec<(i32, u64)> {
    assert_eq!(spans.iter().map(|s| s.1 as usize).sum::<usize>(), deltas.len());
    let (mut key, mut count, mut d, mut out) = (0i32, 0i64, 0, Vec::new());
    for &(offset, len) in spans {
        key += offset;
        for _ in 0..len {
            count += deltas[d];
            d += 1;
            assert!(count >= 0, "negative bucket count");
            if count > 0 {
                out.push((key, count as u64));
            }
            key += 1;
        }
    }
    out
}

struct Native {
    count: u64,
    sum: f64,
    zero: u64,
    schema: i64,
    positive: Vec<(i32, u64)>,
    negative: Vec<(i32, u64)>,
}

fn histogram(b: &[u8]) -> Native {
    let (mut count, mut zero, mut schema, mut sum) = (0, 0, 0, f64::NAN);
    let (mut spans, mut deltas) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    for f in fields(b) {
        match f {
            Field::Varint(1, v) => count = v,
            Field::Fixed64(2, v) => sum = v,
            Field::Varint(5, v) => schema = zigzag(v),
            Field::Varint(7, v) => zero = v,
            Field::Bytes(t @ (9 | 12), s) => {
                let (mut off, mut len) = (0, 0);
                for g in fields(s) {
                    match g {
                        Field::Varint(1, v) => off = zigzag(v) as i32,
                        Field::Varint(2, v) => len = v as u32,
                        _ => panic!("unexpected span field"),
                    }
                }
                spans[usize::from(t == 9)].push((off, len));
            }
            Field::Bytes(t @ (10 | 13), mut packed) => {
                while !packed.is_empty() {
                    deltas[usize::from(t == 10)].push(zigzag(varint(&mut packed)));
                }
            }
            Field::Varint(t @ (10 | 13), v) => deltas[usize::from(t == 10)].push(zigzag(v)),
            _ => {}
        }
    }
    Native {
        count,
        sum,
        zero,
        schema,
        positive: side(&spans[0], &deltas[0]),
        negative: side(&spans[1], &deltas[1]),
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (head, rest) = data.split_at(4);
    let split = rest.len().min(usize::from(head[3]));
    let (text, numbers) = rest.split_at(split);
    let text = String::from_utf8_lossy(text);
    let r = Registry::new();
    let c = Counter::builder("c_total", &text).labels(["l"]).register(&r).unwrap();
    c.with_label_values(&[&text]).inc_with_exemplar(&[("t", &text)]);
    let mut config = NativeConfig::new(1.0 + f64::from(head[0]) / 16.0 + 1e-9)
        .unwrap()
        .with_max_buckets(u32::from(head[1] % 24));
    if head[2] & 1 == 1 {
        config = config
            .with_max_zero_threshold(f64::from(head[2]) / 64.0)
            .unwrap();
    }
    let native = Histogram::builder("n", "N.")
        .native_config(config)
        .labels(["l"])
        .register(&r)
        .unwrap();
    let both = Histogram::builder("b", "B.")
        .native(1.1)
        .unwrap()
        .buckets([-1.0, 0.0, 1.0])
        .unwrap()
        .register(&r)
        .unwrap();
    let n = native.with_label_values(&[&text]);
    for (i, w) in numbers.chunks_exact(8).enumerate() {
        let v = f64::from_bits(u64::from_le_bytes(w.try_into().unwrap()));
        n.observe(v);
        if i % 3 == 0 {
            both.observe_with_exemplar(v, &[("i", "x")]);
        } else {
            both.observe(v);
        }
    }

    let mut body = Vec::new();
    r.encode(Format::Protobuf, &mut body).unwrap();
    let mut b = &body[..];
    let mut seen = 0;
    while !b.is_empty() {
        let len = varint(&mut b) as usize;
        assert!(len <= b.len(), "family length past the end");
        let (family, rest) = b.split_at(len);
        b = rest;
        let mut name = String::new();
        for f in fields(family) {
            match f {
                Field::Bytes(1, x) => name = String::from_utf8(x.to_vec()).expect("UTF-8 name"),
                Field::Bytes(2, x) if name == "c_total" => {
                    assert_eq!(std::str::from_utf8(x).unwrap(), text)
                }
                Field::Bytes(4, metric) => {
                    for m in fields(metric) {
                        match m {
                            Field::Bytes(1, pair) => {
                                let kv = fields(pair);
                                if let [Field::Bytes(1, _), Field::Bytes(2, v)] = &kv[..] {
                                    assert_eq!(std::str::from_utf8(v).unwrap(), text);
                                }
                            }
                            Field::Bytes(7, h) if name != "c_total" => {
                                let got = histogram(h);
                                let buckets: u64 =
                                    got.positive.iter().chain(&got.negative).map(|x| x.1).sum();
                                assert_eq!(got.count, got.zero + buckets);
                                let want = if name == "n" { &n } else { &both }
                                    .native_snapshot()
                                    .unwrap();
                                assert_eq!(got.count, want.count);
                                assert!(
                                    got.sum.to_bits() == want.sum.to_bits()
                                        || got.sum.is_nan() && want.sum.is_nan()
                                );
                                assert_eq!(got.schema, i64::from(want.schema));
                                assert_eq!(got.positive, want.positive);
                                assert_eq!(got.negative, want.negative);
                                seen += 1;
                            }
                            Field::Fixed64(..) | Field::Varint(..) | Field::Bytes(..) => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }
    assert_eq!(seen, 2, "both histograms in the body");
});
