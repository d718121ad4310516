//! Module implementing the TLS configuration of the scrape server (feature `server-tls`).

use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{crypto, ServerConfig};

use crate::http::ServeError;

/// `config` with ALPN set to HTTP/1.1, the only protocol the server speaks.
pub(super) fn with_alpn(config: Arc<ServerConfig>) -> Arc<ServerConfig> {
    let mut c = Arc::unwrap_or_clone(config);
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(c)
}

fn tls_err(what: &str, e: impl std::fmt::Display) -> ServeError {
    ServeError::Tls(Arc::new(std::io::Error::other(format!("{what}: {e}"))))
}

/// A server configuration from a PEM certificate chain and private key.
pub(super) fn config_from_pem(chain: &[u8], key: &[u8]) -> Result<Arc<ServerConfig>, ServeError> {
    let certs = CertificateDer::pem_slice_iter(chain)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err("cannot read the certificate chain", e))?;
    if certs.is_empty() {
        return Err(tls_err(
            "cannot read the certificate chain",
            "no CERTIFICATE block in the PEM",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| tls_err("cannot read the private key", e))?;
    let config = ServerConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("no usable TLS version", e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_err("certificate and key do not make a usable pair", e))?;
    Ok(Arc::new(config))
}
