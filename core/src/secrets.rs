//! Secrets (private keys) as a host-implementable store, with an in-memory implementation.
//!
//! A phone keeps its keys in its keystore and implements [`SecretsResolver`] over it; tests and
//! servers can use [`InMemorySecrets`].

use crate::prelude::*;

use alloc::collections::BTreeMap;
use core::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crypto::{jwk, multikey, KeyPair};
use crate::error::{Error, Result};
use crate::MaybeSendSync;

/// A private key with its key id, in the wallet-file form
/// `{"kid", "type", "privateKeyJwk" | "privateKeyMultibase"}`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Secret {
    /// The DID URL of the verification method this secret belongs to.
    #[serde(alias = "id")]
    pub kid: String,
    /// Verification method type (`JsonWebKey2020`, `Multikey`, ...), informational.
    #[serde(rename = "type", default)]
    pub type_: String,
    /// The key material.
    #[serde(flatten)]
    pub material: SecretMaterial,
}

/// How a secret's key material is written.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub enum SecretMaterial {
    /// A private JWK (with `d`).
    #[serde(rename = "privateKeyJwk")]
    Jwk(Value),
    /// A private Multikey (multicodec-prefixed secret, base58btc).
    #[serde(rename = "privateKeyMultibase")]
    Multibase(String),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}, {}, material redacted)", self.kid, self.type_)
    }
}

impl fmt::Debug for SecretMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretMaterial(redacted)")
    }
}

impl Secret {
    /// A secret for `kid` from a key pair, written as a private JWK.
    pub fn from_key_pair_jwk(kid: impl Into<String>, pair: &KeyPair) -> Secret {
        Secret {
            kid: kid.into(),
            type_: "JsonWebKey2020".into(),
            material: SecretMaterial::Jwk(jwk::key_pair_to_jwk(pair)),
        }
    }

    /// A secret for `kid` from a key pair, written as a private Multikey.
    pub fn from_key_pair_multibase(kid: impl Into<String>, pair: &KeyPair) -> Secret {
        Secret {
            kid: kid.into(),
            type_: "Multikey".into(),
            material: SecretMaterial::Multibase(multikey::key_pair_to_multibase(pair)),
        }
    }

    /// Parse the key material.
    pub fn key_pair(&self) -> Result<KeyPair> {
        match &self.material {
            SecretMaterial::Jwk(value) => jwk::key_pair_from_jwk(value),
            SecretMaterial::Multibase(value) => multikey::key_pair_from_multibase(value),
        }
        .map_err(|e| Error::new(e.kind(), format!("secret {}: {}", self.kid, e.reason())))
    }
}

/// Gives access to the private keys of the local identities.
#[cfg_attr(not(target_arch = "wasm32"), async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait(?Send))]
pub trait SecretsResolver: MaybeSendSync {
    /// The secret for `kid`, if held.
    async fn get_secret(&self, kid: &str) -> Result<Option<Secret>>;

    /// Which of `kids` are held (order preserved).
    async fn find_secrets(&self, kids: &[String]) -> Result<Vec<String>>;
}

/// Secrets kept in memory.
#[derive(Debug, Default, Clone)]
pub struct InMemorySecrets {
    secrets: BTreeMap<String, Secret>,
}

impl InMemorySecrets {
    /// A store holding exactly `secrets`.
    pub fn new(secrets: impl IntoIterator<Item = Secret>) -> Self {
        Self {
            secrets: secrets.into_iter().map(|s| (s.kid.clone(), s)).collect(),
        }
    }

    /// Add or replace a secret.
    pub fn insert(&mut self, secret: Secret) {
        self.secrets.insert(secret.kid.clone(), secret);
    }

    /// Remove a secret.
    pub fn remove(&mut self, kid: &str) -> Option<Secret> {
        self.secrets.remove(kid)
    }
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait(?Send))]
impl SecretsResolver for InMemorySecrets {
    async fn get_secret(&self, kid: &str) -> Result<Option<Secret>> {
        Ok(self.secrets.get(kid).cloned())
    }

    async fn find_secrets(&self, kids: &[String]) -> Result<Vec<String>> {
        Ok(kids
            .iter()
            .filter(|k| self.secrets.contains_key(k.as_str()))
            .cloned()
            .collect())
    }
}
