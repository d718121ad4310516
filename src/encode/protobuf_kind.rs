//! Module implementing what the protobuf encoder needs to know of a family's type
//! ([`Kind`]: its `MetricFamily.type`, `Metric` field, created-timestamp field) and of one
//! sample's place in its series ([`Role`]).

use crate::encode::MetricType;

/// What a family's `Metric`s hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Counter,
    Gauge,
    Summary,
    Untyped,
    Histogram,
}

impl Kind {
    pub(super) fn of(t: MetricType) -> Kind {
        match t {
            MetricType::Counter => Kind::Counter,
            MetricType::Histogram => Kind::Histogram,
            MetricType::Summary => Kind::Summary,
            MetricType::Unknown => Kind::Untyped,
            MetricType::Gauge | MetricType::Info | MetricType::StateSet => Kind::Gauge,
        }
    }

    /// `MetricFamily.type`.
    pub(super) fn proto_type(self) -> u64 {
        match self {
            Kind::Counter => 0,
            Kind::Gauge => 1,
            Kind::Summary => 2,
            Kind::Untyped => 3,
            Kind::Histogram => 4,
        }
    }

    /// The `Metric` field holding the typed message.
    pub(super) fn metric_field(self) -> u32 {
        match self {
            Kind::Gauge => 2,
            Kind::Counter => 3,
            Kind::Summary => 4,
            Kind::Untyped => 5,
            Kind::Histogram => 7,
        }
    }

    /// The typed message's `created_timestamp` field.
    pub(super) fn created_field(self) -> Option<u32> {
        match self {
            Kind::Counter => Some(3),
            Kind::Summary => Some(4),
            Kind::Histogram => Some(15),
            Kind::Gauge | Kind::Untyped => None,
        }
    }

    /// The label that is part of the type (a bucket's bound, a quantile), not of the series.
    pub(super) fn special(self) -> &'static str {
        match self {
            Kind::Histogram => "le",
            Kind::Summary => "quantile",
            _ => "",
        }
    }
}

/// What one sample is within its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role<'s> {
    /// A counter's, gauge's or untyped value.
    Value,
    /// A histogram bucket, with its `le`.
    Bucket(&'s str),
    /// A summary quantile, with its `quantile`.
    Quantile(&'s str),
    Sum,
    Count,
    Created,
    /// Nothing the protobuf format can say (a histogram sample without a suffix).
    Skip,
}

impl Role<'_> {
    /// The bit marking a role seen in the open metric; 0 for the repeated ones.
    pub(super) fn bit(self) -> u8 {
        match self {
            Role::Value => 1,
            Role::Sum => 2,
            Role::Count => 4,
            Role::Created => 8,
            Role::Bucket(_) | Role::Quantile(_) | Role::Skip => 0,
        }
    }
}
