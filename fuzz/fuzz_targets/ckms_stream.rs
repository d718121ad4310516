//! Arbitrary targets and arbitrary f64 streams into `Ckms`: invalid targets must give `Err`
//! (never a panic); for valid ones every configured quantile must satisfy the QUANTILES.md
//! §3.1 guarantee, checked against the exact sorted stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tachymeter::quantile::Ckms;

/// `⌈x⌉`, forgiving float noise just above an integer (as the spec requires).
fn ceil_forgiving(x: f64) -> f64 {
    (x - 1e-9_f64.max(1e-12 * x.abs())).ceil()
}

fn band(phi: f64, eps: f64, n: usize) -> (usize, usize) {
    let clamp = |x: f64| (ceil_forgiving(x).max(1.0) as usize).min(n);
    if phi == 0.0 || phi == 1.0 {
        let k = if phi == 0.0 { 1 } else { n };
        return (k, k);
    }
    (clamp((phi - eps) * n as f64), clamp((phi + eps) * n as f64))
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn f64_raw(&mut self) -> Option<f64> {
        let (b, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(f64::from_le_bytes(*b))
    }
    /// Mostly plausible targets, sometimes raw bit patterns (NaN, ∞, out of range).
    fn target(&mut self) -> Option<(f64, f64)> {
        match self.u8()? % 4 {
            0 => Some((self.f64_raw()?, self.f64_raw()?)),
            1 => Some((f64::from(self.u8()?) / 255.0, 0.0)),
            _ => {
                let phi = f64::from(self.u8()?) / 255.0;
                let eps = 10f64.powf(-4.0 * f64::from(self.u8()?) / 255.0) * 0.2;
                Some((phi, eps))
            }
        }
    }
    /// Values with many ties, signed zeros, infinities and NaN.
    fn value(&mut self) -> Option<f64> {
        match self.u8()? {
            0..=199 => Some(f64::from(self.u8()? % 32) - 8.0),
            200..=219 => self.f64_raw(),
            220..=229 => Some(-0.0),
            230..=239 => Some(f64::INFINITY),
            240..=249 => Some(f64::NEG_INFINITY),
            _ => Some(f64::NAN),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let Some(k) = b.u8() else { return };
    let targets: Vec<(f64, f64)> = (0..k % 5).map_while(|_| b.target()).collect();
    let Ok(mut ckms) = Ckms::new(&targets) else {
        return; // a typed error, not a panic, is all that is required
    };
    let mut stream = Vec::new();
    let mut batch = Vec::new();
    while let Some(v) = b.value() {
        stream.push(v);
        // Alternate single inserts and batches to cover both paths.
        if stream.len() % 3 == 0 {
            batch.push(v);
            if batch.len() == 7 {
                ckms.insert_batch(&mut batch);
                batch.clear();
            }
        } else {
            ckms.insert(v);
        }
    }
    ckms.insert_batch(&mut batch);
    let mut sorted: Vec<f64> = stream.into_iter().filter(|v| !v.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    for &(phi, eps) in ckms
        .targets()
        .iter()
        .map(|t| (t.phi(), t.epsilon()))
        .collect::<Vec<_>>()
        .iter()
    {
        let got = ckms.query(phi);
        if n == 0 {
            assert!(got.is_nan(), "empty summary answered {got}");
            continue;
        }
        let (lo, hi) = band(phi, eps, n);
        let ok = sorted[lo - 1..hi].iter().any(|x| x.total_cmp(&got).is_eq());
        assert!(
            ok,
            "phi {phi} eps {eps} n {n}: got {got:?}, band ranks [{lo}, {hi}] = [{:?}, {:?}]",
            sorted[lo - 1],
            sorted[hi - 1]
        );
    }
    ckms.audit().unwrap();
});
