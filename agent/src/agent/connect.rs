//! Connecting: from the mediator's invitation to a grant and a registered messaging DID.

use didcomm_edge::did::{did_of, is_did, Relationship};
use didcomm_edge::protocols::mediation::{MediationClient, MediationEvent, RecipientUpdateItem};
use didcomm_edge::protocols::oob::Invitation;
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::routing::mediator_websocket_url;
use didcomm_edge::{DidCommService, Identity, IdentityMethod, Message};

use crate::config::EndpointStyle;
use crate::error::{Error, ErrorKind, Result};
use crate::state::{MediatorLink, StoredIdentity};

use super::{EdgeAgent, MediatorEndpoint};

/// The outcome of [`EdgeAgent::connect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The mediator's DID.
    pub mediator_did: String,
    /// Its HTTP endpoint.
    pub http_endpoint: String,
    /// Its WebSocket URL (live mode).
    pub websocket_url: String,
    /// The routing DIDs of the grant.
    pub routing_did: Vec<String>,
    /// Our messaging DID (registered in the mediator's keylist, its service names the mediator).
    pub did: String,
    /// Whether this call did the mediation exchange (`false`: the saved connection was reused).
    pub newly_granted: bool,
}

impl EdgeAgent {
    /// Connect to a mediator from its invitation: an `_oob` URL, the invitation JSON, or the
    /// mediator's DID (which must publish an HTTP endpoint). Asks for mediation, makes the
    /// messaging DID whose service names the mediator, and registers it in the keylist.
    ///
    /// When the state already holds a grant from this mediator, nothing is asked again (a
    /// restarted device). A different mediator is refused: one agent, one mediator.
    pub async fn connect(&self, invitation: &str) -> Result<Connection> {
        let target = self.read_invitation(invitation).await?;
        {
            let state = self.inner.state.lock().await;
            if let Some(link) = &state.mediator {
                if link.did != target.did {
                    return Err(Error::illegal_argument(format!(
                        "this device is connected to the mediator {}; one agent uses one mediator",
                        link.did
                    )));
                }
                if let (Some(routing), Some(messaging)) =
                    (link.mediation.routing_did(), &state.messaging)
                {
                    if link.mediation.recipient_dids.contains(&messaging.did) {
                        return Ok(Connection {
                            mediator_did: link.did.clone(),
                            http_endpoint: link.http_endpoint.clone(),
                            websocket_url: link.websocket_url.clone(),
                            routing_did: routing.to_vec(),
                            did: messaging.did.clone(),
                            newly_granted: false,
                        });
                    }
                }
            }
        }
        let endpoint = MediatorEndpoint {
            did: target.did.clone(),
            http: target.http.clone(),
        };

        // Mediation request → grant.
        let mut client = MediationClient::new(self.inner.config.mediation_version, &target.did);
        let mut request = client.request(&self.inner.control_did)?;
        // The request answers the invitation: its id is the parent thread (mediators with an
        // invitation-token grant policy check it).
        request.pthid.clone_from(&target.invitation_id);
        let reply = self.mediator_call(&endpoint, request).await?;
        let routing_did = match client.handle(&reply)? {
            MediationEvent::Granted { routing_did } => routing_did,
            MediationEvent::Denied => {
                return Err(Error::new(
                    ErrorKind::Refused,
                    format!("the mediator {} denied mediation", target.did),
                ))
            }
            other => {
                return Err(Error::protocol(format!(
                    "unexpected answer to mediate-request: {other:?}"
                )))
            }
        };
        {
            let mut state = self.inner.state.lock().await;
            state.mediator = Some(MediatorLink {
                did: target.did.clone(),
                http_endpoint: target.http.clone(),
                websocket_url: target.websocket.clone(),
                mediation: client,
            });
            self.save(&state).await?;
        }

        // The messaging DID names the mediator; register it.
        let existing = self.inner.state.lock().await.messaging.clone();
        let messaging = match existing {
            Some(existing) => existing.did,
            None => {
                let service = self.messaging_service(&routing_did, &target).await?;
                let identity = Identity::generate(IdentityMethod::Peer2, Some(&service))?;
                self.inner.keys.insert(identity.secrets.iter().cloned());
                let stored = StoredIdentity::from_identity(&identity)?;
                let mut state = self.inner.state.lock().await;
                state.messaging = Some(stored);
                self.save(&state).await?;
                identity.did
            }
        };
        self.update_keylist(vec![RecipientUpdateItem::add(messaging.clone())])
            .await?;
        Ok(Connection {
            mediator_did: target.did,
            http_endpoint: target.http,
            websocket_url: target.websocket,
            routing_did,
            did: messaging,
            newly_granted: true,
        })
    }

    /// The mediator named by an invitation, with its endpoints.
    async fn read_invitation(&self, invitation: &str) -> Result<MediatorTarget> {
        let invitation = invitation.trim();
        let (did, url_base, invitation_id) = if is_did(invitation) {
            (invitation.to_owned(), None, None)
        } else if invitation.starts_with('{') {
            let message = Message::from_json(invitation, Default::default())?;
            let parsed = Invitation::from_message(&message)?;
            (parsed.from, None, Some(parsed.id))
        } else {
            let parsed = Invitation::from_url(invitation)?;
            let base = invitation
                .split(['?', '#'])
                .next()
                .unwrap_or_default()
                .to_owned();
            (parsed.from, Some(base), Some(parsed.id))
        };
        let doc = self.inner.didcomm.resolve(&did).await.map_err(|e| {
            Error::from(e).context("resolving the mediator named by the invitation")
        })?;
        let endpoints = doc.document().didcomm_endpoints();
        let http = endpoints
            .iter()
            .map(|e| e.uri.clone())
            .find(|u| u.starts_with("http://") || u.starts_with("https://"))
            .or(url_base)
            .ok_or_else(|| {
                Error::illegal_argument(format!(
                    "{did} publishes no HTTP endpoint; connect with its _oob URL instead"
                ))
            })?;
        let websocket = match &self.inner.config.websocket_url {
            Some(url) => url.clone(),
            None => endpoints
                .iter()
                .map(|e| e.uri.clone())
                .find(|u| u.starts_with("ws://") || u.starts_with("wss://"))
                .unwrap_or_else(|| mediator_websocket_url(&http)),
        };
        Ok(MediatorTarget {
            did,
            http,
            websocket,
            invitation_id,
        })
    }

    /// The service the messaging DID publishes for the granted `routing_did`.
    async fn messaging_service(
        &self,
        routing_did: &[String],
        target: &MediatorTarget,
    ) -> Result<DidCommService> {
        let routing = routing_did
            .first()
            .ok_or_else(|| Error::protocol("the grant names no routing DID"))?;
        let resolved = self.inner.didcomm.resolve(did_of(routing)).await?;
        let publishes_endpoint = resolved
            .document()
            .didcomm_endpoints()
            .iter()
            .any(|e| !e.uri_is_did());
        let by_did = match self.inner.config.endpoint_style {
            EndpointStyle::MediatorDid => true,
            EndpointStyle::RoutingKeys => false,
            _ => publishes_endpoint,
        };
        if by_did {
            return Ok(DidCommService::new(routing.clone()));
        }
        let key = if routing.contains('#') {
            routing.clone()
        } else {
            resolved
                .kids(Relationship::KeyAgreement)
                .first()
                .cloned()
                .ok_or_else(|| {
                    Error::protocol(format!(
                        "the routing DID {routing} has no key agreement key"
                    ))
                })?
        };
        Ok(DidCommService::new(target.http.clone()).with_routing_keys([key]))
    }
}

/// The mediator an invitation names.
#[derive(Debug, Clone)]
struct MediatorTarget {
    did: String,
    http: String,
    websocket: String,
    invitation_id: Option<String>,
}
