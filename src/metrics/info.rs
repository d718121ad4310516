//! Module implementing the [`Info`] metric.

use crate::encode::{self, Descriptor, FamilyWriter, MetricType, Value};
use crate::error::NameError;
use crate::metrics::{Builder, Metric, Sealed};
use crate::names;
use crate::sync::{lock, Arc, Mutex};

/// The constant label names of every registry a family of infos is registered with, shared
/// by the family's children (a `std` mutex: configuration, taken only by registration and
/// [`Info::set`]).
type ConstLabels = std::sync::Arc<std::sync::Mutex<Vec<Box<str>>>>;

fn lock_const(c: &ConstLabels) -> std::sync::MutexGuard<'_, Vec<Box<str>>> {
    // A plain list: consistent whatever panicked while it was held.
    c.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug)]
struct Inner {
    /// The family's own label names, which the info's labels may not repeat.
    family_labels: Box<[Box<str>]>,
    /// Constant labels of the registries the family is registered with, which the info's
    /// labels may not repeat either. Locked before `pairs`.
    const_labels: ConstLabels,
    pairs: Mutex<Pairs>,
}

#[derive(Debug, Default)]
struct Pairs {
    /// The info's label pairs, rendered and escaped (`version="1.2",host="a"`).
    rendered: Vec<u8>,
    /// Their names, each followed by `,` (label names never contain one).
    names: String,
}

/// Facts about the target that do not change often, exposed as label pairs on a sample whose
/// value is always 1 (the Python client's `Info`): `build_info{version="1.2.3"} 1`.
///
/// OpenMetrics exposes it as type `info` (family `build`, sample `build_info`); the text
/// format, as the Python client does, as a gauge named `build_info`. The name may be given
/// with or without `_info`. [`set`](Info::set) replaces the label pairs; it takes a mutex,
/// which only the scrape also takes. The info's label names may not repeat the family's
/// label names nor a constant label of a registry it is registered with: registration
/// refuses an info that already has such a label
/// ([`RegistrationError::ConstLabelClash`](crate::RegistrationError::ConstLabelClash)), and
/// [`set`](Info::set) refuses it afterwards ([`NameError::ConstLabel`]).
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
        Info::with_family_labels(Box::default(), ConstLabels::default())
    }

    fn with_family_labels(family_labels: Box<[Box<str>]>, const_labels: ConstLabels) -> Info {
        Info {
            inner: Arc::new(Inner {
                family_labels,
                const_labels,
                pairs: Mutex::new(Pairs::default()),
            }),
        }
    }

    /// Starts building an info. The name may end in `_info` or not; the sample always does.
    pub fn builder(name: &str, help: &str) -> Builder<Info> {
        Builder::with_options(name, help, ConstLabels::default())
    }

    /// Replaces the label pairs.
    ///
    /// # Errors
    ///
    /// An invalid or reserved label name ([`NameError::InvalidLabelName`],
    /// [`NameError::ReservedLabelName`]), a name given twice
    /// ([`NameError::DuplicateLabelName`]), or one of the family's own label names
    /// ([`NameError::LabelReservedForType`]), or a constant label of a registry the info is
    /// registered with ([`NameError::ConstLabel`]). The previous pairs are kept on error.
    pub fn set(&self, pairs: &[(&str, &str)]) -> Result<(), NameError> {
        // Held until the pairs are replaced, so a registration checking them cannot slip in
        // between (it takes the same locks in the same order).
        let consts = lock_const(&self.inner.const_labels);
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
            if consts.iter().any(|c| **c == **n) {
                return Err(NameError::ConstLabel((*n).to_owned()));
            }
        }
        let mut p = lock(&self.inner.pairs);
        p.rendered.clear();
        encode::write_label_pairs(&mut p.rendered, pairs.iter().copied());
        p.names.clear();
        for (n, _) in pairs {
            p.names.push_str(n);
            p.names.push(',');
        }
        Ok(())
    }

    /// The first of this info's label names that is in `names`.
    fn label_in(&self, names: &[Box<str>]) -> Option<Box<str>> {
        let p = lock(&self.inner.pairs);
        p.names
            .split_terminator(',')
            .find(|n| names.iter().any(|c| **c == **n))
            .map(Into::into)
    }
}

impl Sealed for Info {}

impl Metric for Info {
    /// The constant label names of the registries the family is registered with.
    type Options = ConstLabels;
    const TYPE: MetricType = MetricType::Info;

    fn new_child(consts: &ConstLabels) -> Self {
        Info::with_family_labels(Box::default(), consts.clone())
    }

    fn new_child_in(consts: &ConstLabels, desc: &Descriptor) -> Self {
        Info::with_family_labels(desc.label_names().into(), consts.clone())
    }

    fn encode_child(&self, _: &ConstLabels, w: &mut FamilyWriter<'_, '_>, labels: &str) {
        let p = lock(&self.inner.pairs);
        w.sample_full("_info", labels, None, &p.rendered, Value::U64(1), None);
    }

    fn check_const_labels(
        consts: &ConstLabels,
        children: &[Self],
        const_labels: &[Box<str>],
    ) -> Result<(), Box<str>> {
        // Locked across the check and the update, so no `set` can add a clashing label in
        // between (it checks against the updated list once this lock is released).
        let mut known = lock_const(consts);
        if let Some(label) = children.iter().find_map(|c| c.label_in(const_labels)) {
            return Err(label);
        }
        for c in const_labels {
            if !known.contains(c) {
                known.push(c.clone());
            }
        }
        Ok(())
    }

    fn fingerprint(&self) -> u64 {
        // An info never changes once created: it expires `expire_after` after creation.
        0
    }

    fn heap_bytes(&self) -> usize {
        core::mem::size_of::<Inner>()
            + self
                .inner
                .family_labels
                .iter()
                .map(|l| l.len())
                .sum::<usize>()
            + {
                let p = lock(&self.inner.pairs);
                p.rendered.capacity() + p.names.capacity()
            }
    }
}
