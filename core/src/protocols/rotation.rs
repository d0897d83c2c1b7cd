//! DID rotation (DIDComm v2.1 "DID Rotation"): the first messages from a new DID carry
//! `from_prior`, a JWT signed by the prior DID naming the new one. A recipient behind a
//! mediator must also move its mediator registration: the rotation implies a keylist update
//! that removes the prior DID's entries and adds the new DID's.
//!
//! Building: [`DidComm::rotate_did`] signs the JWT and lists the update; [`DidRotation::apply`]
//! puts `from` and `from_prior` on an outgoing message. Receiving: unpack verifies
//! `from_prior` ([`UnpackMetadata::from_prior`]) and [`received_rotation`] reads the result;
//! the device sends the implied update ([`DidRotation::keylist_update`]) to its mediator,
//! which decides each entry by its own keylist rules (`didcomm-edge-mediator`).
//!
//! Ending a relationship (DIDComm v2.1 "Ending a Relationship") rotates its DID to no DID:
//! [`DidComm::end_relationship`] signs a `from_prior` without `sub`, and
//! [`RelationshipEnding::apply`] sends a message with it and without `from`; such a message
//! cannot be authcrypt, so it is anoncrypted (or, as for rotations, plaintext or signed by
//! the ending DID). The receiver reads it with [`received_ending`].

use crate::prelude::*;

use serde::{Deserialize, Serialize};

use super::mediation::{MediationVersion, RecipientUpdate, RecipientUpdateItem};
use crate::did::{did_of, is_did, Relationship};
use crate::engine::DidComm;
use crate::error::{Error, Result};
use crate::message::{FromPrior, Message};
use crate::unpack::UnpackMetadata;

/// Which entries of a mediator's keylist stand for a DID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum KeylistEntries {
    /// The DID itself (what senders put in a forward's `next` by default).
    #[default]
    Did,
    /// The DID's key agreement key ids (for mediators keyed by `did:key` key ids).
    KeyAgreementKids,
    /// Both.
    Both,
}

/// Options of [`DidComm::rotate_did`] and [`DidComm::end_relationship`] (which lists no new DID).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RotationOptions {
    /// Sign with this key of the prior DID (else its first `authentication` key we hold).
    pub issuer_kid: Option<String>,
    /// When the rotation happened (`iat`, epoch seconds; now when `None`).
    pub iat: Option<u64>,
    /// The version of the keylist update.
    pub mediation_version: MediationVersion,
    /// Which keylist entries stand for each DID.
    pub keylist_entries: KeylistEntries,
}

/// A prepared DID rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DidRotation {
    /// The DID rotated away from.
    pub prior_did: String,
    /// The DID rotated to.
    pub new_did: String,
    /// The `from_prior` JWT.
    pub from_prior: String,
    /// The prior DID's key that signed it.
    pub issuer_kid: String,
    /// The keylist update for the mediator: additions of the new DID's entries, then removals
    /// of the prior DID's (additions first, so no message finds neither registered).
    pub keylist_update: RecipientUpdate,
}

impl DidRotation {
    /// Send `message` as the new DID, announcing the rotation (`from` and `from_prior`). The
    /// spec asks to keep doing so until the peer has sent a message to the new DID.
    #[must_use]
    pub fn apply(&self, message: Message) -> Message {
        message
            .from(self.new_did.clone())
            .from_prior(self.from_prior.clone())
    }
}

/// A rotation announced by a received message, as unpack verified it: `(prior DID, new
/// DID)`. The host re-keys its record of the peer from the prior DID to the new one, and
/// ignores later messages from the prior DID.
pub fn received_rotation(message: &Message, metadata: &UnpackMetadata) -> Option<(String, String)> {
    let claims = metadata.from_prior.as_ref()?;
    let from = message.from.as_deref()?;
    let sub = claims.sub.as_deref()?;
    (did_of(from) == sub).then(|| (claims.iss.clone(), sub.to_owned()))
}

/// A prepared end of a relationship: its DID rotated to no DID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationshipEnding {
    /// The DID whose relationship ends.
    pub did: String,
    /// The `from_prior` JWT (no `sub`).
    pub from_prior: String,
    /// The DID's key that signed it.
    pub issuer_kid: String,
    /// The keylist update for the mediator: removals of the DID's entries. Send it when the
    /// DID served only this relationship (a pairwise DID, what rotation assumes).
    pub keylist_update: RecipientUpdate,
}

impl RelationshipEnding {
    /// Make `message` the one that ends the relationship: `from_prior` set and `from`
    /// removed. Pack it anoncrypt to the peer (authcrypt needs a `from`).
    #[must_use]
    pub fn apply(&self, mut message: Message) -> Message {
        message.from = None;
        message.from_prior(self.from_prior.clone())
    }
}

/// The DID whose relationship a received message ended, as unpack verified it (a `from_prior`
/// without `sub` on a message without `from`). The host forgets the peer known by that DID
/// and ignores later messages from it.
pub fn received_ending(message: &Message, metadata: &UnpackMetadata) -> Option<String> {
    let claims = metadata.from_prior.as_ref()?;
    (claims.is_ending() && message.from.is_none()).then(|| claims.iss.clone())
}

impl DidComm {
    /// Prepare a rotation from `prior_did` to `new_did`: the `from_prior` JWT signed by the
    /// prior DID, and the keylist update it implies.
    pub async fn rotate_did(
        &self,
        prior_did: &str,
        new_did: &str,
        options: &RotationOptions,
    ) -> Result<DidRotation> {
        if !is_did(prior_did)
            || !is_did(new_did)
            || prior_did.contains('#')
            || new_did.contains('#')
        {
            return Err(Error::illegal_argument(
                "a rotation goes from one DID to another (no DID URLs)",
            ));
        }
        let mut claims = FromPrior::new(prior_did, new_did);
        if let Some(iat) = options.iat {
            claims.iat = Some(iat);
        }
        let (from_prior, issuer_kid) = self
            .pack_from_prior(&claims, options.issuer_kid.as_deref())
            .await?;
        let mut updates: Vec<RecipientUpdateItem> = self
            .keylist_entries(new_did, options.keylist_entries)
            .await?
            .into_iter()
            .map(RecipientUpdateItem::add)
            .collect();
        updates.extend(
            self.keylist_entries(prior_did, options.keylist_entries)
                .await?
                .into_iter()
                .map(RecipientUpdateItem::remove),
        );
        Ok(DidRotation {
            prior_did: prior_did.to_owned(),
            new_did: new_did.to_owned(),
            from_prior,
            issuer_kid,
            keylist_update: RecipientUpdate {
                version: options.mediation_version,
                updates,
            },
        })
    }

    /// Prepare the end of the relationship that uses `did` (a DID we hold an authentication
    /// key of): the `from_prior` JWT without `sub`, signed by `did`, and the keylist update
    /// removing its entries. `options.iat` dates the ending; the other options as for
    /// [`DidComm::rotate_did`].
    pub async fn end_relationship(
        &self,
        did: &str,
        options: &RotationOptions,
    ) -> Result<RelationshipEnding> {
        if !is_did(did) || did.contains('#') {
            return Err(Error::illegal_argument(
                "a relationship ends for a DID (not a DID URL)",
            ));
        }
        let mut claims = FromPrior::ending(did);
        if let Some(iat) = options.iat {
            claims.iat = Some(iat);
        }
        let (from_prior, issuer_kid) = self
            .pack_from_prior(&claims, options.issuer_kid.as_deref())
            .await?;
        let updates = self
            .keylist_entries(did, options.keylist_entries)
            .await?
            .into_iter()
            .map(RecipientUpdateItem::remove)
            .collect();
        Ok(RelationshipEnding {
            did: did.to_owned(),
            from_prior,
            issuer_kid,
            keylist_update: RecipientUpdate {
                version: options.mediation_version,
                updates,
            },
        })
    }

    async fn keylist_entries(&self, did: &str, entries: KeylistEntries) -> Result<Vec<String>> {
        let mut out = vec![];
        if matches!(entries, KeylistEntries::Did | KeylistEntries::Both) {
            out.push(did.to_owned());
        }
        if matches!(
            entries,
            KeylistEntries::KeyAgreementKids | KeylistEntries::Both
        ) {
            let resolved = self.resolve(did).await?;
            out.extend(resolved.kids(Relationship::KeyAgreement).iter().cloned());
        }
        Ok(out)
    }
}
