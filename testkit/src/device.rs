//! [`Device`]: one device at the protocol level.

use std::sync::Arc;

use didcomm_edge::protocols::mediation::{
    MediationClient, MediationEvent, MediationVersion, Paginate, RecipientUpdateItem,
};
use didcomm_edge::protocols::pickup::Delivery;
use didcomm_edge::protocols::return_route::{with_return_route, ReturnRoute};
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::{
    DidComm, DidCommService, Identity, IdentityMethod, InMemoryDidResolver, Message,
    PackEncryptedOptions, ResolverChain, RouteOptions, Routed, UnpackOptions, Wallet,
};
use didcomm_edge_agent::transport::HttpConnection;
use didcomm_edge_agent::{pack_for_mediator, to_mediator, Error, ErrorKind, Result};
use serde_json::Value;

/// The type of the messages [`Device::send`] and [`Device::authcrypt`] build.
const BASIC_MESSAGE: &str = "https://didcomm.org/basicmessage/2.0/message";

/// A device: a DID that talks to the mediator (and holds the mediation grant), recipient DIDs
/// whose service routes through the mediator, and an engine that resolves did:peer and did:key
/// with the core's [`ResolverChain`] (no did:web: no connection leaves loopback).
///
/// Its methods return packed messages and leave sending to the caller (over an
/// [`HttpConnection`] or a [`didcomm_edge_agent::transport::WsConnection`]); the `*_over`
/// methods do a whole exchange on an [`HttpConnection`].
#[derive(Debug, Clone)]
pub struct Device {
    /// The DID that talks to the mediator (the grant holder).
    pub did: String,
    /// The mediator's DID.
    pub mediator_did: String,
    /// Every identity of the device (documents and secrets).
    pub wallet: Wallet,
    /// The engine over the wallet.
    pub didcomm: Arc<DidComm>,
    /// The recipient side of Coordinate Mediation.
    pub mediation: MediationClient,
    /// The recipient DIDs created with [`Device::new_recipient_did`].
    pub recipient_dids: Vec<String>,
}

fn engine(wallet: &Wallet) -> Arc<DidComm> {
    let pinned = InMemoryDidResolver::new(wallet.did_docs.iter().cloned());
    let resolver = ResolverChain::new()
        .with_pinned(Arc::new(pinned))
        .without_web();
    Arc::new(DidComm::new(
        Arc::new(resolver),
        Arc::new(wallet.secrets_store()),
    ))
}

impl Device {
    /// A device with a fresh `did:peer:2` (no service: it has no endpoint of its own) that
    /// speaks Coordinate Mediation `version` to `mediator_did`.
    pub fn new(mediator_did: &str, version: MediationVersion) -> Result<Device> {
        let identity = Identity::generate(IdentityMethod::Peer2, None)?;
        Device::from_wallet(identity.to_wallet()?, mediator_did, version)
    }

    /// A device over an existing wallet (its first document is the DID that talks to the
    /// mediator).
    pub fn from_wallet(
        wallet: Wallet,
        mediator_did: &str,
        version: MediationVersion,
    ) -> Result<Device> {
        let did = wallet
            .did_docs
            .first()
            .map(|d| d.id.clone())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::IllegalArgument,
                    "the wallet holds no DID document",
                )
            })?;
        Ok(Device {
            did,
            mediator_did: mediator_did.to_owned(),
            didcomm: engine(&wallet),
            wallet,
            mediation: MediationClient::new(version, mediator_did),
            recipient_dids: vec![],
        })
    }

    /// A new `did:peer:2` for others to write to, whose `DIDCommMessaging` service names
    /// `routing_did` (the grant's routing DID) as its endpoint: senders resolve the mediator
    /// from it and wrap their messages in forwards for it. Register it with
    /// [`Device::keylist_update`].
    pub fn new_recipient_did(&mut self, routing_did: &str) -> Result<String> {
        let identity = Identity::generate(
            IdentityMethod::Peer2,
            Some(&DidCommService::new(routing_did)),
        )?;
        self.add_recipient_identity(&identity)
    }

    /// Take in a recipient identity made elsewhere (e.g. with the mediator's URL as endpoint
    /// and its key as routing key); returns its DID. Register it with
    /// [`Device::keylist_update`].
    pub fn add_recipient_identity(&mut self, identity: &Identity) -> Result<String> {
        self.wallet.merge(identity.to_wallet()?);
        self.didcomm = engine(&self.wallet);
        self.recipient_dids.push(identity.did.clone());
        Ok(identity.did.clone())
    }

    /// Address a message from this device to the mediator, replies on the same connection
    /// (the agent's [`to_mediator`]).
    pub fn to_mediator(&self, message: Message) -> Message {
        to_mediator(message, &self.did, &self.mediator_did)
    }

    /// Authcrypt a message (already addressed) from this device to the mediator (the agent's
    /// [`pack_for_mediator`]).
    pub async fn pack(&self, message: &Message) -> Result<String> {
        pack_for_mediator(&self.didcomm, message, &self.did, &self.mediator_did).await
    }

    /// Build a protocol message for the mediator and authcrypt it: returns (packed, id).
    pub async fn request(&self, message: &impl ProtocolMessage) -> Result<(String, String)> {
        let message = self.to_mediator(message.to_message()?);
        let id = message.id.clone();
        Ok((self.pack(&message).await?, id))
    }

    /// A `mediate-request` (tracked by [`Device::mediation`]), packed.
    pub async fn mediate_request(&mut self) -> Result<String> {
        let message = self.mediation.request(&self.did)?;
        self.pack(&with_return_route(message, ReturnRoute::All))
            .await
    }

    /// A `keylist-update` / `recipient-update` (tracked), packed.
    pub async fn keylist_update(&mut self, updates: Vec<RecipientUpdateItem>) -> Result<String> {
        let message = self.mediation.update(&self.did, updates)?;
        self.pack(&with_return_route(message, ReturnRoute::All))
            .await
    }

    /// A `keylist-query` / `recipient-query` (tracked), packed.
    pub async fn keylist_query(&mut self, paginate: Option<Paginate>) -> Result<String> {
        let message = self.mediation.query(&self.did, paginate)?;
        self.pack(&with_return_route(message, ReturnRoute::All))
            .await
    }

    /// Take in the mediator's Coordinate Mediation reply.
    pub fn handle_mediation(&mut self, reply: &Message) -> Result<MediationEvent> {
        Ok(self.mediation.handle(reply)?)
    }

    /// Unpack a message from the mediator (a reply, a delivery, a problem report).
    pub async fn unpack(&self, packed: &str) -> Result<Message> {
        Ok(self
            .didcomm
            .unpack(packed, &UnpackOptions::default())
            .await?
            .0)
    }

    /// A basic message with `content`, authcrypted from this device's DID to `to` (not
    /// routed).
    pub async fn authcrypt(&self, to: &str, content: Value) -> Result<String> {
        let message = Message::new(BASIC_MESSAGE, content)?
            .from(self.did.clone())
            .to(to.to_owned());
        let (packed, _) = self
            .didcomm
            .pack_encrypted(
                &message,
                to,
                Some(&self.did),
                None,
                &PackEncryptedOptions::default(),
            )
            .await?;
        Ok(packed)
    }

    /// Send a basic message with `content` to `to` the way any sender would:
    /// [`Device::authcrypt`], then [`DidComm::route`] through the services in `to`'s DID
    /// document. Returns the routed message and where to send it.
    pub async fn send(&self, to: &str, content: Value) -> Result<Routed> {
        let packed = self.authcrypt(to, content).await?;
        Ok(self
            .didcomm
            .route(&packed, to, &RouteOptions::default())
            .await?)
    }

    /// Read a `delivery` (3.0 or 4.0) with the core's parser.
    pub fn delivered(delivery: &Message) -> Result<Delivery> {
        Ok(Delivery::from_message(delivery)?)
    }

    /// POST `packed` on `http` and unpack the mediator's reply; an answer other than a 200
    /// carrying a packed message is an error (of kind [`ErrorKind::Refused`], with the
    /// status and the body).
    pub async fn call_over(&self, http: &mut HttpConnection, packed: &str) -> Result<Message> {
        let answer = http.post_packed(packed).await?;
        if answer.status != 200 || !answer.is_didcomm() {
            return Err(Error::new(
                ErrorKind::Refused,
                format!(
                    "HTTP {} ({:?}): {}",
                    answer.status,
                    answer.content_type,
                    answer.text()
                ),
            ));
        }
        self.unpack(&answer.text()).await
    }

    /// Ask for mediation on `http` (request → grant); returns the grant's routing DIDs.
    pub async fn mediate_over(&mut self, http: &mut HttpConnection) -> Result<Vec<String>> {
        let request = self.mediate_request().await?;
        let reply = self.call_over(http, &request).await?;
        match self.handle_mediation(&reply)? {
            MediationEvent::Granted { routing_did } => Ok(routing_did),
            other => Err(Error::new(
                ErrorKind::Refused,
                format!("mediation not granted: {other:?}"),
            )),
        }
    }

    /// A new recipient DID routed through `routing_did` ([`Device::new_recipient_did`]),
    /// registered with a keylist update on `http`; returned once the mediator holds it.
    pub async fn add_recipient_over(
        &mut self,
        http: &mut HttpConnection,
        routing_did: &str,
    ) -> Result<String> {
        let recipient = self.new_recipient_did(routing_did)?;
        let update = self
            .keylist_update(vec![RecipientUpdateItem::add(recipient.clone())])
            .await?;
        let reply = self.call_over(http, &update).await?;
        self.handle_mediation(&reply)?;
        if !self.mediation.recipient_dids.contains(&recipient) {
            return Err(Error::new(
                ErrorKind::Refused,
                "the keylist update was refused",
            ));
        }
        Ok(recipient)
    }

    /// [`Device::mediate_over`], then [`Device::add_recipient_over`] through the first routing
    /// DID of the grant; returns (routing DIDs, the recipient DID).
    pub async fn enroll_over(
        &mut self,
        http: &mut HttpConnection,
    ) -> Result<(Vec<String>, String)> {
        let routing_did = self.mediate_over(http).await?;
        let first = routing_did
            .first()
            .ok_or_else(|| Error::new(ErrorKind::Protocol, "a grant without a routing DID"))?
            .clone();
        let recipient = self.add_recipient_over(http, &first).await?;
        Ok((routing_did, recipient))
    }
}
