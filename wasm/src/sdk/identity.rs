//! New identities (the core's `identity.rs`): `generateIdentity`, `generateDidKey`, and the
//! wallet form of an identity (`__identityWallet`, behind `Wallet.addIdentity`).
//!
//! An identity crosses as `{ did, document, secrets }`: the DID, its DID document and its
//! secrets in the wallet file's form.

use didcomm_edge::identity::{DidCommService, Identity, IdentityMethod};
use didcomm_edge::{DidDocument, Error, KeyType, Secret};
use js_sys::Array;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::{object_arg, to_js};
use crate::convert::{json_category, string_arg, stringify_object};
use crate::error::{illegal, js_err};

/// A service as JS gives it: `{ uri, routingKeys?, accept? }`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ServiceArg {
    uri: String,
    #[serde(default)]
    routing_keys: Vec<String>,
    accept: Option<Vec<String>>,
}

impl From<ServiceArg> for DidCommService {
    fn from(arg: ServiceArg) -> Self {
        let mut service = DidCommService::new(arg.uri).with_routing_keys(arg.routing_keys);
        if let Some(accept) = arg.accept {
            service.accept = accept;
        }
        service
    }
}

/// The JS form of an identity.
#[derive(Serialize, Deserialize)]
struct IdentityForm {
    did: String,
    document: DidDocument,
    secrets: Vec<Secret>,
}

fn method_arg(value: &JsValue) -> Result<IdentityMethod, Error> {
    match string_arg(value, "method")?.as_str() {
        "peer2" => Ok(IdentityMethod::Peer2),
        "peer4" => Ok(IdentityMethod::Peer4),
        "key" => Ok(IdentityMethod::Key),
        _ => Err(illegal("method must be 'peer2', 'peer4' or 'key'")),
    }
}

fn services_arg(value: &JsValue) -> Result<Vec<DidCommService>, Error> {
    if value.is_undefined() || value.is_null() {
        return Ok(vec![]);
    }
    let list: Vec<JsValue> = if Array::is_array(value) {
        Array::from(value).iter().collect()
    } else {
        vec![value.clone()]
    };
    list.iter()
        .map(|service| {
            let text = stringify_object(service, "a service")?;
            serde_json::from_str::<ServiceArg>(&text)
                .map(DidCommService::from)
                .map_err(|e| {
                    illegal(format!(
                        "a service is {{uri, routingKeys?, accept?}} ({})",
                        json_category(&e)
                    ))
                })
        })
        .collect()
}

fn identity_to_js(identity: Identity) -> Result<JsValue, Error> {
    to_js(
        &IdentityForm {
            did: identity.did,
            document: identity.document,
            secrets: identity.secrets,
        },
        "an identity",
    )
}

/// `generateIdentity(method, services?)`: a new identity with fresh keys. `method` is
/// `'peer2'`, `'peer4'` (long form) or `'key'`; `services` (one or a list of
/// `{uri, routingKeys?, accept?}`) go into the document of a did:peer.
#[wasm_bindgen(js_name = generateIdentity)]
pub fn generate_identity(method: JsValue, services: JsValue) -> Result<JsValue, JsValue> {
    let generate = || {
        let method = method_arg(&method)?;
        let services = services_arg(&services)?;
        identity_to_js(Identity::generate_with_services(method, &services)?)
    };
    generate().map_err(js_err)
}

/// `generateDidKey(keyType)`: a did:key identity for a fresh key of `keyType` (the JWK curve
/// name: `Ed25519`, `X25519`, `P-256`, `P-384`, `P-521`, `secp256k1`).
#[wasm_bindgen(js_name = generateDidKey)]
pub fn generate_did_key(key_type: JsValue) -> Result<JsValue, JsValue> {
    let generate = || {
        let name = string_arg(&key_type, "keyType")?;
        let key_type = KeyType::ALL
            .into_iter()
            .find(|k| k.jwk_crv() == name)
            .ok_or_else(|| {
                illegal("keyType must be Ed25519, X25519, P-256, P-384, P-521 or secp256k1")
            })?;
        identity_to_js(Identity::did_key(key_type)?)
    };
    generate().map_err(js_err)
}

/// `__identityWallet(identity)`: the identity in wallet form `{did_docs, secrets}` (a long form
/// did:peer:4 brings its short form too). Internal: behind `Wallet.addIdentity`.
#[wasm_bindgen(js_name = "__identityWallet")]
pub fn identity_wallet(identity: JsValue) -> Result<JsValue, JsValue> {
    let convert = || {
        let fields = object_arg(&identity, "the identity")?;
        let form: IdentityForm = serde_json::from_value(serde_json::Value::Object(fields))
            .map_err(|e| {
                illegal(format!(
                    "an identity is {{did, document, secrets}} ({})",
                    json_category(&e)
                ))
            })?;
        if form.document.id != form.did {
            return Err(illegal("the identity's document is for another DID"));
        }
        for secret in &form.secrets {
            secret.key_pair()?;
        }
        let identity = Identity {
            did: form.did,
            document: form.document,
            secrets: form.secrets,
        };
        let wallet = identity.to_wallet()?;
        to_js(&wallet, "a wallet")
    };
    convert().map_err(js_err)
}
