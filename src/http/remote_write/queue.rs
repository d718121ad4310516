//! Module implementing the bounded batch queue between the collecting thread and the sending
//! thread of a background [`RemoteWriter`](super::RemoteWriter). See [`Queue`].
//!
//! A `std` `Mutex` + `Condvar`, not crate atomics: the queue is touched once per batch (not
//! per observation), so a lock costs nothing measurable, and there is no lock-free structure
//! to model with loom. Observers never touch it.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::encode::remote_write::Batch;

/// How many spare body buffers the queue keeps for the collector to reuse.
const MAX_FREE: usize = 16;

#[derive(Debug, Default)]
struct State {
    batches: VecDeque<Batch>,
    /// Samples in `batches`.
    samples: usize,
    /// Shutdown asked for: the sender drains until this instant.
    deadline: Option<Instant>,
    /// The collector is done: no more batches will come.
    closed: bool,
    /// Body buffers the sender is done with.
    free: Vec<Vec<u8>>,
    /// Samples of the batch the sender holds (popped, not yet done).
    in_flight: usize,
    /// The sending thread has ended.
    sender_done: bool,
}

/// A FIFO of batches holding at most `capacity` samples; when a new batch does not fit, the
/// oldest batches are dropped (so what is sent stays in time order per series).
#[derive(Debug)]
pub(super) struct Queue {
    state: Mutex<State>,
    wake: Condvar,
    capacity: usize,
}

impl Queue {
    pub(super) fn new(capacity: usize) -> Queue {
        Queue {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain data: consistent whatever panicked while holding the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `batch`; returns how many samples were dropped to make room (the batch itself
    /// when it alone is over the capacity).
    pub(super) fn push(&self, batch: Batch) -> u64 {
        let mut s = self.lock();
        let mut dropped = 0u64;
        if batch.samples > self.capacity {
            dropped += batch.samples as u64;
            recycle(&mut s, batch.body);
        } else {
            while s.samples + batch.samples > self.capacity {
                let Some(old) = s.batches.pop_front() else {
                    break;
                };
                s.samples -= old.samples;
                dropped += old.samples as u64;
                recycle(&mut s, old.body);
            }
            s.samples += batch.samples;
            s.batches.push_back(batch);
        }
        drop(s);
        self.wake.notify_all();
        dropped
    }

    /// The oldest batch, waiting for one; `None` once the queue is closed and empty, or the
    /// shutdown deadline has passed.
    pub(super) fn pop(&self) -> Option<Batch> {
        let mut s = self.lock();
        loop {
            if s.deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
            if let Some(b) = s.batches.pop_front() {
                s.samples -= b.samples;
                s.in_flight = b.samples;
                return Some(b);
            }
            if s.closed {
                return None;
            }
            s = match s.deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    self.wake
                        .wait_timeout(s, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self.wake.wait(s).unwrap_or_else(PoisonError::into_inner),
            };
        }
    }

    /// Sleeps `delay` (a backoff), waking early at the shutdown deadline. Returns false when
    /// the deadline has passed (give up the batch).
    pub(super) fn sleep(&self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        let mut s = self.lock();
        loop {
            let now = Instant::now();
            if s.deadline.is_some_and(|d| now >= d) {
                return false;
            }
            if now >= until {
                return true;
            }
            let end = s.deadline.map_or(until, |d| d.min(until));
            s = self
                .wake
                .wait_timeout(s, end.saturating_duration_since(now))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The shutdown deadline, if shutdown was asked for.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.lock().deadline
    }

    /// Asks for shutdown: the sender drains until `deadline`.
    pub(super) fn set_deadline(&self, deadline: Instant) {
        self.lock().deadline = Some(deadline);
        self.wake.notify_all();
    }

    /// No more batches will be pushed.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
    }

    /// Samples queued now.
    pub(super) fn samples(&self) -> usize {
        self.lock().samples
    }

    /// Empties the queue; returns the samples that were in it.
    pub(super) fn clear(&self) -> u64 {
        let mut s = self.lock();
        let n = s.samples as u64;
        while let Some(b) = s.batches.pop_front() {
            recycle(&mut s, b.body);
        }
        s.samples = 0;
        n
    }

    /// The sender is done with the batch it popped (sent, failed or given up); its body is
    /// kept for reuse.
    pub(super) fn sent(&self, body: Vec<u8>) {
        let mut s = self.lock();
        s.in_flight = 0;
        recycle(&mut s, body);
    }

    /// The sending thread ends.
    pub(super) fn sender_done(&self) {
        self.lock().sender_done = true;
        self.wake.notify_all();
    }

    /// Waits until the sender has ended, at most until `until`. `None` when it has ended;
    /// otherwise the samples of the batch it still holds.
    pub(super) fn wait_sender(&self, until: Instant) -> Option<u64> {
        let mut s = self.lock();
        loop {
            if s.sender_done {
                return None;
            }
            let now = Instant::now();
            if now >= until {
                return Some(s.in_flight as u64);
            }
            s = self
                .wake
                .wait_timeout(s, until - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// A spare body buffer, if any.
    pub(super) fn take_free(&self) -> Option<Vec<u8>> {
        self.lock().free.pop()
    }
}

fn recycle(s: &mut State, body: Vec<u8>) {
    if s.free.len() < MAX_FREE {
        s.free.push(body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(samples: usize) -> Batch {
        Batch {
            body: vec![samples as u8],
            samples,
            v2: false,
        }
    }

    #[test]
    fn drops_oldest_when_full_and_keeps_order() {
        let q = Queue::new(10);
        assert_eq!(q.push(batch(4)), 0);
        assert_eq!(q.push(batch(5)), 0);
        assert_eq!(q.push(batch(3)), 4, "the oldest batch makes room");
        assert_eq!(q.samples(), 8);
        assert_eq!(
            q.push(batch(11)),
            11,
            "a batch over the capacity is dropped itself"
        );
        q.close();
        assert_eq!(q.pop().map(|b| b.samples), Some(5));
        assert_eq!(q.pop().map(|b| b.samples), Some(3));
        assert!(q.pop().is_none());
        assert!(q.take_free().is_some(), "dropped bodies are reused");
    }

    #[test]
    fn deadline_cuts_sleep_and_pop() {
        let q = Queue::new(10);
        q.push(batch(1));
        q.set_deadline(Instant::now());
        assert!(!q.sleep(Duration::from_secs(60)));
        assert!(q.pop().is_none());
        assert_eq!(q.clear(), 1);
    }

    #[test]
    fn pop_waits_for_a_push() {
        let q = std::sync::Arc::new(Queue::new(10));
        let q2 = q.clone();
        let t = std::thread::spawn(move || q2.pop().map(|b| b.samples));
        std::thread::sleep(Duration::from_millis(20));
        q.push(batch(2));
        assert_eq!(t.join().unwrap(), Some(2));
    }
}
