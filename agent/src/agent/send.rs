//! Sending: pack for the recipient, wrap in forwards for its mediators, deliver (and keep a
//! failed send for a re-send of the same message).

use didcomm_edge::protocols::trust_ping::Ping;
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::{Message, PackEncryptedOptions, RouteOptions};

use crate::config::SendMode;
use crate::error::{Error, ErrorKind, Result};
use crate::transport;

use super::{not_connected, EdgeAgent};

/// What [`EdgeAgent::send`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The message id.
    pub id: String,
    /// The recipient DID it was packed for (after following announced rotations).
    pub to: String,
    /// The transport URI it went to.
    pub uri: String,
    /// The mediators it travels through (the forward layers), first receiver first.
    pub hops: Vec<String>,
    /// The message packed for the recipient (what the recipient decrypts).
    pub packed: String,
    /// What went on the wire: the outer forward (or `packed` itself without hops).
    pub wire: String,
    /// Whether `from_prior` announced our DID rotation on this message.
    pub announced_rotation: bool,
}

/// How many failed sends are kept for a re-send of the same message id.
const OUTBOX_CAPACITY: usize = 64;

impl EdgeAgent {
    /// Send `message` to `to`: resolve the recipient, pack (authcrypt from our messaging DID by
    /// default), wrap in forwards for its mediators, deliver to its endpoint. `from`, `to` and
    /// (while a rotation is being announced) `from_prior` are set here.
    ///
    /// Transient failures are retried with the very same bytes, so a mediator that did store an
    /// earlier attempt stores the message once. When every attempt failed, sending a message
    /// with the same id to the same peer again (after the network is back) repeats those bytes
    /// too (the last 64 failed sends are kept, in memory).
    pub async fn send(&self, to: &str, message: Message) -> Result<Sent> {
        // A message id identifies the message: re-sending one whose delivery failed sends the
        // bytes of that attempt again (the mediator may have stored them; it stores them once).
        let recipient = self.inner.state.lock().await.current_peer_did(to);
        let earlier = self.inner.outbox.lock().ok().and_then(|mut outbox| {
            let index = outbox
                .iter()
                .position(|s| s.id == message.id && s.to == recipient)?;
            outbox.remove(index)
        });
        if let Some(sent) = earlier {
            return self.deliver_sent(sent).await;
        }
        let (from, to, message, announced) = {
            let state = self.inner.state.lock().await;
            let from = state
                .messaging
                .as_ref()
                .map(|m| m.did.clone())
                .ok_or_else(not_connected)?;
            let to = state.current_peer_did(to);
            let mut message = message.from(from.clone());
            message.to = Some(vec![to.clone()]);
            let announce = state
                .rotation
                .as_ref()
                .filter(|r| r.new_did == from && !state.rotation_seen_by.contains(&to));
            let announced = announce.is_some();
            if let Some(rotation) = announce {
                message = rotation.apply(message);
            }
            (from, to, message, announced)
        };
        let dc = &self.inner.didcomm;
        let options = PackEncryptedOptions::default().enc_alg_anon(self.inner.config.enc_alg_anon);
        let (packed, _) = match self.inner.config.send_mode {
            SendMode::Anoncrypt => {
                let mut message = message.clone();
                message.from = None;
                message.from_prior = None;
                dc.pack_encrypted(&message, &to, None, None, &options)
                    .await?
            }
            SendMode::AuthcryptProtectSender => {
                dc.pack_encrypted(
                    &message,
                    &to,
                    Some(&from),
                    None,
                    &options.protect_sender(true),
                )
                .await?
            }
            _ => {
                dc.pack_encrypted(&message, &to, Some(&from), None, &options)
                    .await?
            }
        };
        let routed = dc
            .route(
                &packed,
                &to,
                &RouteOptions::default().enc_alg_anon(self.inner.config.enc_alg_anon),
            )
            .await?;
        self.deliver_sent(Sent {
            id: message.id,
            to,
            uri: routed.uri,
            hops: routed.hops,
            packed,
            wire: routed.message,
            announced_rotation: announced,
        })
        .await
    }

    /// Deliver a packed send; when delivery fails, keep it for a re-send of the same id.
    pub(super) async fn deliver_sent(&self, sent: Sent) -> Result<Sent> {
        match self.deliver(&sent.uri, &sent.wire).await {
            Ok(()) => Ok(sent),
            Err(e) => {
                if let Ok(mut outbox) = self.inner.outbox.lock() {
                    outbox.push_back(sent);
                    while outbox.len() > OUTBOX_CAPACITY {
                        outbox.pop_front();
                    }
                }
                Err(e)
            }
        }
    }

    /// Deliver a packed message to a transport URI (HTTP POST or a WebSocket frame).
    async fn deliver(&self, uri: &str, wire: &str) -> Result<()> {
        if uri.starts_with("http://") || uri.starts_with("https://") {
            match self
                .inner
                .http
                .post_with_retry(uri, wire, &self.inner.config.retry)
                .await?
            {
                // A reply on the connection (a peer with its own endpoint honoring return_route)
                // is not expected from a send; it is dropped.
                transport::HttpReply::Accepted | transport::HttpReply::Message(_) => Ok(()),
            }
        } else if uri.starts_with("ws://") || uri.starts_with("wss://") {
            let timeout = self.inner.config.request_timeout;
            transport::retrying(&self.inner.config.retry, || {
                transport::ws_send_once(uri, wire, timeout)
            })
            .await
        } else {
            Err(Error::new(
                ErrorKind::Envelope(didcomm_edge::ErrorKind::Unsupported),
                format!(
                    "the recipient's endpoint '{}' is not an HTTP or WebSocket URL",
                    transport::endpoint_name(uri)
                ),
            ))
        }
    }

    /// Trust-ping a peer (the response arrives like any message: see
    /// [`Received::is_reply_to`]).
    ///
    /// [`Received::is_reply_to`]: crate::Received::is_reply_to
    pub async fn ping(&self, to: &str) -> Result<Sent> {
        self.send(to, Ping::default().to_message()?).await
    }
}
