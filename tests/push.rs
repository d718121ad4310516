//! The push client against a loopback capture server: what goes on the wire (method, path,
//! headers, body) and every error path as a typed error.

mod support;

use std::time::{Duration, Instant};

use support::{Answer, CaptureServer};
use tachymeter::http::{AddressProblem, PushError, PushMethod};
use tachymeter::{Counter, Format, Pusher, Registry};

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

fn registry() -> Registry {
    let r = Registry::new();
    Counter::builder("batch_runs_total", "Batch runs.")
        .register(&r)
        .unwrap()
        .inc();
    r
}

fn pusher(server: &CaptureServer) -> Pusher {
    Pusher::new(&server.addr().to_string(), "nightly")
        .unwrap()
        .grouping_key("instance", "10.0.0.1")
        .unwrap()
        .header("X-BK-TOKEN", "s3cr3t")
        .unwrap()
        .timeout(Duration::from_secs(5))
}

#[test]
fn put_post_delete_carry_token_method_path_and_content_type() {
    let server = CaptureServer::start(vec![
        Answer::Reply(200, ""),
        Answer::Reply(200, ""),
        Answer::Reply(202, ""),
    ]);
    let r = registry();
    let p = pusher(&server);
    p.push(&r).unwrap();
    p.push_add(&r).unwrap();
    p.delete().unwrap();
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    let path = "/metrics/job/nightly/instance/10.0.0.1";
    for (req, method) in reqs.iter().zip(["PUT", "POST", "DELETE"]) {
        assert_eq!(req.method, method);
        assert_eq!(req.path, path);
        assert_eq!(req.header("X-BK-TOKEN"), Some("s3cr3t"), "{method}");
    }
    for req in &reqs[..2] {
        assert_eq!(req.header("Content-Type"), Some(TEXT));
        assert_eq!(req.text(), r.encode_to_string(Format::Text));
    }
    assert_eq!(reqs[2].header("Content-Type"), None);
    assert!(reqs[2].body.is_empty());
}

#[test]
fn grouping_values_are_encoded_on_the_wire() {
    let server = CaptureServer::start(vec![Answer::Reply(200, "")]);
    let p = Pusher::new(&format!("{}/", server.url()), "a/b job")
        .unwrap()
        .grouping_key("path", "/var/tmp")
        .unwrap()
        .grouping_key("space", "two words")
        .unwrap()
        .grouping_key("empty", "")
        .unwrap()
        .grouping_key("plus", "a+b")
        .unwrap()
        .grouping_key("uni", "é")
        .unwrap();
    p.push(&registry()).unwrap();
    let path = &server.requests()[0].path;
    assert_eq!(
        path,
        "/metrics/job@base64/YS9iIGpvYg==/path@base64/L3Zhci90bXA=/space/two%20words/empty@base64/=/plus/a%2Bb/uni/%C3%A9"
    );
    assert!(!path.contains('+'), "a space is never `+`");
}

#[test]
fn hook_sees_and_changes_method_url_headers_and_body() {
    let server = CaptureServer::start(vec![Answer::Reply(200, "")]);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let p = pusher(&server).request_hook(move |req| {
        s2.lock().unwrap().push((
            req.method,
            req.url.clone(),
            req.header("X-BK-TOKEN").map(str::to_owned),
        ));
        req.method = PushMethod::Post;
        req.url = req.url.replace("/metrics/", "/prefix/metrics/");
        req.set_header("X-BK-TOKEN", "rotated");
        req.headers
            .push(("X-Signature".into(), format!("len={}", req.body.len())));
        req.body.extend_from_slice(b"extra_metric 1\n");
    });
    let r = registry();
    p.push(&r).unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [(
            PushMethod::Put,
            format!("{}/metrics/job/nightly/instance/10.0.0.1", server.url()),
            Some("s3cr3t".to_owned())
        )]
    );
    let req = &server.requests()[0];
    let body = r.encode_to_string(Format::Text);
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/prefix/metrics/job/nightly/instance/10.0.0.1");
    assert_eq!(req.header("X-BK-TOKEN"), Some("rotated"));
    assert_eq!(
        req.header("X-Signature"),
        Some(format!("len={}", body.len()).as_str())
    );
    assert_eq!(req.text(), format!("{body}extra_metric 1\n"));
}

#[test]
fn hook_that_breaks_the_url_is_a_typed_error() {
    let server = CaptureServer::start(vec![Answer::Reply(200, "")]);
    let p = pusher(&server).request_hook(|req| req.url = "not a url".into());
    assert!(matches!(
        p.push(&registry()),
        Err(PushError::InvalidUrl { .. })
    ));
    let p = pusher(&server).request_hook(|req| req.set_header("X-Bad", "a\r\nb"));
    assert!(matches!(
        p.push(&registry()),
        Err(PushError::InvalidHeader { .. })
    ));
    assert!(server.requests().is_empty());
}

#[test]
fn basic_auth_and_bearer_token() {
    let server = CaptureServer::start(vec![Answer::Reply(200, "")]);
    pusher(&server)
        .basic_auth("user", "pa:ss")
        .push(&registry())
        .unwrap();
    pusher(&server).bearer_token("tok").delete().unwrap();
    let reqs = server.requests();
    assert_eq!(
        reqs[0].header("Authorization"),
        Some("Basic dXNlcjpwYTpzcw==")
    );
    assert_eq!(reqs[1].header("Authorization"), Some("Bearer tok"));
}

#[test]
fn error_status_carries_status_and_body() {
    let server = CaptureServer::start(vec![
        Answer::Reply(500, "boom: storage full\n"),
        Answer::Reply(401, "missing X-BK-TOKEN"),
    ]);
    let p = pusher(&server);
    match p.push(&registry()) {
        Err(e @ PushError::Status { .. }) => {
            assert_eq!(e.status(), Some(500));
            let PushError::Status { body, .. } = &e else {
                unreachable!()
            };
            assert_eq!(body, "boom: storage full\n");
            assert!(e.to_string().contains("500: boom: storage full"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        p.delete(),
        Err(PushError::Status { status: 401, ref body }) if body == "missing X-BK-TOKEN"
    ));
}

#[test]
fn connection_refused_is_a_transport_error_within_the_timeout() {
    let port = support::free_port(); // nothing listens there any more
    let p = Pusher::new(&format!("127.0.0.1:{port}"), "j")
        .unwrap()
        .timeout(Duration::from_secs(3));
    let start = Instant::now();
    let e = p.push(&registry()).unwrap_err();
    assert!(matches!(e, PushError::Transport { .. }), "{e:?}");
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(e.to_string().contains("cannot reach"), "{e}");
}

#[test]
fn silent_gateway_times_out_within_the_timeout() {
    let server = CaptureServer::start(vec![Answer::Silence]);
    let p = pusher(&server).timeout(Duration::from_millis(500));
    let start = Instant::now();
    let e = p.push(&registry()).unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(e, PushError::Timeout { after, .. } if after == Duration::from_millis(500)),
        "{e:?}"
    );
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn malformed_addresses_are_typed_errors() {
    for (bad, problem) in [
        ("", AddressProblem::Empty),
        ("ftp://gw:21", AddressProblem::UnsupportedScheme),
        ("gw:notaport", AddressProblem::BadPort),
        ("gw 9091", AddressProblem::BadCharacter),
        ("http://:9091", AddressProblem::BadHost),
    ] {
        match Pusher::new(bad, "j") {
            Err(PushError::InvalidAddress {
                problem: p,
                address,
            }) => {
                assert_eq!((p, address.as_str()), (problem, bad));
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[cfg(not(feature = "push-tls"))]
#[test]
fn https_without_push_tls_is_a_typed_error_naming_the_feature() {
    match Pusher::new("https://gw.example:9091", "j") {
        Err(e @ PushError::TlsNotEnabled { .. }) => {
            assert!(e.to_string().contains("`push-tls`"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // A hook that switches to https:// is caught before anything is sent.
    let server = CaptureServer::start(vec![Answer::Reply(200, "")]);
    let addr = server.addr();
    let p = pusher(&server).request_hook(move |req| {
        req.url = format!("https://{addr}/metrics/job/j");
    });
    assert!(matches!(
        p.push(&registry()),
        Err(PushError::TlsNotEnabled { ref url }) if url.starts_with("https://")
    ));
    assert!(server.requests().is_empty());
}

#[cfg(feature = "push-tls")]
#[test]
fn https_scheme_speaks_tls() {
    // The capture server speaks plain HTTP: a TLS client fails the handshake with a
    // transport error (rather than sending a plain request), which shows https:// is honoured.
    let server = CaptureServer::start(vec![Answer::Reply(200, "")]);
    let p = Pusher::new(&format!("https://{}", server.addr()), "j")
        .unwrap()
        .timeout(Duration::from_secs(3));
    let e = p.push(&registry()).unwrap_err();
    assert!(
        matches!(e, PushError::Transport { .. } | PushError::Timeout { .. }),
        "{e:?}"
    );
    assert!(server.requests().iter().all(|r| r.method != "PUT"));
}

#[test]
fn background_pusher_survives_errors_backs_off_and_pushes_on_shutdown() {
    let server = CaptureServer::start(vec![
        Answer::Reply(500, "down"),
        Answer::Reply(503, "still down"),
        Answer::Reply(200, ""),
    ]);
    let r = registry();
    let bg = pusher(&server).spawn_background(&r, Duration::from_millis(50));
    // 500 at once, 503 after 100 ms (backoff), then successes.
    let ok = support::wait_until(Duration::from_secs(10), Duration::from_millis(10), || {
        (bg.successes() >= 2).then_some(())
    });
    assert!(ok.is_some(), "{bg:?}");
    assert_eq!(bg.failures(), 2);
    assert!(matches!(
        bg.last_error(),
        Some(PushError::Status { status: 503, .. })
    ));
    let before = server.requests().len();
    bg.shutdown().unwrap();
    let reqs = server.requests();
    assert!(reqs.len() > before, "final push on shutdown");
    assert!(reqs
        .iter()
        .all(|q| q.method == "PUT" && q.header("X-BK-TOKEN") == Some("s3cr3t")));
}

#[test]
fn background_pusher_to_a_dead_gateway_keeps_going_and_reports() {
    let port = support::free_port();
    let p = Pusher::new(&format!("127.0.0.1:{port}"), "j")
        .unwrap()
        .timeout(Duration::from_secs(2));
    let bg = p.spawn_background(&registry(), Duration::from_millis(10));
    let failed = support::wait_until(Duration::from_secs(10), Duration::from_millis(5), || {
        (bg.failures() >= 3).then_some(())
    });
    assert!(failed.is_some(), "{bg:?}");
    assert_eq!(bg.successes(), 0);
    assert!(matches!(bg.last_error(), Some(PushError::Transport { .. })));
    // Dropping also stops it (after the final push, which fails too).
    let e = bg.shutdown().unwrap_err();
    assert!(matches!(e, PushError::Transport { .. }), "{e:?}");
}
