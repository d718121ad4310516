//! Remote-write sender semantics against loopback receivers that misbehave on purpose
//! ([`CaptureServer`] scripts): 400 is final, 500s back off, 429 `Retry-After` is honoured, a
//! receiver down for 10 s loses nothing within the queue bound, a full queue drops (counted),
//! shutdown is bounded, and observers do not wait for a slow receiver.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::*;
use tachymeter::http::{RemoteWriteError, RemoteWriter};
use tachymeter::{Counter, Registry};

fn registry() -> Registry {
    three_series_registry()
}

fn writer(url: &str, r: &Registry) -> RemoteWriter {
    base_writer(url, r)
}

fn gaps(reqs: &[CapturedRequest]) -> Vec<Duration> {
    reqs.windows(2)
        .map(|w| w[1].at.unwrap() - w[0].at.unwrap())
        .collect()
}

#[test]
fn a_400_is_final_counted_and_surfaced() {
    let rx = CaptureServer::start(vec![Answer::Reply(400, "out of order sample")]);
    let w = writer(&rx.url(), &registry()).max_retries(5);
    let err = w.write_once().unwrap_err();
    assert!(
        matches!(&err, RemoteWriteError::Status { status: 400, body, retries: 0 } if body.contains("out of order")),
        "{err:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rx.requests().len(), 1, "400 must not be retried");
    let s = w.stats();
    assert_eq!(
        (s.samples_failed, s.samples_retried, s.samples_sent),
        (3, 0, 0)
    );
    assert_eq!(s.last_error().and_then(RemoteWriteError::status), Some(400));
}

#[test]
fn repeated_500s_back_off_exponentially_then_succeed() {
    let rx = CaptureServer::start(vec![
        Answer::Reply(500, "a"),
        Answer::Reply(503, "b"),
        Answer::Reply(500, "c"),
        Answer::Reply(204, ""),
    ]);
    let w = writer(&rx.url(), &registry())
        .backoff(Duration::from_millis(200), Duration::from_secs(5))
        .unwrap();
    w.write_once().unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 4);
    let g = gaps(&reqs);
    // Equal jitter: retry n waits between half and all of 200 ms × 2^n.
    for (n, gap) in g.iter().enumerate() {
        let full = Duration::from_millis(200 << n);
        assert!(
            *gap >= full / 2,
            "retry {n} after {gap:?}, want ≥ {:?}",
            full / 2
        );
        assert!(
            *gap < full + Duration::from_millis(500),
            "retry {n} after {gap:?}"
        );
    }
    assert!(g[2] > g[0], "backoff grows: {g:?}");
    let s = w.stats();
    assert_eq!(
        (s.samples_sent, s.samples_retried, s.request_failures),
        (3, 9, 3)
    );
    assert!(s.last_success.is_some());
    let bodies: Vec<_> = reqs.iter().map(|r| r.body.clone()).collect();
    assert!(
        bodies.windows(2).all(|b| b[0] == b[1]),
        "the same batch is retried"
    );
}

#[test]
fn a_429_retry_after_is_honoured() {
    let rx = CaptureServer::start(vec![
        Answer::ReplyWith(429, &[("Retry-After", "2")], "slow down"),
        Answer::Reply(204, ""),
    ]);
    let w = writer(&rx.url(), &registry())
        .backoff(Duration::from_millis(10), Duration::from_millis(20))
        .unwrap();
    w.write_once().unwrap();
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 2);
    let g = gaps(&reqs)[0];
    assert!(
        g >= Duration::from_secs(2),
        "retried after {g:?}, Retry-After said 2 s"
    );
    assert!(g < Duration::from_millis(2800), "retried after {g:?}");
}

#[test]
fn headers_auth_and_the_request_hook_are_sent() {
    let rx = CaptureServer::start(vec![Answer::Reply(204, "")]);
    let w = writer(&rx.url(), &registry())
        .header("X-BK-TOKEN", "tok")
        .unwrap()
        .basic_auth("u", "p")
        .request_hook(|req| req.set_header("X-Hooked", &req.body.len().to_string()));
    w.write_once().unwrap();
    let r = &rx.requests()[0];
    assert_eq!(r.header("X-BK-TOKEN"), Some("tok"));
    assert_eq!(r.header("Authorization"), Some("Basic dTpw"));
    assert_eq!(
        r.header("X-Hooked"),
        Some(r.body.len().to_string().as_str())
    );
    assert_eq!(decode_write_request(&r.body).unwrap().len(), 3);
}

/// Every received sample, per series: timestamps in the order received.
fn received(rx: &CaptureServer) -> BTreeMap<RwLabels, Vec<i64>> {
    let mut per_series: BTreeMap<RwLabels, Vec<i64>> = BTreeMap::new();
    for r in rx.requests().iter().filter(|r| !r.body.is_empty()) {
        for s in decode_write_request(&r.body).unwrap() {
            per_series.entry(s.labels).or_default().push(s.timestamp_ms);
        }
    }
    per_series
}

#[test]
fn receiver_down_for_10_s_then_back_loses_nothing_within_the_queue_bound() {
    let port = free_port();
    let r = registry();
    let handle = writer(&format!("http://127.0.0.1:{port}"), &r)
        .interval(Duration::from_millis(500))
        .backoff(Duration::from_millis(100), Duration::from_secs(1))
        .unwrap()
        .max_retries(1000)
        .queue_capacity(10_000)
        .unwrap()
        .spawn();
    std::thread::sleep(Duration::from_secs(10));
    let down = handle.stats();
    assert_eq!(down.samples_sent, 0);
    assert!(down.request_failures >= 5, "{down:?}");
    assert!(
        matches!(down.last_error(), Some(RemoteWriteError::Transport { .. })),
        "{down:?}"
    );
    let rx = CaptureServer::start_at(port, vec![Answer::Reply(204, "")]);
    let caught_up = wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        let s = handle.stats();
        (s.queued_samples == 0 && s.samples_sent >= down.collections * 3).then_some(())
    });
    assert!(caught_up.is_some(), "{:?}", handle.stats());
    let s = handle.shutdown().unwrap();
    assert_eq!(s.samples_dropped, 0, "{s:?}");
    assert_eq!(s.samples_failed, 0, "{s:?}");
    assert_eq!(s.samples_sent, s.collections * 3, "{s:?}");
    let per_series = received(&rx);
    assert_eq!(per_series.len(), 3);
    for (l, ts) in per_series {
        assert_eq!(
            ts.len() as u64,
            s.collections,
            "{l:?}: every collection arrives once"
        );
        assert!(
            ts.windows(2).all(|w| w[0] < w[1]),
            "{l:?}: in time order: {ts:?}"
        );
    }
}

#[test]
fn a_full_queue_drops_the_oldest_and_counts_them() {
    let port = free_port();
    let r = registry();
    let handle = writer(&format!("http://127.0.0.1:{port}"), &r)
        .interval(Duration::from_millis(100))
        .backoff(Duration::from_millis(50), Duration::from_millis(200))
        .unwrap()
        .max_retries(1000)
        .queue_capacity(6) // two collections
        .unwrap()
        .spawn();
    std::thread::sleep(Duration::from_secs(2));
    let rx = CaptureServer::start_at(port, vec![Answer::Reply(204, "")]);
    std::thread::sleep(Duration::from_secs(2));
    let s = handle.shutdown().unwrap();
    assert!(s.samples_dropped > 0, "{s:?}");
    assert_eq!(
        s.samples_sent + s.samples_dropped + s.samples_failed,
        s.collections * 3,
        "every sample accounted for: {s:?}"
    );
    let sent: usize = received(&rx).values().map(Vec::len).sum();
    assert_eq!(sent as u64, s.samples_sent);
}

#[test]
fn shutdown_is_bounded_with_a_silent_receiver_and_observers_never_wait() {
    let rx = CaptureServer::start(vec![Answer::Silence]);
    let r = registry();
    let c = Counter::builder("hot_total", "Hot.").register(&r).unwrap();
    let spin = |d: Duration| {
        let end = Instant::now() + d;
        let mut n = 0u64;
        while Instant::now() < end {
            for _ in 0..1000 {
                c.inc();
            }
            n += 1000;
        }
        n
    };
    let alone = spin(Duration::from_millis(300));
    let handle = writer(&rx.url(), &r)
        .timeout(Duration::from_secs(60))
        .interval(Duration::from_millis(100))
        .shutdown_timeout(Duration::from_secs(1))
        .spawn();
    std::thread::sleep(Duration::from_millis(200));
    let with_writer = spin(Duration::from_millis(300));
    let ratio = with_writer as f64 / alone as f64;
    eprintln!("observer throughput with a stuck remote writer: {ratio:.2} of alone");
    assert!(ratio > 0.25, "observers slowed down: {ratio:.2}");
    let t = Instant::now();
    let err = handle.shutdown().unwrap_err();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    match err {
        RemoteWriteError::ShutdownTimeout { unsent } => assert!(unsent > 0),
        other => panic!("{other:?}"),
    }
}

#[test]
fn self_metrics_report_what_was_sent() {
    let rx = CaptureServer::start(vec![Answer::Reply(204, "")]);
    let r = registry();
    let w = writer(&rx.url(), &r).register_self_metrics(&r).unwrap();
    w.write_once().unwrap();
    // 3 series + the writer's 7 families, all 0 at that first collection.
    assert_eq!(w.stats().samples_sent, 10);
    let text = r.encode_to_string(tachymeter::Format::Text);
    assert!(
        text.contains("\ntachymeter_remote_write_samples_sent_total 10\n"),
        "{text}"
    );
    assert!(
        text.contains("\ntachymeter_remote_write_samples_dropped_total 0\n"),
        "{text}"
    );
    let sent = decode_write_request(&rx.requests()[0].body).unwrap();
    assert!(sent
        .iter()
        .any(|s| s.labels["__name__"] == "tachymeter_remote_write_samples_failed_total"));
}
