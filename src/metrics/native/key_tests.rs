//! Tests of the bucket math in `key.rs`.

use super::*;
use crate::metrics::native::{MAX_SCHEMA, MIN_SCHEMA};

/// The smallest key whose upper bound is at least `a` (normal `a`), by bisection over
/// [`upper_bound`]: the definition, independent of the cell table.
fn reference_key(a: f64, schema: i8) -> i32 {
    let (mut lo, mut hi) = (-(1100 << 8), 1100 << 8);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if upper_bound(mid, schema) >= a {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// `2^e` exactly, for `e` in −1074…1023 (`powi` loses the smallest ones).
fn pow2(e: i32) -> f64 {
    if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1 << (e + 1074))
    }
}

/// `x^2` of a little-endian big integer.
fn square(x: &[u64]) -> Vec<u64> {
    let mut out = vec![0u64; 2 * x.len()];
    for (i, &a) in x.iter().enumerate() {
        let mut carry = 0u128;
        for (j, &b) in x.iter().enumerate() {
            let t = u128::from(a) * u128::from(b) + u128::from(out[i + j]) + carry;
            out[i + j] = t as u64;
            carry = t >> 64;
        }
        let mut k = i + x.len();
        while carry != 0 {
            let t = u128::from(out[k]) + carry;
            out[k] = t as u64;
            carry = t >> 64;
            k += 1;
        }
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    out
}

fn bit_len(x: &[u64]) -> u32 {
    x.last().map_or(0, |&top| {
        64 * (x.len() as u32 - 1) + 64 - top.leading_zeros()
    })
}

#[test]
fn bounds_are_correctly_rounded() {
    // With `M` the 53-bit significand of entry `i` (value `M·2^-52`), the entry is the
    // nearest `f64` to `2^(i/256)` iff `(2M−1)·2^-53 < 2^(i/256) < (2M+1)·2^-53`, i.e.
    // `(2M−1)^256 < 2^(i + 53·256) < (2M+1)^256`: exact integers, compared by bit length
    // (`(2M+1)^256` is odd, so never a power of two).
    for (i, &bits) in BOUNDS.iter().enumerate() {
        assert_eq!(bits >> 52, 0x3ff, "entry {i} is not in [1, 2)");
        let m = (1u64 << 52) | (bits & MANTISSA);
        let pow256 = |x: u64| (0..8).fold(vec![x], |acc, _| square(&acc));
        let p = i as u32 + 53 * 256;
        assert!(bit_len(&pow256(2 * m - 1)) <= p, "entry {i} is too high");
        assert!(bit_len(&pow256(2 * m + 1)) > p, "entry {i} is too low");
    }
    // And they agree with the platform's exp2 to within one unit in the last place.
    for (i, &bits) in BOUNDS.iter().enumerate() {
        let e = (i as f64 / 256.0).exp2().to_bits();
        assert!(bits.abs_diff(e) <= 1, "entry {i}");
    }
}

#[test]
fn keys_follow_the_spec_bounds_at_every_schema() {
    for schema in MIN_SCHEMA..=MAX_SCHEMA {
        for v in [
            1e-310, 1e-300, 3e-9, 0.001, 0.7, 1.0, 1.5, 2.0, 3.0, 1000.0, 7.3e12, 1e300,
        ] {
            let k = key(v, schema);
            let (lo, hi) = (upper_bound(k - 1, schema), upper_bound(k, schema));
            assert!(
                lo < v && v <= hi * (1.0 + 1e-15),
                "{v} schema {schema}: ({lo}, {hi}]"
            );
            // The exact formula, away from the bounds' rounding.
            let exact = (v.log2() * f64::from(schema).exp2()).ceil() as i32;
            let on_bound = (v.log2() * f64::from(schema).exp2()).fract().abs() < 1e-9;
            if !on_bound {
                assert_eq!(k, exact, "{v} schema {schema}");
            }
        }
        // Powers of two are upper bounds (inclusive).
        assert_eq!(key(1.0, schema), 0);
        assert_eq!(upper_bound(0, schema), 1.0);
        assert_eq!(
            upper_bound(key(f64::INFINITY, schema), schema),
            f64::INFINITY
        );
        assert!(upper_bound(key(f64::MAX, schema), schema) >= f64::MAX);
    }
}

#[test]
fn every_bound_is_inclusive_and_the_next_value_is_in_the_next_bucket() {
    for schema in MIN_SCHEMA..=MAX_SCHEMA {
        // Keys of every bound within a power of two, at exponents across the normal range.
        let per_pow2 = if schema > 0 { 1 << schema } else { 1 };
        let step = if schema > 0 { 1 } else { 1 << -schema };
        for e in [
            -1021, -1008, -512, -500, -16, -3, -1, 0, 1, 2, 10, 16, 500, 512, 1008, 1022,
        ] {
            if e % step != 0 {
                continue;
            }
            let first = if schema > 0 {
                e << schema
            } else {
                e >> -schema
            };
            for k in first..first + per_pow2 {
                let b = upper_bound(k, schema);
                assert!(b.is_normal(), "{k} schema {schema}");
                assert_eq!(key(b, schema), k, "bound {b} schema {schema}");
                assert_eq!(key(b.next_up(), schema), k + 1, "above {b} schema {schema}");
                assert_eq!(key(b.next_down(), schema), k, "below {b} schema {schema}");
                let lower = upper_bound(k - 1, schema);
                assert_eq!(key(lower.next_up(), schema), k, "above {lower}");
            }
        }
    }
}

#[test]
fn powers_of_two_and_extremes() {
    for schema in MIN_SCHEMA..=MAX_SCHEMA {
        // `2^e` is the upper bound of key `e·2^schema` (rounded up below schema 1).
        let of_exp = |e: i32| {
            if schema > 0 {
                e << schema
            } else {
                let d = -schema as u32;
                (e + (1 << d) - 1) >> d
            }
        };
        for e in -1074..=1023 {
            let v = pow2(e);
            assert_eq!(key(v, schema), of_exp(e), "2^{e} schema {schema}");
        }
        // The largest subnormal is just below 2^-1022; the smallest is 2^-1074.
        let max_sub = f64::MIN_POSITIVE.next_down();
        assert_eq!(key(max_sub, schema), of_exp(-1022), "schema {schema}");
        assert_eq!(key(f64::from_bits(1), schema), of_exp(-1074));
        assert_eq!(key(f64::MAX, schema), of_exp(1024), "schema {schema}");
        assert_eq!(key(f64::INFINITY, schema), of_exp(1024), "schema {schema}");
        // Subnormals sit where the bounds, scaled by 2^64 into the normal range, put them.
        for bits in [3u64, 0xabcd, 1 << 40, (1 << 52) - 7, 0x000f_ffff_0000_0001] {
            let v = f64::from_bits(bits);
            assert!(v.is_subnormal());
            assert_eq!(
                key(v, schema),
                reference_key(v * 2f64.powi(64), schema) - of_exp(64),
                "{v:e} schema {schema}"
            );
        }
    }
}

#[test]
fn the_cell_lookup_agrees_with_the_definition() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Every mantissa at exponents around 1, any normal value, and the bounds themselves.
        let near_one = f64::from_bits((x & MANTISSA) | (1023 << 52));
        let any = f64::from_bits(x >> 1);
        let bound = f64::from_bits(BOUNDS[(x >> 56) as usize]);
        for a in [near_one, any, bound] {
            if !a.is_normal() {
                continue;
            }
            for schema in MIN_SCHEMA..=MAX_SCHEMA {
                assert_eq!(key(a, schema), reference_key(a, schema), "{a:e} {schema}");
            }
        }
    }
}

#[test]
fn coarsening_nests_buckets() {
    for from in (MIN_SCHEMA + 1)..=MAX_SCHEMA {
        for to in MIN_SCHEMA..from {
            for v in [1e-7, 0.3, 1.0, 1.01, 5.0, 123.456, 1e9] {
                assert_eq!(
                    coarsen(key(v, from), from, to),
                    key(v, to),
                    "{v} {from}->{to}"
                );
            }
        }
    }
}

#[test]
fn ldexp_does_not_overflow_in_between() {
    assert_eq!(ldexp(1.5, -1073), 3.0 * pow2(-1074));
    assert_eq!(ldexp(0.75, 1024), 1.5 * pow2(1023));
    assert_eq!(ldexp(1.0, 2000), f64::INFINITY);
}
