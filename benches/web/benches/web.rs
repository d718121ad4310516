//! What a metrics middleware adds to one request of a hello-world axum handler, in one
//! process, same client, same run: no middleware, tachymeter's tower layer
//! (`HttpMetrics::layer`), and `axum-prometheus`'s `PrometheusMetricLayer` (the most used
//! axum metrics layer). Run with `cargo bench --bench web` in `benches/web/`, then
//! `cargo run --release --bin report` for the ratios.
//!
//! The "client" calls the router as a `tower::Service` and drains the response body, with a
//! no-op waker (every future here is ready at once): no socket, so the middleware's cost is
//! not buried under the kernel's. Before timing, each variant's allocations per request are
//! counted (thread-local counting allocator) and printed.

#[path = "../../../tests/support/counting_alloc.rs"]
mod counting_alloc;

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http_body_util::BodyExt;
use tower::Service;

#[global_allocator]
static GLOBAL: counting_alloc::CountingAlloc = counting_alloc::CountingAlloc;

/// Polls a future that never waits (no I/O here) to completion.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn hello() -> Router {
    Router::new().route("/users/{id}", get(|| async { "hello" }))
}

/// The router as `axum::serve` runs it: `with_state` turns the handlers into routes once
/// (called as a bare `Router<()>`, axum would redo that per request, for every variant).
fn serve_ready(r: Router) -> Router {
    r.with_state(())
}

/// One request through `app`, body drained; returns the body length.
fn request(app: &mut Router) -> usize {
    let req = Request::get("/users/1").body(Body::empty()).unwrap();
    let resp = ready(app.call(req)).unwrap();
    let body = ready(resp.into_body().collect()).unwrap().to_bytes();
    body.len()
}

/// One request through any service (the layer outside the router: no `Router::layer`).
fn request_any<S, B>(svc: &mut S) -> usize
where
    S: Service<Request<Body>, Response = axum::http::Response<B>>,
    S::Error: std::fmt::Debug,
    B: axum::body::HttpBody,
    B::Error: std::fmt::Debug,
{
    let req = Request::get("/users/1").body(Body::empty()).unwrap();
    let resp = ready(svc.call(req)).unwrap();
    ready(resp.into_body().collect()).unwrap().to_bytes().len()
}

fn allocations_per_request(app: &mut Router) -> f64 {
    allocations_per_request_any(app, request)
}

fn allocations_per_request_any<S>(app: &mut S, request: fn(&mut S) -> usize) -> f64 {
    for _ in 0..100 {
        request(app); // warm: families' children, per-thread caches, recorder maps
    }
    const N: u64 = 1000;
    let before = counting_alloc::allocations();
    for _ in 0..N {
        black_box(request(app));
    }
    (counting_alloc::allocations() - before) as f64 / N as f64
}

fn web(c: &mut Criterion) {
    let registry = tachymeter::Registry::new();
    let metrics = tachymeter::integrations::HttpMetrics::new(&registry).unwrap();
    // axum-prometheus spawns an upkeep task when its layer is built; the task never runs here
    // (nothing drives the runtime), which only skips its periodic histogram maintenance.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _enter = rt.enter();
    let (prom_layer, prom_handle) = axum_prometheus::PrometheusMetricLayer::pair();
    let mut variants = [
        ("bare", serve_ready(hello())),
        ("tachymeter", serve_ready(hello().layer(metrics.layer()))),
        (
            "axum_prometheus",
            serve_ready(hello().layer(prom_layer.clone())),
        ),
    ];
    // Diagnostics (allocations only): axum's cost of any `Router::layer`, and the layer with
    // the request excluded (body wrapper, no recording).
    let excluded = tachymeter::integrations::HttpMetrics::builder()
        .registry(&tachymeter::Registry::new())
        .exclude_path("/users/1")
        .build()
        .unwrap();
    let mut diagnostics = [
        (
            "identity_layer",
            serve_ready(hello().layer(tower::layer::util::Identity::new())),
        ),
        (
            "tachymeter_excluded",
            serve_ready(hello().layer(excluded.layer())),
        ),
    ];
    for (name, app) in variants.iter_mut().chain(&mut diagnostics) {
        println!(
            "allocations per request, {name}: {:.2}",
            allocations_per_request(app)
        );
    }
    // The layer around the router, as a plain tower/hyper service: nothing re-boxes its body,
    // so this shows the middleware's own allocations (no route is matched out here).
    let mut outer = tower::Layer::layer(&metrics.layer(), serve_ready(hello()));
    println!(
        "allocations per request, tachymeter_outside_router: {:.2}",
        allocations_per_request_any(&mut outer, request_any)
    );
    let mut timed = [
        ("bare", serve_ready(hello())),
        ("tachymeter", serve_ready(hello().layer(metrics.layer()))),
        (
            "axum_prometheus",
            serve_ready(hello().layer(prom_layer.clone())),
        ),
        (
            "identity_layer",
            serve_ready(hello().layer(tower::layer::util::Identity::new())),
        ),
    ];
    interleaved(&mut timed);
    let mut g = c.benchmark_group("web_hello");
    g.throughput(Throughput::Elements(1));
    for (name, app) in &mut variants {
        g.bench_function(*name, |b| b.iter(|| black_box(request(app))));
    }
    g.finish();
    // Both recorded what they were fed.
    let ours = registry.encode_to_string(Default::default());
    assert!(
        ours.contains("route=\"/users/{id}\",status=\"200\"}"),
        "{ours}"
    );
    let theirs = prom_handle.render();
    assert!(theirs.contains("/users/{id}"), "{theirs}");
}

/// The variants (`bare`, `tachymeter`, `axum_prometheus`, then diagnostics) timed in alternation (round after round, a batch of each), so noise
/// from other processes lands on all of them alike; prints per-request minimum and median
/// over the rounds, the added cost over `bare` and tachymeter's ratio to axum-prometheus.
fn interleaved(variants: &mut [(&str, Router)]) {
    const ROUNDS: usize = 300;
    const BATCH: u32 = 1000;
    let mut ns = vec![Vec::with_capacity(ROUNDS); variants.len()];
    for _ in 0..ROUNDS {
        for (i, (_, app)) in variants.iter_mut().enumerate() {
            let t = std::time::Instant::now();
            for _ in 0..BATCH {
                black_box(request(app));
            }
            ns[i].push(t.elapsed().as_nanos() as f64 / f64::from(BATCH));
        }
    }
    let stat = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2])
    };
    let s: Vec<(f64, f64)> = ns.iter_mut().map(stat).collect();
    println!("interleaved, {ROUNDS} rounds x {BATCH} requests (ns/request): variant min median added(min) added(median)");
    for (i, (name, _)) in variants.iter().enumerate() {
        println!(
            "  {name:16} {:7.0} {:7.0} {:7.0} {:7.0}",
            s[i].0,
            s[i].1,
            s[i].0 - s[0].0,
            s[i].1 - s[0].1
        );
    }
    println!(
        "  tachymeter added / axum-prometheus added: {:.2}x (min), {:.2}x (median)",
        (s[1].0 - s[0].0) / (s[2].0 - s[0].0),
        (s[1].1 - s[0].1) / (s[2].1 - s[0].1)
    );
}

criterion_group!(benches, web);
criterion_main!(benches);
