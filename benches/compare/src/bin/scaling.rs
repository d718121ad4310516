//! Thread-scaling run: counter inc, histogram observe and labeled lookup + inc, for
//! tachymeter and the `prometheus` crate, at each thread count given.
//!
//! ```text
//! scaling [--ops N] [--reps R] [THREADS...]      (default: --ops 20000000 --reps 3 1 2 4 8 16)
//! ```
//!
//! Each run starts THREADS fresh threads behind a barrier; each does N operations on the
//! same metric. Prints the per-thread ns/op (slowest thread, median of R runs) and the total
//! throughput (THREADS × N / slowest thread's time). Ideal scaling: flat ns/op, throughput
//! growing with THREADS up to the number of cores.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use tachymeter_compare::{label_pairs, next100, next_obs, run_threads, DEFAULT_BUCKETS};

struct Case {
    op: &'static str,
    lib: &'static str,
    /// Labeled lookups are ~20× slower: run fewer of them.
    ops_div: u64,
    run: Box<dyn Fn(usize, u64) -> Duration>,
}

fn cases() -> Vec<Case> {
    let pairs = label_pairs();
    let mut v = Vec::new();

    let t = tachymeter::Counter::new();
    v.push(Case {
        op: "counter inc",
        lib: "tachymeter",
        ops_div: 1,
        run: Box::new(move |th, n| {
            run_threads(th, n, &|n| {
                for _ in 0..n {
                    black_box(&t).inc();
                }
            })
        }),
    });
    let p = prometheus::IntCounter::new("c", "c").unwrap();
    v.push(Case {
        op: "counter inc",
        lib: "prometheus",
        ops_div: 1,
        run: Box::new(move |th, n| {
            run_threads(th, n, &|n| {
                for _ in 0..n {
                    black_box(&p).inc();
                }
            })
        }),
    });

    let th =
        tachymeter::Histogram::new(Arc::new(tachymeter::Buckets::new(DEFAULT_BUCKETS).unwrap()));
    v.push(Case {
        op: "histogram observe",
        lib: "tachymeter",
        ops_div: 1,
        run: Box::new(move |t, n| {
            run_threads(t, n, &|n| {
                let mut o = 0;
                for _ in 0..n {
                    black_box(&th).observe(next_obs(&mut o));
                }
            })
        }),
    });
    let ph = prometheus::Histogram::with_opts(prometheus::HistogramOpts::new("h", "h")).unwrap();
    v.push(Case {
        op: "histogram observe",
        lib: "prometheus",
        ops_div: 1,
        run: Box::new(move |t, n| {
            run_threads(t, n, &|n| {
                let mut o = 0;
                for _ in 0..n {
                    black_box(&ph).observe(next_obs(&mut o));
                }
            })
        }),
    });

    let fam = tachymeter::Counter::builder("lookup", "Lookups.")
        .labels(["method", "route"])
        .build()
        .unwrap();
    for &(a, b) in pairs {
        let _ = fam.with_label_values(&[a, b]);
    }
    v.push(Case {
        op: "labeled lookup + inc",
        lib: "tachymeter",
        ops_div: 10,
        run: Box::new(move |t, n| {
            run_threads(t, n, &|n| {
                let mut i = 0;
                for _ in 0..n {
                    let (a, b) = pairs[next100(&mut i)];
                    black_box(&fam)
                        .with(&[black_box(a), black_box(b)], |c| c.inc())
                        .unwrap();
                }
            })
        }),
    });
    let pv = prometheus::IntCounterVec::new(prometheus::Opts::new("l", "l"), &["method", "route"])
        .unwrap();
    for &(a, b) in pairs {
        let _ = pv.with_label_values(&[a, b]);
    }
    v.push(Case {
        op: "labeled lookup + inc",
        lib: "prometheus",
        ops_div: 10,
        run: Box::new(move |t, n| {
            run_threads(t, n, &|n| {
                let mut i = 0;
                for _ in 0..n {
                    let (a, b) = pairs[next100(&mut i)];
                    black_box(&pv)
                        .with_label_values(&[black_box(a), black_box(b)])
                        .inc();
                }
            })
        }),
    });
    v
}

fn main() {
    let mut ops: u64 = 20_000_000;
    let mut reps = 3usize;
    let mut threads = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ops" => ops = args.next().and_then(|v| v.parse().ok()).expect("--ops N"),
            "--reps" => reps = args.next().and_then(|v| v.parse().ok()).expect("--reps R"),
            "-h" | "--help" => {
                println!("scaling [--ops N] [--reps R] [THREADS...]");
                return;
            }
            t => threads.push(t.parse::<usize>().expect("thread count")),
        }
    }
    if threads.is_empty() {
        threads = vec![1, 2, 4, 8, 16];
    }
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!("# scaling: {ops} ops per thread (labeled lookup: ops/10), median of {reps}; {cores} CPUs available");
    println!();
    println!("| operation | library | threads | ns/op per thread | total Mops/s |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for case in cases() {
        let n = (ops / case.ops_div).max(1);
        // Warm-up: first-touch allocations, thread registration, page faults.
        (case.run)(1, n / 10 + 1);
        for &t in &threads {
            let mut times: Vec<Duration> = (0..reps).map(|_| (case.run)(t, n)).collect();
            times.sort();
            let d = times[times.len() / 2];
            let ns = d.as_nanos() as f64 / n as f64;
            let mops = (t as f64 * n as f64) / d.as_secs_f64() / 1e6;
            println!(
                "| {} | {} | {} | {:.2} | {:.1} |",
                case.op, case.lib, t, ns, mops
            );
        }
    }
}
