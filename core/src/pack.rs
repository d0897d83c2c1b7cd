//! Packing: plaintext, signed (JWS) and encrypted (JWE, anoncrypt or authcrypt, optionally
//! signed first and optionally with the sender protected by an outer anoncrypt).

use crate::prelude::*;

use alloc::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::crypto::{ContentEncAlg, KeyPair, KeyType, PublicKey, SignAlg};
use crate::did::{did_of, Relationship, ResolvedDid};
use crate::engine::DidComm;
use crate::envelope::{jwe, jws};
use crate::error::{Error, ErrorKind, Result};
use crate::message::{from_prior, FromPrior, Message};

/// Options of [`DidComm::pack_encrypted`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct PackEncryptedOptions {
    /// Wrap the authcrypt envelope in an anoncrypt one, hiding the sender's key id from
    /// everyone but the recipient.
    pub protect_sender: bool,
    /// Content encryption of anoncrypt envelopes (authcrypt always uses A256CBC-HS512).
    pub enc_alg_anon: ContentEncAlg,
    /// Encrypt only to these key ids of the recipient DID (empty: every key agreement key of
    /// the chosen curve).
    pub to_kids: Vec<String>,
}

impl PackEncryptedOptions {
    /// Set `protect_sender`.
    #[must_use]
    pub fn protect_sender(mut self, protect: bool) -> Self {
        self.protect_sender = protect;
        self
    }

    /// Set the anoncrypt content encryption.
    #[must_use]
    pub fn enc_alg_anon(mut self, enc: ContentEncAlg) -> Self {
        self.enc_alg_anon = enc;
        self
    }

    /// Restrict the recipient keys.
    #[must_use]
    pub fn to_kids(mut self, kids: Vec<String>) -> Self {
        self.to_kids = kids;
        self
    }
}

/// What [`DidComm::pack_encrypted`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackEncryptedMetadata {
    /// The authcrypt sender key id (`None` for anoncrypt).
    pub from_kid: Option<String>,
    /// The recipient key ids.
    pub to_kids: Vec<String>,
    /// The signing key id, if the message was signed first.
    pub sign_by_kid: Option<String>,
}

/// What [`DidComm::pack_signed`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackSignedMetadata {
    /// The signing key id.
    pub sign_by_kid: String,
    /// The signature algorithm.
    pub sign_alg: String,
}

impl DidComm {
    /// Serialize a plaintext message after checking it.
    pub fn pack_plaintext(&self, message: &Message) -> Result<String> {
        message.validate_for_sending()?;
        message.to_json()
    }

    /// Sign a message (JWS, General JSON). `sign_by` is a DID (its first `authentication` key we
    /// hold a secret for) or a key id; its DID must be the message's `from` when that is set.
    pub async fn pack_signed(
        &self,
        message: &Message,
        sign_by: &str,
    ) -> Result<(String, PackSignedMetadata)> {
        message.validate_for_sending()?;
        check_same_did(message.from.as_deref(), sign_by, "sign_by")?;
        let payload = message.to_json()?;
        let (kid, pair) = self.signing_key(sign_by).await?;
        let (jws, alg) = jws::sign(payload.as_bytes(), &kid, &pair)?;
        Ok((
            jws,
            PackSignedMetadata {
                sign_by_kid: kid,
                sign_alg: alg.as_str().to_owned(),
            },
        ))
    }

    /// Encrypt a message to `to` (a DID, or a key id of it): authcrypt when `from` (a DID or key
    /// id) is given, anoncrypt otherwise; signed first by `sign_by` when given.
    pub async fn pack_encrypted(
        &self,
        message: &Message,
        to: &str,
        from: Option<&str>,
        sign_by: Option<&str>,
        options: &PackEncryptedOptions,
    ) -> Result<(String, PackEncryptedMetadata)> {
        message.validate_for_sending()?;
        let to_did = did_of(to);
        if let Some(listed) = &message.to {
            if !listed.iter().any(|t| did_of(t) == to_did) {
                return Err(Error::illegal_argument(format!(
                    "{to_did} is not among the message's 'to'"
                )));
            }
        }
        if let Some(from) = from {
            match message.from.as_deref() {
                Some(_) => check_same_did(message.from.as_deref(), from, "from")?,
                None => {
                    return Err(Error::illegal_argument(
                        "authcrypt needs the message's 'from' to be set",
                    ))
                }
            }
        }
        if let Some(kid) = options.to_kids.iter().find(|k| did_of(k) != to_did) {
            return Err(Error::illegal_argument(format!(
                "recipient key {kid} does not belong to {to_did}; a message to several DIDs is packed once per DID"
            )));
        }

        let (payload, sign_by_kid) = match sign_by {
            Some(sign_by) => {
                let (jws, meta) = self.pack_signed(message, sign_by).await?;
                (jws, Some(meta.sign_by_kid))
            }
            None => (message.to_json()?, None),
        };

        let recipient = self.resolve(to_did).await?;
        let candidates = recipient_candidates(&recipient, to, &options.to_kids)?;

        let (packed, from_kid, to_kids) = match from {
            None => {
                let key_type = candidates
                    .iter()
                    .map(|(_, k)| k.key_type())
                    .find(|kt| kt.can_agree())
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::NoCompatibleKeys,
                            format!("{to_did} has no key agreement keys"),
                        )
                    })?;
                let chosen: Vec<_> = candidates
                    .iter()
                    .filter(|(_, k)| k.key_type() == key_type)
                    .collect();
                let recipients: Vec<_> = chosen
                    .iter()
                    .map(|(kid, key)| jwe::EncryptRecipient { kid, key, zs: None })
                    .collect();
                let packed =
                    jwe::encrypt(payload.as_bytes(), options.enc_alg_anon, &recipients, None)?;
                (
                    packed,
                    None,
                    chosen.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
                )
            }
            Some(from) => {
                let (skid, sender, chosen) = self.authcrypt_keys(from, &candidates).await?;
                let secrets: Vec<_> = chosen
                    .iter()
                    .map(|(_, key)| self.static_secret(&sender, key))
                    .collect::<Result<_>>()?;
                let recipients: Vec<_> = chosen
                    .iter()
                    .zip(&secrets)
                    .map(|((kid, key), zs)| jwe::EncryptRecipient {
                        kid,
                        key,
                        zs: Some(zs.as_slice()),
                    })
                    .collect();
                let inner = jwe::encrypt(
                    payload.as_bytes(),
                    ContentEncAlg::A256CbcHs512,
                    &recipients,
                    Some(&skid),
                )?;
                let packed = if options.protect_sender {
                    let outer: Vec<_> = chosen
                        .iter()
                        .map(|(kid, key)| jwe::EncryptRecipient { kid, key, zs: None })
                        .collect();
                    jwe::encrypt(inner.as_bytes(), options.enc_alg_anon, &outer, None)?
                } else {
                    inner
                };
                (
                    packed,
                    Some(skid),
                    chosen.iter().map(|(k, _)| k.clone()).collect(),
                )
            }
        };
        Ok((
            packed,
            PackEncryptedMetadata {
                from_kid,
                to_kids,
                sign_by_kid,
            },
        ))
    }

    /// Sign `from_prior` claims with a key of the prior DID (`issuer_kid`, or the first
    /// `authentication` key of `claims.iss` we hold). Returns the compact JWT for
    /// [`Message::from_prior`] and the key id used. Claims without `sub` end the relationship
    /// ([`FromPrior::ending`]).
    pub async fn pack_from_prior(
        &self,
        claims: &FromPrior,
        issuer_kid: Option<&str>,
    ) -> Result<(String, String)> {
        if claims.sub.as_deref() == Some(claims.iss.as_str()) {
            return Err(Error::illegal_argument(
                "from_prior 'iss' and 'sub' must differ",
            ));
        }
        if !crate::did::is_did(&claims.iss)
            || claims
                .sub
                .as_deref()
                .is_some_and(|sub| !crate::did::is_did(sub))
        {
            return Err(Error::illegal_argument(
                "from_prior 'iss' and 'sub' must be DIDs",
            ));
        }
        let sign_by = issuer_kid.unwrap_or(&claims.iss);
        if did_of(sign_by) != claims.iss {
            return Err(Error::illegal_argument(
                "the issuer key must belong to the prior DID ('iss')",
            ));
        }
        let (kid, pair) = self.signing_key(sign_by).await?;
        let alg = SignAlg::for_key_type(pair.key_type())
            .ok_or_else(|| Error::illegal_argument("the issuer key cannot sign"))?;
        let input = from_prior::signing_input(alg, &kid, claims)?;
        let (_, signature) = pair.sign(input.as_bytes())?;
        Ok((format!("{input}.{}", crate::b64::encode(signature)), kid))
    }

    /// The signing key for `sign_by` (a DID or key id): it must be in the DID's
    /// `authentication` and we must hold its secret.
    async fn signing_key(&self, sign_by: &str) -> Result<(String, Arc<KeyPair>)> {
        let did = self.resolve(did_of(sign_by)).await?;
        let kids: Vec<String> = if sign_by.contains('#') {
            did.key_in(sign_by, Relationship::Authentication)?;
            vec![sign_by.to_owned()]
        } else {
            did.usable_keys(Relationship::Authentication)
                .filter(|(_, key)| SignAlg::for_key_type(key.key_type()).is_some())
                .map(|(kid, _)| kid.to_owned())
                .collect()
        };
        for kid in self.held_kids(&kids).await? {
            if let Some(pair) = self.key_pair(&kid).await? {
                let declared = did.key(&kid)?;
                if declared != pair.public() {
                    return Err(Error::new(
                        ErrorKind::IllegalArgument,
                        format!("the secret of {kid} does not match its DID document"),
                    ));
                }
                return Ok((kid, pair));
            }
        }
        Err(Error::new(
            ErrorKind::SecretNotFound,
            format!("no signing secret held for {sign_by}"),
        ))
    }

    /// Pick the authcrypt sender key and the recipients: the first sender key agreement key we
    /// hold whose curve some candidate shares, and every candidate of that curve.
    async fn authcrypt_keys(
        &self,
        from: &str,
        candidates: &[(String, PublicKey)],
    ) -> Result<(String, Arc<KeyPair>, Vec<(String, PublicKey)>)> {
        let sender_did = self.resolve(did_of(from)).await?;
        let kids: Vec<String> = if from.contains('#') {
            sender_did.key_in(from, Relationship::KeyAgreement)?;
            vec![from.to_owned()]
        } else {
            sender_did
                .usable_keys(Relationship::KeyAgreement)
                .map(|(kid, _)| kid.to_owned())
                .collect()
        };
        let held = self.held_kids(&kids).await?;
        if held.is_empty() {
            return Err(Error::new(
                ErrorKind::SecretNotFound,
                format!("no key agreement secret held for {from}"),
            ));
        }
        for kid in held {
            let declared = sender_did.key(&kid)?;
            let key_type: KeyType = declared.key_type();
            if !candidates.iter().any(|(_, k)| k.key_type() == key_type) {
                continue;
            }
            let Some(pair) = self.key_pair(&kid).await? else {
                continue;
            };
            if declared != pair.public() {
                return Err(Error::new(
                    ErrorKind::IllegalArgument,
                    format!("the secret of {kid} does not match its DID document"),
                ));
            }
            let chosen = candidates
                .iter()
                .filter(|(_, k)| k.key_type() == key_type)
                .cloned()
                .collect();
            return Ok((kid, pair, chosen));
        }
        Err(Error::new(
            ErrorKind::NoCompatibleKeys,
            format!("{from} and the recipient share no key agreement curve"),
        ))
    }
}

/// The recipient's key agreement keys we may encrypt to.
fn recipient_candidates(
    recipient: &ResolvedDid,
    to: &str,
    to_kids: &[String],
) -> Result<Vec<(String, PublicKey)>> {
    let mut wanted: Vec<&str> = to_kids.iter().map(String::as_str).collect();
    if to.contains('#') && !wanted.contains(&to) {
        wanted.push(to);
    }
    let candidates: Vec<(String, PublicKey)> = if wanted.is_empty() {
        recipient
            .usable_keys(Relationship::KeyAgreement)
            .filter(|(_, k)| k.key_type().can_agree())
            .map(|(kid, k)| (kid.to_owned(), k.clone()))
            .collect()
    } else {
        wanted
            .into_iter()
            .map(|kid| {
                let key = recipient.key_in(kid, Relationship::KeyAgreement)?;
                Ok((kid.to_owned(), key.clone()))
            })
            .collect::<Result<_>>()?
    };
    if candidates.is_empty() {
        return Err(Error::new(
            ErrorKind::DidUrlNotFound,
            format!("{} has no usable key agreement keys", recipient.did()),
        ));
    }
    Ok(candidates)
}

/// `value` (a DID or key id) must belong to the DID in `expected` when that is set.
fn check_same_did(expected: Option<&str>, value: &str, what: &str) -> Result<()> {
    match expected {
        Some(from) if did_of(from) != did_of(value) => Err(Error::illegal_argument(format!(
            "{what} {} is not the message's 'from' {}",
            did_of(value),
            did_of(from)
        ))),
        _ => Ok(()),
    }
}
