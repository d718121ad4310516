//! The one place that chooses between `std` and `loom` synchronisation primitives.
//!
//! Every other module imports atomics, locks, `Arc` and thread-locals from here, so that
//! building with `RUSTFLAGS="--cfg tachymeter_loom"` swaps the whole crate onto loom's model
//! checker (see `loom-tests/`). Nothing else in the crate names `std::sync::atomic` or `loom`.

#[cfg(not(tachymeter_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{
        fence, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use std::sync::{Arc, Mutex, MutexGuard};
    pub(crate) use std::thread::yield_now;
    pub(crate) use std::thread_local;

    /// Locks `m`, recovering the data if another thread panicked while holding it.
    ///
    /// Every critical section in this crate leaves the protected data consistent at each
    /// step (pushes and pops of plain values), so a poisoned lock holds valid data.
    pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks `m` if it is free, recovering the data of a poisoned lock as [`lock`] does;
    /// `None` if another thread holds it.
    pub(crate) fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
        match m.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

#[cfg(tachymeter_loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{
        fence, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering,
    };
    pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
    pub(crate) use loom::thread::yield_now;
    pub(crate) use loom::thread_local;

    /// Locks `m` (loom's mutex never poisons in a passing model).
    pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks `m` if it is free, recovering the data of a poisoned lock as [`lock`] does;
    /// `None` if another thread holds it.
    pub(crate) fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
        match m.try_lock() {
            Ok(g) => Some(g),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

#[allow(unused_imports)]
pub(crate) use imp::*;
