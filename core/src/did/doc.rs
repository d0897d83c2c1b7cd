//! The W3C DID document model, as far as DIDComm needs it, read tolerantly.

use crate::prelude::*;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::crypto::{jwk, multikey, KeyType, PublicKey};
use crate::error::{excerpt, Error, Result};

/// A DID document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DidDocument {
    /// JSON-LD context, kept as given.
    #[serde(rename = "@context", default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// The DID.
    pub id: String,
    /// Other identifiers of the subject.
    #[serde(rename = "alsoKnownAs", default, skip_serializing_if = "Vec::is_empty")]
    pub also_known_as: Vec<String>,
    /// Controller(s), kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<Value>,
    /// Verification methods referenced by the relationships.
    #[serde(
        rename = "verificationMethod",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub verification_method: Vec<VerificationMethod>,
    /// Keys that authenticate the DID subject (DIDComm: signing keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authentication: Vec<VerificationRelationship>,
    /// Keys for assertions.
    #[serde(
        rename = "assertionMethod",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub assertion_method: Vec<VerificationRelationship>,
    /// Keys for key agreement (DIDComm: encryption keys).
    #[serde(
        rename = "keyAgreement",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub key_agreement: Vec<VerificationRelationship>,
    /// Keys for capability invocation.
    #[serde(
        rename = "capabilityInvocation",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub capability_invocation: Vec<VerificationRelationship>,
    /// Keys for capability delegation.
    #[serde(
        rename = "capabilityDelegation",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub capability_delegation: Vec<VerificationRelationship>,
    /// Services (DIDComm: `DIDCommMessaging` endpoints).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service: Vec<Service>,
    /// Every other member, kept as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An entry of a verification relationship: a reference to a verification method, or one
/// embedded in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum VerificationRelationship {
    /// A DID URL (absolute or relative) naming a method in `verificationMethod`.
    Reference(String),
    /// A method defined in place.
    Embedded(VerificationMethod),
}

impl VerificationRelationship {
    /// The (possibly relative) id of the method this entry refers to or embeds.
    pub fn id(&self) -> &str {
        match self {
            VerificationRelationship::Reference(id) => id,
            VerificationRelationship::Embedded(vm) => &vm.id,
        }
    }
}

/// A verification method: a public key and how it is expressed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerificationMethod {
    /// The method's DID URL (may be relative, `#key-1`).
    pub id: String,
    /// `JsonWebKey2020`, `Multikey`, `X25519KeyAgreementKey2019`, ...
    #[serde(rename = "type")]
    pub type_: String,
    /// The controlling DID (empty when absent, as in did:peer:4 input documents).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub controller: String,
    /// The key as a JWK.
    #[serde(
        rename = "publicKeyJwk",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub public_key_jwk: Option<Value>,
    /// The key as a multibase string.
    #[serde(
        rename = "publicKeyMultibase",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub public_key_multibase: Option<String>,
    /// The raw key in base58 (2018/2019 suites).
    #[serde(
        rename = "publicKeyBase58",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub public_key_base58: Option<String>,
    /// Every other member, kept as given.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl VerificationMethod {
    /// Parse and validate the public key, checking that the material fits the method type.
    pub fn public_key(&self) -> Result<PublicKey> {
        let expected = match self.type_.as_str() {
            "Ed25519VerificationKey2018" | "Ed25519VerificationKey2020" => Some(KeyType::Ed25519),
            "X25519KeyAgreementKey2019" | "X25519KeyAgreementKey2020" => Some(KeyType::X25519),
            "EcdsaSecp256k1VerificationKey2019" => Some(KeyType::Secp256k1),
            // Typed NIST suites (did:key's legacy documents write `P256Key2021` with the
            // compressed point in base58).
            "EcdsaSecp256r1VerificationKey2019" | "P256Key2021" => Some(KeyType::P256),
            "P384Key2021" => Some(KeyType::P384),
            "P521Key2021" => Some(KeyType::P521),
            "JsonWebKey2020" | "JsonWebKey" | "Multikey" => None,
            other => {
                return Err(Error::unsupported(format!(
                    "verification method type '{}' is not supported",
                    excerpt(other)
                )))
            }
        };
        let key = if let Some(jwk_value) = &self.public_key_jwk {
            jwk::public_key_from_jwk(jwk_value)?
        } else if let Some(mb) = &self.public_key_multibase {
            match expected {
                // The 2020 suites are specified with a multicodec prefix, but some writers
                // put the raw key after the multibase prefix: accept both.
                Some(kt @ (KeyType::Ed25519 | KeyType::X25519)) => {
                    multikey::check_key_encoding_len(mb, "'publicKeyMultibase'")?;
                    let bytes = multikey::decode_multibase(mb)?;
                    if bytes.len() == 32 {
                        PublicKey::from_bytes(kt, &bytes)?
                    } else {
                        multikey::public_key_from_multibase(mb)?
                    }
                }
                _ => multikey::public_key_from_multibase(mb)?,
            }
        } else if let Some(b58) = &self.public_key_base58 {
            let kt = expected.ok_or_else(|| {
                Error::malformed(format!(
                    "'publicKeyBase58' needs a typed method, not '{}'",
                    excerpt(&self.type_)
                ))
            })?;
            multikey::check_key_encoding_len(b58, "'publicKeyBase58'")?;
            let bytes = bs58::decode(b58)
                .into_vec()
                .map_err(|_| Error::malformed("'publicKeyBase58' is not valid base58"))?;
            PublicKey::from_bytes(kt, &bytes)?
        } else {
            return Err(Error::malformed(format!(
                "verification method '{}' has no key material",
                excerpt(&self.id)
            )));
        };
        if let Some(kt) = expected {
            if kt != key.key_type() {
                return Err(Error::malformed(format!(
                    "verification method '{}' of type {} holds a {} key",
                    excerpt(&self.id),
                    excerpt(&self.type_),
                    key.key_type()
                )));
            }
        }
        Ok(key)
    }

    /// A `JsonWebKey2020` method for `key`.
    pub fn json_web_key(
        id: impl Into<String>,
        controller: impl Into<String>,
        key: &PublicKey,
    ) -> Self {
        VerificationMethod {
            id: id.into(),
            type_: "JsonWebKey2020".into(),
            controller: controller.into(),
            public_key_jwk: Some(jwk::public_key_to_jwk(key)),
            public_key_multibase: None,
            public_key_base58: None,
            extra: Map::new(),
        }
    }

    /// A `Multikey` method for `key`.
    pub fn multikey(id: impl Into<String>, controller: impl Into<String>, key: &PublicKey) -> Self {
        VerificationMethod {
            id: id.into(),
            type_: "Multikey".into(),
            controller: controller.into(),
            public_key_jwk: None,
            public_key_multibase: Some(multikey::public_key_to_multibase(key)),
            public_key_base58: None,
            extra: Map::new(),
        }
    }
}

/// A service entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// Service id (may be relative; empty when the writer left it out, as some did:peer:2
    /// encoders do).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Service type: a string or a list of strings.
    #[serde(rename = "type")]
    pub type_: Value,
    /// The endpoint: a URI string, an object, or a list of either (`null` when absent).
    #[serde(
        rename = "serviceEndpoint",
        default,
        skip_serializing_if = "Value::is_null"
    )]
    pub service_endpoint: Value,
    /// Every other member (DIDComm v2.0 put `routingKeys` and `accept` here).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A DIDComm messaging endpoint read from a `DIDCommMessaging` service, in any of its forms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DidCommEndpoint {
    /// The service id (absolute).
    pub service_id: String,
    /// Transport URI, or a DID naming a mediator.
    pub uri: String,
    /// Accepted media types / profiles (`didcomm/v2`, ...); empty means unspecified.
    pub accept: Vec<String>,
    /// Routing keys (DID URLs), outermost mediator last.
    pub routing_keys: Vec<String>,
}

impl DidCommEndpoint {
    /// Whether the endpoint is a DID (a mediator to resolve for its own endpoints) rather than
    /// a transport URI.
    pub fn uri_is_did(&self) -> bool {
        super::is_did(super::did_of(&self.uri))
    }
}

impl Service {
    /// Whether the service has the given type (in its string or list form).
    pub fn has_type(&self, wanted: &str) -> bool {
        match &self.type_ {
            Value::String(t) => t == wanted,
            Value::Array(ts) => ts.iter().any(|t| t.as_str() == Some(wanted)),
            _ => false,
        }
    }

    /// The DIDComm endpoints of a `DIDCommMessaging` service (v2.1 object form, v2.0 string
    /// form with service-level `routingKeys`/`accept`, or a list of either). Entries that are
    /// not well formed are skipped, including those whose `routingKeys` is not a list of
    /// strings: dropping one odd key would silently skip a mediator.
    pub fn didcomm_endpoints(&self, doc_id: &str) -> Vec<DidCommEndpoint> {
        if !self.has_type("DIDCommMessaging") {
            return vec![];
        }
        let service_id = absolute_id(doc_id, &self.id);
        let strings = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        // `None` when present but not a list of strings.
        let routing_keys = |v: Option<&Value>| -> Option<Vec<String>> {
            match v {
                None | Some(Value::Null) => Some(vec![]),
                Some(Value::Array(a)) => a.iter().map(|k| k.as_str().map(str::to_owned)).collect(),
                Some(_) => None,
            }
        };
        let from_value = |v: &Value| -> Option<DidCommEndpoint> {
            match v {
                Value::String(uri) => Some(DidCommEndpoint {
                    service_id: service_id.clone(),
                    uri: uri.clone(),
                    accept: strings(self.extra.get("accept")),
                    routing_keys: routing_keys(self.extra.get("routingKeys"))?,
                }),
                Value::Object(o) => Some(DidCommEndpoint {
                    service_id: service_id.clone(),
                    uri: o.get("uri")?.as_str()?.to_owned(),
                    accept: strings(o.get("accept").or_else(|| self.extra.get("accept"))),
                    routing_keys: routing_keys(
                        o.get("routingKeys")
                            .or_else(|| self.extra.get("routingKeys")),
                    )?,
                }),
                _ => None,
            }
        };
        match &self.service_endpoint {
            Value::Array(items) => items.iter().filter_map(from_value).collect(),
            other => from_value(other).into_iter().collect(),
        }
    }
}

impl DidDocument {
    /// An empty document for `did` (add methods, relationships and services to it).
    pub fn new(did: impl Into<String>) -> DidDocument {
        DidDocument {
            context: Some(Value::Array(vec![Value::String(
                "https://www.w3.org/ns/did/v1".into(),
            )])),
            id: did.into(),
            also_known_as: vec![],
            controller: None,
            verification_method: vec![],
            authentication: vec![],
            assertion_method: vec![],
            key_agreement: vec![],
            capability_invocation: vec![],
            capability_delegation: vec![],
            service: vec![],
            extra: Map::new(),
        }
    }

    /// Parse a DID document from JSON text.
    pub fn from_json(json: &str) -> Result<DidDocument> {
        serde_json::from_str(json).map_err(|e| crate::message::json_error("DID document", &e))
    }

    /// Parse a DID document from a JSON value.
    pub fn from_value(value: Value) -> Result<DidDocument> {
        serde_json::from_value(value).map_err(|e| crate::message::json_error("DID document", &e))
    }

    /// Serialize to a JSON value.
    pub fn to_value(&self) -> Result<Value> {
        serde_json::to_value(self)
            .map_err(|_| Error::invalid_state("DID document does not serialize"))
    }

    /// All DIDComm endpoints of the document, in service order.
    pub fn didcomm_endpoints(&self) -> Vec<DidCommEndpoint> {
        self.service
            .iter()
            .flat_map(|s| s.didcomm_endpoints(&self.id))
            .collect()
    }
}

/// Make a relative DID URL (`#key-1`, `?x#y`) absolute against `doc_id`.
pub fn absolute_id(doc_id: &str, id: &str) -> String {
    if id.starts_with('#') || id.starts_with('?') || id.starts_with('/') {
        format!("{doc_id}{id}")
    } else {
        id.to_owned()
    }
}
