//! Free functions: message creation, wallet parsing, and internal test hooks.

use didcomm_edge::crypto::aead;
use didcomm_edge::message::ParseOptions;
use didcomm_edge::{Error, Message, Wallet};
use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

use crate::convert::{message_to_js, parse_json, string_arg, stringify_object};
use crate::error::{illegal, js_err};

/// `createMessage(type, body, headers?)`: a new plaintext message with a random id, `typ`, and
/// `created_time` now; `headers` (any other headers: `from`, `to`, `thid`, ...) are added and
/// the result is validated.
#[wasm_bindgen(js_name = createMessage)]
pub fn create_message(type_: JsValue, body: JsValue, headers: JsValue) -> Result<JsValue, JsValue> {
    build_message(&type_, &body, &headers).map_err(js_err)
}

fn build_message(type_: &JsValue, body: &JsValue, headers: &JsValue) -> Result<JsValue, Error> {
    let type_ = string_arg(type_, "type")?;
    let body = if body.is_undefined() || body.is_null() {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        parse_value(&stringify_object(body, "the body")?)?
    };
    let mut value = Message::new(type_, body)?.to_value()?;
    if !(headers.is_undefined() || headers.is_null()) {
        let serde_json::Value::Object(extra) = parse_value(&stringify_object(headers, "headers")?)?
        else {
            return Err(illegal("headers must be an object"));
        };
        if let serde_json::Value::Object(map) = &mut value {
            for (name, header) in extra {
                if name == "type" || name == "body" {
                    return Err(illegal(format!(
                        "'{name}' is an argument of createMessage, not a header"
                    )));
                }
                map.insert(name, header);
            }
        }
    }
    message_to_js(&Message::from_value(value, ParseOptions::default())?)
}

fn parse_value(text: &str) -> Result<serde_json::Value, Error> {
    serde_json::from_str(text).map_err(|_| illegal("not JSON"))
}

/// `__parseWallet(json)`: a wallet file (`{did_docs, secrets}`, as text or object) checked by the
/// core and returned in its normalized form. Internal: used by the JS `Wallet` class.
#[wasm_bindgen(js_name = "__parseWallet")]
pub fn parse_wallet(json: JsValue) -> Result<JsValue, JsValue> {
    let text = match json.as_string() {
        Some(text) => text,
        None => stringify_object(&json, "the wallet").map_err(js_err)?,
    };
    let wallet = Wallet::from_json(&text).map_err(js_err)?;
    // Every secret must parse now rather than at first use.
    for secret in &wallet.secrets {
        secret.key_pair().map_err(js_err)?;
    }
    let normalized = serde_json::to_string(&wallet)
        .map_err(|_| js_err(illegal("the wallet does not serialize")))?;
    parse_json(&normalized).map_err(js_err)
}

/// `__a256kwWrap(kek, keyData)`: RFC 3394 AES-256 key wrap through the core's own function.
/// Internal: lets the tests check the optimized build against the RFC 3394 vectors.
#[wasm_bindgen(js_name = "__a256kwWrap")]
pub fn a256kw_wrap(kek: &[u8], key_data: &[u8]) -> Result<Uint8Array, JsValue> {
    let kek: &[u8; 32] = kek
        .try_into()
        .map_err(|_| js_err(illegal("the key-wrapping key must be 32 bytes")))?;
    let wrapped = aead::wrap_key(kek, key_data).map_err(js_err)?;
    Ok(Uint8Array::from(wrapped.as_slice()))
}

/// `__a256kwUnwrap(kek, wrapped)`: RFC 3394 AES-256 key unwrap (the path a known opt-level 3
/// miscompile breaks on wasm32). Internal, for the tests.
#[wasm_bindgen(js_name = "__a256kwUnwrap")]
pub fn a256kw_unwrap(kek: &[u8], wrapped: &[u8]) -> Result<Uint8Array, JsValue> {
    let kek: &[u8; 32] = kek
        .try_into()
        .map_err(|_| js_err(illegal("the key-wrapping key must be 32 bytes")))?;
    let data = aead::unwrap_key(kek, wrapped).map_err(js_err)?;
    Ok(Uint8Array::from(data.as_slice()))
}
