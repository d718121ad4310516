//! Label types and setups for the peer libraries, in each one's fastest documented form.

use std::sync::OnceLock;

use measured::label::StaticLabelSet;
use measured::lasso;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};

use crate::{label_pairs, DEFAULT_BUCKETS, METHODS, ROUTES};

// ---- measured -------------------------------------------------------------------------

/// `measured` with string labels whose values are known at start-up (its recommended form
/// for strings: a `lasso::RodeoReader` per label).
#[derive(Clone, Copy, measured::LabelGroup)]
#[label(set = MeasuredStrSet)]
pub struct MeasuredStr<'a> {
    #[label(fixed_with = lasso::RodeoReader)]
    pub method: &'a str,
    #[label(fixed_with = lasso::RodeoReader)]
    pub route: &'a str,
}

/// A `measured` counter vector keyed by [`MeasuredStr`], the 100 combinations reachable.
pub fn measured_str_counters() -> measured::CounterVec<MeasuredStrSet> {
    measured::CounterVec::with_label_set(MeasuredStrSet {
        method: lasso::Rodeo::from_iter(METHODS).into_reader(),
        route: lasso::Rodeo::from_iter(ROUTES).into_reader(),
    })
}

/// Compile-time enum label (10 values), for `measured`'s and `prometheus-client`'s typed forms.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, measured::FixedCardinalityLabel, EncodeLabelValue,
)]
#[allow(missing_docs)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
    Patch,
    Head,
    Options,
    Connect,
    Trace,
    Purge,
}

/// Compile-time enum label (10 values).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, measured::FixedCardinalityLabel, EncodeLabelValue,
)]
#[allow(missing_docs)]
pub enum Route {
    Users,
    User,
    Products,
    Product,
    ProductOwner,
    ProductPurchase,
    Orders,
    Order,
    Healthz,
    Metrics,
}

/// The 100 typed combinations in the same order as [`label_pairs`].
pub fn typed_pairs() -> &'static [(Method, Route); 100] {
    use Method::*;
    use Route::*;
    const M: [Method; 10] = [
        Get, Post, Put, Delete, Patch, Head, Options, Connect, Trace, Purge,
    ];
    const R: [Route; 10] = [
        Users,
        User,
        Products,
        Product,
        ProductOwner,
        ProductPurchase,
        Orders,
        Order,
        Healthz,
        Metrics,
    ];
    static P: OnceLock<[(Method, Route); 100]> = OnceLock::new();
    P.get_or_init(|| core::array::from_fn(|i| (M[i / 10], R[i % 10])))
}

/// `measured` typed label group (compile-time enums): the label set is a dense array index.
#[derive(Clone, Copy, measured::LabelGroup)]
#[label(set = MeasuredTypedSet)]
pub struct MeasuredTyped {
    pub method: Method,
    pub route: Route,
}

/// A `measured` counter vector keyed by [`MeasuredTyped`].
pub fn measured_typed_counters() -> measured::CounterVec<MeasuredTypedSet> {
    measured::CounterVec::with_label_set(MeasuredTypedSet {
        method: StaticLabelSet::new(),
        route: StaticLabelSet::new(),
    })
}

// ---- prometheus-client ----------------------------------------------------------------

/// `prometheus-client` label set with string values (the derived-struct form its docs use).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PcStr {
    pub method: String,
    pub route: String,
}

/// `prometheus-client` label set with enum values.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PcTyped {
    pub method: Method,
    pub route: Route,
}

/// The 100 string label sets, built once (lookups then allocate nothing).
pub fn pc_str_keys() -> Vec<PcStr> {
    label_pairs()
        .iter()
        .map(|&(m, r)| PcStr {
            method: m.to_owned(),
            route: r.to_owned(),
        })
        .collect()
}

// ---- metrics + metrics-exporter-prometheus --------------------------------------------

/// Installs (once) a global `metrics` recorder from `metrics-exporter-prometheus`, with the
/// default buckets so histograms are histograms, and returns its handle.
pub fn metrics_global() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static H: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    H.get_or_init(|| {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
            .set_buckets(&DEFAULT_BUCKETS)
            .expect("buckets")
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).expect("no other global recorder");
        handle
    })
}
