//! Module implementing the writer of one family's samples, in text or to a sink. See
//! [`FamilyWriter`].

use super::float;
use super::openmetrics::{self, ExemplarRef};
use super::sink::{SeriesId, SinkSample};
use super::Descriptor;
use super::{escape, Format, LabelPairs, MetricWriter, Value};
use crate::error::EncodeError;
use crate::names;

/// Writes the samples of one family. See [`MetricWriter::family`].
pub struct FamilyWriter<'w, 'a> {
    pub(super) w: &'w mut MetricWriter<'a>,
    pub(super) desc: &'w Descriptor,
    /// The built-in family child being written and its next sample's ordinal (for a sink's
    /// [`SeriesId`]); `None` for a custom collector's samples.
    pub(super) child: Option<SeriesId>,
    /// The current child's creation time (seconds), while its `_created` sample is still to
    /// be written (see [`begin_child`](Self::begin_child)).
    pub(super) created: Option<f64>,
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

    /// Whether this is the protobuf exposition (false without the `protobuf` feature).
    #[inline]
    pub(crate) fn is_protobuf(&self) -> bool {
        #[cfg(feature = "protobuf")]
        {
            self.w.format == Format::Protobuf
        }
        #[cfg(not(feature = "protobuf"))]
        {
            false
        }
    }

    /// Hands a native histogram's merged buckets, count and sum to the sink (the protobuf
    /// encoder); `exemplars` are its latest exemplars. Without a sink, nothing: the text
    /// formats have no native buckets.
    pub(crate) fn native(
        &mut self,
        labels: &str,
        view: &crate::metrics::native::store::NativeView<'_>,
        exemplars: &[crate::exemplar::Slot],
    ) {
        if let Some(sink) = self.w.sink.as_deref_mut() {
            sink.native(
                &SinkSample {
                    name: [self.w.prefix, &self.desc.name, "_count"],
                    rendered: [self.w.const_labels.as_bytes(), labels.as_bytes(), b""],
                    extra: None,
                    pairs: &[],
                    series: None,
                    value: view.count as f64,
                    exact: Value::U64(view.count),
                    exemplar: None,
                },
                view,
                exemplars,
            );
        }
    }

    /// The family name, without the registry prefix.
    pub(crate) fn family_name(&self) -> &'w str {
        &self.desc.name
    }

    /// The samples that follow, up to the next call, are those of the family child `id`.
    /// `created`, its creation time when `_created` belongs in this exposition, is written
    /// by [`end_child`](Self::end_child) after the child's own samples, unless a sink took
    /// it with the last of them ([`sample_last`](Self::sample_last)).
    #[inline]
    pub(crate) fn begin_child(&mut self, id: u64, created: Option<f64>) {
        self.child = Some(SeriesId {
            child: id,
            ordinal: 0,
        });
        self.created = created;
    }

    /// The current child's samples are written: writes its `_created` sample (with the
    /// child's rendered `labels`) if [`begin_child`](Self::begin_child) had one and no sink
    /// took it yet.
    #[inline]
    pub(crate) fn end_child(&mut self, labels: &str) {
        if let Some(secs) = self.created.take() {
            self.sample_rendered("_created", labels, None, Value::Seconds(secs));
        }
    }

    /// Writes a sample for a custom collector: `suffix` is appended to the family name
    /// (`""`, or one of the type's suffixes such as `"_total"`, `"_sum"`), `labels` are
    /// escaped here.
    ///
    /// In debug builds, a series (name and label pairs, in the order given) written twice in
    /// one family makes the scrape fail with [`EncodeError::DuplicateSeries`] when the
    /// family's writer is dropped.
    ///
    /// # Errors
    ///
    /// [`EncodeError::InvalidLabelName`] for a bad label name,
    /// [`EncodeError::DuplicateLabelName`] for a label given twice or one that is also a
    /// constant label of the registry, [`EncodeError::InvalidSample`] for a suffix the
    /// family's type does not have.
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
        for (i, (n, _)) in labels.iter().enumerate() {
            if !names::is_label_name(n) {
                return Err(EncodeError::InvalidLabelName((*n).to_owned()));
            }
            if labels[..i].iter().any(|(m, _)| m == n)
                || self.w.const_label_names.iter().any(|c| **c == **n)
            {
                return Err(EncodeError::DuplicateLabelName((*n).to_owned()));
            }
        }
        let start = self.w.out.len();
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
        let series = start..o.len();
        self.w.contract.series(series);
        if let Some(sink) = self.w.sink.as_deref_mut() {
            sink.sample(&SinkSample {
                name: [self.w.prefix, &self.desc.name, suffix],
                rendered: [self.w.const_labels.as_bytes(), b"", b""],
                extra: None,
                pairs: labels,
                series: None,
                value,
                exact: Value::F64(value),
                exemplar: None,
            });
            return Ok(());
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
        if let Some(sink) = self.w.sink.as_deref_mut() {
            let series = self.child;
            if let Some(c) = &mut self.child {
                c.ordinal = c.ordinal.wrapping_add(1);
            }
            sink.sample(&SinkSample {
                name: [self.w.prefix, &self.desc.name, suffix],
                rendered: [self.w.const_labels.as_bytes(), labels.as_bytes(), more],
                extra,
                pairs: &[],
                series,
                value: value.as_f64(),
                exact: value,
                exemplar,
            });
            return;
        }
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

impl Drop for FamilyWriter<'_, '_> {
    fn drop(&mut self) {
        let w = &mut *self.w;
        if let Some(sink) = w.sink.as_deref_mut() {
            sink.family_end();
        }
        w.contract.end_family(w.out);
    }
}
