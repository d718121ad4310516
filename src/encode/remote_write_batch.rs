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
