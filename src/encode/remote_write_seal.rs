//! Module implementing how a Remote-Write 1.0 batch is assembled and sealed: its bytes are
//! runs of the label cache's arena (warm series, their sample overwritten in place) and of
//! a side buffer (everything else), compressed run by run into one snappy block. See
//! `Series::seal`.

use core::ops::Range;

use super::{varint, Batch, Series};
use crate::encode::remote_write_batch::{grow_zeroed, take_body};
use crate::error::EncodeError;

impl Series {
    /// Adds `range` of the arena (`arena`) or of `raw` to the batch, extending the last run
    /// when it continues it.
    #[inline]
    pub(super) fn push_seg(&mut self, arena: bool, range: Range<usize>) {
        match self.segs.last_mut() {
            Some((a, last)) if *a == arena && last.end == range.start => last.end = range.end,
            _ => self.segs.push((arena, range)),
        }
    }

    /// Compresses the current batch, if it has samples, into a sealed [`Batch`], with the
    /// metadata of the families begun in it.
    ///
    /// A batch of several runs (see `segs`) is compressed run by run into one snappy
    /// block: the block's header is the total length, and each run's elements (its own
    /// compression minus its length header) follow, which is valid because snappy's copies
    /// only reach back within the run that holds them.
    pub(super) fn seal(&mut self) {
        if self.raw_samples == 0 {
            self.meta.clear();
            self.raw.clear();
            self.segs.clear();
            return;
        }
        if !self.meta.is_empty() {
            let start = self.raw.len();
            self.raw.extend_from_slice(&self.meta);
            self.meta.clear();
            self.push_seg(false, start..self.raw.len());
        }
        match self.compress_segs() {
            Ok(()) => {
                let n = self.stage.len();
                let mut body = take_body(&mut self.free, n);
                body.extend_from_slice(&self.stage);
                self.sealed.push(Batch {
                    body,
                    samples: self.raw_samples,
                    v2: false,
                });
            }
            Err(e) => {
                self.error
                    .get_or_insert(EncodeError::InvalidSample(format!("snappy: {e}")));
            }
        }
        self.raw.clear();
        self.segs.clear();
        self.raw_samples = 0;
    }

    /// Compresses the batch's runs into `stage` as one snappy block.
    fn compress_segs(&mut self) -> Result<(), snap::Error> {
        self.stage.clear();
        let total: usize = self.segs.iter().map(|(_, r)| r.len()).sum();
        let mut head = [0u8; 10];
        let n = varint(&mut head, total as u64);
        self.stage.extend_from_slice(&head[..n]);
        for (arena, r) in &self.segs {
            let input = if *arena {
                &self.cache.arena[r.clone()]
            } else {
                &self.raw[r.clone()]
            };
            // Snappy writes into a slice, which must be initialised: keep one output
            // buffer at its largest length (zeroed once, not per batch).
            let need = snap::raw::max_compress_len(input.len());
            if need == 0 {
                return Err(snap::Error::TooBig {
                    given: input.len() as u64,
                    max: u64::from(u32::MAX),
                });
            }
            grow_zeroed(&mut self.compressed, need);
            let written = self.snappy.compress(input, &mut self.compressed)?;
            // Skip this run's own length header (a varint).
            let header = self.compressed[..written]
                .iter()
                .position(|b| b & 0x80 == 0)
                .map_or(written, |i| i + 1);
            let piece = &self.compressed[header..written];
            if self.stage.capacity() - self.stage.len() < piece.len() {
                // Grown with half again of headroom: the compressed size of a batch moves
                // with its values, and growing to fit exactly would regrow again later.
                let want = self.stage.len() + piece.len();
                self.stage.reserve_exact(want / 2 + piece.len());
            }
            self.stage.extend_from_slice(piece);
        }
        Ok(())
    }
}
