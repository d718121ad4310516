//! Module implementing gzip compression into a reused buffer with a reused deflate state, so
//! that compressing a scrape allocates nothing once warm. See [`Gzip`].

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The fixed gzip member header (RFC 1952): magic, deflate, no flags, no mtime, no extra
/// flags, unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A reusable gzip compressor.
pub(crate) struct Gzip {
    deflate: Compress,
}

impl Gzip {
    pub(crate) fn new() -> Gzip {
        Gzip {
            // Raw deflate (no zlib header): gzip frames it below. Level 1: scrapes are
            // repetitive text, and the fast level keeps most of the gain at a fraction of
            // the time.
            deflate: Compress::new(Compression::fast(), false),
        }
    }

    /// Replaces `out` with the gzip encoding of `input`.
    pub(crate) fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        out.clear();
        out.extend_from_slice(&HEADER);
        self.deflate.reset();
        let mut crc = Crc::new();
        crc.update(input);
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(input.len() / 4).max(1024));
            }
            let consumed = usize::try_from(self.deflate.total_in()).unwrap_or(usize::MAX);
            let rest = input.get(consumed..).unwrap_or(&[]);
            match self
                .deflate
                .compress_vec(rest, out, FlushCompress::Finish)
                .map_err(std::io::Error::other)?
            {
                Status::StreamEnd => break,
                // Out of room (or no progress possible without more): grow and go on. Each
                // round at least doubles the room, so this ends.
                Status::Ok | Status::BufError => {
                    out.reserve(out.capacity().max(1024));
                }
            }
        }
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&crc.amount().to_le_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(b)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn round_trips_and_reuses() {
        let mut g = Gzip::new();
        let mut out = Vec::new();
        for input in [
            &b""[..],
            b"a",
            &b"api_called_total{inner_ip=\"10.0.0.1\"} 1\n".repeat(5000),
            b"short again",
        ] {
            g.compress(input, &mut out).unwrap();
            assert_eq!(gunzip(&out), input);
        }
        // Incompressible input larger than the first reservation.
        let noise: Vec<u8> = (0u32..200_000)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        g.compress(&noise, &mut out).unwrap();
        assert_eq!(gunzip(&out), noise);
    }
}
