//! Module implementing the checks of the [`Collector`](crate::Collector) contract that
//! [`MetricWriter`](super::MetricWriter) makes in debug builds: every family written is one
//! the collector declared in `describe`, at most once, and no series of a custom collector's
//! family is written twice (either would make the whole exposition invalid: FORMATS rules 10
//! and 18). See [`Contract`].
//!
//! Release builds skip these checks (`cfg!(debug_assertions)` is false, so the optimiser
//! removes them): they cost a scan of the collector's descriptors per family and a sort of
//! the custom samples' series per family. The buffers live in the registry between scrapes,
//! so once warm the checks allocate nothing either.

use core::ops::Range;

use super::Descriptor;
use crate::error::EncodeError;

/// Buffers the checks reuse from scrape to scrape (kept by the registry).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// For each of the current collector's descriptors: written yet?
    seen: Vec<bool>,
    /// Byte ranges in the output of the series (`name{labels}`) written by
    /// [`FamilyWriter::sample`](super::FamilyWriter::sample) in the current family.
    series: Vec<Range<usize>>,
}

/// The contract checks of one scrape.
#[derive(Debug)]
pub(crate) struct Contract<'a> {
    declared: &'a [Descriptor],
    scratch: Scratch,
    /// The first violation of the current collector.
    error: Option<EncodeError>,
}

impl<'a> Contract<'a> {
    pub(crate) fn new(scratch: Scratch) -> Self {
        Contract {
            declared: &[],
            scratch,
            error: None,
        }
    }

    /// The buffers, for the next scrape.
    pub(crate) fn into_scratch(self) -> Scratch {
        self.scratch
    }

    /// A collector that declared `declared` starts writing.
    pub(crate) fn begin_collector(&mut self, declared: &'a [Descriptor]) {
        if cfg!(debug_assertions) {
            self.declared = declared;
            self.scratch.seen.clear();
            self.scratch.seen.resize(declared.len(), false);
            self.error = None;
        }
    }

    /// The current collector is done: its first violation, if any.
    pub(crate) fn end_collector(&mut self) -> Result<(), EncodeError> {
        self.error.take().map_or(Ok(()), Err)
    }

    /// Whether family `desc` may be written now; records the violation if not.
    pub(crate) fn family(&mut self, desc: &Descriptor) -> bool {
        if !cfg!(debug_assertions) {
            return true;
        }
        self.scratch.series.clear();
        let Some(i) = self.declared.iter().position(|d| d.name() == desc.name()) else {
            self.fail(EncodeError::UndeclaredFamily(desc.name().to_owned()));
            return false;
        };
        if core::mem::replace(&mut self.scratch.seen[i], true) {
            self.fail(EncodeError::DuplicateFamily(desc.name().to_owned()));
            return false;
        }
        true
    }

    /// A custom sample's series was written at `range` of the output.
    pub(crate) fn series(&mut self, range: Range<usize>) {
        if cfg!(debug_assertions) {
            self.scratch.series.push(range);
        }
    }

    /// The current family is done; `out` is the output its series were written to.
    pub(crate) fn end_family(&mut self, out: &[u8]) {
        if !cfg!(debug_assertions) || self.scratch.series.len() < 2 {
            return;
        }
        let series = &mut self.scratch.series;
        series.sort_unstable_by(|a, b| out[a.clone()].cmp(&out[b.clone()]));
        let twice = series
            .windows(2)
            .find(|p| out[p[0].clone()] == out[p[1].clone()])
            .map(|p| String::from_utf8_lossy(&out[p[0].clone()]).into_owned());
        series.clear();
        if let Some(s) = twice {
            self.fail(EncodeError::DuplicateSeries(s));
        }
    }

    fn fail(&mut self, e: EncodeError) {
        self.error.get_or_insert(e);
    }
}
