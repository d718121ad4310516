//! Child limits and child life cycle (issue 10): the overflow child, its self-metric,
//! `remove_matching`, `retain`, `clear`, idle expiry, and creation during a scrape.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::Peer;
use tachymeter::{Counter, Format, Gauge, Registry, OVERFLOW_LABEL_VALUE};

/// Sum of every `name{...} value` sample line of a text exposition.
fn sum_samples(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum()
}

#[test]
fn ten_thousand_label_sets_into_a_family_of_100_keep_every_count() {
    let reg = Registry::new();
    let fam = Counter::builder("req_total", "Requests.")
        .labels(["user", "path"])
        .max_children(100)
        .register(&reg)
        .unwrap();
    for i in 0..10_000u32 {
        fam.with_label_values(&[&format!("u{i}"), "/p"]).inc();
    }
    assert_eq!(fam.len(), 101, "100 children + 1 overflow child");
    assert_eq!(fam.overflowed_updates(), 9_900);
    let overflow = fam.with_label_values(&[OVERFLOW_LABEL_VALUE, OVERFLOW_LABEL_VALUE]);
    assert_eq!(overflow.get(), 9_900.0);
    // The first 100 label sets got their own child.
    assert_eq!(fam.with_label_values(&["u99", "/p"]).get(), 1.0);

    let text = reg.encode_to_string(Format::Text);
    assert_eq!(sum_samples(&text, "req_total"), 10_000.0);
    assert_eq!(text.matches("\nreq_total{").count(), 101);
    assert!(
        text.contains("req_total{user=\"__overflow__\",path=\"__overflow__\"} 9900\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "# TYPE tachymeter_family_overflow_updates_total counter\n\
             tachymeter_family_overflow_updates_total{family=\"req\"} 9900\n"
        ),
        "{text}"
    );
    let om = reg.encode_to_string(Format::OpenMetrics);
    assert!(
        om.contains("tachymeter_family_overflow_updates_total{family=\"req\"} 9900.0\n"),
        "{om}"
    );

    if support::have(&[Peer::Promtool]) {
        support::promtool_check_metrics(&text).unwrap();
        support::promtool_openmetrics_check(&om).unwrap();
    }
    if support::have(&[Peer::Python]) {
        for fams in [
            support::python_parse_text(&text).unwrap(),
            support::python_parse_openmetrics(&om).unwrap(),
        ] {
            let req = support::family(&fams, "req").unwrap();
            let totals: Vec<_> = req.samples_named("req_total").collect();
            assert_eq!(totals.len(), 101);
            assert_eq!(totals.iter().map(|s| s.value).sum::<f64>(), 10_000.0);
            let over = totals
                .iter()
                .find(|s| s.label("user") == Some(OVERFLOW_LABEL_VALUE))
                .unwrap();
            assert_eq!(over.label("path"), Some(OVERFLOW_LABEL_VALUE));
            assert_eq!(over.value, 9_900.0);
            let selfm = support::family(&fams, "tachymeter_family_overflow_updates").unwrap();
            let s = selfm
                .samples_named("tachymeter_family_overflow_updates_total")
                .next()
                .unwrap();
            assert_eq!((s.label("family"), s.value), (Some("req"), 9_900.0));
        }
    }
}

#[test]
fn the_self_metric_is_absent_until_a_family_overflows() {
    let reg = Registry::builder().created_samples(false).build();
    let fam = Gauge::builder("g", "G.")
        .labels(["k"])
        .max_children(2)
        .register(&reg)
        .unwrap();
    fam.with_label_values(&["a"]).set(1.0);
    fam.with_label_values(&["b"]).set(2.0);
    let body = reg.encode_to_string(Format::Text);
    assert_eq!(
        body,
        "# HELP g G.\n# TYPE g gauge\ng{k=\"a\"} 1\ng{k=\"b\"} 2\n"
    );
    fam.with_label_values(&["c"]).set(3.0);
    let body = reg.encode_to_string(Format::Text);
    assert!(body.contains("g{k=\"__overflow__\"} 3\n"), "{body}");
    assert!(
        body.contains("tachymeter_family_overflow_updates_total{family=\"g\"} 1\n"),
        "{body}"
    );
}

#[test]
fn the_self_metric_takes_the_prefix_and_steps_aside_for_a_family_const_label() {
    let reg = Registry::builder()
        .prefix("app")
        .unwrap()
        .const_label("family", "blue")
        .unwrap()
        .created_samples(false)
        .build();
    let fam = Counter::builder("c_total", "C.")
        .labels(["k"])
        .max_children(0)
        .register(&reg)
        .unwrap();
    fam.with_label_values(&["a"]).inc();
    let text = reg.encode_to_string(Format::Text);
    assert!(
        text.contains(
            "app_tachymeter_family_overflow_updates_total\
             {family=\"blue\",tachymeter_family=\"app_c\"} 1\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("app_c_total{family=\"blue\",k=\"__overflow__\"} 1\n"),
        "{text}"
    );
    if support::have(&[Peer::Promtool]) {
        support::promtool_check_metrics(&text).unwrap();
    }
}

#[test]
fn the_sentinel_label_set_is_the_overflow_child_and_never_a_second_series() {
    let reg = Registry::new();
    let fam = Counter::builder("c_total", "C.")
        .labels(["k"])
        .max_children(1)
        .register(&reg)
        .unwrap();
    // Passed explicitly before the limit is reached: it is the overflow child already and
    // does not use up the limit.
    fam.with_label_values(&[OVERFLOW_LABEL_VALUE]).inc();
    fam.with_label_values(&["a"]).inc();
    assert_eq!(fam.len(), 2);
    fam.with_label_values(&["b"]).inc();
    assert_eq!(fam.len(), 2);
    assert_eq!(fam.with_label_values(&[OVERFLOW_LABEL_VALUE]).get(), 2.0);
    let text = reg.encode_to_string(Format::Text);
    assert_eq!(
        text.matches("c_total{k=\"__overflow__\"}").count(),
        1,
        "{text}"
    );
}

#[test]
fn removing_children_makes_room_below_the_limit() {
    let fam = Counter::builder("c_total", "C.")
        .labels(["k"])
        .max_children(2)
        .build()
        .unwrap();
    fam.with_label_values(&["a"]).inc();
    fam.with_label_values(&["b"]).inc();
    fam.with_label_values(&["c"]).inc(); // overflow
    assert!(fam.remove(&["a"]).unwrap());
    fam.with_label_values(&["d"]).inc();
    assert_eq!(fam.with_label_values(&["d"]).get(), 1.0);
    assert_eq!(fam.with_label_values(&[OVERFLOW_LABEL_VALUE]).get(), 1.0);
    assert_eq!(fam.len(), 3);
}

#[test]
fn registry_default_limit_applies_unless_the_builder_set_one() {
    let reg = Registry::builder().default_max_children(3).build();
    let dflt = Counter::builder("a_total", "A.")
        .labels(["k"])
        .register(&reg)
        .unwrap();
    let own = Counter::builder("b_total", "B.")
        .labels(["k"])
        .max_children(usize::MAX)
        .register(&reg)
        .unwrap();
    let plain = Counter::builder("c_total", "C.").register(&reg).unwrap();
    plain.inc();
    for i in 0..10 {
        dflt.with_label_values(&[&i.to_string()]).inc();
        own.with_label_values(&[&i.to_string()]).inc();
    }
    assert_eq!((dflt.max_children(), dflt.len()), (Some(3), 4));
    assert_eq!((own.max_children(), own.len()), (None, 10));
    assert_eq!(Registry::new().encode_to_string(Format::Text), "");
}

#[test]
fn the_self_metric_name_is_reserved() {
    let reg = Registry::new();
    let err = Counter::builder("tachymeter_family_overflow_updates_total", "Mine.")
        .register(&reg)
        .unwrap_err();
    assert!(
        matches!(err, tachymeter::RegistrationError::SuffixClash { .. }),
        "{err:?}"
    );
}

#[test]
fn remove_matching_removes_exactly_the_children_with_all_given_pairs() {
    let fam = Counter::builder("req_total", "R.")
        .labels(["method", "path", "code"])
        .build()
        .unwrap();
    for m in ["GET", "POST"] {
        for p in ["/a", "/b"] {
            for c in ["200", "500"] {
                fam.with_label_values(&[m, p, c]).inc();
            }
        }
    }
    assert_eq!(
        fam.remove_matching(&[("path", "/a"), ("code", "500")]),
        Ok(2)
    );
    assert_eq!(fam.len(), 6);
    // Order of pairs does not matter; a value matches exactly (no prefix match).
    assert_eq!(
        fam.remove_matching(&[("code", "500"), ("path", "/b")]),
        Ok(2)
    );
    assert_eq!(fam.remove_matching(&[("path", "/")]), Ok(0));
    assert_eq!(fam.remove_matching(&[]), Ok(0));
    assert_eq!(
        fam.remove_matching(&[("path", "/a"), ("nope", "x")]),
        Err(tachymeter::LabelError::UnknownLabel { pair: 1 })
    );
    assert_eq!(fam.len(), 4);
    assert_eq!(fam.remove_matching(&[("method", "GET")]), Ok(2));
    let mut left = Vec::new();
    fam.retain(|v, _| {
        left.push(v.join(" "));
        true
    });
    assert_eq!(left, ["POST /a 200", "POST /b 200"]);
    // A removed child comes back as a new series at zero.
    assert_eq!(fam.with_label_values(&["GET", "/a", "200"]).get(), 0.0);
}

#[test]
fn retain_sees_values_in_label_order_and_may_use_the_family() {
    let fam = Gauge::builder("g", "G.")
        .labels(["a", "b"])
        .build()
        .unwrap();
    for i in 0..300 {
        fam.with_label_values(&[&i.to_string(), "x"])
            .set(f64::from(i));
    }
    let inner = fam.clone();
    let removed = fam.retain(|values, g| {
        assert_eq!(values[1], "x");
        assert_eq!(values[0].parse::<f64>().unwrap(), g.get());
        // Using the family from inside the closure (a lookup, a removal) must not deadlock.
        let _ = inner.with_label_values(&["0", "x"]).get();
        if values[0] == "299" {
            inner.remove(&["298", "x"]).unwrap();
        }
        g.get() % 2.0 == 0.0
    });
    // The 150 odd values; "298" (even, kept by the closure) was removed by the closure.
    assert_eq!(removed, 150);
    assert_eq!(fam.len(), 149);
    assert_eq!(fam.retain(|_, _| true), 0);
}

#[test]
fn clear_then_reuse() {
    let reg = Registry::builder().created_samples(false).build();
    let fam = Counter::builder("c_total", "C.")
        .labels(["k"])
        .register(&reg)
        .unwrap();
    for i in 0..1_000 {
        fam.with_label_values(&[&i.to_string()]).inc();
    }
    fam.clear();
    assert!(fam.is_empty());
    fam.with_label_values(&["x"]).inc();
    assert_eq!(
        reg.encode_to_string(Format::Text),
        "# HELP c_total C.\n# TYPE c_total counter\nc_total{k=\"x\"} 1\n"
    );
}

#[test]
fn many_removals_keep_creation_order_and_each_child_once() {
    // Enough churn to trigger compactions; the exposition lists the live children once
    // each, in creation order.
    let reg = Registry::builder().created_samples(false).build();
    let fam = Counter::builder("c_total", "C.")
        .labels(["k"])
        .register(&reg)
        .unwrap();
    let mut live = Vec::new();
    for round in 0..20u32 {
        for i in 0..500u32 {
            let k = format!("{round}-{i}");
            fam.with_label_values(&[&k]).inc();
            live.push(k);
        }
        // Remove two thirds of what is live, scattered.
        let mut keep = Vec::new();
        for (j, k) in live.drain(..).enumerate() {
            if j % 3 == 0 {
                keep.push(k);
            } else {
                assert!(fam.remove(&[&k]).unwrap());
            }
        }
        live = keep;
    }
    assert_eq!(fam.len(), live.len());
    let text = reg.encode_to_string(Format::Text);
    let seen: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("c_total{k=\""))
        .map(|l| l.split_once('"').unwrap().0)
        .collect();
    assert_eq!(seen, live);
}

/// A fake clock the test moves by hand.
fn fake_clock() -> (
    Arc<AtomicU64>,
    impl Fn() -> Duration + Send + Sync + 'static,
) {
    let t = Arc::new(AtomicU64::new(1_000));
    let c = t.clone();
    (t, move || Duration::from_secs(c.load(Ordering::Relaxed)))
}

#[test]
fn idle_children_expire_and_come_back_with_a_new_created() {
    let (now, clock) = fake_clock();
    let reg = Registry::new();
    let fam = Counter::builder("c_total", "C.")
        .labels(["k"])
        .expire_after_with_clock(Duration::from_secs(60), clock)
        .register(&reg)
        .unwrap();
    let busy = fam.with_label_values(&["busy"]);
    fam.with_label_values(&["idle"]).inc();
    let created_idle = |body: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix("c_created{k=\"idle\"} "))
            .map(|v| v.parse::<f64>().unwrap())
    };
    let first = reg.encode_to_string(Format::OpenMetrics);
    let created_before = created_idle(&first).unwrap();
    // 59 s later (idle) and 61 s later: busy keeps changing, idle does not.
    for step in [59, 2] {
        now.fetch_add(step, Ordering::Relaxed);
        busy.inc();
        reg.encode_to_string(Format::Text);
    }
    // The idle child expired at the last collection: gone from the family and the scrape.
    assert_eq!(fam.len(), 1);
    let body = reg.encode_to_string(Format::OpenMetrics);
    assert!(!body.contains("k=\"idle\""), "{body}");
    assert!(body.contains("c_total{k=\"busy\"} 2\n"), "{body}");
    // It comes back as a new series: value from zero, a later `_created`.
    std::thread::sleep(Duration::from_millis(20));
    fam.with_label_values(&["idle"]).inc();
    let body = reg.encode_to_string(Format::OpenMetrics);
    assert!(body.contains("c_total{k=\"idle\"} 1\n"), "{body}");
    assert!(created_idle(&body).unwrap() > created_before, "{body}");
}

#[test]
fn a_child_updated_between_collections_does_not_expire() {
    let (now, clock) = fake_clock();
    let reg = Registry::builder().created_samples(false).build();
    let fam = Gauge::builder("g", "G.")
        .labels(["k"])
        .expire_after_with_clock(Duration::from_secs(10), clock)
        .register(&reg)
        .unwrap();
    let g = fam.with_label_values(&["a"]);
    for i in 0..5 {
        now.fetch_add(9, Ordering::Relaxed);
        g.set(f64::from(i) + 1.0);
        reg.encode_to_string(Format::Text);
        assert_eq!(fam.len(), 1, "round {i}");
    }
    // Never updated after creation: expires at the first collection 10 s past creation.
    let _ = fam.with_label_values(&["b"]);
    now.fetch_add(9, Ordering::Relaxed);
    g.set(6.0);
    reg.encode_to_string(Format::Text);
    assert_eq!(fam.len(), 2);
    now.fetch_add(1, Ordering::Relaxed);
    let body = reg.encode_to_string(Format::Text);
    assert_eq!(fam.len(), 1);
    assert!(!body.contains("k=\"b\""), "{body}");
    assert!(body.contains("g{k=\"a\"} 6\n"), "{body}");
    // Unchanged for 10 s more: "a" goes too.
    now.fetch_add(10, Ordering::Relaxed);
    reg.encode_to_string(Format::Text);
    assert!(fam.is_empty());
}

#[test]
fn children_are_created_while_a_large_family_is_encoded_and_the_scrape_stays_consistent() {
    // A scrape of a 200,000-child family takes milliseconds. Creations on another thread
    // meanwhile complete without waiting for it (before issue 10 each one waited for the
    // whole scrape, so none could both start and end inside it). Bounded: the creator stops
    // when the scrape ends, after 5 s, or after 1,000,000 creations.
    let reg = Registry::builder().created_samples(false).build();
    let fam = Counter::builder("c_total", "C.")
        .labels(["k"])
        .register(&reg)
        .unwrap();
    for i in 0..200_000u32 {
        let _ = fam.with_label_values(&[&i.to_string()]);
    }
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let creator = {
        let (fam, done) = (fam.clone(), done.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut spans = Vec::new();
            while !done.load(Ordering::Relaxed)
                && start.elapsed() < Duration::from_secs(5)
                && spans.len() < 1_000_000
            {
                let t = Instant::now();
                fam.with_label_values(&[&format!("new{}", spans.len())])
                    .inc();
                spans.push((t, Instant::now()));
            }
            spans
        })
    };
    // Let the creator get going first.
    std::thread::sleep(Duration::from_millis(20));
    let mut body = Vec::new();
    let scrape_start = Instant::now();
    reg.encode(Format::Text, &mut body).unwrap();
    let scrape_end = Instant::now();
    done.store(true, Ordering::Relaxed);
    let spans = creator.join().unwrap();
    let inside = spans
        .iter()
        .filter(|(s, e)| *s > scrape_start && *e < scrape_end)
        .count();
    assert!(
        inside > 0,
        "no creation started and finished within the {:?} scrape ({} creations)",
        scrape_end - scrape_start,
        spans.len()
    );
    let body = String::from_utf8(body).unwrap();
    // Consistent: every pre-existing child exactly once, in creation order; then the first
    // children the creator made (those before the scrape's walk began), once each, in order.
    let keys: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("c_total{"))
        .map(|l| l.split('"').nth(1).unwrap())
        .collect();
    let (old, new) = keys.split_at(200_000);
    assert!(old.iter().enumerate().all(|(i, k)| *k == i.to_string()));
    assert!(new.iter().enumerate().all(|(i, k)| *k == format!("new{i}")));
    assert_eq!(fam.len(), 200_000 + spans.len());
}
