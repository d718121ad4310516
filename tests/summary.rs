//! The `Summary` metric: cumulative count and sum, NaN handling, windowed quantiles checked
//! against exact nearest ranks, exposition order and spelling, expiry with an injected clock,
//! concurrent observers against a scraper, memory per child, and bodies checked by promtool
//! and the Python parsers.

mod support;
mod support_quantile;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{Peer, PromtoolOutcome};
use support_quantile::{check, Rng};
use tachymeter::quantile::{QuantileError, WindowError};
use tachymeter::{Format, Metric, NameError, Registry, Summary};

const GO: [(f64, f64); 3] = Summary::GO_OBJECTIVES;

/// A clock the test moves by hand.
#[derive(Clone)]
struct ManualClock {
    base: Instant,
    offset_ns: Arc<AtomicU64>,
}

impl ManualClock {
    fn new() -> ManualClock {
        ManualClock {
            base: Instant::now(),
            offset_ns: Arc::new(AtomicU64::new(0)),
        }
    }
    fn now(&self) -> Instant {
        self.base + Duration::from_nanos(self.offset_ns.load(Ordering::SeqCst))
    }
    fn advance(&self, d: Duration) {
        self.offset_ns
            .fetch_add(d.as_nanos() as u64, Ordering::SeqCst);
    }
}

fn summary(objectives: &[(f64, f64)], batch: usize) -> (Registry, Summary) {
    let reg = Registry::new();
    let s = Summary::builder("s", "S.")
        .objectives(objectives)
        .unwrap()
        .batch_size(batch)
        .register(&reg)
        .unwrap();
    (reg, s)
}

#[test]
fn count_and_sum_are_cumulative_and_nan_is_dropped_everywhere() {
    for objectives in [&[][..], &GO[..]] {
        let (reg, s) = summary(objectives, 4);
        for v in [1.0, f64::NAN, 2.5, -0.5, f64::NAN, 4.0] {
            s.observe(v);
        }
        assert_eq!(s.count(), 4, "{objectives:?}");
        assert_eq!(s.sum(), 7.0);
        let body = reg.encode_to_string(Format::Text);
        assert!(
            body.contains("s_sum 7\n") && body.contains("s_count 4\n"),
            "{body}"
        );
        assert!(!body.contains("NaN\ns_sum") || !objectives.is_empty());
        if !objectives.is_empty() {
            assert_eq!(s.window_count(), 4, "NaN is not ranked");
            assert_eq!(s.quantile(0.0), -0.5);
            assert_eq!(s.quantile(1.0), 4.0);
        }
    }
}

#[test]
fn no_objectives_is_the_default_and_exposes_only_sum_and_count() {
    let reg = Registry::new();
    let s = Summary::builder("rpc_seconds", "RPC latency.")
        .register(&reg)
        .unwrap();
    s.observe(0.25);
    s.observe(0.5);
    assert!(s.quantile(0.5).is_nan());
    assert_eq!(
        reg.encode_to_string(Format::Text),
        "# HELP rpc_seconds RPC latency.\n\
         # TYPE rpc_seconds summary\n\
         rpc_seconds_sum 0.75\n\
         rpc_seconds_count 2\n"
    );
    let small = Metric::heap_bytes(&s);
    assert!(
        small <= 64,
        "a plain summary costs what a counter does: {small} B"
    );
}

#[test]
fn empty_window_reports_nan_quantiles_and_zero_totals() {
    let (reg, s) = summary(&GO, 512);
    assert!(s.quantile(0.5).is_nan());
    assert_eq!(
        reg.encode_to_string(Format::Text),
        "# HELP s S.\n# TYPE s summary\n\
         s{quantile=\"0.5\"} NaN\ns{quantile=\"0.9\"} NaN\ns{quantile=\"0.99\"} NaN\n\
         s_sum 0\ns_count 0\n"
    );
}

/// Every configured quantile, at every batch size, is within its band of exact ranks.
#[test]
fn quantiles_are_within_epsilon_of_exact_ranks() {
    let objectives = [
        (0.5, 0.05),
        (0.9, 0.01),
        (0.99, 0.001),
        (0.0, 0.0),
        (1.0, 0.0),
    ];
    for batch in [1, 7, 64, 512] {
        for n in [1usize, 2, 10, 99, 1000, 5000] {
            let (_reg, s) = summary(&objectives, batch);
            let mut r = Rng::new(n as u64 * 31 + batch as u64);
            let mut values: Vec<f64> = (0..n).map(|_| (r.below(1000) as f64) - 300.0).collect();
            for &v in &values {
                s.observe(v);
            }
            values.sort_by(f64::total_cmp);
            for &(phi, eps) in &objectives {
                let got = s.quantile(phi);
                if let Err(v) = check(&values, phi, eps, got) {
                    panic!("batch {batch}: {v}");
                }
            }
            assert_eq!(s.window_count(), n as u64);
        }
    }
}

#[test]
fn small_known_stream_gives_exact_nearest_ranks() {
    // εn < 1 for every objective: the answers are forced to the exact nearest rank.
    let (_reg, s) = summary(&[(0.5, 0.01), (0.9, 0.01)], 3);
    for v in [5.0, 1.0, 4.0, 2.0, 3.0] {
        s.observe(v);
    }
    assert_eq!(s.quantile(0.5), 3.0);
    assert_eq!(s.quantile(0.9), 5.0);
}

#[test]
fn quantile_lines_come_in_increasing_order_with_go_and_openmetrics_spelling() {
    let reg = Registry::new();
    let s = Summary::builder("lat", "Latency.")
        .labels(["op"])
        .objectives(&[(0.99, 0.001), (1.0, 0.0), (0.00001, 0.000001), (0.5, 0.05)])
        .unwrap()
        .register(&reg)
        .unwrap();
    s.with_label_values(&["get"]).observe(2.0);
    let text = reg.encode_to_string(Format::Text);
    let order = ["1e-05", "0.5", "0.99", "1"];
    let mut at = 0;
    for q in order {
        let line = format!("lat{{op=\"get\",quantile=\"{q}\"}} 2\n");
        let pos = text
            .find(&line)
            .unwrap_or_else(|| panic!("{line:?} in\n{text}"));
        assert!(pos >= at, "quantile {q} out of order:\n{text}");
        at = pos;
    }
    assert!(
        text.ends_with("lat_sum{op=\"get\"} 2\nlat_count{op=\"get\"} 1\n"),
        "{text}"
    );
    let om = reg.encode_to_string(Format::OpenMetrics);
    for q in ["1e-05", "0.5", "0.99", "1.0"] {
        assert!(
            om.contains(&format!("lat{{op=\"get\",quantile=\"{q}\"}} 2.0\n")),
            "{q}\n{om}"
        );
    }
}

#[test]
fn quantile_is_rejected_as_a_label_name_and_bad_settings_are_typed_errors() {
    let e = Summary::builder("s", "S.")
        .labels(["quantile"])
        .build()
        .unwrap_err();
    assert!(
        matches!(e, NameError::LabelReservedForType { ref label, .. } if label == "quantile"),
        "{e:?}"
    );
    assert!(matches!(
        Summary::builder("s", "S.").objectives(&[(99.0, 0.01)]),
        Err(QuantileError::PhiOutOfRange { .. })
    ));
    assert!(matches!(
        Summary::builder("s", "S.")
            .labels(["a"])
            .objectives(&[(0.5, 0.1), (0.5, 0.2)]),
        Err(QuantileError::DuplicatePhi { .. })
    ));
    assert!(matches!(
        Summary::builder("s", "S.").age_buckets(0),
        Err(WindowError::NoBuckets)
    ));
    assert!(matches!(
        Summary::builder("s", "S.").max_age(Duration::ZERO),
        Err(WindowError::PeriodTooShort { .. })
    ));
    let f = Summary::builder("s", "S.")
        .objectives(&GO)
        .unwrap()
        .max_age(Duration::from_secs(60))
        .unwrap()
        .age_buckets(3)
        .unwrap()
        .build()
        .unwrap();
    let _ = f.with_label_values(&[]);
}

#[test]
fn observations_expire_after_max_age_with_an_injected_clock() {
    let clock = ManualClock::new();
    let c = clock.clone();
    let reg = Registry::new();
    let s = Summary::builder("s", "S.")
        .objectives(&GO)
        .unwrap()
        .max_age(Duration::from_secs(60))
        .unwrap()
        .age_buckets(3)
        .unwrap()
        .clock(move || c.now())
        .register(&reg)
        .unwrap();
    for v in 1..=10 {
        s.observe(f64::from(v));
    }
    // Buffered values join the window when merged: a scrape at t = 0 merges them.
    assert_eq!(s.window_count(), 10);
    clock.advance(Duration::from_secs(39));
    assert_eq!(s.quantile(1.0), 10.0, "still inside the window");
    s.observe(100.0);
    assert_eq!(s.window_count(), 11, "merged at t = 39 s");
    clock.advance(Duration::from_secs(21)); // t = 60 s: the first values expired
    assert_eq!(s.window_count(), 1);
    assert_eq!(s.quantile(0.5), 100.0);
    clock.advance(Duration::from_secs(60));
    assert!(s.quantile(0.5).is_nan(), "everything expired");
    assert!(reg
        .encode_to_string(Format::Text)
        .contains("s{quantile=\"0.99\"} NaN\n"));
    assert_eq!(s.count(), 11, "count and sum are never windowed");
    assert_eq!(s.sum(), 155.0);
}

#[test]
fn timer_observes_elapsed_seconds() {
    let (_reg, s) = summary(&GO, 512);
    drop(s.start_timer());
    let d = s.start_timer().observe_duration();
    s.start_timer().stop_and_discard();
    assert_eq!(s.count(), 2);
    assert!(d >= 0.0 && s.sum() >= d);
}

/// Threads observe while another scrapes: nothing is lost, every value is ranked once, and the
/// quantiles stay valid.
#[test]
fn concurrent_observers_and_scraper_lose_nothing() {
    const THREADS: usize = 4;
    const PER: usize = 50_000;
    for batch in [3, 512] {
        let (reg, s) = summary(&GO, batch);
        let stop = AtomicBool::new(false);
        std::thread::scope(|sc| {
            sc.spawn(|| {
                let mut buf = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    buf.clear();
                    reg.encode(Format::Text, &mut buf).unwrap();
                }
            });
            let workers: Vec<_> = (0..THREADS)
                .map(|t| {
                    let s = s.clone();
                    sc.spawn(move || {
                        for i in 0..PER {
                            s.observe((i * THREADS + t) as f64);
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().unwrap();
            }
            stop.store(true, Ordering::Relaxed);
        });
        let n = THREADS * PER;
        assert_eq!(s.count(), n as u64);
        assert_eq!(s.sum(), (n * (n - 1) / 2) as f64);
        assert_eq!(s.window_count(), n as u64, "each value ranked exactly once");
        let sorted: Vec<f64> = (0..n).map(|i| i as f64).collect();
        for (phi, eps) in GO {
            check(&sorted, phi, eps, s.quantile(phi)).unwrap_or_else(|v| panic!("{v}"));
        }
        assert_eq!((s.quantile(0.0), s.quantile(1.0)), (0.0, (n - 1) as f64));
        assert!(s.is_sharded());
    }
}

/// Bytes per child: a child touched by one thread pays for one buffer, not one per shard.
#[test]
fn memory_per_child_is_small_and_grows_with_use_only() {
    let reg = Registry::new();
    let fam = Summary::builder("m", "M.")
        .labels(["k"])
        .objectives(&GO)
        .unwrap()
        .register(&reg)
        .unwrap();
    let idle = fam.with_label_values(&["idle"]).handle();
    let few = fam.with_label_values(&["few"]).handle();
    for v in 0..10 {
        few.observe(f64::from(v));
    }
    let busy = fam.with_label_values(&["busy"]).handle();
    let mut r = Rng::new(7);
    for _ in 0..1_000_000 {
        busy.observe(r.f64());
    }
    let _ = reg.encode_to_string(Format::Text);
    let (b_idle, b_few, b_busy) = (
        Metric::heap_bytes(&idle),
        Metric::heap_bytes(&few),
        Metric::heap_bytes(&busy),
    );
    eprintln!("bytes per child: idle {b_idle}, 10 observations {b_few}, 1e6 observations {b_busy}");
    assert!(!busy.is_sharded());
    assert!(b_idle < 2_048, "idle child {b_idle} B");
    assert!(b_few < 4_096, "lightly used child {b_few} B");
    // Two 4 KiB buffers plus five estimators; no per-shard buffers.
    assert!(b_busy < 32 * 1024, "busy child {b_busy} B");
}

fn conformance_registry() -> Registry {
    let reg = Registry::builder()
        .const_label("svc", "a\"b")
        .unwrap()
        .build();
    let s = Summary::builder("task_seconds", "analyze the time of task with summary")
        .labels(["op"])
        .objectives(&[(0.5, 0.05), (0.9, 0.01), (0.99, 0.001), (0.00001, 0.000001)])
        .unwrap()
        .register(&reg)
        .unwrap();
    for v in 1..=100 {
        s.with_label_values(&["get"]).observe(f64::from(v) / 10.0);
    }
    let _ = s.with_label_values(&["empty"]); // NaN quantiles
    Summary::builder("plain_seconds", "No objectives.")
        .register(&reg)
        .unwrap()
        .observe(1.5);
    reg
}

#[test]
fn summary_bodies_pass_promtool_and_the_python_parsers() {
    if !support::have(&[Peer::Promtool, Peer::Python]) {
        return;
    }
    let reg = conformance_registry();
    let text = reg.encode_to_string(Format::Text);
    match support::promtool_check(&text) {
        PromtoolOutcome::Clean => {}
        other => panic!("promtool: {other:?}\n{text}"),
    }
    let parsed = support::python_parse_text(&text).expect("python text parser");
    let fam = support::family(&parsed, "task_seconds").expect("family");
    assert_eq!(fam.typ, "summary");
    let get: Vec<(String, f64)> = fam
        .samples
        .iter()
        .filter(|s| s.name == "task_seconds" && s.label("op") == Some("get"))
        .map(|s| (s.label("quantile").unwrap().to_owned(), s.value))
        .collect();
    let qs: Vec<&str> = get.iter().map(|(q, _)| q.as_str()).collect();
    assert_eq!(qs, ["1e-05", "0.5", "0.9", "0.99"]);
    assert_eq!(get[0].1, 0.1);
    assert_eq!(get[3].1, 9.9);
    let count = fam
        .samples_named("task_seconds_count")
        .find(|s| s.label("op") == Some("get"))
        .unwrap();
    assert_eq!(count.value, 100.0);
    assert!(fam
        .samples
        .iter()
        .any(|s| s.label("op") == Some("empty") && s.value.is_nan()));

    let om = reg.encode_to_string(Format::OpenMetrics);
    support::promtool_openmetrics_check(&om).unwrap_or_else(|e| panic!("promtool OM: {e}\n{om}"));
    let parsed = support::python_parse_openmetrics(&om).expect("python OpenMetrics parser");
    let fam = support::family(&parsed, "task_seconds").expect("family");
    assert_eq!(fam.typ, "summary");
    assert!(fam
        .samples
        .iter()
        .any(|s| s.label("quantile") == Some("0.99")));
}
