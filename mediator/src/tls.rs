//! TLS on the service port (rustls with ring): a certificate chain and a private key from PEM
//! files ([`Settings::tls_cert`](crate::config::Settings::tls_cert),
//! [`Settings::tls_key`](crate::config::Settings::tls_key)), reloaded without a restart.
//!
//! The server config asks a [`ReloadingCert`] for the certificate at every handshake; a reload
//! ([`ReloadingCert::reload`], on SIGHUP in the binary) reads and checks both files and swaps
//! one `Arc`. Connections already open keep the certificate they shook hands with; a reload
//! that fails (a missing file, a key that does not match the certificate) keeps the current
//! one and says why. HTTP/1.1 only (ALPN `http/1.1`), TLS 1.2 and 1.3.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use crate::error::{Error, Result};

/// Largest certificate or key file read.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Most certificates in the chain file.
const MAX_CHAIN: usize = 16;

/// The certificate and key files, and what was last loaded from them.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadingCert {
    /// Load the files (failing clearly when they cannot be read, parsed or do not match).
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<ReloadingCert> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = load_pair(&provider, cert_file, key_file)?;
        Ok(ReloadingCert {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            provider,
            current: RwLock::new(Arc::new(current)),
        })
    }

    /// Read the files again; new handshakes use what they hold from now on. On failure the
    /// current certificate stays.
    pub fn reload(&self) -> Result<()> {
        let fresh = Arc::new(load_pair(&self.provider, &self.cert_file, &self.key_file)?);
        let mut current = self.current.write().map_err(|_| {
            Error::new(
                crate::ErrorKind::Internal,
                "the certificate lock is poisoned",
            )
        })?;
        *current = fresh;
        Ok(())
    }

    /// A rustls server config that asks this resolver at every handshake.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>> {
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(|_| Error::config("no TLS protocol version available"))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|current| Arc::clone(&current))
    }
}

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path.display(), &e))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path.display(), &e))?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(Error::config(format!(
            "{}: the {what} file is larger than {MAX_PEM_BYTES} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

/// The chain and key in the files, checked to belong together.
fn load_pair(provider: &CryptoProvider, cert_file: &Path, key_file: &Path) -> Result<CertifiedKey> {
    let cert_pem = read_pem(cert_file, "certificate")?;
    let mut chain = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&cert_pem) {
        let cert = cert.map_err(|_| {
            Error::config(format!(
                "{}: not a PEM certificate chain",
                cert_file.display()
            ))
        })?;
        if chain.len() == MAX_CHAIN {
            return Err(Error::config(format!(
                "{}: more than {MAX_CHAIN} certificates",
                cert_file.display()
            )));
        }
        chain.push(cert);
    }
    if chain.is_empty() {
        return Err(Error::config(format!(
            "{}: no certificate in the file",
            cert_file.display()
        )));
    }
    // The key's bytes are never part of an error.
    let key_pem = read_pem(key_file, "key")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        Error::config(format!(
            "{}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in the file",
            key_file.display()
        ))
    })?;
    let signing = provider.key_provider.load_private_key(key).map_err(|_| {
        Error::config(format!(
            "{}: the private key's algorithm is not supported",
            key_file.display()
        ))
    })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        // A key type that cannot show its public half cannot be checked here.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(_) => Err(Error::config(format!(
            "{} does not hold the key of the first certificate in {}",
            key_file.display(),
            cert_file.display()
        ))),
    }
}
