//! tachymeter: a lock-free, high-throughput Prometheus metrics engine.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod shard;
mod sync;

pub mod quantile;
