//! Mounts the plain [`tachymeter::http::Renderer`] in an HTTP server of your own: here a bare
//! hyper 1.x server (on tokio) that also serves other routes. The same three inputs (the
//! `Accept` and `Accept-Encoding` headers and the query string) map onto any framework: in
//! axum, a handler reads them from `HeaderMap` and `RawQuery` and returns
//! `(StatusCode, [(CONTENT_TYPE, ..), ..], body)`.
//!
//! ```text
//! cargo run --release --example custom_mount [-- --addr 127.0.0.1:8081] [--requests N]
//! curl -H 'Accept: application/openmetrics-text' http://127.0.0.1:8081/internal/metrics
//! ```

use std::cell::RefCell;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tachymeter::http::Renderer;
use tachymeter::{Counter, Family, Registry};

thread_local! {
    // One renderer per thread (this example runs one): scrapes reuse its buffers.
    static RENDERER: RefCell<Renderer> = RefCell::new(Renderer::new());
}

fn metrics(registry: &Registry, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let header = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    RENDERER.with(|r| {
        let mut r = r.borrow_mut();
        match r.render(
            registry,
            header(ACCEPT),
            header(ACCEPT_ENCODING),
            req.uri().query(),
        ) {
            Ok(out) => {
                let mut resp = Response::new(Full::new(Bytes::copy_from_slice(out.body)));
                let h = resp.headers_mut();
                h.insert(CONTENT_TYPE, HeaderValue::from_static(out.content_type));
                h.insert(VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
                if let Some(enc) = out.content_encoding {
                    h.insert(CONTENT_ENCODING, HeaderValue::from_static(enc));
                }
                resp
            }
            Err(e) => {
                let mut resp = Response::new(Full::new(Bytes::from(e.to_string())));
                *resp.status_mut() =
                    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                resp
            }
        }
    })
}

fn route(
    registry: &Registry,
    requests: &Family<Counter>,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    match req.uri().path() {
        "/internal/metrics" => metrics(registry, req),
        "/" => {
            requests.with_label_values(&["/"]).inc();
            Response::new(Full::new(Bytes::from_static(b"hello\n")))
        }
        _ => {
            let mut resp = Response::new(Full::new(Bytes::from_static(b"not found\n")));
            *resp.status_mut() = StatusCode::NOT_FOUND;
            resp
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut addr = "127.0.0.1:8081".to_owned();
    let mut limit = u64::MAX;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--addr", Some(v)) => addr = v,
            ("--requests", Some(v)) => limit = v.parse()?,
            _ => return Err("usage: custom_mount [--addr HOST:PORT] [--requests N]".into()),
        }
    }

    let registry = Registry::new();
    let requests = Counter::builder("app_requests_total", "Requests served by the app.")
        .labels(["route"])
        .register(&registry)?;
    let state = Arc::new((registry, requests, AtomicU64::new(0)));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("app on http://{addr}/, metrics on http://{addr}/internal/metrics");
        let done = Arc::new(tokio::sync::Notify::new());
        loop {
            let (tcp, _) = tokio::select! {
                r = listener.accept() => r?,
                () = done.notified() => return Ok(()),
            };
            let (state, done) = (state.clone(), done.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let (registry, requests, served) = &*state;
                    let resp = route(registry, requests, &req);
                    // Relaxed: a request count for --requests, no other data depends on it.
                    if served.fetch_add(1, Ordering::Relaxed) + 1 >= limit {
                        done.notify_one();
                    }
                    async move { Ok::<_, Infallible>(resp) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    })
}
