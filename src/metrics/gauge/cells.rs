//! Module implementing a gauge's storage: per-thread shards of adds, tagged with the era of
//! the last `set`. See [`GaugeCells`].
//!
//! # Design
//!
//! A gauge is an **era word** plus [`Sharded`] slots (see `crate::shard`: one slot per thread
//! that wrote the gauge, created on its first write, and one shared overflow
//! slot). Each slot holds two things:
//!
//! * the **adds** of the thread that owns it: a sum and the era word the sum belongs to.
//!   `add` loads the era word (a read of a line only setters write) and, if it is the one
//!   recorded in the slot, adds to the sum with a plain load + store; if not, a `set` has
//!   happened since, so the slot restarts its sum at `v` under the new era (store the sum,
//!   then the era). Adds tagged with any other era than the current one count for nothing.
//! * the **sets** made by that thread: a sequence number (sets made through this slot) and a
//!   ring of the last [`RING`] values, the value of set `s` at `values[s % RING]`. A `set`
//!   bumps the sequence, stores the value and then stores the era word
//!   `(slot id << 55) | sequence` with plain `Release` stores: no read-modify-write, and the
//!   only shared line written is the era word's.
//!
//! The era word is all a set replaces: a slot's sum is read only while its recorded era is
//! the current one, so one store discards every thread's earlier adds without touching
//! their slots (which stay single-writer).
//!
//! A read loads the era word, takes the value it names from the named slot's ring (checking
//! with the slot's sequence that the ring entry was not reused meanwhile), adds the sum of
//! every slot whose recorded era is that word, and finally loads the era word again: if it
//! changed, a set happened during the read, so the read starts again (up to
//! `MAX_READ_ATTEMPTS` times; a read can only fail while other threads keep setting).
//!
//! # Linearizability
//!
//! A `set` takes effect at its store of the era word and an `add` at its store to its slot,
//! where it counts only under the era it loaded first, so an add that loaded an older era is
//! ordered before the set that replaced it and is discarded with that era. A read returns the
//! value of the set named by the era word plus exactly the adds tagged with that era it saw,
//! and any add it may have missed or miscounted (a slot that moved to a newer era while it was
//! read) implies a newer era word, which the read's final check sees and retries on.
//!
//! Why the final check sees it: a slot's stores are `Release` and come after the writer's
//! load of the era word, and the reader's loads of the slot are `Acquire`, so a reader that
//! saw any store a writer made under era `e'` then reads the era word as `e'` or newer
//! (coherence through happens-before). Era words never repeat, since each slot's sequence
//! only grows: until one slot makes 2^55 sets (over a year of back-to-back sets from one
//! thread), after which a slot whose sum was last written exactly 2^55 of that slot's sets
//! earlier could be counted again.
//!
//! Threads keep their slot when their index is reused: the next thread with that index
//! continues its sum and sequence, handed over through the index pool's mutex. Threads past
//! the shard count share the overflow slot and serialise on its mutex (also around their
//! store of the era word, so the word never names an overflow sequence older than the last
//! one stored); the protocol inside the lock is the same, so readers never lock.

use core::fmt;

use crate::shard::{Sharded, Slot, OVERFLOW_ID};
use crate::sync::{lock, yield_now, AtomicU64, Mutex, Ordering};

/// How many of its last sets' values a slot keeps. A read fails its value check only if
/// the slot made `RING` more sets while the read took its three loads.
const RING: usize = 4;

/// Bits of the era word that hold the setting slot's sequence; the slot id is above them.
const SEQ_BITS: u32 = 55;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

// Every slot id fits above the sequence bits.
const _: () = assert!((OVERFLOW_ID as u64) < (1 << (64 - SEQ_BITS)));
// The ring index of a sequence does not depend on its bits above `SEQ_BITS`.
const _: () = assert!(RING.is_power_of_two() && (RING as u64) <= SEQ_MASK);

/// The era word before any set: slot id 0 names no slot, and the gauge's value is 0.0 plus
/// the adds made under this era.
const NO_SET: u64 = 0;

/// Reads that keep failing (each failure means a concurrent `set`) give up after this many
/// attempts, yielding between them, and return the last attempt's total.
const MAX_READ_ATTEMPTS: u32 = 1000;

/// The era word naming set number `seq` of slot `id`.
#[inline]
fn era_word(id: usize, seq: u64) -> u64 {
    ((id as u64) << SEQ_BITS) | (seq & SEQ_MASK)
}

/// One thread's part of a gauge: its adds since the last set it saw, and its own sets.
#[derive(Debug)]
pub(crate) struct GaugeSlot {
    /// The era word `sum` accumulates under ([`NO_SET`], the initial era word, when fresh).
    era: AtomicU64,
    /// `f64` bits: the sum of this slot's adds under `era`.
    sum: AtomicU64,
    /// Number of sets made through this slot; the last one may still be in progress.
    seq: AtomicU64,
    /// `f64` bits: the value of this slot's set number `s` is at `values[s % RING]`.
    values: [AtomicU64; RING],
    /// Serialises the writers of the overflow slot; never taken on other slots.
    writers: Mutex<()>,
}

impl Slot for GaugeSlot {
    type Config = ();
    fn new((): ()) -> Self {
        GaugeSlot {
            era: AtomicU64::new(NO_SET),
            sum: AtomicU64::new(0f64.to_bits()),
            seq: AtomicU64::new(0),
            values: core::array::from_fn(|_| AtomicU64::new(0f64.to_bits())),
            writers: Mutex::new(()),
        }
    }
}

impl GaugeSlot {
    /// Adds `v` under the current era. The caller is this slot's only writer while it runs.
    #[inline]
    fn add(&self, era_word: &AtomicU64, v: f64) {
        // Relaxed: nothing is read through the era word here. Its place before the Release
        // store below is what matters (see the module docs).
        let current = era_word.load(Ordering::Relaxed);
        // Relaxed: this thread wrote the slot's era last (single writer).
        if self.era.load(Ordering::Relaxed) == current {
            // Relaxed load: own value. Release store: a reader that reads this sum then sees
            // an era word at least as new as `current` in its final check.
            let sum = f64::from_bits(self.sum.load(Ordering::Relaxed)) + v;
            self.sum.store(sum.to_bits(), Ordering::Release);
        } else {
            self.restart(current, v);
        }
    }

    /// First add since a set: the sum restarts at `v` under era `current`.
    #[cold]
    fn restart(&self, current: u64, v: f64) {
        // Release, as in `add`: a reader that reads this sum while the slot still shows the
        // old era then sees the new era word in its final check and retries.
        self.sum.store(v.to_bits(), Ordering::Release);
        // Release pairs with the reader's Acquire load of the slot's era: a reader that sees
        // `current` here sees the sum stored above (or a later one).
        self.era.store(current, Ordering::Release);
    }

    /// Sets the gauge to `v` through this slot, whose id is `id`. The caller is this slot's
    /// only writer while it runs.
    #[inline]
    fn set(&self, era_word: &AtomicU64, id: usize, v: f64) {
        // Relaxed: own value (single writer).
        let seq = self.seq.load(Ordering::Relaxed).wrapping_add(1);
        // Relaxed: ordered before the value store by that store's Release.
        self.seq.store(seq, Ordering::Relaxed);
        // Release pairs with the reader's Acquire load of this ring entry: a reader that reads
        // this value sees `seq` (or later) in its check and so knows which set it came from.
        self.values[seq as usize % RING].store(v.to_bits(), Ordering::Release);
        // Release pairs with the reader's Acquire load of the era word: a reader that sees
        // this word sees the value stored above (or a later one, which its check rejects).
        era_word.store(self::era_word(id, seq), Ordering::Release);
    }
}

/// A gauge's value: the era word and the per-thread slots. See the [module docs](self).
pub(crate) struct GaugeCells {
    /// `(slot id << SEQ_BITS) | sequence` of the last set; [`NO_SET`] (value 0.0) before any.
    era_word: AtomicU64,
    slots: Sharded<GaugeSlot>,
}

impl GaugeCells {
    pub(crate) fn new() -> Self {
        GaugeCells {
            era_word: AtomicU64::new(NO_SET),
            slots: Sharded::new(()),
        }
    }

    /// Adds `v` (any sign) in the calling thread's slot.
    #[inline]
    pub(crate) fn add(&self, v: f64) {
        self.slots.update(
            |s| s.add(&self.era_word, v),
            |s| {
                // The overflow slot has several writers: the lock makes this one its only
                // writer, and orders it after the previous one.
                let _writer = lock(&s.writers);
                s.add(&self.era_word, v);
            },
        );
    }

    /// Replaces the value, and every thread's adds so far, by `v`.
    #[inline]
    pub(crate) fn set(&self, v: f64) {
        let (slot, id, exclusive) = self.slots.locate();
        if exclusive {
            slot.set(&self.era_word, id, v);
        } else {
            // As in `add`; the era word is stored under the lock too, so overflow sets store
            // it in the order of their sequence numbers.
            let _writer = lock(&slot.writers);
            slot.set(&self.era_word, id, v);
        }
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

    /// One read attempt: `Ok` if no set interfered, else `Err` with the (unchecked) total.
    fn try_get(&self) -> Result<f64, f64> {
        // Acquire pairs with the Release store of the era word in `GaugeSlot::set`: the named
        // set's value (and the creation of the slot holding it) is visible.
        let word = self.era_word.load(Ordering::Acquire);
        let id = (word >> SEQ_BITS) as usize;
        let seq = word & SEQ_MASK;
        let (base, mut valid) = if word == NO_SET {
            (0.0, true)
        } else {
            let Some(setter) = self.slots.by_id(id) else {
                // Unreachable: the setter created its slot before publishing its id, and the
                // Acquire above makes that slot visible. Report a failed attempt regardless.
                return Err(0.0);
            };
            // Acquire pairs with the Release value store in `GaugeSlot::set`: if this reads a
            // later set's value, the sequence load below sees that set's number.
            let base = f64::from_bits(setter.values[seq as usize % RING].load(Ordering::Acquire));
            // Relaxed: ordered after the Acquire load above.
            let latest = setter.seq.load(Ordering::Relaxed) & SEQ_MASK;
            (base, latest.wrapping_sub(seq) & SEQ_MASK < RING as u64)
        };
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
        // Relaxed: the Acquire loads above order it after them, and make every era word a
        // writer loaded before a store this read saw visible to it (see the module docs).
        valid &= self.era_word.load(Ordering::Relaxed) == word;
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
