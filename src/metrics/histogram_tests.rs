//! Unit tests of the classic histogram (slot size, exemplar locking).

use super::*;

#[test]
fn a_slot_fits_one_128_byte_line() {
    assert!(core::mem::size_of::<HistogramSlot>() <= 128);
}

#[test]
fn a_text_scrape_leaves_the_bucket_exemplars_unlocked() {
    // As for counters: text 0.0.4 writes no exemplars, so its scrape must not wait for
    // their lock, held here while another thread scrapes (bounded by a timeout).
    use crate::{Format, Registry};
    let registry = Registry::builder().created_samples(false).build();
    let h = Histogram::builder("h", "H.")
        .buckets([1.0])
        .unwrap()
        .register(&registry)
        .unwrap();
    h.observe_with_exemplar(0.5, &[("trace_id", "t1")]);
    let held = h.inner.exemplars.read();
    assert!(held.is_some(), "exemplar slots after an exemplar");
    let body = crate::test_support::encode_while_held(&registry, Format::Text, held);
    let body = body.expect("a text scrape waited for the exemplars' lock");
    assert!(body.contains("h_bucket{le=\"1\"} 1\n"), "{body}");
    assert!(registry
        .encode_to_string(Format::OpenMetrics)
        .contains("h_bucket{le=\"1.0\"} 1 # {trace_id=\"t1\"} 0.5"));
}
