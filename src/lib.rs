//! tachymeter: a lock-free, high-throughput Prometheus metrics engine.
//!
//! * **Hot path**: [`Counter::inc`] and [`Histogram::observe`] update a slot that only the
//!   calling thread writes (one small slot per thread that wrote the metric, packed with the
//!   same thread's other slots): no lock, no locked instruction, no cache line bouncing
//!   between cores, and no allocation after a thread's first write.
//! * **Labels**: a [`Family`] finds a child with a lock-free probe that writes nothing
//!   shared; handles are cheap clones.
//! * **Exposition**: Prometheus text 0.0.4 and OpenMetrics 1.0 ([`Format`]), written into a
//!   reused buffer with no allocation once warm; escaping, `+Inf`/`NaN`, `le` spelling and
//!   name clashes handled as the specs say.
//! * **Transports** (features): a scrape server, a Pushgateway client, and [`http::render`]
//!   for serving from your own HTTP framework; see the guide below.
//!
//! # Quick start
//!
//! ```
//! use tachymeter::{Counter, Format, Gauge, Histogram, Registry};
//!
//! let registry = Registry::new();
//! let calls = Counter::builder("api_called_total", "How many is the api called")
//!     .labels(["inner_ip"])
//!     .register(&registry)?;
//! calls.with_label_values(&["10.0.0.1"]).inc();
//! let cpu = Gauge::builder("cpu_usage", "simulate the cpu usage metric").register(&registry)?;
//! cpu.set(0.42);
//! let task = Histogram::builder("task_time_histogram", "analyze the time of task with histogram")
//!     .buckets([1.0, 2.0, 3.0, 4.0, 5.0])?
//!     .register(&registry)?;
//! task.observe(3.0);
//!
//! assert_eq!(
//!     registry.encode_to_string(Format::Text),
//!     "# HELP api_called_total How many is the api called\n\
//!      ## TYPE api_called_total counter\n\
//!      api_called_total{inner_ip=\"10.0.0.1\"} 1\n\
//!      ## HELP cpu_usage simulate the cpu usage metric\n\
//!      ## TYPE cpu_usage gauge\n\
//!      cpu_usage 0.42\n\
//!      ## HELP task_time_histogram analyze the time of task with histogram\n\
//!      ## TYPE task_time_histogram histogram\n\
//!      task_time_histogram_bucket{le=\"1\"} 0\n\
//!      task_time_histogram_bucket{le=\"2\"} 0\n\
//!      task_time_histogram_bucket{le=\"3\"} 1\n\
//!      task_time_histogram_bucket{le=\"4\"} 1\n\
//!      task_time_histogram_bucket{le=\"5\"} 1\n\
//!      task_time_histogram_bucket{le=\"+Inf\"} 1\n\
//!      task_time_histogram_sum 3\n\
//!      task_time_histogram_count 1\n"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
#![doc = include_str!("docs/guide.md")]
//!
//! # Panics and error handling
//!
//! | operation | on bad input |
//! | --- | --- |
//! | building or registering a metric | typed error ([`NameError`], [`BucketError`], [`RegistrationError`]) |
//! | [`Family::with_label_values`] with the wrong number of values | panics (documented convenience); [`Family::try_with_label_values`] returns [`LabelError`] |
//! | [`Counter::inc_by_f64`] with a negative or non-finite value | ignored; [`Counter::try_inc_by_f64`] returns [`CounterError`] |
//! | [`Histogram::observe`] with NaN | ignored (no bucket holds NaN) |
//! | [`Summary::observe`] with NaN | ignored (not ranked, not in `_count` or `_sum`) |
//! | summary objectives or window settings out of range | typed error ([`quantile::QuantileError`], [`quantile::WindowError`]) |
//! | encoding | never fails for built-in metrics; a custom [`Collector`] may return [`EncodeError`] |
#![cfg_attr(docsrs, feature(doc_cfg))]
// The guide links the HTTP items, which a build without those features does not have;
// docs.rs and CI document with all features, where every link must resolve.
#![cfg_attr(
    not(all(feature = "http-server", feature = "push")),
    allow(rustdoc::broken_intra_doc_links)
)]
#![deny(unsafe_code)]

mod atomic;
pub mod encode;
mod error;
#[allow(unsafe_code)]
mod exemplar;
mod family;
#[cfg(feature = "_http-common")]
#[cfg_attr(docsrs, doc(cfg(any(feature = "http-server", feature = "push"))))]
pub mod http;
#[cfg(any(feature = "tower", feature = "actix-web"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tower", feature = "actix-web"))))]
pub mod integrations;
mod metrics;
mod names;
mod process;
pub mod quantile;
mod registry;
#[allow(unsafe_code)]
mod shard;
mod sync;
#[cfg(all(test, not(tachymeter_loom)))]
mod test_support;
mod textfile;

pub use encode::{Descriptor, FamilyWriter, Format, MetricType, MetricWriter};
pub use error::{
    BucketError, CounterError, EncodeError, ExemplarError, LabelError, NameError,
    RegistrationError, StateSetError, TextfileError,
};
#[cfg(tachymeter_loom)]
#[doc(hidden)]
pub use family::LoomChild;
pub use family::{set_overflow_hook, Family, MetricRef, OverflowEvent, OVERFLOW_LABEL_VALUE};
#[cfg(feature = "http-server")]
pub use http::{start_http_server, ServeError, ServerBuilder, ServerHandle};
#[cfg(feature = "push")]
pub use http::{BackgroundPusher, PushError, Pusher};
#[cfg(feature = "remote-write")]
pub use http::{RemoteWriteError, RemoteWriter};
pub use metrics::{
    Buckets, Builder, Counter, Gauge, GaugeTimer, Histogram, HistogramTimer, InProgress, Info,
    LabeledBuilder, Metric, NativeConfig, NativeSnapshot, Observe, StateSet, States, Summary,
    SummaryConfig, SummaryTimer, Timer,
};
pub use process::ProcessCollector;
pub use registry::{default_registry, Collector, Registry, RegistryBuilder, OVERFLOW_FAMILY};

/// The README's examples, compiled and run as doctests so the README stays true (the pull,
/// push and remote-write ones compiled only: they bind a port and need a peer). They need
/// the remote-write and tonic snippets' features too, so `cargo test --all-features` (CI) runs them.
#[cfg(all(
    doctest,
    feature = "http-server",
    feature = "push",
    feature = "remote-write",
    feature = "tower"
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
