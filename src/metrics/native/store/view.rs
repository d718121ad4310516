//! Module implementing the scrape side of a [`NativeStore`]: merging every shard of the
//! current reset epoch into one consistent [`NativeView`] (see the parent module's docs).

use crossbeam_utils::CachePadded;

use super::{coarsen, state, upper_bound, Core, NativeStore, ShardState};
use crate::sync::{lock, Ordering};

/// A consistent merged view of every shard, lent to an encoder.
#[derive(Debug)]
pub(crate) struct NativeView<'a> {
    pub(crate) schema: i8,
    pub(crate) zero_threshold: f64,
    pub(crate) zero_count: u64,
    /// `zero_count` plus every bucket count.
    pub(crate) count: u64,
    pub(crate) sum: f64,
    /// Per side (positive, negative): the count of each key from `.1` on (zeros included).
    pub(crate) sides: [(&'a [u64], i32); 2],
}

impl NativeStore {
    /// Calls `f` on the states of the current epoch (under `core`).
    fn live(&self, core: &Core, mut f: impl FnMut(&ShardState)) {
        self.cells.for_each(|slot| {
            // Acquire: pairs with the Release in `publish`.
            let p = slot.state.load(Ordering::Acquire);
            // SAFETY: the caller holds `core`, so no installed state is freed meanwhile.
            if let Some(st) = unsafe { state(p) } {
                if st.params.epoch == core.params.epoch {
                    f(st);
                }
            }
        });
    }

    /// Count and sum of the current epoch (a consistent pair only in the sense that each
    /// shard's count is its buckets' total).
    pub(crate) fn count_and_sum(&self) -> (u64, f64) {
        let mut core = lock(&self.core);
        self.reset_if_due(&mut core);
        let (mut count, mut sum) = (0u64, 0.0);
        self.live(&core, |st| {
            // Relaxed: snapshot reads.
            count += st.zero.load(Ordering::Relaxed);
            sum += f64::from_bits(st.sum.load(Ordering::Relaxed));
            for s in &st.sides {
                s.for_each(|_, n| count += n);
            }
        });
        (count, sum)
    }

    /// Merges every shard into one view (see the module docs) and hands it to `f`.
    pub(crate) fn with_view<R>(&self, f: impl FnOnce(&NativeView<'_>) -> R) -> R {
        let mut guard = lock(&self.core);
        self.reset_if_due(&mut guard);
        let core = &mut *guard;
        let (mut schema, mut threshold) = (core.params.schema, core.params.threshold);
        self.live(core, |st| {
            schema = schema.min(st.params.schema);
            threshold = threshold.max(st.params.threshold);
        });
        let mut ranges = [(i32::MAX, i32::MIN); 2];
        self.live(core, |st| {
            for (r, s) in ranges.iter_mut().zip(&st.sides) {
                if let Some((lo, hi)) = s.range() {
                    r.0 = r.0.min(coarsen(lo, st.params.schema, schema));
                    r.1 = r.1.max(coarsen(hi, st.params.schema, schema));
                }
            }
        });
        let mut scratch = core::mem::take(&mut core.scratch);
        for (buf, &(lo, hi)) in scratch.iter_mut().zip(&ranges) {
            buf.clear();
            if lo <= hi {
                buf.resize((hi - lo + 1) as usize, 0);
            }
        }
        let (mut zero, mut sum) = (0u64, 0.0);
        self.live(core, |st| {
            // Relaxed: snapshot reads of counts that only grow.
            zero += st.zero.load(Ordering::Relaxed);
            sum += f64::from_bits(st.sum.load(Ordering::Relaxed));
            let from = st.params;
            for ((s, buf), &(lo, _)) in st.sides.iter().zip(scratch.iter_mut()).zip(&ranges) {
                s.for_each(|k, n| {
                    if from.threshold < threshold && upper_bound(k, from.schema) <= threshold {
                        zero += n;
                    } else if let Some(c) =
                        buf.get_mut((coarsen(k, from.schema, schema) - lo) as usize)
                    {
                        *c += n;
                    }
                });
            }
        });
        let count = zero + scratch.iter().flatten().sum::<u64>();
        let view = NativeView {
            schema,
            zero_threshold: threshold,
            zero_count: zero,
            count,
            sum,
            sides: [
                (&scratch[0][..], ranges[0].0),
                (&scratch[1][..], ranges[1].0),
            ],
        };
        let r = f(&view);
        core.scratch = scratch;
        r
    }

    /// Heap bytes held (memory accounting).
    pub(crate) fn heap_bytes(&self) -> usize {
        let core = lock(&self.core);
        let mut n = self.cells.shard_bytes()
            + core.scratch.iter().map(|s| s.capacity() * 8).sum::<usize>()
            + core.populated.iter().map(|s| s.len() * 16).sum::<usize>();
        self.cells.for_each(|slot| {
            // Acquire: pairs with the Release in `publish`.
            // SAFETY: `core` is held, so the installed state stays valid.
            if let Some(st) = unsafe { state(slot.state.load(Ordering::Acquire)) } {
                n += core::mem::size_of::<CachePadded<ShardState>>()
                    + st.sides.iter().map(|s| s.len() * 8).sum::<usize>();
            }
        });
        n
    }
}
