//! A minimal device-side client: HTTP keep-alive and WebSocket transports, and a [`Device`]
//! that drives the core's protocol types (Coordinate Mediation, Message Pickup, Trust Ping,
//! Discover Features) and routes messages with the core's `route`. The tests, the load
//! generator and examples drive the mediator through it; the full edge agent (reconnects,
//! rotation, storage) is a separate component.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
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
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::error::{Error, ErrorKind, Result};

fn io(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Io, e.to_string())
}

/// The media type of an encrypted DIDComm message.
pub const ENCRYPTED_MEDIA_TYPE: &str = "application/didcomm-encrypted+json";

/// One HTTP/1.1 keep-alive connection to the mediator.
#[derive(Debug)]
pub struct HttpClient {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// Body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the body is a packed DIDComm message (a reply or a problem report).
    pub fn is_didcomm(&self) -> bool {
        self.content_type.as_deref() == Some(ENCRYPTED_MEDIA_TYPE)
    }
}

impl HttpClient {
    /// Open a connection.
    pub async fn connect(addr: SocketAddr) -> Result<HttpClient> {
        let stream = TcpStream::connect(addr).await.map_err(io)?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(io)?;
        tokio::spawn(connection);
        Ok(HttpClient {
            sender,
            host: addr.to_string(),
        })
    }

    /// Send a request.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<HttpResponse> {
        self.sender.ready().await.map_err(io)?;
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.host);
        if let Some(ct) = content_type {
            builder = builder.header(hyper::header::CONTENT_TYPE, ct);
        }
        let request = builder.body(Full::new(Bytes::from(body))).map_err(io)?;
        let response = self.sender.send_request(request).await.map_err(io)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(io)?
            .to_bytes()
            .to_vec();
        Ok(HttpResponse {
            status,
            content_type,
            body,
        })
    }

    /// POST a packed message.
    pub async fn post_packed(&mut self, packed: &str) -> Result<HttpResponse> {
        self.request(
            "POST",
            "/",
            Some(ENCRYPTED_MEDIA_TYPE),
            packed.as_bytes().to_vec(),
        )
        .await
    }

    /// GET a path.
    pub async fn get(&mut self, path: &str) -> Result<HttpResponse> {
        self.request("GET", path, None, vec![]).await
    }
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One WebSocket connection to the mediator's `/ws`.
#[derive(Debug)]
pub struct WsClient {
    stream: WsStream,
}

impl WsClient {
    /// Connect to `ws://addr/ws`.
    pub async fn connect(addr: SocketAddr) -> Result<WsClient> {
        let (stream, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .map_err(io)?;
        Ok(WsClient { stream })
    }

    /// Send one packed message (or any text) as a text frame.
    pub async fn send(&mut self, text: &str) -> Result<()> {
        self.stream
            .send(WsMessage::Text(text.to_owned().into()))
            .await
            .map_err(io)
    }

    /// The next text frame, waiting at most `wait`; `None` when nothing came in time.
    pub async fn next(&mut self, wait: Duration) -> Result<Option<String>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(frame) => frame,
                Err(_) => return Ok(None),
            };
            match frame {
                Some(Ok(WsMessage::Text(t))) => return Ok(Some(t.to_string())),
                Some(Ok(WsMessage::Binary(b))) => {
                    return Ok(Some(String::from_utf8_lossy(&b).into_owned()))
                }
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => {}
                Some(Ok(WsMessage::Close(_))) | None => {
                    return Err(Error::new(ErrorKind::Io, "the WebSocket closed"))
                }
                Some(Err(e)) => return Err(io(e)),
            }
        }
    }

    /// Close the connection.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// A device: a DID that talks to the mediator (and holds the mediation grant), recipient DIDs
/// whose service routes through the mediator, and an engine that resolves did:peer and did:key
/// with the core's [`ResolverChain`].
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
            .ok_or_else(|| Error::bad_request("the wallet holds no DID document"))?;
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
        self.wallet.merge(identity.to_wallet()?);
        self.didcomm = engine(&self.wallet);
        self.recipient_dids.push(identity.did.clone());
        Ok(identity.did)
    }

    /// Address a message from this device to the mediator and ask for replies on the same
    /// connection (`return_route: all`).
    pub fn to_mediator(&self, message: Message) -> Message {
        with_return_route(
            message.from(self.did.clone()).to(self.mediator_did.clone()),
            ReturnRoute::All,
        )
    }

    /// Authcrypt a message (already addressed) from this device to the mediator.
    pub async fn pack(&self, message: &Message) -> Result<String> {
        let (packed, _) = self
            .didcomm
            .pack_encrypted(
                message,
                &self.mediator_did,
                Some(&self.did),
                None,
                &PackEncryptedOptions::default(),
            )
            .await?;
        Ok(packed)
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

    /// Send a basic message with `content` to `to` the way any sender would: authcrypt it from
    /// this device's DID, then [`DidComm::route`] it through the services in `to`'s DID
    /// document. Returns the routed message and where to send it.
    pub async fn send(&self, to: &str, content: Value) -> Result<Routed> {
        let message = Message::new("https://didcomm.org/basicmessage/2.0/message", content)?
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
        Ok(self
            .didcomm
            .route(&packed, to, &RouteOptions::default())
            .await?)
    }

    /// Read a `delivery` (3.0 or 4.0) with the core's parser.
    pub fn delivered(delivery: &Message) -> Result<Delivery> {
        Ok(Delivery::from_message(delivery)?)
    }
}
