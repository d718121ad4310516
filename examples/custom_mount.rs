//! Mounts the plain [`tachymeter::http::Renderer`] in an HTTP server of your own: here a bare
//! `tiny_http` server that also serves other routes. The same three inputs (the `Accept`
//! and `Accept-Encoding` headers and the query string) map onto any framework: in axum,
//! a handler reads them from `HeaderMap` and `RawQuery` and returns
//! `(StatusCode, [(CONTENT_TYPE, ..), ..], body)`.
//!
//! ```text
//! cargo run --release --example custom_mount [-- --addr 127.0.0.1:8081] [--requests N]
//! curl -H 'Accept: application/openmetrics-text' http://127.0.0.1:8081/internal/metrics
//! ```

use tachymeter::http::Renderer;
use tachymeter::{Counter, Registry};
use tiny_http::{Header, Response, Server};

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
    let server = Server::http(&addr)?;
    println!("app on http://{addr}/, metrics on http://{addr}/internal/metrics");

    // One renderer per worker: scrapes reuse its buffers.
    let mut renderer = Renderer::new();
    for request in server
        .incoming_requests()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
    {
        let url = request.url().to_owned();
        let (path, query) = url
            .split_once('?')
            .map_or((url.as_str(), None), |(p, q)| (p, Some(q)));
        let header = |name: &'static str| {
            request
                .headers()
                .iter()
                .find(|h| h.field.equiv(name))
                .map(|h| h.value.to_string())
        };
        let response = match path {
            "/internal/metrics" => {
                let (accept, encoding) = (header("Accept"), header("Accept-Encoding"));
                match renderer.render(&registry, accept.as_deref(), encoding.as_deref(), query) {
                    Ok(r) => {
                        let mut resp = Response::from_data(r.body.to_vec()).with_header(
                            Header::from_bytes("Content-Type", r.content_type).unwrap(),
                        );
                        if let Some(enc) = r.content_encoding {
                            resp.add_header(Header::from_bytes("Content-Encoding", enc).unwrap());
                        }
                        resp
                    }
                    Err(e) => Response::from_string(e.to_string()).with_status_code(e.status()),
                }
            }
            "/" => {
                requests.with_label_values(&["/"]).inc();
                Response::from_string("hello\n")
            }
            _ => Response::from_string("not found\n").with_status_code(404),
        };
        let _ = request.respond(response);
    }
    Ok(())
}
