//! Module implementing the exposition encoders: Prometheus text 0.0.4, OpenMetrics 1.0 and
//! (feature `protobuf`) the Prometheus protobuf format. See [`Format`] and [`MetricWriter`].
//!
//! Encoding writes into a caller-supplied `Vec<u8>`. Built-in metrics render their series
//! prefixes (escaped label pairs) once, when a child is created, and numbers go through stack
//! buffers, so once the buffer has grown to the size of a snapshot, encoding again performs
//! no heap allocation at all.

#[cfg(any(feature = "protobuf", feature = "remote-write"))]
pub(crate) mod arena_cache;
mod check;
mod descriptor;
pub(crate) mod escape;
mod family_writer;
pub(crate) mod float;
mod openmetrics;
#[cfg(feature = "protobuf")]
pub(crate) mod protobuf;
#[cfg(feature = "remote-write")]
pub(crate) mod remote_write;
#[cfg(feature = "remote-write")]
mod remote_write_batch;
#[cfg(feature = "remote-write")]
mod remote_write_labels;
#[cfg(all(test, feature = "remote-write"))]
mod remote_write_proto;
#[cfg(feature = "remote-write")]
pub(crate) mod remote_write_v2;
pub(crate) mod sink;
pub(crate) use openmetrics::{epoch_seconds, now_seconds};

use check::Contract;
pub(crate) use check::Scratch;
pub use descriptor::{Descriptor, MetricType};
pub use family_writer::FamilyWriter;

use crate::error::EncodeError;
use float::FloatStyle;
pub(crate) use openmetrics::ExemplarRef;
use sink::SampleSink;

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Format {
    /// Prometheus text format 0.0.4.
    #[default]
    Text,
    /// OpenMetrics 1.0.0 text format (ends with `# EOF`).
    OpenMetrics,
    /// The Prometheus protobuf format: length-delimited `io.prometheus.client.MetricFamily`
    /// messages (`metrics.proto`), with exemplars and created timestamps. Feature `protobuf`.
    #[cfg(feature = "protobuf")]
    #[cfg_attr(docsrs, doc(cfg(feature = "protobuf")))]
    Protobuf,
}

impl Format {
    /// The exact `Content-Type` to send with a body in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            #[cfg(feature = "protobuf")]
            Format::Protobuf => protobuf::CONTENT_TYPE,
        }
    }

    fn float_style(self) -> FloatStyle {
        match self {
            Format::Text => FloatStyle::Go,
            Format::OpenMetrics => FloatStyle::OpenMetrics,
            // Numbers are binary; bound labels are parsed back from the Go spelling.
            #[cfg(feature = "protobuf")]
            Format::Protobuf => FloatStyle::Go,
        }
    }
}

impl Format {
    /// Whether the format carries created timestamps (`_created` samples).
    const fn has_created(self) -> bool {
        match self {
            Format::Text => false,
            Format::OpenMetrics => true,
            #[cfg(feature = "protobuf")]
            Format::Protobuf => true,
        }
    }
}

/// Label pairs of a sample as a custom collector gives them.
pub type LabelPairs<'a> = &'a [(&'a str, &'a str)];

/// A sample value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    /// An exact integer (counts).
    U64(u64),
    /// A float.
    F64(f64),
    /// Seconds since the Unix epoch (`_created`), written in fixed decimal notation with
    /// millisecond precision rather than in exponent form.
    Seconds(f64),
}

/// Writes one registry snapshot. Handed to [`Collector::collect`](crate::Collector::collect).
pub struct MetricWriter<'a> {
    out: &'a mut Vec<u8>,
    format: Format,
    /// Registry namespace including the trailing `_`, or empty.
    prefix: &'a str,
    /// The registry's constant labels, rendered and escaped, or empty.
    const_labels: &'a str,
    /// Their names, which a custom sample's labels may not repeat.
    const_label_names: &'a [Box<str>],
    filter: Option<&'a dyn Fn(&str) -> bool>,
    /// Whether to write `_created` samples (OpenMetrics only; see [`MetricWriter::created`]).
    created: bool,
    /// The collector contract checks (debug builds).
    contract: Contract<'a>,
    /// When set, samples go to this sink instead of `out`, which then only holds the series
    /// text of custom samples for the contract checks (see [`MetricWriter::with_sink`]).
    sink: Option<&'a mut dyn SampleSink>,
}

impl core::fmt::Debug for MetricWriter<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MetricWriter")
            .field("format", &self.format)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl<'a> MetricWriter<'a> {
    pub(crate) fn new(
        out: &'a mut Vec<u8>,
        format: Format,
        prefix: &'a str,
        (const_labels, const_label_names): (&'a str, &'a [Box<str>]),
        filter: Option<&'a dyn Fn(&str) -> bool>,
        scratch: Scratch,
    ) -> Self {
        MetricWriter {
            out,
            format,
            prefix,
            const_labels,
            const_label_names,
            filter,
            created: true,
            contract: Contract::new(scratch),
            sink: None,
        }
    }

    /// Hands every sample to `sink` instead of writing text (remote write). The writer then
    /// reports [`Format::Text`] (so `le`/`quantile` values are spelled as Prometheus stores
    /// scraped text: `le="1"`) and no `_created` samples, except to a sink that
    /// [takes them](SampleSink::takes_created).
    #[cfg_attr(not(feature = "remote-write"), allow(dead_code))]
    pub(crate) fn with_sink(mut self, sink: &'a mut dyn SampleSink) -> Self {
        // `created` keeps the registry's setting: the text format has no `_created` samples
        // (`created()` is false), but a sink that takes created timestamps gets them.
        self.format = Format::Text;
        self.sink = Some(sink);
        self
    }

    /// A collector that declared `declared` starts writing (for the contract checks).
    pub(crate) fn begin_collector(&mut self, declared: &'a [Descriptor]) {
        self.contract.begin_collector(declared);
    }

    /// The current collector is done.
    ///
    /// # Errors
    ///
    /// In debug builds, the first breach of the [`Collector`](crate::Collector) contract:
    /// [`EncodeError::UndeclaredFamily`], [`EncodeError::DuplicateFamily`],
    /// [`EncodeError::DuplicateSeries`].
    pub(crate) fn end_collector(&mut self) -> Result<(), EncodeError> {
        self.contract.end_collector()
    }

    /// The check buffers, for the next scrape.
    pub(crate) fn into_scratch(self) -> Scratch {
        self.contract.into_scratch()
    }

    /// Sends every sample to the protobuf encoder `sink`, keeping [`Format::Protobuf`] and
    /// the registry's `_created` setting (see [`with_sink`](Self::with_sink)).
    #[cfg(feature = "protobuf")]
    pub(crate) fn with_protobuf_sink(mut self, sink: &'a mut dyn SampleSink) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Sets whether `_created` samples are written (they never are in the text format).
    pub(crate) fn with_created(mut self, created: bool) -> Self {
        self.created = created;
        self
    }

    /// The format being written.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether `_created` samples belong in this exposition: OpenMetrics (or protobuf, where
    /// they become `created_timestamp` fields), and the registry has them switched on
    /// ([`RegistryBuilder::created_samples`](crate::RegistryBuilder::created_samples)).
    /// The text format never has them (FORMATS rule 6).
    pub fn created(&self) -> bool {
        self.created && self.format.has_created()
    }

    /// Starts a family: writes its metadata lines and returns a writer for its samples.
    /// Returns `None` when the scrape filtered this family out (`?name[]=`); skip its samples.
    ///
    /// In debug builds it also returns `None` for a family the collector did not declare in
    /// [`describe`](crate::Collector::describe), or one it already wrote in this scrape; the
    /// scrape then fails with [`EncodeError::UndeclaredFamily`] or
    /// [`EncodeError::DuplicateFamily`] once the collector returns (see
    /// [`Collector`](crate::Collector)).
    pub fn family<'w>(&'w mut self, desc: &'w Descriptor) -> Option<FamilyWriter<'w, 'a>> {
        if !self.contract.family(desc) {
            return None;
        }
        let suffix = desc.type_line_suffix(self.format);
        if let Some(filter) = self.filter {
            // Match the family by either spelling of its name, whatever the format: the
            // family name, or the sample name with `_total` / `_info` (what Prometheus stores
            // as `__name__` and so sends as `name[]`).
            if !self.name_matches(filter, desc.name(), desc.sample_suffix()) {
                return None;
            }
        }
        if let Some(sink) = self.sink.as_deref_mut() {
            // `out` only serves the contract's series ranges, which are per family.
            self.out.clear();
            sink.family(self.prefix, desc);
            return Some(FamilyWriter {
                w: self,
                desc,
                child: None,
                created: None,
            });
        }
        let o = &mut *self.out;
        let write_name = |o: &mut Vec<u8>| {
            o.extend_from_slice(self.prefix.as_bytes());
            o.extend_from_slice(desc.name.as_bytes());
            o.extend_from_slice(suffix.as_bytes());
        };
        match self.format {
            Format::Text => {
                o.extend_from_slice(b"# HELP ");
                write_name(o);
                o.push(b' ');
                escape::help_text(o, &desc.help);
                o.extend_from_slice(b"\n# TYPE ");
                write_name(o);
                o.push(b' ');
                o.extend_from_slice(desc.metric_type.as_str(Format::Text).as_bytes());
                o.push(b'\n');
            }
            Format::OpenMetrics => {
                o.extend_from_slice(b"# TYPE ");
                write_name(o);
                o.push(b' ');
                o.extend_from_slice(desc.metric_type.as_str(Format::OpenMetrics).as_bytes());
                if !desc.unit.is_empty() {
                    o.extend_from_slice(b"\n# UNIT ");
                    write_name(o);
                    o.push(b' ');
                    o.extend_from_slice(desc.unit.as_bytes());
                }
                o.extend_from_slice(b"\n# HELP ");
                write_name(o);
                o.push(b' ');
                escape::help_openmetrics(o, &desc.help);
                o.push(b'\n');
            }
            // Protobuf writers always have a sink (`with_protobuf_sink`), handled above.
            #[cfg(feature = "protobuf")]
            Format::Protobuf => {}
        }
        Some(FamilyWriter {
            w: self,
            desc,
            child: None,
            created: None,
        })
    }

    fn name_matches(&self, filter: &dyn Fn(&str) -> bool, name: &str, suffix: &str) -> bool {
        // Stack buffer: the filter must not cost an allocation per family.
        let mut buf = [0u8; 256];
        let parts = [self.prefix, name, suffix];
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > buf.len() {
            return true; // absurdly long names are never filtered out
        }
        let mut at = 0;
        for p in parts {
            buf[at..at + p.len()].copy_from_slice(p.as_bytes());
            at += p.len();
        }
        let base_len = self.prefix.len() + name.len();
        // Both pieces are copies of `&str`s, so they are valid UTF-8.
        let full = core::str::from_utf8(&buf[..at]).unwrap_or_default();
        let base = core::str::from_utf8(&buf[..base_len]).unwrap_or_default();
        filter(full) || filter(base)
    }

    /// Ends the exposition (`# EOF` in OpenMetrics; nothing in the text format).
    pub(crate) fn finish(&mut self) {
        if self.format == Format::OpenMetrics {
            self.out.extend_from_slice(b"# EOF\n");
        }
    }
}

/// Whether `v` may be written where OpenMetrics wants a counter-like value (a histogram's or
/// summary's `_sum`): not NaN and not negative (`+Inf` is allowed).
pub(crate) fn is_counter_value(v: f64) -> bool {
    v >= 0.0
}

/// Renders `v` as an `le`/`quantile` label value in both formats' canonical spellings:
/// Go `%g` for the text format, OpenMetrics canonical numbers otherwise.
pub(crate) fn render_bound(v: f64) -> [Box<str>; 2] {
    let mut t = Vec::with_capacity(24);
    float::write_f64(&mut t, v, FloatStyle::Go);
    let mut o = Vec::with_capacity(24);
    float::write_f64(&mut o, v, FloatStyle::OpenMetrics);
    // Both buffers hold ASCII produced by `write_f64`.
    [
        String::from_utf8(t).unwrap_or_default().into_boxed_str(),
        String::from_utf8(o).unwrap_or_default().into_boxed_str(),
    ]
}

/// Index into [`render_bound`]'s pair for a format.
pub(crate) fn bound_index(format: Format) -> usize {
    match format {
        Format::Text => 0,
        Format::OpenMetrics => 1,
        // The protobuf encoder parses the Go spelling back into a double.
        #[cfg(feature = "protobuf")]
        Format::Protobuf => 0,
    }
}

/// Appends label pairs as `a="x",b="y"`, values escaped.
pub(crate) fn write_label_pairs<'p>(
    out: &mut Vec<u8>,
    pairs: impl IntoIterator<Item = (&'p str, &'p str)>,
) {
    for (i, (n, v)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b"=\"");
        escape::label_value(out, v);
        out.push(b'"');
    }
}

/// Renders label pairs once (`a="x",b="y"`, values escaped) for a child's cached prefix.
pub(crate) fn render_labels(names: &[Box<str>], values: &[&str]) -> Box<str> {
    let mut out = Vec::new();
    write_label_pairs(
        &mut out,
        names.iter().map(|n| &**n).zip(values.iter().copied()),
    );
    // Names are ASCII and values were `&str`; escaping only inserts ASCII.
    String::from_utf8(out).unwrap_or_default().into_boxed_str()
}
