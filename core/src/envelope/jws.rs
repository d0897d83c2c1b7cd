//! JWS in General JSON Serialization (and the flattened form, when reading), as DIDComm signed
//! messages use it.

use crate::prelude::*;

use alloc::borrow::Cow;

use serde_json::{Map, Value};

use crate::b64;
use crate::crypto::{KeyPair, SignAlg};
use crate::did::check_did_len;
use crate::error::excerpt;
use crate::error::{Error, Result};
use crate::message::{media_type_is, SIGNED_TYP};

/// The longest JWS protected header we decode (base64url characters). Ours are under 100; a
/// header with a long `kid` stays far below.
pub(crate) const MAX_PROTECTED_LEN: usize = 64 * 1024;
/// The longest signature we decode (base64url characters): P-521's 132 bytes are 176.
pub(crate) const MAX_SIGNATURE_LEN: usize = 512;

/// A parsed signature entry, not yet verified. It borrows from the parsed JSON: no entry holds
/// a copy of the payload (the signing input is built when the signature is verified).
#[derive(Debug)]
pub(crate) struct JwsSignature<'a> {
    pub alg: SignAlg,
    pub kid: Cow<'a, str>,
    protected_b64: &'a str,
    pub signature: Vec<u8>,
}

/// A parsed JWS.
#[derive(Debug)]
pub(crate) struct ParsedJws<'a> {
    payload_b64: &'a str,
    pub signatures: Vec<JwsSignature<'a>>,
}

/// Sign `payload` with `pair` as `kid`, producing a DIDComm signed message.
pub(crate) fn sign(payload: &[u8], kid: &str, pair: &KeyPair) -> Result<(String, SignAlg)> {
    let alg = crate::crypto::SignAlg::for_key_type(pair.key_type())
        .ok_or_else(|| Error::illegal_argument(format!("{} keys cannot sign", pair.key_type())))?;
    let header = format!("{{\"typ\":\"{SIGNED_TYP}\",\"alg\":\"{}\"}}", alg.as_str());
    let protected = b64::encode(header);
    let payload_b64 = b64::encode(payload);
    let mut signing_input = String::with_capacity(protected.len() + payload_b64.len() + 1);
    signing_input.push_str(&protected);
    signing_input.push('.');
    signing_input.push_str(&payload_b64);
    let (signed_alg, signature) = pair.sign(signing_input.as_bytes())?;
    debug_assert_eq!(signed_alg, alg);
    let kid_json = Value::String(kid.to_owned()).to_string();
    let out = format!(
        "{{\"payload\":\"{payload_b64}\",\"signatures\":[{{\"protected\":\"{protected}\",\"signature\":\"{}\",\"header\":{{\"kid\":{kid_json}}}}}]}}",
        b64::encode(signature)
    );
    Ok((out, alg))
}

fn string_member<'a>(
    map: &'a Map<String, Value>,
    name: &str,
    what: &str,
) -> Result<Option<&'a str>> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::malformed(format!(
            "{what} '{name}' must be a string"
        ))),
    }
}

impl<'a> ParsedJws<'a> {
    /// Whether a JSON object is shaped like a JWS.
    pub(crate) fn looks_like(map: &Map<String, Value>) -> bool {
        Self::looks_like_keys(|key| map.contains_key(key))
    }

    /// [`ParsedJws::looks_like`] for a layer known only by which top-level keys it has.
    pub(crate) fn looks_like_keys(has: impl Fn(&str) -> bool) -> bool {
        has("payload") && (has("signatures") || has("signature"))
    }

    /// Parse a JWS. Every length is checked before its field is decoded. The number of
    /// signatures is the caller's to bound first (unpack's `check_entry_counts`).
    pub(crate) fn parse(map: &'a Map<String, Value>) -> Result<Self> {
        let payload_b64 = string_member(map, "payload", "JWS")?
            .ok_or_else(|| Error::malformed("JWS has no 'payload'"))?;
        let entries: Vec<&Map<String, Value>> = match map.get("signatures") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_object()
                        .ok_or_else(|| Error::malformed("JWS signature must be an object"))
                })
                .collect::<Result<_>>()?,
            Some(_) => return Err(Error::malformed("JWS 'signatures' must be an array")),
            // Flattened serialization: the one signature's members sit at the top level.
            None => vec![map],
        };
        if entries.is_empty() {
            return Err(Error::malformed("JWS has no signatures"));
        }
        let signatures = entries
            .into_iter()
            .map(Self::parse_signature)
            .collect::<Result<Vec<_>>>()?;
        Ok(ParsedJws {
            payload_b64,
            signatures,
        })
    }

    /// The decoded payload.
    pub(crate) fn payload(&self) -> Result<Vec<u8>> {
        b64::decode(self.payload_b64, "JWS 'payload'")
    }

    /// Write the signing input of `sig` (`protected || '.' || payload`) into `buffer`, which
    /// is reused across signatures: one copy of the payload however many signatures there are.
    pub(crate) fn signing_input_into(&self, sig: &JwsSignature<'_>, buffer: &mut Vec<u8>) {
        buffer.clear();
        buffer.reserve(sig.protected_b64.len() + 1 + self.payload_b64.len());
        buffer.extend_from_slice(sig.protected_b64.as_bytes());
        buffer.push(b'.');
        buffer.extend_from_slice(self.payload_b64.as_bytes());
    }

    fn parse_signature(entry: &'a Map<String, Value>) -> Result<JwsSignature<'a>> {
        let protected_b64 = string_member(entry, "protected", "JWS")?
            .ok_or_else(|| Error::malformed("JWS signature has no 'protected' header"))?;
        let protected: Map<String, Value> = crate::message::json_from_slice(
            &b64::decode_bounded(protected_b64, MAX_PROTECTED_LEN, "JWS 'protected'")?,
            "JWS protected header",
        )?;
        if let Some(typ) = string_member(&protected, "typ", "JWS header")? {
            if !media_type_is(typ, SIGNED_TYP) {
                return Err(Error::malformed(format!("JWS 'typ' must be {SIGNED_TYP}")));
            }
        }
        if protected.contains_key("crit") {
            // Covers RFC 7797 unencoded payloads ("b64": false), which must be listed in crit.
            return Err(Error::unsupported(
                "JWS 'crit' header parameters are not supported",
            ));
        }
        let alg = string_member(&protected, "alg", "JWS header")?
            .ok_or_else(|| Error::malformed("JWS header has no 'alg'"))?;
        let alg = SignAlg::parse(alg).ok_or_else(|| {
            Error::unsupported(format!("JWS 'alg' {} is not supported", excerpt(alg)))
        })?;
        let unprotected = match entry.get("header") {
            None => None,
            Some(Value::Object(h)) => Some(h),
            Some(_) => return Err(Error::malformed("JWS 'header' must be an object")),
        };
        let kid_unprotected = match unprotected {
            Some(h) => string_member(h, "kid", "JWS header")?,
            None => None,
        };
        let kid_protected = string_member(&protected, "kid", "JWS header")?;
        let kid: Cow<'a, str> = match (kid_protected, kid_unprotected) {
            (Some(p), Some(u)) if p != u => {
                return Err(Error::malformed(
                    "JWS protected and unprotected 'kid' disagree",
                ))
            }
            (_, Some(u)) => Cow::Borrowed(u),
            // Only in the decoded header, which does not outlive this function.
            (Some(p), None) => Cow::Owned(p.to_owned()),
            (None, None) => return Err(Error::malformed("JWS signature has no 'kid'")),
        };
        check_did_len(&kid, "JWS 'kid'")?;
        let signature = string_member(entry, "signature", "JWS")?
            .ok_or_else(|| Error::malformed("JWS has no 'signature'"))?;
        Ok(JwsSignature {
            alg,
            kid,
            protected_b64,
            signature: b64::decode_bounded(signature, MAX_SIGNATURE_LEN, "JWS 'signature'")?,
        })
    }
}
