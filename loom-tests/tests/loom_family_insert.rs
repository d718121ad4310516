//! loom model: two threads creating the same child get the same series.
#![cfg(tachymeter_loom)]

use loom::thread;
use tachymeter::Counter;

#[test]
fn racing_creators_share_one_child() {
    loom::model(|| {
        let fam = Counter::builder("c_total", "C.")
            .labels(["k"])
            .build()
            .unwrap();
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let fam = fam.clone();
                thread::spawn(move || fam.with_label_values(&["x"]).inc())
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(fam.len(), 1);
        assert_eq!(fam.with_label_values(&["x"]).get(), 2.0);
    });
}

#[test]
fn remove_racing_increment_never_corrupts() {
    loom::model(|| {
        let fam = Counter::builder("c_total", "C.")
            .labels(["k"])
            .build()
            .unwrap();
        let h = fam.with_label_values(&["x"]);
        let t = {
            let fam = fam.clone();
            thread::spawn(move || fam.with(&["x"], |c| c.inc()).unwrap())
        };
        let removed = fam.remove(&["x"]).unwrap();
        t.join().unwrap();
        assert!(removed);
        // The increment landed either in the removed child or in a fresh one; never lost.
        let fresh = if fam.is_empty() {
            0.0
        } else {
            fam.with_label_values(&["x"]).get()
        };
        assert_eq!(h.get() + fresh, 1.0);
    });
}
