//! Registration rules: names, duplicates, suffix clashes, const labels, prefix, unregister.

use tachymeter::{
    default_registry, Counter, Descriptor, Format, Gauge, Histogram, MetricType, NameError,
    RegistrationError, Registry,
};

#[test]
fn invalid_names_are_typed_errors() {
    let reg = Registry::new();
    assert_eq!(
        Counter::builder("9bad", "x").register(&reg).unwrap_err(),
        RegistrationError::Name(NameError::InvalidMetricName("9bad".into()))
    );
    assert_eq!(
        Counter::builder("__reserved", "x")
            .register(&reg)
            .unwrap_err(),
        RegistrationError::Name(NameError::InvalidMetricName("__reserved".into()))
    );
    assert_eq!(
        Counter::builder("_total", "x").register(&reg).unwrap_err(),
        RegistrationError::Name(NameError::InvalidMetricName("".into()))
    );
    assert_eq!(
        Gauge::builder("g", "x")
            .labels(["__x"])
            .register(&reg)
            .unwrap_err(),
        RegistrationError::Name(NameError::ReservedLabelName("__x".into()))
    );
    assert_eq!(
        Gauge::builder("g", "x")
            .labels(["a-b"])
            .register(&reg)
            .unwrap_err(),
        RegistrationError::Name(NameError::InvalidLabelName("a-b".into()))
    );
    assert_eq!(
        Histogram::builder("h", "x")
            .labels(["le"])
            .register(&reg)
            .unwrap_err(),
        RegistrationError::Name(NameError::LabelReservedForType {
            label: "le".into(),
            metric_type: "histogram"
        })
    );
    // `le` is only reserved on histograms.
    let _ = Gauge::builder("g", "x")
        .labels(["le"])
        .register(&reg)
        .unwrap();
    assert!(
        reg.descriptors().len() == 1,
        "failed registrations must leave nothing behind"
    );
}

#[test]
fn duplicates_and_inconsistent_redefinitions() {
    let reg = Registry::new();
    let _ = Counter::builder("req_total", "Requests.")
        .labels(["code"])
        .register(&reg)
        .unwrap();
    // With or without `_total`, it is the same counter family.
    assert_eq!(
        Counter::builder("req", "Requests.")
            .labels(["code"])
            .register(&reg)
            .unwrap_err(),
        RegistrationError::AlreadyRegistered("req".into())
    );
    assert_eq!(
        Counter::builder("req_total", "Other help.")
            .labels(["code"])
            .register(&reg)
            .unwrap_err(),
        RegistrationError::InconsistentHelp("req".into())
    );
    assert_eq!(
        Counter::builder("req_total", "Requests.")
            .labels(["method"])
            .register(&reg)
            .unwrap_err(),
        RegistrationError::InconsistentLabels("req".into())
    );
    assert_eq!(
        Gauge::builder("req", "Requests.")
            .register(&reg)
            .unwrap_err(),
        RegistrationError::InconsistentType("req".into())
    );
}

#[test]
fn suffix_clashes_are_refused_both_ways() {
    let reg = Registry::new();
    let _ = Counter::builder("foo", "Foo.").register(&reg).unwrap();
    let e = Gauge::builder("foo_created", "x")
        .register(&reg)
        .unwrap_err();
    assert_eq!(
        e,
        RegistrationError::SuffixClash {
            name: "foo_created".into(),
            exposition_name: "foo_created".into(),
            existing: "foo".into()
        }
    );
    let _ = Gauge::builder("bar_count", "x").register(&reg).unwrap();
    assert!(matches!(
        Histogram::builder("bar", "x").register(&reg).unwrap_err(),
        RegistrationError::SuffixClash { .. }
    ));
    let _ = Gauge::builder("baz_total", "x").register(&reg).unwrap();
    assert!(matches!(
        Counter::builder("baz", "x").register(&reg).unwrap_err(),
        RegistrationError::SuffixClash { .. }
    ));
    // A suffix that the other type does not produce is fine.
    let _ = Gauge::builder("foo_bucket", "x").register(&reg).unwrap();
}

#[test]
fn unregister_frees_the_names() {
    let reg = Registry::new();
    let _ = Counter::builder("foo_total", "Foo.")
        .register(&reg)
        .unwrap();
    assert_eq!(
        reg.unregister("nope"),
        Err(RegistrationError::NotRegistered("nope".into()))
    );
    reg.unregister("foo_total").unwrap();
    assert_eq!(reg.encode_to_string(Format::Text), "");
    let _ = Gauge::builder("foo_created", "Now allowed.")
        .register(&reg)
        .unwrap();
}

#[test]
fn prefix_and_const_labels_apply_to_every_series() {
    let reg = Registry::builder()
        .prefix("app")
        .unwrap()
        .const_label("region", "eu \"west\"")
        .unwrap()
        .build();
    let c = Counter::builder("hits_total", "Hits.")
        .labels(["path"])
        .register(&reg)
        .unwrap();
    c.with_label_values(&["/"]).inc();
    let g = Gauge::builder("up", "Up.").register(&reg).unwrap();
    g.set(1.0);
    assert_eq!(
        reg.encode_to_string(Format::Text),
        "# HELP app_hits_total Hits.\n# TYPE app_hits_total counter\n\
         app_hits_total{region=\"eu \\\"west\\\"\",path=\"/\"} 1\n\
         # HELP app_up Up.\n# TYPE app_up gauge\napp_up{region=\"eu \\\"west\\\"\"} 1\n"
    );
    assert_eq!(
        Gauge::builder("x", "X.")
            .labels(["region"])
            .register(&reg)
            .unwrap_err(),
        RegistrationError::ConstLabelClash {
            name: "app_x".into(),
            label: "region".into()
        }
    );
    assert!(Registry::builder().prefix("bad-prefix").is_err());
    assert!(Registry::builder()
        .const_label("a", "1")
        .unwrap()
        .const_label("a", "2")
        .is_err());
}

#[test]
fn custom_collector_is_checked_and_encoded() {
    struct Temps;
    impl tachymeter::Collector for Temps {
        fn describe(&self) -> Vec<Descriptor> {
            vec![
                Descriptor::new("temp_celsius", "Temperature.", MetricType::Gauge, &["room"])
                    .unwrap(),
            ]
        }
        fn collect(
            &self,
            w: &mut tachymeter::MetricWriter<'_>,
        ) -> Result<(), tachymeter::EncodeError> {
            let d = &self.describe()[0];
            if let Some(mut f) = w.family(d) {
                f.sample("", &[("room", "lab\n1")], -4.5)?;
                assert!(f.sample("", &[("bad name", "x")], 1.0).is_err());
                assert!(f.sample("_total", &[], 1.0).is_err());
            }
            Ok(())
        }
    }
    let reg = Registry::new();
    reg.register(Temps).unwrap();
    assert!(matches!(
        reg.register(Temps),
        Err(RegistrationError::AlreadyRegistered(_))
    ));
    assert_eq!(
        reg.encode_to_string(Format::Text),
        "# HELP temp_celsius Temperature.\n# TYPE temp_celsius gauge\ntemp_celsius{room=\"lab\\n1\"} -4.5\n"
    );
}

#[test]
fn filtered_encoding_keeps_only_named_families() {
    let reg = Registry::new();
    Counter::builder("a_total", "A.")
        .register(&reg)
        .unwrap()
        .inc();
    Gauge::builder("b", "B.").register(&reg).unwrap().set(2.0);
    let mut out = Vec::new();
    let only_a = |n: &str| n == "a_total";
    reg.encode_filtered(Format::Text, &mut out, Some(&only_a))
        .unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"
    );
    let mut out = Vec::new();
    let only_a_base = |n: &str| n == "a";
    reg.encode_filtered(Format::Text, &mut out, Some(&only_a_base))
        .unwrap();
    assert!(String::from_utf8(out).unwrap().contains("a_total 1"));
}

#[test]
fn default_registry_is_shared() {
    let c = Counter::builder("tachymeter_test_default_total", "x")
        .register(default_registry())
        .unwrap();
    c.inc();
    assert!(default_registry()
        .encode_to_string(Format::Text)
        .contains("tachymeter_test_default_total 1\n"));
}
