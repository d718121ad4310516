//! Golden tests for the OpenMetrics rules of shared/FORMATS.md (3, 4, 5, 6, 7, 9, 10, 11, 12,
//! 14, 15), positive and negative, and a full round trip of every body through the strict
//! Python parser and Prometheus' own OpenMetrics parser (promtool backfill): families,
//! samples, exemplars (labels, value, timestamp) and metadata (type, unit, help) come back.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use support::{ParsedFamily, Peer};
use tachymeter::{
    Counter, Descriptor, ExemplarError, Format, Gauge, Histogram, Info, MetricType, NameError,
    ProcessCollector, RegistrationError, Registry, StateSet,
};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Runs both strict OpenMetrics parsers on `body` when they are installed; returns the Python
/// parse (empty when the peers are missing outside CI).
fn peers_accept(body: &str) -> Vec<ParsedFamily> {
    if !support::have(&[Peer::Python, Peer::Promtool]) {
        return Vec::new();
    }
    support::promtool_openmetrics_check(body)
        .unwrap_or_else(|e| panic!("Prometheus' OpenMetrics parser rejected:\n{e}\n{body}"));
    support::python_parse_openmetrics(body)
        .unwrap_or_else(|e| panic!("strict Python parser rejected:\n{e}\n{body}"))
}

/// Replaces the value of every `_created` line with `T` (it is the wall clock).
fn mask_created(body: &str) -> String {
    body.lines()
        .map(|l| match l.split_once("_created") {
            Some((head, rest)) if !l.starts_with('#') => {
                let labels = rest.rsplit_once(' ').map_or("", |(l, _)| l);
                format!("{head}_created{labels} T\n")
            }
            _ => format!("{l}\n"),
        })
        .collect()
}

/// Replaces each exemplar timestamp (the last token after ` # {`) with `T`.
fn mask_exemplar_ts(body: &str) -> String {
    body.lines()
        .map(|l| match l.find(" # {") {
            Some(_) => format!("{} T\n", l.rsplit_once(' ').unwrap().0),
            None => format!("{l}\n"),
        })
        .collect()
}

#[test]
fn rule3_non_finite_values_are_spelled_canonically() {
    let r = Registry::new();
    let g = Gauge::builder("g", "G.")
        .labels(["v"])
        .register(&r)
        .unwrap();
    g.with_label_values(&["pinf"]).set(f64::INFINITY);
    g.with_label_values(&["ninf"]).set(f64::NEG_INFINITY);
    g.with_label_values(&["nan"]).set(f64::NAN);
    let body = r.encode_to_string(Format::OpenMetrics);
    for line in [
        "g{v=\"pinf\"} +Inf\n",
        "g{v=\"ninf\"} -Inf\n",
        "g{v=\"nan\"} NaN\n",
    ] {
        assert!(body.contains(line), "{line}\n{body}");
    }
    // Counters never become NaN or negative (OpenMetrics forbids it).
    let c = Counter::builder("c", "C.").register(&r).unwrap();
    assert!(c.try_inc_by_f64(f64::NAN).is_err());
    assert!(c.try_inc_by_f64(-1.0).is_err());
    peers_accept(&r.encode_to_string(Format::OpenMetrics));
}

#[test]
fn rule4_le_is_canonical_in_openmetrics() {
    let r = Registry::builder().created_samples(false).build();
    let h = Histogram::builder("h", "H.")
        .buckets([1e-5, 0.0001, 1.0, 100000.0, 1e6])
        .unwrap()
        .register(&r)
        .unwrap();
    h.observe(1.0);
    let body = r.encode_to_string(Format::OpenMetrics);
    assert_eq!(
        body,
        "# TYPE h histogram\n# HELP h H.\n\
         h_bucket{le=\"1e-05\"} 0\nh_bucket{le=\"0.0001\"} 0\nh_bucket{le=\"1.0\"} 1\n\
         h_bucket{le=\"100000.0\"} 1\nh_bucket{le=\"1e+06\"} 1\nh_bucket{le=\"+Inf\"} 1\n\
         h_sum 1.0\nh_count 1\n# EOF\n"
    );
    peers_accept(&body);
}

#[test]
fn rule5_counter_family_name_has_no_total() {
    let r = Registry::builder().created_samples(false).build();
    Counter::builder("a_total", "A.")
        .register(&r)
        .unwrap()
        .inc();
    Counter::builder("b", "B.").register(&r).unwrap().inc_by(2);
    let om = r.encode_to_string(Format::OpenMetrics);
    assert_eq!(
        om,
        "# TYPE a counter\n# HELP a A.\na_total 1\n# TYPE b counter\n# HELP b B.\nb_total 2\n# EOF\n"
    );
    let text = r.encode_to_string(Format::Text);
    assert!(text.starts_with("# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"));
    let parsed = peers_accept(&om);
    if !parsed.is_empty() {
        assert_eq!(parsed[0].name, "a");
        assert_eq!(parsed[0].typ, "counter");
        assert_eq!(parsed[0].samples[0].name, "a_total");
    }
}

#[test]
fn rule6_created_samples_in_openmetrics_only_and_switchable() {
    let before = now();
    let r = Registry::new();
    let c = Counter::builder("jobs_total", "Jobs.")
        .labels(["q"])
        .register(&r)
        .unwrap();
    c.with_label_values(&["a"]).inc();
    let h = Histogram::builder("lat_seconds", "Lat.")
        .buckets([1.0])
        .unwrap()
        .register(&r)
        .unwrap();
    h.observe(0.5);
    Gauge::builder("g", "G.").register(&r).unwrap().set(1.0);
    let after = now();

    let om = r.encode_to_string(Format::OpenMetrics);
    assert_eq!(
        mask_created(&om),
        "# TYPE jobs counter\n# HELP jobs Jobs.\njobs_total{q=\"a\"} 1\njobs_created{q=\"a\"} T\n\
         # TYPE lat_seconds histogram\n# HELP lat_seconds Lat.\n\
         lat_seconds_bucket{le=\"1.0\"} 1\nlat_seconds_bucket{le=\"+Inf\"} 1\n\
         lat_seconds_sum 0.5\nlat_seconds_count 1\nlat_seconds_created T\n\
         # TYPE g gauge\n# HELP g G.\ng 1.0\n# EOF\n"
    );
    // Value: creation time in seconds, fixed notation (never exponent form).
    for line in om.lines().filter(|l| l.contains("_created")) {
        let v = line.rsplit_once(' ').unwrap().1;
        assert!(!v.contains('e'), "{line}");
        let v: f64 = v.parse().unwrap();
        assert!(v >= before - 0.001 && v <= after + 0.001, "{line}");
    }
    assert!(!r.encode_to_string(Format::Text).contains("_created"));
    let parsed = peers_accept(&om);
    if let Some(f) = support::family(&parsed, "jobs") {
        let created = f
            .samples_named("jobs_created")
            .next()
            .expect("jobs_created");
        assert!(created.value >= before - 0.001 && created.value <= after + 0.001);
    }

    let off = Registry::builder().created_samples(false).build();
    Counter::builder("x", "X.").register(&off).unwrap().inc();
    assert!(!off
        .encode_to_string(Format::OpenMetrics)
        .contains("_created"));
}

#[test]
fn rule7_exposition_ends_with_one_eof() {
    assert_eq!(
        Registry::new().encode_to_string(Format::OpenMetrics),
        "# EOF\n"
    );
    assert_eq!(Registry::new().encode_to_string(Format::Text), "");
    let r = Registry::new();
    Gauge::builder("g", "G.").register(&r).unwrap().set(2.0);
    let body = r.encode_to_string(Format::OpenMetrics);
    assert!(body.ends_with("\n# EOF\n"));
    assert_eq!(body.matches("# EOF").count(), 1);
    assert!(!r.encode_to_string(Format::Text).contains("EOF"));
    peers_accept(&body);
}

#[test]
fn rule9_unit_metadata_order_and_suffix_rule() {
    let r = Registry::builder().created_samples(false).build();
    Counter::builder("io_bytes_total", "IO.")
        .unit("bytes")
        .unwrap()
        .register(&r)
        .unwrap()
        .inc_by(3);
    Gauge::builder("temp_celsius", "T.")
        .unit("celsius")
        .unwrap()
        .register(&r)
        .unwrap()
        .set(20.5);
    let om = r.encode_to_string(Format::OpenMetrics);
    assert_eq!(
        om,
        "# TYPE io_bytes counter\n# UNIT io_bytes bytes\n# HELP io_bytes IO.\nio_bytes_total 3\n\
         # TYPE temp_celsius gauge\n# UNIT temp_celsius celsius\n# HELP temp_celsius T.\n\
         temp_celsius 20.5\n# EOF\n"
    );
    // The text format has no UNIT line.
    assert!(!r.encode_to_string(Format::Text).contains("UNIT"));
    let parsed = peers_accept(&om);
    if !parsed.is_empty() {
        assert_eq!(support::family(&parsed, "io_bytes").unwrap().unit, "bytes");
        assert_eq!(
            support::family(&parsed, "temp_celsius").unwrap().unit,
            "celsius"
        );
    }

    // Rejected at configuration, with typed errors.
    assert!(matches!(
        Gauge::builder("temp", "T.").unit("celsius"),
        Err(NameError::UnitNotSuffix { .. })
    ));
    assert!(matches!(
        Gauge::builder("tempcelsius", "T.").unit("celsius"),
        Err(NameError::UnitNotSuffix { .. })
    ));
    assert!(matches!(
        Gauge::builder("celsius", "T.").unit("celsius"),
        Err(NameError::UnitNotSuffix { .. })
    ));
    assert!(matches!(
        Gauge::builder("temp_deg c", "T.").unit("deg c"),
        Err(NameError::InvalidUnit(_))
    ));
    assert!(matches!(
        Info::builder("build_seconds", "B.").unit("seconds"),
        Err(NameError::UnitNotAllowed {
            metric_type: "info",
            ..
        })
    ));
    assert!(matches!(
        StateSet::builder("state_seconds", "S.", ["a"])
            .unwrap()
            .unit("seconds"),
        Err(NameError::UnitNotAllowed {
            metric_type: "stateset",
            ..
        })
    ));
    let d = Descriptor::new("x_total", "X.", MetricType::Counter, &[]).unwrap();
    assert!(matches!(
        d.with_unit("total"),
        Err(NameError::UnitNotSuffix { .. })
    ));
}

#[test]
fn rule10_metadata_once_per_family_and_families_not_interleaved() {
    let r = Registry::new();
    let c = Counter::builder("c", "C.")
        .labels(["a"])
        .register(&r)
        .unwrap();
    let h = Histogram::builder("h", "H.")
        .labels(["a"])
        .buckets([1.0, 2.0])
        .unwrap()
        .register(&r)
        .unwrap();
    for v in ["x", "y", "z"] {
        c.with_label_values(&[v]).inc_with_exemplar(&[("id", v)]);
        h.with_label_values(&[v])
            .observe_with_exemplar(1.5, &[("id", v)]);
    }
    let body = r.encode_to_string(Format::OpenMetrics);
    for kind in ["TYPE", "HELP"] {
        for fam in ["c", "h"] {
            assert_eq!(
                body.matches(&format!("# {kind} {fam} ")).count(),
                1,
                "{body}"
            );
        }
    }
    // All of c's lines come before all of h's.
    let last_c = body.rfind("\nc_").unwrap();
    let first_h = body.find("\nh_").unwrap();
    assert!(last_c < first_h, "{body}");
    peers_accept(&body);
    // A second family of the same name is refused, not merged.
    assert!(matches!(
        Counter::builder("c", "C.").labels(["a"]).register(&r),
        Err(RegistrationError::AlreadyRegistered(_))
    ));
}

#[test]
fn rule11_suffix_clashes_of_the_new_types_are_refused() {
    let r = Registry::new();
    let _ = Info::builder("build", "B.").register(&r).unwrap();
    // info `build` exposes `build_info`.
    assert!(matches!(
        Gauge::builder("build_info", "G.").register(&r),
        Err(RegistrationError::SuffixClash { .. })
    ));
    // ... and given as `build_info`, it is the same family.
    assert!(Info::builder("build_info", "B.").register(&r).is_err());
    let _ = Gauge::builder("app_info", "G.").register(&r).unwrap();
    assert!(matches!(
        Info::builder("app", "A.").register(&r),
        Err(RegistrationError::SuffixClash { .. })
    ));
    // A counter `jobs` exposes `jobs_created`; a state set cannot take that name.
    let _ = Counter::builder("jobs", "J.").register(&r).unwrap();
    assert!(matches!(
        StateSet::builder("jobs_created", "S.", ["a"])
            .unwrap()
            .register(&r),
        Err(RegistrationError::SuffixClash { .. })
    ));
    // A state set's label is its name: it must be a valid label name, and no other label
    // may take it.
    assert!(matches!(
        StateSet::builder("a:b", "S.", ["x"]).unwrap().register(&r),
        Err(RegistrationError::Name(NameError::InvalidLabelName(_)))
    ));
    assert!(matches!(
        StateSet::builder("mode", "S.", ["x"])
            .unwrap()
            .labels(["mode"])
            .register(&r),
        Err(RegistrationError::Name(
            NameError::LabelReservedForType { .. }
        ))
    ));
    // Info labels may not repeat the family's labels.
    let fam = Info::builder("target", "T.")
        .labels(["env"])
        .register(&r)
        .unwrap();
    assert!(matches!(
        fam.with_label_values(&["prod"]).set(&[("env", "x")]),
        Err(NameError::LabelReservedForType { .. })
    ));
    assert!(fam
        .with_label_values(&["prod"])
        .set(&[("a", "1"), ("a", "2")])
        .is_err());
    assert!(StateSet::builder("s", "S.", Vec::<&str>::new()).is_err());
    assert!(StateSet::builder("s", "S.", ["a", "a"]).is_err());
}

#[test]
fn rule12_negative_buckets_drop_sum_in_openmetrics_only() {
    let r = Registry::builder().created_samples(false).build();
    let h = Histogram::builder("temp_delta", "Delta.")
        .buckets([-1.0, 0.0, 1.0])
        .unwrap()
        .register(&r)
        .unwrap();
    for v in [-2.0, -0.5, 0.5, 3.0] {
        h.observe(v);
    }
    h.observe_with_exemplar(-1.5, &[("id", "neg")]);
    let om = r.encode_to_string(Format::OpenMetrics);
    assert_eq!(
        mask_exemplar_ts(&om),
        "# TYPE temp_delta histogram\n# HELP temp_delta Delta.\n\
         temp_delta_bucket{le=\"-1.0\"} 2 # {id=\"neg\"} -1.5 T\n\
         temp_delta_bucket{le=\"0.0\"} 3\ntemp_delta_bucket{le=\"1.0\"} 4\n\
         temp_delta_bucket{le=\"+Inf\"} 5\n# EOF\n"
    );
    let text = r.encode_to_string(Format::Text);
    assert!(
        text.contains("temp_delta_sum -0.5\ntemp_delta_count 5\n"),
        "{text}"
    );
    peers_accept(&om);
    if support::have(&[Peer::Promtool]) {
        assert!(support::promtool_check(&text).parses());
    }
}

#[test]
fn rule14_exemplars_latest_per_bucket_inside_it_openmetrics_only() {
    let r = Registry::builder().created_samples(false).build();
    let h = Histogram::builder("rpc_seconds", "RPC.")
        .buckets([0.1, 1.0])
        .unwrap()
        .register(&r)
        .unwrap();
    let c = Counter::builder("hits", "Hits.").register(&r).unwrap();
    let before = now();
    h.observe_with_exemplar(0.05, &[("trace_id", "old")]);
    h.observe_with_exemplar(0.07, &[("trace_id", "new \"q\"\n")]);
    h.observe_with_exemplar(5.0, &[]);
    h.observe(0.5);
    c.inc_by_with_exemplar(4, &[("trace_id", "t1"), ("span_id", "s1")]);
    c.inc();
    let after = now();
    let om = r.encode_to_string(Format::OpenMetrics);
    assert_eq!(
        mask_exemplar_ts(&om),
        "# TYPE rpc_seconds histogram\n# HELP rpc_seconds RPC.\n\
         rpc_seconds_bucket{le=\"0.1\"} 2 # {trace_id=\"new \\\"q\\\"\\n\"} 0.07 T\n\
         rpc_seconds_bucket{le=\"1.0\"} 3\n\
         rpc_seconds_bucket{le=\"+Inf\"} 4 # {} 5.0 T\n\
         rpc_seconds_sum 5.62\nrpc_seconds_count 4\n\
         # TYPE hits counter\n# HELP hits Hits.\n\
         hits_total 5 # {trace_id=\"t1\",span_id=\"s1\"} 4.0 T\n# EOF\n"
    );
    let text = r.encode_to_string(Format::Text);
    assert!(!text.contains('#') || !text.contains(" # {"), "{text}");
    assert!(text.contains("rpc_seconds_bucket{le=\"0.1\"} 2\n"));

    let parsed = peers_accept(&om);
    if !parsed.is_empty() {
        let f = support::family(&parsed, "rpc_seconds").unwrap();
        let b: Vec<_> = f.samples_named("rpc_seconds_bucket").collect();
        let (labels, value, ts) = b[0].exemplar.clone().expect("bucket 0.1 exemplar");
        assert_eq!(
            labels,
            vec![("trace_id".to_owned(), "new \"q\"\n".to_owned())]
        );
        assert_eq!(value, 0.07);
        let ts = ts.expect("timestamp");
        assert!(ts >= before - 0.001 && ts <= after + 0.001, "{ts}");
        assert!(b[1].exemplar.is_none());
        assert_eq!(b[2].exemplar.as_ref().unwrap().0, vec![]);
        let hits = support::family(&parsed, "hits").unwrap();
        let ex = hits.samples[0].exemplar.clone().unwrap();
        assert_eq!(ex.1, 4.0);
        assert_eq!(ex.0.len(), 2);
    }

    // Refused exemplars: typed errors; the observation still counts.
    let long = "x".repeat(121);
    assert_eq!(
        c.try_inc_with_exemplar(&[("trace_id", &long)]),
        Err(ExemplarError::TooLong { code_points: 129 })
    );
    assert_eq!(
        h.try_observe_with_exemplar(0.5, &[("trace-id", "1")]),
        Err(ExemplarError::InvalidLabelName("trace-id".into()))
    );
    assert!(matches!(
        h.try_observe_with_exemplar(0.5, &[("__x", "1")]),
        Err(ExemplarError::InvalidLabelName(_))
    ));
    assert!(matches!(
        c.try_inc_with_exemplar(&[("a", "1"), ("a", "2")]),
        Err(ExemplarError::DuplicateLabelName(_))
    ));
    assert_eq!(c.get(), 7.0);
    assert_eq!(h.count(), 6);
    // Exactly 128 code points (multi-byte ones count once) are accepted.
    let ok = "é".repeat(120);
    assert_eq!(c.try_inc_with_exemplar(&[("trace_id", &ok)]), Ok(()));
    peers_accept(&r.encode_to_string(Format::OpenMetrics));

    // One escaped quote in an exemplar label value: valid OpenMetrics (`escaped-string`), and
    // Prometheus' parser takes it. prometheus_client 0.26's strict parser does not: its
    // exemplar scanner toggles "in quotes" on every `"`, escaped or not, so an odd number of
    // `\"` makes it reject the line (the two quotes above cancel out). Checked with
    // Prometheus' parser only.
    c.inc_with_exemplar(&[("trace_id", "say \"hi")]);
    let body = r.encode_to_string(Format::OpenMetrics);
    assert!(body.contains("# {trace_id=\"say \\\"hi\"} 1.0 "), "{body}");
    if support::have(&[Peer::Promtool]) {
        support::promtool_openmetrics_check(&body).unwrap();
    }
}

#[test]
fn rule15_single_spaces_no_blank_lines_lf_only() {
    let (r, _) = everything();
    let body = r.encode_to_string(Format::OpenMetrics);
    assert!(!body.starts_with('\u{feff}'));
    assert!(!body.contains('\r'));
    assert!(!body.contains("\n\n"));
    for line in body.lines() {
        assert!(!line.is_empty());
        assert!(!line.ends_with(' '), "{line:?}");
        // Outside quoted label values there is never a double space.
        let mut in_q = false;
        let mut esc = false;
        let mut prev = ' ';
        for (i, ch) in line.chars().enumerate() {
            if in_q {
                match (esc, ch) {
                    (true, _) => esc = false,
                    (false, '\\') => esc = true,
                    (false, '"') => in_q = false,
                    _ => {}
                }
            } else if ch == '"' {
                in_q = true;
            } else if i > 0 && ch == ' ' && prev == ' ' && !line.starts_with("# HELP") {
                panic!("double space in {line:?}");
            }
            prev = ch;
        }
    }
}

#[test]
fn info_and_stateset_golden_in_both_formats() {
    let r = Registry::builder().created_samples(false).build();
    let i = Info::builder("build", "Build facts.").register(&r).unwrap();
    i.set(&[("version", "1.2.3"), ("host", "a\"b")]).unwrap();
    let per_env = Info::builder("target_info", "Target.")
        .labels(["env"])
        .register(&r)
        .unwrap();
    per_env.with_label_values(&["prod"]).set(&[]).unwrap();
    let s = StateSet::builder("mode", "Mode.", ["on", "off"])
        .unwrap()
        .labels(["dev"])
        .register(&r)
        .unwrap();
    s.with_label_values(&["sda"]).set("off").unwrap();
    assert!(matches!(
        s.with_label_values(&["sda"]).set("broken"),
        Err(tachymeter::StateSetError::UnknownState(_))
    ));
    let om = r.encode_to_string(Format::OpenMetrics);
    assert_eq!(
        om,
        "# TYPE build info\n# HELP build Build facts.\n\
         build_info{version=\"1.2.3\",host=\"a\\\"b\"} 1\n\
         # TYPE target info\n# HELP target Target.\ntarget_info{env=\"prod\"} 1\n\
         # TYPE mode stateset\n# HELP mode Mode.\n\
         mode{dev=\"sda\",mode=\"on\"} 0\nmode{dev=\"sda\",mode=\"off\"} 1\n# EOF\n"
    );
    let text = r.encode_to_string(Format::Text);
    assert_eq!(
        text,
        "# HELP build_info Build facts.\n# TYPE build_info gauge\n\
         build_info{version=\"1.2.3\",host=\"a\\\"b\"} 1\n\
         # HELP target_info Target.\n# TYPE target_info gauge\ntarget_info{env=\"prod\"} 1\n\
         # HELP mode Mode.\n# TYPE mode gauge\n\
         mode{dev=\"sda\",mode=\"on\"} 0\nmode{dev=\"sda\",mode=\"off\"} 1\n"
    );
    let parsed = peers_accept(&om);
    if !parsed.is_empty() {
        assert_eq!(support::family(&parsed, "build").unwrap().typ, "info");
        assert_eq!(support::family(&parsed, "mode").unwrap().typ, "stateset");
        assert!(support::promtool_check(&text).parses());
        let t = support::python_parse_text(&text).unwrap();
        assert_eq!(support::family(&t, "build_info").unwrap().typ, "gauge");
    }
}

/// A registry with every kind of family and exemplars; returns it and the time window in
/// which its exemplars and children were created.
fn everything() -> (Registry, (f64, f64)) {
    let before = now();
    let r = Registry::builder()
        .const_label("service", "api \"v2\"")
        .unwrap()
        .build();
    let c = Counter::builder("requests_total", "Requests \\ served.\nSecond \"line\".")
        .labels(["path"])
        .register(&r)
        .unwrap();
    for (i, p) in ["/", "new\nline", "back\\slash", "ünï"].iter().enumerate() {
        c.with_label_values(&[p])
            .inc_by_with_exemplar(i as u64 + 1, &[("trace_id", &format!("t{i} \\\n{{}}"))]);
    }
    let h = Histogram::builder("request_duration_seconds", "Latency.")
        .unit("seconds")
        .unwrap()
        .labels(["op"])
        .buckets([0.005, 0.1, 1.0, 1e6])
        .unwrap()
        .register(&r)
        .unwrap();
    for (k, v) in [0.001, 0.05, 0.5, 7.0, 2e6].into_iter().enumerate() {
        h.with_label_values(&["get"])
            .observe_with_exemplar(v, &[("trace_id", &format!("h{k}"))]);
    }
    let neg = Histogram::builder("offset_seconds", "Clock offset.")
        .unit("seconds")
        .unwrap()
        .buckets([-0.5, 0.0, 0.5])
        .unwrap()
        .register(&r)
        .unwrap();
    neg.observe_with_exemplar(-0.7, &[]);
    neg.observe(0.2);
    Gauge::builder("memory_bytes", "Memory.")
        .unit("bytes")
        .unwrap()
        .register(&r)
        .unwrap()
        .set(1e9);
    Info::builder("build_info", "Build.")
        .register(&r)
        .unwrap()
        .set(&[("version", "1.0"), ("commit", "a\"b")])
        .unwrap();
    StateSet::builder("phase", "Phase.", ["init", "run \"x\"", "done"])
        .unwrap()
        .register(&r)
        .unwrap()
        .set("run \"x\"")
        .unwrap();
    r.register(ProcessCollector::new()).unwrap();
    (r, (before, now()))
}

/// A minimal independent reading of our own body: (sample name, labels) -> (value,
/// exemplar line part), to compare with the peers' parse.
#[test]
fn full_body_round_trips_through_both_strict_parsers() {
    if !support::have(&[Peer::Python, Peer::Promtool]) {
        return;
    }
    let (r, (before, after)) = everything();
    let body = r.encode_to_string(Format::OpenMetrics);
    let parsed = peers_accept(&body);

    // Metadata.
    let meta: Vec<(&str, &str, &str, &str)> = parsed
        .iter()
        .map(|f| (&*f.name, &*f.typ, &*f.unit, &*f.help))
        .collect();
    for want in [
        (
            "requests",
            "counter",
            "",
            "Requests \\ served.\nSecond \"line\".",
        ),
        (
            "request_duration_seconds",
            "histogram",
            "seconds",
            "Latency.",
        ),
        ("offset_seconds", "histogram", "seconds", "Clock offset."),
        ("memory_bytes", "gauge", "bytes", "Memory."),
        ("build", "info", "", "Build."),
        ("phase", "stateset", "", "Phase."),
        (
            "process_cpu_seconds",
            "counter",
            "seconds",
            "Total user and system CPU time spent in seconds.",
        ),
        (
            "process_open_fds",
            "gauge",
            "",
            "Number of open file descriptors.",
        ),
    ] {
        assert!(meta.contains(&want), "{want:?} not in {meta:#?}");
    }

    // Counter samples and exemplars.
    let req = support::family(&parsed, "requests").unwrap();
    for (i, p) in ["/", "new\nline", "back\\slash", "ünï"].iter().enumerate() {
        let s = req
            .samples
            .iter()
            .find(|s| s.name == "requests_total" && s.label("path") == Some(p))
            .unwrap_or_else(|| panic!("{p:?}"));
        assert_eq!(s.value, i as f64 + 1.0);
        assert_eq!(s.label("service"), Some("api \"v2\""));
        let (labels, value, ts) = s.exemplar.clone().expect("exemplar");
        assert_eq!(labels, vec![("trace_id".into(), format!("t{i} \\\n{{}}"))]);
        assert_eq!(value, i as f64 + 1.0);
        let ts = ts.unwrap();
        assert!(ts >= before - 0.001 && ts <= after + 0.001);
        let created = req
            .samples
            .iter()
            .find(|s| s.name == "requests_created" && s.label("path") == Some(p))
            .expect("created");
        assert!(created.value >= before - 0.001 && created.value <= after + 0.001);
    }

    // Histogram: one exemplar per bucket, each inside its bucket.
    let h = support::family(&parsed, "request_duration_seconds").unwrap();
    let mut lower = f64::NEG_INFINITY;
    let mut with_exemplar = 0;
    for b in h.samples_named("request_duration_seconds_bucket") {
        let le: f64 = support::parse_float(b.label("le").unwrap()).unwrap();
        if let Some((_, v, _)) = &b.exemplar {
            assert!(
                *v > lower && *v <= le,
                "exemplar {v} outside ({lower}, {le}]"
            );
            with_exemplar += 1;
        }
        lower = le;
    }
    assert_eq!(with_exemplar, 5);
    let count = h
        .samples_named("request_duration_seconds_count")
        .next()
        .unwrap();
    assert_eq!(count.value, 5.0);

    // Negative buckets: no sum, no count.
    let off = support::family(&parsed, "offset_seconds").unwrap();
    assert!(off
        .samples
        .iter()
        .all(|s| !s.name.ends_with("_sum") && !s.name.ends_with("_count")));
    let first = off.samples_named("offset_seconds_bucket").next().unwrap();
    assert_eq!(first.exemplar.as_ref().unwrap().1, -0.7);

    // Info and state set values.
    let info = support::family(&parsed, "build").unwrap();
    assert_eq!(info.samples[0].label("commit"), Some("a\"b"));
    assert_eq!(info.samples[0].value, 1.0);
    let phase = support::family(&parsed, "phase").unwrap();
    let on: Vec<_> = phase
        .samples
        .iter()
        .filter(|s| s.value == 1.0)
        .map(|s| s.label("phase").unwrap().to_owned())
        .collect();
    assert_eq!(on, ["run \"x\""]);

    // Sample count: what the parser returns is what we wrote.
    let lines = body.lines().filter(|l| !l.starts_with('#')).count();
    let got: usize = parsed.iter().map(|f| f.samples.len()).sum();
    assert_eq!(got, lines, "{body}");
}

#[test]
fn process_metrics_on_the_default_registry_only() {
    let default = tachymeter::default_registry().encode_to_string(Format::OpenMetrics);
    let fresh = Registry::new().encode_to_string(Format::OpenMetrics);
    assert_eq!(fresh, "# EOF\n");
    if cfg!(target_os = "linux") {
        for fam in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_virtual_memory_bytes ",
            "process_start_time_seconds ",
            "process_open_fds ",
            "process_max_fds ",
            "process_threads ",
        ] {
            assert!(default.contains(&format!("\n{fam}")), "{fam}\n{default}");
        }
        let start: f64 = default
            .lines()
            .find_map(|l| l.strip_prefix("process_start_time_seconds "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(start > 1.0e9 && start <= now() + 1.0, "{start}");
        peers_accept(&default);
        let text = tachymeter::default_registry().encode_to_string(Format::Text);
        if support::have(&[Peer::Promtool]) {
            assert_eq!(
                support::promtool_check(&text),
                support::PromtoolOutcome::Clean,
                "{text}"
            );
        }
    }
}

#[test]
fn rule13_summary_quantiles_canonical_nan_when_empty_with_created() {
    use tachymeter::Summary;
    let before = now();
    let r = Registry::new();
    let s = Summary::builder("rpc_seconds", "RPC.")
        .objectives(&Summary::GO_OBJECTIVES)
        .unwrap()
        .labels(["op"])
        .register(&r)
        .unwrap();
    let empty = s.with_label_values(&["idle"]);
    let _ = empty;
    let after = now();
    let om = r.encode_to_string(Format::OpenMetrics);
    assert_eq!(
        mask_created(&om),
        "# TYPE rpc_seconds summary\n# HELP rpc_seconds RPC.\n\
         rpc_seconds{op=\"idle\",quantile=\"0.5\"} NaN\n\
         rpc_seconds{op=\"idle\",quantile=\"0.9\"} NaN\n\
         rpc_seconds{op=\"idle\",quantile=\"0.99\"} NaN\n\
         rpc_seconds_sum{op=\"idle\"} 0.0\nrpc_seconds_count{op=\"idle\"} 0\n\
         rpc_seconds_created{op=\"idle\"} T\n# EOF\n"
    );
    let parsed = peers_accept(&om);
    if let Some(f) = support::family(&parsed, "rpc_seconds") {
        let c = f.samples_named("rpc_seconds_created").next().unwrap();
        assert!(c.value >= before - 0.001 && c.value <= after + 0.001);
    }
    assert!(!r.encode_to_string(Format::Text).contains("_created"));
    // `quantile` is not a user label.
    assert!(Summary::builder("x", "X.")
        .labels(["quantile"])
        .register(&r)
        .is_err());
}
