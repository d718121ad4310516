//! Module implementing the life cycle of a family's children: the child limit and its
//! overflow child, partial removal (`remove_matching`, `retain`) and idle expiry.
//!
//! Everything here runs when a child is created, removed or collected; a lookup that finds
//! its child (the hit path) never reads any of it.

use core::time::Duration;

use super::order::Idle;
use super::{ChildRef, Family};
use crate::encode::Descriptor;
use crate::error::LabelError;
use crate::metrics::{Counter, Metric};
use crate::sync::{AtomicUsize, Ordering};

/// The label value of every label of a family's overflow child.
///
/// Once a family has [`max_children`](crate::LabeledBuilder::max_children) children, a lookup
/// of a new label set updates this one child instead, so no update is lost and the
/// exposition stays bounded: `requests_total{method="__overflow__",path="__overflow__"}`.
/// It is a valid label value in every format; in PromQL select it with
/// `{path="__overflow__"}`, or leave it out with `{path!="__overflow__"}`. A label set made of
/// this value for every label *is* the overflow child, also when a caller passes it
/// explicitly: it never makes a second series, and it never counts against the limit.
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";

/// What a family tells the overflow hook (see [`set_overflow_hook`]) the first time it
/// overflows.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct OverflowEvent<'a> {
    /// The family's name, as registered (without the registry prefix).
    pub family: &'a str,
    /// Its child limit.
    pub limit: usize,
}

type Hook = std::sync::Arc<dyn Fn(&OverflowEvent<'_>) + Send + Sync>;

static HOOK: std::sync::Mutex<Option<Hook>> = std::sync::Mutex::new(None);

/// Sets the function every family calls once, the first time a lookup finds it at its child
/// limit (replacing any earlier hook). With the `log` feature a `log::warn!` is written as
/// well. The count of overflowed lookups is always exposed as
/// `tachymeter_family_overflow_updates_total{family="..."}` (see the guide).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// static WARNED: AtomicUsize = AtomicUsize::new(0);
/// tachymeter::set_overflow_hook(|e| {
///     assert_eq!((e.family, e.limit), ("hook_demo", 1));
///     WARNED.fetch_add(1, Ordering::Relaxed);
/// });
/// let f = tachymeter::Counter::builder("hook_demo", "Demo.")
///     .labels(["k"])
///     .max_children(1)
///     .build()?;
/// for k in ["a", "b", "c"] {
///     f.with_label_values(&[k]).inc();
/// }
/// assert_eq!(WARNED.load(Ordering::Relaxed), 1);
/// # Ok::<(), tachymeter::NameError>(())
/// ```
pub fn set_overflow_hook(hook: impl Fn(&OverflowEvent<'_>) + Send + Sync + 'static) {
    *HOOK.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::sync::Arc::new(hook));
}

/// A monotonic clock for idle expiry, as time since an arbitrary origin.
pub(crate) type Clock = std::sync::Arc<dyn Fn() -> Duration + Send + Sync>;

fn process_clock() -> Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

/// The limit value for "none".
const UNLIMITED: usize = usize::MAX;

/// A family's life-cycle settings, from its builder.
#[derive(Clone, Default)]
pub(crate) struct LifecycleConfig {
    /// `Some` when the builder set it (a registry default does not override it then).
    pub(crate) max_children: Option<usize>,
    pub(crate) expire_after: Option<Duration>,
    pub(crate) clock: Option<Clock>,
}

impl core::fmt::Debug for LifecycleConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LifecycleConfig")
            .field("max_children", &self.max_children)
            .field("expire_after", &self.expire_after)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Lifecycle {
    limit: AtomicUsize,
    /// Whether the builder set the limit (then registry defaults leave it alone).
    explicit: bool,
    /// Lookups that resolved to the overflow child (a sharded counter: an overflow storm on
    /// many threads must not contend on one cache line).
    overflowed: Counter,
    /// Whether the one-time warning went out (0/1).
    warned: AtomicUsize,
    expire_after: Option<Duration>,
    clock: Clock,
}

impl Lifecycle {
    pub(crate) fn new(config: LifecycleConfig) -> Self {
        Lifecycle {
            limit: AtomicUsize::new(config.max_children.unwrap_or(UNLIMITED)),
            explicit: config.max_children.is_some(),
            overflowed: Counter::new_child(&()),
            warned: AtomicUsize::new(0),
            expire_after: config.expire_after,
            clock: config
                .clock
                .unwrap_or_else(|| std::sync::Arc::new(process_clock)),
        }
    }

    /// The child limit (`usize::MAX`: none).
    pub(crate) fn limit(&self) -> usize {
        // Relaxed: a setting written once at registration; creation reads it, and a creation
        // racing that registration may go either way.
        self.limit.load(Ordering::Relaxed)
    }

    /// Applies a registry's default limit, unless the builder set one or a registry did.
    pub(crate) fn default_limit(&self, limit: usize) {
        if !self.explicit {
            // Relaxed: see `limit`.
            let _ =
                self.limit
                    .compare_exchange(UNLIMITED, limit, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    pub(crate) fn overflowed(&self) -> u64 {
        // Relaxed: a family that never overflowed (the common case, asked at every scrape)
        // skips summing the counter's shards; one that did is counted from then on.
        if self.warned.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        self.overflowed.get() as u64
    }

    /// Counts one overflowed lookup; warns the first time.
    pub(crate) fn note_overflow(&self, desc: &Descriptor) {
        // Counted before `warned` is set; a scrape racing the first overflow may see either
        // without the other, and counts it at the next scrape.
        self.overflowed.inc();
        // Relaxed: only "exactly once" matters, which the swap gives.
        if self.warned.swap(1, Ordering::Relaxed) == 0 {
            let event = OverflowEvent {
                family: desc.name(),
                limit: self.limit(),
            };
            #[cfg(feature = "log")]
            log::warn!(
                "tachymeter: family {} reached its limit of {} children; further label sets \
                 are counted in the overflow child (label values {OVERFLOW_LABEL_VALUE:?})",
                event.family,
                event.limit
            );
            let hook = HOOK.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(h) = hook {
                h(&event);
            }
        }
    }

    /// Whether idle expiry is on.
    pub(crate) fn expiring(&self) -> bool {
        self.expire_after.is_some()
    }

    /// The clock in nanoseconds when expiry is on (else 0): a new child's idle start.
    pub(crate) fn now_if_expiring(&self) -> u64 {
        match self.expire_after {
            Some(_) => nanos((self.clock)()),
            None => 0,
        }
    }

    /// The expiry pass of one collection, if expiry is on.
    pub(crate) fn sweep<M>(&self) -> Option<Sweep<M>> {
        self.expire_after.map(|after| Sweep {
            now: nanos((self.clock)()),
            after: nanos(after),
            expired: Vec::new(),
        })
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One collection's idle-expiry pass: compares each child's value with what the previous
/// collection saw (so updates pay nothing) and gathers the children idle for long enough.
pub(crate) struct Sweep<M> {
    now: u64,
    after: u64,
    expired: Vec<ChildRef<M>>,
}

impl<M: Metric> Sweep<M> {
    /// Whether `c` has not changed for the expiry time; if so it is remembered for removal.
    /// `idle` is the child's state from its slot (two racing collections take turns on it:
    /// at worst both restart the idle time or both expire the child; removal is idempotent).
    pub(crate) fn expired(&mut self, c: &ChildRef<M>, idle: &mut Idle) -> bool {
        let fp = c.metric.fingerprint();
        if idle.seen != fp {
            idle.seen = fp;
            idle.since = self.now;
            return false;
        }
        if self.now.saturating_sub(idle.since) >= self.after {
            self.expired.push(c.clone());
            return true;
        }
        false
    }

    pub(crate) fn into_expired(self) -> Vec<ChildRef<M>> {
        self.expired
    }
}

impl<M: Metric> Family<M> {
    /// The child limit set by [`max_children`](crate::LabeledBuilder::max_children) or by
    /// the registry default (see
    /// [`RegistryBuilder::default_max_children`](crate::RegistryBuilder::default_max_children)),
    /// `None` if there is none.
    pub fn max_children(&self) -> Option<usize> {
        Some(self.inner.life.limit()).filter(|&l| l != UNLIMITED)
    }

    /// How many lookups resolved to the overflow child because the family was at its limit
    /// (see [`OVERFLOW_LABEL_VALUE`]). The registry exposes it as
    /// `tachymeter_family_overflow_updates_total{family="..."}` once it is not zero.
    pub fn overflowed_updates(&self) -> u64 {
        self.inner.life.overflowed()
    }

    /// Removes every child whose labels include all of `labels` (name, value) pairs, in any
    /// order, and returns how many it removed: client_golang's `DeletePartialMatch`, Python's
    /// `remove_by_labels`. O(children). An empty `labels` removes nothing.
    ///
    /// ```
    /// use tachymeter::Counter;
    /// let f = Counter::builder("req_total", "Requests.").labels(["method", "path"]).build()?;
    /// for (m, p) in [("GET", "/a"), ("POST", "/a"), ("GET", "/b")] {
    ///     f.with_label_values(&[m, p]).inc();
    /// }
    /// assert_eq!(f.remove_matching(&[("path", "/a")])?, 2);
    /// assert_eq!(f.len(), 1);
    /// assert!(f.remove_matching(&[("nope", "x")]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`LabelError::UnknownLabel`] if a name is not one of the family's label names.
    pub fn remove_matching(&self, labels: &[(&str, &str)]) -> Result<usize, LabelError> {
        let names = self.inner.desc.label_names();
        let mut wanted: Vec<(usize, &str)> = Vec::with_capacity(labels.len());
        for (pair, &(name, value)) in labels.iter().enumerate() {
            let i = names
                .iter()
                .position(|n| &**n == name)
                .ok_or(LabelError::UnknownLabel { pair })?;
            wanted.push((i, value));
        }
        if wanted.is_empty() {
            return Ok(0);
        }
        let doomed: Vec<_> = self
            .inner
            .children
            .snapshot()
            .into_iter()
            .filter(|c| {
                wanted
                    .iter()
                    .all(|&(i, v)| c.key().values().nth(i) == Some(v.as_bytes()))
            })
            .collect();
        Ok(self.remove_all(&doomed))
    }

    /// Keeps only the children for which `keep(values, metric)` returns true, where `values`
    /// are the child's label values in label-name order; removes the rest and returns how
    /// many it removed. No lock is held while `keep` runs (it may use the family); children
    /// created meanwhile are kept. O(children).
    ///
    /// ```
    /// use tachymeter::Counter;
    /// let f = Counter::builder("jobs_total", "Jobs.").labels(["queue"]).build()?;
    /// f.with_label_values(&["mail"]).inc_by(3);
    /// let _ = f.with_label_values(&["idle"]);
    /// assert_eq!(f.retain(|_values, c| c.get() > 0.0), 1);
    /// assert_eq!(f.len(), 1);
    /// # Ok::<(), tachymeter::NameError>(())
    /// ```
    pub fn retain(&self, mut keep: impl FnMut(&[&str], &M) -> bool) -> usize {
        let all = self.inner.children.snapshot();
        let mut values: Vec<&str> = Vec::new();
        let mut doomed = Vec::new();
        for c in &all {
            values.clear();
            values.extend(c.key().values().map(as_str));
            if !keep(&values, &c.metric) {
                doomed.push(c.clone());
            }
        }
        self.remove_all(&doomed)
    }

    fn remove_all(&self, doomed: &[ChildRef<M>]) -> usize {
        let n = self.inner.children.remove_children(doomed);
        if n > 0 {
            self.bump_generation();
        }
        n
    }
}

/// A key's value as text: keys are built from `&str` values, so this never fails (an empty
/// string would stand in if it somehow did).
fn as_str(b: &[u8]) -> &str {
    core::str::from_utf8(b).unwrap_or_default()
}
