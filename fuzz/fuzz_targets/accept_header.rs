//! `Accept` negotiation never panics and always yields a supported format; rendering with
//! any `Accept`, `Accept-Encoding` and query string never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tachymeter::http::{accepts_gzip, negotiate, Renderer};
use tachymeter::{Format, Gauge, Registry};

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    if let Ok(f) = negotiate(&s) {
        assert!(matches!(f, Format::Text | Format::OpenMetrics));
    }
    let _ = accepts_gzip(&s);
    let mut parts = s.splitn(3, '\n');
    let (accept, encoding, query) = (parts.next(), parts.next(), parts.next());
    let registry = Registry::new();
    Gauge::builder("g", "G.")
        .register(&registry)
        .unwrap()
        .set(1.0);
    let mut renderer = Renderer::new();
    if let Ok(r) = renderer.render(&registry, accept, encoding, query) {
        assert_eq!(r.content_type, r.format.content_type());
    }
});
