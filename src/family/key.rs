//! Module implementing a child's key (its label values, as stored) and the borrowed lookup
//! query that hashes and compares like it.

use core::hash::{Hash, Hasher};

/// A child's key: its label values in label-name order, borrowed from the child's one
/// allocation (see [`ChildRef`](super::child::ChildRef)), so a lookup compares it with one
/// pointer chase. Two forms:
///
/// * **rendered**: the child's rendered labels (`a="x",b="y"`) when no value needed escaping,
///   so each value appears verbatim between a pair of quotes (names never hold a quote);
/// * **explicit**: each value as its length (one byte below 255, else 255 and a 4-byte
///   little-endian length) then its bytes.
///
/// The form follows from the values alone, so two keys of one family are equal exactly when
/// their values are, and the derived equality is value equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LabelKey<'a> {
    bytes: &'a [u8],
    rendered: bool,
}

/// Key length prefix meaning "a 4-byte length follows".
const LONG: u8 = u8::MAX;

/// Splits one value off the front of a key: `(value, rest)`.
#[inline]
fn split_value(key: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&n, tail) = key.split_first()?;
    let (len, tail) = if n == LONG {
        let (len, tail) = tail.split_first_chunk::<4>()?;
        (u32::from_le_bytes(*len) as usize, tail)
    } else {
        (n as usize, tail)
    };
    (len <= tail.len()).then(|| tail.split_at(len))
}

/// Splits one value off the front of rendered labels: `(value, rest)`, for values holding
/// no quote (the rendered form's condition).
#[inline]
fn split_rendered(labels: &[u8]) -> Option<(&[u8], &[u8])> {
    let open = labels.iter().position(|&b| b == b'"')?;
    let tail = &labels[open + 1..];
    let close = tail.iter().position(|&b| b == b'"')?;
    let rest = &tail[close + 1..];
    Some((&tail[..close], rest.strip_prefix(b",").unwrap_or(rest)))
}

impl<'a> LabelKey<'a> {
    /// The key of values stored as `write_key` wrote them.
    pub(super) fn explicit(bytes: &'a [u8]) -> Self {
        LabelKey {
            bytes,
            rendered: false,
        }
    }

    /// The key of values that appear verbatim in these rendered labels.
    pub(super) fn rendered(labels: &'a [u8]) -> Self {
        LabelKey {
            bytes: labels,
            rendered: true,
        }
    }

    /// The values' bytes, in order.
    pub(super) fn values(self) -> impl Iterator<Item = &'a [u8]> {
        let mut rest = self.bytes;
        let split = if self.rendered {
            split_rendered
        } else {
            split_value
        };
        core::iter::from_fn(move || {
            let (v, tail) = split(rest)?;
            rest = tail;
            Some(v)
        })
    }
}

/// A borrowed lookup key, hashed exactly like [`LabelKey`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabelQuery<'q>(pub(super) &'q [&'q str]);

// Both hash every value as (length, bytes): the length prefix keeps ["ab","c"] and
// ["a","bc"] apart, and equality below compares values in full, so a hash collision can never
// merge two series.
impl Hash for LabelKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for v in self.values() {
            state.write_usize(v.len());
            state.write(v);
        }
    }
}

impl Hash for LabelQuery<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for v in self.0 {
            state.write_usize(v.len());
            state.write(v.as_bytes());
        }
    }
}

impl LabelQuery<'_> {
    /// Full comparison of every value (never by hash alone).
    #[inline]
    pub(super) fn matches(&self, key: LabelKey<'_>) -> bool {
        if key.rendered {
            return self.matches_rendered(key.bytes);
        }
        let mut rest = key.bytes;
        for v in self.0 {
            let v = v.as_bytes();
            let Some((k, tail)) = split_value(rest) else {
                return false;
            };
            if !bytes_eq(v, k) {
                return false;
            }
            rest = tail;
        }
        rest.is_empty()
    }

    /// [`matches`](Self::matches), given the family's label names: they place each value of
    /// a rendered key without a scan (the per-thread cache's hit path).
    ///
    /// Exact although it checks only the quotes around each value and the total length:
    /// the labels hold `2n` quotes for `n` values, and the `n` query values demand a quote
    /// before and after each (`2n` distinct positions, in order) plus one for each quote
    /// they hold. So they hold none, their quotes are the text's, every value starts and ends
    /// where the stored one does, and the bytes in between compare equal.
    // Always inlined: as a call it cost the cache hit 10-20 % (measured with
    // `lifecycle_cmp hit`).
    #[inline(always)]
    pub(super) fn matches_in(&self, key: LabelKey<'_>, names: &[Box<str>]) -> bool {
        if !key.rendered || names.len() != self.0.len() {
            return self.matches(key);
        }
        let labels = key.bytes;
        let mut at = 0;
        for (v, name) in self.0.iter().zip(names) {
            let v = v.as_bytes();
            // `name="` precedes the value, `",` follows it.
            let start = at + name.len() + 2;
            let end = start + v.len();
            if labels.get(start - 1) != Some(&b'"')
                || labels.get(end) != Some(&b'"')
                || !bytes_eq(v, &labels[start..end])
            {
                return false;
            }
            at = end + 2;
        }
        // Past the last value's closing quote and the comma that is not there. Implied by the
        // quote count above (no test can reach a failure here); kept as the cheap guard
        // against a key rendered with other names.
        at == labels.len() + usize::from(!names.is_empty())
    }

    /// [`matches`](Self::matches) for the rendered form: each value must sit between the
    /// next quote and a quote right after it.
    ///
    /// Exact although it never scans a value for quotes: the labels hold `2n` quotes for `n`
    /// values, and matching one query value consumes at least two (its opening and closing
    /// quote) plus any inside it. The `n` query values (the family checked the count) can
    /// only all match, ending at the text's end, if each consumed exactly two, i.e. held no
    /// quote; then each lies between an opening quote and the next quote, which is that
    /// value's closing quote, so it equals the stored value. (Stored values hold no `\` or
    /// newline either, so a query value with one never compares equal.)
    #[inline]
    fn matches_rendered(&self, labels: &[u8]) -> bool {
        let mut rest = labels;
        for v in self.0 {
            let v = v.as_bytes();
            let Some(open) = rest.iter().position(|&b| b == b'"') else {
                return false;
            };
            let tail = &rest[open + 1..];
            if tail.get(v.len()) != Some(&b'"') || !bytes_eq(v, &tail[..v.len()]) {
                return false;
            }
            let after = &tail[v.len() + 1..];
            rest = after.strip_prefix(b",").unwrap_or(after);
        }
        rest.is_empty()
    }

    /// A fast, unkeyed hash of the values for the per-thread cache, where a collision (even a
    /// provoked one) only costs a miss: the entry is compared in full before use.
    #[cfg(not(tachymeter_loom))]
    #[inline]
    pub(super) fn quick_hash(&self) -> u64 {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mix = |h: u64, w: u64| (h.rotate_left(5) ^ w).wrapping_mul(K);
        let mut h = 0u64;
        for v in self.0 {
            let b = v.as_bytes();
            h = mix(h, b.len() as u64);
            if b.len() <= 16 {
                let (w1, w2) = words(b);
                h = mix(mix(h, w1), w2);
            } else {
                for c in b.chunks(8) {
                    h = mix(h, words(c).0);
                }
            }
        }
        h
    }

    /// Appends the key of these values to `out`. Label values longer than `u32::MAX` bytes
    /// are not supported (an exposition line that long is not either).
    pub(super) fn write_key(self, out: &mut Vec<u8>) {
        for v in self.0 {
            match u8::try_from(v.len()) {
                Ok(n) if n != LONG => out.push(n),
                _ => {
                    out.push(LONG);
                    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                }
            }
            out.extend_from_slice(v.as_bytes());
        }
    }

    /// Bytes of [`write_key`](Self::write_key)'s output.
    pub(super) fn key_len(self) -> usize {
        self.0
            .iter()
            .map(|v| v.len() + if v.len() < LONG as usize { 1 } else { 5 })
            .sum()
    }
}

/// Two words that together hold every byte of `b` (at most 16 bytes), by overlapping loads:
/// for equal lengths, equal words mean equal bytes.
#[inline]
fn words(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    let le4 = |s: &[u8]| u64::from(u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
    let le8 = |s: &[u8]| u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]);
    match n {
        0 => (0, 0),
        1..=3 => (
            u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16,
            0,
        ),
        4..=7 => (le4(b), le4(&b[n - 4..])),
        _ => (le8(b), le8(&b[n - 8..])),
    }
}

/// Byte equality without a `memcmp` call for the short values labels usually hold.
#[inline]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && if a.len() <= 16 {
            words(a) == words(b)
        } else {
            a == b
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_eq_agrees_with_byte_equality_at_every_length() {
        let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for n in 0..40 {
            let a = std::str::from_utf8(&base[..n]).unwrap();
            assert!(bytes_eq(a.as_bytes(), a.as_bytes()));
            for i in 0..n {
                // Differ in exactly one position: must be unequal wherever it is.
                let mut m = base[..n].to_vec();
                m[i] = b'Z';
                let b = std::str::from_utf8(&m).unwrap();
                assert!(
                    !bytes_eq(a.as_bytes(), b.as_bytes()),
                    "len {n}, position {i}"
                );
            }
            if n > 0 {
                assert!(!bytes_eq(a.as_bytes(), &base[..n - 1]));
            }
        }
    }

    fn key_of(v: &[&str]) -> Vec<u8> {
        let mut k = Vec::new();
        LabelQuery(v).write_key(&mut k);
        assert_eq!(k.len(), LabelQuery(v).key_len());
        k
    }

    /// Checks that `key` holds exactly `v`: it hashes like the query, both matchers accept
    /// the query (`names`: the family's label names, which `matches_in` places values by),
    /// and it splits into `v`.
    fn assert_holds(key: LabelKey<'_>, v: &[&str], names: &[Box<str>]) {
        let s = ahash::RandomState::new();
        assert_eq!(s.hash_one(key), s.hash_one(LabelQuery(v)), "{v:?}");
        assert!(LabelQuery(v).matches(key), "{v:?}");
        assert!(LabelQuery(v).matches_in(key, names), "{v:?}");
        let values: Vec<&[u8]> = key.values().collect();
        let expected: Vec<&[u8]> = v.iter().map(|x| x.as_bytes()).collect();
        assert_eq!(values, expected);
    }

    #[test]
    fn key_and_query_hash_and_compare_alike() {
        let long = "x".repeat(254);
        let longer = "y".repeat(255);
        let longest = "z".repeat(70_000);
        for v in [
            &["a", "bc"][..],
            &["ab", "c"],
            &["", ""],
            &[],
            &["ünï", "x".repeat(40).as_str()],
            // Around the one-byte length's limit: 254 fits, 255 takes the long form.
            &[long.as_str(), "a"],
            &[longer.as_str(), "b"],
            &["c", longest.as_str(), ""],
        ] {
            let bytes = key_of(v);
            assert_holds(LabelKey::explicit(&bytes), v, &[]);
        }
        let bytes = key_of(&["ab", "c"]);
        let key = LabelKey::explicit(&bytes);
        assert!(!LabelQuery(&["a", "bc"]).matches(key));
        assert!(!LabelQuery(&["ab"]).matches(key));
        assert!(!LabelQuery(&["ab", "c", ""]).matches(key));
        // 255 one-byte values never read as the long form's marker.
        let bytes = key_of(&[longer.as_str()]);
        assert!(!LabelQuery(&[&longer[..254]]).matches(LabelKey::explicit(&bytes)));
    }

    fn names(names: &[&str]) -> Vec<Box<str>> {
        names.iter().map(|&n| n.into()).collect()
    }

    /// Labels as `render_labels` writes them, for values that need no escaping.
    fn rendered(names: &[Box<str>], values: &[&str]) -> String {
        crate::encode::render_labels(names, values).into()
    }

    #[test]
    fn rendered_keys_hash_compare_and_split_like_explicit_ones() {
        for v in [
            &["a", "bc"][..],
            &["ab", "c"],
            &["", ""],
            &[],
            &["ünï", "x".repeat(300).as_str()],
            &["GET", "/users/{id}", "200"],
        ] {
            let names = names(&["method", "route", "status"][..v.len()]);
            let labels = rendered(&names, v);
            assert_holds(LabelKey::rendered(labels.as_bytes()), v, &names);
        }
    }

    /// Both matchers of the rendered form: the scanning one (`matches`, the shared map's) and
    /// the one that places values by the label names (`matches_in`, the cache hit's).
    #[test]
    fn a_rendered_key_never_matches_other_values() {
        let names = names(&["a", "b", "c"]);
        let labels = rendered(&names, &["x", "y", "z"]);
        let key = LabelKey::rendered(labels.as_bytes());
        assert!(LabelQuery(&["x", "y", "z"]).matches(key));
        assert!(LabelQuery(&["x", "y", "z"]).matches_in(key, &names));
        for q in [
            &["x", "y", ""][..],
            &["x", "y", "zz"],
            &["x", "y"],
            &["x", "y", "z", ""],
            &["", "x", "y"],
            &["xy", "", "z"],
            // Values that spell the text's own quotes and names, aligned every way.
            &["x\",b=\"y", "z", ""],
            &["x\",b=", "y", "z"],
            &["x\",b=", ",c=", "z"],
            &["x", "y\",c=\"z", ""],
            &["x", "y", "z\""],
            &["x\"", "y", "z"],
            &["x\",b=\"", "", "z"],
            // Escaping characters the stored values lack.
            &["x\\", "y", "z"],
            &["x\n", "y", "z"],
            &["x\ny", "y", "z"],
        ] {
            assert!(!LabelQuery(q).matches(key), "{q:?}");
            assert!(!LabelQuery(q).matches_in(key, &names), "{q:?} (by names)");
        }
        // A first value that ends at the second one's opening quote, and a second that is
        // the tail of the stored one: only the opening-quote check rejects it by names.
        let names = self::names(&["a", "b"]);
        let labels = rendered(&names, &["x", "yyyyyy"]);
        let key = LabelKey::rendered(labels.as_bytes());
        let q = LabelQuery(&["x\",b=", "yy"]);
        assert!(!q.matches(key) && !q.matches_in(key, &names));
    }

    #[cfg(not(tachymeter_loom))]
    #[test]
    fn quick_hash_separates_value_boundaries() {
        let h = |v: &[&str]| LabelQuery(v).quick_hash();
        assert_ne!(h(&["ab", "c"]), h(&["a", "bc"]));
        assert_ne!(h(&["", "abc"]), h(&["abc", ""]));
        assert_eq!(h(&["GET", "/p42"]), h(&["GET", "/p42"]));
    }
}
