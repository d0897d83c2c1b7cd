//! Unpacking every DIDComm form, layer by layer, with the addressing-consistency checks of
//! DIDComm v2.1 ("Message Layer Addressing Consistency").

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crypto::{ContentEncAlg, SignAlg};
use crate::did::{did_of, Relationship};
use crate::engine::DidComm;
use crate::envelope::jwe::{KeyWrapAlg, ParsedJwe};
use crate::envelope::jws::ParsedJws;
use crate::error::{Error, ErrorKind, Result};
use crate::message::{from_prior, json_error, FromPrior, Message, ParseOptions};

/// The message type of a Routing 2.0 forward.
pub(crate) const FORWARD_TYPE: &str = "https://didcomm.org/routing/2.0/forward";

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
        }
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
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
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
        let mut value: Value =
            serde_json::from_str(packed).map_err(|e| json_error("packed message", &e))?;
        let mut metadata = UnpackMetadata::default();
        let mut seen = Seen::default();
        let mut recipient_did: Option<String> = None;
        let mut signer_kid: Option<String> = None;
        let mut forwards = 0usize;

        let message = loop {
            let Value::Object(map) = value else {
                return Err(Error::malformed("a DIDComm message must be a JSON object"));
            };
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
                value = serde_json::from_slice(&payload)
                    .map_err(|e| json_error("decrypted payload", &e))?;
                if options.unwrap_re_wrapping_forward && seen.anon && !seen.auth {
                    if let Some(inner) = self.forwarded_to_us(&value).await? {
                        forwards += 1;
                        if forwards > self.config.max_forward_unwraps {
                            return Err(Error::malformed("too many nested forwards"));
                        }
                        metadata.re_wrapped_in_forward = true;
                        seen = Seen::default();
                        value = inner;
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
                metadata.non_repudiation = true;
                metadata.authenticated = true;
                metadata.sign_from = Some(kid.clone());
                metadata.sign_alg = jws.signatures.first().map(|s| s.alg);
                metadata.signed_message = Some(
                    serde_json::to_string(&map)
                        .map_err(|_| Error::invalid_state("JWS re-serialization"))?,
                );
                signer_kid = Some(kid);
                value = serde_json::from_slice(&jws.payload)
                    .map_err(|e| json_error("signed payload", &e))?;
                continue;
            }
            break Message::from_value(
                Value::Object(map),
                ParseOptions {
                    require_body: options.require_body,
                },
            )?;
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
                        format!("the message was encrypted to {did}, which its 'to' does not list"),
                    ));
                }
            }
        }
        if let Some(jwt) = &message.from_prior {
            let (claims, kid) = self.verify_from_prior(jwt, message.from.as_deref()).await?;
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

    /// Verify every signature of a JWS; all must come from one DID. Returns the first signer.
    async fn verify_signatures(&self, jws: &ParsedJws) -> Result<String> {
        let mut first: Option<String> = None;
        for sig in &jws.signatures {
            let signer = self.resolve(did_of(&sig.kid)).await?;
            let key = signer.key_in(&sig.kid, Relationship::Authentication)?;
            key.verify(sig.alg, sig.signing_input.as_bytes(), &sig.signature)?;
            match &first {
                None => first = Some(sig.kid.clone()),
                Some(kid) if did_of(kid) != did_of(&sig.kid) => {
                    return Err(Error::new(
                        ErrorKind::SenderMismatch,
                        "the signatures of one message come from different DIDs",
                    ))
                }
                Some(_) => {}
            }
        }
        first.ok_or_else(|| Error::malformed("JWS has no signatures"))
    }

    /// If `value` is a forward whose `next` we hold a key agreement secret for, the forwarded
    /// message (else `None`).
    async fn forwarded_to_us(&self, value: &Value) -> Result<Option<Value>> {
        let Some(map) = value.as_object() else {
            return Ok(None);
        };
        if map.get("type").and_then(Value::as_str) != Some(FORWARD_TYPE) {
            return Ok(None);
        }
        let Some(next) = map
            .get("body")
            .and_then(|b| b.get("next"))
            .and_then(Value::as_str)
        else {
            return Ok(None);
        };
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
        let attachment = map
            .get("attachments")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|a| a.get("data"))
            .ok_or_else(|| Error::malformed("forward to us has no attachment"))?;
        if let Some(json) = attachment.get("json") {
            return Ok(Some(json.clone()));
        }
        if let Some(b64) = attachment.get("base64").and_then(Value::as_str) {
            let bytes = crate::b64::decode(b64, "forward attachment")?;
            return serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| json_error("forwarded message", &e));
        }
        Err(Error::malformed(
            "forward attachment carries neither 'json' nor 'base64'",
        ))
    }

    /// Verify a `from_prior` JWT against the prior DID's authentication keys and bind it to the
    /// message's `from`.
    async fn verify_from_prior(
        &self,
        jwt: &str,
        from: Option<&str>,
    ) -> Result<(FromPrior, String)> {
        let parsed = from_prior::parse(jwt)?;
        let claims = &parsed.claims;
        if did_of(&parsed.kid) != claims.iss {
            return Err(Error::malformed(
                "from_prior is not signed by a key of its 'iss'",
            ));
        }
        if claims.iss == claims.sub {
            return Err(Error::malformed(
                "from_prior 'iss' and 'sub' are the same DID",
            ));
        }
        match from {
            Some(from) if did_of(from) == claims.sub => {}
            _ => {
                return Err(Error::new(
                    ErrorKind::SenderMismatch,
                    "from_prior 'sub' is not the message's 'from'",
                ))
            }
        }
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
