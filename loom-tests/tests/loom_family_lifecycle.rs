//! loom models of a family's child life cycle: removal racing a lookup of the same labels
//! and a scrape, and compaction of the creation-order list racing a scrape (under loom a
//! segment holds 2 children, so a few children span several segments and compaction runs
//! after two removals).
#![cfg(tachymeter_loom)]

use loom::thread;
use tachymeter::{Counter, Format, Registry};

/// The label values of the `c_total` samples of a text scrape, in order.
fn scraped(r: &Registry) -> Vec<String> {
    r.encode_to_string(Format::Text)
        .lines()
        .filter_map(|l| l.strip_prefix("c_total{k=\""))
        .map(|l| l.split_once('"').unwrap().0.to_owned())
        .collect()
}

fn family(r: &Registry) -> tachymeter::Family<Counter> {
    Counter::builder("c_total", "C.")
        .labels(["k"])
        .register(r)
        .unwrap()
}

/// A removal and a lookup of the same labels race a scrape: the scrape lists every child at
/// most once and always the one nobody touched; the increment lands in the removed child or
/// in a new one (never lost); the family and a later scrape agree.
#[test]
fn removal_racing_a_lookup_and_a_scrape() {
    loom::model(|| {
        let r = Registry::builder().created_samples(false).build();
        let fam = family(&r);
        let a = fam.with_label_values(&["a"]);
        let _b = fam.with_label_values(&["b"]);
        let remover = {
            let fam = fam.clone();
            thread::spawn(move || assert!(fam.remove(&["a"]).unwrap()))
        };
        let looker = {
            let fam = fam.clone();
            thread::spawn(move || fam.with(&["a"], |c| c.inc()).unwrap())
        };
        let seen = scraped(&r);
        assert_eq!(seen.iter().filter(|k| *k == "b").count(), 1, "{seen:?}");
        assert!(seen.iter().filter(|k| *k == "a").count() <= 1, "{seen:?}");
        remover.join().unwrap();
        looker.join().unwrap();
        let fresh = if fam.len() == 2 {
            fam.with_label_values(&["a"]).get()
        } else {
            0.0
        };
        assert_eq!(a.get() + fresh, 1.0);
        let after = scraped(&r);
        assert_eq!(after.len(), fam.len(), "{after:?}");
    });
}

/// Two removals (the second compacts the list unless a scrape is walking it) and a creation
/// race a scrape: every child present throughout is listed exactly once, in creation order;
/// afterwards the list and the index agree, and positions stay valid for later removals.
#[test]
fn compaction_and_creation_racing_a_scrape() {
    loom::model(|| {
        let r = Registry::builder().created_samples(false).build();
        let fam = family(&r);
        for k in ["a", "b", "c"] {
            let _ = fam.with_label_values(&[k]);
        }
        let writer = {
            let fam = fam.clone();
            thread::spawn(move || {
                assert!(fam.remove(&["a"]).unwrap());
                assert!(fam.remove(&["b"]).unwrap());
                let _ = fam.with_label_values(&["d"]);
            })
        };
        let seen = scraped(&r);
        let c = seen.iter().position(|k| k == "c");
        assert!(c.is_some(), "{seen:?}");
        for k in ["a", "b", "c", "d"] {
            assert!(seen.iter().filter(|s| *s == k).count() <= 1, "{seen:?}");
        }
        // Creation order: a before b before c before d, whatever subset is seen.
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted);
        writer.join().unwrap();
        assert_eq!(scraped(&r), ["c", "d"]);
        assert!(fam.remove(&["c"]).unwrap());
        assert_eq!(scraped(&r), ["d"]);
    });
}
