//! Module implementing the sample output mode of [`MetricWriter`](super::MetricWriter): instead
//! of exposition text, each sample is handed to a [`SampleSink`] as its name parts, label
//! pieces and value. Remote write (feature `remote-write`) reads registries this way.
//!
//! Built-in metrics give their labels as pre-rendered, escaped `a="x",b="y"` strings (what the
//! text encoders copy); [`for_each_pair`] walks such a string and [`unescape`] undoes the
//! escaping, both without allocating.

#![cfg_attr(
    not(any(feature = "remote-write", feature = "protobuf")),
    allow(dead_code)
)]

use super::{ExemplarRef, LabelPairs, Value};
use crate::encode::Descriptor;

/// One sample, as the writer has it. The series' labels are the union of `rendered` (escaped
/// pairs: registry constant labels, the child's labels, an info's labels), `extra` (`le` or
/// `quantile`, never escaped) and `pairs` (a custom collector's labels, unescaped).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SinkSample<'s> {
    /// Registry prefix (with its `_`, or empty), family name, sample suffix: concatenated,
    /// the sample's `__name__`.
    pub(crate) name: [&'s str; 3],
    /// Escaped `a="x",b="y"` pieces; empty pieces are skipped.
    pub(crate) rendered: [&'s [u8]; 3],
    /// An extra pair whose value needs no escaping (`le`, `quantile`).
    pub(crate) extra: Option<(&'s str, &'s str)>,
    /// Unescaped pairs from [`FamilyWriter::sample`](super::FamilyWriter::sample).
    pub(crate) pairs: LabelPairs<'s>,
    /// Which sample of which family child this is, when a built-in family writes it (custom
    /// collectors' samples have none). The same id and the same name and label pieces (see
    /// above) mean the same series in every collection. Only remote write reads it.
    #[cfg_attr(not(feature = "remote-write"), allow(dead_code))]
    pub(crate) series: Option<SeriesId>,
    /// The value.
    pub(crate) value: f64,
    /// The value as the metric gave it (exact counts, `_created` seconds). Only protobuf
    /// reads it.
    #[cfg_attr(not(feature = "protobuf"), allow(dead_code))]
    pub(crate) exact: Value,
    /// The sample's exemplar, if it has one (OpenMetrics and protobuf carry them).
    #[cfg_attr(not(feature = "protobuf"), allow(dead_code))]
    pub(crate) exemplar: Option<ExemplarRef<'s>>,
}

/// A built-in family's sample: its child's [`Child::id`](crate::family::ChildRef), unique in
/// the process and never reused, and the sample's position among that child's samples in one
/// collection (a histogram's buckets, `_sum`, `_count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SeriesId {
    /// The child.
    pub(crate) child: u64,
    /// The sample's ordinal within the child.
    pub(crate) ordinal: u32,
}

/// Receives the samples of a collection (see [`MetricWriter::with_sink`](super::MetricWriter::with_sink)).
pub(crate) trait SampleSink {
    /// A family starts; its samples follow.
    fn family(&mut self, prefix: &str, desc: &Descriptor);
    /// One sample of the current family.
    fn sample(&mut self, sample: &SinkSample<'_>);
    /// The current family has no more samples.
    fn family_end(&mut self) {}
    /// A family child's last own sample, followed, when `created` is some, by the child's
    /// `_created` sample (those seconds, the same labels, the next [`SeriesId`] ordinal): what
    /// a counter child writes, in one call, so that a sink can write the whole series at
    /// once. By default, the two [`sample`](Self::sample) calls the writer would otherwise
    /// make.
    fn sample_created(&mut self, sample: &SinkSample<'_>, created: Option<f64>) {
        self.sample(sample);
        if let Some(secs) = created {
            self.sample(&sample.created(secs));
        }
    }
    /// A native histogram's buckets, count and sum, for the series of `sample` (whose value
    /// is the count). Only the protobuf encoder takes them; others ignore them.
    fn native(
        &mut self,
        sample: &SinkSample<'_>,
        view: &crate::metrics::native::store::NativeView<'_>,
        exemplars: &[crate::exemplar::Slot],
    ) {
        let _ = (sample, view, exemplars);
    }
    /// Whether this sink takes native histograms from every format's path (remote write with
    /// native histograms on): a histogram with native buckets then hands its native view to
    /// [`native`](Self::native) through [`FamilyWriter::sink_native`] instead of writing
    /// `_count`/`_sum` floats. The protobuf encoder gets them on its own path and says no.
    fn takes_native(&self) -> bool {
        false
    }
    /// Whether this sink takes built-in families' `_created` samples although it reports the
    /// text format (Remote-Write 2.0 sends them as `created_timestamp`): they then come, as
    /// ever, after the child's other samples, when the registry has
    /// [`created_samples`](crate::RegistryBuilder::created_samples) on.
    fn takes_created(&self) -> bool {
        false
    }
    /// Whether this sink sends the exemplars it is handed (the protobuf encoder always does;
    /// remote write only with exemplars on). When it does not, metrics need not lock their
    /// exemplars to hand them over (see [`FamilyWriter::takes_exemplars`]).
    fn takes_exemplars(&self) -> bool {
        true
    }
}

impl super::MetricWriter<'_> {
    /// Whether built-in families write `_created` samples to this writer's sink (see
    /// [`SampleSink::takes_created`]): the registry has them on and the sink takes them.
    /// Custom collectors still see [`created`](super::MetricWriter::created).
    #[inline]
    pub(crate) fn sink_takes_created(&self) -> bool {
        self.created && self.sink.as_deref().is_some_and(|s| s.takes_created())
    }
}

impl<'s> SinkSample<'s> {
    /// The `_created` sample (`secs` seconds) of the series of this family child's sample:
    /// its name and labels with the `_created` suffix, the next ordinal, no exemplar.
    pub(crate) fn created(&self, secs: f64) -> SinkSample<'s> {
        SinkSample {
            name: [self.name[0], self.name[1], "_created"],
            rendered: [self.rendered[0], self.rendered[1], b""],
            extra: None,
            pairs: &[],
            series: self.series.map(|id| SeriesId {
                ordinal: id.ordinal.wrapping_add(1),
                ..id
            }),
            value: secs,
            exact: Value::Seconds(secs),
            exemplar: None,
        }
    }
}

impl super::FamilyWriter<'_, '_> {
    /// The child's last own sample (a counter's `_total`), with its rendered `labels` and no
    /// other label: [`sample_full`](Self::sample_full), except that a sink gets it together
    /// with the child's pending `_created` sample, in one
    /// [`sample_created`](SampleSink::sample_created) call.
    #[inline]
    pub(crate) fn sample_last(
        &mut self,
        suffix: &str,
        labels: &str,
        value: Value,
        exemplar: Option<ExemplarRef<'_>>,
    ) {
        let Some(sink) = self.w.sink.as_deref_mut() else {
            self.sample_full(suffix, labels, None, b"", value, exemplar);
            return;
        };
        let series = self.child;
        let created = self.created.take();
        if let Some(c) = &mut self.child {
            c.ordinal = c.ordinal.wrapping_add(1 + u32::from(created.is_some()));
        }
        sink.sample_created(
            &SinkSample {
                name: [self.w.prefix, &self.desc.name, suffix],
                rendered: [self.w.const_labels.as_bytes(), labels.as_bytes(), b""],
                extra: None,
                pairs: &[],
                series,
                value: value.as_f64(),
                exact: value,
                exemplar,
            },
            created,
        );
    }

    /// Whether the writer's sink takes native histograms (see [`SampleSink::takes_native`]);
    /// false for the text formats and the protobuf exposition.
    #[inline]
    pub(crate) fn sink_takes_native(&self) -> bool {
        self.w.sink.as_deref().is_some_and(|s| s.takes_native())
    }

    /// Whether exemplars handed to this writer go anywhere: to a sink that
    /// [takes them](SampleSink::takes_exemplars) (protobuf; remote write with exemplars on),
    /// or into OpenMetrics text. When not, a metric can skip locking its exemplars.
    #[inline]
    pub(crate) fn takes_exemplars(&self) -> bool {
        match self.w.sink.as_deref() {
            Some(sink) => sink.takes_exemplars(),
            None => self.w.format == super::Format::OpenMetrics,
        }
    }

    /// Hands a native histogram's merged buckets, count and sum to a sink that
    /// [takes them](SampleSink::takes_native), as the series named after the family (no
    /// suffix) with the child's next [`SeriesId`], with its exemplar ring. Without such a
    /// sink, nothing.
    pub(crate) fn sink_native(
        &mut self,
        labels: &str,
        view: &crate::metrics::native::store::NativeView<'_>,
        exemplars: &[crate::exemplar::Slot],
    ) {
        let Some(sink) = self.w.sink.as_deref_mut() else {
            return;
        };
        if !sink.takes_native() {
            return;
        }
        let series = self.child;
        if let Some(c) = &mut self.child {
            c.ordinal = c.ordinal.wrapping_add(1);
        }
        sink.native(
            &SinkSample {
                name: [self.w.prefix, &self.desc.name, ""],
                rendered: [self.w.const_labels.as_bytes(), labels.as_bytes(), b""],
                extra: None,
                pairs: &[],
                series,
                value: view.count as f64,
                exact: Value::U64(view.count),
                exemplar: None,
            },
            view,
            exemplars,
        );
    }
}

impl Value {
    /// The value as a float (integers above 2^53 round, as in every float-valued format).
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Value::U64(v) => v as f64,
            Value::F64(v) | Value::Seconds(v) => v,
        }
    }
}

/// Index of the first `a` or `b` in `hay`, a word at a time (label strings are long: this
/// search is most of a remote-write collection's time).
fn find2(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let (pa, pb) = (LO * u64::from(a), LO * u64::from(b));
    let mut chunks = hay.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        let w = u64::from_le_bytes(word);
        let (xa, xb) = (w ^ pa, w ^ pb);
        // A zero byte of `xa`/`xb` is a match. `(x - LO) & !x & HI` flags every zero byte,
        // and only bytes above the first zero can be false positives, so the lowest flag
        // (the first byte in memory, little-endian) is exact.
        let z = ((xa.wrapping_sub(LO) & !xa) | (xb.wrapping_sub(LO) & !xb)) & HI;
        if z != 0 {
            return Some(at + (z.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&x| x == a || x == b)
        .map(|p| at + p)
}

/// Calls `f(name, value, has_escapes)` for each pair of a rendered `a="x",b="y"` string, in
/// order; `value` is still escaped when `has_escapes` (see [`unescape`]). Input that is not
/// in that shape (it always is: the crate renders it) ends the walk.
pub(crate) fn for_each_pair(rendered: &[u8], mut f: impl FnMut(&[u8], &[u8], bool)) {
    let mut rest = rendered;
    while !rest.is_empty() {
        let Some(eq) = find2(rest, b'=', b'=') else {
            return;
        };
        let name = &rest[..eq];
        // `="` then the value up to the first unescaped `"`.
        let Some(body) = rest.get(eq + 2..) else {
            return;
        };
        let mut i = 0;
        let mut escaped = false;
        loop {
            let Some(j) = find2(&body[i.min(body.len())..], b'"', b'\\') else {
                return;
            };
            i += j;
            if body[i] == b'"' {
                break;
            }
            escaped = true;
            i += 2;
        }
        f(name, &body[..i], escaped);
        // Skip the closing quote and the comma.
        rest = body.get(i + 2..).unwrap_or_default();
    }
}

/// Appends `escaped` with the label-value escapes (`\\`, `\"`, `\n`) undone.
pub(crate) fn unescape(out: &mut Vec<u8>, escaped: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < escaped.len() {
        if escaped[i] == b'\\' && i + 1 < escaped.len() {
            out.extend_from_slice(&escaped[start..i]);
            out.push(match escaped[i + 1] {
                b'n' => b'\n',
                other => other,
            });
            i += 2;
            start = i;
        } else {
            i += 1;
        }
    }
    out.extend_from_slice(&escaped[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::write_label_pairs;

    #[test]
    fn rendered_pairs_round_trip() {
        let pairs = [
            ("a", "plain"),
            ("b", "quote \" backslash \\ newline \n end"),
            ("c", ""),
            ("d", "\\\"\\n,=\""),
        ];
        let mut rendered = Vec::new();
        write_label_pairs(&mut rendered, pairs.iter().copied());
        let mut back = Vec::new();
        for_each_pair(&rendered, |n, v, escaped| {
            let mut value = Vec::new();
            unescape(&mut value, v);
            assert_eq!(escaped, v.contains(&b'\\'));
            back.push((
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(value).unwrap(),
            ));
        });
        let want: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        assert_eq!(back, want);
    }

    #[test]
    fn find2_finds_the_first_of_either_byte_at_every_offset() {
        for len in 0..40 {
            for at in 0..len {
                for (a, b) in [(b'"', b'\\'), (b'=', b'=')] {
                    let mut hay = vec![b'x'; len];
                    hay[at] = b;
                    if at + 1 < len {
                        hay[at + 1] = a; // a later match, and a false-positive trap
                    }
                    assert_eq!(find2(&hay, a, b), Some(at), "len {len} at {at}");
                }
            }
            assert_eq!(find2(&vec![b'x'; len], b'"', b'\\'), None);
        }
        // Bytes just above and below the searched ones, and high bytes.
        assert_eq!(find2("ü!#[]\"".as_bytes(), b'"', b'\\'), Some(6));
    }

    /// Records what reaches it: full name, labels, series id, value.
    #[derive(Default)]
    struct Recorder(Vec<(String, Vec<u8>, Option<SeriesId>, Value)>);

    impl SampleSink for Recorder {
        fn family(&mut self, _: &str, _: &Descriptor) {}
        fn sample(&mut self, s: &SinkSample<'_>) {
            let labels = s.rendered.concat();
            self.0.push((s.name.concat(), labels, s.series, s.exact));
        }
    }

    #[test]
    fn sample_created_by_default_is_the_sample_then_its_created_sample() {
        let s = SinkSample {
            name: ["app_", "jobs", "_total"],
            rendered: [b"host=\"h\"", b"k=\"v\"", b""],
            extra: None,
            pairs: &[],
            series: Some(SeriesId {
                child: 42,
                ordinal: 3,
            }),
            value: 7.0,
            exact: Value::U64(7),
            exemplar: None,
        };
        let mut r = Recorder::default();
        r.sample_created(&s, Some(1.5));
        let labels = b"host=\"h\"k=\"v\"".to_vec();
        let id = |ordinal| Some(SeriesId { child: 42, ordinal });
        assert_eq!(
            r.0,
            [
                (
                    "app_jobs_total".into(),
                    labels.clone(),
                    id(3),
                    Value::U64(7)
                ),
                (
                    "app_jobs_created".into(),
                    labels,
                    id(4),
                    Value::Seconds(1.5)
                ),
            ]
        );
        let mut r = Recorder::default();
        r.sample_created(&s, None);
        assert_eq!(r.0.len(), 1);
        assert_eq!(r.0[0].0, "app_jobs_total");
    }

    #[test]
    fn empty_rendering_has_no_pairs() {
        let mut n = 0;
        for_each_pair(b"", |_, _, _| n += 1);
        assert_eq!(n, 0);
    }
}
