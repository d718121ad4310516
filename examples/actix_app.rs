//! An actix-web app measured by tachymeter: every request lands in
//! `http_server_request_duration_seconds{method,route,status}` and
//! `http_server_active_requests{method,route}`, and `/metrics` serves the registry.
//!
//! ```sh
//! cargo run --example actix_app --features actix-web -- --addr 127.0.0.1:3001
//! curl http://127.0.0.1:3001/users/7
//! curl http://127.0.0.1:3001/metrics
//! ```
//!
//! Routes: `/`, `/users/{id}`, `/slow` (answers after 2 s) and `/metrics` (not measured).
//! Prints `listening on http://ADDR` once bound (`--addr 127.0.0.1:0` picks a free port).

use std::time::Duration;

use actix_web::{web, App, HttpServer};
use tachymeter::integrations::{actix::metrics_resource, HttpMetrics};
use tachymeter::Registry;

fn addr_arg() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:3001".to_owned();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs HOST:PORT")?,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: actix_app [--addr HOST:PORT]"
                ))
            }
        }
    }
    Ok(addr)
}

async fn user(id: web::Path<u64>) -> String {
    format!("user {id}\n")
}

async fn slow() -> &'static str {
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    "slow\n"
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = addr_arg()?;
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .exclude_path("/metrics")
        .build()?;

    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            App::new()
                .wrap(metrics.middleware())
                .service(metrics_resource("/metrics", &registry))
                // `web::resource(..).route(..)`, not `App::route`: a resource answers other
                // methods with 405, while `App::route`'s guard makes them 404.
                .service(web::resource("/").route(web::get().to(|| async { "hello\n" })))
                .service(web::resource("/users/{id}").route(web::get().to(user)))
                .service(web::resource("/slow").route(web::get().to(slow)))
        })
        .workers(2)
        .bind(&addr)?;
        for a in server.addrs() {
            println!("listening on http://{a}");
        }
        server.run().await
    })?;
    Ok(())
}
