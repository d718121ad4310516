//! A real axum app on loopback, measured by the tower layer (feature `axum`): the issue's
//! request mix, a nested router, a panicking handler, a client leaving `/slow`, and the
//! `/metrics` route against the built-in server's answers. Each test serves its own app and
//! shuts it down at the end.

mod support;
mod web_common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use tachymeter::integrations::{axum::metrics_route, HttpMetrics, Naming};
use tachymeter::Registry;

struct App {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            // Graceful shutdown waits for open connections; the runtime is dropped after
            // at most the test's own bounded waits, so this join is bounded too.
            t.join().expect("server thread");
        }
    }
}

fn router(registry: &Registry, metrics: &HttpMetrics) -> Router {
    let items = Router::new().route(
        "/items/{item}",
        get(|Path(item): Path<u32>| async move { format!("item {item}\n") }),
    );
    Router::new()
        .route("/", get(|| async { "hello\n" }))
        .route(
            "/users/{id}",
            get(|Path(id): Path<u32>| async move { format!("user {id}\n") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "slow\n"
            }),
        )
        .route(
            "/panic",
            get(|| async {
                #[allow(unreachable_code)]
                {
                    panic!("handler panics on purpose (test)");
                    "never"
                }
            }),
        )
        .nest("/api", Router::new().nest("/v1", items))
        .route("/metrics", metrics_route(registry))
        .layer(metrics.layer())
}

fn serve(app: Router) -> App {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            // Bounded: a connection still open after 5 s does not hold the test.
            let _ = tokio::time::timeout(Duration::from_secs(30), server).await;
        });
        rt.shutdown_timeout(Duration::from_secs(1));
    });
    App {
        addr,
        stop: Some(tx),
        thread: Some(thread),
    }
}

fn app() -> (App, Registry) {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .exclude_path("/metrics")
        .build()
        .unwrap();
    (serve(router(&registry, &metrics)), registry)
}

#[test]
fn routes_404s_and_405s_are_counted_by_template() {
    let (app, _r) = app();
    web_common::routes_404s_and_405s(app.addr);
}

#[test]
fn nested_router_template_is_recorded_in_full() {
    let (app, _r) = app();
    web_common::nested_template_in_full(app.addr);
}

#[test]
fn a_client_leaving_slow_gives_the_gauge_back() {
    let (app, _r) = app();
    web_common::disconnect_releases_the_gauge(app.addr, true);
}

#[test]
fn a_panicking_handler_is_a_500_and_gives_the_gauge_back() {
    let (app, _r) = app();
    web_common::panic_is_a_500(app.addr);
}

#[test]
fn metrics_route_answers_like_the_builtin_server() {
    let (app, registry) = app();
    web_common::endpoint_matches_the_builtin_server(app.addr, &registry);
}

/// A layer added to the inner router before `nest` still records the full template (axum
/// flattens nested routers and sets `MatchedPath` to the whole path).
#[test]
fn layer_on_the_inner_router_still_sees_the_full_template() {
    let registry = Registry::new();
    let metrics = HttpMetrics::new(&registry).unwrap();
    let inner = Router::new()
        .route("/items/{item}", get(|| async { "item\n" }))
        .layer(metrics.layer());
    let app = serve(
        Router::new()
            .nest("/api/v1", inner)
            .route("/metrics", metrics_route(&registry)),
    );
    assert_eq!(web_common::get(app.addr, "/api/v1/items/7").status, 200);
    let body = web_common::wait_for(app.addr, "the nested request", |b| {
        b.contains(
            "http_server_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/items/{item}\",status=\"200\"} 1\n",
        )
    });
    assert!(!body.contains("/items/7"), "{body}");
}

/// Semantic-convention naming, constant and custom labels, body sizes and exemplars, end to
/// end.
#[test]
fn options_semconv_labels_sizes_and_exemplars() {
    let registry = Registry::builder().created_samples(false).build();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .prefix("shop")
        .unwrap()
        .naming(Naming::Semconv)
        .const_label("region", "eu")
        .unwrap()
        .custom_label("plan", ["free", "pro"], |req| match req.header("x-plan") {
            Some("pro") => Some("pro"),
            Some("free") => Some("free"),
            Some(_) => Some("enterprise"), // not allowed: becomes "other"
            None => None,
        })
        .unwrap()
        .body_sizes(true)
        .exemplar(|req| req.traceparent_trace_id())
        .exclude_path("/metrics")
        .build()
        .unwrap();
    let app = serve(router(&registry, &metrics));
    let url = format!("http://{}/users/1", app.addr);
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r =
        support::http_request("GET", &url, &[("x-plan", "pro"), ("traceparent", tp)], b"").unwrap();
    assert_eq!(r.status, 200);
    let r = support::http_request("GET", &url, &[("x-plan", "gold")], b"").unwrap();
    assert_eq!(r.status, 200);
    let r = support::http_request("POST", &url, &[], b"12345").unwrap();
    assert_eq!(r.status, 405);

    let body = web_common::wait_for(app.addr, "the 405", |b| b.contains("code=\"405\""));
    let series = "{http_request_method=\"GET\",http_route=\"/users/{id}\",http_response_status_code=\"200\",url_scheme=\"http\",region=\"eu\",plan=\"pro\"}";
    assert!(
        body.contains(&format!(
            "shop_http_server_request_duration_seconds_count{series} 1\n"
        )),
        "{body}"
    );
    assert!(body.contains("plan=\"other\"} 1\n"), "{body}");
    // "user 1\n" is 7 bytes.
    assert!(
        body.contains(&format!(
            "shop_http_server_response_body_size_bytes_sum{series} 7\n"
        )),
        "{body}"
    );
    assert!(
        body.contains("shop_http_server_request_body_size_bytes_sum{http_request_method=\"POST\",http_route=\"/users/{id}\",http_response_status_code=\"405\",url_scheme=\"http\",region=\"eu\",plan=\"other\"} 5\n"),
        "{body}"
    );
    assert!(body.contains("shop_http_server_active_requests{http_request_method=\"GET\",http_route=\"/users/{id}\",url_scheme=\"http\",region=\"eu\",plan=\"pro\"} 0\n"), "{body}");
    let om = registry.encode_to_string(tachymeter::Format::OpenMetrics);
    assert!(
        om.contains("# {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"}"),
        "{om}"
    );
}

/// A streaming body is measured until its last chunk: the duration includes the time the
/// body took, not just the time to the headers.
#[test]
fn duration_lasts_until_the_body_is_sent() {
    let registry = Registry::new();
    let metrics = HttpMetrics::new(&registry).unwrap();
    let app = Router::new()
        .route(
            "/stream",
            get(|| async { axum::body::Body::new(TwoChunks::default()) }),
        )
        .layer(metrics.layer());
    let app = serve(app);
    let r = web_common::get(app.addr, "/stream");
    assert_eq!(r.text(), "ab");
    let recorded = support::wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
        registry
            .encode_to_string(Default::default())
            .contains("route=\"/stream\"")
            .then_some(())
    });
    assert!(recorded.is_some(), "the stream was never recorded");
    let text = registry.encode_to_string(Default::default());
    let line = text
        .lines()
        .find(|l| {
            l.starts_with(
                "http_server_request_duration_seconds_sum{method=\"GET\",route=\"/stream\"",
            )
        })
        .unwrap_or_else(|| panic!("{text}"));
    let secs: f64 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
    assert!(secs >= 0.3, "the body took 300 ms, recorded {secs}");
}

/// A body of two frames, "a" then "b" 300 ms later.
#[derive(Default)]
struct TwoChunks {
    sent: u8,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for TwoChunks {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        use std::task::Poll;
        match self.sent {
            0 => {
                self.sent = 1;
                Poll::Ready(Some(Ok(http_body::Frame::data(bytes::Bytes::from_static(
                    b"a",
                )))))
            }
            1 => {
                let sleep = self.sleep.get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep(Duration::from_millis(300)))
                });
                match sleep.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => {
                        self.sent = 2;
                        Poll::Ready(Some(Ok(http_body::Frame::data(bytes::Bytes::from_static(
                            b"b",
                        )))))
                    }
                }
            }
            _ => Poll::Ready(None),
        }
    }
}

use std::future::Future as _;
