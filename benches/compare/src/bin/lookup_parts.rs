//! Decomposes the cost of `Family::with` (2 string labels, 100 children) into its parts by
//! rebuilding the same steps with the crates tachymeter uses (papaya 0.2 + ahash 0.8):
//!
//! 1. hashing the two values as `LabelQuery` does (length prefix + bytes, ahash RandomState);
//! 2. `papaya::HashMap::pin()` + drop (seize guard enter/leave) alone;
//! 3. `get` with one guard pinned for the whole loop (probe + full compare, no pin cost);
//! 4. `pin()` + `get` per lookup (what `ChildMap::with` does);
//! 5. tachymeter's real `Family::with` and `with_label_values` + inc, for reference.
//!
//! `cargo run --release --bin lookup_parts` — prints ns per lookup (median of 7 runs).

use std::hash::{Hash, Hasher};

struct ChildLike {
    _metric: tachymeter::Counter,
    _labels: Box<str>,
}
use std::hint::black_box;
use std::time::Instant;

use tachymeter_compare::{label_pairs, next100};

#[derive(PartialEq, Eq)]
struct Key(Box<[Box<str>]>);
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for v in self.0.iter() {
            state.write_usize(v.len());
            state.write(v.as_bytes());
        }
    }
}
struct Query<'a>(&'a [&'a str]);
impl Hash for Query<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for v in self.0 {
            state.write_usize(v.len());
            state.write(v.as_bytes());
        }
    }
}
impl papaya::Equivalent<Key> for Query<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.0.len() == key.0.len() && self.0.iter().zip(key.0.iter()).all(|(a, b)| *a == &**b)
    }
}

const N: u64 = 5_000_000;

fn time(label: &str, mut f: impl FnMut(u64)) {
    let mut v: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            f(N);
            t.elapsed().as_nanos() as f64 / N as f64
        })
        .collect();
    v.sort_by(f64::total_cmp);
    println!("| {label} | {:.2} |", v[3]);
}

fn main() {
    let pairs = label_pairs();
    let s = ahash::RandomState::new();
    let map: papaya::HashMap<Key, u64, ahash::RandomState> =
        papaya::HashMap::builder().hasher(s.clone()).build();
    for &(a, b) in pairs {
        let k = || Key(vec![Box::<str>::from(a), Box::<str>::from(b)].into_boxed_slice());
        map.pin().insert(k(), 0);
    }
    // Filled the way ChildMap::with fills it: get, then get_or_insert_with.
    let map2: papaya::HashMap<Key, ChildLike, ahash::RandomState> = papaya::HashMap::builder()
        .hasher(ahash::RandomState::new())
        .build();
    for &(a, b) in pairs {
        let g = map2.pin();
        if g.get(&Query(&[a, b])).is_none() {
            g.get_or_insert_with(
                Key(vec![Box::<str>::from(a), Box::<str>::from(b)].into_boxed_slice()),
                || ChildLike {
                    _metric: tachymeter::Counter::new(),
                    _labels: "x".into(),
                },
            );
        }
    }
    // The same, with papaya's blocking resize mode (a resize completes before inserts go on).
    let map3: papaya::HashMap<Key, ChildLike, ahash::RandomState> = papaya::HashMap::builder()
        .hasher(ahash::RandomState::new())
        .resize_mode(papaya::ResizeMode::Blocking)
        .build();
    for &(a, b) in pairs {
        let g = map3.pin();
        if g.get(&Query(&[a, b])).is_none() {
            g.get_or_insert_with(
                Key(vec![Box::<str>::from(a), Box::<str>::from(b)].into_boxed_slice()),
                || ChildLike {
                    _metric: tachymeter::Counter::new(),
                    _labels: "x".into(),
                },
            );
        }
    }
    let fam = tachymeter::Counter::builder("parts", "p")
        .labels(["method", "route"])
        .build()
        .unwrap();
    for &(a, b) in pairs {
        let _ = fam.with_label_values(&[a, b]);
    }

    println!("| step | ns/lookup |");
    println!("| --- | ---: |");
    time("1. ahash of the 2 values (length-prefixed)", |n| {
        let mut i = 0;
        for _ in 0..n {
            let (a, b) = pairs[next100(&mut i)];
            black_box(s.hash_one(Query(&[black_box(a), black_box(b)])));
        }
    });
    time("2. papaya pin() + drop, nothing else", |n| {
        for _ in 0..n {
            black_box(black_box(&map).pin());
        }
    });
    time("3. papaya get, guard pinned once outside the loop", |n| {
        let g = map.pin();
        let mut i = 0;
        for _ in 0..n {
            let (a, b) = pairs[next100(&mut i)];
            black_box(g.get(&Query(&[black_box(a), black_box(b)])));
        }
    });
    time("4. papaya pin() + get per lookup (ChildMap::with)", |n| {
        let mut i = 0;
        for _ in 0..n {
            let (a, b) = pairs[next100(&mut i)];
            black_box(
                black_box(&map)
                    .pin()
                    .get(&Query(&[black_box(a), black_box(b)]))
                    .copied(),
            );
        }
    });
    time(
        "4b. as 4, map filled by get_or_insert_with, Child-like values",
        |n| {
            let mut i = 0;
            for _ in 0..n {
                let (a, b) = pairs[next100(&mut i)];
                black_box(
                    black_box(&map2)
                        .pin()
                        .get(&Query(&[black_box(a), black_box(b)]))
                        .is_some(),
                );
            }
        },
    );
    time("4c. as 4b, ResizeMode::Blocking", |n| {
        let mut i = 0;
        for _ in 0..n {
            let (a, b) = pairs[next100(&mut i)];
            black_box(
                black_box(&map3)
                    .pin()
                    .get(&Query(&[black_box(a), black_box(b)]))
                    .is_some(),
            );
        }
    });
    time("5a. tachymeter Family::with(.., |c| c.inc())", |n| {
        let mut i = 0;
        for _ in 0..n {
            let (a, b) = pairs[next100(&mut i)];
            black_box(&fam)
                .with(&[black_box(a), black_box(b)], |c| c.inc())
                .unwrap();
        }
    });
    time("5b. tachymeter with_label_values(..).inc()", |n| {
        let mut i = 0;
        for _ in 0..n {
            let (a, b) = pairs[next100(&mut i)];
            black_box(&fam)
                .with_label_values(&[black_box(a), black_box(b)])
                .inc();
        }
    });
}
