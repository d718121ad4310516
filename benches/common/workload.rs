//! The 1,050-series exposition workload shared by `benches/encode.rs` and
//! `benches/remote_write.rs`: 50 counter families × 20 label values + 50 gauges, 6 long
//! labels each (≈ 416 KB of text). Included with `#[path]`, one copy for both benches.

use tachymeter::{Counter, Gauge, Registry};

const LABELS: [&str; 6] = ["service", "endpoint", "method", "status", "instance", "pod"];

/// A registry holding the workload.
pub(crate) fn registry() -> Registry {
    let r = Registry::new();
    let values = |j: usize| {
        [
            "checkout-service-production-eu-west-1-blue-canary-shard-0042-of-0128-general-purpose-pool"
                .to_owned(),
            format!("/api/v2/customers/{{customer_id}}/orders/{{order_id}}/line-items/{j:02}/details"),
            "POST".to_owned(),
            "200".to_owned(),
            "ip-10-20-30-40.eu-west-1.compute.internal:9100".to_owned(),
            "checkout-service-deployment-7f9c8d6b5d-xk2lp".to_owned(),
        ]
    };
    for k in 0..50 {
        let fam = Counter::builder(
            &format!("shop_checkout_component_{k:02}_requests_handled"),
            &format!(
                "Number of requests handled by checkout component {k}, by endpoint and status."
            ),
        )
        .labels(LABELS)
        .register(&r)
        .unwrap();
        for j in 0..20 {
            let v = values(j);
            let v: Vec<&str> = v.iter().map(String::as_str).collect();
            fam.with_label_values(&v)
                .inc_by((k as u64 + 1) * 1_000_003 + j as u64 * 7919);
        }
    }
    for k in 0..50 {
        let fam = Gauge::builder(
            &format!("shop_checkout_component_{k:02}_queue_depth_current"),
            &format!("Jobs currently waiting in the queue of checkout component {k}."),
        )
        .labels(LABELS)
        .register(&r)
        .unwrap();
        let v = values(0);
        let v: Vec<&str> = v.iter().map(String::as_str).collect();
        fam.with_label_values(&v).set(k as f64 * 12.375 + 0.125);
    }
    r
}
