//! Module implementing the unit the remote writer queues and sends, whichever protocol
//! encoded it. See [`Batch`].

/// One request body: a snappy-compressed `prometheus.WriteRequest` (Remote-Write 1.0) or
/// `io.prometheus.write.v2.Request` (2.0), and how many samples it holds.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The snappy block-format body.
    pub(crate) body: Vec<u8>,
    /// Samples (one per series; a native histogram counts as one) in it.
    pub(crate) samples: usize,
    /// Whether `body` is a Remote-Write 2.0 `io.prometheus.write.v2.Request` (else 1.0).
    pub(crate) v2: bool,
}

/// A body buffer for `n` bytes from the spare ones: one already big enough if there is one,
/// else one grown with an eighth of headroom. Sizes move by a few bytes with the values
/// between collections; taking any spare and growing it to fit exactly would reallocate
/// again and again once warm.
pub(crate) fn take_body(free: &mut Vec<Vec<u8>>, n: usize) -> Vec<u8> {
    let mut body = match free.iter().position(|b| b.capacity() >= n) {
        Some(i) => free.swap_remove(i),
        None => {
            let mut b = free.pop().unwrap_or_default();
            b.clear();
            b.reserve_exact(n + n / 8);
            b
        }
    };
    body.clear();
    body
}

/// Makes `buf` (a zeroed scratch buffer, never shrunk) at least `need` long, with an eighth
/// of headroom when it grows, for the same reason as [`take_body`].
pub(crate) fn grow_zeroed(buf: &mut Vec<u8>, need: usize) {
    if buf.len() < need {
        buf.resize(need + need / 8, 0);
    }
}
