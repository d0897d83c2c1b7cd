//! Rotation: a new messaging DID announced with `from_prior`, retiring the prior ones, ending
//! a relationship with a peer.

use didcomm_edge::protocols::empty::Empty;
use didcomm_edge::protocols::mediation::RecipientUpdateItem;
use didcomm_edge::protocols::rotation::RotationOptions;
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::{DidCommService, Identity, IdentityMethod, PackEncryptedOptions, RouteOptions};

use crate::error::{Error, ErrorKind, Result};
use crate::state::StoredIdentity;

use super::{not_connected, EdgeAgent, Sent};

/// What [`EdgeAgent::rotate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// The DID rotated away from (still registered until [`EdgeAgent::retire_prior_dids`]).
    pub prior_did: String,
    /// The new messaging DID.
    pub new_did: String,
    /// The `from_prior` JWT the next messages to each peer carry.
    pub from_prior: String,
}

impl EdgeAgent {
    /// Rotate the messaging DID: new keys and a new did:peer:2 with the same service, the new
    /// DID added to the mediator's keylist, and `from_prior` (signed by the prior DID) on the
    /// next messages to each peer until that peer writes to the new DID. The prior DID stays
    /// registered (messages already on their way still arrive) until
    /// [`EdgeAgent::retire_prior_dids`].
    pub async fn rotate(&self) -> Result<Rotated> {
        let prior = {
            let state = self.inner.state.lock().await;
            state.mediator.as_ref().ok_or_else(not_connected)?;
            state.messaging.clone().ok_or_else(not_connected)?
        };
        let doc = prior
            .wallet
            .did_docs
            .iter()
            .find(|d| d.id == prior.did)
            .ok_or_else(|| Error::new(ErrorKind::Storage, "the messaging DID has no document"))?;
        let service = doc
            .didcomm_endpoints()
            .into_iter()
            .next()
            .map(|e| DidCommService::new(e.uri).with_routing_keys(e.routing_keys));
        let identity = Identity::generate(IdentityMethod::Peer2, service.as_ref())?;
        self.inner.keys.insert(identity.secrets.iter().cloned());
        let mut options = RotationOptions::default();
        options.mediation_version = self.inner.config.mediation_version;
        let rotation = self
            .inner
            .didcomm
            .rotate_did(&prior.did, &identity.did, &options)
            .await?;
        let additions: Vec<RecipientUpdateItem> = rotation
            .keylist_update
            .updates
            .iter()
            .filter(|u| u.action == didcomm_edge::protocols::mediation::UpdateAction::Add)
            .cloned()
            .collect();
        self.update_keylist(additions).await?;
        let rotated = Rotated {
            prior_did: prior.did.clone(),
            new_did: identity.did.clone(),
            from_prior: rotation.from_prior.clone(),
        };
        let mut state = self.inner.state.lock().await;
        state.messaging = Some(StoredIdentity::from_identity(&identity)?);
        state.prior.push(prior);
        state.rotation = Some(rotation);
        state.rotation_seen_by.clear();
        self.save(&state).await?;
        Ok(rotated)
    }

    /// End the relationship with `peer` (DIDComm v2.1 "Ending a Relationship"): an empty
    /// message without `from`, anoncrypted (authcrypt needs a `from`), whose `from_prior` has
    /// no `sub` and is signed by the DID the peer knows us by (the prior DID while the peer
    /// has not yet written to our new one). The peer then forgets that DID. Ours stays
    /// registered with the mediator (other peers write to it); what we knew of the peer (its
    /// rotations, whether it saw ours) is forgotten here once the message is delivered.
    pub async fn end_relationship(&self, peer: &str) -> Result<Sent> {
        let (ours, to) = {
            let state = self.inner.state.lock().await;
            let current = state
                .messaging
                .as_ref()
                .map(|m| m.did.clone())
                .ok_or_else(not_connected)?;
            let to = state.current_peer_did(peer);
            let ours = match &state.rotation {
                Some(r)
                    if r.new_did == current
                        && !state.rotation_seen_by.contains(&to)
                        && state.prior.iter().any(|p| p.did == r.prior_did) =>
                {
                    r.prior_did.clone()
                }
                _ => current,
            };
            (ours, to)
        };
        let dc = &self.inner.didcomm;
        let ending = dc
            .end_relationship(&ours, &RotationOptions::default())
            .await?;
        let mut message = ending.apply(Empty.to_message()?);
        message.to = Some(vec![to.clone()]);
        let anon = self.inner.config.enc_alg_anon;
        let (packed, _) = dc
            .pack_encrypted(
                &message,
                &to,
                None,
                None,
                &PackEncryptedOptions::default().enc_alg_anon(anon),
            )
            .await?;
        let routed = dc
            .route(&packed, &to, &RouteOptions::default().enc_alg_anon(anon))
            .await?;
        let sent = self
            .deliver_sent(Sent {
                id: message.id,
                to: to.clone(),
                uri: routed.uri,
                hops: routed.hops,
                packed,
                wire: routed.message,
                announced_rotation: false,
            })
            .await?;
        let mut state = self.inner.state.lock().await;
        if state.forget_peer(&to) {
            self.save(&state).await?;
        }
        Ok(sent)
    }

    /// Stop receiving for the DIDs rotated away from: remove them from the mediator's keylist
    /// and forget their keys. Refused while messages still wait for one of them (pick them up
    /// first), unless `even_if_messages_wait`, which drops those messages.
    pub async fn retire_prior_dids(&self, even_if_messages_wait: bool) -> Result<Vec<String>> {
        let prior: Vec<String> = self
            .inner
            .state
            .lock()
            .await
            .prior
            .iter()
            .map(|p| p.did.clone())
            .collect();
        if prior.is_empty() {
            return Ok(vec![]);
        }
        if !even_if_messages_wait {
            for did in &prior {
                let waiting = self.status(Some(did)).await?.message_count;
                if waiting > 0 {
                    return Err(Error::illegal_argument(format!(
                        "{waiting} message(s) still wait for {did}: pick them up before retiring it"
                    )));
                }
            }
        }
        self.update_keylist(
            prior
                .iter()
                .map(|d| RecipientUpdateItem::remove(d.clone()))
                .collect(),
        )
        .await?;
        let mut state = self.inner.state.lock().await;
        for did in &prior {
            self.inner.keys.remove_did(did);
        }
        state.prior.clear();
        self.save(&state).await?;
        drop(state);
        self.inner.didcomm.clear_caches();
        self.inner.replies.clear_caches();
        Ok(prior)
    }
}
