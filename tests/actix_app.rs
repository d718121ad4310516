//! A real actix-web app on loopback, measured by the middleware (feature `actix-web`): the
//! issue's request mix, nested scopes, a panicking handler, a client leaving `/slow`, and the
//! `/metrics` resource against the built-in server's answers. Each test serves its own app
//! and stops it at the end.

mod support;
mod web_common;

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use tachymeter::integrations::{actix::metrics_resource, HttpMetrics};
use tachymeter::Registry;

struct Served {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        // Not graceful: in-flight requests are dropped at once.
        let stop = self.handle.stop(false);
        actix_web::rt::System::new().block_on(stop);
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread");
        }
    }
}

async fn user(id: web::Path<u32>) -> String {
    format!("user {id}\n")
}

async fn item(item: web::Path<u32>) -> String {
    format!("item {item}\n")
}

async fn slow() -> &'static str {
    actix_web::rt::time::sleep(Duration::from_secs(2)).await;
    "slow\n"
}

async fn panics() -> &'static str {
    panic!("handler panics on purpose (test)")
}

fn serve(registry: &Registry, metrics: &HttpMetrics) -> Served {
    let (registry, metrics) = (registry.clone(), metrics.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new()
                    .wrap(metrics.middleware())
                    .service(metrics_resource("/metrics", &registry))
                    .service(web::resource("/").route(web::get().to(|| async { "hello\n" })))
                    .service(web::resource("/users/{id}").route(web::get().to(user)))
                    .service(web::resource("/slow").route(web::get().to(slow)))
                    .service(web::resource("/panic").route(web::get().to(panics)))
                    .service(
                        web::scope("/api")
                            .service(web::scope("/v1").service(
                                web::resource("/items/{item}").route(web::get().to(item)),
                            )),
                    )
            })
            .workers(2)
            .disable_signals()
            .shutdown_timeout(1)
            .bind(("127.0.0.1", 0))
            .unwrap();
            let addr = server.addrs()[0];
            let server = server.run();
            tx.send((addr, server.handle())).unwrap();
            server.await.unwrap();
        });
    });
    let (addr, handle) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("actix server started");
    Served {
        addr,
        handle,
        thread: Some(thread),
    }
}

fn app() -> (Served, Registry) {
    let registry = Registry::new();
    let metrics = HttpMetrics::builder()
        .registry(&registry)
        .exclude_path("/metrics")
        .build()
        .unwrap();
    (serve(&registry, &metrics), registry)
}

#[test]
fn routes_404s_and_405s_are_counted_by_pattern() {
    let (app, _r) = app();
    web_common::routes_404s_and_405s(app.addr);
}

#[test]
fn nested_scopes_are_recorded_in_full() {
    let (app, _r) = app();
    web_common::nested_template_in_full(app.addr);
}

#[test]
fn a_client_leaving_slow_gives_the_gauge_back() {
    let (app, _r) = app();
    web_common::disconnect_releases_the_gauge(app.addr, false);
}

#[test]
fn a_panicking_handler_is_a_500_and_gives_the_gauge_back() {
    let (app, _r) = app();
    web_common::panic_is_a_500(app.addr);
}

#[test]
fn metrics_resource_answers_like_the_builtin_server() {
    let (app, registry) = app();
    web_common::endpoint_matches_the_builtin_server(app.addr, &registry);
}
