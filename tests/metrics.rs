//! Behaviour of the metric types through the public API.

use std::sync::{Arc, Barrier};
use std::thread;

use tachymeter::{BucketError, Buckets, Counter, CounterError, Gauge, Histogram};

#[test]
fn counter_counts_exactly_across_threads_and_thread_exits() {
    let c = Counter::new();
    c.inc();
    // Threads that exit hand their index back; their counts must stay in the total.
    for round in 0..5u64 {
        let handles: Vec<_> = (0..6)
            .map(|t| {
                let c = c.clone();
                thread::spawn(move || {
                    for _ in 0..1000 {
                        c.inc();
                    }
                    c.inc_by(round * 10 + t);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
    let extra: u64 = (0..5u64)
        .flat_map(|r| (0..6u64).map(move |t| r * 10 + t))
        .sum();
    assert_eq!(c.get(), (1 + 5 * 6 * 1000 + extra) as f64);
    assert!(
        c.is_sharded(),
        "a second writer thread must inflate the counter"
    );
}

#[test]
fn counter_touched_by_one_thread_stays_unsharded() {
    let c = Counter::new();
    for _ in 0..100 {
        c.inc();
    }
    assert!(!c.is_sharded());
    assert_eq!(c.get(), 100.0);
}

#[test]
fn counter_refuses_bad_increments_without_corruption() {
    let c = Counter::new();
    c.inc_by_f64(1.5);
    assert_eq!(c.try_inc_by_f64(-1.0), Err(CounterError::Negative(-1.0)));
    assert!(matches!(
        c.try_inc_by_f64(f64::NAN),
        Err(CounterError::NotFinite(_))
    ));
    assert_eq!(
        c.try_inc_by_f64(f64::INFINITY),
        Err(CounterError::NotFinite(f64::INFINITY))
    );
    c.inc_by_f64(-5.0); // ignored
    c.inc_by_f64(f64::NAN); // ignored
    assert_eq!(c.get(), 1.5);
    c.inc_by_f64(2.0); // integral: goes to the exact part
    assert_eq!(c.get(), 3.5);
}

#[test]
fn counter_keeps_u64_exact_beyond_f64_precision() {
    let c = Counter::new();
    c.inc_by((1 << 53) + 1);
    let reg = tachymeter::Registry::new();
    let fam = Counter::builder("big_total", "Big.").build().unwrap();
    fam.with_label_values(&[]).inc_by((1 << 53) + 1);
    reg.register(fam).unwrap();
    let body = reg.encode_to_string(tachymeter::Format::Text);
    assert!(body.contains("big_total 9007199254740993\n"), "{body}");
}

#[test]
fn gauge_set_inc_dec_and_guards() {
    let g = Gauge::new();
    g.set(10.0);
    g.inc();
    g.dec();
    g.dec();
    g.add(0.5);
    g.sub(2.0);
    assert_eq!(g.get(), 7.5);
    {
        let _a = g.track_inprogress();
        let _b = g.track_inprogress();
        assert_eq!(g.get(), 9.5);
    }
    assert_eq!(g.get(), 7.5);
    g.set_to_current_time();
    assert!(g.get() > 1.7e9, "unix time in seconds, got {}", g.get());
    {
        let _t = g.start_timer();
    }
    assert!(g.get() >= 0.0 && g.get() < 1.0);
}

#[test]
fn gauge_adds_from_many_threads_are_not_lost() {
    let g = Gauge::new();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let g = g.clone();
            thread::spawn(move || {
                for _ in 0..10_000 {
                    g.inc();
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(g.get(), 40_000.0);
}

#[test]
fn gauge_set_replaces_the_adds_of_every_thread_exactly() {
    let g = Gauge::new();
    g.add(1.5); // the home slot, before the gauge spreads
    assert!(!g.is_sharded(), "one thread keeps one slot");
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..1000 {
                    g.inc();
                }
                g.dec();
            });
        }
    });
    assert!(g.is_sharded());
    assert_eq!(g.get(), 1.5 + 3.0 * 999.0);
    // A set from a thread that never added replaces the home slot's and every shard's adds,
    // including those of threads that have exited.
    thread::spawn({
        let g = g.clone();
        move || g.set(-7.0)
    })
    .join()
    .unwrap();
    assert_eq!(g.get(), -7.0);
    // Adds after the set count on top of it, from old and new threads alike.
    g.add(2.0);
    thread::scope(|s| {
        s.spawn(|| g.sub(0.5));
    });
    assert_eq!(g.get(), -5.5);
    // And a later set by the main thread replaces those, then its own next add counts.
    g.set(100.0);
    assert_eq!(g.get(), 100.0);
    g.inc();
    assert_eq!(g.get(), 101.0);
}

#[test]
fn gauge_sets_and_adds_from_threads_past_the_shard_count() {
    // More threads holding an index at once than a gauge has shards (at most the next power
    // of two above the parallelism): several share the overflow slot.
    let n = thread::available_parallelism()
        .map_or(4, usize::from)
        .next_power_of_two()
        .min(256)
        * 2
        + 3;
    let g = Gauge::new();
    let barrier = Barrier::new(n);
    let turn = std::sync::Mutex::new(());
    thread::scope(|s| {
        for k in 0..n {
            let (g, barrier, turn) = (&g, &barrier, &turn);
            s.spawn(move || {
                barrier.wait();
                for _ in 0..100 {
                    g.inc();
                }
                barrier.wait();
                // One thread at a time (the others wait on the lock, adding nothing): each
                // set must replace every add so far, wherever the setter's slot is.
                let _turn = turn.lock().unwrap();
                g.set(k as f64);
                assert_eq!(g.get(), k as f64);
                g.add(0.25);
                assert_eq!(g.get(), k as f64 + 0.25);
                drop(_turn);
                barrier.wait();
            });
        }
    });
    let last = g.get();
    assert_eq!(
        last.fract(),
        0.25,
        "the last setter's value plus its add: {last}"
    );
    assert!((0.25..n as f64).contains(&last));
}

#[test]
fn gauge_in_progress_from_many_threads_returns_to_zero() {
    let g = Gauge::new();
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    let _in = g.track_inprogress();
                }
            });
        }
        // A concurrent reader sees between 0 and 4 requests in progress.
        s.spawn(|| {
            for _ in 0..10_000 {
                let v = g.get();
                assert!((0.0..=4.0).contains(&v) && v.fract() == 0.0, "read {v}");
            }
        });
    });
    assert_eq!(g.get(), 0.0);
}

#[test]
fn gauge_reads_during_sets_see_a_set_plus_whole_adds() {
    // Adders add 1 at a time; a setter sets multiples of 2^20 (more than all adds together).
    // Every read must be one of those bases plus a whole number of adds no larger than the
    // adds made: never a torn value or a base from a ring entry reused under it.
    const ADDS: u32 = 20_000;
    const BASE: f64 = 1_048_576.0;
    let g = Gauge::new();
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..ADDS {
                    g.inc();
                }
            });
        }
        s.spawn(|| {
            for i in 1..=2000 {
                g.set(BASE * f64::from(i));
            }
        });
        s.spawn(|| {
            for _ in 0..20_000 {
                let v = g.get();
                let base = (v / BASE).floor();
                let adds = v - base * BASE;
                assert!(
                    (0.0..=2000.0).contains(&base)
                        && adds.fract() == 0.0
                        && adds <= f64::from(2 * ADDS),
                    "read {v}"
                );
            }
        });
    });
    // After the setter's last set, only adds made after it remain.
    let v = g.get();
    assert!(
        v >= 2000.0 * BASE && v <= 2000.0 * BASE + f64::from(2 * ADDS),
        "{v}"
    );
}

#[test]
fn bucket_validation() {
    assert_eq!(Buckets::new([]), Err(BucketError::Empty));
    assert_eq!(Buckets::new([f64::INFINITY]), Err(BucketError::Empty));
    assert!(matches!(
        Buckets::new([1.0, f64::NAN]),
        Err(BucketError::NotFinite(_))
    ));
    assert_eq!(
        Buckets::new([1.0, 1.0]),
        Err(BucketError::NotIncreasing {
            previous: 1.0,
            next: 1.0
        })
    );
    assert_eq!(
        Buckets::new([2.0, 1.0]),
        Err(BucketError::NotIncreasing {
            previous: 2.0,
            next: 1.0
        })
    );
    assert_eq!(
        Buckets::new([1.0, 2.0, f64::INFINITY]).unwrap().bounds(),
        &[1.0, 2.0]
    );
    assert_eq!(Buckets::default().bounds(), &Buckets::DEFAULT);
    assert_eq!(
        Buckets::linear(1.0, 0.5, 3).unwrap().bounds(),
        &[1.0, 1.5, 2.0]
    );
    assert_eq!(
        Buckets::exponential(1.0, 2.0, 4).unwrap().bounds(),
        &[1.0, 2.0, 4.0, 8.0]
    );
    assert_eq!(
        Buckets::linear(1.0, 0.0, 3),
        Err(BucketError::InvalidParameters)
    );
    assert_eq!(
        Buckets::linear(1.0, 1.0, 0),
        Err(BucketError::InvalidParameters)
    );
    assert_eq!(
        Buckets::exponential(0.0, 2.0, 3),
        Err(BucketError::InvalidParameters)
    );
    assert_eq!(
        Buckets::exponential(1.0, 1.0, 3),
        Err(BucketError::InvalidParameters)
    );
}

#[test]
fn histogram_buckets_are_upper_inclusive_and_cumulative() {
    let h = Histogram::new(Arc::new(Buckets::new([1.0, 2.0, 5.0]).unwrap()));
    for v in [
        0.5,
        1.0,
        1.0001,
        2.0,
        4.9,
        5.0,
        5.1,
        100.0,
        f64::INFINITY,
        -3.0,
    ] {
        h.observe(v);
    }
    h.observe(f64::NAN); // ignored
    assert_eq!(h.cumulative_counts(), vec![3, 5, 7, 10]);
    assert_eq!(h.count(), 10);
    assert_eq!(h.sum(), f64::INFINITY);
}

#[test]
fn histogram_timer_observes_once() {
    let h = Histogram::new(Arc::new(Buckets::default()));
    {
        let _t = h.start_timer();
    }
    let d = h.start_timer().observe_duration();
    assert!(d >= 0.0);
    h.start_timer().stop_and_discard();
    assert_eq!(h.count(), 2);
}

/// Observers keep writing while a reader snapshots: every snapshot must be consistent
/// (cumulative, non-decreasing, `+Inf` == count).
#[test]
fn histogram_snapshots_stay_consistent_under_concurrent_observes() {
    let h = Histogram::new(Arc::new(Buckets::new([1.0, 2.0, 3.0]).unwrap()));
    let start = Arc::new(Barrier::new(3));
    let writers: Vec<_> = (0..2)
        .map(|t| {
            let h = h.clone();
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                for i in 0..200_000u32 {
                    h.observe(f64::from((i + t) % 5));
                }
            })
        })
        .collect();
    start.wait();
    let mut last_total = 0;
    for _ in 0..2_000 {
        let c = h.cumulative_counts();
        assert!(c.windows(2).all(|w| w[0] <= w[1]), "{c:?}");
        assert!(*c.last().unwrap() >= last_total);
        last_total = *c.last().unwrap();
    }
    writers.into_iter().for_each(|w| w.join().unwrap());
    assert_eq!(h.count(), 400_000);
    assert_eq!(
        h.sum(),
        (0..200_000u32)
            .map(|i| f64::from(i % 5) + f64::from((i + 1) % 5))
            .sum::<f64>()
    );
}

/// Histograms with more buckets than fit inline in a slot keep the rest in chunks: every
/// bucket must count, on the home slot and on per-thread shards alike.
#[test]
fn histograms_with_many_buckets_count_every_bucket() {
    for n in [1usize, 11, 12, 13, 28, 29, 45] {
        let h = Histogram::new(Arc::new(Buckets::linear(1.0, 1.0, n).unwrap()));
        // One observation per bucket (value i+1 lands in bucket i), then +Inf.
        let observe_all = |h: &Histogram| {
            for i in 0..=n {
                h.observe((i + 1) as f64);
            }
        };
        observe_all(&h);
        thread::scope(|s| {
            s.spawn(|| observe_all(&h));
        });
        let want: Vec<u64> = (1..=n as u64 + 1).map(|k| 2 * k).collect();
        assert_eq!(h.cumulative_counts(), want, "{n} buckets");
        assert_eq!(h.count(), 2 * (n as u64 + 1));
    }
}

#[test]
fn counter_whole_f64_increments_are_exposed_as_exact_integers() {
    for v in [
        0.0,
        -0.0,
        1.0,
        3.0,
        4_503_599_627_370_495.0,
        4_503_599_627_370_496.0,
        9_007_199_254_740_991.0,
    ] {
        // All in the integer part: the sum prints as an exact integer.
        let reg = tachymeter::Registry::builder()
            .created_samples(false)
            .build();
        let fam = Counter::builder("x_total", "X.").build().unwrap();
        fam.with_label_values(&[]).inc_by_f64(v);
        fam.with_label_values(&[]).inc_by((1 << 53) + 1);
        reg.register(fam).unwrap();
        let want = format!("x_total {}\n", v as u64 + (1 << 53) + 1);
        assert!(
            reg.encode_to_string(tachymeter::Format::Text)
                .ends_with(&want),
            "{v}"
        );
    }
    // Not whole, or past 2^53: the float part.
    let c = Counter::new();
    c.inc_by_f64(0.5);
    c.inc_by_f64(4_503_599_627_370_495.5);
    c.inc_by_f64(1e300);
    assert_eq!(c.get(), 1e300);
}
