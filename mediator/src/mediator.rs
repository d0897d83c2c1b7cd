//! The mediator's message handler: unpack with the mediator's identity, dispatch on the
//! message type, pack the replies (or a problem report for a refusal).
//!
//! **Where protocol handling plugs in**: `MediatorHandler::dispatch`. Every protocol reads and
//! writes its messages with the core's typed protocol layer (`didcomm_edge::protocols`,
//! `didcomm_edge::routing`); the handlers in [`crate::protocols`] add what a server needs on top
//! (storage, grant policy, quotas, live delivery).
//!
//! Before dispatch, every request passes the guards of [`RequestGuard`]: unpacking runs on a
//! bounded pool off the async runtime (a full queue is refused at once), an authenticated
//! sender is held to its per-DID rate, and an authenticated request whose `created_time` is
//! outside the replay window, or whose (sender, id) was already handled, is refused.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use didcomm_edge::did::did_of;
use didcomm_edge::protocols::discover_features::FeatureRegistry;
use didcomm_edge::protocols::report_problem::codes;
use didcomm_edge::protocols::return_route::allows_reply;
use didcomm_edge::routing::FORWARD_TYPE;
use didcomm_edge::{DidComm, Message, PackEncryptedOptions, UnpackMetadata, UnpackOptions};

use crate::config::{GrantPolicy, KeylistProof, Settings};
use crate::error::{excerpt, Error, ErrorKind, Result};
use crate::handler::{Connection, LiveRegistry, MessageHandler};
use crate::metrics::Metrics;
use crate::outbound::{send_to_endpoint, Outbound};
use crate::protocols::{discover, forward, mediation, pickup, problem, push, trust_ping, Served};
use crate::storage::{now_ms, Quota, Storage};
use sha2::{Digest, Sha256};

/// The problem code of a refused replay.
pub const REPLAY: &str = "e.p.msg.replay";

/// Who may obtain a mediation grant, with the lists the policy needs.
#[derive(Clone, Default)]
pub struct GrantRules {
    /// The policy.
    pub policy: GrantPolicy,
    /// DIDs granted under [`GrantPolicy::AllowList`].
    pub allow_list: HashSet<String>,
    /// Tokens accepted under [`GrantPolicy::Token`].
    pub tokens: Vec<String>,
}

impl std::fmt::Debug for GrantRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens are credentials: never printed.
        f.debug_struct("GrantRules")
            .field("policy", &self.policy)
            .field("allow_list", &self.allow_list.len())
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

/// What every protocol handler may use: identity, envelope engine, storage, policy, metrics.
#[derive(Debug, Clone)]
pub struct Mediator {
    /// The mediator's DID (also the routing DID granted devices publish).
    pub did: String,
    /// The envelope engine holding the mediator's keys.
    pub didcomm: Arc<DidComm>,
    /// Grants, keylists and queues.
    pub storage: Arc<dyn Storage>,
    /// Counters and histograms.
    pub metrics: Arc<Metrics>,
    /// Per-recipient quota.
    pub quota: Quota,
    /// How long a queued message is kept.
    pub message_ttl: Duration,
    /// The grant policy.
    pub grants: GrantRules,
    /// Most keys one granted DID may register.
    pub max_keys_per_client: u64,
    /// What Discover Features discloses.
    pub features: FeatureRegistry,
    // Storage-side limits (issue 12).
    /// What a keylist add must prove (see `mediator/README.md`, "Keylist ownership").
    pub keylist_proof: KeylistProof,
    /// Most bytes one delivery carries (always at least one message).
    pub delivery_max_bytes: u64,
    /// Delivery to devices' own endpoints (`None`: turned off).
    pub outbound: Option<Arc<Outbound>>,
    /// The push gateway's caller (`None`: no `push_gateway_url`).
    pub push: Option<Arc<crate::push::Pusher>>,
    /// The live connections of this process (a device connected live is not sent to its
    /// own endpoint).
    pub live: Arc<LiveRegistry>,
}

/// An unpacked request and what is known about its envelope.
#[derive(Debug)]
pub struct Request<'a> {
    /// The plaintext.
    pub message: Message,
    /// What protected it.
    pub metadata: UnpackMetadata,
    /// The connection it came on.
    pub connection: &'a Connection,
}

impl Request<'_> {
    /// The sender's DID, when the envelope is encrypted and authenticated it (authcrypt, or
    /// signed then encrypted). Requests that touch a device's grant, keylist or queue must
    /// come through here.
    pub fn authenticated_sender(&self) -> Result<&str> {
        match &self.message.from {
            Some(from) if self.metadata.authenticated && self.metadata.encrypted => {
                Ok(did_of(from))
            }
            _ => Err(Error::forbidden(
                "this request must be authcrypted by the DID that holds the mediation grant",
            )),
        }
    }

    /// Whether replies about this request may travel back on its connection (`return_route`
    /// `all`, or `thread` for this thread); an unreadable header counts as no.
    pub fn wants_return_route(&self) -> bool {
        allows_reply(&self.message, self.message.thread_id()).unwrap_or(false)
    }

    /// Whom a reply or a problem report can go to on this connection: the authenticated
    /// sender, when it asked for replies here.
    fn reply_target(&self) -> Option<String> {
        if !self.wants_return_route() || !self.metadata.authenticated {
            return None;
        }
        self.message.from.clone()
    }
}

/// The limits [`RequestGuard`] enforces.
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerLimits {
    /// Messages unpacked at once.
    pub unpack_workers: usize,
    /// Messages that may wait for an unpack worker.
    pub unpack_queue: usize,
    /// Requests per second one authenticated sender DID may make.
    pub did_rate_per_second: f64,
    /// Its burst.
    pub did_rate_burst: f64,
    /// The `created_time` window and how long a (sender, id) is remembered.
    pub replay_window: Duration,
    /// Most (sender, id) pairs remembered.
    pub replay_capacity: usize,
}

impl HandlerLimits {
    /// The limits the settings name.
    pub fn from_settings(settings: &Settings) -> Self {
        HandlerLimits {
            unpack_workers: settings.unpack_workers(),
            unpack_queue: settings.unpack_queue,
            did_rate_per_second: settings.did_rate_limit_per_second,
            did_rate_burst: settings.did_rate_limit_burst,
            replay_window: Duration::from_secs(settings.replay_window_seconds),
            replay_capacity: settings.replay_cache_capacity,
        }
    }
}

impl Default for HandlerLimits {
    fn default() -> Self {
        HandlerLimits::from_settings(&Settings::default())
    }
}

/// A governor quota of `rate` per second with `burst` saved up (fractional rates allowed:
/// 0.5 is one every two seconds; out-of-range values are clamped).
pub fn rate_quota(rate: f64, burst: f64) -> governor::Quota {
    let period = Duration::try_from_secs_f64(1.0 / rate)
        .ok()
        .filter(|p| !p.is_zero())
        .unwrap_or(Duration::from_nanos(1));
    let burst = if burst.is_finite() && burst >= 1.0 {
        // In range after the checks: at least 1, at most u32::MAX.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole = burst.min(f64::from(u32::MAX)) as u32;
        NonZeroU32::new(whole).unwrap_or(NonZeroU32::MIN)
    } else {
        NonZeroU32::MIN
    };
    governor::Quota::with_period(period)
        .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MAX))
        .allow_burst(burst)
}

/// A rate limit per key (peer address, sender DID) whose memory stays bounded: keys whose
/// bucket has refilled are dropped every minute (or every second while many are tracked).
#[derive(Debug)]
pub struct KeyedLimit<K: Hash + Eq + Clone> {
    limiter: governor::DefaultKeyedRateLimiter<K>,
    last_sweep: Mutex<Instant>,
}

/// How often keys with a full bucket are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Above this many tracked keys, sweep every second.
const SWEEP_EAGERLY_ABOVE: usize = 100_000;

impl<K: Hash + Eq + Clone> KeyedLimit<K> {
    /// `rate` per second per key, `burst` saved up.
    pub fn new(rate: f64, burst: f64) -> Self {
        KeyedLimit {
            limiter: governor::RateLimiter::keyed(rate_quota(rate, burst)),
            last_sweep: Mutex::new(Instant::now()),
        }
    }

    /// Take one request for `key`; `Err(wait)` says how long until one is allowed.
    pub fn check(&self, key: &K) -> std::result::Result<(), Duration> {
        self.sweep();
        self.limiter.check_key(key).map_err(|not_until| {
            use governor::clock::Clock as _;
            not_until.wait_time_from(governor::clock::DefaultClock::default().now())
        })
    }

    /// How many keys are tracked.
    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }

    fn sweep(&self) {
        let Ok(mut last) = self.last_sweep.try_lock() else {
            return;
        };
        let due = if self.limiter.len() > SWEEP_EAGERLY_ABOVE {
            Duration::from_secs(1)
        } else {
            SWEEP_EVERY
        };
        if last.elapsed() >= due {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
            *last = Instant::now();
        }
    }
}

/// Unpacking off the async runtime: at most `workers` at once on blocking threads, at most
/// `queue` more waiting; beyond that a request is refused at once (503).
#[derive(Debug)]
struct UnpackPool {
    admitted: Arc<tokio::sync::Semaphore>,
    running: Arc<tokio::sync::Semaphore>,
}

impl UnpackPool {
    fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        UnpackPool {
            admitted: Arc::new(tokio::sync::Semaphore::new(workers.saturating_add(queue))),
            running: Arc::new(tokio::sync::Semaphore::new(workers)),
        }
    }

    async fn unpack(
        &self,
        didcomm: Arc<DidComm>,
        text: String,
    ) -> Result<(Message, UnpackMetadata)> {
        let busy = || {
            Error::new(
                ErrorKind::Unavailable,
                "the mediator is busy; retry shortly",
            )
            .with_retry_after(Duration::from_secs(1))
        };
        let admitted = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| busy())?;
        let running = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|_| busy())?;
        let runtime = tokio::runtime::Handle::current();
        // The permits travel with the work: a client that hangs up does not free a slot
        // while its unpack still runs.
        let work = tokio::task::spawn_blocking(move || {
            let _slots = (admitted, running);
            runtime.block_on(didcomm.unpack(&text, &UnpackOptions::default()))
        });
        let unpacked = work
            .await
            .map_err(|_| Error::new(ErrorKind::Internal, "an unpack worker failed"))?;
        Ok(unpacked?)
    }
}

/// Remembers (sender, id) of authenticated requests for the replay window. Entries are
/// hashes (32 bytes, whatever the DID's length); when full the soonest to expire is dropped.
#[derive(Debug)]
struct ReplayCache {
    window_s: u64,
    capacity: usize,
    state: Mutex<ReplayState>,
}

#[derive(Debug, Default)]
struct ReplayState {
    seen: HashMap<[u8; 32], u64>,
    by_expiry: BTreeSet<(u64, [u8; 32])>,
}

/// A (sender, id) recorded by [`ReplayCache::admit`]; forgotten again if the request was
/// refused (only handled requests count as seen).
#[derive(Debug, Clone, Copy)]
struct ReplayTicket([u8; 32]);

impl ReplayCache {
    fn new(window: Duration, capacity: usize) -> Self {
        ReplayCache {
            window_s: window.as_secs().max(1),
            capacity: capacity.max(1),
            state: Mutex::new(ReplayState::default()),
        }
    }

    /// Refuse a request outside the window or already seen; else remember it.
    fn admit(&self, sender: &str, id: &str, created: Option<u64>) -> Result<ReplayTicket> {
        let now = now_ms() / 1000;
        if let Some(created) = created {
            if created.saturating_add(self.window_s) < now {
                return Err(Error::new(
                    ErrorKind::Replay,
                    format!("created_time is more than {} s in the past", self.window_s),
                )
                .with_problem_code(codes::REQ_TIME));
            }
            if created > now.saturating_add(self.window_s) {
                return Err(Error::new(
                    ErrorKind::Replay,
                    format!(
                        "created_time is more than {} s in the future",
                        self.window_s
                    ),
                )
                .with_problem_code(codes::REQ_TIME));
            }
        }
        let mut hash = Sha256::new();
        hash.update(sender.as_bytes());
        hash.update([0]);
        hash.update(id.as_bytes());
        let key: [u8; 32] = hash.finalize().into();
        // Until then the created_time check refuses it anyway.
        let expires = created
            .unwrap_or(now)
            .max(now)
            .saturating_add(self.window_s);
        let Ok(mut state) = self.state.lock() else {
            return Err(Error::new(
                ErrorKind::Internal,
                "the replay cache is poisoned",
            ));
        };
        while let Some(&(at, old)) = state.by_expiry.first() {
            if at >= now && state.seen.len() < self.capacity {
                break;
            }
            state.by_expiry.pop_first();
            state.seen.remove(&old);
        }
        if state.seen.contains_key(&key) {
            return Err(Error::new(
                ErrorKind::Replay,
                "this sender already sent a request with this id",
            )
            .with_problem_code(REPLAY));
        }
        state.seen.insert(key, expires);
        state.by_expiry.insert((expires, key));
        Ok(ReplayTicket(key))
    }

    /// Forget a ticket: its request was refused and changed nothing.
    fn forget(&self, ticket: ReplayTicket) {
        if let Ok(mut state) = self.state.lock() {
            if let Some(at) = state.seen.remove(&ticket.0) {
                state.by_expiry.remove(&(at, ticket.0));
            }
        }
    }
}

/// What every request passes before dispatch: the unpack pool, the per-DID rate limit and the
/// replay cache.
#[derive(Debug)]
pub struct RequestGuard {
    pool: UnpackPool,
    per_did: KeyedLimit<String>,
    replays: ReplayCache,
}

impl RequestGuard {
    /// Guards with these limits.
    pub fn new(limits: &HandlerLimits) -> Self {
        RequestGuard {
            pool: UnpackPool::new(limits.unpack_workers, limits.unpack_queue),
            per_did: KeyedLimit::new(limits.did_rate_per_second, limits.did_rate_burst),
            replays: ReplayCache::new(limits.replay_window, limits.replay_capacity),
        }
    }
}

/// The [`MessageHandler`] of the mediator.
#[derive(Debug, Clone)]
pub struct MediatorHandler {
    mediator: Arc<Mediator>,
    guard: Arc<RequestGuard>,
}

impl MediatorHandler {
    /// A handler over the mediator's services, with the default [`HandlerLimits`].
    pub fn new(mediator: Arc<Mediator>) -> Self {
        MediatorHandler::with_limits(mediator, &HandlerLimits::default())
    }

    /// A handler over the mediator's services with these limits.
    pub fn with_limits(mediator: Arc<Mediator>, limits: &HandlerLimits) -> Self {
        MediatorHandler {
            mediator,
            guard: Arc::new(RequestGuard::new(limits)),
        }
    }

    /// The services.
    pub fn mediator(&self) -> &Arc<Mediator> {
        &self.mediator
    }

    /// Route an unpacked request to its protocol. Returns the plaintext replies to the sender
    /// (threaded and addressed; `from` is set when they are packed).
    async fn dispatch(&self, request: &Request<'_>) -> Result<Vec<Message>> {
        let m = &self.mediator;
        let type_ = request.message.type_.as_str();
        match Served::of_type(type_) {
            Some(Served::Routing) => {
                forward::handle(m, request).await?;
                return Ok(vec![]);
            }
            Some(Served::Mediation(_)) => return Ok(vec![mediation::handle(m, request).await?]),
            Some(Served::Pickup(_)) => return pickup::handle(m, request).await,
            Some(Served::TrustPing) => return trust_ping::handle(request),
            Some(Served::Push) => return Ok(vec![push::handle(m, request).await?]),
            Some(Served::DiscoverFeatures) => return discover::handle(m, request),
            Some(Served::ReportProblem) => {
                // A device telling us something went wrong on its side: noted, never answered
                // (answering problem reports with problem reports can loop).
                tracing::info!(
                    connection = request.connection.id,
                    "problem report received"
                );
                return Ok(vec![]);
            }
            None => {}
        }
        Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "message type '{}' is not served by this mediator",
                excerpt(type_)
            ),
        ))
    }

    async fn handle_inner(&self, packed: &[u8], connection: &Connection) -> Result<Vec<String>> {
        let text = std::str::from_utf8(packed)
            .map_err(|_| Error::illegal_argument("the message is not UTF-8 text"))?;
        let (message, metadata) = self
            .guard
            .pool
            .unpack(Arc::clone(&self.mediator.didcomm), text.to_owned())
            .await?;
        let request = Request {
            message,
            metadata,
            connection,
        };
        let mut ticket = None;
        if let (true, Some(from)) = (request.metadata.authenticated, &request.message.from) {
            let sender = did_of(from);
            if let Err(wait) = self.guard.per_did.check(&sender.to_owned()) {
                // No problem report: packing one is work the sender is being refused.
                return Err(Error::rate_limited("this sender", wait));
            }
            // Forwards are idempotent already (stored once by their hash): a sender's retry
            // must keep getting 202.
            if request.message.type_ != FORWARD_TYPE {
                match self.guard.replays.admit(
                    sender,
                    &request.message.id,
                    request.message.created_time,
                ) {
                    Ok(t) => ticket = Some(t),
                    Err(error) => return Err(self.refusal(error, &request).await),
                }
            }
        }
        let replies = match self.dispatch(&request).await {
            Ok(replies) => replies,
            Err(error) => {
                if let Some(t) = ticket {
                    // A refused request changed nothing: sending it again (after fixing what
                    // was wrong, or retrying a transient failure) is not a replay.
                    self.guard.replays.forget(t);
                }
                return Err(self.refusal(error, &request).await);
            }
        };
        if replies.is_empty() {
            return Ok(vec![]);
        }
        let Some(to) = request.reply_target() else {
            // Without return_route the replies go to the sender's own endpoint.
            self.send_replies(replies, &request).await?;
            return Ok(vec![]);
        };
        self.pack_replies(replies, &to).await
    }

    /// Send replies to an authenticated sender that did not ask for them on its connection:
    /// to the endpoint of its DID document (see [`crate::outbound`]); dropped when outbound
    /// delivery is off or the sender is anonymous.
    async fn send_replies(&self, replies: Vec<Message>, request: &Request<'_>) -> Result<()> {
        let (Some(outbound), Some(to), true) = (
            &self.mediator.outbound,
            &request.message.from,
            request.metadata.authenticated,
        ) else {
            tracing::debug!(
                connection = request.connection.id,
                "reply dropped: no return_route and no outbound delivery"
            );
            return Ok(());
        };
        for packed in self.pack_replies(replies, to).await? {
            let sent = send_to_endpoint(&self.mediator, outbound, packed, to).await?;
            tracing::debug!(
                connection = request.connection.id,
                ?sent,
                "reply sent outbound"
            );
        }
        Ok(())
    }

    /// A refused request: attach a packed problem report when the sender can read one here.
    async fn refusal(&self, error: Error, request: &Request<'_>) -> Error {
        let Some(to) = request.reply_target() else {
            // A replay is not answered anywhere (a captured message sent again must not make
            // the mediator write to the victim's endpoint).
            if request.metadata.authenticated
                && request.metadata.encrypted
                && error.kind() != ErrorKind::Replay
            {
                // The sender's own endpoint hears of it.
                if let Ok(report) = problem::report(&error, &request.message) {
                    if let Err(e) = self.send_replies(vec![report], request).await {
                        tracing::debug!(error = %e, "a problem report could not be sent outbound");
                    }
                }
            }
            return error;
        };
        let report = match problem::report(&error, &request.message) {
            Ok(report) => report,
            Err(e) => {
                tracing::warn!(error = %e, "a problem report could not be built");
                return error;
            }
        };
        match self.pack_replies(vec![report], &to).await {
            Ok(mut packed) if packed.len() == 1 => {
                let packed = packed.swap_remove(0);
                error.with_report(packed)
            }
            Ok(_) => error,
            Err(e) => {
                tracing::warn!(error = %e, "a problem report could not be packed");
                error
            }
        }
    }

    /// Authcrypt `replies` from the mediator to `to`.
    async fn pack_replies(&self, replies: Vec<Message>, to: &str) -> Result<Vec<String>> {
        let m = &self.mediator;
        let mut packed = Vec::with_capacity(replies.len());
        for reply in replies {
            let reply = reply.from(m.did.clone()).to(to.to_owned());
            let (text, _) = m
                .didcomm
                .pack_encrypted(
                    &reply,
                    to,
                    Some(&m.did),
                    None,
                    &PackEncryptedOptions::default(),
                )
                .await?;
            packed.push(text);
        }
        Ok(packed)
    }
}

#[async_trait]
impl MessageHandler for MediatorHandler {
    async fn handle(&self, packed: &[u8], connection: &Connection) -> Result<Vec<String>> {
        let started = Instant::now();
        let result = self.handle_inner(packed, connection).await;
        self.mediator
            .metrics
            .handled(connection.transport, started.elapsed());
        result
    }

    async fn deliver_live(&self, connection: &Connection) -> Result<Vec<String>> {
        let Some((owner, version)) = connection.live_owner() else {
            return Ok(vec![]);
        };
        let replies = pickup::live_delivery(&self.mediator, connection, &owner, version).await?;
        self.pack_replies(replies, &owner).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractional_rates_and_odd_bursts_make_quotas() {
        let q = rate_quota(0.5, 3.0);
        assert_eq!(q.replenish_interval(), Duration::from_secs(2));
        assert_eq!(q.burst_size().get(), 3);
        for (rate, burst) in [
            (0.0, 0.0),
            (f64::NAN, f64::INFINITY),
            (-1.0, -5.0),
            (1e12, 1e12),
        ] {
            let q = rate_quota(rate, burst);
            assert!(q.burst_size().get() >= 1);
        }
    }

    #[test]
    fn keyed_limits_share_a_budget_per_key() {
        let limit = KeyedLimit::<String>::new(0.001, 2.0);
        let a = "did:example:a".to_owned();
        let b = "did:example:b".to_owned();
        assert!(limit.check(&a).is_ok());
        assert!(limit.check(&a).is_ok());
        let wait = limit.check(&a).unwrap_err();
        assert!(wait > Duration::from_secs(100), "{wait:?}");
        assert!(limit.check(&b).is_ok());
        assert_eq!(limit.tracked(), 2);
    }

    #[test]
    fn the_replay_cache_is_bounded_and_windowed() {
        let cache = ReplayCache::new(Duration::from_secs(600), 2);
        let now = now_ms() / 1000;
        assert!(cache.admit("did:example:a", "1", Some(now)).is_ok());
        let again = cache.admit("did:example:a", "1", Some(now)).unwrap_err();
        assert_eq!(again.kind(), ErrorKind::Replay);
        assert_eq!(again.problem_code(), Some(REPLAY));
        // Another sender may use the same id.
        assert!(cache.admit("did:example:b", "1", None).is_ok());
        // Full: the soonest to expire makes room.
        assert!(cache.admit("did:example:c", "1", Some(now)).is_ok());
        assert!(cache.state.lock().unwrap().seen.len() <= 2);
        let stale = cache
            .admit("did:example:a", "2", Some(now - 601))
            .unwrap_err();
        assert_eq!(stale.problem_code(), Some(codes::REQ_TIME));
        let ahead = cache
            .admit("did:example:a", "3", Some(now + 601))
            .unwrap_err();
        assert_eq!(ahead.problem_code(), Some(codes::REQ_TIME));
        // A forgotten ticket (refused request) may come again.
        let t = cache.admit("did:example:d", "9", None).unwrap();
        cache.forget(t);
        assert!(cache.admit("did:example:d", "9", None).is_ok());
    }
}
