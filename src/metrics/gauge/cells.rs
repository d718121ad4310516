//! Module implementing a gauge's storage: one value word, and per-thread shards of adds
//! tagged with an era. See [`GaugeCells`].
//!
//! # Design
//!
//! A gauge is a **value word** plus [`Sharded`] slots (see `crate::shard`: one slot per thread
//! that added to the gauge, created on its first add, and one shared overflow slot). The word
//! holds one of two things:
//!
//! * **a value** (`f64` bits): what the last `set` stored, or 0.0 before any. `set` is this
//!   one store and nothing else: every thread's earlier adds stop counting, since adds count
//!   only under an era and the word names none. A read of a value word is the gauge's value.
//! * **an era**: `(slot id << 42) | sequence`, tagged as a signalling-NaN bit pattern, which
//!   `set` never stores (it stores the quiet NaN for any NaN). The first add after a set
//!   *begins* an era: in its own slot it bumps the sequence, keeps the set's value in a ring
//!   of the last [`RING`] values (`values[seq % RING]`) and restarts its sum at the add, then
//!   swaps the value word for the era word with a compare-and-swap from the value it read. If
//!   that fails, a `set` or another thread's first add came first, and the add starts over
//!   against the new word.
//!
//! Each slot holds the **adds** of the thread that owns it: a sum and the era word the sum
//! belongs to. `add` loads the word (a read of a line only sets and first adds write) and, if
//! it is the era recorded in the slot, adds to the sum with a plain load + store; if it is
//! another era, the slot restarts its sum at `v` under it (store the sum, then the era); if it
//! is a value, the add begins an era as above. Adds tagged with any other era than the
//! current one count for nothing.
//!
//! A read loads the word. A value is the answer. An era's value is the base kept in the
//! named slot's ring (checked against the slot's sequence: the ring entry must not have been
//! reused meanwhile) plus the sum of every slot whose recorded era is that word; finally the
//! read loads the word again, and if it changed (a set or a new era happened during the read)
//! it starts again (up to `MAX_READ_ATTEMPTS` times; a read can only fail while other threads
//! keep setting).
//!
//! # Linearizability
//!
//! A `set` takes effect at its store, an add that begins an era at its successful
//! compare-and-swap, and any other add at its store to its slot, where it counts only under
//! the era it loaded first: an add that loaded an older era (or was beginning one that lost
//! its swap) is ordered before the set or era that replaced it, and is discarded with it. A
//! read returns either the last set's value, or the base of the current era plus exactly the
//! adds tagged with it that it saw; any add it may have missed or miscounted (a slot that
//! moved to a newer era while it was read) implies a newer word, which the read's final check
//! sees and retries on.
//!
//! Why the final check sees it: a slot's stores are `Release` and come after the writer's
//! load of the word, and the reader's loads of the slot are `Acquire`, so a reader that saw
//! any store a writer made under era `e'` then reads the word as `e'` or newer (coherence
//! through happens-before). Era words never repeat, since each slot's sequence only grows:
//! until one slot begins 2^42 eras (each needs a set before it, so hours of back-to-back
//! set-then-add pairs from one thread), after which a slot whose sum was last written exactly
//! 2^42 of that slot's eras earlier could be counted again. Value words do repeat, but a read
//! that sees one returns it at once, and no add counts under a value.
//!
//! Threads keep their slot when their index is reused: the next thread with that index
//! continues its sum and sequence, handed over through the index pool's mutex. Threads past
//! the shard count share the overflow slot and serialise on its mutex; the protocol inside
//! the lock is the same, so readers never lock.

use core::fmt;

use crate::shard::{Sharded, Slot, OVERFLOW_ID};
use crate::sync::{lock, yield_now, AtomicU64, Mutex, Ordering};

/// How many of the values its eras began from a slot keeps. A read fails its value check
/// only if the slot began `RING` more eras while the read took its three loads.
const RING: usize = 4;

/// Bits of an era word's payload that hold the beginning slot's sequence; the slot id is
/// above them, and the tag above that.
const SEQ_BITS: u32 = 42;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

/// An era word's tag: sign 0, exponent all ones, quiet bit 0 (a signalling NaN, given a
/// non-zero payload; with a zero payload this is +Inf, which is a value).
const ERA_TAG: u64 = 0x7FF0_0000_0000_0000;
/// The bits [`ERA_TAG`] occupies (sign, exponent, quiet bit); the 51 below are the payload.
const TAG_MASK: u64 = 0xFFF8_0000_0000_0000;

// Every slot id fits between the sequence bits and the tag.
const _: () = assert!((OVERFLOW_ID as u64) < (1 << (51 - SEQ_BITS)));
// The ring index of a sequence does not depend on its bits above `SEQ_BITS`.
const _: () = assert!(RING.is_power_of_two() && (RING as u64) <= SEQ_MASK);

/// A fresh slot's era: tagged with slot id 0, which names no slot, so it never equals the
/// word (no era has it, and no value is a signalling NaN).
const NO_ERA: u64 = ERA_TAG | 1;

/// Reads that keep failing (each failure means a concurrent `set` or new era) give up after
/// this many attempts, yielding between them, and return the last attempt's total.
const MAX_READ_ATTEMPTS: u32 = 1000;

/// The era word naming era number `seq` begun in slot `id` (`id` ≥ 1, so the payload is
/// never zero).
#[inline]
fn era_word(id: usize, seq: u64) -> u64 {
    ERA_TAG | ((id as u64) << SEQ_BITS) | (seq & SEQ_MASK)
}

/// Whether the word names an era (else it is a value).
#[inline]
fn is_era(word: u64) -> bool {
    word & TAG_MASK == ERA_TAG && word != ERA_TAG
}

/// The bits `set` stores for `v`: its own, or the quiet NaN for any NaN (so a value is never
/// mistaken for an era).
#[inline]
fn value_bits(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else {
        v.to_bits()
    }
}

/// One thread's part of a gauge: its adds under the era it last saw, and the values the eras
/// it began start from.
#[derive(Debug)]
pub(crate) struct GaugeSlot {
    /// The era word `sum` accumulates under ([`NO_ERA`] when fresh).
    era: AtomicU64,
    /// `f64` bits: the sum of this slot's adds under `era`.
    sum: AtomicU64,
    /// Number of eras begun through this slot (the last one may have lost its swap).
    seq: AtomicU64,
    /// `f64` bits: the base value of this slot's era number `s` is at `values[s % RING]`.
    values: [AtomicU64; RING],
    /// Serialises the writers of the overflow slot; never taken on other slots.
    writers: Mutex<()>,
}

impl Slot for GaugeSlot {
    type Config = ();
    fn new((): ()) -> Self {
        GaugeSlot {
            era: AtomicU64::new(NO_ERA),
            sum: AtomicU64::new(0f64.to_bits()),
            seq: AtomicU64::new(0),
            values: core::array::from_fn(|_| AtomicU64::new(0f64.to_bits())),
            writers: Mutex::new(()),
        }
    }
}

impl GaugeSlot {
    /// Adds `v` under the current era. The caller is this slot's only writer while it runs.
    /// Returns the word if it holds a value: then nothing was added, and the caller begins an
    /// era ([`begin_era`](Self::begin_era), which needs the slot's id).
    #[inline]
    #[must_use]
    fn add(&self, word: &AtomicU64, v: f64) -> Option<u64> {
        // Relaxed: nothing is read through the word here (a value is re-read by the swap in
        // `begin_era`). Its place before the Release stores below is what matters (see the
        // module docs).
        let current = word.load(Ordering::Relaxed);
        // Relaxed: this thread wrote the slot's era last (single writer). A value never
        // equals a slot's era (values are never signalling NaNs).
        if self.era.load(Ordering::Relaxed) == current {
            // Relaxed load: own value. Release store: a reader that reads this sum then sees
            // a word at least as new as `current` in its final check.
            let sum = f64::from_bits(self.sum.load(Ordering::Relaxed)) + v;
            self.sum.store(sum.to_bits(), Ordering::Release);
            None
        } else if is_era(current) {
            self.restart(current, v);
            None
        } else {
            Some(current)
        }
    }

    /// First add under era `current` from this slot: the sum restarts at `v`.
    #[cold]
    fn restart(&self, current: u64, v: f64) {
        // Release, as in `add`: a reader that reads this sum while the slot still shows the
        // old era then sees the new word in its final check and retries.
        self.sum.store(v.to_bits(), Ordering::Release);
        // Release pairs with the reader's Acquire load of the slot's era: a reader that sees
        // `current` here sees the sum stored above (or a later one).
        self.era.store(current, Ordering::Release);
    }

    /// First add since a set (the word holds the value `current`): begins an era based on it
    /// with this add in it, or, if another thread changed the word first, adds under the new
    /// word instead.
    #[cold]
    fn begin_era(&self, word: &AtomicU64, id: usize, mut current: u64, v: f64) {
        loop {
            // Relaxed: own value (single writer); ordered before the swap by its Release.
            let seq = self.seq.load(Ordering::Relaxed).wrapping_add(1);
            self.seq.store(seq, Ordering::Relaxed);
            // Release pairs with the reader's Acquire load of this ring entry: a reader that
            // reads this base sees `seq` (or later) in its check, so knows which era it is.
            self.values[seq as usize % RING].store(current, Ordering::Release);
            let era = era_word(id, seq);
            self.restart(era, v);
            // Release on success pairs with the reader's Acquire load of the word: a reader
            // that sees `era` sees the base and the restarted sum stored above. Relaxed on
            // failure: the word read is only compared, or handed to `restart`/the next round,
            // whose own stores are ordered as in `add`.
            match word.compare_exchange(current, era, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                // Another thread began an era first: count under it (this slot's unpublished
                // era is never the word, so its sum counted for nothing).
                Err(now) if is_era(now) => return self.restart(now, v),
                // A set stored a new value: begin again from it.
                Err(now) => current = now,
            }
        }
    }
}

/// A gauge's value: the value word and the per-thread slots. See the [module docs](self).
pub(crate) struct GaugeCells {
    /// The last set's value (0.0 before any), or the current era's
    /// `ERA_TAG | (slot id << SEQ_BITS) | sequence`.
    word: AtomicU64,
    slots: Sharded<GaugeSlot>,
}

impl GaugeCells {
    pub(crate) fn new() -> Self {
        GaugeCells {
            word: AtomicU64::new(0f64.to_bits()),
            slots: Sharded::new(()),
        }
    }

    /// Adds `v` (any sign) in the calling thread's slot.
    #[inline]
    pub(crate) fn add(&self, v: f64) {
        self.slots.update(
            |s| {
                if let Some(value) = s.add(&self.word, v) {
                    self.begin_era(value, v);
                }
            },
            |s| {
                // The overflow slot has several writers: the lock makes this one its only
                // writer, and orders it after the previous one.
                let _writer = lock(&s.writers);
                if let Some(value) = s.add(&self.word, v) {
                    self.begin_era(value, v);
                }
            },
        );
    }

    /// An add found the word holding `value`: begins an era from it in the calling thread's
    /// slot (whose writer the caller is, exclusively or under the overflow slot's lock).
    #[cold]
    fn begin_era(&self, value: u64, v: f64) {
        let (slot, id, _) = self.slots.locate();
        slot.begin_era(&self.word, id, value, v);
    }

    /// Replaces the value, and every thread's adds so far, by `v`: one store.
    #[inline]
    pub(crate) fn set(&self, v: f64) {
        // Release pairs with the Acquire load in `try_get`: a reader that sees this value
        // also sees what the setting thread did before (its earlier adds, now replaced).
        #[cfg(not(tachymeter_loom))]
        self.word.store(value_bits(v), Ordering::Release);
        // loom 0.7 lets a plain store fall between the read and the write of a concurrent
        // compare-and-swap (tokio-rs/loom#254, fix unreleased), which the memory model
        // forbids ([atomics.order]: a read-modify-write reads the last value before its
        // write). A swap is an RMW itself, so the models check `begin_era` against sets as
        // the hardware runs them.
        #[cfg(tachymeter_loom)]
        let _ = self.word.swap(value_bits(v), Ordering::Release);
    }

    /// The current value: the last set's value plus the adds made since.
    pub(crate) fn get(&self) -> f64 {
        let mut last = 0.0;
        for _ in 0..MAX_READ_ATTEMPTS {
            match self.try_get() {
                Ok(v) => return v,
                Err(v) => last = v,
            }
            yield_now();
        }
        last
    }

    /// One read attempt: `Ok` if no set or new era interfered, else `Err` with the
    /// (unchecked) total.
    fn try_get(&self) -> Result<f64, f64> {
        // Acquire pairs with the Release store in `set` and the Release swap in
        // `GaugeSlot::begin_era`: the named era's base (and the creation of the slot holding
        // it) is visible.
        let word = self.word.load(Ordering::Acquire);
        if !is_era(word) {
            return Ok(f64::from_bits(word));
        }
        let id = ((word & !TAG_MASK) >> SEQ_BITS) as usize;
        let seq = word & SEQ_MASK;
        let Some(beginner) = self.slots.by_id(id) else {
            // Unreachable: the era's slot was created before its id was published, and the
            // Acquire above makes that slot visible. Report a failed attempt regardless.
            return Err(0.0);
        };
        // Acquire pairs with the Release ring store in `begin_era`: if this reads a later
        // era's base, the sequence load below sees that era's number.
        let base = f64::from_bits(beginner.values[seq as usize % RING].load(Ordering::Acquire));
        // Relaxed: ordered after the Acquire load above.
        let latest = beginner.seq.load(Ordering::Relaxed) & SEQ_MASK;
        let mut valid = latest.wrapping_sub(seq) & SEQ_MASK < RING as u64;
        let mut total = base;
        self.slots.for_each(|s| {
            // Acquire pairs with the Release era store in `GaugeSlot::restart`: seeing `word`
            // means seeing the sum the slot restarted with, or a later one.
            if s.era.load(Ordering::Acquire) == word {
                // Acquire pairs with the Release sum stores: a sum written under a newer era
                // makes the final check below see that era.
                total += f64::from_bits(s.sum.load(Ordering::Acquire));
            }
        });
        // Relaxed: the Acquire loads above order it after them, and make every word a writer
        // loaded before a store this read saw visible to it (see the module docs).
        valid &= self.word.load(Ordering::Relaxed) == word;
        if valid {
            Ok(total)
        } else {
            Err(total)
        }
    }

    /// Whether the slots have spread to per-thread shards.
    pub(crate) fn is_sharded(&self) -> bool {
        self.slots.is_inflated()
    }

    /// Heap bytes held beyond `size_of::<GaugeCells>()`.
    pub(crate) fn shard_bytes(&self) -> usize {
        self.slots.shard_bytes()
    }
}

impl fmt::Debug for GaugeCells {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GaugeCells")
            .field("value", &self.get())
            .field("sharded", &self.is_sharded())
            .finish()
    }
}

#[cfg(all(test, not(tachymeter_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_the_value_word_and_the_first_add_begins_an_era() {
        let g = GaugeCells::new();
        assert!(
            !is_era(g.word.load(Ordering::Relaxed)),
            "0.0 before anything"
        );
        g.set(2.5);
        assert_eq!(g.word.load(Ordering::Relaxed), 2.5f64.to_bits());
        g.add(1.0);
        assert!(is_era(g.word.load(Ordering::Relaxed)));
        g.add(0.5);
        assert_eq!(g.get(), 4.0);
        g.set(-1.0);
        assert_eq!(g.get(), -1.0, "the set replaces the era and its adds");
        g.add(3.0);
        assert_eq!(g.get(), 2.0);
    }

    #[test]
    fn no_value_reads_as_an_era() {
        let signalling = f64::from_bits(ERA_TAG | (1 << SEQ_BITS) | 1);
        assert!(signalling.is_nan());
        for v in [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            signalling,
            -signalling,
            0.0,
            -0.0,
            f64::MAX,
            f64::MIN_POSITIVE,
        ] {
            assert!(!is_era(value_bits(v)), "{v:?}");
            let g = GaugeCells::new();
            g.set(v);
            assert_eq!(g.get().to_bits(), value_bits(v), "{v:?}");
            g.add(1.0);
            let expected = v + 1.0;
            assert!(
                g.get() == expected || (g.get().is_nan() && expected.is_nan()),
                "{v:?} + 1 = {}",
                g.get()
            );
        }
        assert!(is_era(era_word(1, 1)) && is_era(era_word(OVERFLOW_ID, SEQ_MASK)));
    }
}
