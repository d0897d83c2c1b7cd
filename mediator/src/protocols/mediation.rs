//! Coordinate Mediation 2.0 and 3.0 (mediator side), on the core's message types, with the
//! state in [`crate::storage::Storage`] rather than in memory (the core's
//! `MediatorRegistry` has the same rules for hosts that keep it in memory; here several
//! instances share one database).
//!
//! - `mediate-request` → `mediate-grant` (`routing_did`: the mediator's DID) or
//!   `mediate-deny`, by the grant policy. A DID that already holds a grant gets it again
//!   whatever the policy says now (a device re-asking after a restart keeps its queues).
//! - `keylist-update` / `recipient-update` → `...-update-response`: each entry on its own;
//!   not a DID (URL) or a key another DID holds → `client_error`; over the per-client limit or
//!   past the per-message limit → `server_error`; re-adding, removing an absent key or a key
//!   of another DID → `no_change`. Removing a key drops its queue.
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

use crate::config::GrantPolicy;
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
            let updated = apply_updates(m, &client, &u.updates).await?;
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

async fn require_grant(m: &Mediator, client: &str) -> Result<()> {
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
    updates: &[RecipientUpdateItem],
) -> Result<Vec<RecipientUpdated>> {
    let (_, mut registered) = m.storage.keylist(client, 0, 0).await?;
    // Entries the storage should apply, and where each outcome goes.
    let mut results: Vec<Option<UpdateResult>> = vec![None; updates.len()];
    let mut to_apply = Vec::new();
    let mut positions = Vec::new();
    for (i, update) in updates.iter().enumerate() {
        let early = if i >= MAX_UPDATES_PER_MESSAGE {
            Some(UpdateResult::ServerError)
        } else if !is_did(did_of(&update.recipient_did)) {
            Some(UpdateResult::ClientError)
        } else if update.action == UpdateAction::Add && registered >= m.max_keys_per_client {
            Some(UpdateResult::ServerError)
        } else {
            None
        };
        if let Some(result) = early {
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(result);
            }
            continue;
        }
        if update.action == UpdateAction::Add {
            // Counted before knowing whether it is new: the limit errs on the safe side.
            registered += 1;
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
        let applied = m.storage.update_keylist(client, &to_apply).await?;
        for ((position, update), outcome) in positions.iter().zip(&to_apply).zip(applied) {
            let result = match (outcome, update.action) {
                (KeylistResult::Success, _) => UpdateResult::Success,
                (KeylistResult::NoChange, _) => UpdateResult::NoChange,
                (KeylistResult::OwnedByAnother, KeylistAction::Add) => UpdateResult::ClientError,
                // Someone else's key is none of this client's business.
                (KeylistResult::OwnedByAnother, KeylistAction::Remove) => UpdateResult::NoChange,
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
