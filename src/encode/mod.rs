//! Module implementing the exposition encoders: Prometheus text 0.0.4 and OpenMetrics 1.0.
//! See [`Format`] and [`MetricWriter`].
//!
//! Encoding writes into a caller-supplied `Vec<u8>`. Built-in metrics render their series
//! prefixes (escaped label pairs) once, when a child is created, and numbers go through stack
//! buffers, so once the buffer has grown to the size of a snapshot, encoding again performs
//! no heap allocation at all.

mod escape;
pub(crate) mod float;

use crate::error::EncodeError;
use crate::names;
use float::FloatStyle;

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
        }
    }

    /// Suffixes that samples of this type add to the family name (OpenMetrics "Suffixes").
    pub const fn suffixes(self) -> &'static [&'static str] {
        match self {
            MetricType::Counter => &["_total", "_created"],
            MetricType::Histogram => &["_bucket", "_sum", "_count", "_created"],
            MetricType::Summary => &["_sum", "_count", "_created"],
            MetricType::Gauge | MetricType::Unknown => &[],
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

/// What a family is: name, help, type and label names. Built once; checked at registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    name: Box<str>,
    help: Box<str>,
    metric_type: MetricType,
    label_names: Box<[Box<str>]>,
}

impl Descriptor {
    /// Describes a family. A counter's name may be given with or without `_total`; the family
    /// name is stored without it, and `_total` is added to its samples.
    ///
    /// # Errors
    ///
    /// An invalid metric or label name, a reserved label name, a label repeated, or an empty
    /// help text.
    pub fn new(
        name: &str,
        help: &str,
        metric_type: MetricType,
        label_names: &[&str],
    ) -> Result<Descriptor, crate::error::NameError> {
        names::check_metric_name(name)?;
        let name = match metric_type {
            MetricType::Counter => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        };
        // Re-check: stripping `_total` from "_total" leaves an empty name.
        names::check_metric_name(name)?;
        if help.is_empty() {
            return Err(crate::error::NameError::EmptyHelp(name.to_owned()));
        }
        let label_names: Box<[Box<str>]> = label_names.iter().map(|&l| l.into()).collect();
        names::check_label_names(
            &label_names,
            metric_type.reserved_labels(),
            metric_type.as_str(Format::Text),
        )?;
        Ok(Descriptor {
            name: name.into(),
            help: help.into(),
            metric_type,
            label_names,
        })
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

    /// The name as the `# TYPE` line of `format` spells it: counters are `name_total` in the
    /// text format and `name` in OpenMetrics.
    pub(crate) fn type_line_suffix(&self, format: Format) -> &'static str {
        match (self.metric_type, format) {
            (MetricType::Counter, Format::Text) => "_total",
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
        }
    }

    /// The format being written.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Starts a family: writes its metadata lines and returns a writer for its samples.
    /// Returns `None` when the scrape filtered this family out (`?name[]=`); skip its samples.
    pub fn family<'w>(&'w mut self, desc: &'w Descriptor) -> Option<FamilyWriter<'w, 'a>> {
        let suffix = desc.type_line_suffix(self.format);
        if let Some(filter) = self.filter {
            // Match the family as either spelling of its name would be asked for.
            if !self.name_matches(filter, desc.name(), suffix) {
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

impl FamilyWriter<'_, '_> {
    /// The format being written.
    pub fn format(&self) -> Format {
        self.w.format
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
        self.end(Value::F64(value));
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
        self.begin(suffix);
        let o = &mut *self.w.out;
        let c = self.w.const_labels;
        if !c.is_empty() || !labels.is_empty() || extra.is_some() {
            o.push(b'{');
            o.extend_from_slice(c.as_bytes());
            if !labels.is_empty() {
                if !c.is_empty() {
                    o.push(b',');
                }
                o.extend_from_slice(labels.as_bytes());
            }
            if let Some((name, value)) = extra {
                if !c.is_empty() || !labels.is_empty() {
                    o.push(b',');
                }
                o.extend_from_slice(name.as_bytes());
                o.extend_from_slice(b"=\"");
                o.extend_from_slice(value.as_bytes());
                o.push(b'"');
            }
            o.push(b'}');
        }
        self.end(value);
    }

    #[inline]
    fn begin(&mut self, suffix: &str) {
        let o = &mut *self.w.out;
        o.extend_from_slice(self.w.prefix.as_bytes());
        o.extend_from_slice(self.desc.name.as_bytes());
        o.extend_from_slice(suffix.as_bytes());
    }

    #[inline]
    fn end(&mut self, value: Value) {
        let o = &mut *self.w.out;
        o.push(b' ');
        match value {
            Value::U64(v) => float::write_u64(o, v),
            Value::F64(v) => float::write_f64(o, v, self.w.format.float_style()),
        }
        o.push(b'\n');
    }
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

/// Renders label pairs once (`a="x",b="y"`, values escaped) for a child's cached prefix.
pub(crate) fn render_labels(names: &[Box<str>], values: &[&str]) -> Box<str> {
    let mut out = Vec::new();
    for (i, (n, v)) in names.iter().zip(values).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b"=\"");
        escape::label_value(&mut out, v);
        out.push(b'"');
    }
    // Names are ASCII and values were `&str`; escaping only inserts ASCII.
    String::from_utf8(out).unwrap_or_default().into_boxed_str()
}
