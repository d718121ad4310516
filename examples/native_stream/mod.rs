//! The deterministic observation stream of the `native_histogram` example, shared with the
//! test that checks what Prometheus makes of it (`tests/prometheus_native.rs`).

/// Number of observations.
pub(crate) const COUNT: usize = 100_000;

/// 100,000 values: log-uniform over six decades, 10⁻³ to 10³, from a fixed 64-bit LCG; every
/// 50th is 0 and every 20th (offset 7) is negated, so the zero bucket and both sides are used.
pub(crate) fn values() -> impl Iterator<Item = f64> {
    let mut state: u64 = 0x853c_49e6_748f_ea9b;
    (0..COUNT).map(move |i| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let u = (state >> 11) as f64 / (1u64 << 53) as f64;
        let v = 10f64.powf(u * 6.0 - 3.0);
        if i % 50 == 0 {
            0.0
        } else if i % 20 == 7 {
            -v
        } else {
            v
        }
    })
}
