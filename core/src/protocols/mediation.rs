//! Coordinate Mediation 2.0 and 3.0: a recipient asks a mediator to receive `forward`s for it
//! (`mediate-request` → `mediate-grant` | `mediate-deny`) and tells it which DIDs to accept
//! forwards for (2.0 `keylist-update` / 3.0 `recipient-update`, and the queries).
//!
//! Both versions are served, because deployed agents speak one or the other. The messages
//! have the same meaning in both, so one struct serves each pair, tagged with its
//! [`MediationVersion`] (2.0's names are kept as type aliases: [`KeylistUpdate`] is
//! [`RecipientUpdate`] at [`MediationVersion::V2`]). Replies should use the version of the
//! request.
//!
//! State: [`MediationClient`] tracks the recipient's side (request, grant, pending updates);
//! [`MediatorRegistry`] is the mediator's side (who is granted, which recipient DIDs belong to
//! whom), as pure transitions a host persists as it likes.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::return_route::{with_return_route, ReturnRoute};
use super::{new_message, shorten, threading, wrong_type, Body, ProtocolMessage};
use crate::did::{did_of, is_did, Service};
use crate::error::{Error, ErrorKind, Result};
use crate::message::Message;
use crate::unpack::UnpackMetadata;

/// Coordinate Mediation 2.0.
pub const MEDIATION_V2_PIURI: &str = "https://didcomm.org/coordinate-mediation/2.0";
/// Coordinate Mediation 3.0.
pub const MEDIATION_V3_PIURI: &str = "https://didcomm.org/coordinate-mediation/3.0";

/// 2.0 `mediate-request`.
pub const MEDIATE_REQUEST_V2: &str = "https://didcomm.org/coordinate-mediation/2.0/mediate-request";
/// 2.0 `mediate-grant`.
pub const MEDIATE_GRANT_V2: &str = "https://didcomm.org/coordinate-mediation/2.0/mediate-grant";
/// 2.0 `mediate-deny`.
pub const MEDIATE_DENY_V2: &str = "https://didcomm.org/coordinate-mediation/2.0/mediate-deny";
/// 2.0 `keylist-update`.
pub const KEYLIST_UPDATE_V2: &str = "https://didcomm.org/coordinate-mediation/2.0/keylist-update";
/// 2.0 `keylist-update-response`.
pub const KEYLIST_UPDATE_RESPONSE_V2: &str =
    "https://didcomm.org/coordinate-mediation/2.0/keylist-update-response";
/// 2.0 `keylist-query`.
pub const KEYLIST_QUERY_V2: &str = "https://didcomm.org/coordinate-mediation/2.0/keylist-query";
/// 2.0 `keylist`.
pub const KEYLIST_V2: &str = "https://didcomm.org/coordinate-mediation/2.0/keylist";

/// 3.0 `mediate-request`.
pub const MEDIATE_REQUEST_V3: &str = "https://didcomm.org/coordinate-mediation/3.0/mediate-request";
/// 3.0 `mediate-grant`.
pub const MEDIATE_GRANT_V3: &str = "https://didcomm.org/coordinate-mediation/3.0/mediate-grant";
/// 3.0 `mediate-deny`.
pub const MEDIATE_DENY_V3: &str = "https://didcomm.org/coordinate-mediation/3.0/mediate-deny";
/// 3.0 `recipient-update`.
pub const RECIPIENT_UPDATE_V3: &str =
    "https://didcomm.org/coordinate-mediation/3.0/recipient-update";
/// 3.0 `recipient-update-response`.
pub const RECIPIENT_UPDATE_RESPONSE_V3: &str =
    "https://didcomm.org/coordinate-mediation/3.0/recipient-update-response";
/// 3.0 `recipient-query`.
pub const RECIPIENT_QUERY_V3: &str = "https://didcomm.org/coordinate-mediation/3.0/recipient-query";
/// 3.0 `recipient`.
pub const RECIPIENT_V3: &str = "https://didcomm.org/coordinate-mediation/3.0/recipient";

/// Which Coordinate Mediation version a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum MediationVersion {
    /// 2.0 (`keylist-*` messages).
    V2,
    /// 3.0 (`recipient-*` messages).
    #[default]
    V3,
}

/// The kinds of message, the same in both versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Request,
    Grant,
    Deny,
    Update,
    UpdateResponse,
    Query,
    List,
}

const TYPES: [(Kind, &str, &str); 7] = [
    (Kind::Request, MEDIATE_REQUEST_V2, MEDIATE_REQUEST_V3),
    (Kind::Grant, MEDIATE_GRANT_V2, MEDIATE_GRANT_V3),
    (Kind::Deny, MEDIATE_DENY_V2, MEDIATE_DENY_V3),
    (Kind::Update, KEYLIST_UPDATE_V2, RECIPIENT_UPDATE_V3),
    (
        Kind::UpdateResponse,
        KEYLIST_UPDATE_RESPONSE_V2,
        RECIPIENT_UPDATE_RESPONSE_V3,
    ),
    (Kind::Query, KEYLIST_QUERY_V2, RECIPIENT_QUERY_V3),
    (Kind::List, KEYLIST_V2, RECIPIENT_V3),
];

impl MediationVersion {
    /// The protocol identifier.
    pub fn piuri(self) -> &'static str {
        match self {
            MediationVersion::V2 => MEDIATION_V2_PIURI,
            MediationVersion::V3 => MEDIATION_V3_PIURI,
        }
    }

    /// The version of a Coordinate Mediation message type, if it is one.
    pub fn of_type(type_: &str) -> Option<MediationVersion> {
        kind_of(type_).map(|(_, v)| v)
    }

    fn type_of(self, kind: Kind) -> &'static str {
        let v2 = self == MediationVersion::V2;
        match kind {
            Kind::Request if v2 => MEDIATE_REQUEST_V2,
            Kind::Request => MEDIATE_REQUEST_V3,
            Kind::Grant if v2 => MEDIATE_GRANT_V2,
            Kind::Grant => MEDIATE_GRANT_V3,
            Kind::Deny if v2 => MEDIATE_DENY_V2,
            Kind::Deny => MEDIATE_DENY_V3,
            Kind::Update if v2 => KEYLIST_UPDATE_V2,
            Kind::Update => RECIPIENT_UPDATE_V3,
            Kind::UpdateResponse if v2 => KEYLIST_UPDATE_RESPONSE_V2,
            Kind::UpdateResponse => RECIPIENT_UPDATE_RESPONSE_V3,
            Kind::Query if v2 => KEYLIST_QUERY_V2,
            Kind::Query => RECIPIENT_QUERY_V3,
            Kind::List if v2 => KEYLIST_V2,
            Kind::List => RECIPIENT_V3,
        }
    }
}

fn kind_of(type_: &str) -> Option<(Kind, MediationVersion)> {
    TYPES.iter().find_map(|(kind, v2, v3)| {
        if type_ == *v2 {
            Some((*kind, MediationVersion::V2))
        } else if type_ == *v3 {
            Some((*kind, MediationVersion::V3))
        } else {
            None
        }
    })
}

/// The version of `message` if its type is `kind` in either version.
fn expect_kind(message: &Message, kind: Kind) -> Result<MediationVersion> {
    match kind_of(&message.type_) {
        Some((k, version)) if k == kind => Ok(version),
        _ => Err(wrong_type(message, MediationVersion::V3.type_of(kind))),
    }
}

/// `mediate-request`: "will you mediate for me?" Written with `return_route: all`, as both
/// versions ask of recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MediateRequest {
    /// The protocol version.
    pub version: MediationVersion,
}

impl ProtocolMessage for MediateRequest {
    fn message_type(&self) -> &'static str {
        self.version.type_of(Kind::Request)
    }

    fn to_message(&self) -> Result<Message> {
        let message = new_message(self.message_type(), Map::new())?;
        Ok(with_return_route(message, ReturnRoute::All))
    }

    fn from_message(message: &Message) -> Result<Self> {
        let version = expect_kind(message, Kind::Request)?;
        Body::of(message, "mediate-request")?;
        Ok(MediateRequest { version })
    }
}

/// `mediate-grant`: the mediator accepts; `routing_did` is the DID senders route through
/// (used as the recipient's service endpoint `uri`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediateGrant {
    /// The protocol version.
    pub version: MediationVersion,
    /// The mediator's routing DID(s), at least one.
    ///
    /// 3.0 writes a list. 2.0's text writes one string, but deployed 2.0 mediators send either
    /// form: both are read, and 2.0 is written as a string when there is exactly one DID.
    pub routing_did: Vec<String>,
}

impl ProtocolMessage for MediateGrant {
    fn message_type(&self) -> &'static str {
        self.version.type_of(Kind::Grant)
    }

    fn to_message(&self) -> Result<Message> {
        if self.routing_did.is_empty() {
            return Err(Error::illegal_argument("a grant needs a routing DID"));
        }
        if let Some(bad) = self.routing_did.iter().find(|d| !is_did(did_of(d))) {
            return Err(Error::illegal_argument(format!(
                "routing_did {} is not a DID",
                shorten(bad)
            )));
        }
        let value = match (self.version, self.routing_did.as_slice()) {
            (MediationVersion::V2, [one]) => Value::String(one.clone()),
            _ => Value::Array(
                self.routing_did
                    .iter()
                    .cloned()
                    .map(Value::String)
                    .collect(),
            ),
        };
        let mut body = Map::new();
        body.insert("routing_did".into(), value);
        new_message(self.message_type(), body)
    }

    fn from_message(message: &Message) -> Result<Self> {
        let version = expect_kind(message, Kind::Grant)?;
        let body = Body::of(message, "mediate-grant")?;
        let routing_did = match body.get("routing_did") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(_)) => body.strings("routing_did")?.unwrap_or_default(),
            Some(_) => return Err(body.error("'routing_did' must be a DID or a list of DIDs")),
            None => return Err(body.error("'routing_did' is missing")),
        };
        if routing_did.is_empty() {
            return Err(body.error("'routing_did' is empty"));
        }
        if let Some(bad) = routing_did.iter().find(|d| !is_did(did_of(d))) {
            return Err(body.error(format_args!("'routing_did' {} is not a DID", shorten(bad))));
        }
        Ok(MediateGrant {
            version,
            routing_did,
        })
    }
}

/// `mediate-deny`: the mediator refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MediateDeny {
    /// The protocol version.
    pub version: MediationVersion,
}

impl ProtocolMessage for MediateDeny {
    fn message_type(&self) -> &'static str {
        self.version.type_of(Kind::Deny)
    }

    fn to_message(&self) -> Result<Message> {
        new_message(self.message_type(), Map::new())
    }

    fn from_message(message: &Message) -> Result<Self> {
        let version = expect_kind(message, Kind::Deny)?;
        Body::of(message, "mediate-deny")?;
        Ok(MediateDeny { version })
    }
}

/// Add or remove a recipient DID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateAction {
    /// Start accepting forwards for the DID.
    Add,
    /// Stop accepting forwards for the DID.
    Remove,
}

impl UpdateAction {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateAction::Add => "add",
            UpdateAction::Remove => "remove",
        }
    }

    fn parse(value: &str) -> Option<UpdateAction> {
        match value {
            "add" => Some(UpdateAction::Add),
            "remove" => Some(UpdateAction::Remove),
            _ => None,
        }
    }
}

/// The outcome of one update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateResult {
    /// Done.
    Success,
    /// Nothing to do (already present, or already absent).
    NoChange,
    /// The request was wrong (not a DID, or a DID another recipient holds).
    ClientError,
    /// The mediator could not do it (e.g. a quota).
    ServerError,
}

impl UpdateResult {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateResult::Success => "success",
            UpdateResult::NoChange => "no_change",
            UpdateResult::ClientError => "client_error",
            UpdateResult::ServerError => "server_error",
        }
    }

    fn parse(value: &str) -> Option<UpdateResult> {
        match value {
            "success" => Some(UpdateResult::Success),
            "no_change" => Some(UpdateResult::NoChange),
            "client_error" => Some(UpdateResult::ClientError),
            "server_error" => Some(UpdateResult::ServerError),
            _ => None,
        }
    }
}

/// One requested update.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecipientUpdateItem {
    /// The DID (or DID URL, e.g. a `did:key` key id) the update is about.
    pub recipient_did: String,
    /// Add or remove.
    pub action: UpdateAction,
}

impl RecipientUpdateItem {
    /// Add `did`.
    pub fn add(did: impl Into<String>) -> RecipientUpdateItem {
        RecipientUpdateItem {
            recipient_did: did.into(),
            action: UpdateAction::Add,
        }
    }

    /// Remove `did`.
    pub fn remove(did: impl Into<String>) -> RecipientUpdateItem {
        RecipientUpdateItem {
            recipient_did: did.into(),
            action: UpdateAction::Remove,
        }
    }
}

/// One update with its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecipientUpdated {
    /// The DID the update was about.
    pub recipient_did: String,
    /// Add or remove.
    pub action: UpdateAction,
    /// What happened.
    pub result: UpdateResult,
}

/// 3.0 `recipient-update` / 2.0 `keylist-update`: register or drop recipient DIDs. Written
/// with `return_route: all`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RecipientUpdate {
    /// The protocol version.
    pub version: MediationVersion,
    /// The updates, in order (at least one).
    pub updates: Vec<RecipientUpdateItem>,
}

/// 2.0's name for [`RecipientUpdate`].
pub type KeylistUpdate = RecipientUpdate;

fn update_items(
    body: &Body<'_>,
    field: &str,
) -> Result<Vec<(String, UpdateAction, Option<UpdateResult>)>> {
    let items = body
        .array(field)?
        .ok_or_else(|| body.error(format_args!("'{field}' is missing")))?;
    items
        .iter()
        .map(|item| {
            let entry = Body::nested(item, "update", "update entries")?;
            let recipient_did = entry.required_string("recipient_did")?;
            let action = entry.required_string("action")?;
            let action = UpdateAction::parse(&action)
                .ok_or_else(|| body.error("'action' must be add or remove"))?;
            let result = match entry.string("result")? {
                None => None,
                Some(r) => Some(UpdateResult::parse(&r).ok_or_else(|| {
                    body.error("'result' must be success, no_change, client_error or server_error")
                })?),
            };
            Ok((recipient_did, action, result))
        })
        .collect()
}

impl ProtocolMessage for RecipientUpdate {
    fn message_type(&self) -> &'static str {
        self.version.type_of(Kind::Update)
    }

    fn to_message(&self) -> Result<Message> {
        if self.updates.is_empty() {
            return Err(Error::illegal_argument(
                "an update needs at least one change",
            ));
        }
        if let Some(bad) = self.updates.iter().find(|u| u.recipient_did.is_empty()) {
            return Err(Error::illegal_argument(format!(
                "empty recipient_did in an update ({})",
                bad.action.as_str()
            )));
        }
        let updates = self
            .updates
            .iter()
            .map(|u| {
                let mut m = Map::new();
                m.insert(
                    "recipient_did".into(),
                    Value::String(u.recipient_did.clone()),
                );
                m.insert("action".into(), Value::String(u.action.as_str().into()));
                Value::Object(m)
            })
            .collect();
        let mut body = Map::new();
        body.insert("updates".into(), Value::Array(updates));
        Ok(with_return_route(
            new_message(self.message_type(), body)?,
            ReturnRoute::All,
        ))
    }

    fn from_message(message: &Message) -> Result<Self> {
        let version = expect_kind(message, Kind::Update)?;
        let body = Body::of(message, "recipient-update")?;
        let updates = update_items(&body, "updates")?
            .into_iter()
            .map(|(recipient_did, action, _)| RecipientUpdateItem {
                recipient_did,
                action,
            })
            .collect();
        Ok(RecipientUpdate { version, updates })
    }
}

/// 3.0 `recipient-update-response` / 2.0 `keylist-update-response`: the outcome of each
/// update.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RecipientUpdateResponse {
    /// The protocol version.
    pub version: MediationVersion,
    /// The outcomes. Written as `updated` (the spec); read from `updated` or `updates` (which
    /// Veramo writes).
    pub updated: Vec<RecipientUpdated>,
}

/// 2.0's name for [`RecipientUpdateResponse`].
pub type KeylistUpdateResponse = RecipientUpdateResponse;

impl ProtocolMessage for RecipientUpdateResponse {
    fn message_type(&self) -> &'static str {
        self.version.type_of(Kind::UpdateResponse)
    }

    fn to_message(&self) -> Result<Message> {
        let updated = self
            .updated
            .iter()
            .map(|u| {
                let mut m = Map::new();
                m.insert(
                    "recipient_did".into(),
                    Value::String(u.recipient_did.clone()),
                );
                m.insert("action".into(), Value::String(u.action.as_str().into()));
                m.insert("result".into(), Value::String(u.result.as_str().into()));
                Value::Object(m)
            })
            .collect();
        let mut body = Map::new();
        body.insert("updated".into(), Value::Array(updated));
        new_message(self.message_type(), body)
    }

    fn from_message(message: &Message) -> Result<Self> {
        let version = expect_kind(message, Kind::UpdateResponse)?;
        let body = Body::of(message, "recipient-update-response")?;
        let field = if body.get("updated").is_some() {
            "updated"
        } else {
            "updates"
        };
        let updated = update_items(&body, field)?
            .into_iter()
            .map(|(recipient_did, action, result)| {
                Ok(RecipientUpdated {
                    recipient_did,
                    action,
                    result: result.ok_or_else(|| body.error("'result' is missing"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RecipientUpdateResponse { version, updated })
    }
}

/// Paging of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paginate {
    /// At most this many entries.
    pub limit: u64,
    /// Skip this many first.
    pub offset: u64,
}

/// Paging of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pagination {
    /// Entries in this list.
    pub count: u64,
    /// Entries skipped before it.
    pub offset: u64,
    /// Entries after it.
    pub remaining: u64,
}

/// 3.0 `recipient-query` / 2.0 `keylist-query`: list my recipient DIDs. Written with
/// `return_route: all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RecipientQuery {
    /// The protocol version.
    pub version: MediationVersion,
    /// Paging, if wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paginate: Option<Paginate>,
}

/// 2.0's name for [`RecipientQuery`].
pub type KeylistQuery = RecipientQuery;

impl ProtocolMessage for RecipientQuery {
    fn message_type(&self) -> &'static str {
        self.version.type_of(Kind::Query)
    }

    fn to_message(&self) -> Result<Message> {
        let mut body = Map::new();
        if let Some(p) = self.paginate {
            let mut m = Map::new();
            m.insert("limit".into(), p.limit.into());
            m.insert("offset".into(), p.offset.into());
            body.insert("paginate".into(), Value::Object(m));
        }
        Ok(with_return_route(
            new_message(self.message_type(), body)?,
            ReturnRoute::All,
        ))
    }

    fn from_message(message: &Message) -> Result<Self> {
        let version = expect_kind(message, Kind::Query)?;
        let body = Body::of(message, "recipient-query")?;
        let paginate = match body.get("paginate") {
            None => None,
            Some(p) => {
                let p = Body::nested(p, "recipient-query", "'paginate'")?;
                Some(Paginate {
                    limit: p.required_u64("limit")?,
                    offset: p.required_u64("offset")?,
                })
            }
        };
        Ok(RecipientQuery { version, paginate })
    }
}

/// 3.0 `recipient` / 2.0 `keylist`: the recipient DIDs registered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RecipientList {
    /// The protocol version.
    pub version: MediationVersion,
    /// The DIDs. Written as `dids` (3.0) or `keys` (2.0); either is read in both versions.
    pub dids: Vec<String>,
    /// Paging, if the query asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
}

/// 2.0's name for [`RecipientList`].
pub type Keylist = RecipientList;

impl ProtocolMessage for RecipientList {
    fn message_type(&self) -> &'static str {
        self.version.type_of(Kind::List)
    }

    fn to_message(&self) -> Result<Message> {
        let entries = self
            .dids
            .iter()
            .map(|d| {
                let mut m = Map::new();
                m.insert("recipient_did".into(), Value::String(d.clone()));
                Value::Object(m)
            })
            .collect();
        let field = match self.version {
            MediationVersion::V2 => "keys",
            MediationVersion::V3 => "dids",
        };
        let mut body = Map::new();
        body.insert(field.into(), Value::Array(entries));
        if let Some(p) = self.pagination {
            let mut m = Map::new();
            m.insert("count".into(), p.count.into());
            m.insert("offset".into(), p.offset.into());
            m.insert("remaining".into(), p.remaining.into());
            body.insert("pagination".into(), Value::Object(m));
        }
        new_message(self.message_type(), body)
    }

    fn from_message(message: &Message) -> Result<Self> {
        let version = expect_kind(message, Kind::List)?;
        let body = Body::of(message, "recipient")?;
        let field = match (body.get("dids"), body.get("keys")) {
            (Some(_), _) => "dids",
            (None, Some(_)) => "keys",
            (None, None) => return Err(body.error("'dids' is missing")),
        };
        let dids = body
            .array(field)?
            .unwrap_or(&vec![])
            .iter()
            .map(|item| {
                Body::nested(item, "recipient", "list entries")?.required_string("recipient_did")
            })
            .collect::<Result<Vec<_>>>()?;
        let pagination = match body.get("pagination") {
            None => None,
            Some(p) => {
                let p = Body::nested(p, "recipient", "'pagination'")?;
                Some(Pagination {
                    count: p.required_u64("count")?,
                    offset: p.required_u64("offset")?,
                    remaining: p.required_u64("remaining")?,
                })
            }
        };
        Ok(RecipientList {
            version,
            dids,
            pagination,
        })
    }
}

/// Any Coordinate Mediation message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MediationMessage {
    /// `mediate-request`.
    Request(MediateRequest),
    /// `mediate-grant`.
    Grant(MediateGrant),
    /// `mediate-deny`.
    Deny(MediateDeny),
    /// `recipient-update` / `keylist-update`.
    Update(RecipientUpdate),
    /// `recipient-update-response` / `keylist-update-response`.
    UpdateResponse(RecipientUpdateResponse),
    /// `recipient-query` / `keylist-query`.
    Query(RecipientQuery),
    /// `recipient` / `keylist`.
    List(RecipientList),
}

impl MediationMessage {
    /// Read any Coordinate Mediation 2.0 or 3.0 message.
    pub fn parse(message: &Message) -> Result<MediationMessage> {
        let Some((kind, _)) = kind_of(&message.type_) else {
            return Err(Error::malformed(format!(
                "{} is not a Coordinate Mediation 2.0 or 3.0 message",
                shorten(&message.type_)
            )));
        };
        Ok(match kind {
            Kind::Request => MediationMessage::Request(MediateRequest::from_message(message)?),
            Kind::Grant => MediationMessage::Grant(MediateGrant::from_message(message)?),
            Kind::Deny => MediationMessage::Deny(MediateDeny::from_message(message)?),
            Kind::Update => MediationMessage::Update(RecipientUpdate::from_message(message)?),
            Kind::UpdateResponse => {
                MediationMessage::UpdateResponse(RecipientUpdateResponse::from_message(message)?)
            }
            Kind::Query => MediationMessage::Query(RecipientQuery::from_message(message)?),
            Kind::List => MediationMessage::List(RecipientList::from_message(message)?),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Recipient side.

/// Where a recipient stands with its mediator.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum MediationState {
    /// Nothing asked yet.
    #[default]
    Idle,
    /// A `mediate-request` is out.
    Requested {
        /// Its id (the reply's `thid`).
        request_id: String,
    },
    /// Mediation granted.
    Granted {
        /// The routing DIDs to publish as the service endpoint `uri`.
        routing_did: Vec<String>,
    },
    /// Mediation denied.
    Denied,
}

/// What a received mediator message changed, for the recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MediationEvent {
    /// Mediation was granted.
    Granted {
        /// The routing DIDs.
        routing_did: Vec<String>,
    },
    /// Mediation was denied.
    Denied,
    /// An update was answered; [`MediationClient::recipient_dids`] reflects it.
    Updated {
        /// The outcomes.
        updated: Vec<RecipientUpdated>,
    },
    /// A query was answered.
    Listed {
        /// The list.
        list: RecipientList,
    },
}

/// The recipient's side of Coordinate Mediation: builds the requests and checks the replies
/// against them. Serializable, so a host can persist it between sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediationClient {
    /// The protocol version spoken.
    pub version: MediationVersion,
    /// The mediator's DID.
    pub mediator_did: String,
    /// The mediation state.
    pub state: MediationState,
    /// The recipient DIDs the mediator confirmed.
    pub recipient_dids: BTreeSet<String>,
    /// Updates sent and not yet answered, by message id.
    pub pending_updates: BTreeMap<String, Vec<RecipientUpdateItem>>,
    /// Queries sent and not yet answered (message ids).
    pub pending_queries: BTreeSet<String>,
}

impl MediationClient {
    /// A client of `mediator_did` speaking `version`.
    pub fn new(version: MediationVersion, mediator_did: impl Into<String>) -> MediationClient {
        MediationClient {
            version,
            mediator_did: mediator_did.into(),
            state: MediationState::Idle,
            recipient_dids: BTreeSet::new(),
            pending_updates: BTreeMap::new(),
            pending_queries: BTreeSet::new(),
        }
    }

    /// The routing DIDs, once granted.
    pub fn routing_did(&self) -> Option<&[String]> {
        match &self.state {
            MediationState::Granted { routing_did } => Some(routing_did),
            _ => None,
        }
    }

    /// The `DIDCommMessaging` service a recipient publishes once granted: the mediator's
    /// routing DID as the endpoint `uri` (senders then route through its keys).
    pub fn service(&self, service_id: impl Into<String>) -> Option<Service> {
        let uri = self.routing_did()?.first()?;
        let mut endpoint = Map::new();
        endpoint.insert("uri".into(), Value::String(uri.clone()));
        endpoint.insert(
            "accept".into(),
            Value::Array(vec![Value::String(
                crate::routing::DIDCOMM_V2_PROFILE.into(),
            )]),
        );
        Some(Service {
            id: service_id.into(),
            type_: Value::String("DIDCommMessaging".into()),
            service_endpoint: Value::Object(endpoint),
            extra: Map::new(),
        })
    }

    /// A `mediate-request` to the mediator (from `from`). Allowed again after a denial or to
    /// renew a grant.
    pub fn request(&mut self, from: &str) -> Result<Message> {
        let message = MediateRequest {
            version: self.version,
        }
        .to_message()?
        .from(from)
        .to(self.mediator_did.clone());
        self.state = MediationState::Requested {
            request_id: message.id.clone(),
        };
        Ok(message)
    }

    /// A `recipient-update` / `keylist-update` to the mediator. Needs a grant.
    pub fn update(&mut self, from: &str, updates: Vec<RecipientUpdateItem>) -> Result<Message> {
        self.require_grant()?;
        let message = RecipientUpdate {
            version: self.version,
            updates: updates.clone(),
        }
        .to_message()?
        .from(from)
        .to(self.mediator_did.clone());
        self.pending_updates.insert(message.id.clone(), updates);
        Ok(message)
    }

    /// A `recipient-query` / `keylist-query` to the mediator. Needs a grant.
    pub fn query(&mut self, from: &str, paginate: Option<Paginate>) -> Result<Message> {
        self.require_grant()?;
        let message = RecipientQuery {
            version: self.version,
            paginate,
        }
        .to_message()?
        .from(from)
        .to(self.mediator_did.clone());
        self.pending_queries.insert(message.id.clone());
        Ok(message)
    }

    fn require_grant(&self) -> Result<()> {
        match self.state {
            MediationState::Granted { .. } => Ok(()),
            _ => Err(Error::illegal_argument("mediation has not been granted")),
        }
    }

    /// Take in a message from the mediator. It must answer something we sent (its `thid`),
    /// come from the mediator when it names a sender, and be of our version. Feed it only
    /// messages that unpack found encrypted (and, for authcrypt, from the mediator).
    pub fn handle(&mut self, message: &Message) -> Result<MediationEvent> {
        if let Some(from) = &message.from {
            if did_of(from) != did_of(&self.mediator_did) {
                return Err(Error::new(
                    ErrorKind::SenderMismatch,
                    "the message does not come from our mediator",
                ));
            }
        }
        let parsed = MediationMessage::parse(message)?;
        let thid = message.thid.as_deref();
        let unexpected = || {
            Error::illegal_argument(format!(
                "{} does not answer a message we sent",
                shorten(&message.type_)
            ))
        };
        match parsed {
            MediationMessage::Grant(grant) => {
                self.answered_request(thid, grant.version)
                    .ok_or_else(unexpected)?;
                self.state = MediationState::Granted {
                    routing_did: grant.routing_did.clone(),
                };
                Ok(MediationEvent::Granted {
                    routing_did: grant.routing_did,
                })
            }
            MediationMessage::Deny(deny) => {
                self.answered_request(thid, deny.version)
                    .ok_or_else(unexpected)?;
                self.state = MediationState::Denied;
                Ok(MediationEvent::Denied)
            }
            MediationMessage::UpdateResponse(response) => {
                let sent = thid
                    .and_then(|t| self.pending_updates.remove(t))
                    .ok_or_else(unexpected)?;
                for outcome in &response.updated {
                    let asked = sent.iter().any(|u| {
                        u.recipient_did == outcome.recipient_did && u.action == outcome.action
                    });
                    if !asked {
                        continue;
                    }
                    if matches!(
                        outcome.result,
                        UpdateResult::Success | UpdateResult::NoChange
                    ) {
                        match outcome.action {
                            UpdateAction::Add => {
                                self.recipient_dids.insert(outcome.recipient_did.clone());
                            }
                            UpdateAction::Remove => {
                                self.recipient_dids.remove(&outcome.recipient_did);
                            }
                        }
                    }
                }
                Ok(MediationEvent::Updated {
                    updated: response.updated,
                })
            }
            MediationMessage::List(list) => {
                if !thid.is_some_and(|t| self.pending_queries.remove(t)) {
                    return Err(unexpected());
                }
                if list.pagination.is_none() {
                    // A complete list: it is the truth.
                    self.recipient_dids = list.dids.iter().cloned().collect();
                }
                Ok(MediationEvent::Listed { list })
            }
            MediationMessage::Request(_)
            | MediationMessage::Update(_)
            | MediationMessage::Query(_) => Err(Error::illegal_argument(
                "a mediator-bound message was given to the recipient side",
            )),
        }
    }

    /// `Some` when the reply's thread is our outstanding request of the same version.
    fn answered_request(&self, thid: Option<&str>, version: MediationVersion) -> Option<()> {
        match &self.state {
            MediationState::Requested { request_id }
                if thid == Some(request_id.as_str()) && version == self.version =>
            {
                Some(())
            }
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Mediator side.

/// The mediator's decision about a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ClientStatus {
    /// Mediation granted.
    Granted,
    /// Mediation denied.
    Denied,
}

/// What the mediator knows about one client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// Granted or denied.
    pub status: ClientStatus,
    /// The recipient DIDs (or key ids) it registered.
    pub recipient_dids: BTreeSet<String>,
}

/// Limits of a [`MediatorRegistry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryLimits {
    /// Recipient DIDs per client.
    pub max_recipients_per_client: usize,
    /// Updates per message.
    pub max_updates_per_message: usize,
    /// Entries per list.
    pub max_list: u64,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        RegistryLimits {
            max_recipients_per_client: 1000,
            max_updates_per_message: 100,
            max_list: 100,
        }
    }
}

/// The mediator's side of Coordinate Mediation: who is granted and which recipient DIDs
/// belong to whom. Every method is a pure state transition returning the reply to send; the
/// host persists the registry (it is serializable) and does the I/O.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MediatorRegistry {
    /// The routing DIDs granted clients publish (the mediator's own DIDs).
    pub routing_did: Vec<String>,
    /// Clients by DID.
    pub clients: BTreeMap<String, ClientRecord>,
    /// Owner (client DID) of each registered recipient DID.
    pub owners: BTreeMap<String, String>,
    /// Limits.
    pub limits: RegistryLimits,
}

impl MediatorRegistry {
    /// A registry for a mediator routing through `routing_did`.
    pub fn new(routing_did: Vec<String>) -> MediatorRegistry {
        MediatorRegistry {
            routing_did,
            ..MediatorRegistry::default()
        }
    }

    /// Handle a Coordinate Mediation message from a client and return the reply (threaded and
    /// addressed to the client; the caller sets `from`, packs and sends it).
    ///
    /// The message must be authenticated (`metadata.authenticated`: authcrypt or signed) and
    /// name its sender in `from`: keylists are per client. `grant` decides a
    /// `mediate-request` (a policy hook; `true` grants). Updates and queries from a client
    /// without a grant are refused with [`ErrorKind::IllegalArgument`], for which the host
    /// sends an `e.p.req.not-allowed` problem report.
    pub fn handle(
        &mut self,
        message: &Message,
        metadata: &UnpackMetadata,
        grant: impl FnOnce(&str) -> bool,
    ) -> Result<Message> {
        let client = match (&message.from, metadata.authenticated) {
            (Some(from), true) => did_of(from).to_owned(),
            _ => {
                return Err(Error::new(
                    ErrorKind::SenderMismatch,
                    "mediation messages must come from an authenticated sender",
                ))
            }
        };
        let reply = match MediationMessage::parse(message)? {
            MediationMessage::Request(request) => {
                if grant(&client) {
                    self.grant(&client);
                    MediateGrant {
                        version: request.version,
                        routing_did: self.routing_did.clone(),
                    }
                    .to_message()?
                } else {
                    self.deny(&client);
                    MediateDeny {
                        version: request.version,
                    }
                    .to_message()?
                }
            }
            MediationMessage::Update(update) => {
                self.require_grant(&client)?;
                let updated = self.apply_updates(&client, &update.updates);
                RecipientUpdateResponse {
                    version: update.version,
                    updated,
                }
                .to_message()?
            }
            MediationMessage::Query(query) => {
                self.require_grant(&client)?;
                let (dids, pagination) = self.list(&client, query.paginate);
                RecipientList {
                    version: query.version,
                    dids,
                    pagination,
                }
                .to_message()?
            }
            MediationMessage::Grant(_)
            | MediationMessage::Deny(_)
            | MediationMessage::UpdateResponse(_)
            | MediationMessage::List(_) => {
                return Err(Error::illegal_argument(
                    "a recipient-bound message was given to the mediator side",
                ))
            }
        };
        Ok(threading::reply_to(message, reply))
    }

    /// Grant mediation to `client` (keeping its recipient DIDs if it had a record).
    pub fn grant(&mut self, client: &str) {
        self.clients
            .entry(client.to_owned())
            .and_modify(|r| r.status = ClientStatus::Granted)
            .or_insert_with(|| ClientRecord {
                status: ClientStatus::Granted,
                recipient_dids: BTreeSet::new(),
            });
    }

    /// Deny (or revoke) mediation for `client`, dropping its recipient DIDs.
    pub fn deny(&mut self, client: &str) {
        let record = self
            .clients
            .entry(client.to_owned())
            .or_insert_with(|| ClientRecord {
                status: ClientStatus::Denied,
                recipient_dids: BTreeSet::new(),
            });
        record.status = ClientStatus::Denied;
        for did in std::mem::take(&mut record.recipient_dids) {
            self.owners.remove(&did);
        }
    }

    /// Whether `client` holds a grant.
    pub fn is_granted(&self, client: &str) -> bool {
        self.clients
            .get(client)
            .is_some_and(|r| r.status == ClientStatus::Granted)
    }

    fn require_grant(&self, client: &str) -> Result<()> {
        if self.is_granted(client) {
            Ok(())
        } else {
            Err(Error::illegal_argument(format!(
                "{} has no mediation grant",
                shorten(client)
            )))
        }
    }

    /// Apply updates for a granted `client`, each on its own: a DID another client holds, or
    /// one that is not a DID (URL), is a client error; over the quota a server error;
    /// re-adding or removing an absent DID is no change.
    pub fn apply_updates(
        &mut self,
        client: &str,
        updates: &[RecipientUpdateItem],
    ) -> Vec<RecipientUpdated> {
        let limits = self.limits;
        let mut results = Vec::with_capacity(updates.len());
        for (i, update) in updates.iter().enumerate() {
            let outcome = |result| RecipientUpdated {
                recipient_did: update.recipient_did.clone(),
                action: update.action,
                result,
            };
            if i >= limits.max_updates_per_message {
                results.push(outcome(UpdateResult::ServerError));
                continue;
            }
            let did = &update.recipient_did;
            let Some(record) = self
                .clients
                .get_mut(client)
                .filter(|r| r.status == ClientStatus::Granted)
            else {
                results.push(outcome(UpdateResult::ClientError));
                continue;
            };
            let result = if !is_did(did_of(did)) {
                UpdateResult::ClientError
            } else {
                match (update.action, self.owners.get(did)) {
                    (UpdateAction::Add, Some(owner)) if owner == client => UpdateResult::NoChange,
                    (UpdateAction::Add, Some(_)) => UpdateResult::ClientError,
                    (UpdateAction::Add, None)
                        if record.recipient_dids.len() >= limits.max_recipients_per_client =>
                    {
                        UpdateResult::ServerError
                    }
                    (UpdateAction::Add, None) => {
                        record.recipient_dids.insert(did.clone());
                        self.owners.insert(did.clone(), client.to_owned());
                        UpdateResult::Success
                    }
                    (UpdateAction::Remove, Some(owner)) if owner == client => {
                        record.recipient_dids.remove(did);
                        self.owners.remove(did);
                        UpdateResult::Success
                    }
                    // Someone else's DID is none of this client's business: no change.
                    (UpdateAction::Remove, _) => UpdateResult::NoChange,
                }
            };
            results.push(outcome(result));
        }
        results
    }

    /// A page of `client`'s recipient DIDs (sorted), capped at the registry's list limit.
    /// Pagination is reported when asked for or when the list was cut.
    pub fn list(
        &self,
        client: &str,
        paginate: Option<Paginate>,
    ) -> (Vec<String>, Option<Pagination>) {
        let all: Vec<&String> = self
            .clients
            .get(client)
            .map(|r| r.recipient_dids.iter().collect())
            .unwrap_or_default();
        let total = all.len() as u64;
        let offset = paginate.map_or(0, |p| p.offset).min(total);
        let limit = paginate
            .map_or(self.limits.max_list, |p| p.limit)
            .min(self.limits.max_list);
        let page: Vec<String> = all
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect();
        let count = page.len() as u64;
        let remaining = total.saturating_sub(offset).saturating_sub(count);
        let pagination = (paginate.is_some() || remaining > 0).then_some(Pagination {
            count,
            offset,
            remaining,
        });
        (page, pagination)
    }

    /// The client a forward's `next` is for: `next` itself registered, or its DID (a key id
    /// of a registered DID). `None` means the mediator should refuse the forward.
    pub fn client_for(&self, next: &str) -> Option<&str> {
        self.owners
            .get(next)
            .or_else(|| self.owners.get(did_of(next)))
            .filter(|owner| self.is_granted(owner))
            .map(String::as_str)
    }

    /// A client rotated its DID (a verified `from_prior`, see
    /// [`rotation`](super::rotation)): move its grant and recipient DIDs to the new DID.
    /// Returns whether there was a record to move; an existing record of `new` is merged.
    pub fn rotate_client(&mut self, prior: &str, new: &str) -> bool {
        let Some(record) = self.clients.remove(prior) else {
            return false;
        };
        for did in &record.recipient_dids {
            self.owners.insert(did.clone(), new.to_owned());
        }
        match self.clients.get_mut(new) {
            Some(existing) => {
                existing.recipient_dids.extend(record.recipient_dids);
                if record.status == ClientStatus::Granted {
                    existing.status = ClientStatus::Granted;
                }
            }
            None => {
                self.clients.insert(new.to_owned(), record);
            }
        }
        true
    }
}
