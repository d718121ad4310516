//! The push client against a real Pushgateway (`prometheus-pushgateway`, Debian 1.5.1):
//! PUT/POST/DELETE semantics and grouping-key encoding, read back through
//! `/api/v1/metrics`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::{Json, Peer, Server};
use tachymeter::{Counter, Gauge, PushError, Pusher, Registry};

/// Every group the gateway holds, from its JSON API.
fn groups(gw: &Server) -> Vec<Json> {
    let url = format!("{}/api/v1/metrics", gw.url());
    let m = support::http_get(&url).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.status, 200, "{}", m.text());
    let v = m.json().unwrap_or_else(|e| panic!("{e}: {}", m.text()));
    v.get("data")
        .and_then(Json::as_array)
        .unwrap_or_else(|| panic!("no data array: {}", m.text()))
        .to_vec()
}

/// A group's grouping labels; every value is a string.
fn labels_of(group: &Json) -> BTreeMap<String, String> {
    group
        .get("labels")
        .and_then(Json::as_object)
        .unwrap_or_else(|| panic!("group without labels: {group:?}"))
        .iter()
        .map(|(k, v)| {
            let v = v.as_str().unwrap_or_else(|| panic!("label {k}: {v:?}"));
            (k.clone(), v.to_owned())
        })
        .collect()
}

/// The group whose grouping labels are exactly `labels`.
fn group(gw: &Server, labels: &[(&str, &str)]) -> Option<Json> {
    let want = map(labels);
    groups(gw).into_iter().find(|g| labels_of(g) == want)
}

/// The metric names of a group (without the gateway's own `push_*` gauges), each with its
/// first sample's value.
fn metrics(group: &Json) -> BTreeMap<String, String> {
    group
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| {
            v.get("metrics").is_some_and(|m| *m != Json::Null) && !k.starts_with("push_")
        })
        .map(|(k, v)| {
            let value = v
                .at(&["metrics", "0", "value"])
                .and_then(Json::as_str)
                .unwrap_or_else(|| panic!("{k}: no first sample value: {v:?}"))
                .to_owned();
            (k.clone(), value)
        })
        .collect()
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn pusher(gw: &Server, instance: &str) -> Pusher {
    Pusher::new(&gw.addr().to_string(), "batch")
        .unwrap()
        .grouping_key("instance", instance)
        .unwrap()
        .header("X-BK-TOKEN", "s3cr3t")
        .unwrap()
}

#[test]
fn put_replaces_post_merges_delete_removes_only_its_group() {
    if !support::have(&[Peer::Pushgateway]) {
        return;
    }
    let gw = support::start_pushgateway();
    let a = Registry::new();
    Counter::builder("runs_total", "Runs.")
        .register(&a)
        .unwrap()
        .inc_by(3);
    Gauge::builder("temp", "Temperature.")
        .register(&a)
        .unwrap()
        .set(20.0);
    let p1 = pusher(&gw, "one");
    let p2 = pusher(&gw, "two");
    p1.push(&a).unwrap();
    p2.push(&a).unwrap();
    let g1 = [("job", "batch"), ("instance", "one")];
    let g2 = [("job", "batch"), ("instance", "two")];
    assert_eq!(
        metrics(&group(&gw, &g1).unwrap()),
        map(&[("runs_total", "3"), ("temp", "20")])
    );

    // POST replaces only the metrics with the names it sends.
    let b = Registry::new();
    Gauge::builder("temp", "Temperature.")
        .register(&b)
        .unwrap()
        .set(7.0);
    Gauge::builder("load", "Load.")
        .register(&b)
        .unwrap()
        .set(1.5);
    p1.push_add(&b).unwrap();
    assert_eq!(
        metrics(&group(&gw, &g1).unwrap()),
        map(&[("load", "1.5"), ("runs_total", "3"), ("temp", "7")])
    );

    // PUT replaces the whole group.
    let c = Registry::new();
    Gauge::builder("load", "Load.")
        .register(&c)
        .unwrap()
        .set(0.25);
    p1.push(&c).unwrap();
    assert_eq!(metrics(&group(&gw, &g1).unwrap()), map(&[("load", "0.25")]));

    // DELETE removes only that group (the gateway applies it asynchronously).
    p1.delete().unwrap();
    let deleted = support::wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
        group(&gw, &g1).is_none().then_some(())
    });
    assert!(
        deleted.is_some(),
        "group {g1:?} still there: {:?}",
        groups(&gw)
    );
    assert_eq!(
        metrics(&group(&gw, &g2).unwrap()),
        map(&[("runs_total", "3"), ("temp", "20")])
    );
}

#[test]
fn grouping_values_land_exactly_as_given() {
    if !support::have(&[Peer::Pushgateway]) {
        return;
    }
    let gw = support::start_pushgateway();
    let r = Registry::new();
    Gauge::builder("up_to_date", "Whether it is.")
        .register(&r)
        .unwrap()
        .set(1.0);
    let job = "dir/sub job";
    let cases: [(&str, &str); 6] = [
        ("path", "/var/lib/a b"),
        ("space", "two words"),
        ("plus", "a+b"),
        ("unicode", "café ✓"),
        ("dots", ".."),
        ("colon", "10.0.0.1:9100"),
    ];
    let mut p = Pusher::new(&gw.url(), job).unwrap();
    for (k, v) in cases {
        p = p.grouping_key(k, v).unwrap();
    }
    p.push(&r).unwrap();
    let mut want = vec![("job", job)];
    want.extend(cases);
    let g = group(&gw, &want).unwrap_or_else(|| {
        panic!(
            "group {want:?} not found among {:?}",
            groups(&gw).iter().map(labels_of).collect::<Vec<_>>()
        )
    });
    assert_eq!(metrics(&g), map(&[("up_to_date", "1")]));
    p.delete().unwrap();
}

#[test]
fn rejected_push_carries_the_gateways_status_and_body() {
    if !support::have(&[Peer::Pushgateway]) {
        return;
    }
    let gw = support::start_pushgateway();
    let a = Registry::new();
    Gauge::builder("clash_total", "A gauge here.")
        .register(&a)
        .unwrap()
        .set(1.0);
    pusher(&gw, "x").push(&a).unwrap();
    // The same name with another type in another group: the gateway answers 400.
    let b = Registry::new();
    Counter::builder("clash", "A counter there.")
        .register(&b)
        .unwrap()
        .inc();
    match pusher(&gw, "y").push(&b) {
        Err(PushError::Status { status, body }) => {
            assert_eq!(status, 400);
            assert!(body.contains("clash"), "{body}");
        }
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[cfg(feature = "protobuf")]
#[test]
fn protobuf_push_reads_back_the_same_values_including_a_histogram() {
    if !support::have(&[Peer::Pushgateway]) {
        return;
    }
    let gw = support::start_pushgateway();
    let r = Registry::new();
    Counter::builder("pb_runs_total", "Runs.")
        .register(&r)
        .unwrap()
        .inc_by(7);
    Gauge::builder("pb_temp", "Temperature.")
        .register(&r)
        .unwrap()
        .set(-2.5);
    let h = tachymeter::Histogram::builder("pb_wait_seconds", "Wait.")
        .buckets([0.5, 1.0])
        .unwrap()
        .register(&r)
        .unwrap();
    for v in [0.25, 0.75, 3.0] {
        h.observe(v);
    }
    let p = pusher(&gw, "pb").protobuf();
    assert_eq!(p.body_format(), tachymeter::Format::Protobuf);
    p.push(&r).unwrap();
    let g = group(&gw, &[("job", "batch"), ("instance", "pb")]).expect("group pushed");
    let at = |path: &[&str]| g.at(path).and_then(Json::as_str).map(str::to_owned);
    assert_eq!(
        at(&["pb_runs_total", "metrics", "0", "value"]).as_deref(),
        Some("7")
    );
    assert_eq!(
        at(&["pb_temp", "metrics", "0", "value"]).as_deref(),
        Some("-2.5")
    );
    let h = ["pb_wait_seconds", "metrics", "0"];
    for (field, want) in [("count", "3"), ("sum", "4")] {
        assert_eq!(
            at(&[h[0], h[1], h[2], field]).as_deref(),
            Some(want),
            "{g:?}"
        );
    }
    for (le, want) in [("0.5", "1"), ("1", "2"), ("+Inf", "3")] {
        assert_eq!(
            at(&[h[0], h[1], h[2], "buckets", le]).as_deref(),
            Some(want),
            "{g:?}"
        );
    }
    // The gateway's text exposition of what it stored.
    let text = support::http_get(&format!("{}/metrics", gw.url()))
        .unwrap_or_else(|e| panic!("{e}"))
        .text();
    for line in [
        "pb_wait_seconds_bucket{instance=\"pb\",job=\"batch\",le=\"0.5\"} 1",
        "pb_wait_seconds_bucket{instance=\"pb\",job=\"batch\",le=\"1\"} 2",
        "pb_wait_seconds_bucket{instance=\"pb\",job=\"batch\",le=\"+Inf\"} 3",
        "pb_wait_seconds_sum{instance=\"pb\",job=\"batch\"} 4",
        "pb_wait_seconds_count{instance=\"pb\",job=\"batch\"} 3",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}
