//! The 1,050-series exposition, tachymeter's text and protobuf encodes and the peers'
//! protobuf encodes, robust to a noisy machine: the variants run interleaved, round after
//! round, and each reports its fastest round (noise only ever adds time).
//!
//! `cargo run --release --bin encode_ab` — µs per body, fastest of 30 rounds of 200 encodes.

use std::time::Instant;

use tachymeter_compare::encode::{self, Encoder};

const ENCODES: u32 = 200;
const ROUNDS: usize = 30;

fn main() {
    let mut variants: Vec<(String, Encoder)> =
        vec![("tachymeter text".to_owned(), encode::tachymeter())];
    for (name, enc) in encode::protobuf_all() {
        variants.push((format!("{name} protobuf"), enc));
    }
    let mut bytes = Vec::new();
    for (_, enc) in &mut variants {
        bytes.push(enc()); // warm: buffers grown, caches filled
    }
    let mut best = vec![f64::INFINITY; variants.len()];
    for _ in 0..ROUNDS {
        for (i, (_, enc)) in variants.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..ENCODES {
                std::hint::black_box(enc());
            }
            let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(ENCODES);
            best[i] = best[i].min(us);
        }
    }
    println!(
        "{:<30} {:>12} {:>10}",
        "µs per body (fastest round)", "µs", "bytes"
    );
    for (i, (name, _)) in variants.iter().enumerate() {
        println!("{name:<30} {:>12.1} {:>10}", best[i], bytes[i]);
    }
    let peer = best[2].min(best[3]);
    println!(
        "tachymeter protobuf / text:           {:.2}x",
        best[1] / best[0]
    );
    println!(
        "tachymeter protobuf / best peer's:    {:.2}x",
        best[1] / peer
    );
}
