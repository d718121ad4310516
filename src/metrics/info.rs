//! Module implementing the [`Info`] metric.

use crate::encode::{self, Descriptor, FamilyWriter, MetricType, Value};
use crate::error::NameError;
use crate::metrics::{Builder, Metric, Sealed};
use crate::names;
use crate::sync::{lock, Arc, Mutex};

#[derive(Debug)]
struct Inner {
    /// The family's own label names, which the info's labels may not repeat.
    family_labels: Box<[Box<str>]>,
    /// The info's label pairs, rendered and escaped (`version="1.2",host="a"`).
    rendered: Mutex<Vec<u8>>,
}

/// Facts about the target that do not change often, exposed as label pairs on a sample whose
/// value is always 1 (the Python client's `Info`): `build_info{version="1.2.3"} 1`.
///
/// OpenMetrics exposes it as type `info` (family `build`, sample `build_info`); the text
/// format, as the Python client does, as a gauge named `build_info`. The name may be given
/// with or without `_info`. [`set`](Info::set) replaces the label pairs; it takes a mutex,
/// which only the scrape also takes.
///
/// ```
/// use tachymeter::{Format, Info, Registry};
/// let registry = Registry::new();
/// let build = Info::builder("build_info", "Build facts.").register(&registry)?;
/// build.set(&[("version", "1.2.3"), ("commit", "abc")])?;
/// assert_eq!(
///     registry.encode_to_string(Format::OpenMetrics),
///     "# TYPE build info\n# HELP build Build facts.\n\
///      build_info{version=\"1.2.3\",commit=\"abc\"} 1\n# EOF\n"
/// );
/// assert_eq!(
///     registry.encode_to_string(Format::Text),
///     "# HELP build_info Build facts.\n# TYPE build_info gauge\n\
///      build_info{version=\"1.2.3\",commit=\"abc\"} 1\n"
/// );
/// assert!(build.set(&[("bad-name", "x")]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Info {
    inner: Arc<Inner>,
}

impl Default for Info {
    fn default() -> Self {
        Self::new()
    }
}

impl Info {
    /// A standalone info with no label pairs.
    pub fn new() -> Info {
        Info::with_family_labels(Box::default())
    }

    fn with_family_labels(family_labels: Box<[Box<str>]>) -> Info {
        Info {
            inner: Arc::new(Inner {
                family_labels,
                rendered: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Starts building an info. The name may end in `_info` or not; the sample always does.
    pub fn builder(name: &str, help: &str) -> Builder<Info> {
        Builder::with_options(name, help, ())
    }

    /// Replaces the label pairs.
    ///
    /// # Errors
    ///
    /// An invalid or reserved label name ([`NameError::InvalidLabelName`],
    /// [`NameError::ReservedLabelName`]), a name given twice
    /// ([`NameError::DuplicateLabelName`]), or one of the family's own label names
    /// ([`NameError::LabelReservedForType`]). The previous pairs are kept on error.
    /// Info label names must also differ from the registry's constant labels.
    pub fn set(&self, pairs: &[(&str, &str)]) -> Result<(), NameError> {
        for (i, (n, _)) in pairs.iter().enumerate() {
            names::check_label_name(n)?;
            if pairs[..i].iter().any(|(m, _)| m == n) {
                return Err(NameError::DuplicateLabelName((*n).to_owned()));
            }
            if self.inner.family_labels.iter().any(|l| **l == **n) {
                return Err(NameError::LabelReservedForType {
                    label: (*n).to_owned(),
                    metric_type: "info",
                });
            }
        }
        let mut r = lock(&self.inner.rendered);
        r.clear();
        encode::write_label_pairs(&mut r, pairs.iter().copied());
        Ok(())
    }
}

impl Sealed for Info {}

impl Metric for Info {
    type Options = ();
    const TYPE: MetricType = MetricType::Info;

    fn new_child((): &()) -> Self {
        Info::new()
    }

    fn new_child_in((): &(), desc: &Descriptor) -> Self {
        Info::with_family_labels(desc.label_names().into())
    }

    fn encode_child(&self, (): &(), w: &mut FamilyWriter<'_, '_>, labels: &str) {
        let r = lock(&self.inner.rendered);
        w.sample_full("_info", labels, None, &r, Value::U64(1), None);
    }

    fn heap_bytes(&self) -> usize {
        core::mem::size_of::<Inner>()
            + self
                .inner
                .family_labels
                .iter()
                .map(|l| l.len())
                .sum::<usize>()
            + lock(&self.inner.rendered).capacity()
    }
}
