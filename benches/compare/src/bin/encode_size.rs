//! Prints each library's exposition size for the encode workload (sanity check).
fn main() {
    for (name, mut enc) in tachymeter_compare::encode::all() {
        let n = enc();
        let n2 = enc();
        println!("{name:>18}: {n} bytes (second encode {n2})");
    }
}
