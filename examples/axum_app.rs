//! An axum app measured by tachymeter: every request lands in
//! `http_server_request_duration_seconds{method,route,status}` and
//! `http_server_active_requests{method,route}`, and `/metrics` serves the registry.
//!
//! ```sh
//! cargo run --example axum_app --features axum -- --addr 127.0.0.1:3000
//! curl http://127.0.0.1:3000/users/7
//! curl http://127.0.0.1:3000/metrics
//! ```
//!
//! Routes: `/`, `/users/{id}`, `/slow` (answers after 2 s) and `/metrics` (not measured).
//! Prints `listening on http://ADDR` once bound (`--addr 127.0.0.1:0` picks a free port).

use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use tachymeter::integrations::{axum::metrics_route, HttpMetrics};
use tachymeter::Registry;

fn addr_arg() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:3000".to_owned();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs HOST:PORT")?,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: axum_app [--addr HOST:PORT]"
                ))
            }
        }
    }
    Ok(addr)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = addr_arg()?;
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .exclude_path("/metrics")
        .build()?;

    let app = Router::new()
        .route("/", get(|| async { "hello\n" }))
        .route(
            "/users/{id}",
            get(|Path(id): Path<u64>| async move { format!("user {id}\n") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                "slow\n"
            }),
        )
        .route("/metrics", metrics_route(&registry))
        // After the routes: the layer then sees `MatchedPath` and wraps the 404 fallback.
        .layer(metrics.layer());

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
