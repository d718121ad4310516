use std::hint::black_box;
use std::time::Instant;
fn main() {
    let f = tachymeter::Counter::builder("x", "x").labels(["a","b"]).build().unwrap();
    for i in 0..100 { f.with_label_values(&["GET", &format!("/p{i}")]); }
    let n = 20_000_000u64;
    let t = Instant::now();
    for _ in 0..n { black_box(&f).with(black_box(&["GET", "/p42"]), |c| c.inc()).unwrap(); }
    println!("lookup+inc: {:.2} ns", t.elapsed().as_nanos() as f64 / n as f64);
}
