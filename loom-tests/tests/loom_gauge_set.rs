//! loom models of the era-tagged gauge shards: adds racing a `set` (an add that loaded the old
//! era and stores after the set, a slot restarting under the new era while a reader walks the
//! slots), two setters (one adding through the shared overflow slot), a slot handed to the
//! next thread that gets its index, and two first adds racing to begin an era. Each read must
//! equal a state of one linearization, and the final value names which one.
#![cfg(tachymeter_loom)]

use loom::thread;
use tachymeter::Gauge;

/// The states a gauge passes through in the one linearization whose final value is `last`,
/// looked up in `(final value, states)` pairs.
fn states_for(last: f64, table: &[(f64, &'static [f64])]) -> &'static [f64] {
    match table.iter().find(|(f, _)| *f == last) {
        Some((_, states)) => states,
        None => panic!("final value {last} is no linearization's"),
    }
}

/// Thread A adds 1 then 2, thread B sets 10, the main thread reads. Whatever the interleaving,
/// the read is a state of the order the final value implies: set first (0, 10, 11, 13),
/// between the adds (0, 1, 10, 12) or last (0, 1, 3, 10).
#[test]
fn adds_racing_a_set_against_a_reader() {
    loom::model(|| {
        let g = Gauge::new();
        let a = {
            let g = g.clone();
            thread::spawn(move || {
                g.add(1.0);
                g.add(2.0);
            })
        };
        let b = {
            let g = g.clone();
            thread::spawn(move || g.set(10.0))
        };
        let seen = g.get();
        a.join().unwrap();
        b.join().unwrap();
        let last = g.get();
        let states = states_for(
            last,
            &[
                (13.0, &[0.0, 10.0, 11.0, 13.0]),
                (12.0, &[0.0, 1.0, 10.0, 12.0]),
                (10.0, &[0.0, 1.0, 3.0, 10.0]),
            ],
        );
        assert!(states.contains(&seen), "read {seen}, final {last}");
    });
}

/// Two setters race while the main thread (which has its own slot, after its add) reads. Under
/// loom only two thread indices get slots of their own, so the second spawned thread to
/// register adds through the shared overflow slot (a set needs no slot).
#[test]
fn two_setters_one_through_the_overflow_slot() {
    loom::model(|| {
        let g = Gauge::new();
        g.add(4.0);
        let a = {
            let g = g.clone();
            thread::spawn(move || g.set(1.0))
        };
        let b = {
            let g = g.clone();
            thread::spawn(move || {
                g.set(2.0);
                g.add(0.5);
            })
        };
        let seen = g.get();
        a.join().unwrap();
        b.join().unwrap();
        let last = g.get();
        let states = states_for(
            last,
            &[
                (2.5, &[4.0, 1.0, 2.0, 2.5]),
                (1.5, &[4.0, 2.0, 1.0, 1.5]),
                (1.0, &[4.0, 2.0, 2.5, 1.0]),
            ],
        );
        assert!(states.contains(&seen), "read {seen}, final {last}");
    });
}

/// A thread sets and adds, then exits; the next threads reuse its index (and so its slot,
/// whose sequence and sum they continue). The main thread's add races the second thread's
/// set, so it counts only if it comes after that set.
#[test]
fn slot_handed_over_at_thread_exit() {
    loom::model(|| {
        let g = Gauge::new();
        let first = {
            let g = g.clone();
            thread::spawn(move || {
                g.set(5.0);
                g.add(1.0);
            })
        };
        first.join().unwrap();
        assert_eq!(g.get(), 6.0);
        let second = {
            let g = g.clone();
            thread::spawn(move || {
                g.add(2.0);
                g.set(7.0);
                g.add(1.0);
            })
        };
        g.add(0.5);
        let seen = g.get();
        second.join().unwrap();
        let last = g.get();
        let states = states_for(
            last,
            &[
                // The main thread's add before the set: it is discarded.
                (8.0, &[6.5, 8.5, 7.0, 8.0]),
                // After it.
                (8.5, &[7.5, 7.0, 8.0, 8.5]),
            ],
        );
        // The main thread reads after its own add.
        assert!(states.contains(&seen), "read {seen}, final {last}");
    });
}

/// Two first adds after a set race to begin the era while the main thread reads: exactly
/// one add's compare-and-swap begins it, the other's fails and counts under that era, so no
/// add is lost or counted twice. (Adds racing a set are the first model's.)
#[test]
fn first_adds_racing_to_begin_an_era() {
    loom::model(|| {
        let g = Gauge::new();
        g.set(5.0);
        let adders: Vec<_> = [1.0, 2.0]
            .into_iter()
            .map(|v| {
                let g = g.clone();
                thread::spawn(move || g.add(v))
            })
            .collect();
        let seen = g.get();
        for a in adders {
            a.join().unwrap();
        }
        assert_eq!(g.get(), 8.0);
        assert!([5.0, 6.0, 7.0, 8.0].contains(&seen), "read {seen}");
    });
}
