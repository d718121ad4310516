//! loom model of the exemplar side structure: two threads race to allocate it (the
//! compare-and-swap that publishes it) and to replace the exemplar, while a scrape reads it.
#![cfg(tachymeter_loom)]

use loom::thread;
use tachymeter::{Counter, Format, Registry};

/// The counter's sample line, with the exemplar's trailing timestamp cut off.
fn sample_line(r: &Registry) -> String {
    let body = r.encode_to_string(Format::OpenMetrics);
    let line = body.lines().find(|l| l.starts_with("c_total")).unwrap();
    match line.find(" # {") {
        Some(_) => line.rsplit_once(' ').unwrap().0.to_owned(),
        None => line.to_owned(),
    }
}

/// Whatever interleaving: the scrape sees no exemplar or one whole exemplar (never a torn
/// or half-initialised one), no increment is lost, and the final exemplar is one of the two.
#[test]
fn racing_first_exemplars_and_a_scrape() {
    loom::model(|| {
        let r = Registry::builder().created_samples(false).build();
        let c = Counter::builder("c", "C.").register(&r).unwrap();
        let spawn = |id: &'static str| {
            let c: Counter = c.clone();
            thread::spawn(move || c.inc_with_exemplar(&[("id", id)]))
        };
        let a = spawn("a");
        let b = spawn("b");
        let seen = sample_line(&r);
        let ok = [
            "c_total 0",
            "c_total 1",
            "c_total 2",
            "c_total 1 # {id=\"a\"} 1.0",
            "c_total 1 # {id=\"b\"} 1.0",
            "c_total 2 # {id=\"a\"} 1.0",
            "c_total 2 # {id=\"b\"} 1.0",
        ];
        assert!(ok.contains(&seen.as_str()), "scrape saw {seen:?}");
        a.join().unwrap();
        b.join().unwrap();
        let last = sample_line(&r);
        assert!(
            last == "c_total 2 # {id=\"a\"} 1.0" || last == "c_total 2 # {id=\"b\"} 1.0",
            "{last:?}"
        );
    });
}
