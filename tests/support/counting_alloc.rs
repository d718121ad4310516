//! A global allocator that counts the current thread's allocations, for the zero-allocation
//! tests. Installing it is each test binary's own choice (nothing here is a
//! `#[global_allocator]`):
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: support::CountingAlloc = support::CountingAlloc;
//! ```
//!
//! Counts are per thread, so the harness and other test threads do not disturb a measurement.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: allocations during thread-local teardown are not the test's.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

/// Forwards to [`System`] and counts every `alloc` and `realloc` of the calling thread.
pub struct CountingAlloc;

// SAFETY: forwards every call unchanged to the system allocator; the counter is a
// thread-local `Cell` (const-initialised, so touching it does not allocate).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above, for `dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above, for `realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// How many allocations this thread has made so far (0 where [`CountingAlloc`] is not the
/// global allocator: assert that a cold step allocates before trusting a zero).
pub fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}
