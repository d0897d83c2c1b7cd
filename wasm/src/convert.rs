//! Conversions between JS values and the core's types.
//!
//! JSON data formats (messages, DID documents, secrets) cross as JSON text; the API's own small
//! structures (options, metadata, configuration) go through `serde-wasm-bindgen`, camelCase.

use std::time::Duration;

use didcomm_edge::message::ParseOptions;
use didcomm_edge::{
    Config, ContentEncAlg, Error, ErrorKind, FromPrior, Message, PackEncryptedOptions,
    UnpackOptions,
};
use js_sys::{Array, Object, JSON};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::error::{illegal, js_message};

/// JSON text of a JS object (`what` names it in errors).
pub(crate) fn stringify_object(value: &JsValue, what: &str) -> Result<String, Error> {
    if !value.is_object() || Array::is_array(value) {
        return Err(illegal(format!("{what} must be an object")));
    }
    let text = JSON::stringify(value).map_err(|e| {
        illegal(format!(
            "{what} cannot be written as JSON: {}",
            js_message(&e)
        ))
    })?;
    text.as_string()
        .ok_or_else(|| illegal(format!("{what} cannot be written as JSON")))
}

/// A JS value from JSON text the core produced.
pub(crate) fn parse_json(text: &str) -> Result<JsValue, Error> {
    JSON::parse(text).map_err(|_| Error::new(ErrorKind::InvalidState, "JSON.parse of our output"))
}

/// A required string argument.
pub(crate) fn string_arg(value: &JsValue, what: &str) -> Result<String, Error> {
    value
        .as_string()
        .ok_or_else(|| illegal(format!("{what} must be a string")))
}

/// An optional string argument (`undefined` and `null` mean absent).
pub(crate) fn optional_string_arg(value: &JsValue, what: &str) -> Result<Option<String>, Error> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    string_arg(value, what).map(Some)
}

/// A plaintext message from a JS object, validated as the core validates received ones.
pub(crate) fn message_from_js(value: &JsValue) -> Result<Message, Error> {
    let text = stringify_object(value, "the message")?;
    Message::from_json(&text, ParseOptions::default())
}

/// A plaintext message as a plain JS object.
pub(crate) fn message_to_js(message: &Message) -> Result<JsValue, Error> {
    parse_json(&message.to_json()?)
}

/// An options object: `undefined`/`null` give the defaults; unknown keys are refused so that a
/// misspelt option (or a snake_case one from another library) does not pass silently.
fn options_from_js<T: DeserializeOwned + Default>(
    value: &JsValue,
    what: &str,
    known: &[&str],
) -> Result<T, Error> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    if !value.is_object() || Array::is_array(value) {
        return Err(illegal(format!("{what} must be an object")));
    }
    for key in Object::keys(value.unchecked_ref::<Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !known.contains(&key.as_str()) {
            return Err(illegal(format!(
                "unknown {what} '{key}' (known: {})",
                known.join(", ")
            )));
        }
    }
    serde_wasm_bindgen::from_value(value.clone()).map_err(|e| illegal(format!("{what}: {e}")))
}

/// A Rust value as a plain JS object (maps as objects, `None` left out).
pub(crate) fn struct_to_js<T: Serialize>(value: &T) -> Result<JsValue, Error> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true))
        .map_err(|_| Error::new(ErrorKind::InvalidState, "a result does not convert to JS"))
}

/// `options` of `DidComm.packEncrypted`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PackEncryptedArgs {
    /// Sender DID or key id: authcrypt when given, anoncrypt otherwise.
    pub from: Option<String>,
    /// Sign with this DID or key id before encrypting.
    pub sign_by: Option<String>,
    protect_sender: Option<bool>,
    enc_alg_anon: Option<String>,
    to_kids: Option<Vec<String>>,
}

const PACK_ENCRYPTED_KEYS: &[&str] = &["from", "signBy", "protectSender", "encAlgAnon", "toKids"];

impl PackEncryptedArgs {
    pub(crate) fn from_js(value: &JsValue) -> Result<Self, Error> {
        options_from_js(value, "packEncrypted option", PACK_ENCRYPTED_KEYS)
    }

    pub(crate) fn core_options(&self) -> Result<PackEncryptedOptions, Error> {
        let mut options = PackEncryptedOptions::default()
            .protect_sender(self.protect_sender.unwrap_or(false))
            .to_kids(self.to_kids.clone().unwrap_or_default());
        if let Some(enc) = &self.enc_alg_anon {
            let alg = ContentEncAlg::parse(enc).ok_or_else(|| {
                illegal(format!(
                    "encAlgAnon '{enc}' is not one of A256CBC-HS512, A256GCM, XC20P"
                ))
            })?;
            options = options.enc_alg_anon(alg);
        }
        Ok(options)
    }
}

/// `options` of `DidComm.unpack`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UnpackArgs {
    expect_decrypt_by_all_keys: Option<bool>,
    unwrap_re_wrapping_forward: Option<bool>,
    require_body: Option<bool>,
    check_recipient_in_to: Option<bool>,
    reject_expired: Option<bool>,
    now: Option<u64>,
    check_from_prior_times: Option<bool>,
}

const UNPACK_KEYS: &[&str] = &[
    "expectDecryptByAllKeys",
    "unwrapReWrappingForward",
    "requireBody",
    "checkRecipientInTo",
    "rejectExpired",
    "now",
    "checkFromPriorTimes",
];

pub(crate) fn unpack_options_from_js(value: &JsValue) -> Result<UnpackOptions, Error> {
    let args: UnpackArgs = options_from_js(value, "unpack option", UNPACK_KEYS)?;
    let mut options = UnpackOptions::default();
    if let Some(v) = args.expect_decrypt_by_all_keys {
        options.expect_decrypt_by_all_keys = v;
    }
    if let Some(v) = args.unwrap_re_wrapping_forward {
        options.unwrap_re_wrapping_forward = v;
    }
    if let Some(v) = args.require_body {
        options.require_body = v;
    }
    if let Some(v) = args.check_recipient_in_to {
        options.check_recipient_in_to = v;
    }
    if let Some(v) = args.reject_expired {
        options.reject_expired = v;
    }
    if let Some(v) = args.check_from_prior_times {
        options.check_from_prior_times = v;
    }
    options.now = args.now;
    Ok(options)
}

/// The `config` argument of the `DidComm` constructor.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigArgs {
    max_message_size: Option<usize>,
    did_cache_capacity: Option<usize>,
    did_cache_ttl_seconds: Option<f64>,
    secret_cache_capacity: Option<usize>,
    static_secret_cache_capacity: Option<usize>,
    max_forward_unwraps: Option<usize>,
}

const CONFIG_KEYS: &[&str] = &[
    "maxMessageSize",
    "didCacheCapacity",
    "didCacheTtlSeconds",
    "secretCacheCapacity",
    "staticSecretCacheCapacity",
    "maxForwardUnwraps",
];

pub(crate) fn config_from_js(value: &JsValue) -> Result<Config, Error> {
    let args: ConfigArgs = options_from_js(value, "config option", CONFIG_KEYS)?;
    let mut config = Config::default();
    if let Some(v) = args.max_message_size {
        config = config.with_max_message_size(v);
    }
    if args.did_cache_capacity.is_some() || args.did_cache_ttl_seconds.is_some() {
        let ttl = match args.did_cache_ttl_seconds {
            None => config.did_cache_ttl,
            // Infinity: keep documents until evicted.
            Some(s) if s == f64::INFINITY => None,
            Some(s) => Some(Duration::try_from_secs_f64(s).map_err(|_| {
                illegal("didCacheTtlSeconds must be a non-negative number or Infinity")
            })?),
        };
        let capacity = args.did_cache_capacity.unwrap_or(config.did_cache_capacity);
        config = config.with_did_cache(capacity, ttl);
    }
    if args.secret_cache_capacity.is_some() || args.static_secret_cache_capacity.is_some() {
        let secrets = args
            .secret_cache_capacity
            .unwrap_or(config.secret_cache_capacity);
        let static_secrets = args
            .static_secret_cache_capacity
            .unwrap_or(config.static_secret_cache_capacity);
        config = config.with_key_caches(secrets, static_secrets);
    }
    if let Some(v) = args.max_forward_unwraps {
        config.max_forward_unwraps = v;
    }
    Ok(config)
}

/// A core result type (pack or unpack metadata) for JS: the core's own serde form with its
/// top-level names in camelCase and absent values left out, so the fields are defined once,
/// in the core. Nested values (`fromPrior` claims) keep their names.
pub(crate) fn metadata_to_js<T: Serialize>(value: &T) -> Result<JsValue, Error> {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(value) else {
        return Err(Error::new(
            ErrorKind::InvalidState,
            "a result is not an object",
        ));
    };
    let camel: serde_json::Map<String, serde_json::Value> = fields
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(name, v)| (camel_case(&name), v))
        .collect();
    struct_to_js(&camel)
}

/// `re_wrapped_in_forward` → `reWrappedInForward`.
fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A `from_prior` claims object from JS.
pub(crate) fn from_prior_from_js(value: &JsValue) -> Result<FromPrior, Error> {
    let text = stringify_object(value, "the from_prior claims")?;
    serde_json::from_str(&text)
        .map_err(|e| illegal(format!("from_prior claims: {}", json_category(&e))))
}

/// A serde_json error reduced to its category and position (never the input text).
pub(crate) fn json_category(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let category = match e.classify() {
        Category::Io => "I/O error",
        Category::Syntax => "syntax error",
        Category::Data => "wrong shape",
        Category::Eof => "unexpected end",
    };
    format!("{category} at line {} column {}", e.line(), e.column())
}
