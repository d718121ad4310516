//! Module implementing the crate's error types, one enum per kind of operation.
//!
//! Every error says what was wrong and what to change; values the caller handed in are
//! carried back in the variant so they can be logged.

use core::fmt;

/// A metric or label name, or a metric's configuration, is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// A metric name must match `[a-zA-Z_:][a-zA-Z0-9_:]*` and must not start with `__`.
    InvalidMetricName(String),
    /// A label name must match `[a-zA-Z_][a-zA-Z0-9_]*`.
    InvalidLabelName(String),
    /// Label names starting with `__` are reserved for Prometheus' internal use.
    ReservedLabelName(String),
    /// The label name is reserved for this metric type (`le` on histograms, `quantile` on
    /// summaries).
    LabelReservedForType {
        /// The offending label name.
        label: String,
        /// The metric type that reserves it.
        metric_type: &'static str,
    },
    /// The same label name was given twice for one metric.
    DuplicateLabelName(String),
    /// An [`Info`](crate::Info) label name is a constant label of a registry the info is
    /// registered with (the series would carry the label twice).
    ConstLabel(String),
    /// A unit must be non-empty and match `[a-zA-Z0-9_:]+`.
    InvalidUnit(String),
    /// OpenMetrics requires the unit to be a suffix of the family name after an underscore
    /// (`request_seconds` with unit `seconds`); for a counter, the name without `_total`.
    UnitNotSuffix {
        /// The family name.
        name: String,
        /// The unit given.
        unit: String,
    },
    /// Infos and state sets must have no unit (OpenMetrics).
    UnitNotAllowed {
        /// The family name.
        name: String,
        /// `info` or `stateset`.
        metric_type: &'static str,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::InvalidMetricName(n) => write!(
                f,
                "invalid metric name {n:?}: use [a-zA-Z_:][a-zA-Z0-9_:]* without a leading `__`"
            ),
            NameError::InvalidLabelName(n) => {
                write!(f, "invalid label name {n:?}: use [a-zA-Z_][a-zA-Z0-9_]*")
            }
            NameError::ReservedLabelName(n) => write!(
                f,
                "label name {n:?} starts with `__`, which Prometheus reserves; rename it"
            ),
            NameError::LabelReservedForType { label, metric_type } => write!(
                f,
                "label name {label:?} is reserved on a {metric_type}; choose another name"
            ),
            NameError::DuplicateLabelName(n) => {
                write!(f, "label name {n:?} is given more than once")
            }
            NameError::ConstLabel(n) => write!(
                f,
                "label name {n:?} is a constant label of the registry; choose another name"
            ),
            NameError::InvalidUnit(u) => {
                write!(
                    f,
                    "invalid unit {u:?}: use a non-empty [a-zA-Z0-9_:]*, e.g. seconds"
                )
            }
            NameError::UnitNotSuffix { name, unit } => write!(
                f,
                "unit {unit:?} must be the suffix of metric name {name:?} after an underscore; \
                 rename the metric to end in \"_{unit}\""
            ),
            NameError::UnitNotAllowed { name, metric_type } => {
                write!(f, "{metric_type} {name:?} cannot have a unit; remove it")
            }
        }
    }
}

impl std::error::Error for NameError {}

/// Histogram bucket bounds are not usable.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum BucketError {
    /// No finite bucket bound was given (`+Inf` alone is not a histogram).
    Empty,
    /// A bound is NaN or `-Inf` (a trailing `+Inf` is accepted and dropped: it is always added).
    NotFinite(f64),
    /// Bounds must be strictly increasing; `previous` is followed by `next`.
    NotIncreasing {
        /// The earlier bound.
        previous: f64,
        /// The bound that is not greater than it.
        next: f64,
    },
    /// A helper's parameters are unusable (`count` 0, a non-positive or non-finite width,
    /// factor ≤ 1, start ≤ 0 for exponential buckets).
    InvalidParameters,
    /// More finite bounds than [`Buckets::MAX_BUCKETS`](crate::Buckets::MAX_BUCKETS).
    TooMany {
        /// How many were asked for (for [`Buckets::new`](crate::Buckets::new), which stops
        /// reading past the limit, `max + 1`).
        count: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for BucketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BucketError::Empty => f.write_str("a histogram needs at least one finite bucket bound"),
            BucketError::NotFinite(v) => write!(f, "bucket bound {v} is not finite"),
            BucketError::NotIncreasing { previous, next } => write!(
                f,
                "bucket bounds must be strictly increasing, but {previous} is followed by {next}"
            ),
            BucketError::InvalidParameters => f.write_str(
                "bucket helper parameters are invalid: need count > 0, finite positive width, \
                 start > 0 and factor > 1",
            ),
            BucketError::TooMany { count, max } => write!(
                f,
                "asked for {count} bucket bounds, but a histogram may have at most {max}: \
                 use fewer, wider buckets"
            ),
        }
    }
}

impl std::error::Error for BucketError {}

/// A counter increment was refused; the counter is unchanged.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum CounterError {
    /// Counters only go up: the increment was negative.
    Negative(f64),
    /// The increment was NaN or infinite, which would make the counter unusable forever.
    NotFinite(f64),
}

impl fmt::Display for CounterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CounterError::Negative(v) => {
                write!(
                    f,
                    "counter increment {v} is negative; use a Gauge for values that go down"
                )
            }
            CounterError::NotFinite(v) => write!(f, "counter increment {v} is not finite"),
        }
    }
}

impl std::error::Error for CounterError {}

/// Label values given to a family do not match its label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LabelError {
    /// The number of label values differs from the number of label names.
    Cardinality {
        /// How many label names the family has.
        expected: usize,
        /// How many values were given.
        got: usize,
    },
    /// A (name, value) pair given to
    /// [`Family::remove_matching`](crate::Family::remove_matching) names no label of the
    /// family.
    UnknownLabel {
        /// Index of that pair in the slice given.
        pair: usize,
    },
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelError::Cardinality { expected, got } => write!(
                f,
                "expected {expected} label value(s), got {got}: give one value per label name, in order"
            ),
            LabelError::UnknownLabel { pair } => write!(
                f,
                "label pair {pair} names no label of this family: use one of its label names"
            ),
        }
    }
}

impl std::error::Error for LabelError {}

/// Registering a collector with a [`Registry`](crate::Registry) failed; nothing was registered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistrationError {
    /// A name is invalid or reserved.
    Name(NameError),
    /// A metric with this name, help and label names is already registered.
    AlreadyRegistered(String),
    /// A metric with this name is registered with a different help text.
    InconsistentHelp(String),
    /// A metric with this name is registered with different label names.
    InconsistentLabels(String),
    /// A metric with this name is registered with a different type.
    InconsistentType(String),
    /// The exposition names of two families overlap (OpenMetrics "Suffixes"): e.g. a counter
    /// `foo` exposes `foo_total` and `foo_created`, so a gauge `foo_created` would clash.
    SuffixClash {
        /// The family being registered.
        name: String,
        /// The exposition name both would produce.
        exposition_name: String,
        /// The registered family that already produces it.
        existing: String,
    },
    /// A metric label, or a label an [`Info`](crate::Info) already has, repeats one of the
    /// registry's constant labels.
    ConstLabelClash {
        /// The metric.
        name: String,
        /// The label name present in both.
        label: String,
    },
    /// No collector exposes a family of this name.
    NotRegistered(String),
}

impl fmt::Display for RegistrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistrationError::Name(e) => e.fmt(f),
            RegistrationError::AlreadyRegistered(n) => write!(
                f,
                "metric {n:?} is already registered; reuse the existing handle"
            ),
            RegistrationError::InconsistentHelp(n) => write!(
                f,
                "metric {n:?} is already registered with a different help text"
            ),
            RegistrationError::InconsistentLabels(n) => write!(
                f,
                "metric {n:?} is already registered with different label names"
            ),
            RegistrationError::InconsistentType(n) => {
                write!(f, "metric {n:?} is already registered with a different type")
            }
            RegistrationError::SuffixClash {
                name,
                exposition_name,
                existing,
            } => write!(
                f,
                "metric {name:?} would expose {exposition_name:?}, which registered metric \
                 {existing:?} already exposes; rename one of them"
            ),
            RegistrationError::ConstLabelClash { name, label } => write!(
                f,
                "metric {name:?} has label {label:?}, which is also a constant label of the registry"
            ),
            RegistrationError::NotRegistered(n) => write!(f, "no metric {n:?} is registered"),
        }
    }
}

impl std::error::Error for RegistrationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RegistrationError::Name(e) => Some(e),
            _ => None,
        }
    }
}

impl From<NameError> for RegistrationError {
    fn from(e: NameError) -> Self {
        RegistrationError::Name(e)
    }
}

/// A custom [`Collector`](crate::Collector) produced something that cannot be exposed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// A sample used an invalid label name.
    InvalidLabelName(String),
    /// A sample was written without a family, or for a suffix its family type does not have.
    InvalidSample(String),
    /// A sample's label name was given twice, or is also a constant label of the registry.
    DuplicateLabelName(String),
    /// The collector wrote a family it did not declare in
    /// [`describe`](crate::Collector::describe) (checked in debug builds).
    UndeclaredFamily(String),
    /// The collector wrote the same family twice in one scrape (checked in debug builds).
    DuplicateFamily(String),
    /// The collector wrote the same series (name and label pairs) twice in one family
    /// (checked in debug builds).
    DuplicateSeries(String),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::InvalidLabelName(n) => {
                write!(f, "collector emitted invalid label name {n:?}")
            }
            EncodeError::InvalidSample(s) => write!(f, "collector emitted an invalid sample: {s}"),
            EncodeError::DuplicateLabelName(n) => write!(
                f,
                "collector emitted label {n:?} twice on one sample (or a constant label of the \
                 registry); give each label once"
            ),
            EncodeError::UndeclaredFamily(n) => write!(
                f,
                "collector wrote family {n:?}, which its describe() does not list; add it there"
            ),
            EncodeError::DuplicateFamily(n) => write!(
                f,
                "collector wrote family {n:?} twice in one scrape; write each family once, \
                 with all its samples"
            ),
            EncodeError::DuplicateSeries(s) => write!(
                f,
                "collector wrote series {s} twice in one scrape; write each series once"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

/// An exemplar was refused; the metric was still updated, without it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExemplarError {
    /// The label names and values together exceed the 128 UTF-8 code points OpenMetrics
    /// allows for an exemplar's label set.
    TooLong {
        /// Code points given (names plus values).
        code_points: usize,
    },
    /// An exemplar label name must match `[a-zA-Z_][a-zA-Z0-9_]*` and not start with `__`.
    InvalidLabelName(String),
    /// The same exemplar label name was given twice.
    DuplicateLabelName(String),
}

impl fmt::Display for ExemplarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExemplarError::TooLong { code_points } => write!(
                f,
                "exemplar labels are {code_points} code points long (names plus values); \
                 OpenMetrics allows at most 128: shorten them"
            ),
            ExemplarError::InvalidLabelName(n) => write!(
                f,
                "invalid exemplar label name {n:?}: use [a-zA-Z_][a-zA-Z0-9_]* without a leading `__`"
            ),
            ExemplarError::DuplicateLabelName(n) => {
                write!(f, "exemplar label name {n:?} is given more than once")
            }
        }
    }
}

impl std::error::Error for ExemplarError {}

/// A state set was given states it cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateSetError {
    /// A state set needs at least one state.
    NoStates,
    /// The same state was listed twice.
    DuplicateState(String),
    /// [`StateSet::set`](crate::StateSet::set) named a state that is not in the set.
    UnknownState(String),
}

impl fmt::Display for StateSetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateSetError::NoStates => f.write_str("a state set needs at least one state"),
            StateSetError::DuplicateState(s) => write!(f, "state {s:?} is listed more than once"),
            StateSetError::UnknownState(s) => {
                write!(f, "{s:?} is not one of the state set's states")
            }
        }
    }
}

impl std::error::Error for StateSetError {}

/// Writing a textfile for node_exporter's textfile collector failed; the previous file, if
/// any, is left in place.
#[derive(Debug)]
#[non_exhaustive]
pub enum TextfileError {
    /// The path has no file name or no parent directory to create the temporary file in.
    InvalidPath(std::path::PathBuf),
    /// A custom collector failed to encode; nothing was written.
    Encode(EncodeError),
    /// Creating, writing, syncing or renaming the file failed.
    Io {
        /// The file being written (the temporary file or the target).
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl fmt::Display for TextfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextfileError::InvalidPath(p) => write!(
                f,
                "textfile path {} needs a file name and a directory",
                p.display()
            ),
            TextfileError::Encode(e) => write!(f, "encoding the registry failed: {e}"),
            TextfileError::Io { path, source } => {
                write!(f, "writing textfile {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for TextfileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TextfileError::Encode(e) => Some(e),
            TextfileError::Io { source, .. } => Some(source),
            TextfileError::InvalidPath(_) => None,
        }
    }
}
