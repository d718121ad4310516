//! Module implementing the per-thread-index slabs that hold metrics' per-thread slots.
//!
//! A metric's per-thread slot is only ever written by the thread holding that slot's thread
//! index, so slots need no cache padding of their own as long as no cache line holds slots
//! of two indices. Each thread index therefore gets a slab: memory regions (128-byte aligned,
//! sizes multiples of 128) cut into blocks for that index's slots only, with one free list
//! per size class (16-byte steps up to [`MAX_SLAB_SLOT`] bytes). A counter's slot costs 16
//! bytes instead of a 128-byte padded line, and a metric pays only for the threads that
//! actually wrote it.
//!
//! A block is allocated by the index's own thread on its first write to a metric and freed
//! (by whichever thread drops the metric) back to the same index's slab, under that slab's
//! mutex; both happen once per metric and thread, never on the update path. Regions are never
//! returned to the system: freed blocks are reused for the same index's later slots.
//!
//! Slots larger than [`MAX_SLAB_SLOT`] or aligned to more than 16 bytes get their own
//! allocation, padded to whole 128-byte lines. Under loom every slot is a plain `Box`.

use core::ptr::NonNull;

/// Size-class step and the alignment of every slab block.
const GRAIN: usize = 16;

/// Largest slot kept in a slab.
pub(crate) const MAX_SLAB_SLOT: usize = 256;

/// Cache-line pair that regions and large slots are aligned to (what `CachePadded` pads to).
const LINE: usize = 128;

/// Whether slots of type `S` live in a slab (else: their own padded allocation).
const fn in_slab<S>() -> bool {
    core::mem::size_of::<S>() <= MAX_SLAB_SLOT && core::mem::align_of::<S>() <= GRAIN
}

/// Bytes a slot of type `S` occupies (memory accounting).
pub(crate) const fn footprint<S>() -> usize {
    let size = if core::mem::size_of::<S>() == 0 {
        1
    } else {
        core::mem::size_of::<S>()
    };
    if in_slab::<S>() {
        size.div_ceil(GRAIN) * GRAIN
    } else {
        size.div_ceil(LINE) * LINE
    }
}

#[cfg(not(tachymeter_loom))]
mod imp {
    use super::*;
    use crate::shard::MAX_INDEXED;
    use crate::sync::{lock, Mutex};
    use core::ptr;
    use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};

    const CLASSES: usize = MAX_SLAB_SLOT / GRAIN;
    /// First region of a slab; each next one doubles, up to [`MAX_REGION`].
    const FIRST_REGION: usize = 1024;
    const MAX_REGION: usize = 64 * 1024;

    struct Slab {
        /// Head of each size class's free list; a free block's first word links the next.
        free: [*mut u8; CLASSES],
        /// Unused rest of the current region.
        bump: *mut u8,
        left: usize,
        /// Size of the next region.
        next_region: usize,
    }

    // SAFETY: the pointers name memory owned by the slab (free blocks and the unused rest of a
    // region), reached only under the slab's mutex; no thread-affine state is held.
    unsafe impl Send for Slab {}

    static SLABS: [Mutex<Slab>; MAX_INDEXED] = [const {
        Mutex::new(Slab {
            free: [ptr::null_mut(); CLASSES],
            bump: ptr::null_mut(),
            left: 0,
            next_region: FIRST_REGION,
        })
    }; MAX_INDEXED];

    impl Slab {
        fn take(&mut self, class: usize) -> *mut u8 {
            let head = self.free[class];
            if !head.is_null() {
                // SAFETY: `head` is a free block of this class (at least 16 bytes, 16-aligned)
                // whose first word `give` wrote; the mutex makes this thread its only user.
                self.free[class] = unsafe { head.cast::<*mut u8>().read() };
                return head;
            }
            let size = (class + 1) * GRAIN;
            if self.left < size {
                // The old region's tail (under `MAX_SLAB_SLOT` bytes) is left unused.
                let bytes = self.next_region;
                self.next_region = (bytes * 2).min(MAX_REGION);
                let layout = Layout::from_size_align(bytes, LINE).expect("region layout");
                // SAFETY: the layout has a non-zero size.
                let region = unsafe { alloc(layout) };
                if region.is_null() {
                    handle_alloc_error(layout);
                }
                self.bump = region;
                self.left = bytes;
            }
            let block = self.bump;
            // SAFETY: `size <= left`, so the result stays inside the current region.
            self.bump = unsafe { self.bump.add(size) };
            self.left -= size;
            block
        }

        fn give(&mut self, class: usize, block: *mut u8) {
            // SAFETY: `block` is a block of this class handed out by `take` and no longer used
            // by anyone (the caller dropped its slot); its first word becomes the link.
            unsafe { block.cast::<*mut u8>().write(self.free[class]) };
            self.free[class] = block;
        }
    }

    fn class_of<S>() -> usize {
        footprint::<S>() / GRAIN - 1
    }

    fn big_layout<S>() -> Layout {
        Layout::from_size_align(footprint::<S>(), LINE).expect("slot layout")
    }

    /// A new slot holding `value` for thread index `idx` (`idx < MAX_INDEXED`).
    pub(crate) fn alloc_slot<S>(idx: usize, value: S) -> NonNull<S> {
        let p = if in_slab::<S>() {
            lock(&SLABS[idx]).take(class_of::<S>())
        } else {
            let layout = big_layout::<S>();
            // SAFETY: the layout has a non-zero size.
            let p = unsafe { alloc(layout) };
            if p.is_null() {
                handle_alloc_error(layout);
            }
            p
        };
        let p = p.cast::<S>();
        // SAFETY: `p` is a fresh block of at least `size_of::<S>()` bytes, aligned for `S`
        // (16-byte blocks for slab slots, 128 bytes otherwise), used by nobody else.
        unsafe { p.write(value) };
        // SAFETY: null was excluded above (region and big allocations are checked).
        unsafe { NonNull::new_unchecked(p) }
    }

    /// Drops and frees a slot that `alloc_slot::<S>(idx, _)` returned.
    ///
    /// # Safety
    ///
    /// `slot` came from `alloc_slot::<S>` with the same `idx`, is not freed yet, and no
    /// reference to it outlives this call.
    pub(crate) unsafe fn free_slot<S>(idx: usize, slot: NonNull<S>) {
        let p = slot.as_ptr();
        // SAFETY: the caller guarantees the slot is live and unaliased.
        unsafe { ptr::drop_in_place(p) };
        if in_slab::<S>() {
            lock(&SLABS[idx]).give(class_of::<S>(), p.cast());
        } else {
            // SAFETY: allocated in `alloc_slot` with this same layout.
            unsafe { dealloc(p.cast(), big_layout::<S>()) };
        }
    }
}

#[cfg(tachymeter_loom)]
mod imp {
    use super::*;

    pub(crate) fn alloc_slot<S>(_idx: usize, value: S) -> NonNull<S> {
        NonNull::from(Box::leak(Box::new(value)))
    }

    /// # Safety
    ///
    /// As in the non-loom version: `slot` is live, unaliased and from `alloc_slot::<S>`.
    pub(crate) unsafe fn free_slot<S>(_idx: usize, slot: NonNull<S>) {
        // SAFETY: `slot` came from `Box::leak` in `alloc_slot` and is freed once.
        drop(unsafe { Box::from_raw(slot.as_ptr()) });
    }
}

pub(crate) use imp::{alloc_slot, free_slot};

#[cfg(all(test, not(tachymeter_loom)))]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_reused_per_index_and_never_shared_between_indices() {
        // A high index no other test thread uses.
        let idx = crate::shard::MAX_INDEXED - 1;
        let a = alloc_slot(idx, [1u64, 2]);
        let b = alloc_slot(idx, [3u64, 4]);
        assert_eq!(
            b.as_ptr() as usize - a.as_ptr() as usize,
            16,
            "16-byte blocks, packed"
        );
        // SAFETY: allocated above with `idx`, freed once.
        unsafe { free_slot(idx, a) };
        let c = alloc_slot(idx, [5u64, 6]);
        assert_eq!(c, a, "a freed block is reused for the same index");
        // SAFETY: reading a live slot.
        assert_eq!(unsafe { *c.as_ref() }, [5, 6]);
        let other = alloc_slot(idx - 1, [7u64, 8]);
        let line = |p: usize| p / LINE;
        assert_ne!(
            line(other.as_ptr() as usize),
            line(b.as_ptr() as usize),
            "another index's slot never shares a line"
        );
        // SAFETY: each allocated above with its index, freed once.
        unsafe {
            free_slot(idx, b);
            free_slot(idx, c);
            free_slot(idx - 1, other);
        }
        assert_eq!(footprint::<[u64; 2]>(), 16);
        assert_eq!(footprint::<[u64; 3]>(), 32);
        assert_eq!(
            footprint::<[u64; 40]>(),
            384,
            "big slots padded to 128-byte lines"
        );
    }
}
