//! Routing 2.0: planning the route to a recipient, wrapping a packed message in one forward per
//! mediator, and (mediator side) unwrapping a forward addressed to us.

use std::sync::Arc;

use crate::engine::{ContentEncryption, DidComm, UnpackMetadata};
use crate::error::Result;
use crate::json::parse_object;
use crate::runtime::{block_on, off_thread};

/// How `route` and `wrap_in_forward` wrap.
#[derive(Debug, Clone, PartialEq, Eq, Default, uniffi::Record)]
pub struct RouteOptions {
    /// Content encryption of each anoncrypted forward (nothing: A256CBC-HS512).
    #[uniffi(default)]
    pub enc_alg_anon: Option<ContentEncryption>,
    /// Use this `DIDCommMessaging` service of the recipient (its id) rather than the first one
    /// that accepts `didcomm/v2`.
    #[uniffi(default)]
    pub service_id: Option<String>,
    /// `expires_time` of every forward (usually the message's own).
    #[uniffi(default)]
    pub expires_time: Option<u64>,
    /// `delay_milli` of every forward (negative: a random delay up to the absolute value).
    #[uniffi(default)]
    pub delay_milli: Option<i64>,
    /// Other headers for every forward, a JSON object.
    #[uniffi(default)]
    pub forward_headers: Option<String>,
}

impl RouteOptions {
    fn to_core(&self) -> Result<didcomm_edge::RouteOptions> {
        let mut options = didcomm_edge::RouteOptions::default()
            .enc_alg_anon(self.enc_alg_anon.unwrap_or_default().into());
        options.service_id.clone_from(&self.service_id);
        options.expires_time = self.expires_time;
        options.delay_milli = self.delay_milli;
        if let Some(headers) = &self.forward_headers {
            options.forward_headers = parse_object(headers, "forward_headers")?
                .into_iter()
                .collect();
        }
        Ok(options)
    }
}

/// Where and how a message for a recipient travels, read from DID documents.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Route {
    /// The transport URI to send the outermost message to.
    pub uri: String,
    /// The recipient's service that was chosen.
    pub service_id: String,
    /// What the receiving endpoint accepts (empty: unspecified).
    pub accept: Vec<String>,
    /// The mediators' keys or DIDs, first receiver first (empty: sent directly).
    pub hops: Vec<String>,
}

/// A message ready to send, and where to.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Routed {
    /// The message to transmit: the packed input wrapped once per hop.
    pub message: String,
    /// The transport URI to send it to.
    pub uri: String,
    /// The recipient's service that was chosen.
    pub service_id: String,
    /// What the receiving endpoint accepts (empty: unspecified).
    pub accept: Vec<String>,
    /// The hops, first receiver first.
    pub hops: Vec<String>,
}

/// A `forward`: pass the attached message(s) on to `next`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Forward {
    /// The DID (or key id) to pass the messages to.
    pub next: String,
    /// The forwarded messages, JSON text each (normally one encrypted message).
    pub messages: Vec<String>,
    /// The forward's `expires_time`.
    #[uniffi(default)]
    pub expires_time: Option<u64>,
    /// The requested delivery delay in milliseconds.
    #[uniffi(default)]
    pub delay_milli: Option<i64>,
}

impl From<didcomm_edge::Forward> for Forward {
    fn from(f: didcomm_edge::Forward) -> Self {
        Forward {
            next: f.next,
            messages: f.messages,
            expires_time: f.expires_time,
            delay_milli: f.delay_milli,
        }
    }
}

impl From<&Forward> for didcomm_edge::Forward {
    fn from(f: &Forward) -> Self {
        let mut forward = didcomm_edge::Forward::new(f.next.clone(), String::new());
        forward.messages.clone_from(&f.messages);
        forward.expires_time = f.expires_time;
        forward.delay_milli = f.delay_milli;
        forward
    }
}

/// A forward addressed to us, opened.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UnwrappedForward {
    /// What to pass on, and to whom.
    pub forward: Forward,
    /// How the forward was protected.
    pub metadata: UnpackMetadata,
}

/// The plaintext `forward` message (JSON text) for `forward`.
#[uniffi::export]
pub fn forward_message(forward: Forward) -> Result<String> {
    Ok(didcomm_edge::Forward::from(&forward)
        .to_message()?
        .to_json()?)
}

/// Read a plaintext `forward` message.
#[uniffi::export]
pub fn parse_forward(message: String) -> Result<Forward> {
    let message = crate::engine::parse_message(&message)?;
    Ok(didcomm_edge::Forward::from_message(&message)?.into())
}

pub(crate) mod ops {
    use super::*;

    pub(super) async fn resolve_route(
        dc: &didcomm_edge::DidComm,
        to: &str,
        options: &RouteOptions,
    ) -> Result<Route> {
        let route = dc.resolve_route(to, &options.to_core()?).await?;
        Ok(Route {
            uri: route.uri,
            service_id: route.service_id,
            accept: route.accept,
            hops: route.hops,
        })
    }

    pub(crate) async fn route(
        dc: &didcomm_edge::DidComm,
        packed: &str,
        to: &str,
        options: &RouteOptions,
    ) -> Result<Routed> {
        let routed = dc.route(packed, to, &options.to_core()?).await?;
        Ok(Routed {
            message: routed.message,
            uri: routed.uri,
            service_id: routed.service_id,
            accept: routed.accept,
            hops: routed.hops,
        })
    }

    pub(super) async fn wrap_in_forward(
        dc: &didcomm_edge::DidComm,
        packed: &str,
        next: &str,
        hops: &[String],
        options: &RouteOptions,
    ) -> Result<String> {
        Ok(dc
            .wrap_in_forward(packed, next, hops, &options.to_core()?)
            .await?)
    }

    pub(super) async fn unwrap_forward(
        dc: &didcomm_edge::DidComm,
        packed: &str,
    ) -> Result<UnwrappedForward> {
        let (forward, metadata) = dc.unwrap_forward(packed).await?;
        Ok(UnwrappedForward {
            forward: forward.into(),
            metadata: UnpackMetadata::from(&metadata),
        })
    }
}

fn engine(dc: &DidComm) -> Arc<didcomm_edge::DidComm> {
    Arc::clone(&dc.inner)
}

#[uniffi::export]
impl DidComm {
    /// Plan the route to `to` (a DID or DID URL) from the DID documents: the transport URI
    /// and the mediators on the way. No crypto.
    #[uniffi::method(default(options = None))]
    pub async fn resolve_route(&self, to: String, options: Option<RouteOptions>) -> Result<Route> {
        let (dc, options) = (engine(self), options.unwrap_or_default());
        off_thread(move || block_on(ops::resolve_route(&dc, &to, &options))?).await
    }

    /// `resolve_route` on the caller's thread.
    #[uniffi::method(default(options = None))]
    pub fn resolve_route_blocking(
        &self,
        to: String,
        options: Option<RouteOptions>,
    ) -> Result<Route> {
        block_on(ops::resolve_route(
            &self.inner,
            &to,
            &options.unwrap_or_default(),
        ))?
    }

    /// Route an encrypted message to `to` (the DID or key id it was encrypted to): wrap it in
    /// an anoncrypted forward per mediator of the recipient's service and say where to send it.
    #[uniffi::method(default(options = None))]
    pub async fn route(
        &self,
        packed: String,
        to: String,
        options: Option<RouteOptions>,
    ) -> Result<Routed> {
        let (dc, options) = (engine(self), options.unwrap_or_default());
        off_thread(move || block_on(ops::route(&dc, &packed, &to, &options))?).await
    }

    /// `route` on the caller's thread.
    #[uniffi::method(default(options = None))]
    pub fn route_blocking(
        &self,
        packed: String,
        to: String,
        options: Option<RouteOptions>,
    ) -> Result<Routed> {
        block_on(ops::route(
            &self.inner,
            &packed,
            &to,
            &options.unwrap_or_default(),
        ))?
    }

    /// Wrap `packed` in forwards along `hops` (first receiver first), the last one telling its
    /// mediator to pass the message on to `next`. With no hops the message comes back as is.
    #[uniffi::method(default(options = None))]
    pub async fn wrap_in_forward(
        &self,
        packed: String,
        next: String,
        hops: Vec<String>,
        options: Option<RouteOptions>,
    ) -> Result<String> {
        let (dc, options) = (engine(self), options.unwrap_or_default());
        off_thread(move || block_on(ops::wrap_in_forward(&dc, &packed, &next, &hops, &options))?)
            .await
    }

    /// `wrap_in_forward` on the caller's thread.
    #[uniffi::method(default(options = None))]
    pub fn wrap_in_forward_blocking(
        &self,
        packed: String,
        next: String,
        hops: Vec<String>,
        options: Option<RouteOptions>,
    ) -> Result<String> {
        let options = options.unwrap_or_default();
        block_on(ops::wrap_in_forward(
            &self.inner,
            &packed,
            &next,
            &hops,
            &options,
        ))?
    }

    /// Mediator side: unpack a forward addressed to us and read it. A forward that is not
    /// encrypted is refused.
    pub async fn unwrap_forward(&self, packed: String) -> Result<UnwrappedForward> {
        let dc = engine(self);
        off_thread(move || block_on(ops::unwrap_forward(&dc, &packed))?).await
    }

    /// `unwrap_forward` on the caller's thread.
    pub fn unwrap_forward_blocking(&self, packed: String) -> Result<UnwrappedForward> {
        block_on(ops::unwrap_forward(&self.inner, &packed))?
    }
}
