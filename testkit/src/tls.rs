//! A certificate made for one run, so tests and the benchmark can serve and reach the mediator
//! over TLS on loopback without a CA.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use didcomm_edge_agent::transport::{HttpConnection, WsConnection};
use didcomm_edge_agent::Result;
use tokio_rustls::rustls;

/// A self-signed certificate for `localhost` and `127.0.0.1`, and a client configuration
/// that trusts it alone.
#[derive(Debug)]
pub struct SelfSignedTls {
    cert_pem: String,
    key_pem: String,
    client: Arc<rustls::ClientConfig>,
}

fn tls_error(what: &str) -> std::io::Error {
    std::io::Error::other(format!("test certificate: {what}"))
}

impl SelfSignedTls {
    /// Make the certificate and the client configuration (ring, TLS 1.2 and 1.3).
    pub fn new() -> std::io::Result<SelfSignedTls> {
        let made = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .map_err(|_| tls_error("cannot generate"))?;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(made.cert.der().clone())
            .map_err(|_| tls_error("not a root"))?;
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|_| tls_error("no protocol versions"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(SelfSignedTls {
            cert_pem: made.cert.pem(),
            key_pem: made.signing_key.serialize_pem(),
            client: Arc::new(client),
        })
    }

    /// Write `cert.pem` and `key.pem` into `dir` (for `--tls-cert` / `--tls-key`); their paths.
    pub fn write(&self, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &self.cert_pem)?;
        std::fs::write(&key, &self.key_pem)?;
        Ok((cert, key))
    }

    /// The client configuration that trusts this certificate only.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        Arc::clone(&self.client)
    }

    /// An HTTPS connection to the mediator on `addr` (loopback).
    pub async fn connect_http(&self, addr: SocketAddr) -> Result<HttpConnection> {
        HttpConnection::connect_tls(addr, &addr.ip().to_string(), self.client_config()).await
    }

    /// A WSS connection to the mediator on `addr`, at the path it advertises.
    pub async fn connect_ws(&self, addr: SocketAddr, timeout: Duration) -> Result<WsConnection> {
        let url = didcomm_edge::routing::mediator_websocket_url(&format!("https://{addr}"));
        WsConnection::connect_tls(&url, timeout, self.client_config()).await
    }
}
