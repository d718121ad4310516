//! Tests of the protobuf exposition: bodies decoded with message structs derived (`prost`
//! derive, a dev-dependency) from client_model's `io/prometheus/client/metrics.proto`, and
//! compared field by field (here) and with the text exposition's values (`text`).

use prost::Message;

use crate::{
    Collector, Counter, Descriptor, EncodeError, Format, Gauge, Histogram, Info, MetricType,
    MetricWriter, Registry, StateSet, Summary,
};

// ---- metrics.proto (client_model), proto2; native-histogram fields included ----

#[derive(Clone, PartialEq, Message)]
struct LabelPair {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(string, optional, tag = "2")]
    value: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
struct Gauge_ {
    #[prost(double, optional, tag = "1")]
    value: Option<f64>,
}

#[derive(Clone, PartialEq, Message)]
struct Timestamp {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

#[derive(Clone, PartialEq, Message)]
struct Exemplar {
    #[prost(message, repeated, tag = "1")]
    label: Vec<LabelPair>,
    #[prost(double, optional, tag = "2")]
    value: Option<f64>,
    #[prost(message, optional, tag = "3")]
    timestamp: Option<Timestamp>,
}

#[derive(Clone, PartialEq, Message)]
struct Counter_ {
    #[prost(double, optional, tag = "1")]
    value: Option<f64>,
    #[prost(message, optional, tag = "2")]
    exemplar: Option<Exemplar>,
    #[prost(message, optional, tag = "3")]
    created_timestamp: Option<Timestamp>,
}

#[derive(Clone, PartialEq, Message)]
struct Quantile {
    #[prost(double, optional, tag = "1")]
    quantile: Option<f64>,
    #[prost(double, optional, tag = "2")]
    value: Option<f64>,
}

#[derive(Clone, PartialEq, Message)]
struct Summary_ {
    #[prost(uint64, optional, tag = "1")]
    sample_count: Option<u64>,
    #[prost(double, optional, tag = "2")]
    sample_sum: Option<f64>,
    #[prost(message, repeated, tag = "3")]
    quantile: Vec<Quantile>,
    #[prost(message, optional, tag = "4")]
    created_timestamp: Option<Timestamp>,
}

#[derive(Clone, PartialEq, Message)]
struct Untyped {
    #[prost(double, optional, tag = "1")]
    value: Option<f64>,
}

#[derive(Clone, PartialEq, Message)]
struct Bucket {
    #[prost(uint64, optional, tag = "1")]
    cumulative_count: Option<u64>,
    #[prost(double, optional, tag = "4")]
    cumulative_count_float: Option<f64>,
    #[prost(double, optional, tag = "2")]
    upper_bound: Option<f64>,
    #[prost(message, optional, tag = "3")]
    exemplar: Option<Exemplar>,
}

#[derive(Clone, PartialEq, Message)]
struct BucketSpan {
    #[prost(sint32, optional, tag = "1")]
    offset: Option<i32>,
    #[prost(uint32, optional, tag = "2")]
    length: Option<u32>,
}

#[derive(Clone, PartialEq, Message)]
struct Histogram_ {
    #[prost(uint64, optional, tag = "1")]
    sample_count: Option<u64>,
    #[prost(double, optional, tag = "4")]
    sample_count_float: Option<f64>,
    #[prost(double, optional, tag = "2")]
    sample_sum: Option<f64>,
    #[prost(message, repeated, tag = "3")]
    bucket: Vec<Bucket>,
    #[prost(message, optional, tag = "15")]
    created_timestamp: Option<Timestamp>,
    #[prost(sint32, optional, tag = "5")]
    schema: Option<i32>,
    #[prost(double, optional, tag = "6")]
    zero_threshold: Option<f64>,
    #[prost(uint64, optional, tag = "7")]
    zero_count: Option<u64>,
    #[prost(message, repeated, tag = "9")]
    negative_span: Vec<BucketSpan>,
    #[prost(sint64, repeated, packed = "false", tag = "10")]
    negative_delta: Vec<i64>,
    #[prost(message, repeated, tag = "12")]
    positive_span: Vec<BucketSpan>,
    #[prost(sint64, repeated, packed = "false", tag = "13")]
    positive_delta: Vec<i64>,
    #[prost(message, repeated, tag = "16")]
    exemplars: Vec<Exemplar>,
}

#[derive(Clone, PartialEq, Message)]
struct Metric {
    #[prost(message, repeated, tag = "1")]
    label: Vec<LabelPair>,
    #[prost(message, optional, tag = "2")]
    gauge: Option<Gauge_>,
    #[prost(message, optional, tag = "3")]
    counter: Option<Counter_>,
    #[prost(message, optional, tag = "4")]
    summary: Option<Summary_>,
    #[prost(message, optional, tag = "5")]
    untyped: Option<Untyped>,
    #[prost(message, optional, tag = "7")]
    histogram: Option<Histogram_>,
    #[prost(int64, optional, tag = "6")]
    timestamp_ms: Option<i64>,
}

#[derive(Clone, PartialEq, Message)]
struct MetricFamily {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(string, optional, tag = "2")]
    help: Option<String>,
    #[prost(int32, optional, tag = "3")]
    r#type: Option<i32>,
    #[prost(message, repeated, tag = "4")]
    metric: Vec<Metric>,
    #[prost(string, optional, tag = "5")]
    unit: Option<String>,
}

const COUNTER: i32 = 0;
const GAUGE: i32 = 1;
const SUMMARY: i32 = 2;
const UNTYPED: i32 = 3;
const HISTOGRAM: i32 = 4;

/// Decodes a delimited stream of `MetricFamily` messages.
fn decode(mut body: &[u8]) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let mf = MetricFamily::decode_length_delimited(&mut body).expect("a delimited family");
        out.push(mf);
    }
    out
}

fn encode(r: &Registry) -> Vec<u8> {
    let mut out = Vec::new();
    r.encode(Format::Protobuf, &mut out).unwrap();
    out
}

fn labels(m: &Metric) -> Vec<(&str, &str)> {
    m.label
        .iter()
        .map(|l| (l.name(), l.value()))
        .collect::<Vec<_>>()
}

/// A custom collector: an untyped family, and a histogram given through label pairs.
struct Custom;

impl Collector for Custom {
    fn describe(&self) -> Vec<Descriptor> {
        vec![
            Descriptor::new("cu", "Custom.", MetricType::Unknown, &["k"]).unwrap(),
            Descriptor::new("ch", "Custom histogram.", MetricType::Histogram, &["k"]).unwrap(),
        ]
    }

    fn collect(&self, w: &mut MetricWriter<'_>) -> Result<(), EncodeError> {
        let d = self.describe();
        if let Some(mut f) = w.family(&d[0]) {
            f.sample("", &[("k", "v\"\n")], 2.5)?;
            f.sample("", &[("k", "")], -1.0)?;
        }
        if let Some(mut f) = w.family(&d[1]) {
            for k in ["a", "b"] {
                f.sample("_bucket", &[("k", k), ("le", "0.5")], 1.0)?;
                f.sample("_bucket", &[("le", "+Inf"), ("k", k)], 3.0)?;
                f.sample("_sum", &[("k", k)], 4.5)?;
                f.sample("_count", &[("k", k)], 3.0)?;
            }
        }
        Ok(())
    }
}

/// Every metric type, with prefix, constant labels, escapes, exemplars and created times.
fn full_registry() -> Registry {
    let r = Registry::builder()
        .prefix("app")
        .unwrap()
        .const_label("host", "h\"1\\")
        .unwrap()
        .build();
    let c = Counter::builder("requests_total", "Requests \\ served\n")
        .labels(["method", "path"])
        .register(&r)
        .unwrap();
    c.with_label_values(&["GET", "/a\n\"q\""]).inc_by(7);
    c.with_label_values(&["POST", "/b"])
        .inc_with_exemplar(&[("trace_id", "t\"1"), ("user", "ü")]);
    c.with_label_values(&["PUT", ""]).inc_by_f64(0.25);
    Gauge::builder("temperature_celsius", "Temp.")
        .unit("celsius")
        .unwrap()
        .register(&r)
        .unwrap()
        .set(-3.5);
    let h = Histogram::builder("latency_seconds", "Latency.")
        .labels(["op"])
        .buckets([-1.0, 0.005, 0.5, 1e6])
        .unwrap()
        .register(&r)
        .unwrap();
    let get = h.with_label_values(&["get"]);
    for v in [-2.0, 0.001, 0.3, 0.3, 2e6] {
        get.observe(v);
    }
    get.observe_with_exemplar(0.4, &[("trace_id", "abc")]);
    h.with_label_values(&["put"]).observe(0.7);
    let s = Summary::builder("rpc_seconds", "RPC.")
        .objectives(&Summary::GO_OBJECTIVES)
        .unwrap()
        .register(&r)
        .unwrap();
    for i in 0..1000 {
        s.observe(f64::from(i) / 1000.0);
    }
    Summary::builder("plain_seconds", "Plain.")
        .register(&r)
        .unwrap()
        .observe(2.0);
    Info::builder("build", "Build.")
        .register(&r)
        .unwrap()
        .set(&[("version", "1.2.3"), ("commit", "x\"y")])
        .unwrap();
    let mode = StateSet::builder("mode", "Mode.", ["a", "b\"q"])
        .unwrap()
        .labels(["dev"])
        .register(&r)
        .unwrap();
    mode.with_label_values(&["sda"]).set("b\"q").unwrap();
    let _empty = Gauge::builder("empty", "No children.")
        .labels(["x"])
        .register(&r)
        .unwrap();
    r.register(Custom).unwrap();
    r
}

fn family<'f>(fs: &'f [MetricFamily], name: &str) -> &'f MetricFamily {
    fs.iter()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("no family {name}"))
}

#[test]
fn every_type_decodes_with_its_fields() {
    let r = full_registry();
    let fs = decode(&encode(&r));
    let names: Vec<&str> = fs.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        [
            "app_requests_total",
            "app_temperature_celsius",
            "app_latency_seconds",
            "app_rpc_seconds",
            "app_plain_seconds",
            "app_build_info",
            "app_mode",
            "app_cu",
            "app_ch",
        ],
        "families in registration order, the empty one left out"
    );

    let c = family(&fs, "app_requests_total");
    assert_eq!(c.help(), "Requests \\ served\n");
    assert_eq!(c.r#type(), COUNTER);
    assert_eq!(c.metric.len(), 3);
    let get = &c.metric[0];
    assert_eq!(
        labels(get),
        [("host", "h\"1\\"), ("method", "GET"), ("path", "/a\n\"q\"")]
    );
    let counter = get.counter.as_ref().unwrap();
    assert_eq!(counter.value, Some(7.0));
    assert!(counter.exemplar.is_none());
    let created = counter.created_timestamp.as_ref().expect("created");
    let now = crate::encode::now_seconds() as i64;
    assert!((now - 60..=now).contains(&created.seconds), "{created:?}");
    assert!((0..1_000_000_000).contains(&created.nanos));
    let post = c.metric[1].counter.as_ref().unwrap();
    assert_eq!(post.value, Some(1.0));
    let ex = post.exemplar.as_ref().expect("exemplar");
    assert_eq!(ex.value, Some(1.0));
    let ex_labels: Vec<_> = ex.label.iter().map(|l| (l.name(), l.value())).collect();
    assert_eq!(ex_labels, [("trace_id", "t\"1"), ("user", "ü")]);
    assert!(ex.timestamp.as_ref().is_some_and(|t| t.seconds > 0));
    // The empty `path` value is no label at all.
    assert_eq!(
        labels(&c.metric[2]),
        [("host", "h\"1\\"), ("method", "PUT")]
    );
    assert_eq!(c.metric[2].counter.as_ref().unwrap().value, Some(0.25));

    let g = family(&fs, "app_temperature_celsius");
    assert_eq!((g.r#type(), g.unit()), (GAUGE, "celsius"));
    assert_eq!(g.metric[0].gauge.as_ref().unwrap().value, Some(-3.5));
    assert_eq!(labels(&g.metric[0]), [("host", "h\"1\\")]);

    let h = family(&fs, "app_latency_seconds");
    assert_eq!(h.r#type(), HISTOGRAM);
    assert_eq!(h.metric.len(), 2);
    let hist = h.metric[0].histogram.as_ref().unwrap();
    assert_eq!(labels(&h.metric[0]), [("host", "h\"1\\"), ("op", "get")]);
    let bounds: Vec<f64> = hist.bucket.iter().map(|b| b.upper_bound()).collect();
    assert_eq!(bounds, [-1.0, 0.005, 0.5, 1e6, f64::INFINITY]);
    let counts: Vec<u64> = hist.bucket.iter().map(|b| b.cumulative_count()).collect();
    assert_eq!(counts, [1, 2, 5, 5, 6]);
    assert_eq!(hist.sample_count, Some(6));
    // Negative bounds: OpenMetrics drops the sum, protobuf keeps it.
    assert!((hist.sample_sum() - (-2.0 + 0.001 + 0.6 + 0.4 + 2e6)).abs() < 1e-6);
    let ex = hist.bucket[2].exemplar.as_ref().expect("bucket exemplar");
    assert_eq!(ex.value, Some(0.4));
    assert_eq!(ex.label[0].value(), "abc");
    assert!(hist.bucket.iter().filter(|b| b.exemplar.is_some()).count() == 1);
    assert!(hist.created_timestamp.is_some());
    assert!(hist.schema.is_none() && hist.positive_span.is_empty());
    assert_eq!(
        h.metric[1].histogram.as_ref().unwrap().sample_count,
        Some(1)
    );

    let s = family(&fs, "app_rpc_seconds").metric[0]
        .summary
        .clone()
        .unwrap();
    let qs: Vec<f64> = s.quantile.iter().map(|q| q.quantile()).collect();
    assert_eq!(qs, [0.5, 0.9, 0.99]);
    assert!((s.quantile[0].value() - 0.5).abs() < 0.06, "{s:?}");
    assert_eq!(s.sample_count, Some(1000));
    assert!((s.sample_sum() - 499.5).abs() < 1e-9);
    assert!(s.created_timestamp.is_some());
    let plain = family(&fs, "app_plain_seconds").metric[0]
        .summary
        .clone()
        .unwrap();
    assert!(plain.quantile.is_empty());
    assert_eq!((plain.sample_count, plain.sample_sum), (Some(1), Some(2.0)));

    let info = family(&fs, "app_build_info");
    assert_eq!(info.r#type(), GAUGE);
    assert_eq!(
        labels(&info.metric[0]),
        [("host", "h\"1\\"), ("version", "1.2.3"), ("commit", "x\"y")]
    );
    assert_eq!(info.metric[0].gauge.as_ref().unwrap().value, Some(1.0));

    let mode = family(&fs, "app_mode");
    assert_eq!(mode.r#type(), GAUGE);
    let states: Vec<_> = mode
        .metric
        .iter()
        .map(|m| (labels(m), m.gauge.as_ref().unwrap().value()))
        .collect();
    assert_eq!(
        states,
        [
            (vec![("host", "h\"1\\"), ("dev", "sda"), ("mode", "a")], 0.0),
            (
                vec![("host", "h\"1\\"), ("dev", "sda"), ("mode", "b\"q")],
                1.0
            ),
        ]
    );

    let cu = family(&fs, "app_cu");
    assert_eq!(cu.r#type(), UNTYPED);
    assert_eq!(labels(&cu.metric[0]), [("host", "h\"1\\"), ("k", "v\"\n")]);
    assert_eq!(cu.metric[1].untyped.as_ref().unwrap().value, Some(-1.0));

    let ch = family(&fs, "app_ch");
    assert_eq!(ch.metric.len(), 2, "custom samples grouped by series");
    for (m, k) in ch.metric.iter().zip(["a", "b"]) {
        assert_eq!(labels(m), [("host", "h\"1\\"), ("k", k)]);
        let h = m.histogram.as_ref().unwrap();
        let b: Vec<_> = h
            .bucket
            .iter()
            .map(|b| (b.upper_bound(), b.cumulative_count()))
            .collect();
        assert_eq!(b, [(0.5, 1), (f64::INFINITY, 3)]);
        assert_eq!((h.sample_count, h.sample_sum), (Some(3), Some(4.5)));
    }
}

#[test]
fn created_samples_off_and_filters() {
    let r = Registry::builder().created_samples(false).build();
    Counter::builder("c", "C.").register(&r).unwrap().inc();
    Gauge::builder("g", "G.").register(&r).unwrap().set(1.0);
    let fs = decode(&encode(&r));
    assert!(fs[0].metric[0]
        .counter
        .as_ref()
        .unwrap()
        .created_timestamp
        .is_none());
    let mut out = Vec::new();
    r.encode_filtered(Format::Protobuf, &mut out, Some(&|n| n == "c_total"))
        .unwrap();
    let fs = decode(&out);
    assert_eq!(fs.len(), 1);
    assert_eq!(fs[0].name(), "c_total");
    // An empty registry is an empty body.
    assert!(encode(&Registry::new()).is_empty());
}

#[test]
fn big_messages_get_multi_byte_lengths() {
    let r = Registry::new();
    let h = Histogram::builder("h", "H.")
        .labels(["l"])
        .buckets((1..200).map(f64::from))
        .unwrap()
        .register(&r)
        .unwrap();
    let long = "x".repeat(300);
    for i in 0..50 {
        h.with_label_values(&[&format!("{long}{i}")])
            .observe(f64::from(i));
    }
    let fs = decode(&encode(&r));
    assert_eq!(fs[0].metric.len(), 50);
    for m in &fs[0].metric {
        assert_eq!(m.histogram.as_ref().unwrap().bucket.len(), 200);
    }
}

#[test]
fn timestamps_split_seconds_and_nanos() {
    let mut out = Vec::new();
    super::put_timestamp(&mut out, 3, 1712345678.25);
    let mut buf = &out[1..];
    let t = Timestamp::decode_length_delimited(&mut buf).unwrap();
    assert_eq!((t.seconds, t.nanos), (1712345678, 250_000_000));
    out.clear();
    super::put_timestamp(&mut out, 3, f64::NAN);
    let t = Timestamp::decode_length_delimited(&mut &out[1..]).unwrap();
    assert_eq!((t.seconds, t.nanos), (0, 0));
}

#[test]
fn http_render_negotiates_protobuf() {
    #[cfg(feature = "_http-common")]
    {
        let r = full_registry();
        let accept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3";
        let reply = crate::http::render(&r, Some(accept), None, None).unwrap();
        assert_eq!(reply.format, Format::Protobuf);
        assert_eq!(
            reply.content_type,
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
        );
        assert_eq!(decode(&reply.body).len(), 9);
    }
}

#[path = "protobuf_native_tests.rs"]
mod native;

#[path = "protobuf_whole_tests.rs"]
mod whole;

#[path = "protobuf_text_tests.rs"]
mod text;
