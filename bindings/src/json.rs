//! JSON at the boundary: messages, DID documents and secrets cross as JSON text (the wire form,
//! what every language already parses), options and results as typed records.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{DidCommError, Result};

/// A serde error reduced to its category and position: serde's own text may quote the input,
/// which can be key material.
pub(crate) fn json_error(what: &str, e: &serde_json::Error) -> DidCommError {
    let category = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "of the wrong shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    DidCommError::malformed(format!(
        "{what} is {category} (line {}, column {})",
        e.line(),
        e.column()
    ))
}

/// Serialize a value we built.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<String> {
    serde_json::to_string(value)
        .map_err(|_| DidCommError::invalid_state(format!("{what} does not serialize")))
}

/// Parse caller-given JSON.
pub(crate) fn parse_value(json: &str, what: &str) -> Result<Value> {
    serde_json::from_str(json).map_err(|e| json_error(what, &e))
}

/// Parse caller-given JSON that must be an object.
pub(crate) fn parse_object(json: &str, what: &str) -> Result<Map<String, Value>> {
    match parse_value(json, what)? {
        Value::Object(map) => Ok(map),
        _ => Err(DidCommError::illegal(format!(
            "{what} must be a JSON object"
        ))),
    }
}
