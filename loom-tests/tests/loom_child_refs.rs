//! loom model of a family child's reference count (`src/family/child.rs`): the last of
//! several owners, on whichever thread, drops the metric once, after every other owner's
//! use of it.
#![cfg(tachymeter_loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use tachymeter::LoomChild;

/// A metric with one cell per user thread; its drop reads both (loom reports a data race if
/// either write is not ordered before the read) and counts drops.
struct Tracked {
    cells: [UnsafeCell<u32>; 2],
    drops: Arc<AtomicUsize>,
}

// SAFETY: each cell has one writer thread, and the only other access is the read in the
// last owner's drop, which the child's reference count orders after both writes; loom checks
// exactly that.
unsafe impl Sync for Tracked {}

impl Drop for Tracked {
    fn drop(&mut self) {
        for c in &self.cells {
            // SAFETY: the last owner has the child to itself (checked by loom).
            let v = c.with(|p| unsafe { *p });
            assert_eq!(v, 1, "the drop sees every owner's write");
        }
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

/// Two threads each write their cell and drop their clone while the main thread drops its
/// own: exactly one drop, and it sees both writes. With a Relaxed decrement or without the
/// Acquire fence, loom reports the drop's read as a data race.
#[test]
fn the_last_owner_drops_the_metric_once_after_every_use() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let c = LoomChild::new(Tracked {
            cells: [UnsafeCell::new(0), UnsafeCell::new(0)],
            drops: drops.clone(),
        });
        let users: Vec<_> = (0..2)
            .map(|i| {
                let mine = c.clone();
                thread::spawn(move || {
                    // SAFETY: thread `i` is cell `i`'s only writer.
                    mine.metric().cells[i].with_mut(|p| unsafe { *p += 1 });
                    drop(mine);
                })
            })
            .collect();
        drop(c);
        for u in users {
            u.join().unwrap();
        }
        assert_eq!(drops.load(Ordering::Relaxed), 1);
    });
}
