//! `ServerBuilder` options over real sockets: custom metrics path, the liveness path, basic
//! and bearer authentication, option validation; and a real Prometheus scraping a custom
//! path with basic auth (and failing with the wrong password).

mod support;

use support::{HttpResponse, Json, Peer};
use tachymeter::http::{ServeError, ServerBuilder};
use tachymeter::{Counter, Registry};

fn req(method: &str, a: std::net::SocketAddr, path: &str, h: &[(&str, &str)]) -> HttpResponse {
    support::http_request(method, &format!("http://{a}{path}"), h, b"")
        .unwrap_or_else(|e| panic!("{e}"))
}

fn registry() -> Registry {
    let r = Registry::new();
    Counter::builder("jobs_total", "Jobs done.")
        .register(&r)
        .unwrap()
        .inc_by(7);
    r
}

#[test]
fn custom_metrics_path_and_health_path() {
    let r = registry();
    let server = ServerBuilder::new(&r)
        .path("/internal/metrics")
        .unwrap()
        .health_path(Some("/healthz"))
        .unwrap()
        .bind("127.0.0.1:0")
        .unwrap();
    let a = server.local_addr();
    let m = req("GET", a, "/internal/metrics", &[]);
    assert_eq!(m.status, 200);
    assert!(m.text().contains("jobs_total 7\n"), "{}", m.text());
    let old = req("GET", a, "/metrics", &[]);
    assert_eq!(old.status, 404);
    assert!(old.text().contains("/internal/metrics"), "{}", old.text());
    let h = req("GET", a, "/healthz", &[]);
    assert_eq!((h.status, h.text().as_str()), (200, "OK\n"));
    assert_eq!(req("HEAD", a, "/healthz", &[]).status, 200);
    let post = req("POST", a, "/healthz", &[]);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert_eq!(req("GET", a, "/-/healthy", &[]).status, 404);
    server.shutdown();

    // The default liveness path, and none at all.
    let server = ServerBuilder::new(&r).bind("127.0.0.1:0").unwrap();
    assert_eq!(
        req("GET", server.local_addr(), "/-/healthy", &[]).status,
        200
    );
    server.shutdown();
    let server = ServerBuilder::new(&r)
        .health_path(None)
        .unwrap()
        .bind("127.0.0.1:0")
        .unwrap();
    assert_eq!(
        req("GET", server.local_addr(), "/-/healthy", &[]).status,
        404
    );
    server.shutdown();
}

#[test]
fn bad_options_are_typed_errors() {
    let r = registry();
    for bad in [
        "metrics",
        "",
        "/a?b",
        "/a#b",
        "/a b",
        "/caf\u{e9}",
        "/a\u{7f}",
    ] {
        match ServerBuilder::new(&r).path(bad) {
            Err(e @ ServeError::InvalidOption { option: "path", .. }) => {
                assert!(e.to_string().contains("path"), "{e}");
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    assert!(matches!(
        ServerBuilder::new(&r).path("/-/healthy"),
        Err(ServeError::InvalidOption { option: "path", .. })
    ));
    assert!(matches!(
        ServerBuilder::new(&r).health_path(Some("/metrics")),
        Err(ServeError::InvalidOption {
            option: "health_path",
            ..
        })
    ));
    assert!(matches!(
        ServerBuilder::new(&r).bind("256.0.0.1:0"),
        Err(ServeError::Bind { .. })
    ));
}

#[test]
fn basic_auth_guards_metrics_but_not_health() {
    let r = registry();
    let server = ServerBuilder::new(&r)
        .basic_auth("prom", "s3cret")
        .bind("127.0.0.1:0")
        .unwrap();
    let a = server.local_addr();
    let none = req("GET", a, "/metrics", &[]);
    assert_eq!(none.status, 401);
    assert!(none
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Basic realm=")));
    assert!(!none.text().contains("jobs_total"));
    // base64("prom:wrong") and base64("prom:s3cret")
    let wrong = req(
        "GET",
        a,
        "/metrics",
        &[("Authorization", "Basic cHJvbTp3cm9uZw==")],
    );
    assert_eq!(wrong.status, 401);
    let right = req(
        "GET",
        a,
        "/metrics",
        &[("Authorization", "Basic cHJvbTpzM2NyZXQ=")],
    );
    assert_eq!(right.status, 200);
    assert!(right.text().contains("jobs_total 7\n"));
    assert_eq!(req("GET", a, "/-/healthy", &[]).status, 200);
    server.shutdown();
}

#[test]
fn bearer_token_guards_metrics() {
    let r = registry();
    let server = ServerBuilder::new(&r)
        .bearer_token("tok-123")
        .bind("127.0.0.1:0")
        .unwrap();
    let a = server.local_addr();
    let none = req("GET", a, "/metrics", &[]);
    assert_eq!(none.status, 401);
    assert!(none
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Bearer")));
    let wrong = req("GET", a, "/metrics", &[("Authorization", "Bearer tok-124")]);
    assert_eq!(wrong.status, 401);
    let right = req("GET", a, "/metrics", &[("Authorization", "Bearer tok-123")]);
    assert_eq!(right.status, 200);
    assert!(right.text().contains("jobs_total 7\n"));
    server.shutdown();
}

#[test]
fn prometheus_scrapes_a_custom_path_with_basic_auth() {
    if !support::have(&[Peer::Prometheus]) {
        return;
    }
    let r = registry();
    let server = ServerBuilder::new(&r)
        .path("/internal/metrics")
        .unwrap()
        .basic_auth("prom", "s3cret")
        .bind("127.0.0.1:0")
        .unwrap();
    let target = support::yaml_str(&server.local_addr().to_string());
    let jobs = format!(
        "  - job_name: good\n    metrics_path: /internal/metrics\n    basic_auth:\n      \
         username: prom\n      password: s3cret\n    static_configs:\n      - targets: \
         [{target}]\n  - job_name: bad\n    metrics_path: /internal/metrics\n    basic_auth:\n      \
         username: prom\n      password: nope\n    static_configs:\n      - targets: [{target}]\n"
    );
    let prom = support::start_prometheus_jobs(&jobs, "1s", &[]);
    assert_eq!(
        support::wait_for_value(&prom, "up{job=\"good\"}").as_deref(),
        Some("1"),
        "{}",
        prom.log()
    );
    assert_eq!(
        support::wait_for_value(&prom, "up{job=\"bad\"}").as_deref(),
        Some("0"),
        "{}",
        prom.log()
    );
    let v = support::prometheus_query(&prom, "jobs_total{job=\"good\"}").unwrap();
    assert_eq!(
        v[0].at(&["value", "1"]).and_then(Json::as_str),
        Some("7"),
        "{v:?}"
    );
    server.shutdown();
}
