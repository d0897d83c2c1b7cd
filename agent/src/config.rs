//! How an agent behaves: protocol versions, how it packs, how long it waits and how often it
//! retries. The defaults match the didcomm-edge mediator.

use std::sync::Arc;
use std::time::Duration;

use didcomm_edge::protocols::mediation::MediationVersion;
use didcomm_edge::protocols::pickup::PickupVersion;
use didcomm_edge::{ContentEncAlg, DidResolver};

/// How [`EdgeAgent::send`](crate::EdgeAgent::send) protects a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SendMode {
    /// Authcrypt from our DID (the recipient learns and can trust who sent it).
    #[default]
    Authcrypt,
    /// Authcrypt wrapped in anoncrypt, so the sender's key id is hidden from anyone on the path.
    AuthcryptProtectSender,
    /// Anoncrypt: the recipient does not learn who sent it.
    Anoncrypt,
}

/// How the agent's messaging DID names its mediator in its `DIDCommMessaging` service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EndpointStyle {
    /// The mediator's routing DID as the service `uri` when that DID publishes its own
    /// endpoint (the compact DIDComm v2.1 form), else [`EndpointStyle::RoutingKeys`].
    #[default]
    Auto,
    /// The mediator's routing DID as the service `uri` (senders resolve it for the endpoint).
    MediatorDid,
    /// The mediator's transport URL as the `uri` and its key agreement key as the routing key.
    RoutingKeys,
}

/// Retries of requests that are safe to repeat (every mediator request the agent makes, and
/// sends, which repeat the very same bytes so the mediator stores them once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (1: no retry).
    pub attempts: u32,
    /// Wait before the first retry; doubled each time.
    pub initial_backoff: Duration,
    /// Longest wait between attempts before jitter (which adds up to half of it).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait before attempt `n + 1` (n counted from 1).
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        Backoff {
            initial: self.initial_backoff,
            max: self.max_backoff,
        }
        .delay(attempt)
    }
}

/// The agent's one retry rule, for requests and for live reconnection: exponential backoff
/// with jitter. Retry `n` (from 1) waits `min(initial * 2^(n-1), max)` plus a random part of up
/// to half of that, so devices that lost the same mediator at once do not all come back at the
/// same instant, and no wait is shorter than the plain backoff (callers count on that minimum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
}

impl Backoff {
    pub(crate) fn delay(self, attempt: u32) -> Duration {
        let base = self
            .initial
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max);
        base + (base / 2).mul_f64(fastrand::f64())
    }
}

/// The default [`AgentConfig::max_delivery_size`].
pub const DEFAULT_MAX_DELIVERY_SIZE: usize = 16 * 1024 * 1024;

/// The agent's configuration.
#[derive(Clone)]
#[non_exhaustive]
pub struct AgentConfig {
    /// Coordinate Mediation version spoken to the mediator. 2.0 by default: the most widely
    /// deployed, and served by the didcomm-edge mediator like 3.0.
    pub mediation_version: MediationVersion,
    /// Message Pickup version. 3.0 by default (the didcomm-edge mediator's live mode speaks it).
    pub pickup_version: PickupVersion,
    /// How messages to peers are protected.
    pub send_mode: SendMode,
    /// Content encryption of anoncrypt layers (including the forwards to the mediator).
    pub enc_alg_anon: ContentEncAlg,
    /// How the messaging DID names the mediator.
    pub endpoint_style: EndpointStyle,
    /// The WebSocket URL of the mediator; derived from its HTTP endpoint (`/ws`) when `None`
    /// and its DID publishes no `ws://` / `wss://` endpoint.
    pub websocket_url: Option<String>,
    /// How long one request may take (connect, send, reply).
    pub request_timeout: Duration,
    /// Retries of repeatable requests.
    pub retry: RetryPolicy,
    /// Most messages one pickup batch asks for.
    pub batch_size: u64,
    /// Largest delivered message the device opens, in bytes (the core's unpack limit by
    /// default). A larger one is not unpacked: it is reported as [`Undecryptable`] with
    /// [`TooLarge`] and acknowledged with the others, so it never comes again.
    ///
    /// [`Undecryptable`]: crate::Undecryptable
    /// [`TooLarge`]: didcomm_edge::ErrorKind::TooLarge
    pub max_message_size: usize,
    /// Largest reply of the mediator read (an HTTP body or a WebSocket delivery), in bytes;
    /// never less than a delivery of one message of [`AgentConfig::max_message_size`] needs,
    /// and large enough by default (16 MiB) to read, and so reject, a message the mediator
    /// stored that is larger than the device accepts. A pickup whose delivery is larger asks
    /// again for fewer messages.
    pub max_delivery_size: usize,
    /// Answer `please_ack` with an `ack` once the message was handed over and acknowledged.
    pub auto_ack: bool,
    /// Answer trust pings from peers with a `ping-response`.
    pub auto_ping_response: bool,
    /// Live mode: how often the WebSocket is pinged to notice a dead connection.
    pub keepalive: Duration,
    /// Live mode: longest wait between reconnection attempts before jitter (up to half more).
    pub max_reconnect_backoff: Duration,
    /// A resolver for DID methods the built-in chain does not know.
    pub host_resolver: Option<Arc<dyn DidResolver>>,
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("mediation_version", &self.mediation_version)
            .field("pickup_version", &self.pickup_version)
            .field("send_mode", &self.send_mode)
            .field("endpoint_style", &self.endpoint_style)
            .field("websocket_url", &self.websocket_url)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field("batch_size", &self.batch_size)
            .field("max_message_size", &self.max_message_size)
            .field("max_delivery_size", &self.max_delivery_size)
            .field("auto_ack", &self.auto_ack)
            .field("auto_ping_response", &self.auto_ping_response)
            .finish_non_exhaustive()
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            mediation_version: MediationVersion::V2,
            pickup_version: PickupVersion::V3,
            send_mode: SendMode::default(),
            enc_alg_anon: ContentEncAlg::default(),
            endpoint_style: EndpointStyle::default(),
            websocket_url: None,
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            batch_size: 50,
            max_message_size: didcomm_edge::Config::default().max_message_size,
            max_delivery_size: DEFAULT_MAX_DELIVERY_SIZE,
            auto_ack: true,
            auto_ping_response: true,
            keepalive: Duration::from_secs(20),
            max_reconnect_backoff: Duration::from_secs(10),
            host_resolver: None,
        }
    }
}

impl AgentConfig {
    /// Speak this Coordinate Mediation version.
    #[must_use]
    pub fn mediation_version(mut self, version: MediationVersion) -> Self {
        self.mediation_version = version;
        self
    }

    /// Speak this Message Pickup version.
    #[must_use]
    pub fn pickup_version(mut self, version: PickupVersion) -> Self {
        self.pickup_version = version;
        self
    }

    /// Protect sends this way.
    #[must_use]
    pub fn send_mode(mut self, mode: SendMode) -> Self {
        self.send_mode = mode;
        self
    }

    /// Name the mediator this way in the messaging DID.
    #[must_use]
    pub fn endpoint_style(mut self, style: EndpointStyle) -> Self {
        self.endpoint_style = style;
        self
    }

    /// Wait at most this long for one request.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Retry this way.
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Use this WebSocket URL for live mode.
    #[must_use]
    pub fn websocket_url(mut self, url: impl Into<String>) -> Self {
        self.websocket_url = Some(url.into());
        self
    }

    /// Resolve other DID methods with `resolver`.
    #[must_use]
    pub fn host_resolver(mut self, resolver: Arc<dyn DidResolver>) -> Self {
        self.host_resolver = Some(resolver);
        self
    }

    /// Open delivered messages of at most `bytes` (see [`AgentConfig::max_message_size`]).
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Read mediator replies of at most `bytes` (see [`AgentConfig::max_delivery_size`]).
    #[must_use]
    pub fn max_delivery_size(mut self, bytes: usize) -> Self {
        self.max_delivery_size = bytes;
        self
    }

    /// The largest mediator reply actually read: [`AgentConfig::max_delivery_size`], raised to
    /// what a delivery of one message of [`AgentConfig::max_message_size`] takes (its text is
    /// base64 in the delivery, which is encrypted and base64 again: about 1.8 times, plus
    /// headers).
    pub fn delivery_limit(&self) -> usize {
        let one_message = self
            .max_message_size
            .saturating_mul(2)
            .saturating_add(64 * 1024);
        self.max_delivery_size.max(one_message)
    }

    /// Live mode keep-alive and reconnection pacing.
    #[must_use]
    pub fn live_timing(mut self, keepalive: Duration, max_reconnect_backoff: Duration) -> Self {
        self.keepalive = keepalive;
        self.max_reconnect_backoff = max_reconnect_backoff;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_the_cap() {
        let backoff = Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(5),
        };
        for (attempt, ceiling) in [
            (1, 200),
            (2, 400),
            (3, 800),
            (5, 3200),
            (6, 5000),
            (99, 5000),
        ] {
            let ceiling = Duration::from_millis(ceiling);
            for _ in 0..50 {
                let wait = backoff.delay(attempt);
                assert!(
                    wait >= ceiling && wait <= ceiling * 3 / 2,
                    "{attempt}: {wait:?}"
                );
            }
        }
        // Jitter: twenty waits for the same attempt are not all the same.
        let waits: std::collections::HashSet<Duration> =
            (0..20).map(|_| backoff.delay(3)).collect();
        assert!(waits.len() > 1);
        let policy = RetryPolicy::default();
        assert!(policy.backoff(1) >= policy.initial_backoff);
    }

    #[test]
    fn a_delivery_of_one_accepted_message_is_always_read() {
        let config = AgentConfig::default();
        assert_eq!(config.max_message_size, 4 * 1024 * 1024);
        assert_eq!(config.delivery_limit(), DEFAULT_MAX_DELIVERY_SIZE);
        let big = AgentConfig::default()
            .max_message_size(10 * 1024 * 1024)
            .max_delivery_size(1024);
        assert_eq!(big.delivery_limit(), 20 * 1024 * 1024 + 64 * 1024);
        let unbounded = AgentConfig::default().max_message_size(usize::MAX);
        assert_eq!(unbounded.delivery_limit(), usize::MAX);
    }
}
