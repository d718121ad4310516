//! What the gRPC status label costs the tower layer per request: a gRPC-shaped service (a
//! `content-type: application/grpc` response, one data frame and a `grpc-status` trailer),
//! driven by hand with no I/O, as `bare`, through the layer without the label, and through
//! the layer with `grpc(true)` and `grpc_methods`. Interleaved rounds (a batch of each per
//! round), so noise lands on all three alike. For BENCHMARKS.md ("gRPC status label").
//!
//! `cargo run --release --bin grpc_cost` (from benches/web).

use core::convert::Infallible;
use core::future::Future;
use core::pin::{pin, Pin};
use core::task::{Context, Poll, Waker};
use std::hint::black_box;

use axum::body::HttpBody as Body;
use axum::http::{self, HeaderMap, HeaderValue, Request, Response};
use http_body::Frame;
use tower::{Layer as _, Service};

const CHECK: &str = "/grpc.health.v1.Health/Check";

/// One data frame, then the trailers.
struct GrpcBody(u8, Option<HeaderMap>);

impl Body for GrpcBody {
    type Data = axum::body::Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<axum::body::Bytes>, Infallible>>> {
        self.0 += 1;
        Poll::Ready(match self.0 {
            1 => Some(Ok(Frame::data(axum::body::Bytes::from_static(
                b"\0\0\0\0\x02\x08\x01",
            )))),
            2 => self.1.take().map(|t| Ok(Frame::trailers(t))),
            _ => None,
        })
    }
}

#[derive(Clone)]
struct Svc;

impl Service<Request<String>> for Svc {
    type Response = Response<GrpcBody>;
    type Error = Infallible;
    type Future = core::future::Ready<Result<Response<GrpcBody>, Infallible>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: Request<String>) -> Self::Future {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        let mut r = Response::new(GrpcBody(0, Some(trailers)));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        core::future::ready(Ok(r))
    }
}

/// One request through `svc`, its body drained; returns the frames seen.
fn one<S, B>(svc: &mut S) -> usize
where
    S: Service<Request<String>, Response = Response<B>, Error = Infallible>,
    B: Body,
{
    let req = Request::post(CHECK)
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .body(String::new())
        .unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut fut = pin!(svc.call(req));
    let Poll::Ready(Ok(resp)) = fut.as_mut().poll(&mut cx) else {
        panic!("ready")
    };
    let mut body = pin!(resp.into_body());
    let mut frames = 0;
    while let Poll::Ready(Some(_)) = body.as_mut().poll_frame(&mut cx) {
        frames += 1;
    }
    frames
}

fn main() {
    use tachymeter::integrations::HttpMetrics;
    let plain_reg = tachymeter::Registry::new();
    let plain = HttpMetrics::builder().registry(&plain_reg).build().unwrap();
    let grpc_reg = tachymeter::Registry::new();
    let grpc = HttpMetrics::builder()
        .registry(&grpc_reg)
        .grpc(true)
        .build()
        .unwrap();
    let mut bare = Svc;
    let mut layer_plain = plain.layer().grpc_methods([CHECK]).layer(Svc);
    let mut layer_grpc = grpc.layer().grpc_methods([CHECK]).layer(Svc);
    const ROUNDS: usize = 300;
    const BATCH: u32 = 1000;
    let mut ns = [const { Vec::new() }; 3];
    let mut time = |i: usize, f: &mut dyn FnMut() -> usize| {
        let t = std::time::Instant::now();
        for _ in 0..BATCH {
            black_box(f());
        }
        ns[i].push(t.elapsed().as_nanos() as f64 / f64::from(BATCH));
    };
    for _ in 0..ROUNDS {
        time(0, &mut || one(&mut bare));
        time(1, &mut || one(&mut layer_plain));
        time(2, &mut || one(&mut layer_grpc));
    }
    let stat = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2])
    };
    let s: Vec<(f64, f64)> = ns.iter_mut().map(stat).collect();
    println!("interleaved, {ROUNDS} rounds x {BATCH} requests (ns/request): variant min median added(min) added(median)");
    for (i, name) in ["bare", "layer", "layer_grpc"].iter().enumerate() {
        println!(
            "  {name:12} {:7.0} {:7.0} {:7.0} {:7.0}",
            s[i].0,
            s[i].1,
            s[i].0 - s[0].0,
            s[i].1 - s[0].1
        );
    }
    println!(
        "  gRPC label's own cost (layer_grpc - layer): {:.0} ns (min), {:.0} ns (median)",
        s[2].0 - s[1].0,
        s[2].1 - s[1].1
    );
    let t = grpc_reg.encode_to_string(Default::default());
    assert!(
        t.contains("route=\"/grpc.health.v1.Health/Check\",status=\"200\",grpc_status=\"0\"}"),
        "{t}"
    );
}
