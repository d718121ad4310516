//! Regression tests for panics and aborts on user-controlled input (issue 8, item 5): each
//! input now gets a typed error (or a documented limit) instead of a panic, an abort or a
//! runaway loop. Each test failed (or crashed the test binary) before its fix.

mod support;

use tachymeter::{BucketError, Buckets};

#[test]
fn bucket_helpers_refuse_more_than_the_documented_maximum() {
    let max = Buckets::MAX_BUCKETS;
    for count in [usize::MAX, 1 << 34, max + 1] {
        assert_eq!(
            Buckets::linear(0.0, 1.0, count),
            Err(BucketError::TooMany { count, max }),
            "{count}"
        );
        assert_eq!(
            Buckets::exponential(1.0, 1.0001, count),
            Err(BucketError::TooMany { count, max }),
            "{count}"
        );
    }
    assert_eq!(Buckets::linear(0.0, 1.0, max).unwrap().bounds().len(), max);
    // An endless iterator is cut off rather than collected.
    assert_eq!(
        Buckets::new((0..).map(f64::from)),
        Err(BucketError::TooMany {
            count: max + 1,
            max
        })
    );
    // A trailing +Inf does not count against the limit.
    let exact = (0..max).map(|i| i as f64).chain([f64::INFINITY]);
    assert_eq!(Buckets::new(exact).unwrap().bounds().len(), max);
}

#[test]
fn summary_window_limits_are_typed_errors() {
    use std::time::Duration;
    use tachymeter::quantile::{WindowError, MAX_AGE_BUCKETS, MAX_MAX_AGE};
    use tachymeter::{Registry, Summary};
    let b = || {
        Summary::builder("s", "S.")
            .objectives(&[(0.5, 0.05)])
            .unwrap()
    };
    // Duration::MAX overflowed `Instant + period` (a panic at the first observation or
    // registration, depending on the bucket count).
    for age_buckets in [1, 5] {
        let e = b()
            .age_buckets(age_buckets)
            .unwrap()
            .max_age(Duration::MAX)
            .unwrap_err();
        assert_eq!(
            e,
            WindowError::MaxAgeTooLong {
                max_age: Duration::MAX,
                max: MAX_MAX_AGE
            }
        );
    }
    // 2^32 - 1 buckets aborted the process allocating 256 GiB.
    for age_buckets in [u32::MAX as usize, MAX_AGE_BUCKETS + 1] {
        assert_eq!(
            b().age_buckets(age_buckets).unwrap_err(),
            WindowError::TooManyBuckets {
                age_buckets,
                max: MAX_AGE_BUCKETS
            }
        );
    }
    // The limits themselves work.
    let r = Registry::new();
    let s = b()
        .max_age(MAX_MAX_AGE)
        .unwrap()
        .age_buckets(1)
        .unwrap()
        .register(&r)
        .unwrap();
    s.observe(1.0);
    assert_eq!(s.quantile(0.5), 1.0);
    let _ = b()
        .age_buckets(MAX_AGE_BUCKETS)
        .unwrap()
        .register(&Registry::new())
        .unwrap();
}

#[cfg(feature = "push")]
mod push {
    use std::time::{Duration, Instant};

    use super::support::{self, Answer, CaptureServer};
    use tachymeter::http::{BackgroundPusher, PushError};
    use tachymeter::{Pusher, Registry};

    /// `timeout(Duration::MAX)` then `push()` panicked with an `Instant` overflow.
    #[test]
    fn a_huge_timeout_is_capped_not_a_panic() {
        let server = CaptureServer::start(vec![Answer::Reply(200, "")]);
        let p = Pusher::new(&server.addr().to_string(), "j")
            .unwrap()
            .timeout(Duration::MAX);
        assert_eq!(p.request_timeout(), Pusher::MAX_TIMEOUT);
        p.push(&Registry::new()).unwrap();
        assert_eq!(server.requests().len(), 1);
    }

    /// An interval of zero pushed thousands of times a second.
    #[test]
    fn background_interval_has_a_minimum() {
        let server = CaptureServer::start(vec![Answer::Reply(200, "")]);
        let p = Pusher::new(&server.addr().to_string(), "j").unwrap();
        let started = Instant::now();
        let bg = p.spawn_background(&Registry::new(), Duration::ZERO);
        assert_eq!(bg.interval(), BackgroundPusher::MIN_INTERVAL);
        std::thread::sleep(Duration::from_millis(500));
        bg.shutdown().unwrap();
        let elapsed = started.elapsed();
        let pushes = server.requests().len() as u128;
        // One at once, one per interval, one on shutdown.
        let most = elapsed.as_millis() / BackgroundPusher::MIN_INTERVAL.as_millis() + 2;
        assert!(pushes <= most, "{pushes} pushes in {elapsed:?}");
    }

    /// A panicking request hook killed the background thread while its stats said nothing
    /// failed; a one-off push unwound into the caller.
    #[test]
    fn a_panicking_hook_is_a_failed_push_and_the_pusher_keeps_going() {
        let server = CaptureServer::start(vec![Answer::Reply(200, "")]);
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let seen = calls.clone();
        let p = Pusher::new(&server.addr().to_string(), "j")
            .unwrap()
            .request_hook(move |req| {
                // Panics on the first two requests only.
                if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
                    panic!("hook bug");
                }
                req.set_header("X-Ok", "1");
            });
        let e = p.push(&Registry::new()).unwrap_err();
        assert!(
            matches!(&e, PushError::HookPanicked { message } if message == "hook bug"),
            "{e:?}"
        );
        assert!(server.requests().is_empty(), "nothing sent");

        let bg = p.spawn_background(&Registry::new(), BackgroundPusher::MIN_INTERVAL);
        let ok = support::wait_until(Duration::from_secs(10), Duration::from_millis(10), || {
            (bg.successes() >= 1).then_some(())
        });
        assert!(ok.is_some(), "{bg:?}");
        assert_eq!(bg.failures(), 1);
        assert!(matches!(
            bg.last_error(),
            Some(PushError::HookPanicked { .. })
        ));
        bg.shutdown().unwrap();
        assert!(server
            .requests()
            .iter()
            .all(|r| r.header("X-Ok") == Some("1")));
    }

    /// A custom collector that panicked during a background push ended the pusher's
    /// thread; a one-off push unwound into the caller.
    #[test]
    fn a_panicking_collector_is_a_failed_push_and_the_pusher_keeps_going() {
        use tachymeter::{Collector, Descriptor, EncodeError, MetricType, MetricWriter};
        /// Panics on its first two collections, then writes a gauge.
        struct Flaky(std::sync::atomic::AtomicU32);
        impl Collector for Flaky {
            fn describe(&self) -> Vec<Descriptor> {
                vec![Descriptor::new("flaky", "Flaky.", MetricType::Gauge, &[]).unwrap()]
            }
            fn collect(&self, w: &mut MetricWriter<'_>) -> Result<(), EncodeError> {
                if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
                    panic!("collector bug");
                }
                let d = &self.describe()[0];
                if let Some(mut f) = w.family(d) {
                    f.sample("", &[], 1.0)?;
                }
                Ok(())
            }
        }
        let server = CaptureServer::start(vec![Answer::Reply(200, "")]);
        let r = Registry::new();
        r.register(Flaky(std::sync::atomic::AtomicU32::new(0)))
            .unwrap();
        let p = Pusher::new(&server.addr().to_string(), "j").unwrap();
        let e = p.push(&r).unwrap_err();
        assert!(
            matches!(&e, PushError::CollectorPanicked { message } if message == "collector bug"),
            "{e:?}"
        );
        assert!(server.requests().is_empty(), "nothing sent");

        let bg = p.spawn_background(&r, BackgroundPusher::MIN_INTERVAL);
        let ok = support::wait_until(Duration::from_secs(10), Duration::from_millis(10), || {
            (bg.successes() >= 1).then_some(())
        });
        assert!(ok.is_some(), "{bg:?}");
        assert_eq!(bg.failures(), 1);
        bg.shutdown().unwrap();
        assert!(server
            .requests()
            .iter()
            .all(|r| String::from_utf8_lossy(&r.body).contains("flaky 1")));
    }
}
