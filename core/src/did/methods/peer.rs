//! `did:peer` (DIF Peer DID Method): numalgo 0 (one inception key), 2 (keys and services in the
//! DID), 3 (the SHA-256 short form of a numalgo 2 DID) and 4 (a hashed, encoded input document,
//! with long and short forms).
//!
//! did:peer:2 resolves to the spec-clarified document: `Multikey` methods with ids `#key-N` in
//! DID-string order, services with their own relative id or `#service`, `#service-1`, ... and the
//! abbreviations `t`, `dm`, `s`, `r`, `a` expanded. Reading is tolerant of what other encoders
//! wrote: padded base64url services, several services in one JSON list, DIDComm v2.0 services
//! (a string endpoint with service-level `r`/`a`), services without ids. Keys that other
//! libraries name by their multibase (`#6LS...`, `#z6LS...`, or its first 8 characters) are
//! found under those ids too ([`crate::ResolvedDid`] keeps the aliases).

use crate::prelude::*;

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::b64;
use crate::crypto::{multikey, KeyType, PublicKey};
use crate::did::doc::{DidDocument, Service, VerificationMethod, VerificationRelationship};
use crate::error::{Error, ErrorKind, Result};

use super::key::{self, DidKeyFormat, DID_CONTEXT, MULTIKEY_CONTEXT};

/// Longest peer DID we parse: a did:peer:2 or did:peer:4 long form with a few services is a few
/// kilobytes; anything much larger is an attempt to make us work.
pub const MAX_PEER_DID_LEN: usize = crate::did::MAX_DID_LEN;

/// Multicodec code of JSON (did:peer:4 encoded documents).
const JSON_CODEC: u64 = 0x0200;

/// What a did:peer:2 key is for: its purpose code and verification relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// `A`: assertionMethod.
    Assertion,
    /// `E`: keyAgreement (encryption).
    Encryption,
    /// `V`: authentication (verification).
    Verification,
    /// `I`: capabilityInvocation.
    CapabilityInvocation,
    /// `D`: capabilityDelegation.
    CapabilityDelegation,
}

impl Purpose {
    /// The one-letter purpose code.
    pub fn code(self) -> char {
        match self {
            Purpose::Assertion => 'A',
            Purpose::Encryption => 'E',
            Purpose::Verification => 'V',
            Purpose::CapabilityInvocation => 'I',
            Purpose::CapabilityDelegation => 'D',
        }
    }

    /// The purpose named by a code letter (not `S`, which marks a service).
    pub fn from_code(code: char) -> Option<Purpose> {
        Some(match code {
            'A' => Purpose::Assertion,
            'E' => Purpose::Encryption,
            'V' => Purpose::Verification,
            'I' => Purpose::CapabilityInvocation,
            'D' => Purpose::CapabilityDelegation,
            _ => return None,
        })
    }

    /// Whether a key of `key_type` can serve this purpose: X25519 keys cannot sign, Ed25519
    /// keys cannot agree.
    fn accepts(self, key_type: KeyType) -> bool {
        match self {
            Purpose::Encryption => key_type.can_agree(),
            _ => key_type != KeyType::X25519,
        }
    }
}

/// Which form of peer DID a string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerForm {
    /// `did:peer:0z...`: one inception key.
    Numalgo0,
    /// `did:peer:1...`: a genesis document hash (not supported: its document is not in the DID).
    Numalgo1,
    /// `did:peer:2.Vz...`: keys and services.
    Numalgo2,
    /// `did:peer:3zQm...`: the hash of a did:peer:2 (resolvable once the did:peer:2 is known).
    Numalgo3,
    /// `did:peer:4zQm...:z...`: hash and encoded document.
    Numalgo4Long,
    /// `did:peer:4zQm...`: the hash alone (resolvable once the long form is known).
    Numalgo4Short,
}

/// Classify a peer DID by its numalgo (and, for 4, its form). The rest is checked on resolution.
pub fn peer_form(did: &str) -> Result<PeerForm> {
    let rest = did
        .strip_prefix("did:peer:")
        .ok_or_else(|| Error::illegal_argument("not a did:peer DID"))?;
    if did.len() > MAX_PEER_DID_LEN {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!("peer DID longer than {MAX_PEER_DID_LEN} bytes"),
        ));
    }
    Ok(match rest.as_bytes().first() {
        Some(b'0') => PeerForm::Numalgo0,
        Some(b'1') => PeerForm::Numalgo1,
        Some(b'2') => PeerForm::Numalgo2,
        Some(b'3') => PeerForm::Numalgo3,
        Some(b'4') if rest.contains(':') => PeerForm::Numalgo4Long,
        Some(b'4') => PeerForm::Numalgo4Short,
        _ => {
            return Err(Error::unsupported(
                "unknown did:peer numalgo (0, 2, 3 and 4 are supported)",
            ))
        }
    })
}

/// Resolve a `did:peer:0` DID: the did:key document of its inception key, under the peer DID.
pub fn resolve_peer0(did: &str, format: DidKeyFormat) -> Result<DidDocument> {
    let multibase = did
        .strip_prefix("did:peer:0")
        .ok_or_else(|| Error::illegal_argument("not a did:peer:0 DID"))?;
    let key = key::decode_canonical_multikey(multibase)?;
    Ok(key::expand(did, &key, format))
}

// ---------------------------------------------------------------------------------------------
// did:peer:2

/// Build a `did:peer:2` from keys (in the order given, which fixes their `#key-N` ids) and
/// services (DID Core service objects, abbreviated here; give them no `id` to get `#service`,
/// `#service-1`, ...).
pub fn encode_peer2(keys: &[(Purpose, PublicKey)], services: &[Value]) -> Result<String> {
    let mut did = String::from("did:peer:2");
    for (purpose, key) in keys {
        if !purpose.accepts(key.key_type()) {
            return Err(Error::illegal_argument(format!(
                "a {} key cannot serve purpose '{}'",
                key.key_type(),
                purpose.code()
            )));
        }
        did.push('.');
        did.push(purpose.code());
        did.push_str(&multikey::public_key_to_multibase(key));
    }
    for service in services {
        if !service.is_object() {
            return Err(Error::illegal_argument(
                "a did:peer:2 service must be a JSON object",
            ));
        }
        let mut json = String::new();
        write_in_spec_order(&abbreviate(service.clone()), &mut json)?;
        did.push_str(".S");
        did.push_str(&b64::encode(json));
    }
    Ok(did)
}

/// Members written first, in this order, as in the spec's examples (`{"t":"dm","s":{"uri":..,
/// "a":..,"r":..}}`); the others follow in serde_json's order. Decoders do not care about the
/// order, but then our encoding of the spec's example is the spec's DID.
const SPEC_ORDER: [&str; 6] = ["id", "t", "s", "uri", "a", "r"];

/// Serialize without whitespace, with object members in [`SPEC_ORDER`].
fn write_in_spec_order(value: &Value, out: &mut String) -> Result<()> {
    let scalar = |v: &Value| {
        serde_json::to_string(v).map_err(|_| Error::invalid_state("service does not serialize"))
    };
    match value {
        Value::Object(map) => {
            out.push('{');
            let first = SPEC_ORDER.iter().filter_map(|k| map.get_key_value(*k));
            let rest = map
                .iter()
                .filter(|(k, _)| !SPEC_ORDER.contains(&k.as_str()));
            for (i, (k, v)) in first.chain(rest).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&scalar(&Value::String(k.clone()))?);
                out.push(':');
                write_in_spec_order(v, out)?;
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_in_spec_order(v, out)?;
            }
            out.push(']');
        }
        other => out.push_str(&scalar(other)?),
    }
    Ok(())
}

/// The abbreviations of the spec's lookup table: (full, abbreviation).
const KEY_ABBREVIATIONS: [(&str, &str); 4] = [
    ("type", "t"),
    ("serviceEndpoint", "s"),
    ("routingKeys", "r"),
    ("accept", "a"),
];

fn abbreviate(value: Value) -> Value {
    rename_keys(
        value,
        &|key| {
            KEY_ABBREVIATIONS
                .iter()
                .find(|(full, _)| *full == key)
                .map(|(_, short)| *short)
        },
        "t",
        ("DIDCommMessaging", "dm"),
    )
}

fn expand_abbreviations(value: Value) -> Value {
    rename_keys(
        value,
        &|key| {
            KEY_ABBREVIATIONS
                .iter()
                .find(|(_, short)| *short == key)
                .map(|(full, _)| *full)
        },
        "type",
        ("dm", "DIDCommMessaging"),
    )
}

/// Rename object keys recursively, and replace `type_value.0` by `type_value.1` in the values
/// of the (renamed) `type_key`. A key whose new name is already present keeps its own value.
fn rename_keys(
    value: Value,
    rename: &dyn Fn(&str) -> Option<&'static str>,
    type_key: &str,
    type_value: (&str, &str),
) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            let mut renamed = Vec::new();
            for (k, v) in map {
                let v = rename_keys(v, rename, type_key, type_value);
                match rename(&k) {
                    Some(new) => renamed.push((new.to_owned(), v)),
                    None => {
                        out.insert(k, v);
                    }
                }
            }
            for (k, v) in renamed {
                out.entry(k).or_insert(v);
            }
            if let Some(t) = out.get_mut(type_key) {
                let swap = |s: &mut Value| {
                    if s.as_str() == Some(type_value.0) {
                        *s = Value::String(type_value.1.into());
                    }
                };
                match t {
                    Value::Array(items) => items.iter_mut().for_each(swap),
                    other => swap(other),
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| rename_keys(v, rename, type_key, type_value))
                .collect(),
        ),
        other => other,
    }
}

/// Base64url with or without padding, and tolerant of non-zero trailing bits: encoders of
/// earlier spec versions padded their services.
const LENIENT_B64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decode one `S` element into its service objects (legacy encoders put a JSON list there).
fn decode_services(encoded: &str, index: usize) -> Result<Vec<Map<String, Value>>> {
    let bad = |what: &str| Error::malformed(format!("did:peer:2 service {index}: {what}"));
    let bytes = LENIENT_B64URL
        .decode(encoded)
        .map_err(|_| bad("not base64url"))?;
    let value: Value = crate::message::json_from_slice(&bytes, "did:peer:2 service")
        .map_err(|_| bad("not JSON"))?;
    let items = match value {
        Value::Array(items) if !items.is_empty() => items,
        Value::Array(_) => return Err(bad("an empty list")),
        other => vec![other],
    };
    items
        .into_iter()
        .map(|item| match expand_abbreviations(item) {
            Value::Object(map) => {
                if !matches!(map.get("type"), Some(Value::String(_) | Value::Array(_))) {
                    return Err(bad("no 'type'"));
                }
                if map.get("serviceEndpoint").is_none_or(Value::is_null) {
                    return Err(bad("no 'serviceEndpoint'"));
                }
                if map.get("id").is_some_and(|id| !id.is_string()) {
                    return Err(bad("'id' is not a string"));
                }
                Ok(map)
            }
            _ => Err(bad("not a JSON object")),
        })
        .collect()
}

/// Resolve a `did:peer:2` DID to its (spec-clarified) document.
pub fn resolve_peer2(did: &str) -> Result<DidDocument> {
    if did.len() > MAX_PEER_DID_LEN {
        return Err(Error::new(ErrorKind::TooLarge, "did:peer:2 is too long"));
    }
    let elements = did
        .strip_prefix("did:peer:2.")
        .ok_or_else(|| Error::malformed("a did:peer:2 must start with 'did:peer:2.'"))?;
    let mut doc = DidDocument::new(did);
    doc.context = Some(Value::Array(vec![
        DID_CONTEXT.into(),
        MULTIKEY_CONTEXT.into(),
    ]));
    let mut key_count = 0usize;
    let mut unnamed_services = 0usize;
    let mut service_count = 0usize;
    for element in elements.split('.') {
        let mut chars = element.chars();
        let code = chars
            .next()
            .ok_or_else(|| Error::malformed("did:peer:2 has an empty element"))?;
        let body = chars.as_str();
        if code == 'S' {
            for mut service in decode_services(body, service_count)? {
                service_count += 1;
                if !service.contains_key("id") {
                    let id = match unnamed_services {
                        0 => "#service".to_owned(),
                        n => format!("#service-{n}"),
                    };
                    unnamed_services += 1;
                    service.insert("id".into(), Value::String(id));
                }
                let service: Service = serde_json::from_value(Value::Object(service))
                    .map_err(|e| crate::message::json_error("did:peer:2 service", &e))?;
                doc.service.push(service);
            }
            continue;
        }
        let purpose = Purpose::from_code(code).ok_or_else(|| {
            Error::malformed(format!(
                "did:peer:2 has an unknown purpose code '{}'",
                code.escape_debug()
            ))
        })?;
        if !body.starts_with('z') {
            return Err(Error::malformed(
                "did:peer:2 keys must be base58btc multibase ('z')",
            ));
        }
        let key = multikey::public_key_from_multibase(body)
            .map_err(|e| e.context(format!("did:peer:2 key {}", key_count + 1)))?;
        if !purpose.accepts(key.key_type()) {
            return Err(Error::malformed(format!(
                "did:peer:2 key {} is a {} key, which cannot serve purpose '{code}'",
                key_count + 1,
                key.key_type()
            )));
        }
        key_count += 1;
        let id = format!("#key-{key_count}");
        let mut vm = VerificationMethod::multikey(id.clone(), did, &key);
        // Keep the key exactly as the DID writes it.
        vm.public_key_multibase = Some(body.to_owned());
        doc.verification_method.push(vm);
        let reference = VerificationRelationship::Reference(id);
        match purpose {
            Purpose::Assertion => doc.assertion_method.push(reference),
            Purpose::Encryption => doc.key_agreement.push(reference),
            Purpose::Verification => doc.authentication.push(reference),
            Purpose::CapabilityInvocation => doc.capability_invocation.push(reference),
            Purpose::CapabilityDelegation => doc.capability_delegation.push(reference),
        }
    }
    doc.also_known_as = vec![peer2_to_peer3(did)?];
    Ok(doc)
}

/// `did:peer:3` + multibase(multihash(SHA-256)) of what follows `did:peer:2`.
pub fn peer2_to_peer3(did: &str) -> Result<String> {
    let rest = did
        .strip_prefix("did:peer:2")
        .ok_or_else(|| Error::illegal_argument("not a did:peer:2 DID"))?;
    Ok(format!(
        "did:peer:3{}",
        sha256_multihash_multibase(rest.as_bytes())
    ))
}

/// Resolve a `did:peer:3` whose did:peer:2 is known: the did:peer:2 document under the
/// did:peer:3 (same relative ids), with the did:peer:2 as `alsoKnownAs`.
pub fn resolve_peer3(did: &str, peer2: &str) -> Result<DidDocument> {
    if peer2_to_peer3(peer2)? != did {
        return Err(Error::malformed(format!(
            "{} is not the short form of the did:peer:2 given",
            crate::error::excerpt(did)
        )));
    }
    let mut doc = resolve_peer2(peer2)?;
    doc.id = did.to_owned();
    for vm in &mut doc.verification_method {
        vm.controller = did.to_owned();
    }
    doc.also_known_as = vec![peer2.to_owned()];
    Ok(doc)
}

fn sha256_multihash_multibase(data: &[u8]) -> String {
    let mut multihash = Vec::with_capacity(34);
    multihash.extend_from_slice(&[0x12, 0x20]);
    multihash.extend_from_slice(&Sha256::digest(data));
    multikey::encode_multibase(&multihash)
}

// ---------------------------------------------------------------------------------------------
// did:peer:4

/// Check the did:peer:4 input document rules: an object without `id`, whose resources
/// (verification methods, embedded methods, services) have relative ids and a type.
fn check_input_document(doc: &Value) -> Result<&Map<String, Value>> {
    let map = doc
        .as_object()
        .ok_or_else(|| Error::malformed("a did:peer:4 document must be a JSON object"))?;
    if map.is_empty() {
        return Err(Error::malformed("a did:peer:4 document must not be empty"));
    }
    if map.contains_key("id") {
        return Err(Error::malformed(
            "a did:peer:4 input document must not have an 'id'",
        ));
    }
    if map.get("alsoKnownAs").is_some_and(|a| !a.is_array()) {
        return Err(Error::malformed("did:peer:4 'alsoKnownAs' must be a list"));
    }
    for member in [
        "verificationMethod",
        "authentication",
        "assertionMethod",
        "keyAgreement",
        "capabilityInvocation",
        "capabilityDelegation",
        "service",
    ] {
        let Some(list) = map.get(member) else {
            continue;
        };
        let list = list
            .as_array()
            .ok_or_else(|| Error::malformed(format!("did:peer:4 '{member}' must be a list")))?;
        for resource in list.iter().filter_map(Value::as_object) {
            match resource.get("id").and_then(Value::as_str) {
                Some(id) if id.starts_with('#') => {}
                _ => {
                    return Err(Error::malformed(format!(
                        "did:peer:4 '{member}' entries need a relative id ('#...')"
                    )))
                }
            }
            if !resource.contains_key("type") {
                return Err(Error::malformed(format!(
                    "did:peer:4 '{member}' entries need a type"
                )));
            }
        }
    }
    Ok(map)
}

fn peer4_from_json_text(json: &str) -> Result<String> {
    let mut bytes = Vec::with_capacity(json.len() + 2);
    multikey::write_varint(JSON_CODEC, &mut bytes);
    bytes.extend_from_slice(json.as_bytes());
    // Refused before encoding: base58 costs time quadratic in the length, and a DID longer than
    // the limit would be refused by every resolver of ours. Each byte takes at least 1.36
    // base58 characters (log 256 / log 58); the prefix and hash take about 60.
    let least = bytes.len().saturating_mul(136) / 100 + 60;
    if least > crate::did::MAX_DID_LEN {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!(
                "a did:peer:4 of this {}-byte document would exceed the DID limit of {} bytes",
                json.len(),
                crate::did::MAX_DID_LEN
            ),
        ));
    }
    let encoded = multikey::encode_multibase(&bytes);
    let hash = sha256_multihash_multibase(encoded.as_bytes());
    Ok(format!("did:peer:4{hash}:{encoded}"))
}

/// Build the long form `did:peer:4` of an input document (serialized without whitespace, keys
/// in serde_json's order).
pub fn encode_peer4(input: &Value) -> Result<String> {
    check_input_document(input)?;
    let json = serde_json::to_string(input)
        .map_err(|_| Error::invalid_state("document does not serialize"))?;
    peer4_from_json_text(&json)
}

/// Build the long form `did:peer:4` of an input document given as JSON text, keeping its member
/// order (only whitespace between tokens is removed), as other implementations do.
pub fn encode_peer4_json(input: &str) -> Result<String> {
    let value: Value = serde_json::from_str(input)
        .map_err(|e| crate::message::json_error("did:peer:4 document", &e))?;
    check_input_document(&value)?;
    peer4_from_json_text(&minify_json(input))
}

/// Remove whitespace outside strings from valid JSON text.
fn minify_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

/// The short form of a long form `did:peer:4` (no check of the hash: see [`resolve_peer4`]).
pub fn peer4_short_form(long: &str) -> Result<String> {
    let (short, _) = split_peer4(long)?;
    Ok(short.to_owned())
}

/// Split a long form into (short form, encoded document), checking the shapes.
fn split_peer4(long: &str) -> Result<(&str, &str)> {
    if long.len() > MAX_PEER_DID_LEN {
        return Err(Error::new(ErrorKind::TooLarge, "did:peer:4 is too long"));
    }
    let rest = long
        .strip_prefix("did:peer:4")
        .ok_or_else(|| Error::illegal_argument("not a did:peer:4 DID"))?;
    let (hash, encoded) = rest
        .split_once(':')
        .ok_or_else(|| Error::malformed("not a long form did:peer:4 (no encoded document)"))?;
    check_peer4_hash_shape(hash)?;
    if !encoded.starts_with('z') || encoded.len() < 2 {
        return Err(Error::malformed(
            "the did:peer:4 encoded document must be base58btc multibase ('z')",
        ));
    }
    let short_len = "did:peer:4".len() + hash.len();
    let short = long
        .get(..short_len)
        .ok_or_else(|| Error::invalid_state("did:peer:4 split"))?;
    Ok((short, encoded))
}

fn check_peer4_hash_shape(hash: &str) -> Result<()> {
    // `zQm` + 44 base58 characters: a base58btc SHA-256 multihash.
    let well_formed = hash.len() == 47
        && hash.starts_with("zQm")
        && bs58::decode(hash.get(1..).unwrap_or_default())
            .into_vec()
            .is_ok_and(|b| b.len() == 34);
    if well_formed {
        Ok(())
    } else {
        Err(Error::malformed(
            "the did:peer:4 hash is not a base58btc SHA-256 multihash",
        ))
    }
}

/// Check the short form shape of a `did:peer:4` (a DID that is only the hash).
pub fn check_peer4_short(short: &str) -> Result<()> {
    let hash = short
        .strip_prefix("did:peer:4")
        .ok_or_else(|| Error::illegal_argument("not a did:peer:4 DID"))?;
    check_peer4_hash_shape(hash)
}

/// Decode (and check the hash of) a long form: its input document.
fn decode_peer4(long: &str) -> Result<(String, Value)> {
    let (short, encoded) = split_peer4(long)?;
    let expected = sha256_multihash_multibase(encoded.as_bytes());
    if short.strip_prefix("did:peer:4") != Some(expected.as_str()) {
        return Err(Error::malformed(
            "the did:peer:4 hash does not match its encoded document",
        ));
    }
    let bytes = multikey::decode_multibase(encoded)?;
    let (codec, json) = multikey::split_multicodec(&bytes)?;
    if codec != JSON_CODEC {
        return Err(Error::malformed(format!(
            "the did:peer:4 document has multicodec 0x{codec:x}, not JSON (0x200)"
        )));
    }
    let value: Value = crate::message::json_from_slice(json, "did:peer:4 document")?;
    check_input_document(&value)?;
    Ok((short.to_owned(), value))
}

/// Add the DID, `alsoKnownAs` and the implied controllers to a did:peer:4 input document.
fn contextualize(mut value: Value, did: &str, other_form: &str) -> Result<DidDocument> {
    let Some(map) = value.as_object_mut() else {
        return Err(Error::malformed(
            "a did:peer:4 document must be a JSON object",
        ));
    };
    map.insert("id".into(), Value::String(did.to_owned()));
    match map.get_mut("alsoKnownAs") {
        Some(Value::Array(aka)) => {
            if !aka.iter().any(|a| a.as_str() == Some(other_form)) {
                aka.push(Value::String(other_form.to_owned()));
            }
        }
        _ => {
            map.insert(
                "alsoKnownAs".into(),
                Value::Array(vec![Value::String(other_form.to_owned())]),
            );
        }
    }
    for member in [
        "verificationMethod",
        "authentication",
        "assertionMethod",
        "keyAgreement",
        "capabilityInvocation",
        "capabilityDelegation",
    ] {
        if let Some(Value::Array(entries)) = map.get_mut(member) {
            for vm in entries.iter_mut().filter_map(Value::as_object_mut) {
                vm.entry("controller")
                    .or_insert_with(|| Value::String(did.to_owned()));
            }
        }
    }
    DidDocument::from_value(value)
}

/// Resolve a long form `did:peer:4`, checking its hash.
pub fn resolve_peer4(long: &str) -> Result<DidDocument> {
    let (short, input) = decode_peer4(long)?;
    contextualize(input, long, &short)
}

/// Resolve a short form `did:peer:4` given its long form (learned earlier), checking that they
/// belong together.
pub fn resolve_peer4_short(short: &str, long: &str) -> Result<DidDocument> {
    let (expected_short, input) = decode_peer4(long)?;
    if expected_short != short {
        return Err(Error::malformed(format!(
            "{} is not the short form of the did:peer:4 given",
            crate::error::excerpt(short)
        )));
    }
    contextualize(input, short, long)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyPair;
    use serde_json::json;

    #[test]
    fn abbreviations_round_trip() {
        let service = json!({"type": "DIDCommMessaging", "serviceEndpoint": {"uri": "https://x", "accept": ["didcomm/v2"], "routingKeys": ["did:example:m#k"]}});
        let short = abbreviate(service.clone());
        assert_eq!(
            short,
            json!({"t": "dm", "s": {"uri": "https://x", "a": ["didcomm/v2"], "r": ["did:example:m#k"]}})
        );
        assert_eq!(expand_abbreviations(short), service);
    }

    #[test]
    fn legacy_service_encodings() {
        let ed = KeyPair::generate(KeyType::Ed25519).unwrap();
        let x = KeyPair::generate(KeyType::X25519).unwrap();
        let keys = format!(
            ".E{}.V{}",
            multikey::public_key_to_multibase(x.public()),
            multikey::public_key_to_multibase(ed.public())
        );
        // DIDComm v2.0 service, padded base64url (peerdid 0.2 style).
        let padded = base64::engine::general_purpose::URL_SAFE.encode(
            r#"{"t":"dm","s":"https://example.com/endpoint","r":["did:example:somemediator#somekey"]}"#,
        );
        // Two services in one JSON list (peerdid 0.3 style).
        let list = b64::encode(
            r##"[{"t":"dm","s":"https://a"},{"id":"#mine","t":"dm","s":{"uri":"https://b"}}]"##,
        );
        let did = format!("did:peer:2{keys}.S{padded}.S{list}");
        let doc = resolve_peer2(&did).unwrap();
        let ids: Vec<_> = doc.service.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["#service", "#service-1", "#mine"]);
        let endpoints = doc.didcomm_endpoints();
        assert_eq!(endpoints[0].uri, "https://example.com/endpoint");
        assert_eq!(
            endpoints[0].routing_keys,
            ["did:example:somemediator#somekey"]
        );
        assert_eq!(endpoints[2].uri, "https://b");
        assert_eq!(doc.key_agreement[0].id(), "#key-1");
        assert_eq!(doc.authentication[0].id(), "#key-2");
    }

    #[test]
    fn bad_peer2_dids_are_typed_errors() {
        let ed = multikey::public_key_to_multibase(
            KeyPair::generate(KeyType::Ed25519).unwrap().public(),
        );
        let x =
            multikey::public_key_to_multibase(KeyPair::generate(KeyType::X25519).unwrap().public());
        let cases = [
            "did:peer:2".to_owned(),
            "did:peer:2.".to_owned(),
            format!("did:peer:2.V{ed}..E{x}"),
            format!("did:peer:2.Q{ed}"),
            format!("did:peer:2.V{x}"),          // X25519 cannot sign
            format!("did:peer:2.E{ed}"),         // Ed25519 cannot agree
            format!("did:peer:2.V{}", &ed[1..]), // no multibase prefix
            format!("did:peer:2.V{}0", &ed),     // '0' is not base58
            format!("did:peer:2.Vz{}", "6Mk"),   // too short
            format!("did:peer:2.V{ed}.S"),       // empty service
            format!("did:peer:2.V{ed}.S!!"),     // not base64url
            format!("did:peer:2.V{ed}.S{}", b64::encode("[1]")),
            format!("did:peer:2.V{ed}.S{}", b64::encode("{\"s\":\"https://x\"}")),
            format!("did:peer:2.V{ed}.S{}", b64::encode("{\"t\":\"dm\"}")),
            format!(
                "did:peer:2.V{ed}.S{}",
                b64::encode("{\"t\":\"dm\",\"s\":\"x\",\"id\":5}")
            ),
            format!("did:peer:2.V{ed}.S{}", b64::encode("not json")),
        ];
        for did in cases {
            let err = resolve_peer2(&did).unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::Malformed | ErrorKind::Unsupported),
                "{did}: {err}"
            );
        }
    }

    #[test]
    fn peer4_round_trip_and_tamper() {
        let input = json!({"@context": ["https://www.w3.org/ns/did/v1"], "verificationMethod": [{"id": "#k", "type": "Multikey", "publicKeyMultibase": "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"}], "authentication": ["#k"]});
        let long = encode_peer4(&input).unwrap();
        let short = peer4_short_form(&long).unwrap();
        let doc = resolve_peer4(&long).unwrap();
        assert_eq!(doc.also_known_as, core::slice::from_ref(&short));
        assert_eq!(doc.verification_method[0].controller, long);
        let doc = resolve_peer4_short(&short, &long).unwrap();
        assert_eq!(doc.id, short);
        // Change one character of the encoded document: the hash no longer matches.
        let mut tampered = long.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'a' { 'b' } else { 'a' });
        assert_eq!(
            resolve_peer4(&tampered).unwrap_err().kind(),
            ErrorKind::Malformed
        );
        assert!(encode_peer4(&json!({"id": "did:x"})).is_err());
        assert!(encode_peer4(&json!({"service": [{"id": "did:x#abs", "type": "t"}]})).is_err());
        assert_eq!(
            minify_json("{ \"a\" : [ 1 , \"b c\\\" d\" ] }\n"),
            "{\"a\":[1,\"b c\\\" d\"]}"
        );
    }

    #[test]
    fn peer4_of_a_document_too_large_to_resolve_is_refused_before_encoding() {
        // Every document either encodes to a DID within the limit (which resolves) or is
        // refused as too large; base58 of a large one would take seconds.
        let mut largest_accepted = 0;
        for padding in (5_000..7_000).step_by(100) {
            let input =
                json!({"@context": ["https://www.w3.org/ns/did/v1"], "x": "p".repeat(padding)});
            match encode_peer4(&input) {
                Ok(long) => {
                    assert!(
                        long.len() <= crate::did::MAX_DID_LEN,
                        "{padding}: {}",
                        long.len()
                    );
                    resolve_peer4(&long).unwrap();
                    largest_accepted = padding;
                }
                Err(e) => assert_eq!(e.kind(), ErrorKind::TooLarge, "{padding}: {e}"),
            }
        }
        // The bound is close: documents within 1% of the most that fits are accepted.
        assert!(largest_accepted >= 5_800, "{largest_accepted}");
        let huge = format!("{{\"x\":\"{}\"}}", "7".repeat(28_000));
        let err = encode_peer4_json(&huge).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooLarge);
        assert!(err.reason().len() < 120, "{err}");
    }
}
