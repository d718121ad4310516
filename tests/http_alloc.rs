//! Once warm, answering a scrape through a [`Renderer`] allocates nothing: encoding, the
//! `name[]` filter and gzip all reuse their buffers and state.

mod support;

use support::allocations;
use tachymeter::http::Renderer;
use tachymeter::{Counter, Gauge, Histogram, Registry};

#[global_allocator]
static GLOBAL: support::CountingAlloc = support::CountingAlloc;

#[test]
fn warm_scrapes_do_not_allocate() {
    let r = Registry::new();
    let c = Counter::builder("api_called_total", "Calls.")
        .labels(["inner_ip"])
        .register(&r)
        .unwrap();
    c.with_label_values(&["10.0.0.1"]).inc();
    let g = Gauge::builder("cpu_usage", "CPU.").register(&r).unwrap();
    g.set(0.5);
    let h = Histogram::builder("task_time_histogram", "Task time.")
        .buckets([1.0, 2.0, 3.0, 4.0, 5.0])
        .unwrap()
        .register(&r)
        .unwrap();
    h.observe(2.0);
    let accept = Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5");
    let mut renderer = Renderer::new();
    let cases = [
        (None, None, None),
        (accept, Some("gzip"), None),
        (
            accept,
            Some("gzip"),
            Some("name[]=cpu_usage&name%5B%5D=api_called_total"),
        ),
        (None, None, Some("name[]=task_time_histogram")),
    ];
    let cold = allocations();
    renderer.render(&r, None, None, None).unwrap();
    assert!(
        allocations() > cold,
        "the counter must see the cold render allocate"
    );
    for (a, e, q) in cases {
        for _ in 0..3 {
            renderer.render(&r, a, e, q).unwrap();
        }
    }
    for (a, e, q) in cases {
        g.set(0.75); // values change between scrapes; sizes stay alike
        let before = allocations();
        let len = renderer.render(&r, a, e, q).unwrap().body.len();
        assert_eq!(allocations() - before, 0, "{a:?} {e:?} {q:?}");
        assert!(len > 0);
    }
}
