//! Module implementing the [`StateSet`] metric and its [`States`].

use crate::encode::{escape, FamilyWriter, MetricType, Value};
use crate::error::StateSetError;
use crate::metrics::{Builder, Metric, Sealed};
use crate::sync::{Arc, AtomicUsize, Ordering};

/// The states of a [`StateSet`], validated, with their label values escaped once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct States {
    names: Box<[Box<str>]>,
    escaped: Box<[Box<str>]>,
}

impl States {
    /// Validates the states: at least one, none repeated.
    ///
    /// # Errors
    ///
    /// [`StateSetError::NoStates`] or [`StateSetError::DuplicateState`].
    pub fn new<I, S>(states: I) -> Result<States, StateSetError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let names: Box<[Box<str>]> = states.into_iter().map(|s| s.as_ref().into()).collect();
        if names.is_empty() {
            return Err(StateSetError::NoStates);
        }
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(StateSetError::DuplicateState(n.to_string()));
            }
        }
        let escaped = names
            .iter()
            .map(|n| {
                let mut v = Vec::new();
                escape::label_value(&mut v, n);
                // Escaping a `&str` inserts only ASCII, so the bytes stay UTF-8.
                String::from_utf8(v).unwrap_or_default().into_boxed_str()
            })
            .collect();
        Ok(States { names, escaped })
    }

    /// The state names, in order.
    pub fn names(&self) -> &[Box<str>] {
        &self.names
    }
}

/// A set of named states of which exactly one is current (the Python client's `Enum`):
/// one sample per state, labelled with the family name, 1 for the current state and 0 for
/// the others. The first state is current until [`set`](StateSet::set) is called.
///
/// OpenMetrics exposes it as type `stateset`; the text format, as the Python client does, as
/// a gauge. The label is named after the family (without the registry prefix), so the name
/// must be a valid label name. Setting the state is one atomic store.
///
/// ```
/// use tachymeter::{Format, Registry, StateSet};
/// let registry = Registry::new();
/// let state = StateSet::builder("task_state", "Task state.", ["starting", "running", "stopped"])?
///     .register(&registry)?;
/// state.set("running")?;
/// assert_eq!(
///     registry.encode_to_string(Format::OpenMetrics),
///     "# TYPE task_state stateset\n# HELP task_state Task state.\n\
///      task_state{task_state=\"starting\"} 0\n\
///      task_state{task_state=\"running\"} 1\n\
///      task_state{task_state=\"stopped\"} 0\n# EOF\n"
/// );
/// assert!(registry.encode_to_string(Format::Text).contains("# TYPE task_state gauge\n"));
/// assert!(state.set("exploded").is_err());
/// assert_eq!(state.get(), "running");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct StateSet {
    states: Arc<States>,
    current: Arc<AtomicUsize>,
}

impl StateSet {
    /// A standalone state set whose first state is current.
    pub fn new(states: Arc<States>) -> StateSet {
        StateSet {
            states,
            current: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Starts building a state set with the given states.
    ///
    /// # Errors
    ///
    /// See [`States::new`].
    pub fn builder<I, S>(
        name: &str,
        help: &str,
        states: I,
    ) -> Result<Builder<StateSet>, StateSetError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Builder::with_options(
            name,
            help,
            Arc::new(States::new(states)?),
        ))
    }

    /// Makes `state` the current state.
    ///
    /// # Errors
    ///
    /// [`StateSetError::UnknownState`] if `state` is not one of the states; nothing changes.
    pub fn set(&self, state: &str) -> Result<(), StateSetError> {
        let i = self
            .states
            .names
            .iter()
            .position(|s| &**s == state)
            .ok_or_else(|| StateSetError::UnknownState(state.to_owned()))?;
        // Relaxed: the index publishes no other memory (crate ordering policy).
        self.current.store(i, Ordering::Relaxed);
        Ok(())
    }

    /// The current state.
    pub fn get(&self) -> &str {
        // Relaxed: a snapshot read.
        let i = self.current.load(Ordering::Relaxed);
        &self.states.names[i]
    }
}

impl Sealed for StateSet {}

impl Metric for StateSet {
    type Options = Arc<States>;
    const TYPE: MetricType = MetricType::StateSet;

    fn new_child(options: &Arc<States>) -> Self {
        StateSet::new(options.clone())
    }

    fn encode_child(&self, _: &Arc<States>, w: &mut FamilyWriter<'_, '_>, labels: &str) {
        // Relaxed: a snapshot read; one load, so exactly one state is 1.
        let cur = self.current.load(Ordering::Relaxed);
        // The label is named after the family (a `&'w str`, not a borrow of `w`).
        let name = w.family_name();
        for (i, state) in self.states.escaped.iter().enumerate() {
            w.sample_rendered(
                "",
                labels,
                Some((name, state)),
                Value::U64(u64::from(i == cur)),
            );
        }
    }

    fn fingerprint(&self) -> u64 {
        // Relaxed: a snapshot read, as in `encode_child`.
        self.current.load(Ordering::Relaxed) as u64
    }

    fn heap_bytes(&self) -> usize {
        core::mem::size_of::<AtomicUsize>()
    }
}
