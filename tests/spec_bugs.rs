//! Regression tests for spec and parser bugs found by independent testing (issue 8, item 4):
//! each test failed before its fix.

mod support;

use support::Peer;
use tachymeter::{Format, Registry};

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

#[test]
fn empty_help_is_allowed_and_written_as_a_valid_line_in_both_formats() {
    use tachymeter::{Counter, Gauge};
    let reg = Registry::builder().created_samples(false).build();
    Gauge::builder("g", "").register(&reg).unwrap().set(1.0);
    Counter::builder("c_total", "")
        .register(&reg)
        .unwrap()
        .inc();
    let text = reg.encode_to_string(Format::Text);
    assert_eq!(
        text,
        "# HELP g \n# TYPE g gauge\ng 1\n# HELP c_total \n# TYPE c_total counter\nc_total 1\n"
    );
    let om = reg.encode_to_string(Format::OpenMetrics);
    assert_eq!(
        om,
        "# TYPE g gauge\n# HELP g \ng 1.0\n# TYPE c counter\n# HELP c \nc_total 1\n# EOF\n"
    );
    if support::have(&[Peer::Python]) {
        let fams = support::python_parse_openmetrics(&om).unwrap();
        assert_eq!(fams.len(), 2);
        assert!(fams.iter().all(|f| f.help.is_empty()), "{fams:?}");
        support::python_parse_text(&text).unwrap();
    }
    if support::have(&[Peer::Promtool]) {
        // Parses; the only finding is promtool's lint that help text is missing.
        match support::promtool_check(&text) {
            support::PromtoolOutcome::Error(e) => panic!("{e}"),
            support::PromtoolOutcome::Clean => {}
            support::PromtoolOutcome::Lint(l) => {
                assert!(l.lines().all(|l| l.contains("no help text")), "{l}")
            }
        }
    }
}

/// `observe(+Inf)` then `observe(-Inf)` made `_sum` NaN, which the strict OpenMetrics
/// parsers reject (the whole scrape is lost); a negative sum is rejected the same way.
#[test]
fn infinite_and_negative_observations_never_make_an_openmetrics_body_invalid() {
    use tachymeter::{Histogram, Summary};
    let reg = Registry::builder().created_samples(false).build();
    let h = Histogram::builder("h", "H.")
        .buckets([1.0])
        .unwrap()
        .register(&reg)
        .unwrap();
    let neg = Histogram::builder("neg", "Negative sum.")
        .buckets([1.0])
        .unwrap()
        .register(&reg)
        .unwrap();
    let s = Summary::builder("s", "S.").register(&reg).unwrap();
    let q = Summary::builder("q", "Q.")
        .objectives(&[(0.5, 0.05)])
        .unwrap()
        .register(&reg)
        .unwrap();
    for v in [f64::INFINITY, f64::NEG_INFINITY, 0.5] {
        h.observe(v);
        s.observe(v);
        q.observe(v);
    }
    neg.observe(-2.0);
    // Counted as Go and Python count them: -Inf in the lowest bucket, +Inf in +Inf.
    assert_eq!(h.cumulative_counts(), [2, 3]);
    assert_eq!((h.count(), s.count(), q.count()), (3, 3, 3));
    assert!(h.sum().is_nan() && s.sum().is_nan() && q.sum().is_nan());

    let om = reg.encode_to_string(Format::OpenMetrics);
    for line in ["h_sum", "h_count", "s_sum", "q_sum", "neg_sum", "neg_count"] {
        assert!(!om.contains(line), "{line} in {om}");
    }
    assert!(om.contains("h_bucket{le=\"+Inf\"} 3\n"), "{om}");
    assert!(
        om.contains("s_count 3\n") && om.contains("q_count 3\n"),
        "{om}"
    );
    // The text format has no such rule: the values are written as they are, as Go does.
    let text = reg.encode_to_string(Format::Text);
    for line in ["h_sum NaN\n", "h_count 3\n", "s_sum NaN\n", "neg_sum -2\n"] {
        assert!(text.contains(line), "{line} not in {text}");
    }

    if support::have(&[Peer::Python]) {
        support::python_parse_openmetrics(&om).unwrap();
        support::python_parse_text(&text).unwrap();
    }
    if support::have(&[Peer::Promtool]) {
        assert!(support::promtool_check(&text).parses(), "{text}");
    }
}

/// Exemplar timestamps were always "now"; OpenMetrics allows an explicit one or none.
#[test]
fn exemplars_take_an_explicit_timestamp_or_none() {
    use std::time::{Duration, SystemTime};
    use tachymeter::{Counter, Histogram};
    let reg = Registry::builder().created_samples(false).build();
    let c = Counter::builder("c_total", "C.").register(&reg).unwrap();
    let h = Histogram::builder("h", "H.")
        .buckets([1.0])
        .unwrap()
        .register(&reg)
        .unwrap();
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_250);
    c.inc_by_with_exemplar_at(2, &[("trace_id", "a")], Some(at));
    h.observe_with_exemplar_at(0.5, &[("trace_id", "b")], None);
    h.try_observe_with_exemplar_at(2.0, &[("trace_id", "c")], Some(at))
        .unwrap();
    assert!(c
        .try_inc_by_with_exemplar_at(1, &[("bad-name", "x")], None)
        .is_err());
    let om = reg.encode_to_string(Format::OpenMetrics);
    for line in [
        "c_total 3 # {trace_id=\"a\"} 2.0 1700000000.250\n",
        "h_bucket{le=\"1.0\"} 1 # {trace_id=\"b\"} 0.5\n",
        "h_bucket{le=\"+Inf\"} 2 # {trace_id=\"c\"} 2.0 1700000000.250\n",
    ] {
        assert!(om.contains(line), "{line} not in {om}");
    }
    if support::have(&[Peer::Python]) {
        let fams = support::python_parse_openmetrics(&om).unwrap();
        let h = support::family(&fams, "h").unwrap();
        let ex: Vec<_> = h
            .samples
            .iter()
            .filter_map(|s| s.exemplar.clone())
            .collect();
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[0].2, None);
        assert_eq!(ex[1].2, Some(1_700_000_000.25));
    }
}

/// An info label equal to a constant label wrote the label twice (Prometheus then drops the
/// whole target).
#[test]
fn info_labels_may_not_repeat_a_constant_label() {
    use tachymeter::{Gauge, Info, NameError, RegistrationError};
    let reg = Registry::builder()
        .const_label("region", "eu")
        .unwrap()
        .build();
    // Set before registration: refused at registration.
    let family = Info::builder("build", "Build.").build().unwrap();
    family
        .with_label_values(&[])
        .set(&[("version", "1"), ("region", "us")])
        .unwrap();
    assert_eq!(
        reg.register(family.clone()),
        Err(RegistrationError::ConstLabelClash {
            name: "build".into(),
            label: "region".into()
        })
    );
    assert!(reg.descriptors().is_empty(), "nothing registered");
    // Set after registration: refused by `set`, which keeps the previous pairs.
    let info = Info::builder("build", "Build.").register(&reg).unwrap();
    info.set(&[("version", "1")]).unwrap();
    assert_eq!(
        info.set(&[("region", "us")]),
        Err(NameError::ConstLabel("region".into()))
    );
    assert_eq!(
        reg.encode_to_string(Format::Text),
        "# HELP build_info Build.\n# TYPE build_info gauge\nbuild_info{region=\"eu\",version=\"1\"} 1\n"
    );
    // The same rule for ordinary label names.
    assert_eq!(
        Gauge::builder("g", "G.")
            .labels(["region"])
            .register(&reg)
            .unwrap_err(),
        RegistrationError::ConstLabelClash {
            name: "g".into(),
            label: "region".into()
        }
    );
}

mod collector_contract {
    use tachymeter::{
        Collector, Descriptor, EncodeError, Format, MetricType, MetricWriter, Registry,
    };

    type Script = Vec<(Option<usize>, Vec<Vec<(&'static str, &'static str)>>)>;

    /// Writes what `script` says: for each entry, a family (by index into its descriptors,
    /// or an undeclared one) and the label sets of its samples.
    struct Scripted {
        descs: Vec<Descriptor>,
        script: Script,
    }

    impl Collector for Scripted {
        fn describe(&self) -> Vec<Descriptor> {
            self.descs.clone()
        }
        fn collect(&self, w: &mut MetricWriter<'_>) -> Result<(), EncodeError> {
            let undeclared = Descriptor::new("other", "O.", MetricType::Gauge, &[]).unwrap();
            for (fam, series) in &self.script {
                let d = fam.map_or(&undeclared, |i| &self.descs[i]);
                if let Some(mut f) = w.family(d) {
                    for labels in series {
                        f.sample("", labels, 1.0)?;
                    }
                }
            }
            Ok(())
        }
    }

    fn encode(script: Script) -> Result<String, EncodeError> {
        let reg = Registry::builder()
            .const_label("env", "prod")
            .unwrap()
            .build();
        let descs = vec![
            Descriptor::new("a", "A.", MetricType::Gauge, &["k"]).unwrap(),
            Descriptor::new("b", "B.", MetricType::Gauge, &["k"]).unwrap(),
        ];
        reg.register(Scripted { descs, script }).unwrap();
        let mut out = Vec::new();
        reg.encode(Format::OpenMetrics, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn a_valid_collector_encodes() {
        let body = encode(vec![
            (Some(0), vec![vec![("k", "1")], vec![("k", "2")]]),
            (Some(1), vec![vec![("k", "1")]]),
        ])
        .unwrap();
        assert!(body.contains("a{env=\"prod\",k=\"2\"} 1.0\n"), "{body}");
    }

    #[test]
    fn a_sample_label_may_not_repeat_a_constant_label_or_itself() {
        assert_eq!(
            encode(vec![(Some(0), vec![vec![("env", "dev")]])]),
            Err(EncodeError::DuplicateLabelName("env".into()))
        );
        assert_eq!(
            encode(vec![(Some(0), vec![vec![("k", "1"), ("k", "2")]])]),
            Err(EncodeError::DuplicateLabelName("k".into()))
        );
    }

    /// Writing a family or a series twice produced an invalid body with `Ok`.
    #[cfg(debug_assertions)]
    #[test]
    fn debug_builds_refuse_repeated_families_and_series() {
        assert_eq!(
            encode(vec![
                (Some(0), vec![vec![("k", "1")]]),
                (Some(1), vec![vec![("k", "1")]]),
                (Some(0), vec![vec![("k", "2")]]),
            ]),
            Err(EncodeError::DuplicateFamily("a".into()))
        );
        assert_eq!(
            encode(vec![(
                Some(0),
                vec![vec![("k", "1")], vec![("k", "2")], vec![("k", "1")]]
            )]),
            Err(EncodeError::DuplicateSeries(
                "a{env=\"prod\",k=\"1\"}".into()
            ))
        );
        assert_eq!(
            encode(vec![(None, vec![vec![]])]),
            Err(EncodeError::UndeclaredFamily("other".into()))
        );
    }
}
