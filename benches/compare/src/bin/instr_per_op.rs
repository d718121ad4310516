//! Instructions per hot-path operation, for callgrind (issue 13 item 2's "≤ 20 instructions
//! per op"): runs `N` operations of one kind on a kept handle, so that the difference between
//! two runs' instruction totals over the difference of their `N` is the per-op figure.
//!
//! ```sh
//! b=target/release/instr_per_op   # after cargo build --release --bin instr_per_op
//! for w in nop f64 inc add set; do
//!   a=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null $b 1000000 $w 2>&1 | awk '/Collected/ {print $4}')
//!   c=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null $b 2000000 $w 2>&1 | awk '/Collected/ {print $4}')
//!   echo "$w: $(( (c - a) / 1000000 ))"
//! done
//! ```
//!
//! `nop` is the loop and its `black_box`es alone; subtract it from the others.

use std::hint::black_box;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let what = args.next().unwrap_or_else(|| "f64".into());
    let c = tachymeter::Counter::new();
    let g = tachymeter::Gauge::new();
    // First writes (slot creation, the gauge's first era) outside the counted loop.
    c.inc_by_f64(1.0);
    g.add(1.0);
    g.set(1.0);
    match what.as_str() {
        "nop" => {
            for _ in 0..n {
                black_box(&c);
                black_box(0.5f64);
            }
        }
        "f64" => {
            for _ in 0..n {
                black_box(&c).inc_by_f64(black_box(0.5));
            }
        }
        "inc" => {
            for _ in 0..n {
                black_box(&c).inc();
            }
        }
        "add" => {
            for _ in 0..n {
                black_box(&g).add(black_box(0.5));
            }
        }
        "set" => {
            for i in 0..n {
                black_box(&g).set(black_box(i as f64));
            }
        }
        other => panic!("unknown operation {other} (nop, f64, inc, add, set)"),
    }
    black_box((c.get(), g.get()));
}
