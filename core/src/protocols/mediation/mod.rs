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
//! State: [`MediationClient`] (in `client.rs`) tracks the recipient's side (request, grant,
//! pending updates). The mediator's side (who is granted, which recipient DIDs belong to whom)
//! is the mediator crate's (`didcomm-edge-mediator`, its `Storage` backends, one of them in
//! memory): its rules have one home there.

use crate::prelude::*;

mod client;

pub use client::{MediationClient, MediationEvent, MediationState};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::return_route::{with_return_route, ReturnRoute};
use super::{new_message, shorten, wrong_type, Body, ProtocolMessage};
use crate::did::{did_of, is_did};
use crate::error::{Error, Result};
use crate::message::Message;

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
