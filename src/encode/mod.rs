//! Module implementing the exposition encoders: Prometheus text 0.0.4 and OpenMetrics 1.0.
//! See [`Format`] and [`MetricWriter`].
//!
//! Encoding writes into a caller-supplied `Vec<u8>`. Built-in metrics render their series
//! prefixes (escaped label pairs) once, when a child is created, and numbers go through stack
//! buffers, so once the buffer has grown to the size of a snapshot, encoding again performs
//! no heap allocation at all.

pub(crate) mod escape;
pub(crate) mod float;
mod openmetrics;
pub(crate) use openmetrics::{epoch_seconds, now_seconds};

use crate::error::EncodeError;
use crate::names;
use float::FloatStyle;
pub(crate) use openmetrics::ExemplarRef;

/// An exposition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Format {
    /// Prometheus text format 0.0.4.
    #[default]
    Text,
    /// OpenMetrics 1.0.0 text format (ends with `# EOF`).
    OpenMetrics,
}

impl Format {
    /// The exact `Content-Type` to send with a body in this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    fn float_style(self) -> FloatStyle {
        match self {
            Format::Text => FloatStyle::Go,
            Format::OpenMetrics => FloatStyle::OpenMetrics,
        }
    }
}

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricType {
    /// A monotonically increasing total.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations counted into cumulative buckets.
    Histogram,
    /// Observations summarised by count, sum and optional quantiles.
    Summary,
    /// A metric of unknown type (`untyped` in the text format).
    Unknown,
    /// A set of label pairs describing the target, value always 1 (`name_info`; a gauge in
    /// the text format, as the Python client exposes it).
    Info,
    /// A set of named boolean states, one sample per state labelled with the family name
    /// (Python's `Enum`; a gauge in the text format).
    StateSet,
}

impl MetricType {
    /// The name of this type in the given format.
    pub const fn as_str(self, format: Format) -> &'static str {
        match (self, format) {
            (MetricType::Counter, _) => "counter",
            (MetricType::Gauge, _) => "gauge",
            (MetricType::Histogram, _) => "histogram",
            (MetricType::Summary, _) => "summary",
            (MetricType::Unknown, Format::Text) => "untyped",
            (MetricType::Unknown, Format::OpenMetrics) => "unknown",
            (MetricType::Info | MetricType::StateSet, Format::Text) => "gauge",
            (MetricType::Info, Format::OpenMetrics) => "info",
            (MetricType::StateSet, Format::OpenMetrics) => "stateset",
        }
    }

    /// Suffixes that samples of this type add to the family name (OpenMetrics "Suffixes").
    pub const fn suffixes(self) -> &'static [&'static str] {
        match self {
            MetricType::Counter => &["_total", "_created"],
            MetricType::Histogram => &["_bucket", "_sum", "_count", "_created"],
            MetricType::Summary => &["_sum", "_count", "_created"],
            MetricType::Info => &["_info"],
            MetricType::Gauge | MetricType::Unknown | MetricType::StateSet => &[],
        }
    }

    /// Label names this type uses itself, which user labels may not take.
    pub(crate) const fn reserved_labels(self) -> &'static [&'static str] {
        match self {
            MetricType::Histogram => &["le"],
            MetricType::Summary => &["quantile"],
            _ => &[],
        }
    }
}

/// What a family is: name, help, type, unit and label names. Built once; checked at
/// registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    name: Box<str>,
    help: Box<str>,
    metric_type: MetricType,
    label_names: Box<[Box<str>]>,
    /// Empty when the family has no unit.
    unit: Box<str>,
}

impl Descriptor {
    /// Describes a family. A counter's name may be given with or without `_total` (an info's
    /// with or without `_info`); the family name is stored without it, and the suffix is added
    /// to its samples.
    ///
    /// The help text may be empty: both formats allow it, and it is written as `# HELP name `
    /// (with the separating space, as the OpenMetrics ABNF and client_golang have it).
    /// `promtool check metrics` then reports the lint finding "no help text".
    ///
    /// # Errors
    ///
    /// An invalid metric or label name, a reserved label name, or a label repeated. A state
    /// set's name must also be a valid label name (its samples carry a label named after the
    /// family), and no other label may take it.
    pub fn new(
        name: &str,
        help: &str,
        metric_type: MetricType,
        label_names: &[&str],
    ) -> Result<Descriptor, crate::error::NameError> {
        names::check_metric_name(name)?;
        let name = match metric_type {
            MetricType::Counter => name.strip_suffix("_total").unwrap_or(name),
            MetricType::Info => name.strip_suffix("_info").unwrap_or(name),
            _ => name,
        };
        // Re-check: stripping `_total` from "_total" leaves an empty name.
        names::check_metric_name(name)?;
        let label_names: Box<[Box<str>]> = label_names.iter().map(|&l| l.into()).collect();
        names::check_label_names(
            &label_names,
            metric_type.reserved_labels(),
            metric_type.as_str(Format::OpenMetrics),
        )?;
        if metric_type == MetricType::StateSet {
            names::check_label_name(name)?;
            if label_names.iter().any(|l| **l == *name) {
                return Err(crate::error::NameError::LabelReservedForType {
                    label: name.to_owned(),
                    metric_type: "stateset",
                });
            }
        }
        Ok(Descriptor {
            name: name.into(),
            help: help.into(),
            metric_type,
            label_names,
            unit: "".into(),
        })
    }

    /// Sets the family's unit (OpenMetrics `# UNIT`), e.g. `seconds` for
    /// `request_duration_seconds`.
    ///
    /// ```
    /// use tachymeter::{Descriptor, MetricType, NameError};
    /// let d = Descriptor::new("request_duration_seconds", "Latency.", MetricType::Histogram, &[])?
    ///     .with_unit("seconds")?;
    /// assert_eq!(d.unit(), "seconds");
    /// let bad = Descriptor::new("request_duration", "Latency.", MetricType::Histogram, &[])?
    ///     .with_unit("seconds");
    /// assert!(matches!(bad, Err(NameError::UnitNotSuffix { .. })));
    /// # Ok::<(), NameError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`NameError::InvalidUnit`](crate::NameError::InvalidUnit) for a unit that is not `[a-zA-Z0-9_:]+`,
    /// [`NameError::UnitNotSuffix`](crate::NameError::UnitNotSuffix) when the family name does not end in `_` + unit (the
    /// OpenMetrics rule; for a counter the name without `_total`),
    /// [`NameError::UnitNotAllowed`](crate::NameError::UnitNotAllowed) on an info or state set, which have no unit.
    pub fn with_unit(mut self, unit: &str) -> Result<Descriptor, crate::error::NameError> {
        names::check_unit(&self.name, self.metric_type, unit)?;
        self.unit = unit.into();
        Ok(self)
    }

    /// The unit, or `""` when the family has none.
    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// The family name (for counters, without `_total`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The help text, unescaped.
    pub fn help(&self) -> &str {
        &self.help
    }

    /// The metric type.
    pub fn metric_type(&self) -> MetricType {
        self.metric_type
    }

    /// The label names, in the order label values are given.
    pub fn label_names(&self) -> &[Box<str>] {
        &self.label_names
    }

    /// The suffix a counter's (`_total`) or an info's (`_info`) samples add to the family
    /// name in both formats; empty for other types.
    pub(crate) fn sample_suffix(&self) -> &'static str {
        match self.metric_type {
            MetricType::Counter => "_total",
            MetricType::Info => "_info",
            _ => "",
        }
    }

    /// The name as the `# TYPE` line of `format` spells it: counters are `name_total` in the
    /// text format and `name` in OpenMetrics.
    pub(crate) fn type_line_suffix(&self, format: Format) -> &'static str {
        match (self.metric_type, format) {
            (MetricType::Counter, Format::Text) => "_total",
            (MetricType::Info, Format::Text) => "_info",
            _ => "",
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
    filter: Option<&'a dyn Fn(&str) -> bool>,
    /// Whether to write `_created` samples (OpenMetrics only; see [`MetricWriter::created`]).
    created: bool,
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
        const_labels: &'a str,
        filter: Option<&'a dyn Fn(&str) -> bool>,
    ) -> Self {
        MetricWriter {
            out,
            format,
            prefix,
            const_labels,
            filter,
            created: true,
        }
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

    /// Whether `_created` samples belong in this exposition: OpenMetrics, and the registry
    /// has them switched on ([`RegistryBuilder::created_samples`](crate::RegistryBuilder::created_samples)).
    /// The text format never has them (FORMATS rule 6).
    pub fn created(&self) -> bool {
        self.created && self.format == Format::OpenMetrics
    }

    /// Starts a family: writes its metadata lines and returns a writer for its samples.
    /// Returns `None` when the scrape filtered this family out (`?name[]=`); skip its samples.
    pub fn family<'w>(&'w mut self, desc: &'w Descriptor) -> Option<FamilyWriter<'w, 'a>> {
        let suffix = desc.type_line_suffix(self.format);
        if let Some(filter) = self.filter {
            // Match the family by either spelling of its name, whatever the format: the
            // family name, or the sample name with `_total` / `_info` (what Prometheus stores
            // as `__name__` and so sends as `name[]`).
            if !self.name_matches(filter, desc.name(), desc.sample_suffix()) {
                return None;
            }
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
        }
        Some(FamilyWriter { w: self, desc })
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

/// Writes the samples of one family. See [`MetricWriter::family`].
pub struct FamilyWriter<'w, 'a> {
    w: &'w mut MetricWriter<'a>,
    desc: &'w Descriptor,
}

impl core::fmt::Debug for FamilyWriter<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FamilyWriter")
            .field("family", &self.desc.name)
            .finish_non_exhaustive()
    }
}

impl<'w> FamilyWriter<'w, '_> {
    /// The format being written.
    pub fn format(&self) -> Format {
        self.w.format
    }

    /// Whether `_created` samples belong in this exposition (see [`MetricWriter::created`]).
    pub fn created(&self) -> bool {
        self.w.created()
    }

    /// The family name, without the registry prefix.
    pub(crate) fn family_name(&self) -> &'w str {
        &self.desc.name
    }

    /// Writes a sample for a custom collector: `suffix` is appended to the family name
    /// (`""`, or one of the type's suffixes such as `"_total"`, `"_sum"`), `labels` are
    /// escaped here.
    ///
    /// # Errors
    ///
    /// [`EncodeError::InvalidLabelName`] for a bad label name, [`EncodeError::InvalidSample`]
    /// for a suffix the family's type does not have.
    pub fn sample(
        &mut self,
        suffix: &str,
        labels: LabelPairs<'_>,
        value: f64,
    ) -> Result<(), EncodeError> {
        if !suffix.is_empty() && !self.desc.metric_type.suffixes().contains(&suffix) {
            return Err(EncodeError::InvalidSample(format!(
                "suffix {suffix:?} on {} {:?}",
                self.desc.metric_type.as_str(Format::Text),
                self.desc.name
            )));
        }
        for (n, _) in labels {
            if !names::is_label_name(n) {
                return Err(EncodeError::InvalidLabelName((*n).to_owned()));
            }
        }
        self.begin(suffix);
        let o = &mut *self.w.out;
        let mut first = true;
        let mut open = |o: &mut Vec<u8>| {
            o.push(if first { b'{' } else { b',' });
            first = false;
        };
        if !self.w.const_labels.is_empty() {
            open(o);
            o.extend_from_slice(self.w.const_labels.as_bytes());
        }
        for (n, v) in labels {
            open(o);
            o.extend_from_slice(n.as_bytes());
            o.extend_from_slice(b"=\"");
            escape::label_value(o, v);
            o.push(b'"');
        }
        if !first {
            o.push(b'}');
        }
        self.end(Value::F64(value), None);
        Ok(())
    }

    /// Writes a sample whose label pairs are already rendered (`a="x",b="y"`, escaped), with
    /// an optional extra pair whose value is already formatted (`le`, `quantile`).
    #[inline]
    pub(crate) fn sample_rendered(
        &mut self,
        suffix: &str,
        labels: &str,
        extra: Option<(&str, &str)>,
        value: Value,
    ) {
        self.sample_full(suffix, labels, extra, b"", value, None);
    }

    /// [`sample_rendered`](Self::sample_rendered) with more already-rendered pairs (`more`,
    /// an info's labels) after `extra`, and an exemplar, written in OpenMetrics only.
    pub(crate) fn sample_full(
        &mut self,
        suffix: &str,
        labels: &str,
        extra: Option<(&str, &str)>,
        more: &[u8],
        value: Value,
        exemplar: Option<ExemplarRef<'_>>,
    ) {
        self.begin(suffix);
        let o = &mut *self.w.out;
        let mut first = true;
        let mut sep = |o: &mut Vec<u8>| {
            o.push(if first { b'{' } else { b',' });
            first = false;
        };
        for part in [self.w.const_labels.as_bytes(), labels.as_bytes()] {
            if !part.is_empty() {
                sep(o);
                o.extend_from_slice(part);
            }
        }
        if let Some((name, value)) = extra {
            sep(o);
            o.extend_from_slice(name.as_bytes());
            o.extend_from_slice(b"=\"");
            o.extend_from_slice(value.as_bytes());
            o.push(b'"');
        }
        if !more.is_empty() {
            sep(o);
            o.extend_from_slice(more);
        }
        if !first {
            o.push(b'}');
        }
        self.end(value, exemplar);
    }

    #[inline]
    fn begin(&mut self, suffix: &str) {
        let o = &mut *self.w.out;
        o.extend_from_slice(self.w.prefix.as_bytes());
        o.extend_from_slice(self.desc.name.as_bytes());
        o.extend_from_slice(suffix.as_bytes());
    }

    #[inline]
    fn end(&mut self, value: Value, exemplar: Option<ExemplarRef<'_>>) {
        let o = &mut *self.w.out;
        o.push(b' ');
        match value {
            Value::U64(v) => float::write_u64(o, v),
            Value::F64(v) => float::write_f64(o, v, self.w.format.float_style()),
            Value::Seconds(v) => openmetrics::write_seconds(o, v),
        }
        if let (Some(e), Format::OpenMetrics) = (exemplar, self.w.format) {
            openmetrics::write_exemplar(o, e);
        }
        o.push(b'\n');
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
