//! loom models of the per-thread slots behind counters: each writer's first write creating its
//! slot (and the directory chunks on the way), the overflow slot, and the hand-over of a thread
//! index at thread exit.
#![cfg(tachymeter_loom)]

use loom::thread;
use tachymeter::Counter;

/// Two threads increment one counter while the main thread reads: no increment is lost, and
/// every read is between 0 and the final total.
#[test]
fn concurrent_increments_against_a_reader() {
    loom::model(|| {
        let c = Counter::new();
        let a = {
            let c = c.clone();
            thread::spawn(move || {
                c.inc();
                c.inc_by(2);
            })
        };
        let b = {
            let c = c.clone();
            thread::spawn(move || c.inc_by(10))
        };
        let seen = c.get();
        assert!((0.0..=13.0).contains(&seen), "read {seen}");
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(c.get(), 13.0);
    });
}

/// A thread that exits hands its index (and so its slot) to the next thread: the next owner
/// must see the departed thread's count and add to it, never overwrite it.
#[test]
fn shard_hand_over_at_thread_exit() {
    loom::model(|| {
        let c = Counter::new();
        let first = {
            let c = c.clone();
            thread::spawn(move || c.inc_by(5))
        };
        first.join().unwrap();
        // Reuses the exited thread's index.
        let second = {
            let c = c.clone();
            thread::spawn(move || c.inc_by(7))
        };
        // Races with the second thread, which may inflate the counter.
        c.inc();
        second.join().unwrap();
        assert_eq!(c.get(), 13.0);
    });
}

/// Exit while another thread is inflating: the hand-over through the index pool and the
/// inflation race together lose nothing.
#[test]
fn exit_racing_inflation() {
    loom::model(|| {
        let c = Counter::new();
        let t1 = {
            let c = c.clone();
            thread::spawn(move || c.inc())
        };
        let t2 = {
            let c = c.clone();
            thread::spawn(move || c.inc_by_f64(0.5))
        };
        t1.join().unwrap();
        let t3 = {
            let c = c.clone();
            thread::spawn(move || c.inc_by(4))
        };
        t2.join().unwrap();
        t3.join().unwrap();
        assert_eq!(c.get(), 5.5);
    });
}

/// Under loom a metric keeps one slot pointer inline (claimed by whichever thread writes first),
/// the directory's chunks hold one and then two, and only two thread indices get slots of
/// their own: three writers racing their first writes race for the inline slot, create the
/// directory's chunks and the overflow slot (one allocation wins each race), and a reader
/// walking the slots meanwhile sees each once, fully initialised.
#[test]
fn first_writes_racing_directory_growth_and_a_reader() {
    loom::model(|| {
        let c = Counter::new();
        let spawn = |n: u64| {
            let c = c.clone();
            thread::spawn(move || c.inc_by(n))
        };
        let (a, b) = (spawn(1), spawn(10));
        c.inc_by(100);
        let seen = c.get();
        assert!(
            [100.0, 101.0, 110.0, 111.0].contains(&seen),
            "read {seen}: a slot counted twice or torn"
        );
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(c.get(), 111.0);
    });
}
