//! `DidComm`: the core engine as an object. Every operation that may call the host (resolver,
//! secrets) comes twice: `x` is async (awaited from asyncio, coroutines, Swift tasks; the work
//! runs on a background thread) and `x_blocking` runs on the caller's thread at the core's own
//! cost. Messages cross as JSON text; options, metadata and results as records (and as JSON in
//! the low-overhead forms of `engine_json`, whose serde names are the record field names).

use std::sync::Arc;
use std::time::Duration;

use didcomm_edge::message::ParseOptions;
use didcomm_edge::{ContentEncAlg, Message};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::host::{HostSecrets, ResolverChain, SecretsStore};
use crate::json::to_json;
use crate::runtime::{block_on, off_thread};

/// Content encryption of anoncrypt envelopes (authcrypt always uses A256CBC-HS512).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, uniffi::Enum)]
pub enum ContentEncryption {
    /// AES-256-CBC with HMAC-SHA-512.
    #[default]
    #[serde(rename = "A256CBC-HS512")]
    A256CbcHs512,
    /// AES-256-GCM.
    #[serde(rename = "A256GCM")]
    A256Gcm,
    /// XChaCha20-Poly1305.
    #[serde(rename = "XC20P")]
    Xc20p,
}

impl From<ContentEncryption> for ContentEncAlg {
    fn from(value: ContentEncryption) -> Self {
        match value {
            ContentEncryption::A256CbcHs512 => ContentEncAlg::A256CbcHs512,
            ContentEncryption::A256Gcm => ContentEncAlg::A256Gcm,
            ContentEncryption::Xc20p => ContentEncAlg::Xc20P,
        }
    }
}

/// Engine tuning; the defaults suit a phone as well as a server.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Config {
    /// Packed messages longer than this many bytes are refused before parsing.
    #[uniffi(default = 4194304)]
    pub max_message_size: u64,
    /// How many resolved DID documents to keep.
    #[uniffi(default = 1024)]
    pub did_cache_capacity: u64,
    /// How long a resolved document stays cached, in seconds (nothing: the default, 600).
    /// did:key, did:peer and did:jwk documents never expire.
    #[uniffi(default)]
    pub did_cache_ttl_seconds: Option<u64>,
    /// How many parsed private keys to keep (0 disables).
    #[uniffi(default = 256)]
    pub secret_cache_capacity: u64,
    /// How many ECDH-1PU static secrets to keep (0 disables).
    #[uniffi(default = 1024)]
    pub static_secret_cache_capacity: u64,
    /// How many forwards addressed to us may be unwrapped within one unpack.
    #[uniffi(default = 4)]
    pub max_forward_unwraps: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config::from(&didcomm_edge::Config::default())
    }
}

impl From<&didcomm_edge::Config> for Config {
    fn from(c: &didcomm_edge::Config) -> Self {
        Config {
            max_message_size: c.max_message_size as u64,
            did_cache_capacity: c.did_cache_capacity as u64,
            did_cache_ttl_seconds: c.did_cache_ttl.map(|d| d.as_secs()),
            secret_cache_capacity: c.secret_cache_capacity as u64,
            static_secret_cache_capacity: c.static_secret_cache_capacity as u64,
            max_forward_unwraps: c.max_forward_unwraps as u64,
        }
    }
}

fn usize_of(value: u64) -> usize {
    // Only limits and capacities pass through here: saturating is the meaning wanted.
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// A century: longer times to live mean "until evicted" and must not overflow clock arithmetic.
const MAX_TTL_SECONDS: u64 = 100 * 365 * 24 * 3600;

impl From<&Config> for didcomm_edge::Config {
    fn from(c: &Config) -> Self {
        let defaults = didcomm_edge::Config::default();
        let ttl = match c.did_cache_ttl_seconds {
            Some(seconds) => Some(Duration::from_secs(seconds.min(MAX_TTL_SECONDS))),
            None => defaults.did_cache_ttl,
        };
        let mut config = defaults
            .with_max_message_size(usize_of(c.max_message_size))
            .with_did_cache(usize_of(c.did_cache_capacity), ttl)
            .with_key_caches(
                usize_of(c.secret_cache_capacity),
                usize_of(c.static_secret_cache_capacity),
            );
        config.max_forward_unwraps = usize_of(c.max_forward_unwraps);
        config
    }
}

/// How `pack_encrypted` encrypts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, uniffi::Record)]
#[serde(default, deny_unknown_fields)]
pub struct PackEncryptedOptions {
    /// The sender's DID or key id: authcrypt when given, anoncrypt otherwise. Must be the
    /// message's `from`.
    #[uniffi(default)]
    pub from: Option<String>,
    /// Sign the message first with this DID or key id (of the message's `from`).
    #[uniffi(default)]
    pub sign_by: Option<String>,
    /// Wrap the authcrypt envelope in an anoncrypt one, hiding the sender's key id.
    #[uniffi(default)]
    pub protect_sender: bool,
    /// Content encryption of anoncrypt envelopes (nothing: A256CBC-HS512).
    #[uniffi(default)]
    pub enc_alg_anon: Option<ContentEncryption>,
    /// Encrypt only to these key ids of the recipient (empty: every key of the chosen curve).
    #[uniffi(default)]
    pub to_kids: Vec<String>,
}

/// What `pack_encrypted` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct PackEncryptedMetadata {
    /// The authcrypt sender key id (nothing for anoncrypt).
    pub from_kid: Option<String>,
    /// The recipient key ids.
    pub to_kids: Vec<String>,
    /// The signing key id, when signed first.
    pub sign_by_kid: Option<String>,
}

/// An encrypted message and how it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct PackedEncrypted {
    /// The JWE, JSON text.
    pub packed: String,
    /// What was done.
    pub metadata: PackEncryptedMetadata,
}

/// What `pack_signed` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct PackSignedMetadata {
    /// The signing key id.
    pub sign_by_kid: String,
    /// The JWS algorithm (`EdDSA`, `ES256`, `ES256K`).
    pub sign_alg: String,
}

/// A signed message and how it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct PackedSigned {
    /// The JWS (General JSON), JSON text.
    pub packed: String,
    /// What was done.
    pub metadata: PackSignedMetadata,
}

/// How `unpack` reads and checks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, uniffi::Record)]
#[serde(default, deny_unknown_fields)]
pub struct UnpackOptions {
    /// Require the payload to decrypt with every recipient key held, not just one.
    #[uniffi(default = false)]
    pub expect_decrypt_by_all_keys: bool,
    /// Unwrap a forward whose `next` is one of our own DIDs or keys.
    #[uniffi(default = true)]
    pub unwrap_re_wrapping_forward: bool,
    /// Refuse plaintext without `body` (the DIDComm v2.0 rule).
    #[uniffi(default = false)]
    pub require_body: bool,
    /// Refuse a message encrypted to a DID its `to` does not list.
    #[uniffi(default = true)]
    pub check_recipient_in_to: bool,
    /// Refuse messages whose `expires_time` has passed (otherwise reported as `expired`).
    #[uniffi(default = false)]
    pub reject_expired: bool,
    /// The time to judge expiry against, epoch seconds (nothing: now).
    #[uniffi(default)]
    pub now: Option<u64>,
    /// Refuse a `from_prior` JWT outside its `exp` / `nbf` / `iat` (with the engine's clock
    /// skew allowance).
    #[uniffi(default = true)]
    pub check_from_prior_times: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions::from(&didcomm_edge::UnpackOptions::default())
    }
}

impl From<&didcomm_edge::UnpackOptions> for UnpackOptions {
    fn from(o: &didcomm_edge::UnpackOptions) -> Self {
        UnpackOptions {
            expect_decrypt_by_all_keys: o.expect_decrypt_by_all_keys,
            unwrap_re_wrapping_forward: o.unwrap_re_wrapping_forward,
            require_body: o.require_body,
            check_recipient_in_to: o.check_recipient_in_to,
            reject_expired: o.reject_expired,
            now: o.now,
            check_from_prior_times: o.check_from_prior_times,
        }
    }
}

impl From<&UnpackOptions> for didcomm_edge::UnpackOptions {
    fn from(o: &UnpackOptions) -> Self {
        let options = didcomm_edge::UnpackOptions::default()
            .expect_decrypt_by_all_keys(o.expect_decrypt_by_all_keys)
            .unwrap_re_wrapping_forward(o.unwrap_re_wrapping_forward)
            .require_body(o.require_body)
            .check_recipient_in_to(o.check_recipient_in_to)
            .reject_expired(o.reject_expired)
            .check_from_prior_times(o.check_from_prior_times);
        match o.now {
            Some(now) => options.now(now),
            None => options,
        }
    }
}

/// `from_prior` claims (DID rotation): `iss` the prior DID, `sub` the new one. Without `sub`
/// the claims end the relationship (its DID rotated to no DID; the message has no `from`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct FromPrior {
    /// The prior DID.
    pub iss: String,
    /// The new DID (the message's `from`); nothing when the relationship ends.
    #[uniffi(default)]
    pub sub: Option<String>,
    /// Audience.
    #[uniffi(default)]
    pub aud: Option<String>,
    /// Expiry, epoch seconds.
    #[uniffi(default)]
    pub exp: Option<u64>,
    /// Not before, epoch seconds.
    #[uniffi(default)]
    pub nbf: Option<u64>,
    /// Issued at, epoch seconds.
    #[uniffi(default)]
    pub iat: Option<u64>,
    /// JWT id.
    #[uniffi(default)]
    pub jti: Option<String>,
}

impl From<&didcomm_edge::FromPrior> for FromPrior {
    fn from(c: &didcomm_edge::FromPrior) -> Self {
        FromPrior {
            iss: c.iss.clone(),
            sub: c.sub.clone(),
            aud: c.aud.clone(),
            exp: c.exp,
            nbf: c.nbf,
            iat: c.iat,
            jti: c.jti.clone(),
        }
    }
}

impl From<&FromPrior> for didcomm_edge::FromPrior {
    fn from(c: &FromPrior) -> Self {
        let mut claims = didcomm_edge::FromPrior::ending(c.iss.clone());
        claims.sub.clone_from(&c.sub);
        claims.aud.clone_from(&c.aud);
        claims.exp = c.exp;
        claims.nbf = c.nbf;
        claims.iat = c.iat;
        claims.jti.clone_from(&c.jti);
        claims
    }
}

/// The DID whose relationship a received message ended (a verified `from_prior` without `sub`
/// on a message without `from`), or nothing. The host forgets the peer known by that DID.
#[uniffi::export]
pub fn received_ending(message: String, metadata: UnpackMetadata) -> Result<Option<String>> {
    let message = parse_message(&message)?;
    let core = didcomm_edge::UnpackMetadata {
        from_prior: metadata
            .from_prior
            .as_ref()
            .map(didcomm_edge::FromPrior::from),
        ..didcomm_edge::UnpackMetadata::default()
    };
    Ok(didcomm_edge::protocols::rotation::received_ending(
        &message, &core,
    ))
}

/// A signed `from_prior` JWT.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PackedFromPrior {
    /// The compact JWT, for the message's `from_prior` header.
    pub jwt: String,
    /// The prior DID's key that signed it.
    pub issuer_kid: String,
}

/// What unpacking found out about the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct UnpackMetadata {
    /// The message was encrypted.
    pub encrypted: bool,
    /// The sender was authenticated (authcrypt or signature).
    pub authenticated: bool,
    /// The message was signed: the sender cannot deny it.
    pub non_repudiation: bool,
    /// An anoncrypt layer hid the sender.
    pub anonymous_sender: bool,
    /// The message came wrapped in a forward addressed to us.
    pub re_wrapped_in_forward: bool,
    /// `expires_time` has passed.
    pub expired: bool,
    /// The authcrypt sender key id.
    pub encrypted_from_kid: Option<String>,
    /// The recipient key ids of the (innermost) encrypted layer.
    pub encrypted_to_kids: Option<Vec<String>>,
    /// The signer key id.
    pub sign_from: Option<String>,
    /// The key id that signed `from_prior`.
    pub from_prior_issuer_kid: Option<String>,
    /// `ECDH-1PU+A256KW/A256CBC-HS512` when authcrypted.
    pub enc_alg_auth: Option<String>,
    /// `ECDH-ES+A256KW/<enc>` when anoncrypted.
    pub enc_alg_anon: Option<String>,
    /// `EdDSA`, `ES256` or `ES256K` when signed.
    pub sign_alg: Option<String>,
    /// The signed message (JWS) itself, kept for non-repudiation.
    pub signed_message: Option<String>,
    /// The verified `from_prior` claims.
    pub from_prior: Option<FromPrior>,
}

impl From<&didcomm_edge::UnpackMetadata> for UnpackMetadata {
    fn from(m: &didcomm_edge::UnpackMetadata) -> Self {
        UnpackMetadata {
            encrypted: m.encrypted,
            authenticated: m.authenticated,
            non_repudiation: m.non_repudiation,
            anonymous_sender: m.anonymous_sender,
            re_wrapped_in_forward: m.re_wrapped_in_forward,
            expired: m.expired,
            encrypted_from_kid: m.encrypted_from_kid.clone(),
            encrypted_to_kids: m.encrypted_to_kids.clone(),
            sign_from: m.sign_from.clone(),
            from_prior_issuer_kid: m.from_prior_issuer_kid.clone(),
            enc_alg_auth: m.enc_alg_auth.map(|a| a.as_str().to_owned()),
            enc_alg_anon: m.enc_alg_anon.map(|a| a.as_str().to_owned()),
            sign_alg: m.sign_alg.map(|a| a.as_str().to_owned()),
            signed_message: m.signed_message.clone(),
            from_prior: m.from_prior.as_ref().map(FromPrior::from),
        }
    }
}

/// A received message and what protected it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Unpacked {
    /// The plaintext message, JSON text.
    pub message: String,
    /// What unpacking found out.
    pub metadata: UnpackMetadata,
}

/// Parse a plaintext message given by the caller.
pub(crate) fn parse_message(json: &str) -> Result<Message> {
    Ok(Message::from_json(json, ParseOptions::default())?)
}

/// The DIDComm v2 envelope engine over a resolver chain and a secrets store. It caches resolved
/// documents, parsed keys and ECDH-1PU shared secrets: create one per set of identities and
/// keep it.
#[derive(uniffi::Object)]
pub struct DidComm {
    pub(crate) inner: Arc<didcomm_edge::DidComm>,
}

impl std::fmt::Debug for DidComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl DidComm {
    /// An engine over core resolvers and secrets already on the Rust side.
    pub(crate) fn over(
        resolver: Arc<dyn didcomm_edge::DidResolver>,
        secrets: Arc<dyn didcomm_edge::SecretsResolver>,
        config: Option<Config>,
    ) -> DidComm {
        let config = config.as_ref().map(didcomm_edge::Config::from);
        DidComm {
            inner: Arc::new(didcomm_edge::DidComm::with_config(
                resolver,
                secrets,
                config.unwrap_or_default(),
            )),
        }
    }

    fn engine(&self) -> Arc<didcomm_edge::DidComm> {
        Arc::clone(&self.inner)
    }
}

/// The operations, written once as plain async functions over the core engine; the exported
/// methods only pick where they run.
pub(crate) mod ops {
    use super::*;

    pub(crate) async fn pack_signed(
        dc: &didcomm_edge::DidComm,
        message: &str,
        sign_by: &str,
    ) -> Result<PackedSigned> {
        pack_signed_message(dc, &parse_message(message)?, sign_by).await
    }

    /// `pack_signed` of a message already parsed (the Python extension converts `dict`s).
    pub(crate) async fn pack_signed_message(
        dc: &didcomm_edge::DidComm,
        message: &Message,
        sign_by: &str,
    ) -> Result<PackedSigned> {
        let (packed, metadata) = dc.pack_signed(message, sign_by).await?;
        Ok(PackedSigned {
            packed,
            metadata: PackSignedMetadata {
                sign_by_kid: metadata.sign_by_kid,
                sign_alg: metadata.sign_alg,
            },
        })
    }

    pub(crate) async fn pack_encrypted(
        dc: &didcomm_edge::DidComm,
        message: &str,
        to: &str,
        options: &PackEncryptedOptions,
    ) -> Result<PackedEncrypted> {
        pack_encrypted_message(dc, &parse_message(message)?, to, options).await
    }

    /// `pack_encrypted` of a message already parsed.
    pub(crate) async fn pack_encrypted_message(
        dc: &didcomm_edge::DidComm,
        message: &Message,
        to: &str,
        options: &PackEncryptedOptions,
    ) -> Result<PackedEncrypted> {
        let core_options = didcomm_edge::PackEncryptedOptions::default()
            .protect_sender(options.protect_sender)
            .enc_alg_anon(options.enc_alg_anon.unwrap_or_default().into())
            .to_kids(options.to_kids.clone());
        let (packed, metadata) = dc
            .pack_encrypted(
                message,
                to,
                options.from.as_deref(),
                options.sign_by.as_deref(),
                &core_options,
            )
            .await?;
        Ok(PackedEncrypted {
            packed,
            metadata: PackEncryptedMetadata {
                from_kid: metadata.from_kid,
                to_kids: metadata.to_kids,
                sign_by_kid: metadata.sign_by_kid,
            },
        })
    }

    pub(crate) async fn unpack(
        dc: &didcomm_edge::DidComm,
        packed: &str,
        options: &UnpackOptions,
    ) -> Result<Unpacked> {
        let (message, metadata) = dc.unpack(packed, &options.into()).await?;
        Ok(Unpacked {
            message: message.to_json()?,
            metadata: UnpackMetadata::from(&metadata),
        })
    }

    pub(crate) async fn resolve(dc: &didcomm_edge::DidComm, did: &str) -> Result<String> {
        let resolved = dc.resolve(did).await?;
        to_json(resolved.document(), "a DID document")
    }

    pub(crate) async fn pack_from_prior(
        dc: &didcomm_edge::DidComm,
        claims: &FromPrior,
        issuer_kid: Option<&str>,
    ) -> Result<PackedFromPrior> {
        let (jwt, issuer_kid) = dc
            .pack_from_prior(&didcomm_edge::FromPrior::from(claims), issuer_kid)
            .await?;
        Ok(PackedFromPrior { jwt, issuer_kid })
    }

    pub(super) async fn end_relationship(
        dc: &didcomm_edge::DidComm,
        did: &str,
        issuer_kid: Option<String>,
    ) -> Result<PackedFromPrior> {
        let mut options = didcomm_edge::protocols::rotation::RotationOptions::default();
        options.issuer_kid = issuer_kid;
        let ending = dc.end_relationship(did, &options).await?;
        Ok(PackedFromPrior {
            jwt: ending.from_prior,
            issuer_kid: ending.issuer_kid,
        })
    }
}

/// Run `op` over the engine on a background thread, awaited by the caller's executor.
macro_rules! off_thread {
    ($self:ident, |$dc:ident| $body:expr) => {{
        let $dc = $self.engine();
        off_thread(move || block_on(async move { $body.await })?).await
    }};
}

#[uniffi::export]
impl DidComm {
    /// An engine over `resolver` (built-in DID methods, pinned documents, the host's resolver)
    /// and `secrets` (the host's store or an `InMemorySecretsStore`).
    #[uniffi::constructor(default(config = None))]
    pub fn new(
        resolver: Arc<ResolverChain>,
        secrets: Arc<dyn SecretsStore>,
        config: Option<Config>,
    ) -> Arc<Self> {
        Arc::new(DidComm::over(
            Arc::clone(&resolver.inner),
            Arc::new(HostSecrets(secrets)),
            config,
        ))
    }

    /// The configuration in use.
    pub fn config(&self) -> Config {
        Config::from(self.inner.config())
    }

    /// Serialize a plaintext message after checking it (no host calls: never async).
    pub fn pack_plaintext(&self, message: String) -> Result<String> {
        Ok(self.inner.pack_plaintext(&parse_message(&message)?)?)
    }

    /// Sign a message (JWS, General JSON). `sign_by`: a DID (its first authentication key held)
    /// or one of its key ids.
    pub async fn pack_signed(&self, message: String, sign_by: String) -> Result<PackedSigned> {
        off_thread!(self, |dc| ops::pack_signed(&dc, &message, &sign_by))
    }

    /// `pack_signed` on the caller's thread.
    pub fn pack_signed_blocking(&self, message: String, sign_by: String) -> Result<PackedSigned> {
        block_on(ops::pack_signed(&self.inner, &message, &sign_by))?
    }

    /// Encrypt a message to `to` (a DID, or one of its key ids): authcrypt when
    /// `options.from` is given, anoncrypt otherwise, signed first when `options.sign_by` is.
    #[uniffi::method(default(options = None))]
    pub async fn pack_encrypted(
        &self,
        message: String,
        to: String,
        options: Option<PackEncryptedOptions>,
    ) -> Result<PackedEncrypted> {
        let options = options.unwrap_or_default();
        off_thread!(self, |dc| ops::pack_encrypted(&dc, &message, &to, &options))
    }

    /// `pack_encrypted` on the caller's thread.
    #[uniffi::method(default(options = None))]
    pub fn pack_encrypted_blocking(
        &self,
        message: String,
        to: String,
        options: Option<PackEncryptedOptions>,
    ) -> Result<PackedEncrypted> {
        let options = options.unwrap_or_default();
        block_on(ops::pack_encrypted(&self.inner, &message, &to, &options))?
    }

    /// Unpack a message of any form (plaintext, signed, anoncrypt, authcrypt, nested), verify
    /// it, and report what protected it.
    #[uniffi::method(default(options = None))]
    pub async fn unpack(&self, packed: String, options: Option<UnpackOptions>) -> Result<Unpacked> {
        let options = options.unwrap_or_default();
        off_thread!(self, |dc| ops::unpack(&dc, &packed, &options))
    }

    /// `unpack` on the caller's thread.
    #[uniffi::method(default(options = None))]
    pub fn unpack_blocking(
        &self,
        packed: String,
        options: Option<UnpackOptions>,
    ) -> Result<Unpacked> {
        let options = options.unwrap_or_default();
        block_on(ops::unpack(&self.inner, &packed, &options))?
    }

    /// The DID document of `did` (JSON text), through the engine's cache. `DidNotResolved` when
    /// the DID does not exist.
    pub async fn resolve(&self, did: String) -> Result<String> {
        off_thread!(self, |dc| ops::resolve(&dc, &did))
    }

    /// `resolve` on the caller's thread.
    pub fn resolve_blocking(&self, did: String) -> Result<String> {
        block_on(ops::resolve(&self.inner, &did))?
    }

    /// Sign `from_prior` claims with a key of the prior DID (`claims.iss`, or `issuer_kid`), for
    /// the `from_prior` header of the new DID's first messages.
    #[uniffi::method(default(issuer_kid = None))]
    pub async fn pack_from_prior(
        &self,
        claims: FromPrior,
        issuer_kid: Option<String>,
    ) -> Result<PackedFromPrior> {
        off_thread!(self, |dc| ops::pack_from_prior(
            &dc,
            &claims,
            issuer_kid.as_deref()
        ))
    }

    /// `pack_from_prior` on the caller's thread.
    #[uniffi::method(default(issuer_kid = None))]
    pub fn pack_from_prior_blocking(
        &self,
        claims: FromPrior,
        issuer_kid: Option<String>,
    ) -> Result<PackedFromPrior> {
        block_on(ops::pack_from_prior(
            &self.inner,
            &claims,
            issuer_kid.as_deref(),
        ))?
    }

    /// End the relationship that uses `did` (a DID whose authentication key we hold): the
    /// `from_prior` JWT without `sub`, signed by `did`. Put it on a message without `from` and
    /// pack that anoncrypt to the peer (authcrypt needs a `from`).
    #[uniffi::method(default(issuer_kid = None))]
    pub async fn end_relationship(
        &self,
        did: String,
        issuer_kid: Option<String>,
    ) -> Result<PackedFromPrior> {
        off_thread!(self, |dc| ops::end_relationship(&dc, &did, issuer_kid))
    }

    /// `end_relationship` on the caller's thread.
    #[uniffi::method(default(issuer_kid = None))]
    pub fn end_relationship_blocking(
        &self,
        did: String,
        issuer_kid: Option<String>,
    ) -> Result<PackedFromPrior> {
        block_on(ops::end_relationship(&self.inner, &did, issuer_kid))?
    }

    /// Drop the cached document of `did` (after learning it changed).
    pub fn invalidate_did(&self, did: String) {
        self.inner.invalidate_did(&did);
    }

    /// Drop a cached private key (after removing or replacing it in the store).
    pub fn forget_secret(&self, kid: String) {
        self.inner.forget_secret(&kid);
    }

    /// Drop every cached document, key and shared secret.
    pub fn clear_caches(&self) {
        self.inner.clear_caches();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The FFI record is the core's `UnpackMetadata` field for field: the same names and the
    /// same serialized values, so a field added to the core and not here fails this test.
    #[test]
    fn unpack_metadata_matches_the_core_definition() {
        let mut from_prior = didcomm_edge::FromPrior::new("did:example:old", "did:example:new");
        from_prior.aud = Some("did:example:bob".into());
        from_prior.exp = Some(3);
        from_prior.nbf = Some(1);
        from_prior.iat = Some(2);
        from_prior.jti = Some("j".into());
        let core = didcomm_edge::UnpackMetadata {
            encrypted: true,
            authenticated: true,
            non_repudiation: true,
            anonymous_sender: true,
            re_wrapped_in_forward: true,
            encrypted_from_kid: Some("did:example:a#1".into()),
            encrypted_to_kids: Some(vec!["did:example:b#1".into()]),
            sign_from: Some("did:example:a#2".into()),
            from_prior_issuer_kid: Some("did:example:old#1".into()),
            enc_alg_auth: Some(didcomm_edge::AuthCryptAlg::Ecdh1PuA256KwA256CbcHs512),
            enc_alg_anon: Some(didcomm_edge::AnonCryptAlg::EcdhEsA256KwXc20P),
            sign_alg: Some(didcomm_edge::SignAlg::EdDsa),
            signed_message: Some("jws".into()),
            from_prior: Some(from_prior),
            expired: true,
        };
        let ffi = UnpackMetadata::from(&core);
        assert_eq!(
            serde_json::to_value(&ffi).unwrap(),
            serde_json::to_value(&core).unwrap()
        );
    }
}
