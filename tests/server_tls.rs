//! The scrape server over TLS (feature `server-tls`): a rustls client verifying a
//! self-signed certificate, plain HTTP on the TLS port, unusable PEM as a typed error, and a
//! real Prometheus scraping over HTTPS with a bearer token.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use support::Peer;
use tachymeter::http::{ServeError, ServerBuilder};
use tachymeter::{Counter, Registry};
use tokio_rustls::rustls;

/// A self-signed certificate for `127.0.0.1` and `localhost`, valid until 2126, made with
/// `openssl req -x509 -newkey ec ...` (see tests/fixtures/tls/README.md).
struct Cert {
    cert_pem: &'static str,
    key_pem: &'static str,
    der: rustls::pki_types::CertificateDer<'static>,
}

/// A key that belongs to no certificate here.
const OTHER_KEY: &str = include_str!("fixtures/tls/other_key.pem");

fn self_signed() -> Cert {
    use rustls::pki_types::pem::PemObject;
    let cert_pem = include_str!("fixtures/tls/cert.pem");
    Cert {
        cert_pem,
        key_pem: include_str!("fixtures/tls/key.pem"),
        der: rustls::pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap(),
    }
}

fn registry() -> Registry {
    let r = Registry::new();
    Counter::builder("tls_jobs_total", "Jobs done.")
        .register(&r)
        .unwrap()
        .inc_by(3);
    r
}

/// GET `path` over TLS trusting only `cert`: the raw response text.
fn https_get(a: SocketAddr, cert: &Cert, path: &str, extra: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(a).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    // The server closes after the answer; rustls reports a missing close_notify as an error
    // after the data, which is fine here.
    let _ = tls.read_to_end(&mut out);
    assert_eq!(
        tls.conn.alpn_protocol(),
        None,
        "no ALPN offered by this client"
    );
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn serves_https_with_a_pem_pair_and_survives_plain_http() {
    let cert = self_signed();
    let r = registry();
    let server = ServerBuilder::new(&r)
        .tls_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes())
        .unwrap()
        .bind("127.0.0.1:0")
        .unwrap();
    let a = server.local_addr();
    let resp = https_get(a, &cert, "/metrics", "");
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.contains("tls_jobs_total 3\n"), "{resp}");

    // Plain HTTP on the TLS port gets no HTTP answer, and the server carries on.
    let mut plain = TcpStream::connect(a).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = plain.read_to_end(&mut out);
    assert!(!String::from_utf8_lossy(&out).contains("tls_jobs_total"));
    let resp = https_get(a, &cert, "/-/healthy", "");
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    server.shutdown();
}

#[test]
fn unusable_pem_is_a_typed_error() {
    let cert = self_signed();
    let r = registry();
    let cases: [(&[u8], &[u8]); 3] = [
        (b"not a pem", cert.key_pem.as_bytes()),
        (cert.cert_pem.as_bytes(), b"-----BEGIN NOTHING-----\n"),
        // A key that does not belong to the certificate.
        (cert.cert_pem.as_bytes(), OTHER_KEY.as_bytes()),
    ];
    for (c, k) in cases {
        match ServerBuilder::new(&r).tls_pem(c, k) {
            Err(e @ ServeError::Tls(_)) => assert!(e.to_string().contains("TLS"), "{e}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn prometheus_scrapes_over_https_with_a_bearer_token() {
    if !support::have(&[Peer::Prometheus]) {
        return;
    }
    let cert = self_signed();
    let r = registry();
    let server = ServerBuilder::new(&r)
        .tls_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes())
        .unwrap()
        .bearer_token("tok-123")
        .bind("127.0.0.1:0")
        .unwrap();
    let dir = std::env::temp_dir().join(format!("tachymeter-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, cert.cert_pem).unwrap();
    let target = support::yaml_str(&server.local_addr().to_string());
    let ca = support::yaml_str(&ca.display().to_string());
    let jobs = format!(
        "  - job_name: tls\n    scheme: https\n    tls_config:\n      ca_file: {ca}\n    \
         authorization:\n      credentials: tok-123\n    static_configs:\n      - targets: [{target}]\n"
    );
    let prom = support::start_prometheus_jobs(&jobs, "1s", &[]);
    let value = support::wait_for_value(&prom, "tls_jobs_total{job=\"tls\"}");
    let up = support::prometheus_query(&prom, "up{job=\"tls\"}").unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(value.as_deref(), Some("3"), "up: {up:?}\n{}", prom.log());
    server.shutdown();
}
