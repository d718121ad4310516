//! Module implementing the CKMS targeted-quantile stream with the corrected invariant. See
//! [`Ckms`].
//!
//! # Bookkeeping
//!
//! Tuples `(v, g, Δ)` are kept sorted by `v` (under [`f64::total_cmp`]). With
//! `rmin_i = Σ_{k ≤ i} g_k` and `rmax_i = rmin_i + Δ_i`, the true rank of `v_i` lies in
//! `[rmin_i, rmax_i]`. A tuple's left end is `L_i = rmin_{i−1}` and its width `g_i + Δ_i`.
//!
//! # Invariant
//!
//! For a constrained target `(φ_j, ε_j)` (`φ_j − ε_j > 0`, `φ_j + ε_j < 1`):
//!
//! ```text
//! f_j(L, n) = 2 ε_j · max( L / (φ_j − ε_j), (n − L) / (1 − φ_j + ε_j) )
//! f(L, n)   = min( min_j f_j(L, n), min(64 · ε_min, 1/4) · n )
//! every tuple: g + Δ ≤ max(1, f(L, n))
//! ```
//!
//! `L` and `n − L` never decrease while a tuple lives, so a width accepted once stays
//! accepted, and no tuple of width ≥ 2 can straddle a target window `[(φ−ε)n, (φ+ε)n]`: that
//! is exactly what the query needs (see `QUANTILES.md` §2). The width cap
//! `min(32 · 2ε_min, 1/4) · n` is a memory guard: it leaves headroom below `f` where `f` is
//! large, so that new values, which inherit their successor's width, can still be merged
//! (without it, values converging on the median with Go's objectives keep 37 K tuples at
//! n = 1e6). The `1/4` ceiling matters for large ε only: a lone (0.9, 0.04) target kept
//! 1 089 tuples on the converging stream at n = 1e5 without it, 34 with it.
//!
//! # Insertion and compression
//!
//! Values are buffered, sorted once and merged in one linear pass into a per-thread scratch
//! vector, then copied back; the compression pass is fused into the merge. A new value between stored `pred`
//! and `succ` gets `g = 1, Δ = g_succ + Δ_succ − 1`; a new value below the minimum or at or
//! above the maximum gets `Δ = 0`. Ties are placed *after* stored equal values. Tuple `i` is
//! merged into tuple `i + 1` when `g_i + g_{i+1} + Δ_{i+1} ≤ f(L_i, n)`, except that the first
//! tuple (the exact minimum) is never removed and nothing is merged into the last tuple (the
//! exact maximum keeps `g = 1, Δ = 0`).

use super::merge::{fit_capacity, sort_and_trim_nan, sort_total, with_scratch, Merger};
use super::{rank_band, validate_targets, QuantileError, Target};
use std::cmp::Ordering;

/// Values buffered by [`Ckms::insert`] before they are sorted and merged.
const BUFFER_CAPACITY: usize = 512;

/// The width cap is `WIDTH_CAP_FACTOR · 2ε_min · n` (QUANTILES.md §2.5; tuned empirically).
const WIDTH_CAP_FACTOR: f64 = 32.0;

/// Upper limit on the width cap as a fraction of `n`, for targets with large ε (where
/// `WIDTH_CAP_FACTOR · 2ε_min` exceeds 1 and the cap would never bind).
const MAX_CAP_FRACTION: f64 = 1.0 / 4.0;

/// Shrinks the invariant's coefficients by a relative `1e-12`, so that float rounding can
/// never accept a width a hair above the exact bound.
const SAFETY: f64 = 1.0 - 1e-12;

/// One summary entry: a value and the rank bookkeeping of §2.1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Tuple {
    pub(super) v: f64,
    pub(super) g: u64,
    pub(super) delta: u64,
}

/// The two slopes of one constrained target's bound: `f_j = max(below·L, above·(n−L))`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Slopes {
    /// `2ε / (φ − ε)`, times [`SAFETY`].
    pub(super) below: f64,
    /// `2ε / (1 − φ + ε)`, times [`SAFETY`].
    pub(super) above: f64,
}

/// A streaming estimator of targeted quantiles (CKMS with the corrected invariant).
///
/// Configured with targets `(φ, ε)`, it answers each target with an observed value whose
/// nearest-rank position is within `εn` of `φn` (see the [module docs](super) for the exact
/// statement), using memory that does not grow with the number of observations on ordinary
/// streams. The exact minimum and maximum are always kept.
///
/// [`insert`](Ckms::insert) only appends to a 512-value buffer; the buffer is sorted and merged
/// when full and before every query. Producers that already batch values (such as a Summary
/// draining per-thread buffers) should call [`insert_batch`](Ckms::insert_batch), which sorts
/// the batch once and merges it in a single pass. After warm-up no operation allocates.
///
/// Every method takes `&self` or `&mut self`: share a `Ckms` between threads behind a lock.
///
/// # NaN and signed zeros
///
/// NaN observations are dropped from the ranking and counted by [`nan_count`](Ckms::nan_count);
/// they are not included in [`count`](Ckms::count). Values are ranked by [`f64::total_cmp`], so
/// `-0.0` ranks just below `+0.0` (they are equal numbers, so either is a correct answer where
/// the other was expected).
///
/// # Example
///
/// ```
/// use tachymeter::quantile::Ckms;
///
/// // client_golang's default objectives.
/// let mut ckms = Ckms::new(&[(0.5, 0.05), (0.9, 0.01), (0.99, 0.001)])?;
/// for i in 1..=10_000 {
///     ckms.insert(f64::from(i));
/// }
/// let p50 = ckms.query(0.5);
/// assert!((4_500.0..=5_500.0).contains(&p50));
/// let p99 = ckms.query(0.99);
/// assert!((9_890.0..=9_910.0).contains(&p99));
/// assert_eq!(ckms.min(), 1.0);
/// assert_eq!(ckms.max(), 10_000.0);
/// assert_eq!(ckms.count(), 10_000);
/// assert!(ckms.len() < 100, "a few dozen tuples, not 10 000");
/// # Ok::<(), tachymeter::quantile::QuantileError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Ckms {
    /// Validated targets, sorted by φ.
    targets: Vec<Target>,
    /// Slopes of the constrained targets only.
    slopes: Vec<Slopes>,
    /// `WIDTH_CAP_FACTOR · 2ε_min` over constrained targets (`∞` when there is none).
    cap_per_rank: f64,
    /// `2ε_min`: `f(L, n) ≥ floor_per_rank · n` for every `L` (each `f_j ≥ 2ε_j n`).
    floor_per_rank: f64,
    /// The summary, sorted by value. Its capacity follows the size of the summary (see
    /// [`fit_capacity`]); merges write into a per-thread scratch vector and copy back.
    tuples: Vec<Tuple>,
    /// Values inserted but not merged yet (never NaN).
    buffer: Vec<f64>,
    /// Observations merged into `tuples` (`Σ g`).
    n: u64,
    /// NaN observations dropped.
    nan_count: u64,
}

impl Ckms {
    /// Creates an empty estimator for the given `(phi, epsilon)` targets.
    ///
    /// The targets may be given in any order. An empty list is accepted: the estimator then
    /// keeps only a few tuples, with exact minimum and maximum (see
    /// [`validate_targets`](super::validate_targets)).
    ///
    /// # Errors
    ///
    /// A [`QuantileError`] for the first invalid target or a duplicate `phi`.
    pub fn new(targets: &[(f64, f64)]) -> Result<Ckms, QuantileError> {
        let targets = validate_targets(targets)?;
        let mut slopes = Vec::new();
        let mut eps_min = f64::INFINITY;
        for t in targets.iter().filter(|t| t.is_constrained()) {
            let (phi, eps) = (t.phi(), t.epsilon());
            slopes.push(Slopes {
                below: 2.0 * eps / (phi - eps) * SAFETY,
                above: 2.0 * eps / (1.0 - phi + eps) * SAFETY,
            });
            eps_min = eps_min.min(eps);
        }
        let (cap_per_rank, floor_per_rank) = if slopes.is_empty() {
            (f64::INFINITY, f64::INFINITY)
        } else {
            let cap = (WIDTH_CAP_FACTOR * 2.0 * eps_min).min(MAX_CAP_FRACTION);
            (cap * SAFETY, (2.0 * eps_min).min(cap) * SAFETY)
        };
        Ok(Ckms {
            targets,
            slopes,
            cap_per_rank,
            floor_per_rank,
            tuples: Vec::new(),
            buffer: Vec::new(),
            n: 0,
            nan_count: 0,
        })
    }

    /// The configured targets, sorted by φ.
    #[must_use]
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// Records one observation.
    ///
    /// The value is buffered; the buffer is sorted and merged when it holds 512 values and
    /// before any query. NaN is not ranked: it only increments [`nan_count`](Ckms::nan_count).
    #[inline]
    pub fn insert(&mut self, v: f64) {
        if v.is_nan() {
            self.nan_count += 1;
            return;
        }
        if self.buffer.capacity() == 0 {
            self.buffer.reserve_exact(BUFFER_CAPACITY);
        }
        self.buffer.push(v);
        if self.buffer.len() >= BUFFER_CAPACITY {
            self.flush();
        }
    }

    /// Records a batch of observations: sorts `values` in place (the caller's slice is
    /// reordered), then merges it in one pass.
    ///
    /// NaN values are counted by [`nan_count`](Ckms::nan_count) and otherwise ignored. Values
    /// already buffered by [`insert`](Ckms::insert) stay buffered.
    pub fn insert_batch(&mut self, values: &mut [f64]) {
        let (sorted, nans) = sort_and_trim_nan(values);
        self.nan_count += nans;
        self.merge_sorted(sorted);
    }

    /// Merges the buffered values into the summary.
    pub fn flush(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let mut buf = std::mem::take(&mut self.buffer);
        sort_total(&mut buf);
        self.merge_sorted(&buf);
        buf.clear();
        self.buffer = buf;
    }

    /// The estimate for the quantile `phi`, or NaN when no (non-NaN) value was observed or
    /// `phi` is NaN. Flushes first.
    ///
    /// For a configured target the answer is within that target's ε (see the
    /// [module docs](super)). Any other `phi` (clamped to `[0, 1]`) gets the best answer the
    /// summary can give; [`query_with_bound`](Ckms::query_with_bound) says how good it is.
    /// `phi = 0` and `phi = 1` give the exact minimum and maximum.
    pub fn query(&mut self, phi: f64) -> f64 {
        self.query_with_bound(phi).0
    }

    /// Like [`query`](Ckms::query), also returning a certified rank error: the true rank `r`
    /// of the returned value (any position holding it) satisfies `|r − φn| ≤ bound · n`.
    ///
    /// Returns `(NaN, NaN)` when empty or when `phi` is NaN.
    pub fn query_with_bound(&mut self, phi: f64) -> (f64, f64) {
        self.flush();
        self.query_flushed(phi)
    }

    /// [`query_with_bound`](Ckms::query_with_bound) without flushing: buffered values are
    /// ignored.
    pub(crate) fn query_flushed(&self, phi: f64) -> (f64, f64) {
        if self.n == 0 || phi.is_nan() {
            return (f64::NAN, f64::NAN);
        }
        let phi = phi.clamp(0.0, 1.0);
        // φ = 0 and φ = 1 ask for the exact extremes whatever ε was configured.
        let epsilon = if phi == 0.0 || phi == 1.0 {
            0.0
        } else {
            self.targets
                .iter()
                .find(|t| t.phi() == phi)
                .map_or(0.0, Target::epsilon)
        };
        let (k_lo, k_hi) = rank_band(phi, epsilon, self.n);
        let t = phi * self.n as f64;
        // Band rule (§2.3): least distance of [rmin, rmax] outside [k_lo, k_hi], then least
        // worst-case distance from t.
        let mut best_outside = u64::MAX;
        let mut best_spread = f64::INFINITY;
        let mut best_v = f64::NAN;
        let mut rmin = 0u64;
        for tuple in &self.tuples {
            rmin += tuple.g;
            let rmax = rmin + tuple.delta;
            let outside = k_lo.saturating_sub(rmin).max(rmax.saturating_sub(k_hi));
            let spread = (rmin as f64 - t).abs().max((rmax as f64 - t).abs());
            if outside < best_outside || (outside == best_outside && spread < best_spread) {
                best_outside = outside;
                best_spread = spread;
                best_v = tuple.v;
            }
            // rmin only grows: once it exceeds k_hi by more than the best distance, no later
            // tuple can do better.
            if rmin > k_hi && rmin - k_hi > best_outside {
                break;
            }
        }
        (best_v, best_spread / self.n as f64)
    }

    /// The exact smallest observation (under [`f64::total_cmp`]), or NaN when empty. Flushes
    /// first.
    pub fn min(&mut self) -> f64 {
        self.flush();
        self.tuples.first().map_or(f64::NAN, |t| t.v)
    }

    /// The exact largest observation (under [`f64::total_cmp`]), or NaN when empty. Flushes
    /// first.
    pub fn max(&mut self) -> f64 {
        self.flush();
        self.tuples.last().map_or(f64::NAN, |t| t.v)
    }

    /// Tuples held by the summary (memory is 24 bytes per tuple plus the 4 KiB buffer);
    /// buffered values are not included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tuples.len()
    }

    /// Heap bytes held: tuples, insert buffer and targets (capacities, not
    /// lengths); for memory accounting.
    #[doc(hidden)]
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        use core::mem::size_of;
        self.tuples.capacity() * size_of::<Tuple>()
            + self.buffer.capacity() * size_of::<f64>()
            + self.targets.capacity() * size_of::<Target>()
            + self.slopes.capacity() * size_of::<Slopes>()
    }

    /// Whether nothing (except perhaps NaN) was observed since creation or the last reset.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Non-NaN observations since creation or the last [`reset`](Ckms::reset), buffered ones
    /// included.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.n + self.buffer.len() as u64
    }

    /// NaN observations dropped since creation or the last [`reset`](Ckms::reset).
    #[must_use]
    pub fn nan_count(&self) -> u64 {
        self.nan_count
    }

    /// Forgets every observation, keeping the targets and the allocations.
    pub fn reset(&mut self) {
        self.tuples.clear();
        self.buffer.clear();
        self.n = 0;
        self.nan_count = 0;
    }

    /// Merges a batch sorted by [`f64::total_cmp`] and free of NaN into the summary, with the
    /// compression pass fused into the merge.
    ///
    /// The result is exactly that of the element-by-element pass described in the module docs
    /// (see `merge_sorted_reference` in the tests), computed run by run: the new values that
    /// land between two stored tuples all get `g = 1` and the same `Δ`, and `L` only moves
    /// when a tuple is finalised, so the number of new values the open tuple can absorb is
    /// `f(L, n) − Δ − g`, in closed form. The bound is evaluated once per output tuple and
    /// the work is `O(stored + output + stored · log batch)` rather than one bound per value.
    ///
    /// The output goes to a vector shared by every summary merged on this thread and is copied
    /// back (a copy of a few dozen tuples), so that a summary holds one vector, not two.
    pub(crate) fn merge_sorted(&mut self, batch: &[f64]) {
        debug_assert!(batch.windows(2).all(|w| w[0].total_cmp(&w[1]).is_le()));
        debug_assert!(batch.iter().all(|v| !v.is_nan()));
        if batch.is_empty() {
            return;
        }
        with_scratch(|out| self.merge_via(batch, out));
    }

    /// [`merge_sorted`](Ckms::merge_sorted) with `out` as the scratch vector.
    fn merge_via(&mut self, batch: &[f64], out: &mut Vec<Tuple>) {
        let n = self.n + batch.len() as u64;
        let nf = n as f64;
        let old = &self.tuples[..];
        // No up-front `reserve(old.len() + batch.len())`: compression is fused into the
        // merge, so the output stays near the summary's size.
        let mut m = Merger::new(
            out,
            old.len() + batch.len(),
            &self.slopes,
            n,
            self.cap_per_rank * nf,
            self.floor_per_rank * nf,
        );
        let mut j = 0;
        for (i, succ) in old.iter().enumerate() {
            // New values strictly below `succ` come first: ties go after stored equals.
            let end = j + batch[j..].partition_point(|v| v.total_cmp(&succ.v) == Ordering::Less);
            if end > j {
                // GK rule: between pred and succ, Δ = g_succ + Δ_succ − 1; below the minimum, 0.
                let delta = if i == 0 { 0 } else { succ.g + succ.delta - 1 };
                m.run(&batch[j..end], delta);
                j = end;
            }
            m.step(*succ);
        }
        // At or above the maximum: Δ = 0.
        m.run(&batch[j..], 0);
        m.finish();
        fit_capacity(&mut self.tuples, out.len(), n);
        self.tuples.clear();
        self.tuples.extend_from_slice(out);
        self.n = n;
    }

    /// Checks the structural invariants; for tests.
    ///
    /// Verifies: tuples sorted and NaN-free; `Σ g = n`; `g ≥ 1`; `rmax ≤ n`; the first and
    /// last tuples exact (`g = 1, Δ = 0`); every tuple within `max(1, f(L, n))`; and no tuple
    /// of width ≥ 2 straddling any target's window `[(φ−ε)n, (φ+ε)n]`. Buffered values are
    /// ignored (call [`flush`](Ckms::flush) first).
    ///
    /// # Errors
    ///
    /// A description of the first violation found.
    #[doc(hidden)]
    pub fn audit(&self) -> Result<(), String> {
        let n = self.n;
        let nf = n as f64;
        if self.tuples.is_empty() {
            return if n == 0 {
                Ok(())
            } else {
                Err(format!("no tuples but n = {n}"))
            };
        }
        let first = self.tuples[0];
        let last = self.tuples[self.tuples.len() - 1];
        if (first.g, first.delta) != (1, 0) {
            return Err(format!("minimum not exact: {first:?}"));
        }
        if (last.g, last.delta) != (1, 0) {
            return Err(format!("maximum not exact: {last:?}"));
        }
        let constrained: Vec<Target> = self
            .targets
            .iter()
            .copied()
            .filter(Target::is_constrained)
            .collect();
        let eps_min = constrained
            .iter()
            .map(Target::epsilon)
            .fold(f64::INFINITY, f64::min);
        let cap = if constrained.is_empty() {
            f64::INFINITY
        } else {
            (WIDTH_CAP_FACTOR * 2.0 * eps_min).min(MAX_CAP_FRACTION) * nf
        };
        let mut l = 0u64;
        for (idx, t) in self.tuples.iter().enumerate() {
            if t.v.is_nan() {
                return Err(format!("tuple {idx} holds NaN"));
            }
            if idx > 0 && self.tuples[idx - 1].v.total_cmp(&t.v) == Ordering::Greater {
                return Err(format!("tuples {} and {idx} out of order", idx - 1));
            }
            if t.g == 0 {
                return Err(format!("tuple {idx} has g = 0"));
            }
            let width = t.g + t.delta;
            if l + width > n {
                return Err(format!("tuple {idx} {t:?}: rmax {} > n = {n}", l + width));
            }
            let lf = l as f64;
            let mut f = cap;
            for c in &constrained {
                let (phi, eps) = (c.phi(), c.epsilon());
                let fj = 2.0 * eps * (lf / (phi - eps)).max((nf - lf) / (1.0 - phi + eps));
                f = f.min(fj);
            }
            if width as f64 > f.max(1.0) * (1.0 + 1e-9) {
                return Err(format!(
                    "tuple {idx} {t:?} at L = {l}: width {width} > f = {f}"
                ));
            }
            if width >= 2 {
                for c in &self.targets {
                    let lo = (c.phi() - c.epsilon()) * nf;
                    let hi = (c.phi() + c.epsilon()) * nf;
                    let tol = 1e-9 * nf.max(1.0);
                    if lf < lo - tol && (l + width) as f64 > hi + tol {
                        return Err(format!(
                            "tuple {idx} {t:?} spanning ranks ({l}, {}] straddles the window \
                             [{lo}, {hi}] of target {c:?}",
                            l + width
                        ));
                    }
                }
            }
            l += t.g;
        }
        if l != n {
            return Err(format!("sum of g = {l} but n = {n}"));
        }
        Ok(())
    }
}

#[cfg(test)]
impl Ckms {
    /// The element-by-element merge (the pre-optimisation implementation), kept as the
    /// oracle for [`Ckms::merge_sorted`].
    /// Merges a batch sorted by [`f64::total_cmp`] and free of NaN into the summary, with the
    /// compression pass fused into the merge.
    fn merge_sorted_reference(&mut self, batch: &[f64]) {
        use super::merge::allowed_width;
        debug_assert!(batch.windows(2).all(|w| w[0].total_cmp(&w[1]).is_le()));
        debug_assert!(batch.iter().all(|v| !v.is_nan()));
        if batch.is_empty() {
            return;
        }
        let n = self.n + batch.len() as u64;
        let nf = n as f64;
        let cap = self.cap_per_rank * nf;
        let floor = self.floor_per_rank * nf;
        let slopes = &self.slopes[..];
        let old = &self.tuples[..];

        let mut out: Vec<Tuple> = Vec::new();

        let total = old.len() + batch.len();
        let (mut i, mut j) = (0usize, 0usize);
        // Σ g of the tuples in `out` before its last one: the last one's left end L.
        let mut l_top = 0u64;
        for k in 0..total {
            // Next tuple in value order; a new value goes after stored equal values.
            let mut next = match (batch.get(j), old.get(i)) {
                (Some(&v), Some(succ)) if v.total_cmp(&succ.v) == Ordering::Less => {
                    j += 1;
                    let delta = if i == 0 { 0 } else { succ.g + succ.delta - 1 };
                    Tuple { v, g: 1, delta }
                }
                (Some(&v), None) => {
                    j += 1;
                    Tuple { v, g: 1, delta: 0 }
                }
                (_, Some(&stored)) => {
                    i += 1;
                    stored
                }
                (None, None) => unreachable!("k < old.len() + batch.len()"),
            };
            // Compress: merge the last output tuple into `next`, unless the last output tuple
            // is the minimum (index 0) or `next` is the maximum (the last tuple overall).
            if let Some(&top) = out.last() {
                let width = (top.g + next.g + next.delta) as f64;
                let mergeable = out.len() >= 2
                    && k + 1 < total
                    && (width <= floor || width <= allowed_width(slopes, l_top, n, cap));
                if mergeable {
                    next.g += top.g;
                    out.pop();
                } else {
                    l_top += top.g;
                }
            }
            out.push(next);
        }
        self.tuples = out;
        self.n = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO: [(f64, f64); 3] = [(0.5, 0.05), (0.9, 0.01), (0.99, 0.001)];

    #[test]
    fn empty_is_nan() {
        let mut c = Ckms::new(&GO).unwrap();
        assert!(c.query(0.5).is_nan());
        assert!(c.min().is_nan());
        assert!(c.max().is_nan());
        assert!(c.is_empty());
        let (v, b) = c.query_with_bound(0.9);
        assert!(v.is_nan() && b.is_nan());
        c.insert(f64::NAN);
        assert!(c.query(0.5).is_nan());
        assert_eq!(c.nan_count(), 1);
        assert_eq!(c.count(), 0);
        c.audit().unwrap();
    }

    #[test]
    fn perks_2_small_n_inline() {
        let mut c = Ckms::new(&GO).unwrap();
        for v in 1..=5 {
            c.insert(f64::from(v));
        }
        assert_eq!((c.query(0.5), c.query(0.9), c.query(0.99)), (3.0, 5.0, 5.0));
        c.audit().unwrap();
    }

    #[test]
    fn nan_in_batch_is_trimmed_from_both_ends() {
        let mut c = Ckms::new(&GO).unwrap();
        let neg_nan = -f64::NAN;
        let mut batch = [3.0, f64::NAN, 1.0, neg_nan, 2.0, f64::NAN];
        c.insert_batch(&mut batch);
        assert_eq!(c.nan_count(), 3);
        assert_eq!(c.count(), 3);
        assert_eq!(c.min(), 1.0);
        assert_eq!(c.max(), 3.0);
        assert_eq!(c.query(0.5), 2.0);
        c.audit().unwrap();
    }

    #[test]
    fn signed_zero_and_infinities_rank_by_total_cmp() {
        let mut c = Ckms::new(&GO).unwrap();
        let mut batch = [0.0, f64::INFINITY, -0.0, f64::NEG_INFINITY, -0.0];
        c.insert_batch(&mut batch);
        assert_eq!(c.min(), f64::NEG_INFINITY);
        assert_eq!(c.max(), f64::INFINITY);
        // sorted: -inf, -0, -0, +0, +inf; nearest rank of 0.5 is the 3rd.
        let m = c.query(0.5);
        assert!(m == 0.0 && m.is_sign_negative());
        c.audit().unwrap();
    }

    #[test]
    fn ties_keep_extremes_exact() {
        let mut c = Ckms::new(&GO).unwrap();
        for _ in 0..10 {
            let mut batch = vec![1.0; 300];
            batch.extend(std::iter::repeat_n(2.0, 300));
            c.insert_batch(&mut batch);
            c.audit().unwrap();
        }
        assert_eq!(c.min(), 1.0);
        assert_eq!(c.max(), 2.0);
        assert_eq!(c.query(0.4), 1.0);
        assert_eq!(c.query(0.9), 2.0);
    }

    #[test]
    fn reset_keeps_targets_and_allocations() {
        let mut c = Ckms::new(&GO).unwrap();
        for i in 0..5_000 {
            c.insert(f64::from(i));
        }
        c.insert(f64::NAN);
        c.flush();
        let cap = c.tuples.capacity();
        c.reset();
        assert_eq!((c.count(), c.len(), c.nan_count()), (0, 0, 0));
        assert!(c.query(0.5).is_nan());
        assert_eq!(c.tuples.capacity(), cap);
        c.insert(7.0);
        assert_eq!(c.query(0.99), 7.0);
        assert_eq!(c.targets().len(), 3);
    }

    #[test]
    fn no_targets_keeps_three_tuples() {
        let mut c = Ckms::new(&[]).unwrap();
        for i in 0..10_000 {
            c.insert(f64::from(i % 977));
        }
        c.flush();
        c.audit().unwrap();
        assert!(c.len() <= 3, "{}", c.len());
        assert_eq!(c.min(), 0.0);
        assert_eq!(c.max(), 976.0);
        let (_, bound) = c.query_with_bound(0.5);
        assert!(bound <= 1.0);
    }

    #[test]
    fn steady_state_does_not_reallocate() {
        let mut c = Ckms::new(&GO).unwrap();
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64
        };
        for _ in 0..200_000 {
            c.insert(next());
        }
        c.flush();
        let ptrs = (c.tuples.as_ptr(), c.buffer.as_ptr());
        for _ in 0..(BUFFER_CAPACITY * 2) {
            c.insert(next());
        }
        c.flush();
        assert_eq!((c.tuples.as_ptr(), c.buffer.as_ptr()), ptrs);
    }

    #[test]
    fn unconfigured_phi_reports_a_certified_bound() {
        let mut c = Ckms::new(&GO).unwrap();
        for i in 1..=100_000 {
            c.insert(f64::from(i));
        }
        let (v, bound) = c.query_with_bound(0.3);
        assert!(
            ((v / 100_000.0) - 0.3).abs() <= bound + 1e-12,
            "v {v} bound {bound}"
        );
        let (v, bound) = c.query_with_bound(0.9);
        assert!(bound <= 0.01 + 1e-9, "{bound}");
        assert!((89_000.0..=91_000.0).contains(&v));
        assert_eq!(c.query(-3.0), 1.0);
        assert_eq!(c.query(7.0), 100_000.0);
        assert!(c.query(f64::NAN).is_nan());
    }

    /// The run-by-run merge gives exactly the tuples of the element-by-element one.
    #[test]
    fn merge_matches_the_element_by_element_reference() {
        let sets: [&[(f64, f64)]; 6] = [
            &GO,
            &[],
            &[(0.9, 0.05), (0.99, 0.005)],
            &[(0.9, 0.04)],
            &[(0.01, 0.001), (0.5, 0.01), (0.999, 0.0001)],
            &[(0.0, 0.0), (0.5, 0.2), (1.0, 0.0)],
        ];
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for (s, set) in sets.iter().enumerate() {
            for stream in 0..6u64 {
                let mut fast = Ckms::new(set).unwrap();
                let mut slow = fast.clone();
                let mut i = 0u64;
                for _ in 0..60 {
                    let len = match rnd() % 4 {
                        0 => 1 + rnd() % 4,
                        1 => 1 + rnd() % 64,
                        2 => 512,
                        _ => 1 + rnd() % 3000,
                    };
                    let mut batch: Vec<f64> = (0..len)
                        .map(|_| {
                            i += 1;
                            let r = rnd();
                            match stream {
                                0 => (r >> 11) as f64,
                                1 => (r % 5) as f64,
                                2 => i as f64,
                                3 => -(i as f64),
                                4 => 1.0 / i as f64 * if r & 1 == 0 { 1.0 } else { -1.0 },
                                _ => f64::from_bits(r),
                            }
                        })
                        .collect();
                    let (sorted, nans) = sort_and_trim_nan(&mut batch);
                    fast.merge_sorted(sorted);
                    slow.merge_sorted_reference(sorted);
                    fast.nan_count += nans;
                    slow.nan_count += nans;
                    assert_eq!(fast.n, slow.n);
                    assert!(
                        fast.tuples.len() == slow.tuples.len()
                            && fast
                                .tuples
                                .iter()
                                .zip(&slow.tuples)
                                .all(|(a, b)| a.v.to_bits() == b.v.to_bits()
                                    && (a.g, a.delta) == (b.g, b.delta)),
                        "set {s}, stream {stream}, n = {}",
                        fast.n
                    );
                    fast.audit().unwrap();
                }
            }
        }
    }
}
