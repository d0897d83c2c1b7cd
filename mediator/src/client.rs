//! A minimal device-side client: HTTP keep-alive transport, forward wrapping and Pickup 3.0
//! requests. The tests, the load generator and examples drive the mediator through it; the
//! full edge agent (mediation, rotation, reconnects) is a separate component.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use base64::Engine as _;
use didcomm_edge::{
    Attachment, DidComm, InMemoryDidResolver, Message, PackEncryptedOptions, UnpackOptions, Wallet,
};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

use crate::error::{Error, ErrorKind, Result};
use crate::protocols::forward::FORWARD_TYPE;
use crate::protocols::pickup::PICKUP_3;

fn io(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Io, e.to_string())
}

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
            Some("application/didcomm-encrypted+json"),
            packed.as_bytes().to_vec(),
        )
        .await
    }

    /// GET a path.
    pub async fn get(&mut self, path: &str) -> Result<HttpResponse> {
        self.request("GET", path, None, vec![]).await
    }
}

/// A device identity with an envelope engine that knows the mediator's (and peers') documents.
#[derive(Debug, Clone)]
pub struct Device {
    /// The device's DID.
    pub did: String,
    /// Its wallet (documents and secrets).
    pub wallet: Wallet,
    /// Its engine.
    pub didcomm: Arc<DidComm>,
}

impl Device {
    /// A device with a fresh identity that can resolve the given extra documents.
    pub fn new(known: &[didcomm_edge::DidDocument]) -> Result<Device> {
        let wallet = crate::identity::new_mediator_identity("")?;
        Device::from_wallet(wallet, known)
    }

    /// A device over an existing wallet.
    pub fn from_wallet(wallet: Wallet, known: &[didcomm_edge::DidDocument]) -> Result<Device> {
        let did = wallet
            .did_docs
            .first()
            .map(|d| d.id.clone())
            .ok_or_else(|| Error::bad_request("the wallet holds no DID document"))?;
        let mut resolver = InMemoryDidResolver::new(wallet.did_docs.iter().cloned());
        for doc in known {
            resolver.insert(doc.clone());
        }
        let didcomm = Arc::new(DidComm::new(
            Arc::new(resolver),
            Arc::new(wallet.secrets_store()),
        ));
        Ok(Device {
            did,
            wallet,
            didcomm,
        })
    }

    /// Anoncrypt `body` (any bytes-as-JSON message) for `to`, then wrap it in a forward to
    /// `next`, anoncrypted for the mediator. Returns (outer packed forward, inner packed).
    pub async fn forward(
        &self,
        mediator: &str,
        to: &str,
        content: Value,
    ) -> Result<(String, String)> {
        let inner = Message::new("https://didcomm.org/basicmessage/2.0/message", content)?
            .from(self.did.clone())
            .to(to.to_owned());
        let (inner_packed, _) = self
            .didcomm
            .pack_encrypted(
                &inner,
                to,
                Some(&self.did),
                None,
                &PackEncryptedOptions::default(),
            )
            .await?;
        let outer = self.wrap_forward(mediator, to, &inner_packed).await?;
        Ok((outer, inner_packed))
    }

    /// Wrap an already packed message in a forward to `next`, anoncrypted for the mediator.
    pub async fn wrap_forward(&self, mediator: &str, next: &str, packed: &str) -> Result<String> {
        let inner: Value = serde_json::from_str(packed)
            .map_err(|_| Error::bad_request("the packed message is not JSON"))?;
        let mut forward =
            Message::new(FORWARD_TYPE, json!({ "next": next }))?.to(mediator.to_owned());
        forward.attachments = Some(vec![Attachment::json(
            didcomm_edge::crypto::uuid_v4()?,
            inner,
        )]);
        let (outer, _) = self
            .didcomm
            .pack_encrypted(
                &forward,
                mediator,
                None,
                None,
                &PackEncryptedOptions::default(),
            )
            .await?;
        Ok(outer)
    }

    /// An authcrypted Pickup 3.0 request (`name` = `status-request`, ...) with `return_route`.
    pub async fn pickup_request(&self, mediator: &str, name: &str, body: Value) -> Result<String> {
        let message = Message::new(format!("{PICKUP_3}{name}"), body)?
            .from(self.did.clone())
            .to(mediator.to_owned())
            .header("return_route", json!("all"));
        let (packed, _) = self
            .didcomm
            .pack_encrypted(
                &message,
                mediator,
                Some(&self.did),
                None,
                &PackEncryptedOptions::default(),
            )
            .await?;
        Ok(packed)
    }

    /// Unpack a reply from the mediator.
    pub async fn unpack(&self, packed: &str) -> Result<Message> {
        Ok(self
            .didcomm
            .unpack(packed, &UnpackOptions::default())
            .await?
            .0)
    }

    /// The (id, packed bytes) pairs a `delivery` carries.
    pub fn delivered(delivery: &Message) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        for a in delivery.attachments.iter().flatten() {
            let id =
                a.id.clone()
                    .ok_or_else(|| Error::bad_request("delivery attachment without id"))?;
            let bytes = if let Some(b64) = &a.data.base64 {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(b64)
                    .map_err(|_| Error::bad_request("delivery attachment is not base64url"))?
            } else if let Some(json) = &a.data.json {
                serde_json::to_vec(json).map_err(io)?
            } else {
                return Err(Error::bad_request("delivery attachment without data"));
            };
            out.push((id, bytes));
        }
        Ok(out)
    }
}
