//! Every message type the core's protocols define, reachable by its type URI.
//!
//! Hosts that do not want one function per message type (the language bindings, a CLI, a
//! generic inspector) build and read protocol messages here through their typed form as JSON:
//! [`build`] turns a type URI plus fields into a [`Message`], [`parse`] turns a [`Message`] back
//! into its type, protocol and fields. The fields are the serde form of the typed struct, except
//! that the type URI already says the protocol version, so `version` is never given or returned.

use crate::prelude::*;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{
    basic_message, discover_features, empty, mediation, oob, pickup, push, report_problem,
    trust_ping, ProtocolMessage,
};
use crate::error::{excerpt, Error, Result};
use crate::message::Message;
use crate::routing::{Forward, FORWARD_TYPE};

/// A protocol message read back into its typed form.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The message type URI.
    pub message_type: String,
    /// The protocol identifier (PIURI) the type belongs to.
    pub protocol: String,
    /// The content in the typed form, valid as the fields of [`build`] for the same type.
    pub fields: Map<String, Value>,
}

type Builder = fn(Value) -> Result<Message>;
type Reader = fn(&Message) -> Result<Value>;

/// One known message type.
struct Entry {
    type_: &'static str,
    /// The `version` the typed form carries, for versioned protocols.
    version: Option<&'static str>,
    build: Builder,
    read: Reader,
}

fn from_fields<T: DeserializeOwned>(fields: Value) -> Result<T> {
    serde_json::from_value(fields)
        .map_err(|e| Error::malformed(format!("the fields are of the wrong shape: {e}")))
}

fn to_fields<T: Serialize>(typed: &T) -> Result<Value> {
    serde_json::to_value(typed)
        .map_err(|_| Error::invalid_state("a protocol message does not serialize"))
}

fn build_typed<T: ProtocolMessage + DeserializeOwned>(fields: Value) -> Result<Message> {
    from_fields::<T>(fields)?.to_message()
}

fn read_typed<T: ProtocolMessage + Serialize>(message: &Message) -> Result<Value> {
    to_fields(&T::from_message(message)?)
}

fn build_pickup_problem_report(fields: Value) -> Result<Message> {
    from_fields::<report_problem::ProblemReport>(fields)?.to_message_as(pickup::PROBLEM_REPORT_V4)
}

/// Pickup 4.0's problem report has the generic report's body under its own type.
fn read_pickup_problem_report(message: &Message) -> Result<Value> {
    let mut generic = message.clone();
    generic.type_ = report_problem::PROBLEM_REPORT_TYPE.to_owned();
    read_typed::<report_problem::ProblemReport>(&generic)
}

/// An invitation: `id`, `accept` and `created_time` default to a fresh invitation's.
fn build_invitation(fields: Value) -> Result<Message> {
    let Value::Object(given) = fields else {
        return Err(Error::illegal_argument("the fields must be a JSON object"));
    };
    let from = given
        .get("from")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::illegal_argument("an invitation needs 'from'"))?;
    let Value::Object(mut merged) = to_fields(&oob::Invitation::new(from)?)? else {
        return Err(Error::invalid_state("an invitation is not an object"));
    };
    merged.extend(given);
    build_typed::<oob::Invitation>(Value::Object(merged))
}

/// `empty` has no content: its typed form is `{}` (serde writes the unit struct as `null`).
fn build_empty(_fields: Value) -> Result<Message> {
    empty::Empty.to_message()
}

fn read_empty(message: &Message) -> Result<Value> {
    empty::Empty::from_message(message)?;
    Ok(Value::Object(Map::new()))
}

fn build_forward(fields: Value) -> Result<Message> {
    from_fields::<Forward>(fields)?.to_message()
}

fn read_forward(message: &Message) -> Result<Value> {
    to_fields(&Forward::from_message(message)?)
}

/// A type whose typed form is `$t` (`build_typed` / `read_typed`).
macro_rules! plain {
    ($type_:expr, $t:ty) => {
        Entry {
            type_: $type_,
            version: None,
            build: build_typed::<$t>,
            read: read_typed::<$t>,
        }
    };
}

/// A type of a versioned protocol: the typed form carries `version: $version`.
macro_rules! versioned {
    ($type_:expr, $version:expr, $t:ty) => {
        Entry {
            type_: $type_,
            version: Some($version),
            build: build_typed::<$t>,
            read: read_typed::<$t>,
        }
    };
}

use mediation::{
    MediateDeny, MediateGrant, MediateRequest, RecipientList, RecipientQuery, RecipientUpdate,
    RecipientUpdateResponse,
};
use pickup::{
    Delivery, DeliveryRequest, LiveDeliveryChange, MessagesReceived, Status, StatusRequest,
};

/// Every known type, once.
static ENTRIES: &[Entry] = &[
    plain!(
        basic_message::BASIC_MESSAGE_TYPE,
        basic_message::BasicMessage
    ),
    plain!(trust_ping::PING_TYPE, trust_ping::Ping),
    plain!(trust_ping::PING_RESPONSE_TYPE, trust_ping::PingResponse),
    plain!(push::SET_TARGET_TYPE, push::SetTarget),
    plain!(push::GET_TARGET_TYPE, push::GetTarget),
    plain!(push::REMOVE_TARGET_TYPE, push::RemoveTarget),
    plain!(push::TARGET_TYPE, push::Target),
    plain!(
        report_problem::PROBLEM_REPORT_TYPE,
        report_problem::ProblemReport
    ),
    Entry {
        type_: pickup::PROBLEM_REPORT_V4,
        version: None,
        build: build_pickup_problem_report,
        read: read_pickup_problem_report,
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
        read: read_empty,
    },
    Entry {
        type_: oob::INVITATION_TYPE,
        version: None,
        build: build_invitation,
        read: read_typed::<oob::Invitation>,
    },
    Entry {
        type_: FORWARD_TYPE,
        version: None,
        build: build_forward,
        read: read_forward,
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
];

fn entry(message_type: &str) -> Result<&'static Entry> {
    ENTRIES
        .iter()
        .find(|e| e.type_ == message_type)
        .ok_or_else(|| {
            Error::unsupported(format!(
                "no built-in protocol has the message type {}",
                excerpt(message_type)
            ))
        })
}

/// The protocol (PIURI) of a message type URI: everything before its last `/`.
pub fn protocol_of(message_type: &str) -> &str {
    message_type
        .rsplit_once('/')
        .map_or(message_type, |(piuri, _)| piuri)
}

/// Every message type [`build`] and [`parse`] know.
pub fn message_types() -> Vec<&'static str> {
    ENTRIES.iter().map(|e| e.type_).collect()
}

/// Build a message of `message_type` from its typed form. The protocol's own rules apply:
/// requests that need an answer on the same connection get `return_route: all`.
///
/// `Unsupported` for a type no built-in protocol defines; `Malformed` for fields of the wrong
/// shape.
pub fn build(message_type: &str, mut fields: Map<String, Value>) -> Result<Message> {
    let entry = entry(message_type)?;
    if let Some(version) = entry.version {
        fields.insert("version".into(), Value::String(version.into()));
    }
    let message = (entry.build)(Value::Object(fields))?;
    if message.type_ != message_type {
        return Err(Error::invalid_state(
            "a protocol message was built with another type",
        ));
    }
    Ok(message)
}

/// Read a protocol message into its typed form, validating its body. `Unsupported` for a type
/// no built-in protocol defines.
pub fn parse(message: &Message) -> Result<Parsed> {
    let entry = entry(&message.type_)?;
    let fields = match (entry.read)(message)? {
        Value::Object(mut map) => {
            // The type URI already says which version this is.
            map.remove("version");
            map
        }
        _ => return Err(Error::invalid_state("a typed form is not an object")),
    };
    Ok(Parsed {
        message_type: message.type_.clone(),
        protocol: protocol_of(&message.type_).to_owned(),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn every_type_is_listed_once() {
        let types = message_types();
        let mut unique = types.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(types.len(), unique.len());
        assert!(types.contains(&pickup::LIVE_DELIVERY_CHANGE_V4));
    }

    #[test]
    fn the_type_uri_picks_the_version() {
        let built = build(mediation::MEDIATE_REQUEST_V2, Map::new()).unwrap();
        assert_eq!(built.type_, mediation::MEDIATE_REQUEST_V2);
        let parsed = parse(&built).unwrap();
        assert_eq!(
            parsed.protocol,
            "https://didcomm.org/coordinate-mediation/2.0"
        );
        assert!(!parsed.fields.contains_key("version"));
    }

    #[test]
    fn round_trips_keep_the_fields() {
        let fields = object(json!({"next": "did:example:bob", "messages": ["{\"a\":1}"]}));
        let parsed = parse(&build(FORWARD_TYPE, fields.clone()).unwrap()).unwrap();
        for (name, value) in &fields {
            assert_eq!(&parsed.fields[name], value, "{name}");
        }
        let invitation = build(
            oob::INVITATION_TYPE,
            object(json!({"from": "did:example:alice"})),
        )
        .unwrap();
        let parsed = parse(&invitation).unwrap();
        assert!(parsed.fields.contains_key("id"), "a fresh invitation's id");
    }

    #[test]
    fn errors_are_typed_and_short() {
        let long = format!("https://example.com/{}/1.0/y", "x".repeat(10_000));
        let e = build(&long, Map::new()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(e.reason().len() < 400);
        let e = build(pickup::DELIVERY_REQUEST_V3, object(json!({"limit": "ten"}))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed);
        let e = build(oob::INVITATION_TYPE, Map::new()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::IllegalArgument);
        let mut ping = trust_ping::Ping {
            response_requested: false,
        }
        .to_message()
        .unwrap();
        ping.type_ = "https://example.com/x/1.0/y".into();
        assert_eq!(parse(&ping).unwrap_err().kind(), ErrorKind::Unsupported);
    }
}
