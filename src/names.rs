//! Module implementing metric and label name validation (Prometheus data model).

use crate::error::NameError;

/// Checks a metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`, not starting with `__` (reserved).
pub(crate) fn check_metric_name(name: &str) -> Result<(), NameError> {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
        && !name.starts_with("__");
    if ok {
        Ok(())
    } else {
        Err(NameError::InvalidMetricName(name.to_owned()))
    }
}

/// Whether `name` is a syntactically valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub(crate) fn is_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Checks a label name given by a user: valid syntax and not reserved (`__` prefix).
pub(crate) fn check_label_name(name: &str) -> Result<(), NameError> {
    if !is_label_name(name) {
        return Err(NameError::InvalidLabelName(name.to_owned()));
    }
    if name.starts_with("__") {
        return Err(NameError::ReservedLabelName(name.to_owned()));
    }
    Ok(())
}

/// Checks a metric's label names: each valid, none repeated, none of `reserved` (the label
/// names the metric type uses itself).
pub(crate) fn check_label_names(
    names: &[Box<str>],
    reserved: &[&str],
    metric_type: &'static str,
) -> Result<(), NameError> {
    for (i, n) in names.iter().enumerate() {
        check_label_name(n)?;
        if reserved.contains(&&**n) {
            return Err(NameError::LabelReservedForType {
                label: n.to_string(),
                metric_type,
            });
        }
        if names[..i].contains(n) {
            return Err(NameError::DuplicateLabelName(n.to_string()));
        }
    }
    Ok(())
}

/// Checks a unit for the family `name` of type `t` (OpenMetrics "Units and Base Units"):
/// `[a-zA-Z0-9_:]+`, the name ends in `_` + unit, and infos and state sets have none.
pub(crate) fn check_unit(
    name: &str,
    t: crate::encode::MetricType,
    unit: &str,
) -> Result<(), NameError> {
    use crate::encode::MetricType;
    let ok_chars = !unit.is_empty()
        && unit
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':');
    if !ok_chars {
        return Err(NameError::InvalidUnit(unit.to_owned()));
    }
    if matches!(t, MetricType::Info | MetricType::StateSet) {
        return Err(NameError::UnitNotAllowed {
            name: name.to_owned(),
            metric_type: t.as_str(crate::Format::OpenMetrics),
        });
    }
    let suffixed = name
        .strip_suffix(unit)
        .is_some_and(|rest| rest.len() > 1 && rest.ends_with('_'));
    if !suffixed {
        return Err(NameError::UnitNotSuffix {
            name: name.to_owned(),
            unit: unit.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        for ok in ["a", "_a", ":a", "a:b_c9", "http_requests_total"] {
            assert_eq!(check_metric_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a.b", "__a", "ä", "a b"] {
            assert!(check_metric_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn units() {
        use crate::encode::MetricType::*;
        assert_eq!(check_unit("req_seconds", Histogram, "seconds"), Ok(()));
        assert_eq!(check_unit("a_b_bytes", Gauge, "b_bytes"), Ok(()));
        for (name, unit) in [
            ("seconds", "seconds"),
            ("reqseconds", "seconds"),
            ("x", "y"),
        ] {
            assert!(
                matches!(
                    check_unit(name, Counter, unit),
                    Err(NameError::UnitNotSuffix { .. })
                ),
                "{name} {unit}"
            );
        }
        assert!(matches!(
            check_unit("a_b", Gauge, ""),
            Err(NameError::InvalidUnit(_))
        ));
        assert!(matches!(
            check_unit("a_b c", Gauge, "b c"),
            Err(NameError::InvalidUnit(_))
        ));
        assert!(matches!(
            check_unit("build_seconds", Info, "seconds"),
            Err(NameError::UnitNotAllowed { .. })
        ));
        assert!(matches!(
            check_unit("state_seconds", StateSet, "seconds"),
            Err(NameError::UnitNotAllowed { .. })
        ));
    }

    #[test]
    fn label_names() {
        assert_eq!(check_label_name("inner_ip"), Ok(()));
        assert_eq!(check_label_name("_x"), Ok(()));
        assert_eq!(
            check_label_name("__name__"),
            Err(NameError::ReservedLabelName("__name__".into()))
        );
        assert_eq!(
            check_label_name("a:b"),
            Err(NameError::InvalidLabelName("a:b".into()))
        );
        let le: Vec<Box<str>> = vec!["le".into()];
        assert!(matches!(
            check_label_names(&le, &["le"], "histogram"),
            Err(NameError::LabelReservedForType { .. })
        ));
        let dup: Vec<Box<str>> = vec!["a".into(), "a".into()];
        assert_eq!(
            check_label_names(&dup, &[], "counter"),
            Err(NameError::DuplicateLabelName("a".into()))
        );
    }
}
