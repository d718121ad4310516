//! Module implementing the benches' hook into the remote-write encoders. See
//! [`BenchEncoder`].

use super::Encoder;
use crate::encode::remote_write::WriteRequestEncoder;
use crate::encode::remote_write_v2::RequestEncoder;
use crate::Registry;

/// Internal, outside semver: one collection + protobuf encode + snappy of some registries,
/// as a background writer does it, for `benches/remote_write.rs`.
#[doc(hidden)]
#[derive(Debug)]
pub struct BenchEncoder(Encoder);

impl BenchEncoder {
    /// An encoder making batches of at most `max_samples` samples.
    pub fn new(max_samples: usize) -> BenchEncoder {
        BenchEncoder(Encoder::V1(Box::new(WriteRequestEncoder::new(
            max_samples,
            &[],
        ))))
    }

    /// The same, sending native histograms as `TimeSeries.histograms`.
    pub fn with_native_histograms(max_samples: usize) -> BenchEncoder {
        BenchEncoder(Encoder::V1(Box::new(
            WriteRequestEncoder::new(max_samples, &[]).native_histograms(true),
        )))
    }

    /// An encoder sending exemplars and, with every collection, metadata; native histograms
    /// as `TimeSeries.histograms` if `native`.
    pub fn with_extras(max_samples: usize, native: bool) -> BenchEncoder {
        BenchEncoder(Encoder::V1(Box::new(
            WriteRequestEncoder::new(max_samples, &[])
                .native_histograms(native)
                .exemplars(true)
                .metadata_every(Some(core::time::Duration::ZERO)),
        )))
    }

    /// A Remote-Write 2.0 encoder (`io.prometheus.write.v2.Request`).
    pub fn v2(max_samples: usize) -> BenchEncoder {
        BenchEncoder(Encoder::V2(Box::new(RequestEncoder::new(max_samples, &[]))))
    }

    /// A Remote-Write 2.0 encoder sending exemplars; native histograms as
    /// `TimeSeries.histograms` if `native`.
    pub fn v2_with_exemplars(max_samples: usize, native: bool) -> BenchEncoder {
        BenchEncoder(Encoder::V2(Box::new(
            RequestEncoder::new(max_samples, &[])
                .native_histograms(native)
                .exemplars(true),
        )))
    }

    /// Collects `registries` into compressed batches and recycles their buffers, as the
    /// sender does once a batch is sent; returns (samples, compressed bytes).
    ///
    /// # Errors
    ///
    /// A custom collector's error.
    pub fn collect(
        &mut self,
        registries: &[Registry],
    ) -> Result<(usize, usize), crate::EncodeError> {
        self.0.collect(registries, 1_700_000_000_000)?;
        let (mut samples, mut bytes) = (0, 0);
        let mut bodies = [const { Vec::new() }; 8];
        let mut n = 0;
        for b in self.0.take_batches() {
            samples += b.samples;
            bytes += b.body.len();
            if n < bodies.len() {
                bodies[n] = b.body;
                n += 1;
            }
        }
        for body in bodies.into_iter().take(n) {
            self.0.recycle(body);
        }
        Ok((samples, bytes))
    }
}
