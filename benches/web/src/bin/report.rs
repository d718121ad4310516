//! Prints the added cost per request of each middleware (median and fastest sample minus the
//! bare router's) and tachymeter's ratio to axum-prometheus, from criterion's output of
//! `cargo bench --bench web` (in `target/criterion`, `$CARGO_TARGET_DIR/criterion` or the path
//! given as the first argument).

use std::fs;
use std::path::PathBuf;

/// The number after `"key":{...,"point_estimate":` in criterion's estimates.json.
fn point(json: &str, key: &str) -> f64 {
    let at = json
        .find(&format!("\"{key}\""))
        .expect("key in estimates.json");
    let rest = &json[at..];
    let p = rest.find("\"point_estimate\":").expect("point_estimate") + 17;
    let end = rest[p..].find([',', '}']).unwrap();
    rest[p..p + end].parse().unwrap()
}

/// The fastest per-iteration time among criterion's samples (sample.json: iters, times).
fn fastest(sample: &str) -> f64 {
    let list = |key: &str| -> Vec<f64> {
        let at = sample.find(&format!("\"{key}\":[")).unwrap() + key.len() + 4;
        let end = sample[at..].find(']').unwrap();
        sample[at..at + end]
            .split(',')
            .map(|v| v.parse().unwrap())
            .collect()
    };
    let (iters, times) = (list("iters"), list("times"));
    iters
        .iter()
        .zip(&times)
        .map(|(i, t)| t / i)
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("target"))
                .join("criterion")
        });
    let read = |name: &str, file: &str| {
        let p = dir.join("web_hello").join(name).join("new").join(file);
        fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e} (run cargo bench --bench web)", p.display()))
    };
    let names = ["bare", "tachymeter", "axum_prometheus"];
    let median: Vec<f64> = names
        .iter()
        .map(|n| point(&read(n, "estimates.json"), "median"))
        .collect();
    let fast: Vec<f64> = names
        .iter()
        .map(|n| fastest(&read(n, "sample.json")))
        .collect();
    println!(
        "| variant | median ns/request | added (median) | fastest ns/request | added (fastest) |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for (i, n) in names.iter().enumerate() {
        println!(
            "| {n} | {:.0} | {:.0} | {:.0} | {:.0} |",
            median[i],
            median[i] - median[0],
            fast[i],
            fast[i] - fast[0]
        );
    }
    let ratio = |v: &[f64]| (v[1] - v[0]) / (v[2] - v[0]);
    println!();
    println!(
        "tachymeter's added cost / axum-prometheus's: {:.2}x (median), {:.2}x (fastest); bar <= 0.3x",
        ratio(&median),
        ratio(&fast)
    );
}
