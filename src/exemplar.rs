//! Module implementing exemplar storage: a side structure allocated on a metric's first
//! exemplar, behind a pointer that the plain `inc`/`observe` paths never read. See
//! [`Exemplars`].
//!
//! # Why a side structure
//!
//! Exemplars are rare (one per traced request, typically) and much larger than a counter
//! (up to 128 code points of labels), so they live outside the metric's shards: a metric that
//! never had an exemplar pays one null pointer, and recording one never writes a cache line
//! that `inc`/`observe` touch. Writers and the scrape take a per-metric mutex; each slot keeps
//! its label buffer, so recording into a slot that held an exemplar before and encoding
//! allocate nothing once the buffers have grown.

use core::ptr;

use crate::encode::{escape, ExemplarRef};
use crate::error::ExemplarError;
use crate::names;
use crate::sync::{lock, AtomicPtr, Mutex, MutexGuard, Ordering};

/// OpenMetrics' limit on an exemplar's label names plus values, in code points.
pub(crate) const MAX_CODE_POINTS: usize = 128;

/// One exemplar: rendered, escaped label pairs; the value; the wall-clock time, if any
/// (seconds since the Unix epoch).
#[derive(Debug, Default)]
pub(crate) struct Slot {
    labels: Vec<u8>,
    value: f64,
    timestamp: Option<f64>,
    set: bool,
}

impl Slot {
    /// The exemplar to write, if one was recorded.
    pub(crate) fn get(&self) -> Option<ExemplarRef<'_>> {
        self.set.then_some(ExemplarRef {
            labels: &self.labels,
            value: self.value,
            timestamp: self.timestamp,
        })
    }
}

/// The latest exemplar of each of a metric's samples (one for a counter, one per bucket for
/// a histogram), created on first use. Null until then.
pub(crate) struct Exemplars {
    /// Null, or a `Box<Mutex<Box<[Slot]>>>` leaked by `get_or_init` and freed in `Drop`.
    ptr: AtomicPtr<Mutex<Box<[Slot]>>>,
}

impl core::fmt::Debug for Exemplars {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Exemplars")
            .field("allocated", &self.get().is_some())
            .finish()
    }
}

/// Checks exemplar labels: valid, unrepeated names; at most 128 code points in all.
pub(crate) fn validate(labels: &[(&str, &str)]) -> Result<(), ExemplarError> {
    let mut code_points = 0;
    for (i, (n, v)) in labels.iter().enumerate() {
        if names::check_label_name(n).is_err() {
            return Err(ExemplarError::InvalidLabelName((*n).to_owned()));
        }
        if labels[..i].iter().any(|(m, _)| m == n) {
            return Err(ExemplarError::DuplicateLabelName((*n).to_owned()));
        }
        code_points += n.chars().count() + v.chars().count();
    }
    if code_points > MAX_CODE_POINTS {
        return Err(ExemplarError::TooLong { code_points });
    }
    Ok(())
}

impl Exemplars {
    pub(crate) fn new() -> Self {
        Exemplars {
            ptr: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The slots, if any exemplar was ever recorded.
    fn get(&self) -> Option<&Mutex<Box<[Slot]>>> {
        // Acquire pairs with the Release of the CAS in `get_or_init`: seeing the pointer means
        // seeing the initialised mutex and slots.
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY:
        // - `p` is null or came from `Box::into_raw` in `get_or_init`, published by a
        //   successful CAS; it is never replaced afterwards, so it stays valid until `Drop`,
        //   which needs `&mut self` and so cannot run while this borrow of `self` lives.
        // - only shared references are ever made to it.
        unsafe { p.as_ref() }
    }

    /// Locks the slots for reading, if any exemplar was ever recorded (scrape path).
    pub(crate) fn read(&self) -> Option<MutexGuard<'_, Box<[Slot]>>> {
        self.get().map(lock)
    }

    fn get_or_init(&self, slots: usize) -> &Mutex<Box<[Slot]>> {
        if let Some(m) = self.get() {
            return m;
        }
        let fresh = Box::into_raw(Box::new(Mutex::new(
            (0..slots).map(|_| Slot::default()).collect::<Box<[Slot]>>(),
        )));
        // Release on success publishes the initialised allocation (pairs with the Acquire in
        // `get`); Acquire on failure makes the winner's allocation visible to us.
        match self.ptr.compare_exchange(
            ptr::null_mut(),
            fresh,
            Ordering::Release,
            Ordering::Acquire,
        ) {
            Ok(_) => {}
            Err(_) => {
                // SAFETY: `fresh` came from `Box::into_raw` above and was never shared (the
                // CAS failed), so this is its only owner.
                drop(unsafe { Box::from_raw(fresh) });
            }
        }
        // Non-null now: either our CAS or another thread's installed it.
        self.get().unwrap_or_else(|| unreachable!())
    }

    /// Records an exemplar in slot `i` of `slots`, replacing the previous one, with the
    /// given timestamp or none. The labels must have passed [`validate`].
    pub(crate) fn record(
        &self,
        slots: usize,
        i: usize,
        labels: &[(&str, &str)],
        value: f64,
        at: Option<std::time::SystemTime>,
    ) {
        let timestamp = at.map(crate::encode::epoch_seconds);
        let mut guard = lock(self.get_or_init(slots));
        let Some(slot) = guard.get_mut(i) else {
            return;
        };
        slot.labels.clear();
        for (k, (n, v)) in labels.iter().enumerate() {
            if k > 0 {
                slot.labels.push(b',');
            }
            slot.labels.extend_from_slice(n.as_bytes());
            slot.labels.extend_from_slice(b"=\"");
            escape::label_value(&mut slot.labels, v);
            slot.labels.push(b'"');
        }
        slot.value = value;
        slot.timestamp = timestamp;
        slot.set = true;
    }

    /// Heap bytes held (memory accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.read().map_or(0, |g| {
            core::mem::size_of::<Mutex<Box<[Slot]>>>()
                + g.iter()
                    .map(|s| core::mem::size_of::<Slot>() + s.labels.capacity())
                    .sum::<usize>()
        })
    }
}

impl Drop for Exemplars {
    fn drop(&mut self) {
        // Acquire: pairs with the Release in `get_or_init` (`&mut self` already excludes races;
        // a load rather than `get_mut` keeps this the same under loom).
        let p = self.ptr.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: `p` came from `Box::into_raw` in `get_or_init` and was published once;
            // `&mut self` means no other reference to it exists any more.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert_eq!(validate(&[]), Ok(()));
        assert_eq!(validate(&[("trace_id", "abc")]), Ok(()));
        let v = "x".repeat(119);
        assert_eq!(validate(&[("trace_id", &v[..]), ("a", "")]), Ok(())); // 8 + 119 + 1 = 128
        assert_eq!(
            validate(&[("trace_id", &v[..]), ("ab", "")]),
            Err(ExemplarError::TooLong { code_points: 129 })
        );
        // Code points, not bytes: 128 two-byte characters in 126 + 2 name characters.
        let u = "é".repeat(126);
        assert_eq!(validate(&[("ab", &u[..])]), Ok(()));
        assert!(matches!(
            validate(&[("a-b", "")]),
            Err(ExemplarError::InvalidLabelName(_))
        ));
        assert!(matches!(
            validate(&[("__x", "")]),
            Err(ExemplarError::InvalidLabelName(_))
        ));
        assert!(matches!(
            validate(&[("a", "1"), ("a", "2")]),
            Err(ExemplarError::DuplicateLabelName(_))
        ));
    }

    #[test]
    fn record_replaces_and_reuses_the_buffer() {
        let e = Exemplars::new();
        assert!(e.read().is_none());
        e.record(
            2,
            1,
            &[("a", "x\"y")],
            0.5,
            Some(std::time::SystemTime::now()),
        );
        {
            let g = e.read().unwrap();
            assert!(g[0].get().is_none());
            let r = g[1].get().unwrap();
            assert_eq!(r.labels, b"a=\"x\\\"y\"");
            assert_eq!(r.value, 0.5);
            assert!(r.timestamp.unwrap() > 1.0e9);
        }
        e.record(2, 1, &[], 2.0, None);
        let g = e.read().unwrap();
        assert_eq!(g[1].get().unwrap().labels, b"");
        assert_eq!(g[1].get().unwrap().value, 2.0);
        assert_eq!(g[1].get().unwrap().timestamp, None);
    }
}
