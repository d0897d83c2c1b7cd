//! The mediator's own identity: its DID, DID document and private keys, kept in the data folder
//! as a wallet file (`didcomm_edge::Wallet`, mode 0600) and created on first start.

use std::io::Write;
use std::path::{Path, PathBuf};

use didcomm_edge::crypto::multikey;
use didcomm_edge::did::VerificationMethod;
use didcomm_edge::did::VerificationRelationship;
use didcomm_edge::{DidDocument, KeyPair, KeyType, Secret, Wallet};

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

/// Create the keys and DID document of a new mediator identity, advertising `endpoint`.
///
/// **This is where did:peer:2 generation plugs in** (issue 3: "a new did:peer:2 (Ed25519 +
/// X25519, DIDComm service)"): replace the body with that call, passing `endpoint` as the
/// service URI, and return its wallet. Until then the mediator uses a `did:key` built from a
/// fresh Ed25519 key, with the X25519 key derived from it for key agreement (the standard
/// did:key document shape), which needs no resolver beyond did:key. The rest of the mediator
/// only assumes that the wallet's first document is the mediator's DID.
pub fn new_mediator_identity(endpoint: &str) -> Result<Wallet> {
    let _ = endpoint; // did:key has no services; did:peer:2 will carry the endpoint.
    let signing = KeyPair::generate(KeyType::Ed25519)?;
    let agreement = signing.ed25519_to_x25519()?;
    let ed_mb = multikey::public_key_to_multibase(signing.public());
    let x_mb = multikey::public_key_to_multibase(agreement.public());
    let did = format!("did:key:{ed_mb}");
    let ed_id = format!("{did}#{ed_mb}");
    let x_id = format!("{did}#{x_mb}");
    let mut doc = DidDocument::new(did.clone());
    doc.verification_method = vec![
        VerificationMethod::multikey(ed_id.clone(), did.clone(), signing.public()),
        VerificationMethod::multikey(x_id.clone(), did.clone(), agreement.public()),
    ];
    doc.authentication = vec![VerificationRelationship::Reference(ed_id.clone())];
    doc.assertion_method = vec![VerificationRelationship::Reference(ed_id.clone())];
    doc.key_agreement = vec![VerificationRelationship::Reference(x_id.clone())];
    Ok(Wallet {
        did_docs: vec![doc],
        secrets: vec![
            Secret::from_key_pair_multibase(ed_id, &signing),
            Secret::from_key_pair_multibase(x_id, &agreement),
        ],
    })
}

/// Load the identity from `data_dir`, creating it on first start.
pub fn load_or_create(data_dir: &Path, endpoint: &str) -> Result<Identity> {
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
        return Ok(Identity {
            did,
            wallet,
            path,
            created: false,
        });
    }
    let wallet = new_mediator_identity(endpoint)?;
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

/// Write a wallet file atomically with mode 0600 (temporary file, fsync, rename, fsync folder).
pub fn save_wallet(path: &Path, wallet: &Wallet) -> Result<()> {
    let text = wallet.to_json_pretty()?;
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .map_err(|e| Error::io(tmp.display(), &e))?;
    #[cfg(unix)]
    {
        // The mode above only applies when the file is created: enforce it either way.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(tmp.display(), &e))?;
    }
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(tmp.display(), &e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path.display(), &e))?;
    if let Some(dir) = path.parent() {
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}
