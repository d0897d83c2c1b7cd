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
    discover_features, empty, mediation,
    oob::{self, Invitation},
    pickup,
    report_problem::{self, ProblemReport as CoreProblemReport},
    threading,
    trust_ping::{self, Ping, PingResponse},
    ProtocolMessage as Typed,
};
use didcomm_edge::routing::{Forward as CoreForward, FORWARD_TYPE};
use didcomm_edge::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::engine::parse_message;
use crate::error::{DidCommError, Result};
use crate::json::{json_error, parse_object, parse_value, to_json};

fn message_json(message: &Message) -> Result<String> {
    Ok(message.to_json()?)
}

/// Merge `headers` (a JSON object: `from`, `to`, `thid`, `expires_time`, any custom header)
/// into `message` and validate the result. `type` and `body` are not headers.
fn with_headers(message: Message, headers: Option<&str>) -> Result<Message> {
    let Some(headers) = headers else {
        return Ok(message);
    };
    let headers = parse_object(headers, "headers")?;
    if headers.is_empty() {
        return Ok(message);
    }
    let Value::Object(mut map) = message.to_value()? else {
        return Err(DidCommError::invalid_state(
            "a message is not a JSON object",
        ));
    };
    for (name, value) in headers {
        if name == "type" || name == "body" {
            return Err(DidCommError::illegal(format!(
                "'{name}' is an argument, not a header"
            )));
        }
        map.insert(name, value);
    }
    Ok(Message::from_value(
        Value::Object(map),
        didcomm_edge::message::ParseOptions::default(),
    )?)
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

type Builder = fn(Value) -> Result<Message>;
type Parser = fn(&Message) -> Result<Value>;

/// One known message type.
struct Entry {
    type_: &'static str,
    /// The `version` the typed form carries for versioned protocols.
    version: Option<&'static str>,
    build: Builder,
    parse: Parser,
}

fn from_fields<T: DeserializeOwned>(fields: Value) -> Result<T> {
    serde_json::from_value(fields).map_err(|e| json_error("the fields", &e))
}

fn build<T: Typed + DeserializeOwned>(fields: Value) -> Result<Message> {
    Ok(from_fields::<T>(fields)?.to_message()?)
}

fn parse<T: Typed + Serialize>(message: &Message) -> Result<Value> {
    serde_json::to_value(T::from_message(message)?)
        .map_err(|_| DidCommError::invalid_state("a protocol message does not serialize"))
}

fn build_pickup_problem_report(fields: Value) -> Result<Message> {
    Ok(from_fields::<CoreProblemReport>(fields)?.to_message_as(pickup::PROBLEM_REPORT_V4)?)
}

fn parse_any_problem_report(message: &Message) -> Result<Value> {
    let mut generic = message.clone();
    generic.type_ = report_problem::PROBLEM_REPORT_TYPE.to_owned();
    parse::<CoreProblemReport>(&generic)
}

/// An invitation: `id`, `accept` and `created_time` default to a fresh invitation's.
fn build_invitation(fields: Value) -> Result<Message> {
    let Value::Object(given) = fields else {
        return Err(DidCommError::illegal("the fields must be a JSON object"));
    };
    let from = given
        .get("from")
        .and_then(Value::as_str)
        .ok_or_else(|| DidCommError::illegal("an invitation needs 'from'"))?;
    let Value::Object(mut merged) = serde_json::to_value(Invitation::new(from)?)
        .map_err(|_| DidCommError::invalid_state("an invitation does not serialize"))?
    else {
        return Err(DidCommError::invalid_state(
            "an invitation is not an object",
        ));
    };
    merged.extend(given);
    build::<Invitation>(Value::Object(merged))
}

/// `empty` has no content: its typed form is `{}` (serde writes the unit struct as `null`).
fn build_empty(_fields: Value) -> Result<Message> {
    Ok(empty::Empty.to_message()?)
}

fn parse_empty(message: &Message) -> Result<Value> {
    empty::Empty::from_message(message)?;
    Ok(Value::Object(Map::new()))
}

fn build_forward(fields: Value) -> Result<Message> {
    Ok(from_fields::<CoreForward>(fields)?.to_message()?)
}

fn parse_forward_fields(message: &Message) -> Result<Value> {
    serde_json::to_value(CoreForward::from_message(message)?)
        .map_err(|_| DidCommError::invalid_state("a forward does not serialize"))
}

macro_rules! versioned {
    ($type_:expr, $version:expr, $t:ty) => {
        Entry {
            type_: $type_,
            version: Some($version),
            build: build::<$t>,
            parse: parse::<$t>,
        }
    };
}

macro_rules! plain {
    ($type_:expr, $t:ty) => {
        Entry {
            type_: $type_,
            version: None,
            build: build::<$t>,
            parse: parse::<$t>,
        }
    };
}

fn entries() -> Vec<Entry> {
    use mediation::{
        MediateDeny, MediateGrant, MediateRequest, RecipientList, RecipientQuery, RecipientUpdate,
        RecipientUpdateResponse,
    };
    use pickup::{
        Delivery, DeliveryRequest, LiveDeliveryChange, MessagesReceived, Status, StatusRequest,
    };
    vec![
        plain!(
            didcomm_edge::protocols::basic_message::BASIC_MESSAGE_TYPE,
            CoreBasicMessage
        ),
        plain!(trust_ping::PING_TYPE, Ping),
        plain!(trust_ping::PING_RESPONSE_TYPE, PingResponse),
        plain!(report_problem::PROBLEM_REPORT_TYPE, CoreProblemReport),
        Entry {
            type_: pickup::PROBLEM_REPORT_V4,
            version: None,
            build: build_pickup_problem_report,
            parse: parse_any_problem_report,
        },
        plain!(discover_features::QUERIES_TYPE, discover_features::Queries),
        plain!(
            discover_features::DISCLOSE_TYPE,
            discover_features::Disclose
        ),
        Entry {
            type_: empty::EMPTY_TYPE,
            version: None,
            build: build_empty,
            parse: parse_empty,
        },
        Entry {
            type_: oob::INVITATION_TYPE,
            version: None,
            build: build_invitation,
            parse: parse::<Invitation>,
        },
        Entry {
            type_: FORWARD_TYPE,
            version: None,
            build: build_forward,
            parse: parse_forward_fields,
        },
        versioned!(mediation::MEDIATE_REQUEST_V2, "V2", MediateRequest),
        versioned!(mediation::MEDIATE_REQUEST_V3, "V3", MediateRequest),
        versioned!(mediation::MEDIATE_GRANT_V2, "V2", MediateGrant),
        versioned!(mediation::MEDIATE_GRANT_V3, "V3", MediateGrant),
        versioned!(mediation::MEDIATE_DENY_V2, "V2", MediateDeny),
        versioned!(mediation::MEDIATE_DENY_V3, "V3", MediateDeny),
        versioned!(mediation::KEYLIST_UPDATE_V2, "V2", RecipientUpdate),
        versioned!(mediation::RECIPIENT_UPDATE_V3, "V3", RecipientUpdate),
        versioned!(
            mediation::KEYLIST_UPDATE_RESPONSE_V2,
            "V2",
            RecipientUpdateResponse
        ),
        versioned!(
            mediation::RECIPIENT_UPDATE_RESPONSE_V3,
            "V3",
            RecipientUpdateResponse
        ),
        versioned!(mediation::KEYLIST_QUERY_V2, "V2", RecipientQuery),
        versioned!(mediation::RECIPIENT_QUERY_V3, "V3", RecipientQuery),
        versioned!(mediation::KEYLIST_V2, "V2", RecipientList),
        versioned!(mediation::RECIPIENT_V3, "V3", RecipientList),
        versioned!(pickup::STATUS_REQUEST_V3, "V3", StatusRequest),
        versioned!(pickup::STATUS_REQUEST_V4, "V4", StatusRequest),
        versioned!(pickup::STATUS_V3, "V3", Status),
        versioned!(pickup::STATUS_V4, "V4", Status),
        versioned!(pickup::DELIVERY_REQUEST_V3, "V3", DeliveryRequest),
        versioned!(pickup::DELIVERY_REQUEST_V4, "V4", DeliveryRequest),
        versioned!(pickup::DELIVERY_V3, "V3", Delivery),
        versioned!(pickup::DELIVERY_V4, "V4", Delivery),
        versioned!(pickup::MESSAGES_RECEIVED_V3, "V3", MessagesReceived),
        versioned!(pickup::MESSAGES_RECEIVED_V4, "V4", MessagesReceived),
        versioned!(pickup::LIVE_DELIVERY_CHANGE_V3, "V3", LiveDeliveryChange),
        versioned!(pickup::LIVE_DELIVERY_CHANGE_V4, "V4", LiveDeliveryChange),
    ]
}

fn entry(message_type: &str) -> Result<Entry> {
    entries()
        .into_iter()
        .find(|e| e.type_ == message_type)
        .ok_or_else(|| DidCommError::Unsupported {
            reason: format!(
                "no built-in protocol has the message type {}",
                message_type.chars().take(100).collect::<String>()
            ),
        })
}

/// The protocol (PIURI) of a message type URI: everything before its last `/`.
fn piuri_of(message_type: &str) -> String {
    message_type
        .rsplit_once('/')
        .map_or(message_type, |(piuri, _)| piuri)
        .to_owned()
}

/// Every message type `build_protocol_message` and `parse_protocol_message` know.
#[uniffi::export]
pub fn protocol_message_types() -> Vec<String> {
    entries().into_iter().map(|e| e.type_.to_owned()).collect()
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
    let entry = entry(&message_type)?;
    let mut fields = match parse_value(&fields, "the fields")? {
        Value::Object(map) => map,
        _ => return Err(DidCommError::illegal("the fields must be a JSON object")),
    };
    if let Some(version) = entry.version {
        fields.insert("version".into(), Value::String(version.into()));
    }
    let message = (entry.build)(Value::Object(fields))?;
    if message.type_ != message_type {
        return Err(DidCommError::invalid_state(
            "a protocol message was built with another type",
        ));
    }
    message_json(&with_headers(message, headers.as_deref())?)
}

/// Read a protocol message (JSON text) into its typed form, validating its body.
/// `Unsupported` for message types no built-in protocol defines.
#[uniffi::export]
pub fn parse_protocol_message(message: String) -> Result<ProtocolMessage> {
    let message = parse_message(&message)?;
    let entry = entry(&message.type_)?;
    let mut fields = (entry.parse)(&message)?;
    if let Value::Object(map) = &mut fields {
        // The type URI already says which version this is.
        map.remove("version");
    }
    Ok(ProtocolMessage {
        protocol: piuri_of(&message.type_),
        message_type: message.type_,
        fields: to_json(&fields, "the fields")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use didcomm_edge::protocols::mediation::MediationVersion;
    use didcomm_edge::protocols::pickup::PickupVersion;
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
