//! Prints a backtrace for every allocation of one warm request through the tachymeter layer
//! (diagnostics for BENCHMARKS.md: which allocations are axum's and which are the layer's).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use tower::Service;

thread_local! {
    static TRACE: Cell<bool> = const { Cell::new(false) };
}

struct Tracing;

// SAFETY: forwards every call unchanged to the system allocator; the flag is a
// const-initialised thread-local `Cell`, cleared while a backtrace is taken (which allocates).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Tracing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if TRACE.try_with(|t| t.replace(false)).unwrap_or(false) {
            eprintln!(
                "--- alloc {} bytes\n{}",
                layout.size(),
                std::backtrace::Backtrace::force_capture()
            );
            let _ = TRACE.try_with(|t| t.set(true));
        }
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above, for `dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Tracing = Tracing;

fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn request(app: &mut Router) -> usize {
    let req = Request::get("/users/1").body(Body::empty()).unwrap();
    let resp = ready(app.call(req)).unwrap();
    ready(resp.into_body().collect()).unwrap().to_bytes().len()
}

fn main() {
    let registry = tachymeter::Registry::new();
    let metrics = tachymeter::integrations::HttpMetrics::new(&registry).unwrap();
    let which = std::env::args().nth(1).unwrap_or_default();
    let mut app = Router::new().route("/users/{id}", get(|| async { "hello" }));
    if which != "bare" {
        app = app.layer(metrics.layer());
    }
    let mut app: Router = app.with_state(());
    {}
    for _ in 0..10 {
        request(&mut app);
    }
    TRACE.with(|t| t.set(true));
    request(&mut app);
    TRACE.with(|t| t.set(false));
}
