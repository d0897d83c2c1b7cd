//! The recipient's side of Coordinate Mediation: [`MediationClient`] builds the requests and
//! checks the mediator's replies against them.

use crate::prelude::*;

use alloc::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    MediateRequest, MediationMessage, MediationVersion, Paginate, RecipientList, RecipientQuery,
    RecipientUpdate, RecipientUpdateItem, RecipientUpdated, UpdateAction, UpdateResult,
};
use crate::did::{did_of, Service};
use crate::error::{Error, ErrorKind, Result};
use crate::message::Message;
use crate::protocols::{shorten, ProtocolMessage};

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
