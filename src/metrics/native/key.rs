//! Module implementing the bucket math of native histograms: the [`key`] of the bucket a value
//! falls into at a schema, a bucket's [`upper_bound`], and the key of the enclosing bucket at a
//! coarser schema ([`coarsen`]).
//!
//! # How a key is found
//!
//! A finite `a > 0` is `1.m · 2^e` with its 52-bit mantissa `m` and exponent `e` read from its
//! bits. At schema `s > 0` the bounds within one power of two are `2^(i/2^s)`, `i` in
//! `0..2^s`; the key is `e · 2^s` plus the number `j` of those bounds below `1.m` (a bound
//! equal to the value is its bucket's upper bound, so it is not counted). The top `s + 1`
//! mantissa bits name a *cell*, a slice of the mantissa range narrower than any bucket, so at
//! most one bound lies inside it: one table entry per cell holds the number of bounds below
//! the cell and that bound's mantissa, and one compare of `m` against it gives `j`. At schema
//! `s ≤ 0` the key is `e` (one less for an exact power of two, an upper bound itself) divided
//! by `2^-s`, rounded up. Subnormals and `+Inf` take an out-of-line path.

/// The bits of `2^(i/256)` for `i` in `0..256`, each the `f64` nearest to the exact value
/// (generated with Python's `decimal` at 80 digits; the test
/// `bounds_are_correctly_rounded` checks every one with exact integer arithmetic). Schema `s`
/// uses every `2^(8−s)`-th entry. A literal table, unlike `f64::exp2`, is the same on every
/// platform.
#[rustfmt::skip]
const BOUNDS: [u64; 256] = [
    0x3ff0000000000000, 0x3ff00b1afa5abcbf, 0x3ff0163da9fb3335, 0x3ff02168143b0281,
    0x3ff02c9a3e778061, 0x3ff037d42e11bbcc, 0x3ff04315e86e7f85, 0x3ff04e5f72f654b1,
    0x3ff059b0d3158574, 0x3ff0650a0e3c1f89, 0x3ff0706b29ddf6de, 0x3ff07bd42b72a836,
    0x3ff0874518759bc8, 0x3ff092bdf66607e0, 0x3ff09e3ecac6f383, 0x3ff0a9c79b1f3919,
    0x3ff0b5586cf9890f, 0x3ff0c0f145e46c85, 0x3ff0cc922b7247f7, 0x3ff0d83b23395dec,
    0x3ff0e3ec32d3d1a2, 0x3ff0efa55fdfa9c5, 0x3ff0fb66affed31b, 0x3ff1073028d7233e,
    0x3ff11301d0125b51, 0x3ff11edbab5e2ab6, 0x3ff12abdc06c31cc, 0x3ff136a814f204ab,
    0x3ff1429aaea92de0, 0x3ff14e95934f312e, 0x3ff15a98c8a58e51, 0x3ff166a45471c3c2,
    0x3ff172b83c7d517b, 0x3ff17ed48695bbc0, 0x3ff18af9388c8dea, 0x3ff1972658375d2f,
    0x3ff1a35beb6fcb75, 0x3ff1af99f8138a1c, 0x3ff1bbe084045cd4, 0x3ff1c82f95281c6b,
    0x3ff1d4873168b9aa, 0x3ff1e0e75eb44027, 0x3ff1ed5022fcd91d, 0x3ff1f9c18438ce4d,
    0x3ff2063b88628cd6, 0x3ff212be3578a819, 0x3ff21f49917ddc96, 0x3ff22bdda27912d1,
    0x3ff2387a6e756238, 0x3ff2451ffb82140a, 0x3ff251ce4fb2a63f, 0x3ff25e85711ece75,
    0x3ff26b4565e27cdd, 0x3ff2780e341ddf29, 0x3ff284dfe1f56381, 0x3ff291ba7591bb70,
    0x3ff29e9df51fdee1, 0x3ff2ab8a66d10f13, 0x3ff2b87fd0dad990, 0x3ff2c57e39771b2f,
    0x3ff2d285a6e4030b, 0x3ff2df961f641589, 0x3ff2ecafa93e2f56, 0x3ff2f9d24abd886b,
    0x3ff306fe0a31b715, 0x3ff31432edeeb2fd, 0x3ff32170fc4cd831, 0x3ff32eb83ba8ea32,
    0x3ff33c08b26416ff, 0x3ff3496266e3fa2d, 0x3ff356c55f929ff1, 0x3ff36431a2de883b,
    0x3ff371a7373aa9cb, 0x3ff37f26231e754a, 0x3ff38cae6d05d866, 0x3ff39a401b7140ef,
    0x3ff3a7db34e59ff7, 0x3ff3b57fbfec6cf4, 0x3ff3c32dc313a8e5, 0x3ff3d0e544ede173,
    0x3ff3dea64c123422, 0x3ff3ec70df1c5175, 0x3ff3fa4504ac801c, 0x3ff40822c367a024,
    0x3ff4160a21f72e2a, 0x3ff423fb2709468a, 0x3ff431f5d950a897, 0x3ff43ffa3f84b9d4,
    0x3ff44e086061892d, 0x3ff45c2042a7d232, 0x3ff46a41ed1d0057, 0x3ff4786d668b3237,
    0x3ff486a2b5c13cd0, 0x3ff494e1e192aed2, 0x3ff4a32af0d7d3de, 0x3ff4b17dea6db7d7,
    0x3ff4bfdad5362a27, 0x3ff4ce41b817c114, 0x3ff4dcb299fddd0d, 0x3ff4eb2d81d8abff,
    0x3ff4f9b2769d2ca7, 0x3ff508417f4531ee, 0x3ff516daa2cf6642, 0x3ff5257de83f4eef,
    0x3ff5342b569d4f82, 0x3ff542e2f4f6ad27, 0x3ff551a4ca5d920f, 0x3ff56070dde910d2,
    0x3ff56f4736b527da, 0x3ff57e27dbe2c4cf, 0x3ff58d12d497c7fd, 0x3ff59c0827ff07cc,
    0x3ff5ab07dd485429, 0x3ff5ba11fba87a03, 0x3ff5c9268a5946b7, 0x3ff5d84590998b93,
    0x3ff5e76f15ad2148, 0x3ff5f6a320dceb71, 0x3ff605e1b976dc09, 0x3ff6152ae6cdf6f4,
    0x3ff6247eb03a5585, 0x3ff633dd1d1929fd, 0x3ff6434634ccc320, 0x3ff652b9febc8fb7,
    0x3ff6623882552225, 0x3ff671c1c70833f6, 0x3ff68155d44ca973, 0x3ff690f4b19e9538,
    0x3ff6a09e667f3bcd, 0x3ff6b052fa75173e, 0x3ff6c012750bdabf, 0x3ff6cfdcddd47645,
    0x3ff6dfb23c651a2f, 0x3ff6ef9298593ae5, 0x3ff6ff7df9519484, 0x3ff70f7466f42e87,
    0x3ff71f75e8ec5f74, 0x3ff72f8286ead08a, 0x3ff73f9a48a58174, 0x3ff74fbd35d7cbfd,
    0x3ff75feb564267c9, 0x3ff77024b1ab6e09, 0x3ff780694fde5d3f, 0x3ff790b938ac1cf6,
    0x3ff7a11473eb0187, 0x3ff7b17b0976cfdb, 0x3ff7c1ed0130c132, 0x3ff7d26a62ff86f0,
    0x3ff7e2f336cf4e62, 0x3ff7f3878491c491, 0x3ff80427543e1a12, 0x3ff814d2add106d9,
    0x3ff82589994cce13, 0x3ff8364c1eb941f7, 0x3ff8471a4623c7ad, 0x3ff857f4179f5b21,
    0x3ff868d99b4492ed, 0x3ff879cad931a436, 0x3ff88ac7d98a6699, 0x3ff89bd0a478580f,
    0x3ff8ace5422aa0db, 0x3ff8be05bad61778, 0x3ff8cf3216b5448c, 0x3ff8e06a5e0866d9,
    0x3ff8f1ae99157736, 0x3ff902fed0282c8a, 0x3ff9145b0b91ffc6, 0x3ff925c353aa2fe2,
    0x3ff93737b0cdc5e5, 0x3ff948b82b5f98e5, 0x3ff95a44cbc8520f, 0x3ff96bdd9a7670b3,
    0x3ff97d829fde4e50, 0x3ff98f33e47a22a2, 0x3ff9a0f170ca07ba, 0x3ff9b2bb4d53fe0d,
    0x3ff9c49182a3f090, 0x3ff9d674194bb8d5, 0x3ff9e86319e32323, 0x3ff9fa5e8d07f29e,
    0x3ffa0c667b5de565, 0x3ffa1e7aed8eb8bb, 0x3ffa309bec4a2d33, 0x3ffa42c980460ad8,
    0x3ffa5503b23e255d, 0x3ffa674a8af46052, 0x3ffa799e1330b358, 0x3ffa8bfe53c12e59,
    0x3ffa9e6b5579fdbf, 0x3ffab0e521356eba, 0x3ffac36bbfd3f37a, 0x3ffad5ff3a3c2774,
    0x3ffae89f995ad3ad, 0x3ffafb4ce622f2ff, 0x3ffb0e07298db666, 0x3ffb20ce6c9a8952,
    0x3ffb33a2b84f15fb, 0x3ffb468415b749b1, 0x3ffb59728de5593a, 0x3ffb6c6e29f1c52a,
    0x3ffb7f76f2fb5e47, 0x3ffb928cf22749e4, 0x3ffba5b030a1064a, 0x3ffbb8e0b79a6f1f,
    0x3ffbcc1e904bc1d2, 0x3ffbdf69c3f3a207, 0x3ffbf2c25bd71e09, 0x3ffc06286141b33d,
    0x3ffc199bdd85529c, 0x3ffc2d1cd9fa652c, 0x3ffc40ab5fffd07a, 0x3ffc544778fafb22,
    0x3ffc67f12e57d14b, 0x3ffc7ba88988c933, 0x3ffc8f6d9406e7b5, 0x3ffca3405751c4db,
    0x3ffcb720dcef9069, 0x3ffccb0f2e6d1675, 0x3ffcdf0b555dc3fa, 0x3ffcf3155b5bab74,
    0x3ffd072d4a07897c, 0x3ffd1b532b08c968, 0x3ffd2f87080d89f2, 0x3ffd43c8eacaa1d6,
    0x3ffd5818dcfba487, 0x3ffd6c76e862e6d3, 0x3ffd80e316c98398, 0x3ffd955d71ff6075,
    0x3ffda9e603db3285, 0x3ffdbe7cd63a8315, 0x3ffdd321f301b460, 0x3ffde7d5641c0658,
    0x3ffdfc97337b9b5f, 0x3ffe11676b197d17, 0x3ffe264614f5a129, 0x3ffe3b333b16ee12,
    0x3ffe502ee78b3ff6, 0x3ffe653924676d76, 0x3ffe7a51fbc74c83, 0x3ffe8f7977cdb740,
    0x3ffea4afa2a490da, 0x3ffeb9f4867cca6e, 0x3ffecf482d8e67f1, 0x3ffee4aaa2188510,
    0x3ffefa1bee615a27, 0x3fff0f9c1cb6412a, 0x3fff252b376bba97, 0x3fff3ac948dd7274,
    0x3fff50765b6e4540, 0x3fff6632798844f8, 0x3fff7bfdad9cbe14, 0x3fff91d802243c89,
    0x3fffa7c1819e90d8, 0x3fffbdba3692d514, 0x3fffd3c22b8f71f1, 0x3fffe9d96b2a23d9,
];

/// The mantissa bits of an `f64`.
const MANTISSA: u64 = (1 << 52) - 1;
/// In a [`CELLS`] entry, the bits below the bound's mantissa: the number of bounds below the
/// cell (at most 256).
const BASE_BITS: u32 = 11;
/// A bound "mantissa" above every real one, for cells without a bound inside.
const NO_BOUND: u64 = (1 << (64 - BASE_BITS)) - 1;

/// Where schema `s`'s row of `2^(s+1)` cells starts in [`CELLS`] (`s` in 1..=8).
const fn row(s: u32) -> usize {
    (2 << s) - 4
}

/// For each schema `s` in 1..=8 (row [`row`]`(s)`) and cell `c` (the top `s + 1` mantissa
/// bits): `t << BASE_BITS | base`, where `base` is the number of the schema's bounds whose
/// mantissa is below the cell's lowest mantissa and `t` is the mantissa of the bound inside
/// the cell ([`NO_BOUND`] if none). Built at compile time; a cell holding two bounds would
/// fail the build.
static CELLS: [u64; 1024] = {
    let mut cells = [0u64; 1024];
    let mut s = 1;
    while s <= 8 {
        let n = 1usize << s;
        let width = 1u64 << (51 - s);
        let mut below = 0; // bounds with mantissa below the current cell's lowest
        let mut c = 0;
        while c < 2 * n {
            let lowest = c as u64 * width;
            while below < n && (BOUNDS[below << (8 - s)] & MANTISSA) < lowest {
                below += 1;
            }
            assert!(
                !in_cell(s, below + 1, lowest + width),
                "two bounds in one cell"
            );
            let t = if in_cell(s, below, lowest + width) {
                BOUNDS[below << (8 - s)] & MANTISSA
            } else {
                NO_BOUND
            };
            cells[row(s as u32) + c] = t << BASE_BITS | below as u64;
            c += 1;
        }
        s += 1;
    }
    cells
};

/// Whether bound `i` of schema `s` exists and has a mantissa below `end` (for [`CELLS`]).
const fn in_cell(s: usize, i: usize, end: u64) -> bool {
    i < 1 << s && (BOUNDS[i << (8 - s)] & MANTISSA) < end
}

/// The key of the bucket holding `a` (`a` > 0, not NaN) at `schema` (−4…8). `+Inf` gets the
/// key of the bucket whose upper bound is `2^1024 = +Inf`.
#[inline]
pub(crate) fn key(a: f64, schema: i8) -> i32 {
    key_of_bits(a.to_bits(), schema)
}

/// [`key`] of the value with bits `bits` (the observe path has them at hand).
#[inline]
pub(crate) fn key_of_bits(bits: u64, schema: i8) -> i32 {
    let e = (bits >> 52) as u32;
    // Biased exponent 0 (subnormal) or 0x7ff (`+Inf`); a set sign bit (not passed) lands
    // there too.
    if e.wrapping_sub(1) >= 0x7fe {
        return rare_key(f64::from_bits(bits), schema);
    }
    normal_key(e as i32 - 1023, bits & MANTISSA, schema)
}

/// The key of `1.m · 2^e` (a normal value).
#[inline(always)]
fn normal_key(e: i32, m: u64, schema: i8) -> i32 {
    if schema > 0 {
        let s = schema as u32;
        // `s` ≤ 8, so the index is below 1020 and the mask only spares a bounds check.
        let cell = CELLS[(row(s) + (m >> (51 - s)) as usize) & 1023];
        let j = (cell & ((1 << BASE_BITS) - 1)) + u64::from(m << BASE_BITS > cell);
        (e << s) + j as i32
    } else {
        // An exact power of two is the upper bound of the bucket below.
        let k = e + 1 - i32::from(m == 0);
        let d = (-schema) as u32;
        (k + (1 << d) - 1) >> d
    }
}

/// [`key`] for subnormals and `+Inf`.
#[cold]
#[inline(never)]
fn rare_key(a: f64, schema: i8) -> i32 {
    // Keys step by `2^schema` per power of two (by `2^-schema` powers of two per key below
    // schema 1; 64 is a multiple of `2^4`).
    let per_64 = if schema > 0 {
        64 << schema
    } else {
        64 >> -schema
    };
    if a == f64::INFINITY {
        return per_64 * 16; // 2^1024
    }
    // A subnormal: scaling by 2^64 is exact and lands in the normal range.
    let b = (a * 2f64.powi(64)).to_bits();
    normal_key(((b >> 52) & 0x7ff) as i32 - 1023, b & MANTISSA, schema) - per_64
}

/// `x · 2^e` without intermediate overflow for |e| up to ~2100.
fn ldexp(x: f64, e: i32) -> f64 {
    let h = e / 2;
    x * 2f64.powi(h) * 2f64.powi(e - h)
}

/// The upper bound of bucket `k` at `schema`: `2^(k·2^-schema)`.
pub(crate) fn upper_bound(k: i32, schema: i8) -> f64 {
    if schema > 0 {
        let e = k >> schema;
        let j = (k - (e << schema)) as usize;
        ldexp(f64::from_bits(BOUNDS[j << (8 - schema as u32)]), e)
    } else {
        ldexp(1.0, k << -schema)
    }
}

/// The key at schema `to` (≤ `from`) of the bucket that contains bucket `k` of schema `from`.
#[inline]
pub(crate) fn coarsen(k: i32, from: i8, to: i8) -> i32 {
    let d = (from - to) as u32;
    (k + (1 << d) - 1) >> d
}

#[cfg(all(test, not(tachymeter_loom)))]
#[path = "key_tests.rs"]
mod tests;
