//! The SDK part of the npm package (`didcomm-edge/sdk`), compiled only with the `sdk` feature so
//! that pack/unpack users keep the engine-only module: the core's [`ResolverChain`] behind the
//! engine (did:key, did:peer, did:jwk built in, did:web through `fetch`), identities, routing
//! and every protocol message of the core's registry. Each function converts and calls the
//! core; no protocol rule lives here.
//!
//! [`ResolverChain`]: didcomm_edge::ResolverChain

pub(crate) mod identity;
pub(crate) mod protocols;
pub(crate) mod resolve;
pub(crate) mod routing;

use didcomm_edge::{Error, ErrorKind};
use wasm_bindgen::JsValue;

use crate::convert::stringify_object;
use crate::error::illegal;

/// A JSON object given by JS (an object, or JSON text of one) as a serde map.
pub(crate) fn object_arg(
    value: &JsValue,
    what: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    let text = match value.as_string() {
        Some(text) => text,
        None => stringify_object(value, what)?,
    };
    match serde_json::from_str(&text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(illegal(format!("{what} must be a JSON object"))),
    }
}

/// An optional JSON object (`undefined`/`null`: none).
pub(crate) fn optional_object_arg(
    value: &JsValue,
    what: &str,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, Error> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    object_arg(value, what).map(Some)
}

/// A serde value of the core as a plain JS value (through JSON, as messages cross).
pub(crate) fn to_js<T: serde::Serialize>(value: &T, what: &str) -> Result<JsValue, Error> {
    let text = serde_json::to_string(value).map_err(|_| {
        Error::new(
            ErrorKind::InvalidState,
            format!("{what} does not serialize"),
        )
    })?;
    crate::convert::parse_json(&text)
}
