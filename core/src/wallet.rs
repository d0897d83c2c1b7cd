//! The wallet file: DID documents (a static resolver) plus secrets, as the CLI and the shared
//! test vectors (`ids/`) use it:
//! `{"did_docs": [DID documents], "secrets": [{"kid", "type", "privateKeyJwk" | "privateKeyMultibase"}]}`.

use crate::prelude::*;

use serde::{Deserialize, Serialize};

use crate::did::{DidDocument, InMemoryDidResolver};
use crate::error::Result;
use crate::secrets::{InMemorySecrets, Secret};

/// DID documents and secrets kept together.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Wallet {
    /// Documents this wallet resolves without asking anyone.
    #[serde(default)]
    pub did_docs: Vec<DidDocument>,
    /// Private keys.
    #[serde(default)]
    pub secrets: Vec<Secret>,
}

impl Wallet {
    /// Parse a wallet file.
    pub fn from_json(json: &str) -> Result<Wallet> {
        serde_json::from_str(json).map_err(|e| crate::message::json_error("wallet", &e))
    }

    /// Serialize (pretty) for writing to a file.
    pub fn to_json_pretty(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|_| crate::Error::invalid_state("wallet does not serialize"))
    }

    /// A resolver over the wallet's documents.
    pub fn resolver(&self) -> InMemoryDidResolver {
        InMemoryDidResolver::new(self.did_docs.iter().cloned())
    }

    /// A secrets store over the wallet's secrets.
    pub fn secrets_store(&self) -> InMemorySecrets {
        InMemorySecrets::new(self.secrets.iter().cloned())
    }

    /// Add another wallet's documents and secrets (later entries win).
    pub fn merge(&mut self, other: Wallet) {
        self.did_docs.extend(other.did_docs);
        self.secrets.extend(other.secrets);
    }
}
