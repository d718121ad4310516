//! Module implementing the pool of thread indices: every thread that records a metric takes
//! the lowest free index on its first write and gives it back when it exits.

use core::cell::Cell;

use crate::sync::{lock, Mutex};

/// Index value meaning "this thread has no index (TLS torn down or pool exhausted)".
pub(crate) const NO_INDEX: usize = usize::MAX;

/// The pool of thread indices: the next never-used index and the returned ones.
#[derive(Default)]
struct IndexPool {
    next: usize,
    /// Returned indices, kept sorted descending so `pop` yields the lowest.
    free: Vec<usize>,
}

impl IndexPool {
    fn acquire(&mut self) -> usize {
        if let Some(i) = self.free.pop() {
            return i;
        }
        let i = self.next;
        self.next += 1;
        i
    }

    fn release(&mut self, i: usize) {
        // Insert keeping descending order; the list is at most the number of threads that
        // ever ran concurrently, and this runs once per thread exit.
        let pos = self.free.partition_point(|&x| x > i);
        self.free.insert(pos, i);
    }
}

#[cfg(not(tachymeter_loom))]
mod tls {
    use super::*;

    static POOL: Mutex<IndexPool> = Mutex::new(IndexPool {
        next: 0,
        free: Vec::new(),
    });

    pub(super) fn pool() -> &'static Mutex<IndexPool> {
        &POOL
    }

    crate::sync::thread_local! {
        /// This thread's index, `UNSET` before first use, `NO_INDEX` after teardown.
        /// Const-initialised and without a destructor, so reading it is a plain TLS load.
        static INDEX: Cell<usize> = const { Cell::new(UNSET) };
        /// Returns the index to the pool when the thread exits.
        static GUARD: Registration = const { Registration(Cell::new(NO_INDEX)) };
    }

    const UNSET: usize = NO_INDEX - 1;

    pub(super) struct Registration(Cell<usize>);

    impl Drop for Registration {
        fn drop(&mut self) {
            let i = self.0.get();
            if i != NO_INDEX {
                // Later TLS destructors that record metrics see NO_INDEX and take the
                // shared path instead of re-registering.
                let _ = INDEX.try_with(|c| c.set(NO_INDEX));
                lock(pool()).release(i);
            }
        }
    }

    #[inline]
    pub(crate) fn thread_index() -> usize {
        let i = INDEX.try_with(Cell::get).unwrap_or(NO_INDEX);
        if i < UNSET {
            i
        } else if i == UNSET {
            register()
        } else {
            NO_INDEX
        }
    }

    #[cold]
    fn register() -> usize {
        let i = lock(pool()).acquire();
        match GUARD.try_with(|g| g.0.set(i)) {
            Ok(()) => {
                let _ = INDEX.try_with(|c| c.set(i));
                i
            }
            Err(_) => {
                // TLS is being torn down: give the index straight back.
                lock(pool()).release(i);
                let _ = INDEX.try_with(|c| c.set(NO_INDEX));
                NO_INDEX
            }
        }
    }
}

#[cfg(tachymeter_loom)]
mod tls {
    use super::*;
    use crate::sync::Arc;

    loom::lazy_static! {
        static ref POOL: Arc<Mutex<IndexPool>> = Arc::new(Mutex::new(IndexPool::default()));
    }

    /// Holds its own handle on the pool: loom may tear the lazy static down before the main
    /// model thread's thread-locals are dropped.
    pub(super) struct Registration(Cell<usize>, Cell<Option<Arc<Mutex<IndexPool>>>>);

    impl Drop for Registration {
        fn drop(&mut self) {
            let i = self.0.get();
            if let Some(pool) = self.1.take() {
                if i != NO_INDEX {
                    lock(&pool).release(i);
                }
            }
        }
    }

    crate::sync::thread_local! {
        static GUARD: Registration = Registration(Cell::new(NO_INDEX), Cell::new(None));
    }

    pub(crate) fn thread_index() -> usize {
        GUARD
            .try_with(|g| {
                if g.0.get() == NO_INDEX {
                    let pool: Arc<Mutex<IndexPool>> = POOL.clone();
                    g.0.set(lock(&pool).acquire());
                    g.1.set(Some(pool));
                }
                g.0.get()
            })
            .unwrap_or(NO_INDEX)
    }
}

pub(crate) use tls::thread_index;

/// Test-only access to the thread-index pool, so tests can check that indices are reused.
#[cfg(test)]
pub(crate) fn pool_snapshot() -> (usize, Vec<usize>) {
    let p = lock(tls::pool());
    (p.next, p.free.clone())
}
