//! The exposition workload: 50 counter families × 20 label values + 50 gauges = 1,050
//! series with realistic (long) label values, about 419 KB of text. Each library builds the
//! same series and returns an encoder closure that encodes once and returns the byte count.

use measured::lasso;
use measured::metric::group::Encoding;
use measured::metric::name::MetricName;
use measured::metric::MetricFamilyEncoding;
use prometheus_client::encoding::EncodeLabelSet;

/// Counter families.
pub const COUNTER_FAMILIES: usize = 50;
/// Label values per counter family.
pub const VALUES_PER_FAMILY: usize = 20;
/// Gauge families (one series each).
pub const GAUGE_FAMILIES: usize = 50;

const LABEL_NAMES: [&str; 6] = ["service", "endpoint", "method", "status", "instance", "pod"];
const SERVICE: &str =
    "checkout-service-production-eu-west-1-blue-canary-shard-0042-of-0128-general-purpose-pool";
const METHOD: &str = "POST";
const STATUS: &str = "200";
const INSTANCE: &str = "ip-10-20-30-40.eu-west-1.compute.internal:9100";
const POD: &str = "checkout-service-deployment-7f9c8d6b5d-xk2lp";

fn endpoint(j: usize) -> String {
    format!("/api/v2/customers/{{customer_id}}/orders/{{order_id}}/line-items/{j:02}/details")
}

fn counter_name(k: usize) -> String {
    format!("shop_checkout_component_{k:02}_requests_handled")
}

fn gauge_name(k: usize) -> String {
    format!("shop_checkout_component_{k:02}_queue_depth_current")
}

fn counter_help(k: usize) -> String {
    format!("Number of requests handled by checkout component {k}, by endpoint and status.")
}

fn gauge_help(k: usize) -> String {
    format!("Jobs currently waiting in the queue of checkout component {k}.")
}

fn counter_value(k: usize, j: usize) -> u64 {
    (k as u64 + 1) * 1_000_003 + j as u64 * 7919
}

fn gauge_value(k: usize) -> f64 {
    k as f64 * 12.375 + 0.125
}

fn values(j: usize) -> [String; 6] {
    [
        SERVICE.to_owned(),
        endpoint(j),
        METHOD.to_owned(),
        STATUS.to_owned(),
        INSTANCE.to_owned(),
        POD.to_owned(),
    ]
}

/// An encoder closure: encodes the whole registry once, returns the body length.
pub type Encoder = Box<dyn FnMut() -> usize>;

/// tachymeter: encodes into a reused buffer.
pub fn tachymeter() -> Encoder {
    tachymeter_in(tachymeter::Format::Text)
}

/// tachymeter's protobuf exposition (delimited `MetricFamily`, with `created_timestamp`)
/// into a reused buffer.
pub fn tachymeter_protobuf() -> Encoder {
    tachymeter_in(tachymeter::Format::Protobuf)
}

fn tachymeter_in(format: tachymeter::Format) -> Encoder {
    use tachymeter::{Counter, Gauge, Registry};
    let registry = Registry::new();
    for k in 0..COUNTER_FAMILIES {
        let fam = Counter::builder(&counter_name(k), &counter_help(k))
            .labels(LABEL_NAMES)
            .register(&registry)
            .expect("register");
        for j in 0..VALUES_PER_FAMILY {
            let v = values(j);
            let v: Vec<&str> = v.iter().map(String::as_str).collect();
            fam.with_label_values(&v).inc_by(counter_value(k, j));
        }
    }
    for k in 0..GAUGE_FAMILIES {
        let fam = Gauge::builder(&gauge_name(k), &gauge_help(k))
            .labels(LABEL_NAMES)
            .register(&registry)
            .expect("register");
        let v = values(0);
        let v: Vec<&str> = v.iter().map(String::as_str).collect();
        fam.with_label_values(&v).set(gauge_value(k));
    }
    let mut buf = Vec::new();
    Box::new(move || {
        buf.clear();
        registry.encode(format, &mut buf).expect("encode");
        std::hint::black_box(&buf);
        buf.len()
    })
}

/// `prometheus` 0.14: `gather()` then `TextEncoder::encode_utf8` into a reused `String`.
pub fn prometheus() -> Encoder {
    let (registry, mut buf) = (prometheus_registry(), String::new());
    Box::new(move || {
        buf.clear();
        prometheus::TextEncoder::new()
            .encode_utf8(&registry.gather(), &mut buf)
            .expect("encode");
        std::hint::black_box(&buf);
        buf.len()
    })
}

/// `prometheus` 0.14 (feature `protobuf`): `gather()` then `ProtobufEncoder::encode` into a
/// reused `Vec` (delimited `MetricFamily`, the same format as tachymeter's).
pub fn prometheus_protobuf() -> Encoder {
    use prometheus::Encoder as _;
    let (registry, mut buf) = (prometheus_registry(), Vec::new());
    Box::new(move || {
        buf.clear();
        prometheus::ProtobufEncoder::new()
            .encode(&registry.gather(), &mut buf)
            .expect("encode");
        std::hint::black_box(&buf);
        buf.len()
    })
}

fn prometheus_registry() -> prometheus::Registry {
    use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};
    let registry = Registry::new();
    for k in 0..COUNTER_FAMILIES {
        let name = format!("{}_total", counter_name(k));
        let fam = IntCounterVec::new(Opts::new(name, counter_help(k)), &LABEL_NAMES).unwrap();
        registry.register(Box::new(fam.clone())).unwrap();
        for j in 0..VALUES_PER_FAMILY {
            let v = values(j);
            let v: Vec<&str> = v.iter().map(String::as_str).collect();
            fam.with_label_values(&v).inc_by(counter_value(k, j));
        }
    }
    for k in 0..GAUGE_FAMILIES {
        let fam = GaugeVec::new(Opts::new(gauge_name(k), gauge_help(k)), &LABEL_NAMES).unwrap();
        registry.register(Box::new(fam.clone())).unwrap();
        let v = values(0);
        let v: Vec<&str> = v.iter().map(String::as_str).collect();
        fam.with_label_values(&v).set(gauge_value(k));
    }
    registry
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PcLabels {
    service: String,
    endpoint: String,
    method: String,
    status: String,
    instance: String,
    pod: String,
}

fn pc_labels(j: usize) -> PcLabels {
    let [service, endpoint, method, status, instance, pod] = values(j);
    PcLabels {
        service,
        endpoint,
        method,
        status,
        instance,
        pod,
    }
}

/// `prometheus-client` 0.26: `encoding::text::encode` into a reused `String`.
pub fn prometheus_client() -> Encoder {
    let (registry, mut buf) = (prometheus_client_registry(), String::new());
    Box::new(move || {
        buf.clear();
        prometheus_client::encoding::text::encode(&mut buf, &registry).expect("encode");
        std::hint::black_box(&buf);
        buf.len()
    })
}

/// `prometheus-client` 0.26 (feature `prometheus_protobuf`):
/// `encoding::prometheus_protobuf::encode_to_vec` (builds the `MetricFamily` structs, then
/// prost encodes them delimited into a new `Vec`; there is no reusable-buffer form).
pub fn prometheus_client_protobuf() -> Encoder {
    let registry = prometheus_client_registry();
    Box::new(move || {
        let bytes = prometheus_client::encoding::prometheus_protobuf::encode_to_vec(&registry)
            .expect("encode");
        std::hint::black_box(&bytes);
        bytes.len()
    })
}

fn prometheus_client_registry() -> prometheus_client::registry::Registry {
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::registry::Registry;
    use std::sync::atomic::AtomicU64;
    let mut registry = Registry::default();
    for k in 0..COUNTER_FAMILIES {
        let fam = Family::<PcLabels, Counter>::default();
        registry.register(counter_name(k), counter_help(k), fam.clone());
        for j in 0..VALUES_PER_FAMILY {
            fam.get_or_create(&pc_labels(j)).inc_by(counter_value(k, j));
        }
    }
    for k in 0..GAUGE_FAMILIES {
        let fam = Family::<PcLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(gauge_name(k), gauge_help(k), fam.clone());
        fam.get_or_create(&pc_labels(0)).set(gauge_value(k));
    }
    registry
}

/// `metrics` 0.24 + `metrics-exporter-prometheus` 0.18: `PrometheusHandle::render` (returns a
/// new `String`; there is no reusable-buffer form). A local recorder, so the hot-path
/// benchmarks' metrics do not appear in this body.
pub fn metrics() -> Encoder {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        for k in 0..COUNTER_FAMILIES {
            let name = format!("{}_total", counter_name(k));
            metrics::describe_counter!(name.clone(), counter_help(k));
            for j in 0..VALUES_PER_FAMILY {
                let labels: Vec<metrics::Label> = LABEL_NAMES
                    .iter()
                    .zip(values(j))
                    .map(|(n, v)| metrics::Label::new(*n, v))
                    .collect();
                metrics::counter!(name.clone(), labels).increment(counter_value(k, j));
            }
        }
        for k in 0..GAUGE_FAMILIES {
            let name = gauge_name(k);
            metrics::describe_gauge!(name.clone(), gauge_help(k));
            let labels: Vec<metrics::Label> = LABEL_NAMES
                .iter()
                .zip(values(0))
                .map(|(n, v)| metrics::Label::new(*n, v))
                .collect();
            metrics::gauge!(name, labels).set(gauge_value(k));
        }
    });
    handle.run_upkeep();
    // Keep the recorder alive with the handle.
    let _keep = recorder;
    Box::new(move || {
        let s = handle.render();
        std::hint::black_box(&s);
        s.len()
    })
}

#[derive(Clone, Copy, measured::LabelGroup)]
#[label(set = MeasuredEncSet)]
struct MeasuredEnc<'a> {
    #[label(fixed_with = lasso::RodeoReader)]
    service: &'a str,
    #[label(fixed_with = lasso::RodeoReader)]
    endpoint: &'a str,
    #[label(fixed_with = lasso::RodeoReader)]
    method: &'a str,
    #[label(fixed_with = lasso::RodeoReader)]
    status: &'a str,
    #[label(fixed_with = lasso::RodeoReader)]
    instance: &'a str,
    #[label(fixed_with = lasso::RodeoReader)]
    pod: &'a str,
}

fn measured_set(endpoints: usize) -> MeasuredEncSet {
    let one = |s: &str| lasso::Rodeo::from_iter([s]).into_reader();
    MeasuredEncSet {
        service: one(SERVICE),
        endpoint: lasso::Rodeo::from_iter((0..endpoints).map(endpoint)).into_reader(),
        method: one(METHOD),
        status: one(STATUS),
        instance: one(INSTANCE),
        pod: one(POD),
    }
}

struct MeasuredGroup {
    counters: Vec<(
        &'static MetricName,
        String,
        measured::CounterVec<MeasuredEncSet>,
    )>,
    gauges: Vec<(
        &'static MetricName,
        String,
        measured::FloatGaugeVec<MeasuredEncSet>,
    )>,
}

impl measured::MetricGroup<measured::text::BufferedTextEncoder> for MeasuredGroup {
    fn collect_group_into(
        &self,
        enc: &mut measured::text::BufferedTextEncoder,
    ) -> Result<(), std::convert::Infallible> {
        for (name, help, vec) in &self.counters {
            enc.write_help(*name, help)?;
            vec.collect_family_into(*name, enc)?;
        }
        for (name, help, vec) in &self.gauges {
            enc.write_help(*name, help)?;
            vec.collect_family_into(*name, enc)?;
        }
        Ok(())
    }
}

/// `measured` 0.0.25: `BufferedTextEncoder` (reused), `collect_group_into` + `finish`.
pub fn measured() -> Encoder {
    use measured::MetricGroup as _;
    let leak =
        |s: String| -> &'static MetricName { MetricName::from_str(Box::leak(s.into_boxed_str())) };
    let mut group = MeasuredGroup {
        counters: Vec::new(),
        gauges: Vec::new(),
    };
    for k in 0..COUNTER_FAMILIES {
        let vec = measured::CounterVec::with_label_set(measured_set(VALUES_PER_FAMILY));
        for j in 0..VALUES_PER_FAMILY {
            let v = values(j);
            vec.inc_by(
                MeasuredEnc {
                    service: &v[0],
                    endpoint: &v[1],
                    method: &v[2],
                    status: &v[3],
                    instance: &v[4],
                    pod: &v[5],
                },
                counter_value(k, j),
            );
        }
        group.counters.push((
            leak(format!("{}_total", counter_name(k))),
            counter_help(k),
            vec,
        ));
    }
    for k in 0..GAUGE_FAMILIES {
        let vec = measured::FloatGaugeVec::with_label_set(measured_set(1));
        let v = values(0);
        vec.set(
            MeasuredEnc {
                service: &v[0],
                endpoint: &v[1],
                method: &v[2],
                status: &v[3],
                instance: &v[4],
                pod: &v[5],
            },
            gauge_value(k),
        );
        group.gauges.push((leak(gauge_name(k)), gauge_help(k), vec));
    }
    let mut enc = measured::text::BufferedTextEncoder::new();
    Box::new(move || {
        group.collect_group_into(&mut enc).expect("infallible");
        let bytes = enc.finish();
        std::hint::black_box(&bytes);
        bytes.len()
    })
}

/// Every library's protobuf exposition encoder (delimited `io.prometheus.client.MetricFamily`),
/// tachymeter first.
pub fn protobuf_all() -> Vec<(&'static str, Encoder)> {
    vec![
        ("tachymeter", tachymeter_protobuf()),
        ("prometheus", prometheus_protobuf()),
        ("prometheus-client", prometheus_client_protobuf()),
    ]
}

/// Every library's encoder, tachymeter first.
pub fn all() -> Vec<(&'static str, Encoder)> {
    vec![
        ("tachymeter", tachymeter()),
        ("prometheus", prometheus()),
        ("prometheus-client", prometheus_client()),
        ("metrics", metrics()),
        ("measured", measured()),
    ]
}
