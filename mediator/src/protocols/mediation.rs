//! Coordinate Mediation 2.0 and 3.0 (mediator side), on the core's message types, with the
//! state in [`crate::storage::Storage`]: SQLite or PostgreSQL (several instances share one
//! database), or [`crate::storage::memory`] for hosts that keep it in memory. This is the one
//! home of the mediator's rules (the core has only the messages and the recipient's side).
//!
//! - `mediate-request` → `mediate-grant` (`routing_did`: the mediator's DID) or
//!   `mediate-deny`, by the grant policy. A DID that already holds a grant gets it again
//!   whatever the policy says now (a device re-asking after a restart keeps its queues).
//! - `keylist-update` / `recipient-update` → `...-update-response`: each entry on its own;
//!   not a DID (URL), a key whose DID another device holds (one owner per DID, see
//!   [`crate::storage::keylist`]), or an add the proof policy does not accept → `client_error`;
//!   over the per-client limit (counted inside the write) or past the per-message limit →
//!   `server_error`; re-adding, removing an absent key or a key of another DID → `no_change`.
//!   Removing a key drops its queue.
//! - `keylist-query` / `recipient-query` → `keylist` / `recipient`, paged.
//!
//! Every message must be authcrypted by the device's DID; updates and queries need a grant.

use didcomm_edge::did::{did_of, is_did};
use didcomm_edge::protocols::mediation::{
    MediateDeny, MediateGrant, MediationMessage, Paginate, Pagination, RecipientList,
    RecipientUpdateItem, RecipientUpdateResponse, RecipientUpdated, UpdateAction, UpdateResult,
};
use didcomm_edge::protocols::threading::reply_to;
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::Message;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::{GrantPolicy, KeylistProof};
use crate::error::{Error, ErrorKind, Result};
use crate::mediator::{GrantRules, Mediator, Request};
use crate::storage::{now_ms, Grant, KeylistAction, KeylistResult, KeylistUpdate};

/// Most updates one message may carry; later ones answer `server_error`.
pub const MAX_UPDATES_PER_MESSAGE: usize = 100;

/// Most entries one `keylist` / `recipient` reply lists.
pub const MAX_LIST: u64 = 100;

/// Handle a Coordinate Mediation message; returns the reply (threaded, addressed).
pub async fn handle(m: &Mediator, request: &Request<'_>) -> Result<Message> {
    let client = request.authenticated_sender()?.to_owned();
    let reply = match MediationMessage::parse(&request.message)? {
        MediationMessage::Request(r) => {
            let granted = match m.storage.grant(&client).await? {
                Some(_) => true,
                None => m.grants.allows(&client, &request.message),
            };
            if granted {
                m.storage
                    .put_grant(&Grant {
                        did: client.clone(),
                        routing_did: m.did.clone(),
                        granted_at_ms: now_ms(),
                    })
                    .await?;
                tracing::info!(version = ?r.version, "mediation granted");
                MediateGrant {
                    version: r.version,
                    routing_did: vec![m.did.clone()],
                }
                .to_message()?
            } else {
                tracing::info!(version = ?r.version, "mediation denied by the grant policy");
                MediateDeny { version: r.version }.to_message()?
            }
        }
        MediationMessage::Update(u) => {
            require_grant(m, &client).await?;
            let updated = apply_updates(m, &client, &request.message, &u.updates).await?;
            RecipientUpdateResponse {
                version: u.version,
                updated,
            }
            .to_message()?
        }
        MediationMessage::Query(q) => {
            require_grant(m, &client).await?;
            let (dids, pagination) = list(m, &client, q.paginate).await?;
            RecipientList {
                version: q.version,
                dids,
                pagination,
            }
            .to_message()?
        }
        MediationMessage::Grant(_)
        | MediationMessage::Deny(_)
        | MediationMessage::UpdateResponse(_)
        | MediationMessage::List(_) => {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "this Coordinate Mediation message is for recipients, not for the mediator",
            ))
        }
    };
    Ok(reply_to(&request.message, reply))
}

pub(crate) async fn require_grant(m: &Mediator, client: &str) -> Result<()> {
    match m.storage.grant(client).await? {
        Some(_) => Ok(()),
        None => Err(Error::forbidden(
            "the sender holds no mediation grant: send a mediate-request first",
        )),
    }
}

impl GrantRules {
    /// Whether the policy grants a new `mediate-request` from `client`.
    pub fn allows(&self, client: &str, request: &Message) -> bool {
        match self.policy {
            GrantPolicy::Open => true,
            GrantPolicy::AllowList => self.allow_list.contains(client),
            GrantPolicy::Token => {
                let in_body = request
                    .body
                    .as_ref()
                    .and_then(|b| b.get("token"))
                    .and_then(Value::as_str);
                [in_body, request.pthid.as_deref()]
                    .into_iter()
                    .flatten()
                    .any(|offered| self.tokens.iter().any(|t| same_secret(t, offered)))
            }
        }
    }
}

/// Compare a token without leaking where it differs (through timing): compare digests.
fn same_secret(expected: &str, offered: &str) -> bool {
    if expected.is_empty() {
        return false;
    }
    let a = Sha256::digest(expected.as_bytes());
    let b = Sha256::digest(offered.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

async fn apply_updates(
    m: &Mediator,
    client: &str,
    message: &Message,
    updates: &[RecipientUpdateItem],
) -> Result<Vec<RecipientUpdated>> {
    // Entries the storage should apply, and where each outcome goes.
    let mut results: Vec<Option<UpdateResult>> = vec![None; updates.len()];
    let mut to_apply = Vec::new();
    let mut positions = Vec::new();
    let proofs = match m.keylist_proof {
        KeylistProof::None => None,
        KeylistProof::SameDid => Some(proof::verified_keys(m, client, message).await),
    };
    for (i, update) in updates.iter().enumerate() {
        let early = if i >= MAX_UPDATES_PER_MESSAGE {
            Some(UpdateResult::ServerError)
        } else if !is_did(did_of(&update.recipient_did)) {
            Some(UpdateResult::ClientError)
        } else if update.action == UpdateAction::Add
            && proofs
                .as_ref()
                .is_some_and(|proven| !proof::proven(client, &update.recipient_did, proven))
        {
            // The policy asks that the added DID itself vouches for the add.
            Some(UpdateResult::ClientError)
        } else {
            None
        };
        if let Some(result) = early {
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(result);
            }
            continue;
        }
        to_apply.push(KeylistUpdate {
            key: update.recipient_did.clone(),
            action: match update.action {
                UpdateAction::Add => KeylistAction::Add,
                UpdateAction::Remove => KeylistAction::Remove,
            },
        });
        positions.push(i);
    }
    if !to_apply.is_empty() {
        // The key limit is counted inside the write (two devices racing cannot pass it).
        let applied = m
            .storage
            .update_keylist_within(client, &to_apply, m.max_keys_per_client)
            .await?;
        for ((position, update), outcome) in positions.iter().zip(&to_apply).zip(applied) {
            let result = match (outcome, update.action) {
                (KeylistResult::Success, _) => UpdateResult::Success,
                (KeylistResult::NoChange, _) => UpdateResult::NoChange,
                (KeylistResult::OwnedByAnother, KeylistAction::Add) => UpdateResult::ClientError,
                // Someone else's key is none of this client's business.
                (KeylistResult::OwnedByAnother, KeylistAction::Remove) => UpdateResult::NoChange,
                (KeylistResult::KeyLimit, _) => UpdateResult::ServerError,
            };
            if let Some(slot) = results.get_mut(*position) {
                *slot = Some(result);
            }
        }
    }
    Ok(updates
        .iter()
        .zip(results)
        .map(|(update, result)| RecipientUpdated {
            recipient_did: update.recipient_did.clone(),
            action: update.action,
            result: result.unwrap_or(UpdateResult::ServerError),
        })
        .collect())
}

/// A page of the client's keys (sorted), at most [`MAX_LIST`]. Pagination is reported when
/// asked for or when the list was cut.
async fn list(
    m: &Mediator,
    client: &str,
    paginate: Option<Paginate>,
) -> Result<(Vec<String>, Option<Pagination>)> {
    let offset = paginate.map_or(0, |p| p.offset);
    let limit = paginate.map_or(MAX_LIST, |p| p.limit).min(MAX_LIST);
    let (dids, total) = m.storage.keylist(client, offset, limit).await?;
    let count = dids.len() as u64;
    let remaining = total
        .saturating_sub(offset.min(total))
        .saturating_sub(count);
    let pagination = (paginate.is_some() || remaining > 0).then_some(Pagination {
        count,
        offset: offset.min(total),
        remaining,
    });
    Ok((dids, pagination))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashSet;

    #[test]
    fn grant_policies() {
        let request = |body: Value, pthid: Option<&str>| {
            let m = Message::build(
                "1",
                "https://didcomm.org/coordinate-mediation/3.0/mediate-request",
                body,
            );
            match pthid {
                Some(p) => m.pthid(p),
                None => m,
            }
        };
        let open = GrantRules::default();
        assert!(open.allows("did:example:a", &request(json!({}), None)));
        let allow = GrantRules {
            policy: GrantPolicy::AllowList,
            allow_list: HashSet::from(["did:example:a".to_owned()]),
            tokens: vec![],
        };
        assert!(allow.allows("did:example:a", &request(json!({}), None)));
        assert!(!allow.allows("did:example:b", &request(json!({}), None)));
        let token = GrantRules {
            policy: GrantPolicy::Token,
            allow_list: HashSet::new(),
            tokens: vec!["s3cret".into(), String::new()],
        };
        assert!(token.allows("did:example:b", &request(json!({"token": "s3cret"}), None)));
        assert!(token.allows("did:example:b", &request(json!({}), Some("s3cret"))));
        assert!(!token.allows("did:example:b", &request(json!({"token": "s3cre"}), None)));
        assert!(!token.allows("did:example:b", &request(json!({"token": ""}), None)));
        assert!(!token.allows("did:example:b", &request(json!({}), None)));
    }
}

/// The proof-of-control policy's evidence (see `mediator/README.md`, "Keylist ownership"):
/// an add of a key whose DID is not the requester's needs an attachment of the
/// keylist-update holding a message signed (JWS, `pack_signed`) by a key of the added DID,
/// of type [`PROOF_TYPE`](proof::PROOF_TYPE), `from` the added DID, whose body names the requester and the keys.
pub mod proof {
    use std::collections::HashSet;

    use didcomm_edge::did::did_of;
    use didcomm_edge::message::Attachment;
    use didcomm_edge::{Message, UnpackOptions};
    use serde_json::Value;

    use crate::mediator::Mediator;

    /// The `format` of a proof attachment.
    pub const PROOF_FORMAT: &str = "https://didcomm-edge.dev/keylist-proof/1.0";

    /// The type of the signed proof message.
    pub const PROOF_TYPE: &str = "https://didcomm-edge.dev/keylist-proof/1.0/proof";

    /// Most proof attachments looked at per keylist-update (each is one signature check).
    pub const MAX_PROOFS: usize = 8;

    /// A proof attachment by the DID of `keys` for `requester`: the signed message as a JSON
    /// attachment (what the device adds to its keylist-update).
    pub fn attachment(signed_jws: &str) -> didcomm_edge::Result<Attachment> {
        let json: Value = serde_json::from_str(signed_jws).map_err(|_| {
            didcomm_edge::Error::new(
                didcomm_edge::ErrorKind::Malformed,
                "a signed message is JSON",
            )
        })?;
        let mut attachment = Attachment::json("keylist-proof", json);
        attachment.format = Some(PROOF_FORMAT.to_owned());
        Ok(attachment)
    }

    /// The plaintext a device signs with a key of `added_did` to vouch for `requester`
    /// registering `keys` (DID URLs of `added_did`, or the DID itself).
    pub fn statement(id: &str, added_did: &str, requester: &str, keys: &[String]) -> Message {
        Message::build(
            id,
            PROOF_TYPE,
            serde_json::json!({ "requester": requester, "recipient_dids": keys }),
        )
        .from(added_did.to_owned())
    }

    /// The keys the message's proof attachments vouch for, for `requester`. Invalid proofs
    /// prove nothing (the add they were for answers `client_error`).
    pub async fn verified_keys(
        m: &Mediator,
        requester: &str,
        message: &Message,
    ) -> HashSet<String> {
        let mut proven = HashSet::new();
        let proofs = message
            .attachments
            .iter()
            .flatten()
            .filter(|a| a.format.as_deref() == Some(PROOF_FORMAT))
            .take(MAX_PROOFS);
        for attachment in proofs {
            let Some(json) = &attachment.data.json else {
                continue;
            };
            let text = json.to_string();
            let Ok((statement, metadata)) =
                m.didcomm.unpack(&text, &UnpackOptions::default()).await
            else {
                continue;
            };
            let signer = metadata.sign_from.as_deref().map(did_of);
            let Some(added) = statement.from.as_deref().map(did_of) else {
                continue;
            };
            if !metadata.non_repudiation
                || metadata.encrypted
                || statement.type_ != PROOF_TYPE
                || signer != Some(added)
            {
                continue;
            }
            let body = statement.body.as_ref();
            if body
                .and_then(|b| b.get("requester"))
                .and_then(Value::as_str)
                != Some(requester)
            {
                continue;
            }
            let keys = body
                .and_then(|b| b.get("recipient_dids"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|key| did_of(key) == added);
            proven.extend(keys.map(str::to_owned));
        }
        proven
    }

    /// Whether `requester` may add `key`: its own DID's keys, or a key vouched for.
    pub fn proven(requester: &str, key: &str, vouched: &HashSet<String>) -> bool {
        did_of(key) == requester || vouched.contains(key)
    }
}
