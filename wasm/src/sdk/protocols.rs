//! Protocol messages through the core's registry (`didcomm_edge::protocols::registry`): every
//! known message type built from and read into its typed form, plus the few helpers apps need
//! around them (replies, ACKs, the trust ping answer, Out-of-Band invitation URLs). Conversion
//! only, as `bindings/src/protocols.rs` does for the UniFFI languages.
//!
//! Fields are the core's typed form (snake_case, as in the Python and Kotlin packages); the
//! type URI picks the protocol version, so `version` is never given.

use didcomm_edge::protocols::oob::Invitation;
use didcomm_edge::protocols::trust_ping::PingResponse;
use didcomm_edge::protocols::{ack, registry, threading, ProtocolMessage};
use didcomm_edge::{Error, Message};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use super::optional_object_arg;
use crate::convert::{message_from_js, message_to_js, parse_json, string_arg};
use crate::error::{illegal, js_err};

fn with_headers(message: Message, headers: &JsValue) -> Result<Message, Error> {
    match optional_object_arg(headers, "headers")? {
        Some(map) => message.with_headers(map),
        None => Ok(message),
    }
}

fn optional_message_to_js(message: Option<Message>) -> Result<JsValue, Error> {
    message
        .as_ref()
        .map_or(Ok(JsValue::UNDEFINED), message_to_js)
}

/// `protocolMessageTypes(): string[]`: every type `buildProtocolMessage` and
/// `parseProtocolMessage` know.
#[wasm_bindgen(js_name = protocolMessageTypes)]
pub fn protocol_message_types() -> Array {
    registry::message_types()
        .into_iter()
        .map(JsValue::from_str)
        .collect()
}

/// `buildProtocolMessage(type, fields, headers?)`: a message of `type` from its typed form,
/// plus `headers` (`from`, `to`, `thid`, ...). Requests answered on the same connection get
/// `return_route: all`, as the protocol says.
#[wasm_bindgen(js_name = buildProtocolMessage)]
pub fn build_protocol_message(
    type_: JsValue,
    fields: JsValue,
    headers: JsValue,
) -> Result<JsValue, JsValue> {
    let build = || {
        let type_ = string_arg(&type_, "type")?;
        let fields = optional_object_arg(&fields, "the fields")?.unwrap_or_default();
        let message = with_headers(registry::build(&type_, fields)?, &headers)?;
        message_to_js(&message)
    };
    build().map_err(js_err)
}

/// `parseProtocolMessage(message): { messageType, protocol, fields }`: a protocol message read
/// into its typed form, its body validated. `unsupported` for types no built-in protocol has.
#[wasm_bindgen(js_name = parseProtocolMessage)]
pub fn parse_protocol_message(message: JsValue) -> Result<JsValue, JsValue> {
    let parse = || {
        let parsed = registry::parse(&message_from_js(&message)?)?;
        let text = serde_json::to_string(&parsed.fields)
            .map_err(|_| illegal("the fields do not serialize"))?;
        let out = Object::new();
        let set = |k: &str, v: &JsValue| Reflect::set(&out, &k.into(), v).map(|_| ());
        set("messageType", &parsed.message_type.into())
            .and_then(|()| set("protocol", &parsed.protocol.into()))
            .and_then(|()| set("fields", &parse_json(&text).unwrap_or(JsValue::NULL)))
            .map_err(|_| illegal("building a result"))?;
        Ok(out.into())
    };
    parse().map_err(js_err)
}

/// `replyTo(request, reply)`: `reply` in the thread of `request`, addressed to its sender,
/// acknowledging what it asked to have acknowledged (`please_ack`).
#[wasm_bindgen(js_name = replyTo)]
pub fn reply_to(request: JsValue, reply: JsValue) -> Result<JsValue, JsValue> {
    let answer = || {
        let request = message_from_js(&request)?;
        let reply = threading::reply_to(&request, message_from_js(&reply)?);
        message_to_js(&ack::acknowledge(&request, reply))
    };
    answer().map_err(js_err)
}

/// `pureAck(ids): message | undefined`: an empty message acknowledging `ids` (none for none).
#[wasm_bindgen(js_name = pureAck)]
pub fn pure_ack(ids: JsValue) -> Result<JsValue, JsValue> {
    let build = || {
        if !Array::is_array(&ids) {
            return Err(illegal("ids must be an array of strings"));
        }
        let ids: Vec<String> = Array::from(&ids)
            .iter()
            .map(|id| id.as_string().ok_or_else(|| illegal("ids must be strings")))
            .collect::<Result<_, Error>>()?;
        optional_message_to_js(ack::pure_ack(&ids)?)
    };
    build().map_err(js_err)
}

/// `trustPingResponse(ping, headers?): message | undefined`: the answer to a received ping
/// (none when it asked for none).
#[wasm_bindgen(js_name = trustPingResponse)]
pub fn trust_ping_response(ping: JsValue, headers: JsValue) -> Result<JsValue, JsValue> {
    let answer = || {
        let response = PingResponse::answer(&message_from_js(&ping)?)?
            .map(|m| with_headers(m, &headers))
            .transpose()?;
        optional_message_to_js(response)
    };
    answer().map_err(js_err)
}

fn invitation_arg(value: &JsValue) -> Result<Invitation, Error> {
    Invitation::from_message(&message_from_js(value)?)
}

/// `oobInvitationUrl(invitation, base)`: `base` with the invitation in its `_oob` parameter.
#[wasm_bindgen(js_name = oobInvitationUrl)]
pub fn oob_invitation_url(invitation: JsValue, base: JsValue) -> Result<String, JsValue> {
    let url = || invitation_arg(&invitation)?.to_url(&string_arg(&base, "base")?);
    url().map_err(js_err)
}

/// `oobInvitationFromUrl(url)`: the invitation a URL's `_oob` parameter carries (a shortened
/// `_oobid` URL is `unsupported`: fetch it first).
#[wasm_bindgen(js_name = oobInvitationFromUrl)]
pub fn oob_invitation_from_url(url: JsValue) -> Result<JsValue, JsValue> {
    let read = || message_to_js(&Invitation::from_url(&string_arg(&url, "url")?)?.to_message()?);
    read().map_err(js_err)
}

/// `oobAttachedMessages(invitation)`: the request messages attached to an invitation.
#[wasm_bindgen(js_name = oobAttachedMessages)]
pub fn oob_attached_messages(invitation: JsValue) -> Result<Array, JsValue> {
    let read = || {
        invitation_arg(&invitation)?
            .attached_messages()?
            .iter()
            .map(message_to_js)
            .collect::<Result<Array, Error>>()
    };
    read().map_err(js_err)
}

/// `oobReply(invitation, reply)`: `reply` as the first message of the thread the invitation
/// starts (`pthid` the invitation's id, `to` the inviter).
#[wasm_bindgen(js_name = oobReply)]
pub fn oob_reply(invitation: JsValue, reply: JsValue) -> Result<JsValue, JsValue> {
    let answer = || message_to_js(&invitation_arg(&invitation)?.reply(message_from_js(&reply)?));
    answer().map_err(js_err)
}
