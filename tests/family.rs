//! Labelled families: lookup, identity of label sets, removal.

use std::thread;

use tachymeter::{Counter, Format, Gauge, LabelError, Registry};

#[test]
fn label_sets_that_concatenate_alike_are_distinct_series() {
    let fam = Counter::builder("c_total", "C.")
        .labels(["a", "b"])
        .build()
        .unwrap();
    fam.with_label_values(&["ab", "c"]).inc();
    fam.with_label_values(&["a", "bc"]).inc_by(10);
    fam.with_label_values(&["", "abc"]).inc_by(100);
    assert_eq!(fam.len(), 3);
    assert_eq!(fam.with_label_values(&["ab", "c"]).get(), 1.0);
    assert_eq!(fam.with_label_values(&["a", "bc"]).get(), 10.0);
    assert_eq!(fam.with_label_values(&["", "abc"]).get(), 100.0);
}

#[test]
fn wrong_arity_is_a_typed_error() {
    let fam = Counter::builder("c_total", "C.")
        .labels(["a", "b"])
        .build()
        .unwrap();
    assert_eq!(
        fam.try_with_label_values(&["x"]).unwrap_err(),
        LabelError::Cardinality {
            expected: 2,
            got: 1
        }
    );
    assert!(fam.with(&["x", "y", "z"], |c| c.inc()).is_err());
    assert!(fam.remove(&[]).is_err());
    assert!(fam.is_empty(), "a failed lookup must not create a child");
}

#[test]
#[should_panic(expected = "expected 1 label value(s), got 0")]
fn with_label_values_panics_on_wrong_arity() {
    let fam = Gauge::builder("g", "G.").labels(["a"]).build().unwrap();
    let _ = fam.with_label_values(&[]);
}

#[test]
fn handles_share_the_child() {
    let fam = Counter::builder("c_total", "C.")
        .labels(["a"])
        .build()
        .unwrap();
    let h1 = fam.with_label_values(&["x"]);
    let h2 = fam.with_label_values(&["x"]);
    h1.inc();
    h2.inc();
    fam.with(&["x"], |c| c.inc()).unwrap();
    assert_eq!(h1.get(), 3.0);
}

#[test]
fn remove_and_clear_drop_series_from_exposition() {
    let reg = Registry::new();
    let fam = Counter::builder("c_total", "C.")
        .labels(["a"])
        .register(&reg)
        .unwrap();
    let kept = fam.with_label_values(&["x"]);
    fam.with_label_values(&["y"]).inc();
    kept.inc();
    assert_eq!(fam.remove(&["x"]), Ok(true));
    assert_eq!(fam.remove(&["x"]), Ok(false));
    kept.inc(); // still usable, just no longer exposed
    let body = reg.encode_to_string(Format::Text);
    assert!(!body.contains("a=\"x\""), "{body}");
    assert!(body.contains("c_total{a=\"y\"} 1\n"), "{body}");
    // A new child for the removed values starts from zero.
    assert_eq!(fam.with_label_values(&["x"]).get(), 0.0);
    fam.clear();
    assert!(fam.is_empty());
    assert_eq!(
        reg.encode_to_string(Format::Text),
        "# HELP c_total C.\n# TYPE c_total counter\n"
    );
}

#[test]
fn racing_creators_get_one_series() {
    let fam = Counter::builder("c_total", "C.")
        .labels(["k"])
        .build()
        .unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let fam = fam.clone();
            thread::spawn(move || {
                for i in 0..500 {
                    fam.with_label_values(&[&format!("v{}", i % 50)]).inc();
                }
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(fam.len(), 50);
    let total: f64 = (0..50)
        .map(|i| fam.with_label_values(&[&format!("v{i}")]).get())
        .sum();
    assert_eq!(total, 2000.0);
}

#[test]
fn lookups_nest_inside_a_lookup_closure() {
    let fam = Counter::builder("c_total", "C.")
        .labels(["k"])
        .build()
        .unwrap();
    let other = Gauge::builder("g", "G.").labels(["k"]).build().unwrap();
    fam.with_label_values(&["a"]).inc();
    other.with_label_values(&["b"]).set(1.0);
    for _ in 0..3 {
        fam.with(&["a"], |c| {
            c.inc();
            // Same family and another one, from inside the closure.
            fam.with(&["a"], |c2| c2.inc()).unwrap();
            fam.with(&["new"], |c3| c3.inc()).unwrap();
            other.with(&["b"], |g| g.add(1.0)).unwrap();
        })
        .unwrap();
    }
    assert_eq!(fam.with_label_values(&["a"]).get(), 7.0);
    assert_eq!(fam.with_label_values(&["new"]).get(), 3.0);
    assert_eq!(other.with_label_values(&["b"]).get(), 4.0);
}

#[test]
fn removal_on_one_thread_is_seen_by_cached_lookups_on_another() {
    let fam = Counter::builder("c_total", "C.")
        .labels(["k"])
        .build()
        .unwrap();
    let (to_worker, worker_rx) = std::sync::mpsc::channel::<()>();
    let (to_main, main_rx) = std::sync::mpsc::channel::<()>();
    let worker = {
        let fam = fam.clone();
        thread::spawn(move || {
            fam.with(&["x"], |c| c.inc()).unwrap(); // caches the child on this thread
            to_main.send(()).unwrap();
            worker_rx.recv().unwrap(); // main removed it meanwhile
            fam.with(&["x"], |c| c.inc()).unwrap(); // must create a fresh child, not reuse
        })
    };
    main_rx.recv().unwrap();
    let old = fam.with_label_values(&["x"]);
    assert!(fam.remove(&["x"]).unwrap());
    to_worker.send(()).unwrap();
    worker.join().unwrap();
    assert_eq!(
        old.get(),
        1.0,
        "the removed child got no increment after removal"
    );
    assert_eq!(fam.with_label_values(&["x"]).get(), 1.0);
}
