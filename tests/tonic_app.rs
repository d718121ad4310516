//! A real tonic gRPC server on loopback, measured by the tower layer (feature `tower`), called
//! by a real tonic client. The service is `grpc.health.v1.Health` from `tonic-health`, which
//! ships its generated code (no protoc). Shown: unary calls counted under their method with
//! their gRPC status (from the trailer, and from a trailers-only error answer), a streaming
//! `Watch` cancelled by the client leaves the in-flight gauge at 0 and is timed until it
//! ended, unknown methods share one `unmatched` series, and the layer adds no allocation to a
//! gRPC request once its series exist.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tachymeter::integrations::{HttpMetrics, Naming};
use tachymeter::Registry;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{health_check_response::ServingStatus, HealthCheckRequest};

/// Counts the allocations of the current thread only (other tests run on other threads).
struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call unchanged to the system allocator; the counter is a
// const-initialised thread-local `Cell` (no allocation to reach it; `try_with` so a thread
// being torn down is simply not counted).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above, for `dealloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CHECK: &str = "/grpc.health.v1.Health/Check";
const WATCH: &str = "/grpc.health.v1.Health/Watch";

/// A tonic server on its own runtime thread, stopped (gracefully) when dropped.
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread");
        }
    }
}

fn serve(metrics: &HttpMetrics) -> Server {
    let layer = metrics.layer().grpc_methods([CHECK, WATCH]);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let (reporter, health) = tonic_health::server::health_reporter();
            reporter
                .set_service_status("", tonic_health::ServingStatus::Serving)
                .await;
            tonic::transport::Server::builder()
                .layer(layer)
                .add_service(health)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async {
                        let _ = rx.await;
                    },
                )
                .await
                .expect("serve");
        });
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server address");
    Server {
        addr,
        stop: Some(tx),
        thread: Some(thread),
    }
}

fn text(r: &Registry) -> String {
    r.encode_to_string(Default::default())
}

/// Waits (bounded: 5 s) until the exposition contains `needle`, and returns it.
fn wait_for(r: &Registry, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let t = text(r);
        if t.contains(needle) || Instant::now() > deadline {
            return t;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn client_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn check(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

/// A raw unary call to `path`, which the server does not have (tonic answers UNIMPLEMENTED
/// in a trailers-only response).
async fn call_raw(channel: tonic::transport::Channel, path: &'static str) -> tonic::Code {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let path = http::uri::PathAndQuery::from_static(path);
    match grpc.unary(tonic::Request::new(()), path, codec).await {
        Ok(_) => tonic::Code::Ok,
        Err(s) => s.code(),
    }
}

#[test]
fn unary_calls_unknown_methods_and_a_cancelled_watch() {
    let r = Registry::builder().created_samples(false).build();
    let metrics = HttpMetrics::builder()
        .registry(&r)
        .grpc(true)
        .build()
        .unwrap();
    let server = serve(&metrics);
    let url = format!("http://{}", server.addr);
    let rt = client_rt();
    let held = Duration::from_millis(300);
    let watch_count = format!(
        "http_server_request_duration_seconds_count{{method=\"POST\",route=\"{WATCH}\",status=\"200\",grpc_status=\"1\"}} 1\n"
    );
    rt.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(url)
            .unwrap()
            .connect()
            .await
            .expect("connect");
        let mut client = HealthClient::new(channel.clone());
        for _ in 0..3 {
            let resp = client.check(check("")).await.expect("check");
            assert_eq!(resp.into_inner().status(), ServingStatus::Serving);
        }
        // An unknown service name: NOT_FOUND (5), answered trailers-only.
        for _ in 0..2 {
            let err = client.check(check("nope")).await.unwrap_err();
            assert_eq!(err.code(), tonic::Code::NotFound);
        }
        // Methods the server does not have, under paths a client invents.
        for path in [
            "/grpc.health.v1.Health/Nope",
            "/evil.Service/a1",
            "/evil.Service/a2",
        ] {
            assert_eq!(
                call_raw(channel.clone(), path).await,
                tonic::Code::Unimplemented
            );
        }
        // A Watch stream: its first message comes at once, then it stays open.
        let mut stream = client.watch(check("")).await.expect("watch").into_inner();
        let first = stream.message().await.expect("message").expect("one");
        assert_eq!(first.status(), ServingStatus::Serving);
        let t = text(&r);
        assert!(
            t.contains(&format!(
                "http_server_active_requests{{method=\"POST\",route=\"{WATCH}\"}} 1\n"
            )),
            "the open stream is in flight: {t}"
        );
        tokio::time::sleep(held).await;
        // The client cancels the call (RST_STREAM(CANCEL)) and keeps its connection: wait
        // here, so the client runtime goes on driving the connection that sends the reset.
        drop(stream);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !text(&r).contains(&watch_count) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let t = text(&r);
    assert!(
        t.contains(&watch_count),
        "Watch cancelled is CANCELLED: {t}"
    );
    for line in [
        format!("http_server_request_duration_seconds_count{{method=\"POST\",route=\"{CHECK}\",status=\"200\",grpc_status=\"0\"}} 3\n"),
        format!("http_server_request_duration_seconds_count{{method=\"POST\",route=\"{CHECK}\",status=\"200\",grpc_status=\"5\"}} 2\n"),
        "http_server_request_duration_seconds_count{method=\"POST\",route=\"unmatched\",status=\"200\",grpc_status=\"12\"} 3\n".to_owned(),
        format!("http_server_active_requests{{method=\"POST\",route=\"{WATCH}\"}} 0\n"),
        format!("http_server_active_requests{{method=\"POST\",route=\"{CHECK}\"}} 0\n"),
        "http_server_active_requests{method=\"POST\",route=\"unmatched\"} 0\n".to_owned(),
    ] {
        assert!(t.contains(&line), "missing {line:?} in\n{t}");
    }
    assert!(
        !t.contains("Nope") && !t.contains("evil"),
        "no series per raw path: {t}"
    );
    // Timed until the stream ended (its headers went out at once), not until the headers.
    let sum_prefix = format!(
        "http_server_request_duration_seconds_sum{{method=\"POST\",route=\"{WATCH}\",status=\"200\",grpc_status=\"1\"}} "
    );
    let sum: f64 = t
        .lines()
        .find_map(|l| l.strip_prefix(&sum_prefix))
        .expect("watch sum")
        .parse()
        .unwrap();
    assert!(sum >= held.as_secs_f64(), "Watch lasted {sum} s < {held:?}");
    // The client's connection closes with its runtime; then the server's graceful shutdown
    // has no connection to wait for.
    drop(rt);
    drop(server);
}

#[test]
fn semconv_names_the_label_rpc_grpc_status_code() {
    let r = Registry::builder().created_samples(false).build();
    let metrics = HttpMetrics::builder()
        .registry(&r)
        .naming(Naming::Semconv)
        .grpc(true)
        .build()
        .unwrap();
    let server = serve(&metrics);
    let url = format!("http://{}", server.addr);
    client_rt().block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(url)
            .unwrap()
            .connect()
            .await
            .expect("connect");
        let mut client = HealthClient::new(channel);
        client.check(check("")).await.expect("check");
    });
    let line = format!(
        "http_server_request_duration_seconds_count{{http_request_method=\"POST\",http_route=\"{CHECK}\",http_response_status_code=\"200\",rpc_grpc_status_code=\"0\",url_scheme=\"http\"}} 1\n"
    );
    let t = wait_for(&r, &line);
    assert!(t.contains(&line), "{t}");
    drop(server);
}

mod alloc {
    //! The layer around a gRPC-shaped service, driven by hand on this thread: a response with
    //! `content-type: application/grpc`, one data frame and a `grpc-status` trailer. Once the
    //! series exist, a request through the layer allocates exactly what the bare service does.
    use super::*;
    use core::convert::Infallible;
    use core::future::Future;
    use core::pin::Pin;
    use core::task::{Context, Poll, Waker};
    use http::{HeaderMap, HeaderValue, Request, Response};
    use http_body::{Body, Frame};
    use tower_layer::Layer as _;
    use tower_service::Service;

    /// One data frame, then the trailers.
    struct GrpcBody(u8, Option<HeaderMap>);

    impl Body for GrpcBody {
        type Data = bytes::Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<bytes::Bytes>, Infallible>>> {
            self.0 += 1;
            Poll::Ready(match self.0 {
                1 => Some(Ok(Frame::data(bytes::Bytes::from_static(b"\0\0\0\0\0")))),
                2 => self.1.take().map(|t| Ok(Frame::trailers(t))),
                _ => None,
            })
        }
    }

    #[derive(Clone)]
    struct Svc;

    impl Service<Request<http_body_util::Empty<bytes::Bytes>>> for Svc {
        type Response = Response<GrpcBody>;
        type Error = Infallible;
        type Future = core::future::Ready<Result<Response<GrpcBody>, Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Request<http_body_util::Empty<bytes::Bytes>>) -> Self::Future {
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

    /// Allocations of one request through `svc`, its body drained (the request itself is
    /// built before counting).
    fn one<S, B>(svc: &mut S) -> u64
    where
        S: Service<
            Request<http_body_util::Empty<bytes::Bytes>>,
            Response = Response<B>,
            Error = Infallible,
        >,
        B: Body,
    {
        let req = Request::post(CHECK)
            .body(http_body_util::Empty::new())
            .unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        let before = ALLOCS.with(Cell::get);
        {
            let mut fut = core::pin::pin!(svc.call(req));
            let Poll::Ready(Ok(resp)) = fut.as_mut().poll(&mut cx) else {
                panic!("ready")
            };
            let mut body = core::pin::pin!(resp.into_body());
            let mut frames = 0;
            while let Poll::Ready(Some(_)) = body.as_mut().poll_frame(&mut cx) {
                frames += 1;
                assert!(frames <= 2, "one data frame and the trailers");
            }
            assert_eq!(frames, 2, "one data frame and the trailers");
        } // the future and the body (and the layer's guard) are dropped here
        ALLOCS.with(Cell::get) - before
    }

    #[test]
    fn the_layer_adds_no_allocation_to_a_grpc_request() {
        let r = Registry::new();
        let metrics = HttpMetrics::builder()
            .registry(&r)
            .grpc(true)
            .build()
            .unwrap();
        let mut bare = Svc;
        let mut layered = metrics.layer().grpc_methods([CHECK, WATCH]).layer(Svc);
        // Warm: the first request creates the series.
        one(&mut layered);
        let base = (0..5).map(|_| one(&mut bare)).min().unwrap();
        let with = (0..5).map(|_| one(&mut layered)).max().unwrap();
        assert!(base > 0, "the bare service allocates its trailers");
        assert_eq!(
            with, base,
            "allocations per request: layered {with}, bare {base}"
        );
        let t = text(&r);
        assert!(t.contains(&format!("http_server_request_duration_seconds_count{{method=\"POST\",route=\"{CHECK}\",status=\"200\",grpc_status=\"0\"}} 6\n")), "{t}");
    }
}
