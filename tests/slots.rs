//! Per-thread slots under churn: metrics created and dropped while short-lived threads (whose
//! thread indices are reused) write them, more threads than cores, every total checked.
//! Bounded: a fixed number of rounds and threads, each thread a fixed number of updates.

use std::sync::Barrier;

use tachymeter::{Counter, Gauge, Histogram, Registry};

const THREADS: usize = 12;
const ROUNDS: usize = 40;
const OPS: u64 = 500;

#[test]
fn counters_keep_every_increment_through_slot_reuse_and_index_reuse() {
    for round in 0..ROUNDS {
        // A fresh counter each round: the last round's slots went back to their slabs and are
        // handed out again, so a slot that was not reset or was freed twice shows up here.
        let c = Counter::new();
        let barrier = Barrier::new(THREADS);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let c = &c;
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    for _ in 0..OPS {
                        c.inc();
                    }
                    c.inc_by_f64(0.5 * (t % 2) as f64);
                });
            }
        });
        let expected = (THREADS as u64 * OPS) as f64 + 0.5 * (THREADS / 2) as f64;
        assert_eq!(c.get(), expected, "round {round}");
    }
}

#[test]
fn a_family_written_from_many_threads_encodes_every_child_once_with_its_total() {
    let registry = Registry::builder().created_samples(false).build();
    let fam = Counter::builder("churn_total", "Churn.")
        .labels(["k"])
        .register(&registry)
        .unwrap();
    let keys: Vec<String> = (0..64).map(|i| format!("k{i}")).collect();
    for round in 0..8 {
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (fam, keys) = (&fam, &keys);
                s.spawn(move || {
                    // Each thread writes every child, from a different starting point.
                    for i in 0..keys.len() {
                        let k = &keys[(i + t * 5) % keys.len()];
                        fam.with_label_values(&[k]).inc_by(2);
                    }
                });
            }
        });
        let body = registry.encode_to_string(tachymeter::Format::Text);
        let want = 2 * THREADS as u64 * (round + 1);
        for k in &keys {
            let line = format!("churn_total{{k=\"{k}\"}} {want}\n");
            assert_eq!(body.matches(&line).count(), 1, "round {round}: {line}");
        }
        // Remove half of them (their slots go back to the slabs) and recreate them at the
        // same total, so that the next round expects one figure for every child.
        for k in keys.iter().step_by(2) {
            assert!(fam.remove(&[k]).unwrap());
        }
        for k in keys.iter().step_by(2) {
            fam.with_label_values(&[k]).inc_by(want);
        }
    }
}

#[test]
fn gauges_and_histograms_sum_every_thread_through_reuse() {
    for round in 0..ROUNDS / 4 {
        let g = Gauge::new();
        let h = Histogram::new(std::sync::Arc::new(
            tachymeter::Buckets::new([1.0, 2.0]).unwrap(),
        ));
        g.set(10.0);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                let (g, h) = (&g, &h);
                s.spawn(move || {
                    for i in 0..OPS {
                        g.add(1.0);
                        g.sub(0.5);
                        h.observe((i % 3) as f64);
                    }
                });
            }
        });
        assert_eq!(
            g.get(),
            10.0 + 0.5 * (THREADS as u64 * OPS) as f64,
            "round {round}"
        );
        assert_eq!(h.count(), THREADS as u64 * OPS, "round {round}");
        g.set(-1.0);
        assert_eq!(g.get(), -1.0, "a set replaces every thread's adds");
    }
}
