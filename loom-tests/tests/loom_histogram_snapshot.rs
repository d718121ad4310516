//! loom model: histogram snapshots are consistent while observers run.
#![cfg(tachymeter_loom)]

use loom::thread;
use tachymeter::{Format, Histogram, Registry};

fn parse(body: &str) -> (Vec<u64>, u64) {
    let mut buckets = Vec::new();
    let mut count = None;
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("h_bucket{") {
            buckets.push(rest.rsplit(' ').next().unwrap().parse().unwrap());
        } else if let Some(rest) = line.strip_prefix("h_count ") {
            count = Some(rest.parse().unwrap());
        }
    }
    (buckets, count.expect("h_count line"))
}

#[test]
fn snapshot_is_cumulative_and_inf_equals_count() {
    loom::model(|| {
        let reg = Registry::new();
        let h: Histogram = Histogram::builder("h", "H.")
            .buckets([1.0, 2.0])
            .unwrap()
            .register(&reg)
            .unwrap();
        let a = {
            let h = h.clone();
            thread::spawn(move || {
                h.observe(0.5);
                h.observe(1.5);
            })
        };
        let b = {
            let h = h.clone();
            thread::spawn(move || h.observe(5.0))
        };
        let (buckets, count) = parse(&reg.encode_to_string(Format::Text));
        assert_eq!(buckets.len(), 3);
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
        assert_eq!(
            *buckets.last().unwrap(),
            count,
            "+Inf bucket must equal _count"
        );
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(h.cumulative_counts(), vec![1, 2, 3]);
        assert_eq!(h.sum(), 7.0);
    });
}
