//! Unit tests of the per-thread slots and the thread-index pool.

use super::*;
use crate::sync::AtomicU64;

#[derive(Debug)]
struct Cell64(AtomicU64);
impl Slot for Cell64 {
    type Config = ();
    fn new((): ()) -> Self {
        Cell64(AtomicU64::new(0))
    }
}

fn add(s: &Sharded<Cell64>, n: u64) {
    s.update(
        |c| {
            c.0.store(c.0.load(Ordering::Relaxed) + n, Ordering::Relaxed)
        },
        |c| {
            c.0.fetch_add(n, Ordering::Relaxed);
        },
    );
}

fn total(s: &Sharded<Cell64>) -> u64 {
    let mut t = 0;
    s.for_each(|c| t += c.0.load(Ordering::Relaxed));
    t
}

#[test]
fn indices_are_returned_and_reused_lowest_first() {
    let mine = thread_index();
    assert_ne!(mine, NO_INDEX);
    assert_eq!(thread_index(), mine, "stable within a thread");
    // The pool is process-wide and other tests' threads take indices concurrently, so
    // one of them may grab the freed index between the join and the snapshot: retry a
    // bounded number of times, and require one clean round.
    let mut clean = None;
    for _ in 0..50 {
        let a = std::thread::spawn(thread_index).join().unwrap();
        // The exited thread's index is free again, and is handed out before fresh ones.
        let (_, free) = pool_snapshot();
        if !free.contains(&a) {
            continue;
        }
        let b = std::thread::spawn(thread_index).join().unwrap();
        let (next, _) = pool_snapshot();
        clean = Some((a, b, next, free));
        break;
    }
    let (a, b, next, free) = clean.expect("an exited thread's index was never returned");
    assert!(b < next);
    assert!(
        b <= a || free.iter().any(|&f| f < a),
        "lowest free index first"
    );
}

#[test]
fn each_writer_gets_one_small_slot_on_its_first_write() {
    let s = Sharded::<Cell64>::new(());
    assert_eq!((s.slot_count(), s.shard_bytes()), (0, 0));
    add(&s, 5);
    add(&s, 1);
    assert!(!s.is_inflated());
    assert_eq!(
        (s.slot_count(), s.shard_bytes()),
        (1, 16),
        "one 16-byte slot"
    );
    std::thread::scope(|sc| {
        sc.spawn(|| add(&s, 7));
    });
    assert!(s.is_inflated());
    add(&s, 1); // the first writer keeps its slot
    assert_eq!(total(&s), 14);
    assert_eq!(s.slot_count(), 2);
}

#[test]
fn directory_chunks_cover_every_index_once() {
    let mut seen = std::collections::HashSet::new();
    for idx in 0..MAX_INDEXED {
        let (c, off) = chunk_of(idx);
        assert!(
            off < FIRST_CHUNK << c,
            "index {idx}: offset {off} in chunk {c}"
        );
        assert_eq!(chunk_start(c) + off, idx);
        assert!(seen.insert((c, off)));
    }
    assert_eq!(chunk_of(0), (0, 0));
    assert_eq!(chunk_of(FIRST_CHUNK), (1, 0));
    // Index 15 (the 16th thread) is in the third chunk: three hops.
    assert_eq!(chunk_of(15).0, 2);
}

#[test]
fn many_writers_each_keep_a_slot_of_their_own() {
    // More threads than shard_count() at once: none falls back to the shared slot.
    let s = Sharded::<Cell64>::new(());
    let n = 16.max(shard_count() + 3);
    let barrier = std::sync::Barrier::new(n);
    let exclusive = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|sc| {
        for _ in 0..n {
            sc.spawn(|| {
                barrier.wait();
                for _ in 0..100 {
                    add(&s, 1);
                }
                let (_, id, alone) = s.locate();
                assert!((1..=MAX_INDEXED).contains(&id));
                if alone {
                    exclusive.fetch_add(1, Ordering::Relaxed);
                }
                assert!(core::ptr::eq(s.by_id(id).unwrap(), s.locate().0));
                barrier.wait();
            });
        }
    });
    assert_eq!(total(&s), n as u64 * 100);
    assert_eq!(exclusive.load(Ordering::Relaxed), n);
    assert!(s.slot_count() >= n);
    assert!(s.by_id(0).is_none() && s.by_id(OVERFLOW_ID).is_none());
    // Far less than n padded lines: 16 bytes a writer plus the directory's pointers.
    assert!(
        s.shard_bytes() < n * 16 + 64 * 8,
        "{} bytes",
        s.shard_bytes()
    );
}

#[test]
fn a_thread_without_an_index_uses_the_overflow_slot() {
    let s = Sharded::<Cell64>::new(());
    let (slot, id, alone) = s.locate_slow(NO_INDEX);
    assert_eq!((id, alone), (OVERFLOW_ID, false));
    slot.0.fetch_add(3, Ordering::Relaxed);
    add(&s, 4);
    assert_eq!(total(&s), 7);
    assert!(core::ptr::eq(s.by_id(OVERFLOW_ID).unwrap(), slot));
}

#[test]
fn more_threads_than_shards_use_the_overflow_without_loss() {
    let s = Sharded::<Cell64>::new(());
    let n = shard_count() * 2 + 3;
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|sc| {
        for _ in 0..n {
            sc.spawn(|| {
                // Hold every index at once so some threads get indices ≥ shard_count().
                barrier.wait();
                for _ in 0..1000 {
                    add(&s, 1);
                }
                barrier.wait();
            });
        }
    });
    assert_eq!(total(&s), n as u64 * 1000);
}

#[test]
fn the_first_writers_slots_are_inline_whatever_their_indices() {
    // Indices as a busy process would hand out (the calls stand in for those threads).
    let s = Sharded::<Cell64>::new(());
    let (a, id, alone) = s.locate_slow(300);
    assert_eq!((id, alone), (301, true));
    assert_eq!(s.shard_bytes(), 16, "no directory for the first writer");
    let (b, id, _) = s.locate_slow(301);
    assert_eq!(id, 302);
    assert_eq!(s.shard_bytes(), 32, "nor for the second");
    assert!(core::ptr::eq(s.by_id(301).unwrap(), a) && core::ptr::eq(s.by_id(302).unwrap(), b));
    assert!(core::ptr::eq(s.inline_of(300).unwrap(), a));
    // The third goes to the directory, at its index.
    let (c, id, _) = s.locate_slow(302);
    assert_eq!(id, 303);
    assert!(s.inline_of(302).is_none());
    assert!(core::ptr::eq(s.by_id(303).unwrap(), c));
    assert!(s.shard_bytes() > 48);
    a.0.store(1, Ordering::Relaxed);
    b.0.store(2, Ordering::Relaxed);
    c.0.store(4, Ordering::Relaxed);
    assert_eq!(total(&s), 7, "each slot summed once");
    assert_eq!(s.slot_count(), 3);
}
