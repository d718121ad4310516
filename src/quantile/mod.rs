//! Module implementing targeted quantile estimation for the Summary metric. See [`Ckms`] and
//! [`AgeBuckets`].
//!
//! A [`Ckms`] keeps a small, sorted list of tuples from which the configured quantiles can be
//! answered with a *deterministic* rank guarantee. It follows Cormode, Korn, Muthukrishnan and
//! Srivastava, "Effective Computation of Biased Quantiles over Data Streams" (ICDE 2005), with
//! the paper's targeted invariant replaced by a corrected one (the published invariant lets a
//! tuple straddle a target's window: up to 1.25 ε of error for client_golang's default
//! objectives, and no bound at all for targets such as (0.9, 0.05) or (0.99, 0.005)).
//!
//! # Guarantee
//!
//! Let the `n` observations, sorted, be `x(1) ≤ … ≤ x(n)`. For every configured [`Target`]
//! `(φ, ε)` the value `v` reported for `φ` is an observed value with
//! `x(k_lo) ≤ v ≤ x(k_hi)`, where `k_lo = clamp(⌈(φ−ε)n⌉, 1, n)` and
//! `k_hi = clamp(⌈(φ+ε)n⌉, 1, n)`: `v` is the nearest-rank quantile of some `φ'` within
//! `[φ−ε, φ+ε]`. When `εn < 1` this is the exact nearest-rank answer. `φ = 0` and `φ = 1`
//! always report the exact minimum and maximum. An empty summary reports `NaN`.
//!
//! Memory does not grow with `n` on ordinary streams: about 40–60 tuples of 24 bytes for
//! client_golang's default objectives `{0.5: 0.05, 0.9: 0.01, 0.99: 0.001}`. Three guards keep
//! adversarial streams (integer-valued latencies, values converging on the median, a rising
//! trend under an early maximum) bounded as well: new values are placed after stored equal
//! values, the maximum is never merged away, and no tuple may span more than
//! `min(64·ε_min, 1/4)·n` ranks. Memory does grow slowly on streams whose new values keep
//! landing in one tail (a drifting mean: 53 → 114 tuples from 1e6 to 1e7 observations) and
//! reaches thousands of tuples on a fast drift; see `tests/quantile_memory.rs`.
//!
//! # Ordering of values
//!
//! Values are ranked with [`f64::total_cmp`]: `−∞ < … < −0.0 < +0.0 < … < +∞`. In particular
//! `-0.0` ranks just below `+0.0`; since the two compare equal under `==`, a reported `-0.0`
//! where the nearest rank holds `+0.0` (or the reverse) is still the same number. `NaN`
//! observations are not ranked: they are dropped and counted separately
//! ([`Ckms::nan_count`]).
//!
//! # Time windows
//!
//! [`AgeBuckets`] keeps a ring of [`Ckms`] so that quantiles cover only the last `max_age` of
//! observations, with the semantics of client_golang's `MaxAge`/`AgeBuckets`. Targeted
//! summaries cannot be merged with a guarantee, so every batch is merged into every bucket.

mod ckms;
mod merge;
mod window;

pub use ckms::Ckms;
pub use window::{
    AgeBuckets, WindowError, DEFAULT_AGE_BUCKETS, DEFAULT_MAX_AGE, MAX_AGE_BUCKETS, MAX_MAX_AGE,
};

use std::fmt;

/// One quantile to track: the rank fraction `phi` (φ) and its allowed rank error `epsilon` (ε).
///
/// A target is *constrained* when `φ − ε > 0` and `φ + ε < 1`. An unconstrained target is
/// legal but puts no constraint on compression, because the minimum (when `φ − ε ≤ 0`) or the
/// maximum (when `φ + ε ≥ 1`) is always a valid answer: `(0.99, 0.01)` may report the
/// maximum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    phi: f64,
    epsilon: f64,
}

impl Target {
    /// Validates and builds a target.
    ///
    /// # Errors
    ///
    /// - [`QuantileError::NonFinite`] if `phi` or `epsilon` is NaN or infinite;
    /// - [`QuantileError::PhiOutOfRange`] unless `0 ≤ phi ≤ 1`;
    /// - [`QuantileError::EpsilonOutOfRange`] unless `0 ≤ epsilon < 1`;
    /// - [`QuantileError::UnboundedMemory`] if `epsilon == 0` and `0 < phi < 1` (an exact
    ///   interior quantile needs memory proportional to the number of observations).
    pub fn new(phi: f64, epsilon: f64) -> Result<Target, QuantileError> {
        if !phi.is_finite() || !epsilon.is_finite() {
            return Err(QuantileError::NonFinite { phi, epsilon });
        }
        if !(0.0..=1.0).contains(&phi) {
            return Err(QuantileError::PhiOutOfRange { phi });
        }
        if !(0.0..1.0).contains(&epsilon) {
            return Err(QuantileError::EpsilonOutOfRange { phi, epsilon });
        }
        if epsilon == 0.0 && phi > 0.0 && phi < 1.0 {
            return Err(QuantileError::UnboundedMemory { phi });
        }
        // Normalise -0.0 so that `phi == 0.0` targets compare and print as 0.
        Ok(Target {
            phi: phi + 0.0,
            epsilon: epsilon + 0.0,
        })
    }

    /// Builds a target for `phi` with the error from [`default_epsilon`].
    ///
    /// # Errors
    ///
    /// As [`Target::new`]: [`QuantileError::NonFinite`] or [`QuantileError::PhiOutOfRange`].
    pub fn with_default_epsilon(phi: f64) -> Result<Target, QuantileError> {
        if !phi.is_finite() {
            return Err(QuantileError::NonFinite {
                phi,
                epsilon: f64::NAN,
            });
        }
        Target::new(phi, default_epsilon(phi))
    }

    /// The rank fraction φ in `[0, 1]`.
    #[must_use]
    pub fn phi(&self) -> f64 {
        self.phi
    }

    /// The allowed rank error ε in `[0, 1)`, as a fraction of the number of observations.
    #[must_use]
    pub fn epsilon(&self) -> f64 {
        self.epsilon
    }

    /// Whether this target constrains compression (`φ − ε > 0` and `φ + ε < 1`).
    #[must_use]
    pub fn is_constrained(&self) -> bool {
        self.phi - self.epsilon > 0.0 && self.phi + self.epsilon < 1.0
    }
}

/// The rank error client_java uses when a quantile is given without one.
///
/// `0.001` for `φ ≤ 0.01` or `φ ≥ 0.99`, `0.005` for `φ ≤ 0.02` or `φ ≥ 0.98`, `0.01`
/// otherwise. The result is meaningless (but harmless) for a `phi` outside `[0, 1]`.
///
/// ```
/// use tachymeter::quantile::default_epsilon;
/// assert_eq!(default_epsilon(0.5), 0.01);
/// assert_eq!(default_epsilon(0.98), 0.005);
/// assert_eq!(default_epsilon(0.999), 0.001);
/// ```
#[must_use]
pub fn default_epsilon(phi: f64) -> f64 {
    if phi <= 0.01 || phi >= 0.99 {
        0.001
    } else if phi <= 0.02 || phi >= 0.98 {
        0.005
    } else {
        0.01
    }
}

/// Validates a list of `(phi, epsilon)` pairs and returns the targets sorted by φ.
///
/// An empty list is allowed: a summary without targets still tracks the exact minimum and
/// maximum and answers other quantiles with a certified (but possibly large) error, in a
/// handful of tuples.
///
/// # Errors
///
/// The first invalid pair's error from [`Target::new`], or [`QuantileError::DuplicatePhi`]
/// if two pairs share the same φ.
pub fn validate_targets(targets: &[(f64, f64)]) -> Result<Vec<Target>, QuantileError> {
    let mut out = targets
        .iter()
        .map(|&(phi, epsilon)| Target::new(phi, epsilon))
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by(|a, b| a.phi.total_cmp(&b.phi));
    if let Some(w) = out.windows(2).find(|w| w[0].phi == w[1].phi) {
        return Err(QuantileError::DuplicatePhi { phi: w[0].phi });
    }
    Ok(out)
}

/// Why a quantile target configuration was rejected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QuantileError {
    /// `phi` or `epsilon` is NaN or infinite.
    NonFinite {
        /// The rank fraction given.
        phi: f64,
        /// The error given.
        epsilon: f64,
    },
    /// `phi` is outside `[0, 1]` (a rank fraction, not a percentage: 0.99, not 99).
    PhiOutOfRange {
        /// The rank fraction given.
        phi: f64,
    },
    /// `epsilon` is outside `[0, 1)`.
    EpsilonOutOfRange {
        /// The rank fraction of the offending target.
        phi: f64,
        /// The error given.
        epsilon: f64,
    },
    /// The same `phi` was given twice.
    DuplicatePhi {
        /// The repeated rank fraction.
        phi: f64,
    },
    /// `epsilon == 0` for an interior `phi` (`0 < phi < 1`): an exact interior quantile would
    /// need to keep every observation.
    UnboundedMemory {
        /// The rank fraction of the offending target.
        phi: f64,
    },
}

impl fmt::Display for QuantileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            QuantileError::NonFinite { phi, epsilon } => write!(
                f,
                "quantile target ({phi}, {epsilon}) is not finite: use a finite phi in [0, 1] and epsilon in [0, 1)"
            ),
            QuantileError::PhiOutOfRange { phi } => write!(
                f,
                "quantile {phi} is outside [0, 1]: give a rank fraction (0.99, not 99)"
            ),
            QuantileError::EpsilonOutOfRange { phi, epsilon } => write!(
                f,
                "error {epsilon} of quantile {phi} is outside [0, 1): use a small positive fraction such as 0.01"
            ),
            QuantileError::DuplicatePhi { phi } => {
                write!(f, "quantile {phi} is configured twice: give each quantile once")
            }
            QuantileError::UnboundedMemory { phi } => write!(
                f,
                "quantile {phi} with error 0 would keep every observation: give a positive error such as 0.01 (only quantiles 0 and 1 can be exact)"
            ),
        }
    }
}

impl std::error::Error for QuantileError {}

/// Rounds `x` up to an integer, forgiving float noise just above an integer.
///
/// In f64, `(0.5 + 0.05) · 100 = 55.00000000000001` and `(0.9 + 0.05) · 1000 =
/// 950.0000000000001`; their plain ceilings would move a rank band by one.
pub(crate) fn ceil_forgiving(x: f64) -> f64 {
    let tol = 1e-9_f64.max(x.abs() * 1e-12);
    (x - tol).ceil()
}

/// The nearest-rank band `[k_lo, k_hi]` (1-based ranks) for `(phi, epsilon)` over `n ≥ 1`
/// observations.
pub(crate) fn rank_band(phi: f64, epsilon: f64, n: u64) -> (u64, u64) {
    let nf = n as f64;
    let clamp = |x: f64| -> u64 {
        let k = ceil_forgiving(x);
        if k < 1.0 {
            1
        } else if k >= nf {
            n
        } else {
            k as u64
        }
    };
    (clamp((phi - epsilon) * nf), clamp((phi + epsilon) * nf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_rejects_bad_targets() {
        assert!(matches!(
            Target::new(f64::NAN, 0.1),
            Err(QuantileError::NonFinite { .. })
        ));
        assert!(matches!(
            Target::new(0.5, f64::INFINITY),
            Err(QuantileError::NonFinite { .. })
        ));
        assert_eq!(
            Target::new(99.0, 0.01),
            Err(QuantileError::PhiOutOfRange { phi: 99.0 })
        );
        assert_eq!(
            Target::new(-0.1, 0.01),
            Err(QuantileError::PhiOutOfRange { phi: -0.1 })
        );
        assert_eq!(
            Target::new(0.5, 1.0),
            Err(QuantileError::EpsilonOutOfRange {
                phi: 0.5,
                epsilon: 1.0
            })
        );
        assert_eq!(
            Target::new(0.5, -0.01),
            Err(QuantileError::EpsilonOutOfRange {
                phi: 0.5,
                epsilon: -0.01
            })
        );
        assert_eq!(
            Target::new(0.5, 0.0),
            Err(QuantileError::UnboundedMemory { phi: 0.5 })
        );
        assert!(Target::new(0.0, 0.0).is_ok());
        assert!(Target::new(1.0, 0.0).is_ok());
        assert_eq!(
            validate_targets(&[(0.9, 0.01), (0.5, 0.05), (0.9, 0.001)]),
            Err(QuantileError::DuplicatePhi { phi: 0.9 })
        );
        assert_eq!(validate_targets(&[]), Ok(vec![]));
        let t = validate_targets(&[(0.99, 0.001), (0.5, 0.05), (0.9, 0.01)]).unwrap();
        let phis: Vec<f64> = t.iter().map(Target::phi).collect();
        assert_eq!(phis, [0.5, 0.9, 0.99]);
    }

    #[test]
    fn errors_display_actionable_text() {
        let e = QuantileError::PhiOutOfRange { phi: 99.0 };
        assert!(e.to_string().contains("0.99, not 99"));
        let e = QuantileError::UnboundedMemory { phi: 0.5 };
        assert!(e.to_string().contains("positive error"));
        let _: &dyn std::error::Error = &e;
    }

    #[test]
    fn constrained_targets() {
        assert!(Target::new(0.5, 0.05).unwrap().is_constrained());
        assert!(!Target::new(0.99, 0.01).unwrap().is_constrained());
        assert!(!Target::new(0.01, 0.01).unwrap().is_constrained());
        assert!(!Target::new(0.0, 0.0).unwrap().is_constrained());
    }

    #[test]
    fn default_epsilon_table() {
        assert_eq!(default_epsilon(0.0), 0.001);
        assert_eq!(default_epsilon(0.01), 0.001);
        assert_eq!(default_epsilon(0.015), 0.005);
        assert_eq!(default_epsilon(0.5), 0.01);
        assert_eq!(default_epsilon(0.95), 0.01);
        assert_eq!(default_epsilon(0.98), 0.005);
        assert_eq!(default_epsilon(0.99), 0.001);
        assert_eq!(Target::with_default_epsilon(0.9).unwrap().epsilon(), 0.01);
    }

    #[test]
    fn forgiving_ceiling_and_band() {
        assert_eq!(ceil_forgiving((0.5 + 0.05) * 100.0), 55.0);
        assert_eq!(ceil_forgiving((0.9 + 0.05) * 1000.0), 950.0);
        assert_eq!(ceil_forgiving(54.5), 55.0);
        assert_eq!(ceil_forgiving(0.0), 0.0);
        assert_eq!(rank_band(0.5, 0.05, 100), (45, 55));
        assert_eq!(rank_band(0.0, 0.0, 10), (1, 1));
        assert_eq!(rank_band(1.0, 0.0, 10), (10, 10));
        assert_eq!(rank_band(0.9, 0.01, 6), (6, 6));
    }
}
