//! Once warm, answering a scrape through a [`Renderer`] allocates nothing: encoding, the
//! `name[]` filter and gzip all reuse their buffers and state.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tachymeter::http::Renderer;
use tachymeter::{Counter, Gauge, Histogram, Registry};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Counts the allocations made by the current thread (other test threads do not disturb it).
struct Counting;

// SAFETY: forwards every call unchanged to the system allocator; the counter is a
// thread-local `Cell` (const-initialised, so touching it does not allocate).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above, for `dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: as above, for `realloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

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
