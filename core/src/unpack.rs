//! Unpacking every DIDComm form, layer by layer, with the addressing-consistency checks of
//! DIDComm v2.1 ("Message Layer Addressing Consistency").

use crate::prelude::*;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crypto::{ContentEncAlg, SignAlg};
use crate::did::{did_of, Relationship};
use crate::engine::DidComm;
use crate::envelope::jwe::{KeyWrapAlg, ParsedJwe};
use crate::envelope::jws::ParsedJws;
use crate::error::{Error, ErrorKind, Result};
use crate::message::prescan::{TopLevel, COUNT_FIRST_ABOVE};
use crate::message::{check_json_values, from_prior, json_error, FromPrior, Message, ParseOptions};

/// Options of [`DidComm::unpack`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct UnpackOptions {
    /// Require the payload to decrypt with every recipient key we hold, not just one.
    pub expect_decrypt_by_all_keys: bool,
    /// When an anoncrypted message turns out to be a forward whose `next` is one of our own
    /// DIDs or keys, unwrap it and unpack the forwarded message too.
    pub unwrap_re_wrapping_forward: bool,
    /// Refuse plaintext without `body` (DIDComm v2.0 rule; v2.1 makes `body` optional).
    pub require_body: bool,
    /// Refuse a message encrypted to a DID that its `to` header does not list. The spec's
    /// "Message Layer Addressing Consistency" makes this an error; turn it off only for peers
    /// known to get `to` wrong.
    pub check_recipient_in_to: bool,
    /// Refuse messages whose `expires_time` has passed (otherwise they are reported in
    /// [`UnpackMetadata::expired`]).
    pub reject_expired: bool,
    /// The time to judge expiry against (epoch seconds); the system clock when `None`.
    pub now: Option<u64>,
    /// Refuse a `from_prior` JWT whose `exp` has passed, whose `nbf` has not come, or whose
    /// `iat` lies in the future, each beyond [`crate::Config::clock_skew`] (kind
    /// [`ErrorKind::Expired`]). On by default; turn it off only to read old archives.
    pub check_from_prior_times: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            expect_decrypt_by_all_keys: false,
            unwrap_re_wrapping_forward: true,
            require_body: false,
            check_recipient_in_to: true,
            reject_expired: false,
            now: None,
            check_from_prior_times: true,
        }
    }
}

impl UnpackOptions {
    /// Set [`UnpackOptions::expect_decrypt_by_all_keys`].
    #[must_use]
    pub fn expect_decrypt_by_all_keys(mut self, value: bool) -> Self {
        self.expect_decrypt_by_all_keys = value;
        self
    }

    /// Set [`UnpackOptions::unwrap_re_wrapping_forward`].
    #[must_use]
    pub fn unwrap_re_wrapping_forward(mut self, value: bool) -> Self {
        self.unwrap_re_wrapping_forward = value;
        self
    }

    /// Set [`UnpackOptions::require_body`].
    #[must_use]
    pub fn require_body(mut self, value: bool) -> Self {
        self.require_body = value;
        self
    }

    /// Set [`UnpackOptions::check_recipient_in_to`].
    #[must_use]
    pub fn check_recipient_in_to(mut self, value: bool) -> Self {
        self.check_recipient_in_to = value;
        self
    }

    /// Set [`UnpackOptions::reject_expired`].
    #[must_use]
    pub fn reject_expired(mut self, value: bool) -> Self {
        self.reject_expired = value;
        self
    }

    /// Set [`UnpackOptions::check_from_prior_times`].
    #[must_use]
    pub fn check_from_prior_times(mut self, value: bool) -> Self {
        self.check_from_prior_times = value;
        self
    }

    /// Set [`UnpackOptions::now`].
    #[must_use]
    pub fn now(mut self, epoch_seconds: u64) -> Self {
        self.now = Some(epoch_seconds);
        self
    }
}

/// Algorithm of an authcrypt layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthCryptAlg {
    /// ECDH-1PU+A256KW with A256CBC-HS512.
    Ecdh1PuA256KwA256CbcHs512,
}

impl AuthCryptAlg {
    /// `alg/enc`, e.g. `ECDH-1PU+A256KW/A256CBC-HS512`.
    pub fn as_str(self) -> &'static str {
        "ECDH-1PU+A256KW/A256CBC-HS512"
    }
}

/// Algorithm of an anoncrypt layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AnonCryptAlg {
    /// ECDH-ES+A256KW with A256CBC-HS512.
    EcdhEsA256KwA256CbcHs512,
    /// ECDH-ES+A256KW with A256GCM.
    EcdhEsA256KwA256Gcm,
    /// ECDH-ES+A256KW with XC20P.
    EcdhEsA256KwXc20P,
}

impl AnonCryptAlg {
    fn from_enc(enc: ContentEncAlg) -> AnonCryptAlg {
        match enc {
            ContentEncAlg::A256CbcHs512 => AnonCryptAlg::EcdhEsA256KwA256CbcHs512,
            ContentEncAlg::A256Gcm => AnonCryptAlg::EcdhEsA256KwA256Gcm,
            ContentEncAlg::Xc20P => AnonCryptAlg::EcdhEsA256KwXc20P,
        }
    }

    /// `alg/enc`, e.g. `ECDH-ES+A256KW/XC20P`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnonCryptAlg::EcdhEsA256KwA256CbcHs512 => "ECDH-ES+A256KW/A256CBC-HS512",
            AnonCryptAlg::EcdhEsA256KwA256Gcm => "ECDH-ES+A256KW/A256GCM",
            AnonCryptAlg::EcdhEsA256KwXc20P => "ECDH-ES+A256KW/XC20P",
        }
    }
}

macro_rules! serialize_as_str {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    )*};
}
serialize_as_str!(AuthCryptAlg, AnonCryptAlg, SignAlg);

/// What unpacking found out about the envelope. Field names mirror the reference library's
/// `UnpackMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
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
    /// The authcrypt sender key id.
    pub encrypted_from_kid: Option<String>,
    /// The recipient key ids of the (innermost) encrypted layer.
    pub encrypted_to_kids: Option<Vec<String>>,
    /// The signer key id.
    pub sign_from: Option<String>,
    /// The key id that signed `from_prior`.
    pub from_prior_issuer_kid: Option<String>,
    /// The authcrypt algorithm.
    pub enc_alg_auth: Option<AuthCryptAlg>,
    /// The anoncrypt algorithm.
    pub enc_alg_anon: Option<AnonCryptAlg>,
    /// The signature algorithm.
    pub sign_alg: Option<SignAlg>,
    /// The signed message (JWS) itself, kept for non-repudiation.
    pub signed_message: Option<String>,
    /// The verified `from_prior` claims.
    pub from_prior: Option<FromPrior>,
    /// `expires_time` has passed.
    pub expired: bool,
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| Error::malformed(format!("{what} is not UTF-8")))
}

/// Which layers were already peeled; DIDComm allows anon(auth(signed(plain))) and its suffixes.
#[derive(Default)]
struct Seen {
    anon: bool,
    auth: bool,
    signed: bool,
}

impl DidComm {
    /// Unpack a message of any form (plaintext, signed, anoncrypt, authcrypt, nested), verify
    /// it, and report what protected it.
    pub async fn unpack(
        &self,
        packed: &str,
        options: &UnpackOptions,
    ) -> Result<(Message, UnpackMetadata)> {
        if packed.len() > self.config.max_message_size {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "message of {} bytes exceeds the limit of {} bytes",
                    packed.len(),
                    self.config.max_message_size
                ),
            ));
        }
        // The exact text of the layer being peeled: a signed layer is kept verbatim for
        // non-repudiation, and each layer is parsed once.
        let mut layer: alloc::borrow::Cow<'_, str> = alloc::borrow::Cow::Borrowed(packed);
        let mut what = "packed message";
        // A layer already parsed (to look for a forward) is not parsed again.
        let mut parsed: Option<Value> = None;
        let mut metadata = UnpackMetadata::default();
        let mut seen = Seen::default();
        let mut recipient_did: Option<String> = None;
        let mut signer_kid: Option<String> = None;
        let mut forwards = 0usize;

        let message = loop {
            let value: Value = match parsed.take() {
                Some(value) => value,
                None => {
                    self.check_layer(&layer, what)?;
                    serde_json::from_str(&layer).map_err(|e| json_error(what, &e))?
                }
            };
            let Value::Object(map) = value else {
                return Err(Error::malformed("a DIDComm message must be a JSON object"));
            };
            self.check_entry_counts(
                |key| map.contains_key(key),
                |key| map.get(key).and_then(Value::as_array).map(Vec::len),
            )?;
            if ParsedJwe::looks_like(&map) {
                let jwe = ParsedJwe::parse(map)?;
                let payload = match jwe.alg {
                    KeyWrapAlg::EcdhEsA256Kw => {
                        if seen.anon || seen.auth || seen.signed {
                            return Err(Error::malformed(
                                "anoncrypt may only be the outermost layer",
                            ));
                        }
                        seen.anon = true;
                        metadata.encrypted = true;
                        metadata.anonymous_sender = true;
                        metadata.enc_alg_anon = Some(AnonCryptAlg::from_enc(jwe.enc));
                        metadata.encrypted_to_kids = Some(jwe.recipient_kids());
                        self.decrypt_layer(&jwe, options).await?
                    }
                    KeyWrapAlg::Ecdh1PuA256Kw => {
                        if seen.auth || seen.signed {
                            return Err(Error::malformed(
                                "authcrypt cannot be nested in authcrypt or a signature",
                            ));
                        }
                        seen.auth = true;
                        metadata.encrypted = true;
                        metadata.authenticated = true;
                        metadata.enc_alg_auth = Some(AuthCryptAlg::Ecdh1PuA256KwA256CbcHs512);
                        metadata.encrypted_to_kids = Some(jwe.recipient_kids());
                        metadata.encrypted_from_kid = jwe.sender_kid.clone();
                        self.decrypt_layer(&jwe, options).await?
                    }
                };
                recipient_did = jwe.recipient_kids().first().map(|k| did_of(k).to_owned());
                layer = utf8(payload, "decrypted payload")?.into();
                what = "decrypted payload";
                if options.unwrap_re_wrapping_forward && seen.anon && !seen.auth {
                    self.check_layer(&layer, what)?;
                    let value: Value =
                        serde_json::from_str(&layer).map_err(|e| json_error(what, &e))?;
                    match self.forwarded_to_us(&value).await? {
                        Some(inner) => {
                            forwards += 1;
                            if forwards > self.config.max_forward_unwraps {
                                return Err(Error::malformed("too many nested forwards"));
                            }
                            metadata.re_wrapped_in_forward = true;
                            seen = Seen::default();
                            layer = inner.to_string().into();
                            what = "forwarded message";
                            parsed = Some(inner);
                        }
                        None => parsed = Some(value),
                    }
                }
                continue;
            }
            if ParsedJws::looks_like(&map) {
                if seen.signed {
                    return Err(Error::malformed("a signed message cannot be signed again"));
                }
                seen.signed = true;
                let jws = ParsedJws::parse(&map)?;
                let kid = self.verify_signatures(&jws).await?;
                let payload = jws.payload()?;
                metadata.non_repudiation = true;
                metadata.authenticated = true;
                metadata.sign_from = Some(kid.clone());
                metadata.sign_alg = jws.signatures.first().map(|s| s.alg);
                metadata.signed_message = Some(layer.into_owned());
                signer_kid = Some(kid);
                layer = utf8(payload, "signed payload")?.into();
                what = "signed payload";
                continue;
            }
            let mut message = Message::from_value(
                Value::Object(map),
                ParseOptions {
                    require_body: options.require_body,
                },
            )?;
            message.keep_attachment_texts(&layer);
            break message;
        };

        // Message Layer Addressing Consistency.
        if let Some(skid) = &metadata.encrypted_from_kid {
            match &message.from {
                Some(from) if did_of(from) == did_of(skid) => {}
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::SenderMismatch,
                        "the authcrypt sender key does not belong to the message's 'from'",
                    ))
                }
                None => {
                    return Err(Error::new(
                        ErrorKind::SenderMismatch,
                        "an authcrypted message must name its sender in 'from'",
                    ))
                }
            }
        }
        if let (Some(kid), Some(from)) = (&signer_kid, &message.from) {
            if did_of(kid) != did_of(from) {
                return Err(Error::new(
                    ErrorKind::SenderMismatch,
                    "the signer does not belong to the message's 'from'",
                ));
            }
        }
        if options.check_recipient_in_to {
            if let (Some(did), Some(to)) = (&recipient_did, &message.to) {
                if !to.iter().any(|t| did_of(t) == did) {
                    return Err(Error::new(
                        ErrorKind::RecipientMismatch,
                        format!(
                            "the message was encrypted to {}, which its 'to' does not list",
                            crate::error::excerpt(did)
                        ),
                    ));
                }
            }
        }
        if let Some(jwt) = &message.from_prior {
            let now = options.now.unwrap_or_else(crate::time::now_epoch_seconds);
            let (claims, kid) = self
                .verify_from_prior(jwt, message.from.as_deref(), now, options)
                .await?;
            // An ending has no `from` (so it cannot be authcrypt; anoncrypt is what the spec's
            // "MUST be encrypted" leaves): the JWT alone authenticates the ending party, `iss`.
            // Plaintext and signed forms are accepted as for rotations; a signature on an
            // ending must then be the ending party's, not a third party's.
            if claims.is_ending() {
                if let Some(signer) = &signer_kid {
                    if did_of(signer) != claims.iss {
                        return Err(Error::new(
                            ErrorKind::SenderMismatch,
                            "the signer of a message ending a relationship is not its from_prior 'iss'",
                        ));
                    }
                }
            }
            metadata.from_prior_issuer_kid = Some(kid);
            metadata.from_prior = Some(claims);
        }
        let now = options.now.unwrap_or_else(crate::time::now_epoch_seconds);
        if message.is_expired_at(now) {
            if options.reject_expired {
                return Err(Error::new(ErrorKind::Expired, "the message has expired"));
            }
            metadata.expired = true;
        }
        Ok((message, metadata))
    }

    /// Decrypt one JWE layer with the first recipient key we hold (or all of them).
    async fn decrypt_layer(&self, jwe: &ParsedJwe, options: &UnpackOptions) -> Result<Vec<u8>> {
        let kids = jwe.recipient_kids();
        let held = self.held_recipient_keys(&kids).await?;
        if held.is_empty() {
            return Err(Error::new(
                ErrorKind::SecretNotFound,
                "no secret held for any recipient of this message",
            ));
        }
        let sender_key = match (&jwe.alg, &jwe.sender_kid) {
            (KeyWrapAlg::Ecdh1PuA256Kw, Some(skid)) => {
                let sender = self.resolve(did_of(skid)).await?;
                Some(sender.key_in(skid, Relationship::KeyAgreement)?.clone())
            }
            _ => None,
        };
        let mut result: Option<Vec<u8>> = None;
        let mut last_error = None;
        for (kid, secret_kid) in &held {
            let Some(pair) = self.key_pair(secret_kid).await? else {
                continue;
            };
            let zs = match &sender_key {
                Some(sender) => Some(self.static_secret(&pair, sender)?),
                None => None,
            };
            match jwe.decrypt(kid, &pair, zs.as_ref().map(|z| z.as_slice())) {
                Ok(plain) => {
                    if let Some(previous) = &result {
                        if previous != &plain {
                            return Err(Error::malformed(
                                "recipients decrypt to different payloads",
                            ));
                        }
                    }
                    result = Some(plain);
                    if !options.expect_decrypt_by_all_keys {
                        break;
                    }
                }
                Err(e) if options.expect_decrypt_by_all_keys => return Err(e),
                Err(e) => last_error = Some(e),
            }
        }
        result.ok_or_else(|| {
            last_error.unwrap_or_else(|| {
                Error::new(
                    ErrorKind::SecretNotFound,
                    "no secret held for any recipient of this message",
                )
            })
        })
    }

    /// The recipients of a JWE we hold a secret for, as (kid in the JWE, kid of our secret).
    /// They differ when a peer wrote a legacy id for one of our did:peer keys (`#6LS...` for
    /// `#key-2`): the document of our own DID maps it back.
    async fn held_recipient_keys(&self, kids: &[String]) -> Result<Vec<(String, String)>> {
        let held = self.held_kids(kids).await?;
        if !held.is_empty() {
            return Ok(held.into_iter().map(|k| (k.clone(), k)).collect());
        }
        let mut mapped = Vec::new();
        for kid in kids.iter().filter(|k| k.starts_with("did:peer:")) {
            let Ok(ours) = self.resolve(did_of(kid)).await else {
                continue;
            };
            if let Some(canonical) = ours.canonical_kid(kid).filter(|c| *c != kid) {
                mapped.push((kid.clone(), canonical.to_owned()));
            }
        }
        let secret_kids: Vec<String> = mapped.iter().map(|(_, c)| c.clone()).collect();
        let held = self.held_kids(&secret_kids).await?;
        Ok(mapped
            .into_iter()
            .filter(|(_, c)| held.contains(c))
            .collect())
    }

    /// Verify every signature of a JWS; all must come from one DID, which is checked before
    /// anything is resolved. Returns the first signer. The signing input is built in one
    /// buffer, reused: a single copy of the payload however many signatures there are.
    async fn verify_signatures(&self, jws: &ParsedJws<'_>) -> Result<String> {
        let first = jws
            .signatures
            .first()
            .ok_or_else(|| Error::malformed("JWS has no signatures"))?;
        let did = did_of(&first.kid);
        if jws.signatures.iter().any(|sig| did_of(&sig.kid) != did) {
            return Err(Error::new(
                ErrorKind::SenderMismatch,
                "the signatures of one message come from different DIDs",
            ));
        }
        let signer = self.resolve(did).await?;
        let mut signing_input = Vec::new();
        for sig in &jws.signatures {
            let key = signer.key_in(&sig.kid, Relationship::Authentication)?;
            jws.signing_input_into(sig, &mut signing_input);
            key.verify(sig.alg, &signing_input, &sig.signature)?;
        }
        Ok(first.kid.clone().into_owned())
    }

    /// If `value` is a forward whose `next` we hold a key agreement secret for, the forwarded
    /// message (else `None`). The forward itself is read by [`crate::routing::Forward`].
    async fn forwarded_to_us(&self, value: &Value) -> Result<Option<Value>> {
        let Some(next) = crate::routing::forward_next(value) else {
            return Ok(None);
        };
        crate::did::check_did_len(next, "forward 'next'")?;
        let kids: Vec<String> = if next.contains('#') {
            vec![next.to_owned()]
        } else {
            match self.resolve(next).await {
                Ok(did) => did.kids(Relationship::KeyAgreement).to_vec(),
                Err(e) if e.kind() == ErrorKind::DidNotResolved => return Ok(None),
                Err(e) => return Err(e),
            }
        };
        if self.held_kids(&kids).await?.is_empty() {
            return Ok(None);
        }
        let message = Message::from_value(value.clone(), ParseOptions::default())
            .map_err(|e| e.context("forward to us"))?;
        let forward = crate::routing::Forward::from_message(&message)
            .map_err(|e| e.context("forward to us"))?;
        let Some(inner) = forward.messages.first() else {
            return Err(Error::malformed("forward to us has no attachment"));
        };
        self.check_layer(inner, "forwarded message")?;
        serde_json::from_str(inner)
            .map(Some)
            .map_err(|e| json_error("forwarded message", &e))
    }

    /// Bound a layer before its JSON tree is built: the number of its values, and (for large
    /// layers, whose tree could be tens of MiB) its recipients, signatures or attachments.
    fn check_layer(&self, text: &str, what: &str) -> Result<()> {
        check_json_values(text, self.config.max_json_values, what)?;
        if text.len() <= COUNT_FIRST_ABOVE {
            return Ok(());
        }
        match TopLevel::scan(text) {
            Some(top) => self.check_entry_counts(|key| top.has(key), |key| top.count(key)),
            // Not a JSON object: the parser says so.
            None => Ok(()),
        }
    }

    /// The envelope limits, by the form the layer will be read as: a JWE's recipients, a
    /// JWS's signatures, a plaintext message's attachments. One rule for a layer counted
    /// before parsing and for a parsed one.
    fn check_entry_counts(
        &self,
        has: impl Fn(&str) -> bool,
        count: impl Fn(&str) -> Option<usize>,
    ) -> Result<()> {
        let (form, key, max) = if ParsedJwe::looks_like_keys(&has) {
            ("JWE", "recipients", self.config.max_recipients)
        } else if ParsedJws::looks_like_keys(&has) {
            ("JWS", "signatures", self.config.max_signatures)
        } else {
            ("message", "attachments", self.config.max_attachments)
        };
        match count(key) {
            Some(n) if n > max => Err(Error::new(
                ErrorKind::TooLarge,
                format!("{form} has {n} {key}, more than the limit of {max}"),
            )),
            _ => Ok(()),
        }
    }

    /// Verify a `from_prior` JWT against the prior DID's authentication keys and bind it to the
    /// message's `from`: a rotation's `sub` is the `from`; an ending (no `sub`) has no `from`.
    async fn verify_from_prior(
        &self,
        jwt: &str,
        from: Option<&str>,
        now: u64,
        options: &UnpackOptions,
    ) -> Result<(FromPrior, String)> {
        let parsed = from_prior::parse(jwt)?;
        let claims = &parsed.claims;
        // Times first: cheap, and an expired rotation needs no resolution.
        if options.check_from_prior_times {
            from_prior::check_times(claims, now, self.config.clock_skew.as_secs())?;
        }
        if did_of(&parsed.kid) != claims.iss {
            return Err(Error::malformed(
                "from_prior is not signed by a key of its 'iss'",
            ));
        }
        if claims.sub.as_deref() == Some(claims.iss.as_str()) {
            return Err(Error::malformed(
                "from_prior 'iss' and 'sub' are the same DID",
            ));
        }
        from_prior::check_pairing(claims, from)
            .map_err(|reason| Error::new(ErrorKind::SenderMismatch, reason))?;
        let issuer = self.resolve(&claims.iss).await?;
        let key = issuer.key_in(&parsed.kid, Relationship::Authentication)?;
        key.verify(
            parsed.alg,
            parsed.signing_input.as_bytes(),
            &parsed.signature,
        )
        .map_err(|e| e.context("from_prior"))?;
        Ok((parsed.claims.clone(), parsed.kid.clone()))
    }
}

#[cfg(test)]
mod tests {
    //! The checks the other libraries skip, exercised with envelopes crafted below the public
    //! API (which refuses to produce them).
    use alloc::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::envelope::{jwe, jws};
    use crate::routing::FORWARD_TYPE;
    use crate::{PackEncryptedOptions, Wallet};

    fn wallet(name: &str) -> Wallet {
        let dir = std::env::var("DIDCOMM_VECTORS")
            .unwrap_or_else(|_| format!("{}/../testdata/vectors", env!("CARGO_MANIFEST_DIR")));
        Wallet::from_json(&std::fs::read_to_string(format!("{dir}/ids/{name}.json")).unwrap())
            .unwrap()
    }

    fn engines() -> (DidComm, DidComm) {
        let alice = wallet("rust-alice");
        let bob = wallet("rust-bob");
        let dc = |w: &Wallet| DidComm::new(Arc::new(w.resolver()), Arc::new(w.secrets_store()));
        (dc(&alice), dc(&bob))
    }

    fn message(from: &str, to: &str) -> Message {
        Message::build("m", "https://example.com/t", json!({"x": 1}))
            .from(from)
            .to(to)
    }

    async fn alice_pair(alice: &DidComm, kid: &str) -> Arc<crate::KeyPair> {
        alice.key_pair(kid).await.unwrap().unwrap()
    }

    /// Authcrypt `payload` from Alice's X25519 key to Bob's X25519 keys, bypassing the checks.
    async fn raw_authcrypt(alice: &DidComm, payload: &str) -> String {
        let sender = alice_pair(alice, "did:example:alice#key-x25519-1").await;
        let bob = alice.resolve("did:example:bob").await.unwrap();
        let kid = "did:example:bob#key-x25519-1";
        let key = bob.key(kid).unwrap().clone();
        let zs = alice.static_secret(&sender, &key).unwrap();
        let r = [jwe::EncryptRecipient {
            kid,
            key: &key,
            zs: Some(&zs),
        }];
        jwe::encrypt(
            payload.as_bytes(),
            ContentEncAlg::A256CbcHs512,
            &r,
            Some("did:example:alice#key-x25519-1"),
        )
        .unwrap()
    }

    async fn raw_anoncrypt(alice: &DidComm, payload: &str) -> String {
        let bob = alice.resolve("did:example:bob").await.unwrap();
        let kid = "did:example:bob#key-x25519-1";
        let key = bob.key(kid).unwrap().clone();
        let r = [jwe::EncryptRecipient {
            kid,
            key: &key,
            zs: None,
        }];
        jwe::encrypt(payload.as_bytes(), ContentEncAlg::A256Gcm, &r, None).unwrap()
    }

    async fn kind_of(bob: &DidComm, packed: &str, options: &UnpackOptions) -> ErrorKind {
        bob.unpack(packed, options).await.unwrap_err().kind()
    }

    #[tokio::test]
    async fn authcrypt_sender_must_be_the_from() {
        let (alice, bob) = engines();
        let forged = message("did:example:charlie", "did:example:bob")
            .to_json()
            .unwrap();
        let packed = raw_authcrypt(&alice, &forged).await;
        assert_eq!(
            kind_of(&bob, &packed, &UnpackOptions::default()).await,
            ErrorKind::SenderMismatch
        );
        let mut anonymous = message("did:example:alice", "did:example:bob");
        anonymous.from = None;
        let packed = raw_authcrypt(&alice, &anonymous.to_json().unwrap()).await;
        assert_eq!(
            kind_of(&bob, &packed, &UnpackOptions::default()).await,
            ErrorKind::SenderMismatch
        );
        let honest = raw_authcrypt(
            &alice,
            &message("did:example:alice", "did:example:bob")
                .to_json()
                .unwrap(),
        )
        .await;
        assert!(bob.unpack(&honest, &UnpackOptions::default()).await.is_ok());
    }

    #[tokio::test]
    async fn signer_must_be_the_from() {
        let (alice, bob) = engines();
        let signer = alice_pair(&alice, "did:example:alice#key-1").await;
        let forged = message("did:example:charlie", "did:example:bob")
            .to_json()
            .unwrap();
        let (signed, _) = jws::sign(forged.as_bytes(), "did:example:alice#key-1", &signer).unwrap();
        assert_eq!(
            kind_of(&bob, &signed, &UnpackOptions::default()).await,
            ErrorKind::SenderMismatch
        );
        // Signed, then authcrypted by another DID than the signer: also refused.
        let signed_by_alice = {
            let m = message("did:example:charlie", "did:example:bob")
                .to_json()
                .unwrap();
            jws::sign(m.as_bytes(), "did:example:alice#key-1", &signer)
                .unwrap()
                .0
        };
        let packed = raw_authcrypt(&alice, &signed_by_alice).await;
        assert_eq!(
            kind_of(&bob, &packed, &UnpackOptions::default()).await,
            ErrorKind::SenderMismatch
        );
    }

    #[tokio::test]
    async fn recipient_must_be_in_to_unless_allowed() {
        let (alice, bob) = engines();
        let elsewhere = message("did:example:alice", "did:example:charlie")
            .to_json()
            .unwrap();
        let packed = raw_anoncrypt(&alice, &elsewhere).await;
        assert_eq!(
            kind_of(&bob, &packed, &UnpackOptions::default()).await,
            ErrorKind::RecipientMismatch
        );
        let lenient = UnpackOptions {
            check_recipient_in_to: false,
            ..UnpackOptions::default()
        };
        assert!(bob.unpack(&packed, &lenient).await.is_ok());
    }

    #[tokio::test]
    async fn illegal_nesting_is_refused() {
        let (alice, bob) = engines();
        let signer = alice_pair(&alice, "did:example:alice#key-1").await;
        let plain = message("did:example:alice", "did:example:bob")
            .to_json()
            .unwrap();
        let (signed, _) = jws::sign(plain.as_bytes(), "did:example:alice#key-1", &signer).unwrap();
        let (signed_twice, _) =
            jws::sign(signed.as_bytes(), "did:example:alice#key-1", &signer).unwrap();
        assert_eq!(
            kind_of(&bob, &signed_twice, &UnpackOptions::default()).await,
            ErrorKind::Malformed
        );
        // authcrypt(anoncrypt(...)) and anoncrypt(anoncrypt(...)) are not DIDComm layerings.
        let anon = raw_anoncrypt(&alice, &plain).await;
        let auth_anon = raw_authcrypt(&alice, &anon).await;
        assert_eq!(
            kind_of(&bob, &auth_anon, &UnpackOptions::default()).await,
            ErrorKind::Malformed
        );
        let anon_anon = raw_anoncrypt(&alice, &anon).await;
        assert_eq!(
            kind_of(&bob, &anon_anon, &UnpackOptions::default()).await,
            ErrorKind::Malformed
        );
        // A JWS inside a JWS payload position of anoncrypt(authcrypt(signed)) is fine.
        let auth = raw_authcrypt(&alice, &signed).await;
        let ok = raw_anoncrypt(&alice, &auth).await;
        let (_, meta) = bob.unpack(&ok, &UnpackOptions::default()).await.unwrap();
        assert!(meta.anonymous_sender && meta.authenticated && meta.non_repudiation);
    }

    #[tokio::test]
    async fn tampering_is_detected() {
        let (alice, bob) = engines();
        let (packed, _) = alice
            .pack_encrypted(
                &message("did:example:alice", "did:example:bob"),
                "did:example:bob",
                Some("did:example:alice"),
                None,
                &PackEncryptedOptions::default(),
            )
            .await
            .unwrap();
        let mut v: Value = serde_json::from_str(&packed).unwrap();
        for field in ["ciphertext", "tag", "iv"] {
            let mut t = v.clone();
            let s = t[field].as_str().unwrap().to_owned();
            let flipped = if s.starts_with('A') {
                s.replacen('A', "B", 1)
            } else {
                format!("A{}", &s[1..])
            };
            t[field] = json!(flipped);
            let kind = kind_of(&bob, &t.to_string(), &UnpackOptions::default()).await;
            assert!(
                matches!(kind, ErrorKind::DecryptionFailed | ErrorKind::Malformed),
                "{field}: {kind:?}"
            );
        }
        // Re-encoding the protected header changes the AAD: decryption fails.
        let header = crate::b64::decode(v["protected"].as_str().unwrap(), "h").unwrap();
        let mut h: Value = serde_json::from_slice(&header).unwrap();
        h["typ"] = json!("didcomm-encrypted+json");
        v["protected"] = json!(crate::b64::encode(h.to_string()));
        assert_eq!(
            kind_of(&bob, &v.to_string(), &UnpackOptions::default()).await,
            ErrorKind::DecryptionFailed
        );
    }

    #[tokio::test]
    async fn off_curve_epk_is_refused() {
        let (alice, bob) = engines();
        let bob_doc = alice.resolve("did:example:bob").await.unwrap();
        let kid = "did:example:bob#key-p256-1";
        let key = bob_doc.key(kid).unwrap().clone();
        let r = [jwe::EncryptRecipient {
            kid,
            key: &key,
            zs: None,
        }];
        let plain = message("did:example:alice", "did:example:bob")
            .to_json()
            .unwrap();
        let packed = jwe::encrypt(plain.as_bytes(), ContentEncAlg::A256CbcHs512, &r, None).unwrap();
        let mut v: Value = serde_json::from_str(&packed).unwrap();
        let header = crate::b64::decode(v["protected"].as_str().unwrap(), "h").unwrap();
        let mut h: Value = serde_json::from_slice(&header).unwrap();
        let mut y = crate::b64::decode(h["epk"]["y"].as_str().unwrap(), "y").unwrap();
        y[7] ^= 0x40;
        h["epk"]["y"] = json!(crate::b64::encode(&y));
        v["protected"] = json!(crate::b64::encode(h.to_string()));
        let err = bob
            .unpack(&v.to_string(), &UnpackOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Malformed);
        assert!(err.reason().contains("epk"), "{err}");
    }

    #[tokio::test]
    async fn size_limit_is_checked_before_parsing() {
        let w = wallet("rust-bob");
        let small = DidComm::with_config(
            Arc::new(w.resolver()),
            Arc::new(w.secrets_store()),
            crate::Config::default().with_max_message_size(64),
        );
        let big = format!("{{\"pad\":\"{}\"", "x".repeat(100));
        // Not even valid JSON: the size check comes first.
        assert_eq!(
            kind_of(&small, &big, &UnpackOptions::default()).await,
            ErrorKind::TooLarge
        );
    }

    #[tokio::test]
    async fn expiry_is_reported_or_refused() {
        let (_, bob) = engines();
        let m = message("did:example:alice", "did:example:bob").expires_time(1000);
        let text = m.to_json().unwrap();
        let (_, meta) = bob.unpack(&text, &UnpackOptions::default()).await.unwrap();
        assert!(meta.expired);
        let mut strict = UnpackOptions {
            reject_expired: true,
            ..UnpackOptions::default()
        };
        assert_eq!(kind_of(&bob, &text, &strict).await, ErrorKind::Expired);
        strict.now = Some(999);
        assert!(bob.unpack(&text, &strict).await.is_ok());
    }

    #[tokio::test]
    async fn sender_key_must_be_a_key_agreement_key_of_its_did() {
        let (alice, bob) = engines();
        // Alice's Ed25519 authentication key id used as skid: not in keyAgreement.
        let sender = alice_pair(&alice, "did:example:alice#key-x25519-1").await;
        let bob_doc = alice.resolve("did:example:bob").await.unwrap();
        let kid = "did:example:bob#key-x25519-1";
        let key = bob_doc.key(kid).unwrap().clone();
        let zs = alice.static_secret(&sender, &key).unwrap();
        let r = [jwe::EncryptRecipient {
            kid,
            key: &key,
            zs: Some(&zs),
        }];
        let plain = message("did:example:alice", "did:example:bob")
            .to_json()
            .unwrap();
        let packed = jwe::encrypt(
            plain.as_bytes(),
            ContentEncAlg::A256CbcHs512,
            &r,
            Some("did:example:alice#key-1"),
        )
        .unwrap();
        assert_eq!(
            kind_of(&bob, &packed, &UnpackOptions::default()).await,
            ErrorKind::DidUrlNotFound
        );
    }

    #[tokio::test]
    async fn forward_addressed_to_us_is_unwrapped() {
        let (alice, bob) = engines();
        let inner = raw_anoncrypt(
            &alice,
            &message("did:example:alice", "did:example:bob")
                .to_json()
                .unwrap(),
        )
        .await;
        let forward =
            Message::build("f", FORWARD_TYPE, json!({"next": "did:example:bob"})).attachment(
                crate::Attachment::json("a", serde_json::from_str(&inner).unwrap()),
            );
        let outer = raw_anoncrypt(&alice, &forward.to_json().unwrap()).await;
        let (m, meta) = bob.unpack(&outer, &UnpackOptions::default()).await.unwrap();
        assert_eq!(m.id, "m");
        assert!(meta.re_wrapped_in_forward);
        let keep = UnpackOptions {
            unwrap_re_wrapping_forward: false,
            ..UnpackOptions::default()
        };
        let (m, _) = bob.unpack(&outer, &keep).await.unwrap();
        assert_eq!(m.type_, FORWARD_TYPE);
    }

    #[tokio::test]
    async fn from_prior_must_name_the_sender() {
        let mut w = wallet("rust-alice");
        w.merge(wallet("rust-charlie"));
        let dc = DidComm::new(Arc::new(w.resolver()), Arc::new(w.secrets_store()));
        let claims = FromPrior::new("did:example:charlie", "did:example:bob");
        let (jwt, _) = dc.pack_from_prior(&claims, None).await.unwrap();
        let m = message("did:example:alice", "did:example:bob").from_prior(jwt);
        let err = dc
            .unpack(&m.to_json().unwrap(), &UnpackOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::SenderMismatch);
        assert!(dc
            .pack_from_prior(
                &FromPrior::new("did:example:alice", "did:example:alice"),
                None
            )
            .await
            .is_err());
    }
}
