//! JSON Web Keys (RFC 7517 / RFC 8037) for the key types DIDComm uses.

use crate::prelude::*;

use serde_json::{Map, Value};

use super::keys::{KeyPair, KeyType, PublicKey};
use crate::b64;
use crate::error::{excerpt, Error, Result};

fn str_member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::malformed(format!(
            "JWK member '{name}' must be a string"
        ))),
    }
}

fn object(jwk: &Value) -> Result<&Map<String, Value>> {
    jwk.as_object()
        .ok_or_else(|| Error::malformed("JWK must be a JSON object"))
}

/// The key type a JWK declares, checking that `kty` and `crv` agree.
pub fn jwk_key_type(jwk: &Value) -> Result<KeyType> {
    let jwk = object(jwk)?;
    let kty = str_member(jwk, "kty")?.ok_or_else(|| Error::malformed("JWK has no 'kty'"))?;
    let crv = str_member(jwk, "crv")?.ok_or_else(|| Error::malformed("JWK has no 'crv'"))?;
    let key_type = KeyType::from_jwk_crv(crv)
        .ok_or_else(|| Error::unsupported(format!("unsupported JWK curve '{}'", excerpt(crv))))?;
    if key_type.jwk_kty() != kty {
        return Err(Error::malformed(format!(
            "JWK 'kty' {} does not match curve {crv}",
            excerpt(kty)
        )));
    }
    Ok(key_type)
}

/// The longest coordinate we decode (base64url characters): P-521's 66 bytes are 88, with
/// room for padding. JWKs arrive in messages (a JWE `epk`) as well as in DID documents.
const MAX_COORDINATE_LEN: usize = 128;

fn public_from_parts(key_type: KeyType, jwk: &Map<String, Value>) -> Result<PublicKey> {
    let x = str_member(jwk, "x")?.ok_or_else(|| Error::malformed("JWK has no 'x'"))?;
    let x = b64::decode_bounded(x, MAX_COORDINATE_LEN, "JWK 'x'")?;
    match key_type {
        KeyType::Ed25519 | KeyType::X25519 => PublicKey::from_bytes(key_type, &x),
        _ => {
            let y = str_member(jwk, "y")?.ok_or_else(|| Error::malformed("EC JWK has no 'y'"))?;
            let y = b64::decode_bounded(y, MAX_COORDINATE_LEN, "JWK 'y'")?;
            PublicKey::from_coordinates(key_type, &x, &y)
        }
    }
}

/// Parse a public JWK, validating the point.
pub fn public_key_from_jwk(jwk: &Value) -> Result<PublicKey> {
    let key_type = jwk_key_type(jwk)?;
    public_from_parts(key_type, object(jwk)?)
}

/// Parse a private JWK (`d` required). When the JWK also carries the public coordinates they
/// must match the secret.
pub fn key_pair_from_jwk(jwk: &Value) -> Result<KeyPair> {
    let key_type = jwk_key_type(jwk)?;
    let map = object(jwk)?;
    let d = str_member(map, "d")?.ok_or_else(|| Error::malformed("private JWK has no 'd'"))?;
    let d = zeroize::Zeroizing::new(b64::decode(d, "JWK 'd'")?);
    let pair = KeyPair::from_secret_bytes(key_type, &d)?;
    if map.contains_key("x") {
        let declared = public_from_parts(key_type, map)?;
        if &declared != pair.public() {
            return Err(Error::malformed(
                "private JWK's public coordinates do not match its secret",
            ));
        }
    }
    Ok(pair)
}

/// The public JWK of a key.
pub fn public_key_to_jwk(key: &PublicKey) -> Value {
    let key_type = key.key_type();
    let (x, y) = key.coordinates();
    let mut map = Map::new();
    map.insert("kty".into(), key_type.jwk_kty().into());
    map.insert("crv".into(), key_type.jwk_crv().into());
    map.insert("x".into(), b64::encode(x).into());
    if let Some(y) = y {
        map.insert("y".into(), b64::encode(y).into());
    }
    Value::Object(map)
}

/// The private JWK of a key pair (includes `d`: handle with care).
pub fn key_pair_to_jwk(pair: &KeyPair) -> Value {
    let mut jwk = public_key_to_jwk(pair.public());
    if let Value::Object(map) = &mut jwk {
        map.insert(
            "d".into(),
            b64::encode(pair.secret_bytes().as_slice()).into(),
        );
    }
    jwk
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jwk_round_trip_all_curves() {
        for kt in KeyType::ALL {
            let pair = KeyPair::generate(kt).unwrap();
            let public = public_key_from_jwk(&public_key_to_jwk(pair.public())).unwrap();
            assert_eq!(&public, pair.public());
            let again = key_pair_from_jwk(&key_pair_to_jwk(&pair)).unwrap();
            assert_eq!(again.public(), pair.public());
        }
    }

    #[test]
    fn rejects_bad_jwks() {
        for bad in [
            json!("x"),
            json!({"kty": "OKP", "crv": "X25519"}),
            json!({"kty": "EC", "crv": "X25519", "x": "AAAA"}),
            json!({"kty": "OKP", "crv": "X448", "x": "AAAA"}),
            json!({"kty": "OKP", "crv": "X25519", "x": 5}),
            json!({"kty": "OKP", "crv": "X25519", "x": "AAAA"}),
            json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}),
        ] {
            assert!(public_key_from_jwk(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn private_jwk_must_match_its_public_part() {
        let a = KeyPair::generate(KeyType::X25519).unwrap();
        let b = KeyPair::generate(KeyType::X25519).unwrap();
        let mut jwk = key_pair_to_jwk(&a);
        jwk["x"] = public_key_to_jwk(b.public())["x"].clone();
        assert!(key_pair_from_jwk(&jwk).is_err());
    }
}
