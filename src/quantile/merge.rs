//! Module implementing the merge machinery of [`Ckms`](super::Ckms): the fused
//! merge-and-compress pass, the batch sort, and the per-thread merge scratch.

use super::ckms::{Slopes, Tuple};
use std::cell::Cell;

/// Merge-scratch tuples a thread keeps at least when it gives memory back after a peak.
const SCRATCH_KEEP: usize = 8192;

#[cfg(not(tachymeter_loom))]
crate::sync::thread_local! {
    /// Merge output shared by every summary merged on this thread (see
    /// [`Ckms::merge_sorted`]); it grows to the largest summary merged here.
    static MERGE_OUT: Cell<Vec<Tuple>> = const { Cell::new(Vec::new()) };
}

// loom's `thread_local!` has no `const` form.
#[cfg(tachymeter_loom)]
crate::sync::thread_local! {
    static MERGE_OUT: Cell<Vec<Tuple>> = Cell::new(Vec::new());
}

/// Adjusts the capacity of a summary's tuple vector about to hold `len` tuples after `n`
/// observations.
///
/// It grows to `len` plus an eighth (not by doubling: a busy Summary child holds five of these
/// vectors, and doubling left them up to half empty), so a summary whose size fluctuates
/// settles after a few merges and then never reallocates. It shrinks back to that size when
/// the capacity exceeds `len` by more than a quarter (plus 8), but only once the summary has
/// absorbed at least 64 observations per tuple: the size of a summary drifts down from its
/// early peak as `n` grows, while right after a reset it is only regrowing (shrinking then
/// would reallocate at every rotation).
pub(super) fn fit_capacity(tuples: &mut Vec<Tuple>, len: usize, n: u64) {
    let cap = tuples.capacity();
    let want = len + len / 8 + 4;
    if len > cap {
        tuples.clear();
        tuples.reserve_exact(want);
    } else if cap > len + len / 4 + 8 && n >= 64 * len as u64 {
        tuples.clear();
        tuples.shrink_to(want);
    }
}

/// Runs `f` on this thread's empty merge scratch (a fresh vector while thread-locals are torn
/// down) and puts it back with its capacity, shrunk after a peak (a huge summary merged on
/// this thread) to [`SCRATCH_KEEP`] or twice the last output.
pub(super) fn with_scratch(f: impl FnOnce(&mut Vec<Tuple>)) {
    let mut out = MERGE_OUT.try_with(Cell::take).unwrap_or_default();
    out.clear();
    f(&mut out);
    let len = out.len();
    out.clear();
    if out.capacity() > SCRATCH_KEEP.max(8 * len) {
        out.shrink_to(SCRATCH_KEEP.max(2 * len));
    }
    let _ = MERGE_OUT.try_with(|o| o.set(out));
}

/// The fused merge-and-compress pass of [`Ckms::merge_sorted`].
///
/// Tuples arrive in value order. The last one emitted, `top`, stays open: the next tuple may
/// absorb it (tuple `i` merged into `i + 1`) when `g_top + g_next + Δ_next ≤ f(L_top, n)`,
/// unless `top` is the first tuple (the exact minimum) or `next` is the last tuple of the
/// merge (the exact maximum). Tuples before `top` are final.
pub(super) struct Merger<'a> {
    /// Final tuples.
    out: &'a mut Vec<Tuple>,
    /// The open tuple.
    top: Option<Tuple>,
    /// `Σ g` of `out`: the left end `L` of `top`.
    l_top: u64,
    /// The largest width `top` may reach by absorbing into a successor: `⌊f(l_top, n)⌋`
    /// (valid once `out` is not empty).
    limit: u64,
    /// Tuples still to come, the one being processed included.
    rest: usize,
    slopes: &'a [Slopes],
    n: u64,
    /// The width cap at this `n`.
    cap: f64,
    /// A lower bound of `f` at this `n` (every `L`).
    floor: f64,
}

impl<'a> Merger<'a> {
    /// A merge of `total` tuples into the empty `out`, at `n` observations.
    pub(super) fn new(
        out: &'a mut Vec<Tuple>,
        total: usize,
        slopes: &'a [Slopes],
        n: u64,
        cap: f64,
        floor: f64,
    ) -> Self {
        debug_assert!(out.is_empty());
        Merger {
            out,
            top: None,
            l_top: 0,
            limit: 0,
            rest: total,
            slopes,
            n,
            cap,
            floor,
        }
    }

    /// Closes `top` and opens `next`.
    #[inline]
    pub(super) fn open(&mut self, next: Tuple) {
        if let Some(top) = self.top {
            self.out.push(top);
            self.l_top += top.g;
            let f = allowed_width(self.slopes, self.l_top, self.n, self.cap);
            // A width w (an integer below 2^53) passes `w ≤ floor || w ≤ f` exactly when
            // `w ≤ ⌊max(floor, f)⌋`; the cast floors and saturates (∞ → u64::MAX).
            self.limit = f.max(self.floor) as u64;
        }
        self.top = Some(next);
        self.rest -= 1;
    }

    /// One tuple: a stored one, or a single new value.
    #[inline]
    pub(super) fn step(&mut self, next: Tuple) {
        match self.top {
            Some(top)
                if !self.out.is_empty()
                    && self.rest >= 2
                    && top.g + next.g + next.delta <= self.limit =>
            {
                self.top = Some(Tuple {
                    g: top.g + next.g,
                    ..next
                });
                self.rest -= 1;
            }
            _ => self.open(next),
        }
    }

    /// New values (`g = 1`, all with the same `delta`), in order.
    pub(super) fn run(&mut self, values: &[f64], delta: u64) {
        let mut j = 0;
        while j < values.len() {
            let top = match self.top {
                Some(top) if !self.out.is_empty() => top,
                // `top` is absent or the minimum: nothing can merge yet.
                _ => {
                    self.step(Tuple {
                        v: values[j],
                        g: 1,
                        delta,
                    });
                    j += 1;
                    continue;
                }
            };
            // Absorbing `a` values one by one needs `top.g + (a − 1) + 1 + delta ≤ limit` for
            // the last of them, and none may be the last tuple of the merge.
            let room = self.limit.saturating_sub(top.g + delta);
            let a = usize::try_from(room)
                .unwrap_or(usize::MAX)
                .min(values.len() - j)
                .min(self.rest - 1);
            if a > 0 {
                j += a;
                self.rest -= a;
                self.top = Some(Tuple {
                    v: values[j - 1],
                    g: top.g + a as u64,
                    delta,
                });
            }
            if j < values.len() {
                // The next value cannot absorb `top`: it opens a tuple of its own.
                self.open(Tuple {
                    v: values[j],
                    g: 1,
                    delta,
                });
                j += 1;
            }
        }
    }

    /// Emits the open tuple.
    pub(super) fn finish(self) {
        debug_assert_eq!(self.rest, 0);
        if let Some(top) = self.top {
            self.out.push(top);
        }
    }
}

/// The invariant's bound `f(L, n)`, capped at `cap`, for the constrained targets' `slopes`.
#[inline]
pub(super) fn allowed_width(slopes: &[Slopes], l: u64, n: u64, cap: f64) -> f64 {
    let lf = l as f64;
    let rf = (n - l) as f64;
    let mut f = cap;
    for s in slopes {
        let a = s.below * lf;
        let b = s.above * rf;
        let fj = if a > b { a } else { b };
        if fj < f {
            f = fj;
        }
    }
    f
}

/// Sorts `values` by [`f64::total_cmp`] and returns the NaN-free middle and the NaN count.
///
/// `total_cmp` orders negative NaNs first and positive NaNs last, so both ends are trimmed.
pub(crate) fn sort_and_trim_nan(values: &mut [f64]) -> (&[f64], u64) {
    sort_total(values);
    let start = values.iter().take_while(|v| v.is_nan()).count();
    let end = values.len()
        - values[start..]
            .iter()
            .rev()
            .take_while(|v| v.is_nan())
            .count();
    let nans = (values.len() - (end - start)) as u64;
    (&values[start..end], nans)
}

/// Sorts `values` by [`f64::total_cmp`], identically to `sort_unstable_by(f64::total_cmp)`
/// (equal keys are equal bit patterns, so stability cannot show) but about twice as fast: each
/// value is mapped in place to an order-preserving unsigned key held in the same slot, the
/// keys are sorted as integers (branch-free comparisons, no per-comparison transform), and
/// mapped back.
///
/// The keys are only moved and compared through [`f64::to_bits`], never used as floats; a key
/// can have a NaN bit pattern, which every target with SSE2 or a non-x86 FPU moves unchanged.
/// 32-bit x86 without SSE2 (x87 may quiet signalling NaNs) keeps the comparison sort.
pub(super) fn sort_total(values: &mut [f64]) {
    if cfg!(all(target_arch = "x86", not(target_feature = "sse2"))) {
        values.sort_unstable_by(f64::total_cmp);
        return;
    }
    for v in values.iter_mut() {
        *v = f64::from_bits(total_key(v.to_bits()));
    }
    // `sort_unstable_by_key(f64::to_bits)` measured twice as slow (15.7 vs 8.0 ns/value for
    // 512 values): the comparison closure lets the small-sort networks stay branch-free.
    #[allow(clippy::unnecessary_sort_by)]
    values.sort_unstable_by(|a, b| a.to_bits().cmp(&b.to_bits()));
    for v in values.iter_mut() {
        *v = f64::from_bits(total_key_inverse(v.to_bits()));
    }
}

/// The unsigned key whose order is [`f64::total_cmp`]'s: negative values have every bit
/// flipped, non-negative ones only the sign bit.
#[inline]
fn total_key(bits: u64) -> u64 {
    bits ^ ((((bits as i64) >> 63) as u64) | (1 << 63))
}

/// The inverse of [`total_key`].
#[inline]
fn total_key_inverse(key: u64) -> u64 {
    key ^ (((((!key) as i64) >> 63) as u64) | (1 << 63))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_sort_matches_total_cmp() {
        let specials = [
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7FF0_0000_0000_0001), // signalling NaN
            f64::from_bits(0xFFF0_0000_0000_0001),
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            f64::from_bits(1), // smallest subnormal
            f64::from_bits(0x8000_0000_0000_0001),
            f64::MAX,
            f64::MIN,
            1.0,
            -1.0,
        ];
        for &v in &specials {
            assert_eq!(total_key_inverse(total_key(v.to_bits())), v.to_bits());
        }
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for len in [0, 1, 2, 17, 512, 4096] {
            let mut a: Vec<f64> = (0..len)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if i % 5 == 0 {
                        specials[(x % 16) as usize]
                    } else if i % 5 == 1 {
                        (x % 7) as f64 - 3.0
                    } else {
                        f64::from_bits(x)
                    }
                })
                .collect();
            let mut b = a.clone();
            sort_total(&mut a);
            b.sort_unstable_by(f64::total_cmp);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "len {len}");
        }
    }
}
