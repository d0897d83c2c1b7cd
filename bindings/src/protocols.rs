//! Plaintext messages and the protocols an app speaks.
//!
//! - `create_message`: any message (random id, `typ`, `created_time` now), like the npm
//!   package's `createMessage`.
//! - Typed helpers for what apps call most: Basic Message, Trust Ping, Report Problem,
//!   Out-of-Band invitations, threading and ACKs.
//! - `build_protocol_message` / `parse_protocol_message`: every message type the core knows
//!   (Coordinate Mediation 2.0/3.0, Message Pickup 3.0/4.0, Discover Features, Routing
//!   `forward`, Empty, and the above), as JSON in and JSON out. The JSON is the core's typed form
//!   of each message (see bindings/README.md); the type URI picks the protocol version, so
//!   `version` is never needed in the fields.

use didcomm_edge::protocols::{
    ack,
    basic_message::BasicMessage as CoreBasicMessage,
    oob::Invitation,
    registry,
    report_problem::{self, ProblemReport as CoreProblemReport},
    threading,
    trust_ping::{Ping, PingResponse},
    ProtocolMessage as Typed,
};
use didcomm_edge::Message;
use serde_json::{Map, Value};

use crate::engine::parse_message;
use crate::error::{DidCommError, Result};
use crate::json::{parse_object, parse_value, to_json};

fn message_json(message: &Message) -> Result<String> {
    Ok(message.to_json()?)
}

/// Set `headers` (a JSON object: `from`, `to`, `thid`, `expires_time`, any custom header) on
/// `message`; the core validates the result.
fn with_headers(message: Message, headers: Option<&str>) -> Result<Message> {
    match headers {
        Some(headers) => Ok(message.with_headers(parse_object(headers, "headers")?)?),
        None => Ok(message),
    }
}

/// A new plaintext message: a random `id`, `typ`, `created_time` now, the given `type` and
/// `body` (a JSON object; nothing: `{}`), and any other `headers` (a JSON object). Returns the
/// message as JSON text.
#[uniffi::export(default(body = None, headers = None))]
pub fn create_message(
    message_type: String,
    body: Option<String>,
    headers: Option<String>,
) -> Result<String> {
    let body = match body {
        Some(text) => Value::Object(parse_object(&text, "the body")?),
        None => Value::Object(Map::new()),
    };
    let message = Message::new(message_type, body)?;
    message_json(&with_headers(message, headers.as_deref())?)
}

/// `reply` made a reply to `request`: same thread (`thid`), addressed to its sender, and
/// acknowledging what it asked to have acknowledged (`please_ack`).
#[uniffi::export]
pub fn reply_to(request: String, reply: String) -> Result<String> {
    let request = parse_message(&request)?;
    let reply = threading::reply_to(&request, parse_message(&reply)?);
    message_json(&ack::acknowledge(&request, reply))
}

/// A pure ACK of message `ids` (an empty message with the `ack` header); nothing when `ids` is
/// empty.
#[uniffi::export]
pub fn pure_ack(ids: Vec<String>) -> Result<Option<String>> {
    ack::pure_ack(&ids)?.as_ref().map(message_json).transpose()
}

/// A Basic Message 2.0 text message.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct BasicMessage {
    /// The text.
    pub content: String,
    /// Its language (`en`, ...), if stated.
    #[uniffi(default)]
    pub lang: Option<String>,
}

/// A basic message (JSON text) with `content`, plus `headers` (`from`, `to`, ...).
#[uniffi::export(default(headers = None))]
pub fn basic_message(message: BasicMessage, headers: Option<String>) -> Result<String> {
    let core = CoreBasicMessage {
        content: message.content,
        lang: message.lang,
    };
    message_json(&with_headers(core.to_message()?, headers.as_deref())?)
}

/// Read a basic message.
#[uniffi::export]
pub fn parse_basic_message(message: String) -> Result<BasicMessage> {
    let core = CoreBasicMessage::from_message(&parse_message(&message)?)?;
    Ok(BasicMessage {
        content: core.content,
        lang: core.lang,
    })
}

/// A Trust Ping 2.0 `ping`, plus `headers` (`from`, `to`, ...).
#[uniffi::export(default(response_requested = true, headers = None))]
pub fn trust_ping(response_requested: bool, headers: Option<String>) -> Result<String> {
    let ping = Ping { response_requested };
    message_json(&with_headers(ping.to_message()?, headers.as_deref())?)
}

/// The `ping-response` to a received `ping` (threaded, addressed to its sender), or nothing
/// when the ping asked for none. Set `from` with `headers`.
#[uniffi::export(default(headers = None))]
pub fn trust_ping_response(ping: String, headers: Option<String>) -> Result<Option<String>> {
    PingResponse::answer(&parse_message(&ping)?)?
        .map(|response| message_json(&with_headers(response, headers.as_deref())?))
        .transpose()
}

/// A Report Problem 2.0 problem report.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ProblemReport {
    /// The problem code (`e.p.xfer.cant-use-endpoint`, ...).
    pub code: String,
    /// The thread where the problem occurred.
    pub pthid: String,
    /// Fixed text per code, with `{1}`, `{2}`... placeholders for `args`.
    #[uniffi(default)]
    pub comment: Option<String>,
    /// Values of the placeholders.
    #[uniffi(default)]
    pub args: Vec<String>,
    /// Where help is available.
    #[uniffi(default)]
    pub escalate_to: Option<String>,
    /// Ids of the messages that triggered the problem.
    #[uniffi(default)]
    pub ack: Vec<String>,
    /// When read: the comment with the arguments filled in (ignored when writing).
    #[uniffi(default)]
    pub interpolated_comment: Option<String>,
}

/// A problem report (JSON text), plus `headers` (`from`, `to`, ...).
#[uniffi::export(default(headers = None))]
pub fn problem_report(report: ProblemReport, headers: Option<String>) -> Result<String> {
    let mut core = CoreProblemReport::new(report.code, report.pthid);
    core.comment = report.comment;
    core.args = report.args.into_iter().map(Some).collect();
    core.escalate_to = report.escalate_to;
    core.ack = report.ack;
    message_json(&with_headers(core.to_message()?, headers.as_deref())?)
}

/// Read a problem report (Report Problem 2.0, or a protocol's own `problem-report`).
#[uniffi::export]
pub fn parse_problem_report(message: String) -> Result<ProblemReport> {
    let message = parse_message(&message)?;
    if !report_problem::is_problem_report(&message.type_) {
        return Err(DidCommError::malformed(format!(
            "{} is not a problem report",
            message.type_.chars().take(100).collect::<String>()
        )));
    }
    // Protocols' own problem reports share the body: read them under the generic type.
    let mut generic = message;
    generic.type_ = report_problem::PROBLEM_REPORT_TYPE.to_owned();
    let core = CoreProblemReport::from_message(&generic)?;
    Ok(ProblemReport {
        interpolated_comment: Some(core.interpolated_comment()),
        code: core.code,
        pthid: core.pthid,
        comment: core.comment,
        args: core
            .args
            .into_iter()
            .map(|a| a.unwrap_or_else(|| "?".to_owned()))
            .collect(),
        escalate_to: core.escalate_to,
        ack: core.ack,
    })
}

/// A problem report about a received `message` for one of our own errors: the code follows the
/// error's kind and the comment is the code's standard text, never the error's reason (which
/// may say more than a peer should learn).
#[uniffi::export(default(headers = None))]
pub fn problem_report_for_error(
    error: DidCommError,
    message: String,
    headers: Option<String>,
) -> Result<String> {
    let received = parse_message(&message)?;
    let core = CoreProblemReport::from_error(&didcomm_edge::Error::from(error), &received);
    let reply = threading::reply_to(&received, core.to_message()?);
    message_json(&with_headers(reply, headers.as_deref())?)
}

/// Out-of-Band 2.0 invitation (JSON text) from `from`, with an optional goal and request
/// messages to attach (JSON text each).
#[uniffi::export(default(goal_code = None, goal = None, attachments = []))]
pub fn oob_invitation(
    from: String,
    goal_code: Option<String>,
    goal: Option<String>,
    attachments: Vec<String>,
) -> Result<String> {
    let mut invitation = Invitation::new(from)?;
    invitation.goal_code = goal_code;
    invitation.goal = goal;
    for message in &attachments {
        invitation = invitation.attach_message(&parse_message(message)?)?;
    }
    message_json(&invitation.to_message()?)
}

/// The invitation URL: `base` with the invitation in its `_oob` query parameter.
#[uniffi::export]
pub fn oob_invitation_url(invitation: String, base: String) -> Result<String> {
    let invitation = Invitation::from_message(&parse_message(&invitation)?)?;
    Ok(invitation.to_url(&base)?)
}

/// The invitation (JSON text) in a URL's `_oob` parameter. A shortened URL (`_oobid`) is
/// `Unsupported`: fetch it first.
#[uniffi::export]
pub fn oob_invitation_from_url(url: String) -> Result<String> {
    message_json(&Invitation::from_url(&url)?.to_message()?)
}

/// The request messages attached to an invitation (JSON text each), in order of preference.
#[uniffi::export]
pub fn oob_attached_messages(invitation: String) -> Result<Vec<String>> {
    let invitation = Invitation::from_message(&parse_message(&invitation)?)?;
    invitation
        .attached_messages()?
        .iter()
        .map(message_json)
        .collect()
}

/// `reply` made the first message of the thread an invitation starts (`pthid` the invitation
/// id, `to` the inviter).
#[uniffi::export]
pub fn oob_reply(invitation: String, reply: String) -> Result<String> {
    let invitation = Invitation::from_message(&parse_message(&invitation)?)?;
    message_json(&invitation.reply(parse_message(&reply)?))
}

// ---------------------------------------------------------------------------------------------
// Every protocol message, JSON in and JSON out.

/// A protocol message read by `parse_protocol_message`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ProtocolMessage {
    /// The message type URI.
    pub message_type: String,
    /// The protocol identifier (PIURI) it belongs to.
    pub protocol: String,
    /// The message's content in the core's typed form (JSON text), valid as the `fields` of
    /// `build_protocol_message` for the same type.
    pub fields: String,
}

/// Every message type `build_protocol_message` and `parse_protocol_message` know.
#[uniffi::export]
pub fn protocol_message_types() -> Vec<String> {
    registry::message_types()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Build a message of `message_type` from its typed form `fields` (a JSON object; see
/// bindings/README.md), plus `headers` (`from`, `to`, `thid`, ...). The protocol's own rules
/// apply: requests that need an answer on the same connection get `return_route: all`.
#[uniffi::export(default(headers = None))]
pub fn build_protocol_message(
    message_type: String,
    fields: String,
    headers: Option<String>,
) -> Result<String> {
    let fields = match parse_value(&fields, "the fields")? {
        Value::Object(map) => map,
        _ => return Err(DidCommError::illegal("the fields must be a JSON object")),
    };
    let message = registry::build(&message_type, fields)?;
    message_json(&with_headers(message, headers.as_deref())?)
}

/// Read a protocol message (JSON text) into its typed form, validating its body.
/// `Unsupported` for message types no built-in protocol defines.
#[uniffi::export]
pub fn parse_protocol_message(message: String) -> Result<ProtocolMessage> {
    let parsed = registry::parse(&parse_message(&message)?)?;
    Ok(ProtocolMessage {
        message_type: parsed.message_type,
        protocol: parsed.protocol,
        fields: to_json(&parsed.fields, "the fields")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use didcomm_edge::protocols::mediation::{self, MediationVersion};
    use didcomm_edge::protocols::pickup::PickupVersion;
    use didcomm_edge::protocols::{oob, pickup, trust_ping};
    use didcomm_edge::routing::FORWARD_TYPE;
    use serde_json::json;

    #[test]
    fn version_names_match_the_serde_form() {
        assert_eq!(
            serde_json::to_value(MediationVersion::V2).unwrap(),
            json!("V2")
        );
        assert_eq!(
            serde_json::to_value(PickupVersion::V4).unwrap(),
            json!("V4")
        );
    }

    #[test]
    fn every_type_round_trips_through_build_and_parse_where_it_can() {
        let samples: Vec<(&str, Value)> = vec![
            (
                didcomm_edge::protocols::basic_message::BASIC_MESSAGE_TYPE,
                json!({"content": "hi", "lang": "en"}),
            ),
            (trust_ping::PING_TYPE, json!({"response_requested": false})),
            (mediation::MEDIATE_REQUEST_V3, json!({})),
            (
                mediation::MEDIATE_GRANT_V2,
                json!({"routing_did": ["did:example:mediator"]}),
            ),
            (
                mediation::RECIPIENT_UPDATE_V3,
                json!({"updates": [{"recipient_did": "did:example:a", "action": "add"}]}),
            ),
            (pickup::DELIVERY_REQUEST_V4, json!({"limit": 7})),
            (
                pickup::MESSAGES_RECEIVED_V3,
                json!({"message_id_list": ["1", "2"]}),
            ),
            (
                FORWARD_TYPE,
                json!({"next": "did:example:bob", "messages": ["{\"a\":1}"]}),
            ),
            (
                oob::INVITATION_TYPE,
                json!({"from": "did:example:alice", "goal_code": "connect"}),
            ),
        ];
        for (type_, fields) in samples {
            let built = build_protocol_message(type_.into(), fields.to_string(), None).unwrap();
            let parsed = parse_protocol_message(built).unwrap();
            assert_eq!(parsed.message_type, type_);
            let back: Value = serde_json::from_str(&parsed.fields).unwrap();
            for (name, value) in fields.as_object().unwrap() {
                assert_eq!(&back[name], value, "{type_}: {name}");
            }
        }
    }

    #[test]
    fn unknown_types_and_bad_fields_are_typed_errors() {
        let e = build_protocol_message("https://example.com/x/1.0/y".into(), "{}".into(), None)
            .unwrap_err();
        assert!(matches!(e, DidCommError::Unsupported { .. }));
        let e = build_protocol_message(pickup::DELIVERY_REQUEST_V3.into(), "[]".into(), None)
            .unwrap_err();
        assert!(matches!(e, DidCommError::IllegalArgument { .. }));
        let e = build_protocol_message(
            pickup::DELIVERY_REQUEST_V3.into(),
            r#"{"limit": "ten"}"#.into(),
            None,
        )
        .unwrap_err();
        assert!(matches!(e, DidCommError::Malformed { .. }));
    }

    #[test]
    fn headers_are_merged_and_validated() {
        let m = create_message(
            "https://example.com/p/1.0/m".into(),
            Some(r#"{"a": 1}"#.into()),
            Some(
                r#"{"from": "did:example:alice", "to": ["did:example:bob"], "x-custom": true}"#
                    .into(),
            ),
        )
        .unwrap();
        let v: Value = serde_json::from_str(&m).unwrap();
        assert_eq!(v["from"], "did:example:alice");
        assert_eq!(v["x-custom"], true);
        assert_eq!(v["body"]["a"], 1);
        let e = create_message("t".into(), None, Some(r#"{"from": 5}"#.into())).unwrap_err();
        assert!(matches!(e, DidCommError::Malformed { .. }));
        let e = create_message("t".into(), None, Some(r#"{"body": {}}"#.into())).unwrap_err();
        assert!(matches!(e, DidCommError::IllegalArgument { .. }));
    }
}
