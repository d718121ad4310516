//! Test support for the quantile suites: a seeded PRNG, the 16 stream families of
//! QUANTILES.md, the exact nearest-rank checker of QUANTILES.md §3.1 and a driver that feeds
//! streams to `Ckms` and checks every target at chosen prefixes.
#![allow(dead_code, unreachable_pub)]

use std::cmp::Ordering;
use std::fmt;
use tachymeter::quantile::Ckms;

// ---------------------------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------------------------

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, seedable, good enough for test streams.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Standard normal (Box-Muller).
    pub fn gauss(&mut self) -> f64 {
        let u1 = 1.0 - self.f64(); // (0, 1]
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

/// The 16 stream families every estimator test must cover (QUANTILES.md, last section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Uniform on [-1000, 1000), with ±0 and ±∞ sprinkled in (1 value in 64).
    Uniform,
    /// A shuffled permutation of 1..=N.
    ShuffledInts,
    /// -N/2, -N/2+1, ... ascending.
    Ascending,
    /// N/2, N/2-1, ... descending.
    Descending,
    /// Standard normal with ±0 sprinkled in.
    Gaussian,
    /// exp(N(0, 1)) milliseconds (latency-like).
    Lognormal,
    /// Pareto, x_m = 1, alpha = 1.1 (heavy tail).
    Pareto,
    /// 70 % N(100, 10), 30 % N(1000, 50).
    Bimodal,
    /// 42.0 always.
    Constant,
    /// Integers 1..=5 (integer-valued latencies).
    FewDistinct,
    /// Huge negative, huge positive alternately, including ±∞ and ±f64::MAX.
    AlternatingExtremes,
    /// 100 ± 1/i, alternating sign: always landing at the median.
    Converging,
    /// (i mod 1000) - 500.
    Sawtooth,
    /// 0, N-1, then 1, 2, ..., N-2 (early maximum, then rising).
    Sitnikov,
    /// Slow drift down: -5·i/len + N(0, 1) (the mean moves 5 σ over the whole stream).
    DriftDown,
    /// Slow drift up: 5·i/len + N(0, 1).
    DriftUp,
    /// Not one of the 16 families: fast drift up, i/1000 + N(0, 1), so that every value
    /// lands within the top few thousand ranks. A known memory stress (see quantile_memory).
    FastDriftUp,
}

impl Family {
    pub const ALL: [Family; 16] = [
        Family::Uniform,
        Family::ShuffledInts,
        Family::Ascending,
        Family::Descending,
        Family::Gaussian,
        Family::Lognormal,
        Family::Pareto,
        Family::Bimodal,
        Family::Constant,
        Family::FewDistinct,
        Family::AlternatingExtremes,
        Family::Converging,
        Family::Sawtooth,
        Family::Sitnikov,
        Family::DriftDown,
        Family::DriftUp,
    ];

    /// The families that make CKMS-style compression leak: the three of QUANTILES.md §2.5,
    /// plus three measured here. Alternating extremes (half of all values land in the top
    /// tail): 63–73 tuples at 1e6–1e7 with Go's objectives, just above the benign target of
    /// 64. Slow drifts (new values land in the upper or lower tail of what was seen so far):
    /// 52–67 (down) and 53–114 (up) tuples from 1e6 to 1e7, i.e. slow growth.
    pub fn is_adversarial(self) -> bool {
        matches!(
            self,
            Family::FewDistinct
                | Family::Converging
                | Family::Sitnikov
                | Family::AlternatingExtremes
                | Family::DriftDown
                | Family::DriftUp
                | Family::FastDriftUp
        )
    }

    /// The first `len` values of this family's stream for `seed`.
    pub fn generate(self, len: usize, seed: u64) -> Vec<f64> {
        let mut r = Rng::new(seed.wrapping_mul(31).wrapping_add(self as u64));
        let half = (len / 2) as f64;
        let specials = [0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY];
        match self {
            Family::ShuffledInts => {
                let mut v: Vec<f64> = (1..=len).map(|i| i as f64).collect();
                r.shuffle(&mut v);
                v
            }
            Family::Sitnikov => (0..len)
                .map(|i| match i {
                    0 => 0.0,
                    1 => (len - 1) as f64,
                    _ => (i - 1) as f64,
                })
                .collect(),
            _ => (0..len)
                .map(|i| {
                    let x = i as f64;
                    match self {
                        Family::Uniform => {
                            if r.below(64) == 0 {
                                specials[r.below(4) as usize]
                            } else {
                                r.f64() * 2000.0 - 1000.0
                            }
                        }
                        Family::Ascending => x - half,
                        Family::Descending => half - x,
                        Family::Gaussian => {
                            if r.below(257) == 0 {
                                specials[r.below(2) as usize]
                            } else {
                                r.gauss()
                            }
                        }
                        Family::Lognormal => r.gauss().exp(),
                        Family::Pareto => (1.0 - r.f64()).powf(-1.0 / 1.1),
                        Family::Bimodal => {
                            if r.below(10) < 7 {
                                100.0 + 10.0 * r.gauss()
                            } else {
                                1000.0 + 50.0 * r.gauss()
                            }
                        }
                        Family::Constant => 42.0,
                        Family::FewDistinct => (1 + r.below(5)) as f64,
                        Family::AlternatingExtremes => {
                            let m = match r.below(8) {
                                0 => f64::INFINITY,
                                1 => f64::MAX,
                                _ => 1e300 * (1.0 + r.f64()),
                            };
                            if i % 2 == 0 {
                                -m
                            } else {
                                m
                            }
                        }
                        Family::Converging => {
                            let d = 1.0 / (x + 1.0);
                            if i % 2 == 0 {
                                100.0 + d
                            } else {
                                100.0 - d
                            }
                        }
                        Family::Sawtooth => (i % 1000) as f64 - 500.0,
                        Family::DriftDown => -5.0 * x / len as f64 + r.gauss(),
                        Family::DriftUp => 5.0 * x / len as f64 + r.gauss(),
                        Family::FastDriftUp => x / 1000.0 + r.gauss(),
                        Family::ShuffledInts | Family::Sitnikov => unreachable!(),
                    }
                })
                .collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Target sets
// ---------------------------------------------------------------------------------------------

/// client_golang's default objectives.
pub const GO: &[(f64, f64)] = &[(0.5, 0.05), (0.9, 0.01), (0.99, 0.001)];
/// client_java#2292: the paper's invariant collapses every quantile to the minimum.
pub const JAVA_2292: &[(f64, f64)] = &[(0.9, 0.05), (0.99, 0.005)];
/// Sitnikov's counterexample target.
pub const SITNIKOV: &[(f64, f64)] = &[(0.9, 0.04)];
/// Exact extremes around a median.
pub const EXTREMES: &[(f64, f64)] = &[(0.0, 0.0), (0.5, 0.05), (1.0, 0.0)];
/// client_java's default-epsilon table applied to common quantiles.
pub const JAVA_DEFAULTS: &[(f64, f64)] = &[
    (0.5, 0.01),
    (0.9, 0.01),
    (0.95, 0.01),
    (0.99, 0.001),
    (0.999, 0.001),
];
/// Tight tail targets.
pub const TIGHT: &[(f64, f64)] = &[(0.99, 1e-4), (0.999, 1e-4)];

/// The six named target sets.
pub const NAMED_SETS: [(&str, &[(f64, f64)]); 6] = [
    ("go", GO),
    ("java_2292", JAVA_2292),
    ("sitnikov", SITNIKOV),
    ("extremes", EXTREMES),
    ("java_defaults", JAVA_DEFAULTS),
    ("tight", TIGHT),
];

/// A random target set: 1–4 targets, φ uniform in [0, 1], ε log-uniform in [1e-4, 0.2].
pub fn random_targets(r: &mut Rng) -> Vec<(f64, f64)> {
    let k = 1 + r.below(4) as usize;
    let mut out: Vec<(f64, f64)> = Vec::with_capacity(k);
    while out.len() < k {
        let phi = r.f64();
        let eps = (1e-4f64.ln() + r.f64() * (0.2f64.ln() - 1e-4f64.ln())).exp();
        if out.iter().all(|&(p, _)| p != phi) {
            out.push((phi, eps));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Checker (QUANTILES.md §3.1)
// ---------------------------------------------------------------------------------------------

/// `⌈x⌉`, forgiving float noise just above an integer (`(0.5 + 0.05)·100 = 55.00000000000001`).
pub fn ceil_forgiving(x: f64) -> f64 {
    (x - 1e-9_f64.max(1e-12 * x.abs())).ceil()
}

/// A wrong answer, with what the band allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub n: usize,
    pub phi: f64,
    pub epsilon: f64,
    pub got: f64,
    pub k_lo: usize,
    pub k_hi: usize,
    pub lo: f64,
    pub hi: f64,
    pub reason: &'static str,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "n={} phi={} eps={}: got {:?}, band ranks [{}, {}] = [{:?}, {:?}] ({})",
            self.n,
            self.phi,
            self.epsilon,
            self.got,
            self.k_lo,
            self.k_hi,
            self.lo,
            self.hi,
            self.reason
        )
    }
}

/// Checks `got` as the answer for `(phi, epsilon)` over `sorted` (sorted by `total_cmp`).
///
/// Ok carries the error in units of ε (0 when exact; for ε = 0 targets, 0 or a violation):
/// the distance from φ to the nearest φ' whose nearest-rank quantile is `got`, divided by ε.
pub fn check(sorted: &[f64], phi: f64, epsilon: f64, got: f64) -> Result<f64, Violation> {
    let n = sorted.len();
    let mut violation = Violation {
        n,
        phi,
        epsilon,
        got,
        k_lo: 0,
        k_hi: 0,
        lo: f64::NAN,
        hi: f64::NAN,
        reason: "",
    };
    if n == 0 {
        return if got.is_nan() {
            Ok(0.0)
        } else {
            violation.reason = "empty window must answer NaN";
            Err(violation)
        };
    }
    let nf = n as f64;
    let clamp = |x: f64| (ceil_forgiving(x).max(1.0) as usize).min(n);
    let (k_lo, k_hi) = (clamp((phi - epsilon) * nf), clamp((phi + epsilon) * nf));
    violation.k_lo = k_lo;
    violation.k_hi = k_hi;
    violation.lo = sorted[k_lo - 1];
    violation.hi = sorted[k_hi - 1];
    // 1-based positions holding `got`.
    let first = sorted.partition_point(|x| x.total_cmp(&got) == Ordering::Less) + 1;
    let last = sorted.partition_point(|x| x.total_cmp(&got) != Ordering::Greater);
    if first > last {
        violation.reason = "not an observed value";
        return Err(violation);
    }
    if got.total_cmp(&violation.lo) == Ordering::Less
        || got.total_cmp(&violation.hi) == Ordering::Greater
    {
        violation.reason = "outside the nearest-rank band";
        return Err(violation);
    }
    // φ' with Q(φ') = got: ((first−1)/n, last/n], extended to −∞ / +∞ at the ends.
    let lower = if first == 1 {
        f64::NEG_INFINITY
    } else {
        (first - 1) as f64 / nf
    };
    let upper = if last == n {
        f64::INFINITY
    } else {
        last as f64 / nf
    };
    let dist = if phi < lower {
        lower - phi
    } else if phi > upper {
        phi - upper
    } else {
        0.0
    };
    Ok(if dist == 0.0 { 0.0 } else { dist / epsilon })
}

/// Merges a freshly observed chunk into a sorted prefix.
pub fn merge_into_sorted(sorted: &mut Vec<f64>, chunk: &[f64]) {
    let mut c = chunk.to_vec();
    c.sort_unstable_by(f64::total_cmp);
    let mut out = Vec::with_capacity(sorted.len() + c.len());
    let (mut i, mut j) = (0, 0);
    while i < sorted.len() && j < c.len() {
        if sorted[i].total_cmp(&c[j]) != Ordering::Greater {
            out.push(sorted[i]);
            i += 1;
        } else {
            out.push(c[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&sorted[i..]);
    out.extend_from_slice(&c[j..]);
    *sorted = out;
}

// ---------------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------------

/// Every prefix up to 20, then ×1.5 steps up to `max`, then `max`.
pub fn checkpoints(max: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (0..=20.min(max)).collect();
    let mut n = 20usize;
    loop {
        n = ((n as f64) * 1.5).ceil() as usize;
        if n >= max {
            break;
        }
        out.push(n);
    }
    if *out.last().unwrap() != max {
        out.push(max);
    }
    out
}

/// How values reach the estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// `insert` one value at a time (internal 512-value buffer).
    Single,
    /// `insert_batch` with pseudo-random batch sizes in 1..=700.
    Batches(u64),
}

/// Outcome of checking one stream against several target sets.
#[derive(Debug, Default)]
pub struct Report {
    pub checks: u64,
    pub violations: Vec<String>,
    /// Worst error in units of ε over checks with εn ≥ 10, and where it happened.
    pub worst: f64,
    pub worst_at: String,
    /// Tuples held at the end, per target set.
    pub final_len: Vec<usize>,
}

impl Report {
    pub fn absorb(&mut self, other: Report) {
        self.checks += other.checks;
        if other.worst > self.worst {
            self.worst = other.worst;
            self.worst_at = other.worst_at;
        }
        self.violations.extend(other.violations);
        self.final_len.extend(other.final_len);
    }

    pub fn assert_clean(&self, what: &str) {
        assert!(
            self.violations.is_empty(),
            "{what}: {} violations, first ones:\n{}",
            self.violations.len(),
            self.violations
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(
            self.worst <= 1.0 + 1e-9,
            "{what}: worst error {} eps at {}",
            self.worst,
            self.worst_at
        );
    }
}

/// Feeds `values` to one estimator per target set and checks every target, `min`, `max`,
/// `count` and `audit()` at each of `points` (prefix lengths, increasing).
pub fn run_stream(
    label: &str,
    values: &[f64],
    sets: &[&[(f64, f64)]],
    points: &[usize],
    feed: Feed,
) -> Report {
    let mut report = Report::default();
    let mut estimators: Vec<Ckms> = sets
        .iter()
        .map(|s| Ckms::new(s).expect("valid set"))
        .collect();
    let mut rng = match feed {
        Feed::Batches(seed) => Rng::new(seed),
        Feed::Single => Rng::new(0),
    };
    let mut sorted: Vec<f64> = Vec::new();
    let mut scratch: Vec<f64> = Vec::new();
    let mut prev = 0usize;
    for &n in points {
        let chunk = &values[prev..n];
        for est in &mut estimators {
            match feed {
                Feed::Single => chunk.iter().for_each(|&v| est.insert(v)),
                Feed::Batches(_) => {
                    let mut rest = chunk;
                    while !rest.is_empty() {
                        let take = (1 + rng.below(700) as usize).min(rest.len());
                        scratch.clear();
                        scratch.extend_from_slice(&rest[..take]);
                        est.insert_batch(&mut scratch);
                        rest = &rest[take..];
                    }
                }
            }
        }
        merge_into_sorted(&mut sorted, chunk);
        prev = n;
        for (set, est) in sets.iter().zip(&mut estimators) {
            let mut fail = |msg: String| {
                if report.violations.len() < 100 {
                    report
                        .violations
                        .push(format!("{label} set={set:?}: {msg}"));
                }
            };
            for &(phi, eps) in set.iter() {
                let got = est.query(phi);
                report.checks += 1;
                match check(&sorted, phi, eps, got) {
                    Ok(err) => {
                        if eps * n as f64 >= 10.0 && err > report.worst {
                            report.worst = err;
                            report.worst_at = format!("{label} set={set:?} n={n} phi={phi}");
                        }
                    }
                    Err(v) => fail(v.to_string()),
                }
            }
            if n > 0 {
                let (min, max) = (est.min(), est.max());
                if min.to_bits() != sorted[0].to_bits() || max.to_bits() != sorted[n - 1].to_bits()
                {
                    fail(format!(
                        "n={n}: min/max {min:?}/{max:?}, want {:?}/{:?}",
                        sorted[0],
                        sorted[n - 1]
                    ));
                }
            }
            if est.count() != n as u64 {
                fail(format!("n={n}: count {} (NaN-free stream)", est.count()));
            }
            if let Err(e) = est.audit() {
                fail(format!("n={n}: audit: {e}"));
            }
        }
    }
    report.final_len = estimators.iter().map(Ckms::len).collect();
    report
}
