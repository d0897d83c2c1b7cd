//! New identities (fresh keys, their DID, document and secrets) and the wallet: documents and
//! secrets kept together, the simple way to hold local identities and known peers.

use std::sync::Arc;

use didcomm_edge::identity::{self as core_identity, IdentityMethod as CoreMethod};
use didcomm_edge::KeyType as CoreKeyType;

use crate::engine::{Config, DidComm};
use crate::error::Result;
use crate::host::{
    parse_document, parse_secret, InMemoryDidResolver, InMemorySecretsStore, ResolverChain,
};
use crate::json::to_json;

/// Which DID method a new identity uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum IdentityMethod {
    /// `did:peer:2`: an Ed25519 signing key, an X25519 key agreement key, and the service if any.
    Peer2,
    /// Long form `did:peer:4` with the same keys and service.
    Peer4,
    /// `did:key` for an Ed25519 key (key agreement through its derived X25519 key); no service.
    Key,
}

impl From<IdentityMethod> for CoreMethod {
    fn from(value: IdentityMethod) -> Self {
        match value {
            IdentityMethod::Peer2 => CoreMethod::Peer2,
            IdentityMethod::Peer4 => CoreMethod::Peer4,
            IdentityMethod::Key => CoreMethod::Key,
        }
    }
}

/// Key types for `generate_did_key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum KeyType {
    /// Ed25519 (EdDSA signatures; key agreement through the derived X25519 key).
    Ed25519,
    /// X25519 (key agreement only).
    X25519,
    /// NIST P-256 (ES256 and key agreement).
    P256,
    /// NIST P-384 (key agreement).
    P384,
    /// NIST P-521 (key agreement).
    P521,
    /// secp256k1 (ES256K and key agreement).
    Secp256k1,
}

impl From<KeyType> for CoreKeyType {
    fn from(value: KeyType) -> Self {
        match value {
            KeyType::Ed25519 => CoreKeyType::Ed25519,
            KeyType::X25519 => CoreKeyType::X25519,
            KeyType::P256 => CoreKeyType::P256,
            KeyType::P384 => CoreKeyType::P384,
            KeyType::P521 => CoreKeyType::P521,
            KeyType::Secp256k1 => CoreKeyType::Secp256k1,
        }
    }
}

/// A DIDComm v2 messaging service to publish in a new DID.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DidCommService {
    /// Transport URI (`https://...`, `wss://...`) or the DID of a mediator.
    pub uri: String,
    /// Routing keys (DID URLs of the mediators' keys), outermost mediator last.
    #[uniffi(default)]
    pub routing_keys: Vec<String>,
    /// Accepted profiles (empty: `didcomm/v2`).
    #[uniffi(default)]
    pub accept: Vec<String>,
}

/// A generated identity: its DID, DID document and private keys.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Identity {
    /// The DID.
    pub did: String,
    /// Its DID document, JSON text.
    pub document: String,
    /// Its secrets, JSON text each (keep them in the keystore).
    pub secrets: Vec<String>,
}

impl TryFrom<&core_identity::Identity> for Identity {
    type Error = crate::error::DidCommError;

    fn try_from(identity: &core_identity::Identity) -> Result<Self> {
        Ok(Identity {
            did: identity.did.clone(),
            document: to_json(&identity.document, "a DID document")?,
            secrets: identity
                .secrets
                .iter()
                .map(|s| to_json(s, "a secret"))
                .collect::<Result<_>>()?,
        })
    }
}

impl Identity {
    fn to_core(&self) -> Result<core_identity::Identity> {
        Ok(core_identity::Identity {
            did: self.did.clone(),
            document: parse_document(&self.document, "the identity's document")?,
            secrets: self
                .secrets
                .iter()
                .map(|s| parse_secret(s))
                .collect::<Result<_>>()?,
        })
    }
}

/// A new identity with fresh keys. `service` (did:peer only) is where peers send messages: a
/// transport URI, or a mediator's DID.
#[uniffi::export(default(service = None))]
pub fn generate_identity(
    method: IdentityMethod,
    service: Option<DidCommService>,
) -> Result<Identity> {
    let service = service.map(|s| {
        let mut core = core_identity::DidCommService::new(s.uri).with_routing_keys(s.routing_keys);
        if !s.accept.is_empty() {
            core.accept = s.accept;
        }
        core
    });
    let identity = core_identity::Identity::generate(method.into(), service.as_ref())?;
    Identity::try_from(&identity)
}

/// A `did:key` identity for a fresh key of `key_type`.
#[uniffi::export]
pub fn generate_did_key(key_type: KeyType) -> Result<Identity> {
    Identity::try_from(&core_identity::Identity::did_key(key_type.into())?)
}

/// DID documents and secrets kept together (the CLI's and the test vectors' wallet file:
/// `{"did_docs": [...], "secrets": [...]}`), backed by live in-memory stores.
#[derive(Debug, uniffi::Object)]
pub struct Wallet {
    resolver: Arc<InMemoryDidResolver>,
    secrets: Arc<InMemorySecretsStore>,
}

#[uniffi::export]
impl Wallet {
    /// A wallet read from a wallet file (nothing: an empty wallet). Every key is checked now.
    #[uniffi::constructor(default(json = None))]
    pub fn new(json: Option<String>) -> Result<Arc<Self>> {
        let wallet = match json {
            Some(text) => didcomm_edge::Wallet::from_json(&text)?,
            None => didcomm_edge::Wallet::default(),
        };
        for secret in &wallet.secrets {
            secret.key_pair()?;
        }
        Ok(Arc::new(Wallet {
            resolver: Arc::new(InMemoryDidResolver::from_documents(wallet.did_docs)),
            secrets: Arc::new(InMemorySecretsStore::from_secrets(wallet.secrets)),
        }))
    }

    /// Add an identity's document and secrets (a did:peer:4 brings its short form too).
    pub fn add_identity(&self, identity: Identity) -> Result<()> {
        let wallet = identity.to_core()?.to_wallet()?;
        for doc in wallet.did_docs {
            self.resolver.insert(doc);
        }
        for secret in wallet.secrets {
            self.secrets.insert(secret);
        }
        Ok(())
    }

    /// Add or replace a DID document (a peer's, say).
    pub fn add_document(&self, document: String) -> Result<()> {
        self.resolver.add(document)
    }

    /// Add or replace a secret.
    pub fn add_secret(&self, secret: String) -> Result<()> {
        self.secrets.add(secret)
    }

    /// The wallet file, JSON text (holds private keys: store it like them).
    pub fn to_json(&self) -> Result<String> {
        let wallet = didcomm_edge::Wallet {
            did_docs: self.resolver.documents(),
            secrets: self.secrets.secrets(),
        };
        to_json(&wallet, "the wallet")
    }

    /// The wallet's documents, as a resolver.
    pub fn resolver(&self) -> Arc<InMemoryDidResolver> {
        Arc::clone(&self.resolver)
    }

    /// The wallet's secrets, as a store.
    pub fn secrets_store(&self) -> Arc<InMemorySecretsStore> {
        Arc::clone(&self.secrets)
    }

    /// An engine over this wallet: its documents pinned in front of the built-in DID methods
    /// (then `host` for other methods), its secrets as the store. Everything stays on the
    /// Rust side, so lookups cost no call into the host language.
    #[uniffi::method(default(config = None, host = None))]
    pub fn did_comm(
        &self,
        config: Option<Config>,
        host: Option<Arc<dyn crate::host::DidResolver>>,
    ) -> Arc<DidComm> {
        let chain = ResolverChain::over(
            Some(Arc::clone(&self.resolver) as Arc<dyn didcomm_edge::DidResolver>),
            host.map(|h| {
                Arc::new(crate::host::HostResolver(h)) as Arc<dyn didcomm_edge::DidResolver>
            }),
            true,
        );
        Arc::new(DidComm::over(
            chain.inner,
            Arc::clone(&self.secrets) as Arc<dyn didcomm_edge::SecretsResolver>,
            config,
        ))
    }
}
