//! Prints the DESIGN §8 ratio table from criterion's results of `cargo bench --bench compare`.
//!
//! `cargo run --release --bin report [CRITERION_DIR]`; the directory defaults to
//! `$CARGO_TARGET_DIR/criterion`, else `target/criterion`.

use std::path::{Path, PathBuf};

/// Median time in ns of `group/bench`, from `new/estimates.json` (the median, not the mean:
/// the machine is shared and a few preempted samples would drag the mean).
fn mean_ns(dir: &Path, group: &str, bench: &str) -> Option<f64> {
    let p = dir
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// Fastest sample of `group/bench` in ns per iteration, from `new/sample.json`. On a shared
/// machine noise only ever adds time, so the fastest of 100 samples is the best estimate of
/// what the code costs when it has the cores to itself (both cores, for 2-thread runs).
fn min_ns(dir: &Path, group: &str, bench: &str) -> Option<f64> {
    let p = dir.join(group).join(bench).join("new").join("sample.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
    let iters = v["iters"].as_array()?;
    let times = v["times"].as_array()?;
    iters
        .iter()
        .zip(times)
        .filter_map(|(i, t)| Some(t.as_f64()? / i.as_f64()?))
        .min_by(f64::total_cmp)
}

/// Which statistic the tables use.
#[derive(Clone, Copy, PartialEq)]
enum Stat {
    Median,
    Fastest,
}

fn stat(s: Stat, dir: &Path, group: &str, bench: &str) -> Option<f64> {
    match s {
        Stat::Median => mean_ns(dir, group, bench),
        Stat::Fastest => min_ns(dir, group, bench),
    }
}

/// Every benchmark name found under `group`.
fn benches(dir: &Path, group: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join(group))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().join("new").join("estimates.json").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The peer libraries; a benchmark is a peer's if its name is the peer's or starts with it
/// and `_` (e.g. `prometheus_handle`).
const PEERS: [&str; 6] = [
    "prometheus",
    "prometheus-client",
    "metrics",
    "measured",
    "metrics-util",
    "quantiles",
];

fn is_peer(name: &str) -> bool {
    PEERS
        .iter()
        .any(|p| name == *p || name.strip_prefix(p).is_some_and(|r| r.starts_with('_')))
}

/// The fastest peer of a group: (name, ns).
fn best_peer(s: Stat, dir: &Path, group: &str) -> Option<(String, f64)> {
    benches(dir, group)
        .into_iter()
        .filter(|b| is_peer(b))
        .filter_map(|b| stat(s, dir, group, &b).map(|t| (b, t)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

fn fmt(ns: f64) -> String {
    if ns >= 10_000.0 {
        format!("{:.1} µs", ns / 1000.0)
    } else if ns >= 100.0 {
        format!("{ns:.0} ns")
    } else {
        format!("{ns:.2} ns")
    }
}

struct Row<'a> {
    op: &'a str,
    group: &'a str,
    tachy: &'a str,
    bar: &'a str,
    /// (tachymeter ns, best peer ns, this group's baseline ns, tachymeter's own 1-thread ns) → pass?
    check: fn(f64, f64, Option<f64>, Option<f64>) -> bool,
    /// Group holding tachymeter's 1-thread figure for "flat" checks.
    one_thread: Option<&'a str>,
}

fn main() {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| PathBuf::from("target"), PathBuf::from)
                .join("criterion")
        });
    let rows = [
        Row {
            op: "counter inc (u64), 1 thread",
            group: "counter_inc_1t",
            tachy: "tachymeter",
            bar: "≤ 0.5× best peer",
            check: |t, p, _, _| t <= 0.5 * p,
            one_thread: None,
        },
        Row {
            op: "counter inc, 2 threads, same counter",
            group: "counter_inc_2t",
            tachy: "tachymeter",
            bar: "≤ 1.5× own 1-thread; ≥ 10× faster than best peer",
            check: |t, p, _, one| one.is_some_and(|o| t <= 1.5 * o) && p >= 10.0 * t,
            one_thread: Some("counter_inc_1t"),
        },
        Row {
            op: "counter inc, 2 threads, 3rd thread registered",
            group: "counter_inc_2t",
            tachy: "tachymeter_3rd_thread_registered",
            bar: "(same as above)",
            check: |t, p, _, one| one.is_some_and(|o| t <= 1.5 * o) && p >= 10.0 * t,
            one_thread: Some("counter_inc_1t"),
        },
        Row {
            op: "f64 counter add, 1 thread",
            group: "f64_counter_add_1t",
            tachy: "tachymeter",
            bar: "≤ 0.5× best peer",
            check: |t, p, _, _| t <= 0.5 * p,
            one_thread: None,
        },
        Row {
            op: "f64 counter add, 2 threads",
            group: "f64_counter_add_2t",
            tachy: "tachymeter",
            bar: "≤ 0.5× best peer; flat (≤ 1.5× own 1-thread)",
            check: |t, p, _, one| t <= 0.5 * p && one.is_some_and(|o| t <= 1.5 * o),
            one_thread: Some("f64_counter_add_1t"),
        },
        Row {
            op: "gauge add, 1 thread",
            group: "gauge_add_1t",
            tachy: "tachymeter",
            bar: "≤ 0.5× best peer",
            check: |t, p, _, _| t <= 0.5 * p,
            one_thread: None,
        },
        Row {
            op: "gauge add, 2 threads",
            group: "gauge_add_2t",
            tachy: "tachymeter",
            bar: "≤ 0.5× best peer; flat (≤ 1.5× own 1-thread)",
            check: |t, p, _, one| t <= 0.5 * p && one.is_some_and(|o| t <= 1.5 * o),
            one_thread: Some("gauge_add_1t"),
        },
        Row {
            op: "gauge set, 1 thread",
            group: "gauge_set_1t",
            tachy: "tachymeter",
            bar: "≤ 1 ns",
            check: |t, _, _, _| t <= 1.0,
            one_thread: None,
        },
        Row {
            op: "gauge set, 2 threads (one shared word in every design)",
            group: "gauge_set_2t",
            tachy: "tachymeter",
            bar: "(no bar; informational)",
            check: |_, _, _, _| true,
            one_thread: Some("gauge_set_1t"),
        },
        Row {
            op: "labeled lookup (2 strings, 100 children) + inc: `with`",
            group: "labeled_lookup_1t",
            tachy: "tachymeter_with",
            bar: "≤ 12 ns",
            check: |t, _, _, _| t <= 12.0,
            one_thread: None,
        },
        Row {
            op: "labeled lookup + inc: `with_label_values`",
            group: "labeled_lookup_1t",
            tachy: "tachymeter_with_label_values",
            bar: "≤ 12 ns",
            check: |t, _, _, _| t <= 12.0,
            one_thread: None,
        },
        Row {
            op: "labeled lookup + inc: `with_label_values`, 2 threads on the same children",
            group: "labeled_lookup_2t",
            tachy: "tachymeter_with_label_values",
            bar: "≤ 1.5× its 1-thread figure",
            check: |t, _, _, one| one.is_some_and(|o| t <= 1.5 * o),
            one_thread: Some("labeled_lookup_1t"),
        },
        Row {
            op: "labeled lookup + inc: `with`, 2 threads on the same children",
            group: "labeled_lookup_2t",
            tachy: "tachymeter_with",
            bar: "(no bar; informational)",
            check: |_, _, _, _| true,
            one_thread: Some("labeled_lookup_1t"),
        },
        Row {
            op: "typed / pre-resolved labels + inc",
            group: "typed_lookup_1t",
            tachy: "tachymeter_handle",
            bar: "≤ 5 ns",
            check: |t, _, _, _| t <= 5.0,
            one_thread: None,
        },
        Row {
            op: "histogram observe (11 buckets), 1 thread",
            group: "histogram_observe_1t",
            tachy: "tachymeter",
            bar: "≤ 2× baseline",
            check: |t, _, b, _| b.is_some_and(|b| t <= 2.0 * b),
            one_thread: None,
        },
        Row {
            op: "histogram observe, 2 threads",
            group: "histogram_observe_2t",
            tachy: "tachymeter",
            bar: "flat (≤ 1.5× own 1-thread); ≥ 7× faster than best peer",
            check: |t, p, _, one| one.is_some_and(|o| t <= 1.5 * o) && p >= 7.0 * t,
            one_thread: Some("histogram_observe_1t"),
        },
        Row {
            op: "summary observe (Go objectives), 1 thread",
            group: "summary_observe_1t",
            tachy: "tachymeter",
            bar: "(no bar)",
            check: |_, _, _, _| true,
            one_thread: None,
        },
        Row {
            op: "summary read 0.5/0.9/0.99 after 10^5 observations",
            group: "summary_read_3q_after_1e5",
            tachy: "tachymeter",
            bar: "(no bar)",
            check: |_, _, _, _| true,
            one_thread: None,
        },
        Row {
            op: "encode 1,050 series, text (≈ 416 KB)",
            group: "encode_1050_series",
            tachy: "tachymeter",
            bar: "≤ 0.2 ms; ≥ 2× faster than best peer",
            check: |t, p, _, _| t <= 200_000.0 && p >= 2.0 * t,
            one_thread: None,
        },
    ];

    println!("Results from {}\n", dir.display());
    println!("### Median of 100 samples\n");
    let mut missing = table(Stat::Median, &dir, &rows);
    println!("\n### Fastest of 100 samples (noise removed: it only ever adds time)\n");
    missing += table(Stat::Fastest, &dir, &rows);
    println!("\nAll results (per op per thread; encode: per body):\n");
    println!("| group | benchmark | median | fastest sample |");
    println!("| --- | --- | ---: | ---: |");
    let mut groups: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir() && e.file_name() != "report")
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    groups.sort();
    for g in &groups {
        for b in benches(&dir, g) {
            if let (Some(t), Some(m)) = (mean_ns(&dir, g, &b), min_ns(&dir, g, &b)) {
                println!("| {g} | {b} | {} | {} |", fmt(t), fmt(m));
            }
        }
    }
    if missing > 0 {
        eprintln!("{missing} row(s) had no data: run `cargo bench --bench compare` first");
    }
}

/// Prints the bars table for one statistic; returns the number of rows without data.
fn table(st: Stat, dir: &Path, rows: &[Row<'_>]) -> usize {
    println!("| operation | baseline | tachymeter | best peer | tachymeter / best peer | bar | verdict |");
    println!("| --- | ---: | ---: | --- | ---: | --- | --- |");
    let mut missing = 0;
    for r in rows {
        let (Some(t), Some((peer, p))) =
            (stat(st, dir, r.group, r.tachy), best_peer(st, dir, r.group))
        else {
            println!("| {} | | (no data) | | | {} | – |", r.op, r.bar);
            missing += 1;
            continue;
        };
        let base = stat(st, dir, r.group, "baseline");
        // The same function's 1-thread row where there is one, else plain `tachymeter`.
        let one = r
            .one_thread
            .and_then(|g| stat(st, dir, g, r.tachy).or_else(|| stat(st, dir, g, "tachymeter")));
        let pass = (r.check)(t, p, base, one);
        let mut extra = String::new();
        if let Some(o) = one {
            extra = format!(" ({:.2}× own 1-thread)", t / o);
        }
        if let Some(b) = base {
            extra.push_str(&format!(" ({:.2}× baseline)", t / b));
        }
        println!(
            "| {} | {} | {}{} | {} {} | {:.2}× | {} | {} |",
            r.op,
            base.map_or("–".to_owned(), fmt),
            fmt(t),
            extra,
            peer,
            fmt(p),
            t / p,
            r.bar,
            if pass { "**pass**" } else { "**fail**" }
        );
    }

    missing
}
