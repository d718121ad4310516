//! Module implementing what a family is: its [`MetricType`] and its [`Descriptor`] (name,
//! help, type, unit, label names), checked once when it is built.

use super::Format;
use crate::names;

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
            // The protobuf format has the text format's types (`MetricType` enum in
            // `metrics.proto`).
            #[cfg(feature = "protobuf")]
            (MetricType::Unknown, Format::Protobuf) => "untyped",
            #[cfg(feature = "protobuf")]
            (MetricType::Info | MetricType::StateSet, Format::Protobuf) => "gauge",
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
    pub(super) name: Box<str>,
    pub(super) help: Box<str>,
    pub(super) metric_type: MetricType,
    label_names: Box<[Box<str>]>,
    /// Empty when the family has no unit.
    pub(super) unit: Box<str>,
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
    /// text format and `name` in OpenMetrics. The protobuf `MetricFamily.name` is the text
    /// format's.
    pub(crate) fn type_line_suffix(&self, format: Format) -> &'static str {
        #[cfg(feature = "protobuf")]
        let format = if format == Format::Protobuf {
            Format::Text
        } else {
            format
        };
        match (self.metric_type, format) {
            (MetricType::Counter, Format::Text) => "_total",
            (MetricType::Info, Format::Text) => "_info",
            _ => "",
        }
    }
}
