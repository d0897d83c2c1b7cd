//! JWE in General JSON Serialization with ECDH-ES+A256KW (anoncrypt) and ECDH-1PU+A256KW
//! (authcrypt), as DIDComm v2 profiles them.
//!
//! Layout of the work: content is encrypted once with a random content key; the key is wrapped
//! for each recipient with a key-encryption key from the Concat KDF over the ECDH secret(s).
//! ECDH-1PU in key-wrap mode feeds the content tag into the KDF, so the content is encrypted
//! before any key is wrapped. The static-static half of ECDH-1PU (Zs) does not change between
//! messages of the same sender and recipient keys; the caller supplies it (cached).

use crate::prelude::*;

use alloc::collections::BTreeMap;
use core::fmt::Write as _;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::b64;
use crate::crypto::aead::{self, ContentEncAlg};
use crate::crypto::kdf::concat_kdf_256;
use crate::crypto::{jwk, random, KeyPair, PublicKey};
use crate::did::{check_did_len, did_of};
use crate::error::{excerpt, Error, ErrorKind, Result};
use crate::message::{media_type_is, ENCRYPTED_TYP};

/// The key management algorithm of a DIDComm JWE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyWrapAlg {
    /// Anoncrypt.
    EcdhEsA256Kw,
    /// Authcrypt.
    Ecdh1PuA256Kw,
}

impl KeyWrapAlg {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            KeyWrapAlg::EcdhEsA256Kw => "ECDH-ES+A256KW",
            KeyWrapAlg::Ecdh1PuA256Kw => "ECDH-1PU+A256KW",
        }
    }
}

/// One recipient of an encryption: its key id, key, and for authcrypt the static-static shared
/// secret Zs between the sender's key and this recipient's key.
pub(crate) struct EncryptRecipient<'a> {
    pub kid: &'a str,
    pub key: &'a PublicKey,
    pub zs: Option<&'a [u8]>,
}

/// The `apv` of DIDComm: base64url(SHA-256(sorted recipient kids joined with '.')).
pub(crate) fn apv_for(kids: &[&str]) -> String {
    b64::encode(apv_digest(kids))
}

/// SHA-256 of the recipient kids, sorted (by bytes, which is code point order) and joined with
/// '.': the raw `apv`.
fn apv_digest(kids: &[&str]) -> [u8; 32] {
    let mut sorted: Vec<&str> = kids.to_vec();
    sorted.sort_unstable();
    let mut h = Sha256::new();
    for (i, kid) in sorted.iter().enumerate() {
        if i > 0 {
            h.update(b".");
        }
        h.update(kid.as_bytes());
    }
    h.finalize().into()
}

fn write_epk_json(epk: &PublicKey, out: &mut String) {
    let (x, y) = epk.coordinates();
    let kt = epk.key_type();
    let _ = write!(
        out,
        "{{\"kty\":\"{}\",\"crv\":\"{}\",\"x\":\"",
        kt.jwk_kty(),
        kt.jwk_crv()
    );
    b64::encode_into(x, out);
    if let Some(y) = y {
        out.push_str("\",\"y\":\"");
        b64::encode_into(y, out);
    }
    out.push_str("\"}");
}

/// JSON-escape a string we put into a header (kids come from DID documents, so they are
/// escaped rather than trusted).
fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// Encrypt `payload` to `recipients` (all of the ephemeral key's type). `sender` is the
/// authcrypt sender key id (`None` for anoncrypt).
pub(crate) fn encrypt(
    payload: &[u8],
    enc: ContentEncAlg,
    recipients: &[EncryptRecipient<'_>],
    sender_kid: Option<&str>,
) -> Result<String> {
    let first = recipients
        .first()
        .ok_or_else(|| Error::invalid_state("no recipients to encrypt to"))?;
    let key_type = first.key.key_type();
    if recipients.iter().any(|r| r.key.key_type() != key_type) {
        return Err(Error::invalid_state(
            "recipients of one JWE must share a curve",
        ));
    }
    let alg = if sender_kid.is_some() {
        if enc != ContentEncAlg::A256CbcHs512 {
            return Err(Error::illegal_argument(
                "authcrypt (ECDH-1PU) requires A256CBC-HS512 content encryption",
            ));
        }
        KeyWrapAlg::Ecdh1PuA256Kw
    } else {
        KeyWrapAlg::EcdhEsA256Kw
    };

    let ephemeral = KeyPair::generate(key_type)?;
    let kids: Vec<&str> = recipients.iter().map(|r| r.kid).collect();
    let apv = apv_for(&kids);

    // Protected header, written directly: it is small and on the hot path.
    let mut header = String::with_capacity(320);
    header.push_str("{\"typ\":\"");
    header.push_str(ENCRYPTED_TYP);
    let _ = write!(
        header,
        "\",\"alg\":\"{}\",\"enc\":\"{}\",\"epk\":",
        alg.as_str(),
        enc.as_str()
    );
    write_epk_json(ephemeral.public(), &mut header);
    let _ = write!(header, ",\"apv\":\"{apv}\"");
    let apu_raw: &[u8] = match sender_kid {
        Some(skid) => {
            let _ = write!(header, ",\"skid\":{},\"apu\":\"", json_string(skid));
            b64::encode_into(skid.as_bytes(), &mut header);
            header.push('"');
            skid.as_bytes()
        }
        None => &[],
    };
    header.push('}');
    let protected = b64::encode(header.as_bytes());

    let mut cek = Zeroizing::new(vec![0u8; enc.key_len()]);
    random::fill(&mut cek)?;
    let mut iv = vec![0u8; enc.iv_len()];
    random::fill(&mut iv)?;

    let mut buffer = Vec::with_capacity(payload.len() + 48);
    buffer.extend_from_slice(payload);
    let ct_len = aead::encrypt(enc, &cek, &iv, protected.as_bytes(), &mut buffer)?;
    let (ciphertext, tag) = buffer.split_at(ct_len);

    let apv_raw = b64::decode(&apv, "apv")?;
    let kdf_tag: &[u8] = if alg == KeyWrapAlg::Ecdh1PuA256Kw {
        tag
    } else {
        &[]
    };

    let mut out = String::with_capacity(
        protected.len() + ciphertext.len() * 4 / 3 + 200 * recipients.len() + 64,
    );
    out.push_str("{\"protected\":\"");
    out.push_str(&protected);
    out.push_str("\",\"recipients\":[");
    for (i, r) in recipients.iter().enumerate() {
        let ze = ephemeral.agree(r.key)?;
        let kek = match (alg, r.zs) {
            (KeyWrapAlg::EcdhEsA256Kw, _) => {
                concat_kdf_256(&[&ze], alg.as_str(), apu_raw, &apv_raw, kdf_tag)
            }
            (KeyWrapAlg::Ecdh1PuA256Kw, Some(zs)) => {
                concat_kdf_256(&[&ze, zs], alg.as_str(), apu_raw, &apv_raw, kdf_tag)
            }
            (KeyWrapAlg::Ecdh1PuA256Kw, None) => {
                return Err(Error::invalid_state("authcrypt recipient without Zs"))
            }
        };
        let wrapped = aead::wrap_key(&kek, &cek)?;
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"header\":{{\"kid\":{}}},\"encrypted_key\":\"",
            json_string(r.kid)
        );
        b64::encode_into(&wrapped, &mut out);
        out.push_str("\"}");
    }
    out.push_str("],\"iv\":\"");
    b64::encode_into(&iv, &mut out);
    out.push_str("\",\"ciphertext\":\"");
    b64::encode_into(ciphertext, &mut out);
    out.push_str("\",\"tag\":\"");
    b64::encode_into(tag, &mut out);
    out.push_str("\"}");
    Ok(out)
}

/// A parsed JWE, checked against the DIDComm profile but not yet decrypted.
#[derive(Debug)]
pub(crate) struct ParsedJwe {
    protected_b64: String,
    aad_b64: Option<String>,
    pub alg: KeyWrapAlg,
    pub enc: ContentEncAlg,
    apu: Vec<u8>,
    apv: Vec<u8>,
    /// The authcrypt sender key id (from `skid`, or from `apu` when `skid` is absent).
    pub sender_kid: Option<String>,
    /// The recipients, in order.
    recipients: Vec<JweRecipient>,
    /// kid -> its first position in `recipients`.
    recipient_index: BTreeMap<String, usize>,
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
    tag: Vec<u8>,
}

/// One recipient of a parsed JWE.
#[derive(Debug)]
struct JweRecipient {
    kid: String,
    encrypted_key: Vec<u8>,
    /// The ephemeral key for this recipient: the protected header's (our output, PyPI
    /// `didcomm`, authcrypt of Askar stacks) or the recipient header's (anoncrypt of PyPI
    /// `didcomm-messaging` on Askar, which makes one ephemeral key per recipient).
    epk: PublicKey,
}

/// The media type PyPI `didcomm-messaging` 0.1.1 (Askar backend) writes as the `typ` of its
/// authcrypt JWEs, for `application/didcomm-encrypted+json`. Read as that: the `typ` names the
/// envelope and decides nothing else, and it is under the AAD like the rest of the header.
const ASKAR_AUTHCRYPT_TYP: &str = "application/didcomm+encrypted";

/// The longest JWE protected header we decode (base64url characters): an `epk`, a `skid` of
/// at most [`crate::did::MAX_DID_LEN`] and its copy in `apu` fit with room to spare.
pub(crate) const MAX_PROTECTED_LEN: usize = 64 * 1024;
/// The longest `iv` (base64url characters): XC20P's 24 bytes are 32.
const MAX_IV_LEN: usize = 64;
/// The longest `tag`: A256CBC-HS512's 32 bytes are 43.
const MAX_TAG_LEN: usize = 64;
/// The longest `encrypted_key`: an A256KW-wrapped 64-byte key (72 bytes) is 96.
const MAX_ENCRYPTED_KEY_LEN: usize = 256;

/// An `epk` header parameter, wherever it was found (`what` says where): a public JWK of a key
/// agreement curve, the point validated.
fn parse_epk(jwk: &Value, what: &str) -> Result<PublicKey> {
    let epk = jwk::public_key_from_jwk(jwk).map_err(|e| e.context(what))?;
    if !epk.key_type().can_agree() {
        return Err(Error::malformed(format!(
            "{what} is not a key agreement key"
        )));
    }
    Ok(epk)
}

/// The ephemeral key of one recipient. RFC 7516 (section 7.2.1) lets header parameters sit in
/// the protected header or the recipient's `header`, never both: an `epk` in both is refused
/// even when the values agree, so no two readers can pick different keys.
fn recipient_epk(
    shared: Option<&PublicKey>,
    recipient_header: Option<&Value>,
) -> Result<PublicKey> {
    match (shared, recipient_header.and_then(|h| h.get("epk"))) {
        (Some(_), Some(_)) => Err(Error::malformed(
            "JWE 'epk' is in both the protected header and a recipient header",
        )),
        (Some(shared), None) => Ok(shared.clone()),
        (None, Some(jwk)) => parse_epk(jwk, "JWE recipient 'epk'"),
        (None, None) => Err(Error::malformed(
            "JWE has no 'epk' (neither in the protected header nor in the recipient header)",
        )),
    }
}

fn take_b64_string(map: &mut Map<String, Value>, name: &str) -> Result<String> {
    match map.remove(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Error::malformed(format!("JWE '{name}' must be a string"))),
        None => Err(Error::malformed(format!("JWE has no '{name}'"))),
    }
}

impl ParsedJwe {
    /// Whether a JSON object is shaped like a JWE.
    pub(crate) fn looks_like(map: &Map<String, Value>) -> bool {
        Self::looks_like_keys(|key| map.contains_key(key))
    }

    /// [`ParsedJwe::looks_like`] for a layer known only by which top-level keys it has.
    pub(crate) fn looks_like_keys(has: impl Fn(&str) -> bool) -> bool {
        has("ciphertext")
    }

    /// Parse a JWE. Every length is checked before its field is decoded, and `apv` must be the
    /// digest of the recipient kids. The number of recipients is the caller's to bound first
    /// (unpack's `check_entry_counts`).
    pub(crate) fn parse(mut map: Map<String, Value>) -> Result<ParsedJwe> {
        let protected_b64 = take_b64_string(&mut map, "protected")?;
        let header_bytes =
            b64::decode_bounded(&protected_b64, MAX_PROTECTED_LEN, "JWE 'protected'")?;
        let header: Map<String, Value> =
            crate::message::json_from_slice(&header_bytes, "JWE protected header")?;
        let get_str = |name: &str| -> Result<Option<&str>> {
            match header.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(Error::malformed(format!(
                    "JWE header '{name}' must be a string"
                ))),
            }
        };
        if let Some(typ) = get_str("typ")? {
            if !media_type_is(typ, ENCRYPTED_TYP) && typ != ASKAR_AUTHCRYPT_TYP {
                return Err(Error::malformed(format!(
                    "JWE 'typ' must be {ENCRYPTED_TYP}"
                )));
            }
        }
        if header.contains_key("crit") {
            return Err(Error::unsupported(
                "JWE 'crit' header parameters are not supported",
            ));
        }
        if header.contains_key("zip") {
            return Err(Error::unsupported(
                "compressed JWE ('zip') is not supported",
            ));
        }
        let alg = match get_str("alg")? {
            Some("ECDH-ES+A256KW") => KeyWrapAlg::EcdhEsA256Kw,
            Some("ECDH-1PU+A256KW") => KeyWrapAlg::Ecdh1PuA256Kw,
            Some(other) => {
                return Err(Error::unsupported(format!(
                    "JWE 'alg' {} is not supported",
                    excerpt(other)
                )))
            }
            None => return Err(Error::malformed("JWE header has no 'alg'")),
        };
        let enc = match get_str("enc")? {
            Some(enc) => ContentEncAlg::parse(enc).ok_or_else(|| {
                Error::unsupported(format!("JWE 'enc' {} is not supported", excerpt(enc)))
            })?,
            None => return Err(Error::malformed("JWE header has no 'enc'")),
        };
        if alg == KeyWrapAlg::Ecdh1PuA256Kw && enc != ContentEncAlg::A256CbcHs512 {
            // draft-madden-jose-ecdh-1pu-04 section 2.1: key wrap requires AES-CBC-HMAC.
            return Err(Error::malformed(
                "ECDH-1PU+A256KW requires A256CBC-HS512 content encryption",
            ));
        }
        let shared_epk = header
            .get("epk")
            .map(|jwk| parse_epk(jwk, "JWE 'epk'"))
            .transpose()?;
        let apu = match get_str("apu")? {
            Some(apu) => b64::decode(apu, "JWE 'apu'")?,
            None => vec![],
        };
        let apv = match get_str("apv")? {
            Some(apv) => b64::decode(apv, "JWE 'apv'")?,
            None => vec![],
        };
        let sender_kid = match alg {
            KeyWrapAlg::EcdhEsA256Kw => None,
            KeyWrapAlg::Ecdh1PuA256Kw => {
                let from_apu = || {
                    String::from_utf8(apu.clone())
                        .map_err(|_| Error::malformed("JWE 'apu' is not a UTF-8 key id"))
                };
                match get_str("skid")? {
                    Some(skid) => {
                        check_did_len(skid, "JWE 'skid'")?;
                        if !apu.is_empty() && apu != skid.as_bytes() {
                            return Err(Error::malformed("JWE 'skid' and 'apu' disagree"));
                        }
                        Some(skid.to_owned())
                    }
                    None if !apu.is_empty() => {
                        let skid = from_apu()?;
                        check_did_len(&skid, "JWE 'apu'")?;
                        Some(skid)
                    }
                    None => {
                        return Err(Error::malformed(
                            "authcrypt JWE names no sender ('skid' or 'apu')",
                        ))
                    }
                }
            }
        };

        let recipients = match map.remove("recipients") {
            Some(Value::Array(items)) if !items.is_empty() => items
                .into_iter()
                .map(|item| {
                    let Value::Object(mut r) = item else {
                        return Err(Error::malformed("JWE recipient must be an object"));
                    };
                    let recipient_header = r.get("header");
                    let kid = recipient_header
                        .and_then(|h| h.get("kid"))
                        .and_then(Value::as_str)
                        .ok_or_else(|| Error::malformed("JWE recipient has no header 'kid'"))?;
                    check_did_len(kid, "JWE recipient 'kid'")?;
                    let kid = kid.to_owned();
                    let epk = recipient_epk(shared_epk.as_ref(), recipient_header)?;
                    let ek = take_b64_string(&mut r, "encrypted_key")?;
                    let encrypted_key =
                        b64::decode_bounded(&ek, MAX_ENCRYPTED_KEY_LEN, "JWE 'encrypted_key'")?;
                    Ok(JweRecipient {
                        kid,
                        encrypted_key,
                        epk,
                    })
                })
                .collect::<Result<Vec<_>>>()?,
            Some(Value::Array(_)) => return Err(Error::malformed("JWE has no recipients")),
            Some(_) => return Err(Error::malformed("JWE 'recipients' must be an array")),
            None => return Err(Error::malformed("JWE has no 'recipients'")),
        };
        let first_did = recipients
            .first()
            .map(|r| did_of(&r.kid).to_owned())
            .unwrap_or_default();
        for JweRecipient { kid, .. } in &recipients {
            if !kid.contains('#') || did_of(kid) != first_did {
                return Err(Error::malformed(
                    "JWE recipient kids must be key ids of one DID",
                ));
            }
        }
        let mut recipient_index = BTreeMap::new();
        for (i, r) in recipients.iter().enumerate() {
            recipient_index.entry(r.kid.clone()).or_insert(i);
        }
        let aad_b64 = match map.remove("aad") {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(Error::malformed("JWE 'aad' must be a string")),
        };
        // Required by DIDComm (every published vector and library writes it): the recipient
        // list is bound to the key derivation, so recipients cannot be added or dropped.
        let kids: Vec<&str> = recipients.iter().map(|r| r.kid.as_str()).collect();
        if apv != apv_digest(&kids) {
            return Err(Error::malformed(
                "JWE 'apv' is not the SHA-256 of the recipient kids",
            ));
        }
        let iv = b64::decode_bounded(&take_b64_string(&mut map, "iv")?, MAX_IV_LEN, "JWE 'iv'")?;
        let ciphertext = b64::decode(
            &take_b64_string(&mut map, "ciphertext")?,
            "JWE 'ciphertext'",
        )?;
        let tag =
            b64::decode_bounded(&take_b64_string(&mut map, "tag")?, MAX_TAG_LEN, "JWE 'tag'")?;
        if iv.len() != enc.iv_len() {
            return Err(Error::malformed(format!(
                "JWE 'iv' must be {} bytes for {enc}",
                enc.iv_len()
            )));
        }
        if tag.len() != enc.tag_len() {
            return Err(Error::malformed(format!(
                "JWE 'tag' must be {} bytes for {enc}",
                enc.tag_len()
            )));
        }
        Ok(ParsedJwe {
            protected_b64,
            aad_b64,
            alg,
            enc,
            apu,
            apv,
            sender_kid,
            recipient_index,
            recipients,
            iv,
            ciphertext,
            tag,
        })
    }

    /// The recipient key ids, in order.
    pub(crate) fn recipient_kids(&self) -> Vec<String> {
        self.recipients.iter().map(|r| r.kid.clone()).collect()
    }

    /// Decrypt as recipient `kid` holding `pair`; `zs` is the static-static secret between
    /// `pair` and the sender's key (authcrypt only).
    pub(crate) fn decrypt(&self, kid: &str, pair: &KeyPair, zs: Option<&[u8]>) -> Result<Vec<u8>> {
        let recipient = self
            .recipient_index
            .get(kid)
            .and_then(|i| self.recipients.get(*i))
            .ok_or_else(|| Error::invalid_state("decrypting for a kid that is not a recipient"))?;
        if pair.key_type() != recipient.epk.key_type() {
            return Err(Error::malformed(format!(
                "recipient key {} is {} but its JWE 'epk' is {}",
                excerpt(kid),
                pair.key_type(),
                recipient.epk.key_type()
            )));
        }
        let ze = pair.agree(&recipient.epk)?;
        let kek = match (self.alg, zs) {
            (KeyWrapAlg::EcdhEsA256Kw, _) => {
                concat_kdf_256(&[&ze], self.alg.as_str(), &self.apu, &self.apv, &[])
            }
            (KeyWrapAlg::Ecdh1PuA256Kw, Some(zs)) => concat_kdf_256(
                &[&ze, zs],
                self.alg.as_str(),
                &self.apu,
                &self.apv,
                &self.tag,
            ),
            (KeyWrapAlg::Ecdh1PuA256Kw, None) => {
                return Err(Error::invalid_state("authcrypt decryption without Zs"))
            }
        };
        let cek = aead::unwrap_key(&kek, &recipient.encrypted_key)?;
        if cek.len() != self.enc.key_len() {
            return Err(Error::new(
                ErrorKind::DecryptionFailed,
                "unwrapped content key has the wrong length",
            ));
        }
        let mut buffer = Vec::with_capacity(self.ciphertext.len() + self.tag.len());
        buffer.extend_from_slice(&self.ciphertext);
        buffer.extend_from_slice(&self.tag);
        let aad_owned;
        let aad: &[u8] = match &self.aad_b64 {
            None => self.protected_b64.as_bytes(),
            Some(aad) => {
                aad_owned = format!("{}.{aad}", self.protected_b64);
                aad_owned.as_bytes()
            }
        };
        aead::decrypt(self.enc, &cek, &self.iv, aad, &mut buffer)?;
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyType;

    fn parse(text: &str) -> Result<ParsedJwe> {
        match serde_json::from_str::<Value>(text).unwrap() {
            Value::Object(map) => ParsedJwe::parse(map),
            _ => unreachable!(),
        }
    }

    #[test]
    fn anoncrypt_round_trip_every_curve_and_enc() {
        for kt in [
            KeyType::X25519,
            KeyType::P256,
            KeyType::P384,
            KeyType::P521,
            KeyType::Secp256k1,
        ] {
            for enc in [
                ContentEncAlg::A256CbcHs512,
                ContentEncAlg::A256Gcm,
                ContentEncAlg::Xc20P,
            ] {
                let bob1 = KeyPair::generate(kt).unwrap();
                let bob2 = KeyPair::generate(kt).unwrap();
                let recipients = [
                    EncryptRecipient {
                        kid: "did:ex:bob#1",
                        key: bob1.public(),
                        zs: None,
                    },
                    EncryptRecipient {
                        kid: "did:ex:bob#2",
                        key: bob2.public(),
                        zs: None,
                    },
                ];
                let jwe = encrypt(b"hello", enc, &recipients, None).unwrap();
                let parsed = parse(&jwe).unwrap();
                assert_eq!(
                    parsed.decrypt("did:ex:bob#2", &bob2, None).unwrap(),
                    b"hello"
                );
                assert_eq!(
                    parsed.decrypt("did:ex:bob#1", &bob1, None).unwrap(),
                    b"hello"
                );
                // The wrong key for a slot fails cleanly.
                assert!(parsed.decrypt("did:ex:bob#1", &bob2, None).is_err());
            }
        }
    }

    #[test]
    fn authcrypt_round_trip() {
        let alice = KeyPair::generate(KeyType::P384).unwrap();
        let bob = KeyPair::generate(KeyType::P384).unwrap();
        let zs = alice.agree(bob.public()).unwrap();
        let r = [EncryptRecipient {
            kid: "did:ex:bob#1",
            key: bob.public(),
            zs: Some(&zs),
        }];
        let jwe = encrypt(
            b"hi",
            ContentEncAlg::A256CbcHs512,
            &r,
            Some("did:ex:alice#1"),
        )
        .unwrap();
        let parsed = parse(&jwe).unwrap();
        assert_eq!(parsed.sender_kid.as_deref(), Some("did:ex:alice#1"));
        let zs_bob = bob.agree(alice.public()).unwrap();
        assert_eq!(
            parsed.decrypt("did:ex:bob#1", &bob, Some(&zs_bob)).unwrap(),
            b"hi"
        );
        // A wrong Zs (another sender) fails.
        let mallory = KeyPair::generate(KeyType::P384).unwrap();
        let zs_wrong = bob.agree(mallory.public()).unwrap();
        assert!(parsed
            .decrypt("did:ex:bob#1", &bob, Some(&zs_wrong))
            .is_err());
        // Authcrypt refuses other content encryption.
        assert!(encrypt(b"hi", ContentEncAlg::A256Gcm, &r, Some("did:ex:alice#1")).is_err());
    }

    #[test]
    fn our_output_keeps_one_epk_in_the_protected_header() {
        // Readers that look only in the protected header (PyPI `didcomm`, didcomm-node) read us.
        let bob1 = KeyPair::generate(KeyType::X25519).unwrap();
        let bob2 = KeyPair::generate(KeyType::X25519).unwrap();
        let recipients = [
            EncryptRecipient {
                kid: "did:ex:bob#1",
                key: bob1.public(),
                zs: None,
            },
            EncryptRecipient {
                kid: "did:ex:bob#2",
                key: bob2.public(),
                zs: None,
            },
        ];
        let jwe = encrypt(b"hi", ContentEncAlg::Xc20P, &recipients, None).unwrap();
        let v: Value = serde_json::from_str(&jwe).unwrap();
        let header = b64::decode(v["protected"].as_str().unwrap(), "protected").unwrap();
        let header: Value = serde_json::from_slice(&header).unwrap();
        assert!(header["epk"].is_object());
        for r in v["recipients"].as_array().unwrap() {
            let keys: Vec<&String> = r["header"].as_object().unwrap().keys().collect();
            assert_eq!(keys, ["kid"]);
        }
        assert!(v.get("unprotected").is_none());
    }

    #[test]
    fn apv_is_order_independent() {
        assert_eq!(apv_for(&["b#1", "a#1"]), apv_for(&["a#1", "b#1"]));
    }
}
