//! Outbound delivery: messages the mediator sends to a device's own endpoint, through a
//! bounded, persistent outbox.
//!
//! Two kinds of message go out this way:
//! - replies to requests that did not ask for `return_route` (a Trust Ping answered with its
//!   `ping-response`, a problem report, any other answer), packed for the sender and routed to
//!   the endpoint of its DID document;
//! - forwards for a device whose DID document names an HTTP(S) endpoint of its own (a gateway,
//!   not picking up here) and that has no live connection to this process.
//!
//! What to send where is decided with the core's routing ([`DidComm::resolve_route`] and
//! [`DidComm::wrap_in_forward`]: the service's routing keys are honoured, one forward per
//! hop). A route that comes through this mediator (its first hop is our DID) is not sent out:
//! the message is queued for the device as a forward would queue it.
//!
//! The outbox ([`crate::storage::Storage::outbox_put`]) is bounded per destination and in
//! total and survives restarts; every put is durable before the request that caused it is
//! answered. [`Outbound::run`] claims due messages (a lease: a crashed process delays a
//! message, it does not lose it, and instances sharing PostgreSQL take different ones) and
//! POSTs them (`application/didcomm-encrypted+json`) with at most `outbound_concurrency` in
//! flight, a connect and a request timeout, redirects not followed and the response body not
//! read. A failure is retried after an exponential backoff with jitter, capped, until the
//! attempts or the message's time run out; then it is given up (counted in the metrics).
//!
//! Addresses: the destination's host is resolved here and every address checked against the
//! [`AddressPolicy`] (public only, unless the settings allow loopback or private addresses);
//! the connection is pinned to the checked addresses, so a second DNS answer cannot swap in
//! another (DNS rebinding). The check and the pinning are the did:web client's
//! ([`didcomm_edge_web::checked_addresses`]), not a second copy.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use didcomm_edge::did::did_of;
use didcomm_edge::did::methods::web::AddressPolicy;
use didcomm_edge::{AttachmentForm, DidComm, Route, RouteOptions};
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Notify, Semaphore};

use crate::config::Settings;
use crate::error::{Error, ErrorKind, Result};
use crate::metrics::{Delivery, Metrics};
use crate::storage::{now_ms, NewMessage, OutboundMessage, OutboxLimits, Storage, StoreOutcome};

/// The media type of every outbound POST.
pub const CONTENT_TYPE: &str = "application/didcomm-encrypted+json";

/// How often the outbox is looked at when nothing wakes the worker (messages put by another
/// instance, retries coming due).
const POLL: Duration = Duration::from_millis(500);

/// The limits and policy of outbound delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundConfig {
    /// Which addresses may be connected to.
    pub policy: AddressPolicy,
    /// Attempts before a message is given up.
    pub max_attempts: u32,
    /// The first retry's delay (doubled each attempt).
    pub retry_initial: Duration,
    /// The longest delay.
    pub retry_max: Duration,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// One POST, connecting included.
    pub timeout: Duration,
    /// The outbox bounds.
    pub limits: OutboxLimits,
    /// How long a message is retried.
    pub ttl: Duration,
}

impl OutboundConfig {
    /// The configuration the settings name.
    pub fn from_settings(s: &Settings) -> OutboundConfig {
        let policy = if s.outbound_allow_private {
            AddressPolicy::Any
        } else if s.outbound_allow_loopback {
            AddressPolicy::PublicAndLoopback
        } else {
            AddressPolicy::PublicOnly
        };
        OutboundConfig {
            policy,
            max_attempts: s.outbound_max_attempts.max(1),
            retry_initial: Duration::from_millis(s.outbound_retry_initial_ms),
            retry_max: Duration::from_millis(s.outbound_retry_max_ms),
            concurrency: s.outbound_concurrency.max(1),
            timeout: Duration::from_secs(s.outbound_timeout_seconds.max(1)),
            limits: OutboxLimits {
                per_destination: s.outbound_max_per_destination,
                total: s.outbound_max_total,
            },
            ttl: Duration::from_secs(s.outbound_ttl_seconds),
        }
    }

    /// The delay before attempt `attempts + 1`: `retry_initial · 2^(attempts-1)`, capped at
    /// `retry_max`, then a random part of it taken off (between none and half), so that
    /// devices that failed together do not retry together.
    pub fn backoff(&self, attempts: u32, random: u64) -> Duration {
        let doubled = self
            .retry_initial
            .saturating_mul(1u32 << attempts.saturating_sub(1).min(30));
        let capped = doubled.min(self.retry_max);
        let millis = u64::try_from(capped.as_millis()).unwrap_or(u64::MAX);
        let jitter = random % (millis / 2).saturating_add(1);
        Duration::from_millis(millis.saturating_sub(jitter))
    }
}

/// Random bits for the jitter, from the standard library's per-process random hash keys (no
/// randomness crate for a retry schedule).
fn random_u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now_ms());
    hasher.finish()
}

/// The outcome of one POST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Delivered,
    /// Worth trying again (network failure, timeout, 408, 429, 5xx).
    Retry,
    /// Never worth trying again (a refused address, a malformed URL, another 4xx or 3xx).
    Refused,
}

/// The outbox and its delivery worker.
#[derive(Debug)]
pub struct Outbound {
    storage: Arc<dyn Storage>,
    metrics: Arc<Metrics>,
    config: OutboundConfig,
    wake: Notify,
}

impl Outbound {
    /// Outbound delivery over `storage`'s outbox.
    pub fn new(storage: Arc<dyn Storage>, metrics: Arc<Metrics>, config: OutboundConfig) -> Self {
        Outbound {
            storage,
            metrics,
            config,
            wake: Notify::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &OutboundConfig {
        &self.config
    }

    /// Put `body` in the outbox for `destination` (an `http(s)://` URL); returns once it is
    /// durable. Only the URL's form is checked here; its addresses are checked at each
    /// attempt (they may change).
    pub async fn enqueue(&self, destination: &str, body: String) -> Result<StoreOutcome> {
        let url = reqwest::Url::parse(destination)
            .map_err(|_| Error::illegal_argument("the endpoint is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "only http(s) endpoints are delivered to",
            ));
        }
        let mut hash = Sha256::new();
        hash.update(destination.as_bytes());
        hash.update([0]);
        hash.update(body.as_bytes());
        let now = now_ms();
        let ttl = u64::try_from(self.config.ttl.as_millis()).unwrap_or(u64::MAX);
        let message = OutboundMessage {
            id: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash.finalize()),
            destination: destination.to_owned(),
            body: body.into_bytes(),
            attempts: 0,
            created_at_ms: now,
            expires_at_ms: now.saturating_add(ttl),
        };
        let outcome = self
            .storage
            .outbox_put(&message, now, self.config.limits)
            .await?;
        self.wake.notify_one();
        Ok(outcome)
    }

    /// Deliver what the outbox holds until `shutdown` turns true.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        // A claim's lease outlasts the attempt (and its wait for a slot).
        let lease = self.config.timeout.saturating_mul(3);
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Ok(depth) = self.storage.outbox_depth().await {
                self.metrics.outbox_depth(depth);
            }
            let free = slots.available_permits();
            let now = now_ms();
            let claimed = if free == 0 {
                vec![]
            } else {
                let until = now.saturating_add(u64::try_from(lease.as_millis()).unwrap_or(0));
                match self.storage.outbox_claim(now, until, free).await {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        tracing::warn!(error = %e, "the outbox could not be read");
                        vec![]
                    }
                }
            };
            let busy = !claimed.is_empty();
            for message in claimed {
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let this = Arc::clone(&self);
                tokio::spawn(async move {
                    let _slot = slot;
                    this.attempt(message).await;
                    // A slot is free: look again at once.
                    this.wake.notify_one();
                });
            }
            if busy {
                continue;
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// One delivery attempt of a claimed message, and what follows from its outcome.
    async fn attempt(&self, message: OutboundMessage) {
        let now = now_ms();
        let outcome = if now >= message.expires_at_ms {
            Attempt::Refused
        } else {
            self.post(&message.destination, message.body.clone()).await
        };
        let gave_up = match outcome {
            Attempt::Delivered => {
                self.metrics.outbound(Delivery::Ok);
                tracing::debug!(id = %message.id, "outbound message delivered");
                self.remove(&message.id).await;
                return;
            }
            Attempt::Refused => true,
            Attempt::Retry => message.attempts >= self.config.max_attempts,
        };
        if gave_up {
            self.metrics.outbound(Delivery::GivenUp);
            tracing::info!(
                id = %message.id,
                attempts = message.attempts,
                "outbound message given up"
            );
            self.remove(&message.id).await;
            return;
        }
        self.metrics.outbound(Delivery::Failed);
        let wait = self.config.backoff(message.attempts, random_u64());
        let due = now.saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
        if let Err(e) = self.storage.outbox_retry(&message.id, due).await {
            // The lease runs out and it is claimed again.
            tracing::warn!(error = %e, "an outbound retry could not be scheduled");
        }
    }

    async fn remove(&self, id: &str) {
        if let Err(e) = self.storage.outbox_remove(id).await {
            // The lease runs out and it is attempted again: delivered twice at worst.
            tracing::warn!(error = %e, "an outbound message could not be removed");
        }
    }

    /// POST `body` to `destination`, connecting only to addresses the policy allows.
    async fn post(&self, destination: &str, body: Vec<u8>) -> Attempt {
        let Ok(url) = reqwest::Url::parse(destination) else {
            return Attempt::Refused;
        };
        let literal = url
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<std::net::IpAddr>().ok());
        if literal.is_some_and(|ip| !self.config.policy.allows(ip)) {
            tracing::info!("outbound endpoint refused: its address is not allowed");
            return Attempt::Refused;
        }
        let pin = match didcomm_edge_web::checked_addresses(&url, self.config.policy).await {
            Ok(pin) => pin,
            Err(e) => {
                // The name does not resolve, or to an address not allowed: maybe later.
                tracing::info!(error = %e, "outbound endpoint not reachable");
                return Attempt::Retry;
            }
        };
        let mut builder = reqwest::Client::builder()
            .timeout(self.config.timeout)
            .connect_timeout(self.config.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would connect wherever it likes.
            .no_proxy()
            .user_agent(concat!("didcomm-edge-mediator/", env!("CARGO_PKG_VERSION")));
        if let Some(host) = url.host_str() {
            if !pin.is_empty() {
                builder = builder.resolve_to_addrs(host, &pin);
            }
        }
        let Ok(client) = builder.build() else {
            return Attempt::Retry;
        };
        match client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body)
            .send()
            .await
        {
            // The body is never read: dropping the response closes the connection.
            Ok(response) => classify(response.status().as_u16()),
            Err(e) => {
                tracing::debug!(timeout = e.is_timeout(), "outbound POST failed");
                Attempt::Retry
            }
        }
    }
}

/// What an endpoint's HTTP status means for the message.
fn classify(status: u16) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered,
        408 | 425 | 429 | 500..=599 => Attempt::Retry,
        _ => Attempt::Refused,
    }
}

/// Where a message for `to` goes, by its DID document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Its route comes through this mediator (first hop): queue it here.
    ThroughUs,
    /// Its own `http(s)` endpoint (or another mediator's), with the hops to wrap for.
    Endpoint(Route),
    /// No usable endpoint (none, or not http(s)).
    Nowhere,
}

/// Read `to`'s route from its DID document with the core's routing.
pub async fn destination(didcomm: &DidComm, mediator_did: &str, to: &str) -> Destination {
    let Ok(route) = didcomm.resolve_route(to, &RouteOptions::default()).await else {
        return Destination::Nowhere;
    };
    let ours = |hop: &String| did_of(hop) == mediator_did;
    if route.hops.len() == 1 && route.hops.first().is_some_and(ours) {
        return Destination::ThroughUs;
    }
    if route.hops.iter().any(ours) {
        // Through us, then on to another mediator: not a route this mediator completes.
        return Destination::Nowhere;
    }
    let http = route.uri.starts_with("https://") || route.uri.starts_with("http://");
    if !http {
        return Destination::Nowhere;
    }
    Destination::Endpoint(route)
}

/// What [`send_to_endpoint`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// In the outbox.
    Outbox,
    /// Queued here for pickup (the route comes through this mediator).
    Queued,
    /// Nowhere to send it: dropped.
    Dropped,
}

/// Send `packed` (encrypted to `to`) to `to`'s endpoint: wrapped for its route's hops and put
/// in the outbox, or queued here when the route comes through this mediator (and `to` is
/// registered), or dropped when `to` names no usable endpoint.
pub async fn send_to_endpoint(
    m: &crate::mediator::Mediator,
    outbound: &Outbound,
    packed: String,
    to: &str,
) -> Result<Sent> {
    match destination(&m.didcomm, &m.did, to).await {
        Destination::Nowhere => Ok(Sent::Dropped),
        Destination::ThroughUs => {
            let Some((recipient, owner)) = m.storage.find_recipient(to).await? else {
                return Ok(Sent::Dropped);
            };
            let now = now_ms();
            let ttl = u64::try_from(m.message_ttl.as_millis()).unwrap_or(u64::MAX);
            let body = packed.into_bytes();
            let message = NewMessage {
                recipient,
                owner,
                id: crate::protocols::forward::message_id(&body),
                body,
                form: AttachmentForm::Json,
                received_at_ms: now,
                expires_at_ms: now.saturating_add(ttl),
            };
            crate::protocols::forward::store(m, message).await?;
            Ok(Sent::Queued)
        }
        Destination::Endpoint(route) => {
            let wrapped = m
                .didcomm
                .wrap_in_forward(&packed, to, &route.hops, &RouteOptions::default())
                .await?;
            outbound.enqueue(&route.uri, wrapped).await?;
            Ok(Sent::Outbox)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OutboundConfig {
        OutboundConfig::from_settings(&Settings {
            outbound_retry_initial_ms: 1000,
            outbound_retry_max_ms: 10_000,
            ..Settings::default()
        })
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_below() {
        let c = config();
        assert_eq!(c.backoff(1, 0), Duration::from_secs(1));
        assert_eq!(c.backoff(2, 0), Duration::from_secs(2));
        assert_eq!(c.backoff(4, 0), Duration::from_secs(8));
        assert_eq!(c.backoff(5, 0), Duration::from_secs(10));
        assert_eq!(c.backoff(u32::MAX, 0), Duration::from_secs(10));
        for random in [1, 499, 500, 777, u64::MAX] {
            let d = c.backoff(1, random);
            assert!(
                d >= Duration::from_millis(500) && d <= Duration::from_secs(1),
                "{d:?}"
            );
        }
    }

    #[test]
    fn statuses_are_delivered_retried_or_refused() {
        assert_eq!(classify(202), Attempt::Delivered);
        assert_eq!(classify(503), Attempt::Retry);
        assert_eq!(classify(429), Attempt::Retry);
        assert_eq!(classify(302), Attempt::Refused);
        assert_eq!(classify(404), Attempt::Refused);
    }

    #[test]
    fn the_address_policy_follows_the_settings() {
        assert_eq!(config().policy, AddressPolicy::PublicOnly);
        let loopback = Settings {
            outbound_allow_loopback: true,
            ..Settings::default()
        };
        assert_eq!(
            OutboundConfig::from_settings(&loopback).policy,
            AddressPolicy::PublicAndLoopback
        );
    }
}
