//! Regression tests for spec and parser bugs found by independent testing (issue 8, item 4):
//! each test failed before its fix.

mod support;

use tachymeter::Registry;

#[cfg(feature = "http-server")]
#[test]
fn name_filter_matches_counters_and_infos_by_either_spelling_in_both_formats() {
    use tachymeter::{http, Counter, Gauge, Info};
    let reg = Registry::builder().created_samples(false).build();
    Counter::builder("req_total", "Requests.")
        .register(&reg)
        .unwrap()
        .inc();
    Info::builder("build_info", "Build.")
        .register(&reg)
        .unwrap()
        .set(&[("version", "1")])
        .unwrap();
    Gauge::builder("temp", "Temp.")
        .register(&reg)
        .unwrap()
        .set(1.0);
    let om = Some("application/openmetrics-text");
    for accept in [om, None] {
        for (query, wanted) in [
            ("name[]=req_total", "req_total 1\n"),
            ("name[]=req", "req_total 1\n"),
            ("name[]=build_info", "build_info{version=\"1\"} 1\n"),
            ("name[]=build", "build_info{version=\"1\"} 1\n"),
        ] {
            let body = http::render(&reg, accept, None, Some(query)).unwrap().body;
            let body = String::from_utf8(body).unwrap();
            assert!(body.contains(wanted), "{accept:?} {query}: {body}");
            assert!(!body.contains("temp"), "{accept:?} {query}: {body}");
        }
    }
}
