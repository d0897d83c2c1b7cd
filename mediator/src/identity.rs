//! The mediator's own identity: its DID, DID document and private keys, kept in the data folder
//! as a wallet file (`didcomm_edge::Wallet`, mode 0600) and created on first start.

use std::io::Write;
use std::path::{Path, PathBuf};

use didcomm_edge::{DidCommService, IdentityMethod, Wallet};

use crate::error::{Error, ErrorKind, Result};

/// The wallet file's name inside the data folder.
pub const WALLET_FILE: &str = "mediator-identity.json";

/// The mediator's identity, loaded from (or just written to) its wallet file.
#[derive(Clone)]
pub struct Identity {
    /// The mediator's DID.
    pub did: String,
    /// Its documents and secrets.
    pub wallet: Wallet,
    /// Where the wallet lives.
    pub path: PathBuf,
    /// Whether this start created it.
    pub created: bool,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("did", &self.did)
            .field("path", &self.path)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// Create the keys and DID document of a new mediator identity: a `did:peer:2` with an
/// Ed25519 authentication key (`#key-1`), an X25519 key agreement key (`#key-2`) and one
/// `DIDCommMessaging` service per endpoint (`#service` for the HTTP URL, `#service-1` for the
/// WebSocket URL), so that senders resolve the mediator's endpoint and keys from the DID alone.
///
/// Identities created by earlier versions (a `did:key`) keep loading: the rest of the mediator
/// only assumes that the wallet's first document is the mediator's DID.
pub fn new_mediator_identity(endpoints: &[&str]) -> Result<Wallet> {
    if endpoints.is_empty() || endpoints.iter().any(|e| e.trim().is_empty()) {
        return Err(Error::config("the mediator needs a non-empty endpoint URL"));
    }
    let services: Vec<DidCommService> = endpoints
        .iter()
        .map(|uri| DidCommService::new(*uri))
        .collect();
    let identity =
        didcomm_edge::Identity::generate_with_services(IdentityMethod::Peer2, &services)?;
    Ok(Wallet {
        did_docs: vec![identity.document],
        secrets: identity.secrets,
    })
}

/// The URIs of the `DIDCommMessaging` services of the wallet's first document.
pub fn advertised_endpoints(wallet: &Wallet) -> Vec<String> {
    wallet
        .did_docs
        .first()
        .map(|d| d.didcomm_endpoints().into_iter().map(|e| e.uri).collect())
        .unwrap_or_default()
}

/// Load the identity from `data_dir`, creating it on first start with `endpoints` (the HTTP
/// URL first, then the WebSocket URL) as its services.
pub fn load_or_create(data_dir: &Path, endpoints: &[&str]) -> Result<Identity> {
    if !data_dir.exists() {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::io(data_dir.display(), &e))?;
        // A folder the mediator creates is its own: keys and queues stay private.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io(data_dir.display(), &e))?;
        }
    }
    let path = data_dir.join(WALLET_FILE);
    if path.exists() {
        let wallet = load_wallet(&path)?;
        let did = wallet
            .did_docs
            .first()
            .map(|d| d.id.clone())
            .ok_or_else(|| Error::config(format!("{} holds no DID document", path.display())))?;
        let advertised = advertised_endpoints(&wallet);
        if let Some(first) = endpoints.first() {
            if !advertised.iter().any(|a| a == first) {
                // The DID carries its endpoints: a changed public URL needs a new identity.
                tracing::warn!(
                    did = %did,
                    advertised = ?advertised,
                    public_url = %first,
                    "the mediator's DID does not advertise the configured public URL; devices \
                     resolve its endpoint from the DID (move the identity file away to create a \
                     new DID)"
                );
            }
        }
        return Ok(Identity {
            did,
            wallet,
            path,
            created: false,
        });
    }
    let wallet = new_mediator_identity(endpoints)?;
    let did = wallet
        .did_docs
        .first()
        .map(|d| d.id.clone())
        .ok_or_else(|| Error::new(ErrorKind::Internal, "a new identity without a document"))?;
    save_wallet(&path, &wallet)?;
    Ok(Identity {
        did,
        wallet,
        path,
        created: true,
    })
}

/// Read a wallet file, refusing one that others can read (it holds private keys).
pub fn load_wallet(path: &Path) -> Result<Wallet> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| Error::io(path.display(), &e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(Error::config(format!(
                "{} is readable by group or others (mode {:o}); run chmod 600 on it",
                path.display(),
                mode & 0o777
            )));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), &e))?;
    Wallet::from_json(&text).map_err(|e| Error::from(e).context(path.display()))
}

/// Write a wallet file atomically with mode 0600: atomic-write-file writes a new temporary file
/// beside it (a random name, created exclusively with mode 0600, so no planted file or link is
/// followed, whatever the mode of the file it replaces), fsyncs it, renames it and fsyncs the
/// folder.
pub fn save_wallet(path: &Path, wallet: &Wallet) -> Result<()> {
    let text = wallet.to_json_pretty()?;
    let mut options = atomic_write_file::OpenOptions::new();
    #[cfg(unix)]
    {
        use atomic_write_file::unix::OpenOptionsExt as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600).preserve_mode(false);
    }
    let write = || -> std::io::Result<()> {
        let mut file = options.open(path)?;
        file.write_all(text.as_bytes())?;
        file.commit()
    };
    write().map_err(|e| Error::io(path.display(), &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use didcomm_edge::did::Relationship;
    use didcomm_edge::ResolvedDid;

    #[cfg(unix)]
    #[test]
    fn saving_follows_no_link_planted_where_a_temporary_file_would_go() {
        let wallet = new_mediator_identity(&["http://127.0.0.1:9", "ws://127.0.0.1:9/ws"]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mediator-identity.json");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("mediator-identity.json.tmp")).unwrap();
        save_wallet(&path, &wallet).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert!(!std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn new_identity_is_a_peer2_with_both_endpoints_and_matching_secrets() {
        let wallet = new_mediator_identity(&["http://127.0.0.1:9", "ws://127.0.0.1:9/ws"]).unwrap();
        let doc = &wallet.did_docs[0];
        assert!(doc.id.starts_with("did:peer:2."));
        assert_eq!(
            advertised_endpoints(&wallet),
            ["http://127.0.0.1:9", "ws://127.0.0.1:9/ws"]
        );
        // The document is what the built-in resolver derives from the DID.
        assert_eq!(
            doc,
            &didcomm_edge::did::methods::peer::resolve_peer2(&doc.id).unwrap()
        );
        let resolved = ResolvedDid::new(doc.clone());
        for rel in [Relationship::Authentication, Relationship::KeyAgreement] {
            let kids = resolved.kids(rel);
            assert_eq!(kids.len(), 1);
            let secret = wallet.secrets.iter().find(|s| s.kid == kids[0]).unwrap();
            assert_eq!(
                secret.key_pair().unwrap().public(),
                resolved.key(&kids[0]).unwrap()
            );
        }
        assert!(new_mediator_identity(&[]).is_err());
        assert!(new_mediator_identity(&[""]).is_err());
    }
}
