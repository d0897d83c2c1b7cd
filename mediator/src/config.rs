//! Configuration: defaults that run out of the box on 127.0.0.1, overridden by a TOML file,
//! then by environment variables, then by command-line flags.

use didcomm_edge::routing::mediator_websocket_url;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::{Quota, StorageConfig};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Who is granted mediation when they ask (`mediate-request`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum GrantPolicy {
    /// Every authenticated DID.
    #[default]
    Open,
    /// Only the DIDs in `grant_allow_list`.
    AllowList,
    /// Requests that carry one of `grant_tokens`: in the body (`"token"`) or as the `pthid`
    /// (the id of the Out-of-Band invitation the device answers).
    Token,
}

/// What a `keylist-update` add must prove beyond the sender's grant (one owner per DID
/// holds under every policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum KeylistProof {
    /// Nothing more: any granted device may register any DID nobody else holds.
    #[default]
    None,
    /// The added DID itself vouches for it: the requester's own DID (and its DID URLs), or a
    /// key covered by a proof attachment signed by a key of the added DID.
    SameDid,
}

/// Every setting of the mediator, with its default. `Debug` hides the secrets (grant tokens,
/// the database password).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The URL devices reach this mediator at (default: `http://<listen>`).
    pub public_url: Option<String>,
    /// The WebSocket URL advertised next to it (default: `public_url` with `ws`/`wss` and `/ws`).
    pub public_ws_url: Option<String>,
    /// Folder for the identity wallet and the SQLite database.
    pub data_dir: PathBuf,
    /// `postgres://...` to store in PostgreSQL instead of SQLite; `memory` (or `memory:`) to
    /// keep everything in memory (nothing persisted: tests, demos).
    pub database_url: Option<String>,
    /// PostgreSQL connections per instance.
    pub database_pool_size: usize,
    /// Largest packed message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Messages per second one peer address may send, over all its connections (token bucket
    /// refill rate).
    pub rate_limit_per_second: f64,
    /// Burst allowance of the per-address token bucket.
    pub rate_limit_burst: f64,
    /// Messages per second one authenticated sender DID may send, whatever its addresses.
    pub did_rate_limit_per_second: f64,
    /// Burst allowance of the per-DID token bucket.
    pub did_rate_limit_burst: f64,
    /// Most TCP connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Seconds a client may take to send a request's headers; on a kept-alive connection the
    /// clock starts when the previous response is sent, so this is also the idle timeout.
    pub header_timeout_seconds: u64,
    /// Seconds a client may take to send a request's body.
    pub body_timeout_seconds: u64,
    /// Seconds a WebSocket may stay silent (no frame, not even a ping) before it is closed.
    pub ws_idle_timeout_seconds: u64,
    /// Messages unpacked at once (0: one per CPU core); unpacking runs off the async runtime.
    pub unpack_workers: usize,
    /// Messages that may wait for an unpack worker; more are refused with 503 at once.
    pub unpack_queue: usize,
    /// Authenticated requests are refused when their `created_time` is further than this many
    /// seconds from now, and a (sender, id) seen within it is refused as a replay.
    pub replay_window_seconds: u64,
    /// Most (sender, id) pairs remembered for replay detection (the oldest are forgotten first).
    pub replay_cache_capacity: usize,
    /// Most attachments (messages) one forward may carry.
    pub max_forward_attachments: usize,
    /// Most messages queued per recipient key.
    pub queue_max_messages: u64,
    /// Most bytes queued per recipient key.
    pub queue_max_bytes: u64,
    /// How long an undelivered message is kept, in seconds.
    pub message_ttl_seconds: u64,
    /// How often expired messages are swept, in seconds.
    pub sweep_interval_seconds: u64,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter (`info`, `didcomm_edge_mediator=debug`, ...).
    pub log_filter: String,
    /// How long shutdown waits for in-flight requests, in seconds.
    pub shutdown_grace_seconds: u64,
    /// Print the invitation QR code in the terminal at start-up.
    pub print_qr: bool,
    /// The invitation's label.
    pub label: String,
    /// A wallet-format file whose `did_docs` the mediator resolves without asking anyone
    /// (pinned peers; until the DID method resolvers land, devices' documents go here).
    pub pinned_did_docs: Option<PathBuf>,
    /// Resolve did:web senders over HTTPS (off: a server should not fetch URLs that anonymous
    /// input names; devices use did:peer and did:key, which resolve without I/O).
    pub resolve_did_web: bool,
    /// Who may obtain a mediation grant.
    pub grant_policy: GrantPolicy,
    /// The DIDs granted under [`GrantPolicy::AllowList`].
    pub grant_allow_list: Vec<String>,
    /// The tokens accepted under [`GrantPolicy::Token`] (never logged).
    pub grant_tokens: Vec<String>,
    /// Most recipient DIDs (keys) one granted DID may register.
    pub max_keys_per_client: u64,
    // Storage-side limits (issue 12).
    /// Most messages queued for one device (all its keys together).
    pub device_max_messages: u64,
    /// Most bytes queued for one device (all its keys together).
    pub device_max_bytes: u64,
    /// Most bytes queued over all devices (the disk budget).
    pub storage_max_bytes: u64,
    /// Most bytes one delivery (pickup or live) carries; one larger message still goes alone.
    pub delivery_max_bytes: u64,
    /// What a keylist add must prove.
    pub keylist_proof: KeylistProof,
    /// A PEM file of CA certificates for PostgreSQL over TLS (default: the webpki roots).
    pub database_ca_file: Option<PathBuf>,
    // The admin side (issue 17).
    /// Where the admin listener (`/metrics`, `/livez`, `/readyz`, the admin API) listens;
    /// `None` (`"off"` in TOML and flags): no admin listener.
    #[serde(with = "listen_or_off")]
    pub admin_listen: Option<SocketAddr>,
    /// A file holding the admin API's bearer token (at least 16 characters; surrounding
    /// whitespace ignored). Without it the admin API answers 403; health and metrics stay.
    pub admin_token_file: Option<PathBuf>,
    /// Also serve `/metrics` on the service port, as before the admin listener (off: metrics
    /// are on the admin listener only).
    pub metrics_on_service_port: bool,
    /// A PEM certificate chain: with [`Settings::tls_key`], the service port speaks TLS
    /// (HTTPS and WSS); both files are read again on SIGHUP.
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of [`Settings::tls_cert`] (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// Addresses or blocks (`10.0.0.0/8`) of reverse proxies whose `Forwarded` /
    /// `X-Forwarded-For` headers name the client (for the per-address limits); empty: the
    /// headers are ignored.
    pub trusted_proxies: Vec<String>,
    /// Web origins (`https://app.example`) whose pages may call the service port from a
    /// browser (CORS); `*` allows any. Empty (the default): no CORS headers, so browsers keep
    /// other sites' pages from reading the mediator's answers.
    pub cors_allowed_origins: Vec<String>,
    // Outbound delivery (issue 17).
    /// Deliver to devices' own endpoints: replies to requests without `return_route`, and
    /// forwards for devices whose DID document names an HTTP(S) endpoint of their own (off: such
    /// replies are dropped and such forwards only queued).
    pub outbound_delivery: bool,
    /// Let outbound delivery connect to loopback addresses (local testing).
    pub outbound_allow_loopback: bool,
    /// Let outbound delivery connect to private, link-local and other non-public addresses
    /// (an operator's internal gateways); loopback too.
    pub outbound_allow_private: bool,
    /// Attempts per outbound message before it is given up.
    pub outbound_max_attempts: u32,
    /// Wait before the first retry, in milliseconds; it doubles with each attempt (with jitter).
    pub outbound_retry_initial_ms: u64,
    /// Longest wait between two attempts, in milliseconds.
    pub outbound_retry_max_ms: u64,
    /// Outbound deliveries in flight at once.
    pub outbound_concurrency: usize,
    /// Seconds one outbound POST may take, connecting included (connecting alone: at most 5).
    pub outbound_timeout_seconds: u64,
    /// Most messages waiting in the outbox for one endpoint URL.
    pub outbound_max_per_destination: u64,
    /// Most messages waiting in the outbox in all.
    pub outbound_max_total: u64,
    /// How long an outbound message is retried before it is given up, in seconds.
    pub outbound_ttl_seconds: u64,
    // Push for sleeping devices (issue 17).
    /// The operator's push gateway (an http(s) URL): called with a small JSON body (no message
    /// content) when a message is queued for a device that registered a push target and is not
    /// connected live. `None`: no pushes.
    pub push_gateway_url: Option<String>,
    /// At most one push per device per this many seconds.
    pub push_min_interval_seconds: u64,
    /// Calls of the push gateway per push before it is given up.
    pub push_max_attempts: u32,
    /// Seconds one push gateway call may take.
    pub push_timeout_seconds: u64,
}

/// The default admin listener: loopback, the port Prometheus exporters commonly take.
pub const DEFAULT_ADMIN_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9464);

/// A listen address or `off`, as flags and environment variables spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenOrOff(pub Option<SocketAddr>);

impl std::str::FromStr for ListenOrOff {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        match text.trim() {
            "off" | "none" | "" => Ok(ListenOrOff(None)),
            addr => addr
                .parse()
                .map(|a| ListenOrOff(Some(a)))
                .map_err(|_| "expected an address (127.0.0.1:9464) or off".to_owned()),
        }
    }
}

/// `Option<SocketAddr>` in TOML as an address string or `"off"`.
mod listen_or_off {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::net::SocketAddr;

    pub fn serialize<S: Serializer>(value: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(addr) => s.collect_str(addr),
            None => s.serialize_str("off"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let text = String::deserialize(d)?;
        text.parse::<super::ListenOrOff>()
            .map(|l| l.0)
            .map_err(serde::de::Error::custom)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            public_ws_url: None,
            data_dir: PathBuf::from("mediator-data"),
            database_url: None,
            database_pool_size: 8,
            max_message_bytes: 1024 * 1024,
            rate_limit_per_second: 200.0,
            rate_limit_burst: 400.0,
            did_rate_limit_per_second: 100.0,
            did_rate_limit_burst: 200.0,
            max_connections: 1024,
            header_timeout_seconds: 30,
            body_timeout_seconds: 30,
            // The agent's live mode pings every 20 s by default.
            ws_idle_timeout_seconds: 120,
            unpack_workers: 0,
            unpack_queue: 32,
            replay_window_seconds: 600,
            replay_cache_capacity: 100_000,
            max_forward_attachments: 4,
            queue_max_messages: 10_000,
            queue_max_bytes: 64 * 1024 * 1024,
            message_ttl_seconds: 14 * 24 * 3600,
            sweep_interval_seconds: 60,
            log_format: LogFormat::Text,
            log_filter: "info".into(),
            shutdown_grace_seconds: 20,
            print_qr: true,
            label: "didcomm-edge mediator".into(),
            pinned_did_docs: None,
            resolve_did_web: false,
            grant_policy: GrantPolicy::Open,
            grant_allow_list: vec![],
            grant_tokens: vec![],
            max_keys_per_client: 1000,
            device_max_messages: 50_000,
            device_max_bytes: 256 * 1024 * 1024,
            storage_max_bytes: 4 * 1024 * 1024 * 1024,
            delivery_max_bytes: 1024 * 1024,
            keylist_proof: KeylistProof::None,
            database_ca_file: None,
            admin_listen: Some(DEFAULT_ADMIN_LISTEN),
            admin_token_file: None,
            metrics_on_service_port: false,
            tls_cert: None,
            tls_key: None,
            trusted_proxies: vec![],
            cors_allowed_origins: vec![],
            outbound_delivery: true,
            outbound_allow_loopback: false,
            outbound_allow_private: false,
            outbound_max_attempts: 8,
            outbound_retry_initial_ms: 1000,
            outbound_retry_max_ms: 300_000,
            outbound_concurrency: 8,
            outbound_timeout_seconds: 10,
            outbound_max_per_destination: 1000,
            outbound_max_total: 10_000,
            outbound_ttl_seconds: 86_400,
            push_gateway_url: None,
            push_min_interval_seconds: 60,
            push_max_attempts: 3,
            push_timeout_seconds: 5,
        }
    }
}

impl Settings {
    /// The URL devices use to reach the mediator.
    pub fn public_url(&self) -> String {
        let scheme = if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{}", self.listen))
    }

    /// The WebSocket URL devices use: `public_ws_url`, else the public URL with its scheme
    /// turned into `ws`/`wss` and `/ws` appended.
    pub fn public_ws_url(&self) -> String {
        self.public_ws_url
            .clone()
            .unwrap_or_else(|| mediator_websocket_url(&self.public_url()))
    }

    /// Which storage to open.
    pub fn storage(&self) -> StorageConfig {
        match &self.database_url {
            Some(url) if is_memory_url(url) => StorageConfig::Memory,
            Some(url) if !url.is_empty() => StorageConfig::Postgres {
                url: url.clone(),
                pool_size: self.database_pool_size,
                ca_file: self.database_ca_file.clone(),
            },
            _ => StorageConfig::Sqlite {
                path: self.data_dir.join("mediator.sqlite"),
            },
        }
    }

    /// The per-recipient quota.
    pub fn quota(&self) -> Quota {
        Quota {
            max_messages: self.queue_max_messages,
            max_bytes: self.queue_max_bytes,
            device_max_messages: self.device_max_messages,
            device_max_bytes: self.device_max_bytes,
            total_max_bytes: self.storage_max_bytes,
        }
    }

    /// How many messages are unpacked at once: `unpack_workers`, or one per core.
    pub fn unpack_workers(&self) -> usize {
        if self.unpack_workers > 0 {
            return self.unpack_workers;
        }
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    }

    /// Read a TOML settings file (every key optional).
    pub fn from_toml(text: &str) -> Result<Settings> {
        toml::from_str(text).map_err(|e| Error::config(format!("settings file: {e}")))
    }

    fn validate(&self) -> Result<()> {
        if self.max_message_bytes == 0 {
            return Err(Error::config("max_message_bytes must be positive"));
        }
        if !(self.rate_limit_per_second > 0.0 && self.rate_limit_burst >= 1.0) {
            return Err(Error::config(
                "rate_limit_per_second must be positive and rate_limit_burst at least 1",
            ));
        }
        if !(self.did_rate_limit_per_second > 0.0 && self.did_rate_limit_burst >= 1.0) {
            return Err(Error::config(
                "did_rate_limit_per_second must be positive and did_rate_limit_burst at least 1",
            ));
        }
        if self.max_connections == 0 {
            return Err(Error::config("max_connections must be positive"));
        }
        if self.header_timeout_seconds == 0
            || self.body_timeout_seconds == 0
            || self.ws_idle_timeout_seconds == 0
        {
            return Err(Error::config("timeouts must be positive"));
        }
        if self.replay_window_seconds == 0 || self.replay_cache_capacity == 0 {
            return Err(Error::config(
                "replay_window_seconds and replay_cache_capacity must be positive",
            ));
        }
        if self.max_forward_attachments == 0 {
            return Err(Error::config("max_forward_attachments must be at least 1"));
        }
        if self.queue_max_messages == 0 || self.queue_max_bytes == 0 {
            return Err(Error::config("queue limits must be positive"));
        }
        if self.device_max_messages == 0
            || self.device_max_bytes == 0
            || self.storage_max_bytes == 0
            || self.delivery_max_bytes == 0
        {
            return Err(Error::config(
                "device, storage and delivery limits must be positive",
            ));
        }
        if self.outbound_max_attempts == 0
            || self.outbound_concurrency == 0
            || self.outbound_timeout_seconds == 0
            || self.outbound_max_per_destination == 0
            || self.outbound_max_total == 0
            || self.outbound_ttl_seconds == 0
        {
            return Err(Error::config(
                "outbound attempts, concurrency, timeout, outbox bounds and ttl must be positive",
            ));
        }
        if self.push_min_interval_seconds == 0
            || self.push_max_attempts == 0
            || self.push_timeout_seconds == 0
        {
            return Err(Error::config(
                "push_min_interval_seconds, push_max_attempts and push_timeout_seconds must be positive",
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(Error::config("tls_cert and tls_key go together"));
        }
        crate::forwarded::TrustedProxies::parse(&self.trusted_proxies)?;
        crate::server::cors_layer(&self.cors_allowed_origins)?;
        if let Some(admin) = self.admin_listen {
            if admin == self.listen && admin.port() != 0 {
                return Err(Error::config(
                    "admin_listen must differ from listen (the admin side has its own port)",
                ));
            }
        }
        match self.grant_policy {
            GrantPolicy::AllowList if self.grant_allow_list.is_empty() => {
                return Err(Error::config(
                    "grant_policy allow-list needs grant_allow_list (the DIDs to grant)",
                ))
            }
            GrantPolicy::Token if self.grant_tokens.iter().all(String::is_empty) => {
                return Err(Error::config(
                    "grant_policy token needs grant_tokens (the tokens to accept)",
                ))
            }
            _ => {}
        }
        Ok(())
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured without `..`: a new setting does not compile until it is shown here
        // (or deliberately hidden), so a secret cannot slip into the logs unnoticed.
        let Settings {
            listen,
            public_url,
            public_ws_url,
            data_dir,
            database_url,
            database_pool_size,
            max_message_bytes,
            rate_limit_per_second,
            rate_limit_burst,
            did_rate_limit_per_second,
            did_rate_limit_burst,
            max_connections,
            header_timeout_seconds,
            body_timeout_seconds,
            ws_idle_timeout_seconds,
            unpack_workers,
            unpack_queue,
            replay_window_seconds,
            replay_cache_capacity,
            max_forward_attachments,
            queue_max_messages,
            queue_max_bytes,
            message_ttl_seconds,
            sweep_interval_seconds,
            log_format,
            log_filter,
            shutdown_grace_seconds,
            print_qr,
            label,
            pinned_did_docs,
            resolve_did_web,
            grant_policy,
            grant_allow_list,
            grant_tokens,
            max_keys_per_client,
            device_max_messages,
            device_max_bytes,
            storage_max_bytes,
            delivery_max_bytes,
            keylist_proof,
            database_ca_file,
            admin_listen,
            admin_token_file,
            metrics_on_service_port,
            tls_cert,
            tls_key,
            trusted_proxies,
            cors_allowed_origins,
            outbound_delivery,
            outbound_allow_loopback,
            outbound_allow_private,
            outbound_max_attempts,
            outbound_retry_initial_ms,
            outbound_retry_max_ms,
            outbound_concurrency,
            outbound_timeout_seconds,
            outbound_max_per_destination,
            outbound_max_total,
            outbound_ttl_seconds,
            push_gateway_url,
            push_min_interval_seconds,
            push_max_attempts,
            push_timeout_seconds,
        } = self;
        f.debug_struct("Settings")
            .field("listen", listen)
            .field("public_url", public_url)
            .field("public_ws_url", public_ws_url)
            .field("data_dir", data_dir)
            .field(
                "database_url",
                &database_url.as_deref().map(redact_database_url),
            )
            .field("database_pool_size", database_pool_size)
            .field("max_message_bytes", max_message_bytes)
            .field("rate_limit_per_second", rate_limit_per_second)
            .field("rate_limit_burst", rate_limit_burst)
            .field("did_rate_limit_per_second", did_rate_limit_per_second)
            .field("did_rate_limit_burst", did_rate_limit_burst)
            .field("max_connections", max_connections)
            .field("header_timeout_seconds", header_timeout_seconds)
            .field("body_timeout_seconds", body_timeout_seconds)
            .field("ws_idle_timeout_seconds", ws_idle_timeout_seconds)
            .field("unpack_workers", unpack_workers)
            .field("unpack_queue", unpack_queue)
            .field("replay_window_seconds", replay_window_seconds)
            .field("replay_cache_capacity", replay_cache_capacity)
            .field("max_forward_attachments", max_forward_attachments)
            .field("queue_max_messages", queue_max_messages)
            .field("queue_max_bytes", queue_max_bytes)
            .field("message_ttl_seconds", message_ttl_seconds)
            .field("sweep_interval_seconds", sweep_interval_seconds)
            .field("log_format", log_format)
            .field("log_filter", log_filter)
            .field("shutdown_grace_seconds", shutdown_grace_seconds)
            .field("print_qr", print_qr)
            .field("label", label)
            .field("pinned_did_docs", pinned_did_docs)
            .field("resolve_did_web", resolve_did_web)
            .field("grant_policy", grant_policy)
            .field("grant_allow_list", grant_allow_list)
            // Credentials: only how many there are.
            .field(
                "grant_tokens",
                &format_args!("[{} redacted]", grant_tokens.len()),
            )
            .field("max_keys_per_client", max_keys_per_client)
            .field("device_max_messages", device_max_messages)
            .field("device_max_bytes", device_max_bytes)
            .field("storage_max_bytes", storage_max_bytes)
            .field("delivery_max_bytes", delivery_max_bytes)
            .field("keylist_proof", keylist_proof)
            .field("database_ca_file", database_ca_file)
            .field("admin_listen", admin_listen)
            // The path only: the token is read at start-up and never shown.
            .field("admin_token_file", admin_token_file)
            .field("metrics_on_service_port", metrics_on_service_port)
            .field("tls_cert", tls_cert)
            .field("tls_key", tls_key)
            .field("trusted_proxies", trusted_proxies)
            .field("cors_allowed_origins", cors_allowed_origins)
            .field("outbound_delivery", outbound_delivery)
            .field("outbound_allow_loopback", outbound_allow_loopback)
            .field("outbound_allow_private", outbound_allow_private)
            .field("outbound_max_attempts", outbound_max_attempts)
            .field("outbound_retry_initial_ms", outbound_retry_initial_ms)
            .field("outbound_retry_max_ms", outbound_retry_max_ms)
            .field("outbound_concurrency", outbound_concurrency)
            .field("outbound_timeout_seconds", outbound_timeout_seconds)
            .field("outbound_max_per_destination", outbound_max_per_destination)
            .field("outbound_max_total", outbound_max_total)
            .field("outbound_ttl_seconds", outbound_ttl_seconds)
            .field("push_gateway_url", push_gateway_url)
            .field("push_min_interval_seconds", push_min_interval_seconds)
            .field("push_max_attempts", push_max_attempts)
            .field("push_timeout_seconds", push_timeout_seconds)
            .finish()
    }
}

/// Whether a `database_url` asks for the in-memory storage: `memory` or `memory:...`.
pub fn is_memory_url(url: &str) -> bool {
    url == "memory" || url.starts_with("memory:")
}

/// What is left to show of a database URL: the password of `scheme://user:password@host` and
/// every `password=...` (key-value connection strings, query parameters) become `***`.
pub fn redact_database_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    if let Some((scheme, after)) = url.split_once("://") {
        let authority_end = after.find(['/', '?']).unwrap_or(after.len());
        let (authority, tail) = after.split_at(authority_end);
        out.push_str(scheme);
        out.push_str("://");
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                match userinfo.split_once(':') {
                    Some((user, _password)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push('@');
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        rest = tail;
    }
    // `password=value`, `password = 'va lue'`, `?password=value&...`, any case.
    let lower = rest.to_ascii_lowercase();
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lower.get(search..).and_then(|l| l.find("password")) {
        let key_end = search + found + "password".len();
        let after_key = rest.get(key_end..).unwrap_or_default();
        let trimmed = after_key.trim_start();
        let Some(value) = trimmed.strip_prefix('=') else {
            search = key_end;
            continue;
        };
        let value_start = rest.len() - value.trim_start().len();
        let body = rest.get(value_start..).unwrap_or_default();
        let value_len = if let Some(quoted) = body.strip_prefix('\'') {
            quoted.find('\'').map_or(body.len(), |end| end + 2)
        } else {
            body.find([' ', '&', '\t', '\n']).unwrap_or(body.len())
        };
        out.push_str(rest.get(copied..value_start).unwrap_or_default());
        out.push_str("***");
        copied = value_start + value_len;
        search = copied;
    }
    out.push_str(rest.get(copied..).unwrap_or_default());
    out
}

/// Command-line flags; each may also come from the environment variable named in its help.
#[derive(Debug, Parser)]
#[command(
    name = "didcomm-edge-mediator",
    version,
    about = "A DIDComm v2 mediator (HTTP + WebSocket; SQLite or PostgreSQL)"
)]
pub struct Args {
    /// TOML settings file.
    #[arg(long, env = "MEDIATOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "MEDIATOR_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// URL devices reach the mediator at [default: http:// and the listen address].
    #[arg(long, env = "MEDIATOR_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Folder for the identity and the SQLite database [default: ./mediator-data].
    #[arg(long, env = "MEDIATOR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// postgres://user@host:port/db to use PostgreSQL instead of SQLite; `memory` to keep
    /// everything in memory (lost at exit).
    #[arg(long, env = "MEDIATOR_DATABASE_URL")]
    pub database_url: Option<String>,
    /// PostgreSQL connections per instance [default: 8].
    #[arg(long, env = "MEDIATOR_DATABASE_POOL_SIZE")]
    pub database_pool_size: Option<usize>,
    /// Largest packed message accepted, in bytes [default: 1048576].
    #[arg(long, env = "MEDIATOR_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Messages per second per peer address [default: 200].
    #[arg(long, env = "MEDIATOR_RATE_LIMIT_PER_SECOND")]
    pub rate_limit_per_second: Option<f64>,
    /// Burst per peer address [default: 400].
    #[arg(long, env = "MEDIATOR_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<f64>,
    /// Messages per second per authenticated sender DID [default: 100].
    #[arg(long, env = "MEDIATOR_DID_RATE_LIMIT_PER_SECOND")]
    pub did_rate_limit_per_second: Option<f64>,
    /// Burst per authenticated sender DID [default: 200].
    #[arg(long, env = "MEDIATOR_DID_RATE_LIMIT_BURST")]
    pub did_rate_limit_burst: Option<f64>,
    /// Most TCP connections open at once [default: 1024].
    #[arg(long, env = "MEDIATOR_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds to send request headers; also the keep-alive idle timeout [default: 30].
    #[arg(long, env = "MEDIATOR_HEADER_TIMEOUT_SECONDS")]
    pub header_timeout_seconds: Option<u64>,
    /// Seconds to send a request body [default: 30].
    #[arg(long, env = "MEDIATOR_BODY_TIMEOUT_SECONDS")]
    pub body_timeout_seconds: Option<u64>,
    /// Seconds a WebSocket may stay silent before it is closed [default: 120].
    #[arg(long, env = "MEDIATOR_WS_IDLE_TIMEOUT_SECONDS")]
    pub ws_idle_timeout_seconds: Option<u64>,
    /// Messages unpacked at once, 0 for one per core [default: 0].
    #[arg(long, env = "MEDIATOR_UNPACK_WORKERS")]
    pub unpack_workers: Option<usize>,
    /// Messages that may wait for an unpack worker before 503s [default: 32].
    #[arg(long, env = "MEDIATOR_UNPACK_QUEUE")]
    pub unpack_queue: Option<usize>,
    /// created_time window and replay memory, in seconds [default: 600].
    #[arg(long, env = "MEDIATOR_REPLAY_WINDOW_SECONDS")]
    pub replay_window_seconds: Option<u64>,
    /// Most (sender, id) pairs remembered against replays [default: 100000].
    #[arg(long, env = "MEDIATOR_REPLAY_CACHE_CAPACITY")]
    pub replay_cache_capacity: Option<usize>,
    /// Most attachments per forward [default: 4].
    #[arg(long, env = "MEDIATOR_MAX_FORWARD_ATTACHMENTS")]
    pub max_forward_attachments: Option<usize>,
    /// Most messages queued per recipient key [default: 10000].
    #[arg(long, env = "MEDIATOR_QUEUE_MAX_MESSAGES")]
    pub queue_max_messages: Option<u64>,
    /// Most bytes queued per recipient key [default: 67108864].
    #[arg(long, env = "MEDIATOR_QUEUE_MAX_BYTES")]
    pub queue_max_bytes: Option<u64>,
    /// Seconds an undelivered message is kept [default: 1209600].
    #[arg(long, env = "MEDIATOR_MESSAGE_TTL_SECONDS")]
    pub message_ttl_seconds: Option<u64>,
    /// Log format.
    #[arg(long, env = "MEDIATOR_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter [default: info].
    #[arg(long, env = "MEDIATOR_LOG")]
    pub log_filter: Option<String>,
    /// Seconds shutdown waits for in-flight requests [default: 20].
    #[arg(long, env = "MEDIATOR_SHUTDOWN_GRACE_SECONDS")]
    pub shutdown_grace_seconds: Option<u64>,
    /// Wallet-format file of DID documents to resolve locally (pinned peers).
    #[arg(long, env = "MEDIATOR_PINNED_DID_DOCS")]
    pub pinned_did_docs: Option<PathBuf>,
    /// WebSocket URL to advertise [default: the public URL as ws(s)://.../ws].
    #[arg(long, env = "MEDIATOR_PUBLIC_WS_URL")]
    pub public_ws_url: Option<String>,
    /// Resolve did:web senders over HTTPS.
    #[arg(long, env = "MEDIATOR_RESOLVE_DID_WEB")]
    pub resolve_did_web: bool,
    /// Who is granted mediation [default: open].
    #[arg(long, env = "MEDIATOR_GRANT_POLICY", value_enum)]
    pub grant_policy: Option<GrantPolicy>,
    /// DIDs granted under the allow-list policy (comma-separated or repeated).
    #[arg(
        long = "grant-allow",
        env = "MEDIATOR_GRANT_ALLOW",
        value_delimiter = ','
    )]
    pub grant_allow_list: Vec<String>,
    /// Tokens accepted under the token policy (comma-separated or repeated).
    #[arg(
        long = "grant-token",
        env = "MEDIATOR_GRANT_TOKENS",
        value_delimiter = ','
    )]
    pub grant_tokens: Vec<String>,
    /// Most recipient DIDs one granted DID may register [default: 1000].
    #[arg(long, env = "MEDIATOR_MAX_KEYS_PER_CLIENT")]
    pub max_keys_per_client: Option<u64>,
    /// Do not print the invitation QR code at start-up.
    #[arg(long, env = "MEDIATOR_NO_QR")]
    pub no_qr: bool,
    // Storage-side limits (issue 12).
    /// Most messages queued per device, all keys together [default: 50000].
    #[arg(long, env = "MEDIATOR_DEVICE_MAX_MESSAGES")]
    pub device_max_messages: Option<u64>,
    /// Most bytes queued per device, all keys together [default: 268435456].
    #[arg(long, env = "MEDIATOR_DEVICE_MAX_BYTES")]
    pub device_max_bytes: Option<u64>,
    /// Most bytes queued over all devices [default: 4294967296].
    #[arg(long, env = "MEDIATOR_STORAGE_MAX_BYTES")]
    pub storage_max_bytes: Option<u64>,
    /// Most bytes one delivery carries [default: 1048576].
    #[arg(long, env = "MEDIATOR_DELIVERY_MAX_BYTES")]
    pub delivery_max_bytes: Option<u64>,
    /// What a keylist add must prove [default: none].
    #[arg(long, env = "MEDIATOR_KEYLIST_PROOF", value_enum)]
    pub keylist_proof: Option<KeylistProof>,
    /// PEM file of CA certificates for PostgreSQL over TLS [default: webpki roots].
    #[arg(long, env = "MEDIATOR_DATABASE_CA_FILE")]
    pub database_ca_file: Option<PathBuf>,
    /// Admin listener (/metrics, /livez, /readyz, admin API) address, or `off`
    /// [default: 127.0.0.1:9464].
    #[arg(long, env = "MEDIATOR_ADMIN_LISTEN")]
    pub admin_listen: Option<ListenOrOff>,
    /// File holding the admin API's bearer token [default: none, the admin API answers 403].
    #[arg(long, env = "MEDIATOR_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Also serve /metrics on the service port (compatibility).
    #[arg(long, env = "MEDIATOR_METRICS_ON_SERVICE_PORT")]
    pub metrics_on_service_port: bool,
    /// PEM certificate chain for TLS on the service port (with --tls-key; reloaded on SIGHUP).
    #[arg(long, env = "MEDIATOR_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "MEDIATOR_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Reverse proxies (address or address/prefix) whose Forwarded / X-Forwarded-For headers
    /// are believed (comma-separated or repeated).
    #[arg(
        long = "trusted-proxy",
        env = "MEDIATOR_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
    /// A web origin allowed to call the service port from a browser (CORS; repeat, or
    /// comma-separate; `*` for any) [default: none, no CORS headers].
    #[arg(
        long = "cors-allowed-origin",
        env = "MEDIATOR_CORS_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_allowed_origins: Vec<String>,
    // Outbound delivery (issue 17).
    /// Outbound delivery on or off [default: true].
    #[arg(long, env = "MEDIATOR_OUTBOUND_DELIVERY")]
    pub outbound_delivery: Option<bool>,
    /// Let outbound delivery reach loopback addresses [default: false].
    #[arg(long, env = "MEDIATOR_OUTBOUND_ALLOW_LOOPBACK")]
    pub outbound_allow_loopback: Option<bool>,
    /// Let outbound delivery reach private and other non-public addresses [default: false].
    #[arg(long, env = "MEDIATOR_OUTBOUND_ALLOW_PRIVATE")]
    pub outbound_allow_private: Option<bool>,
    /// Attempts per outbound message [default: 8].
    #[arg(long, env = "MEDIATOR_OUTBOUND_MAX_ATTEMPTS")]
    pub outbound_max_attempts: Option<u32>,
    /// First retry delay in ms, doubled each attempt [default: 1000].
    #[arg(long, env = "MEDIATOR_OUTBOUND_RETRY_INITIAL_MS")]
    pub outbound_retry_initial_ms: Option<u64>,
    /// Longest retry delay in ms [default: 300000].
    #[arg(long, env = "MEDIATOR_OUTBOUND_RETRY_MAX_MS")]
    pub outbound_retry_max_ms: Option<u64>,
    /// Outbound deliveries in flight at once [default: 8].
    #[arg(long, env = "MEDIATOR_OUTBOUND_CONCURRENCY")]
    pub outbound_concurrency: Option<usize>,
    /// Seconds one outbound POST may take [default: 10].
    #[arg(long, env = "MEDIATOR_OUTBOUND_TIMEOUT_SECONDS")]
    pub outbound_timeout_seconds: Option<u64>,
    /// Most outbox messages per endpoint [default: 1000].
    #[arg(long, env = "MEDIATOR_OUTBOUND_MAX_PER_DESTINATION")]
    pub outbound_max_per_destination: Option<u64>,
    /// Most outbox messages in all [default: 10000].
    #[arg(long, env = "MEDIATOR_OUTBOUND_MAX_TOTAL")]
    pub outbound_max_total: Option<u64>,
    /// Seconds an outbound message is retried [default: 86400].
    #[arg(long, env = "MEDIATOR_OUTBOUND_TTL_SECONDS")]
    pub outbound_ttl_seconds: Option<u64>,
    // Push for sleeping devices (issue 17).
    /// The push gateway's URL [default: none, no pushes].
    #[arg(long, env = "MEDIATOR_PUSH_GATEWAY_URL")]
    pub push_gateway_url: Option<String>,
    /// At most one push per device per this many seconds [default: 60].
    #[arg(long, env = "MEDIATOR_PUSH_MIN_INTERVAL_SECONDS")]
    pub push_min_interval_seconds: Option<u64>,
    /// Attempts per push [default: 3].
    #[arg(long, env = "MEDIATOR_PUSH_MAX_ATTEMPTS")]
    pub push_max_attempts: Option<u32>,
    /// Seconds one push call may take [default: 5].
    #[arg(long, env = "MEDIATOR_PUSH_TIMEOUT_SECONDS")]
    pub push_timeout_seconds: Option<u64>,
    /// Operator commands (`admin ...`) instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the binary does besides serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Inspect and manage devices, grants and queues, on the configured database directly
    /// (the same settings as the server: put the flags before `admin`).
    Admin {
        /// The operation.
        #[command(subcommand)]
        action: crate::admin::AdminCommand,
    },
}

impl Args {
    /// Defaults, then the TOML file, then environment and flags.
    pub fn settings(&self) -> Result<Settings> {
        let mut s = match &self.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), &e))?;
                Settings::from_toml(&text)?
            }
            None => Settings::default(),
        };
        macro_rules! take {
            ($($field:ident),*) => {$(
                if let Some(value) = &self.$field {
                    s.$field = value.clone();
                }
            )*};
        }
        take!(
            listen,
            data_dir,
            database_pool_size,
            max_message_bytes,
            rate_limit_per_second,
            rate_limit_burst,
            did_rate_limit_per_second,
            did_rate_limit_burst,
            max_connections,
            header_timeout_seconds,
            body_timeout_seconds,
            ws_idle_timeout_seconds,
            unpack_workers,
            unpack_queue,
            replay_window_seconds,
            replay_cache_capacity,
            max_forward_attachments,
            queue_max_messages,
            queue_max_bytes,
            message_ttl_seconds,
            log_format,
            log_filter,
            shutdown_grace_seconds,
            grant_policy,
            max_keys_per_client
        );
        // Storage-side limits (issue 12).
        take!(
            device_max_messages,
            device_max_bytes,
            storage_max_bytes,
            delivery_max_bytes,
            keylist_proof
        );
        if self.database_ca_file.is_some() {
            s.database_ca_file.clone_from(&self.database_ca_file);
        }
        if self.public_ws_url.is_some() {
            s.public_ws_url.clone_from(&self.public_ws_url);
        }
        if self.resolve_did_web {
            s.resolve_did_web = true;
        }
        if !self.grant_allow_list.is_empty() {
            s.grant_allow_list.clone_from(&self.grant_allow_list);
        }
        if !self.grant_tokens.is_empty() {
            s.grant_tokens.clone_from(&self.grant_tokens);
        }
        if self.public_url.is_some() {
            s.public_url.clone_from(&self.public_url);
        }
        if self.pinned_did_docs.is_some() {
            s.pinned_did_docs.clone_from(&self.pinned_did_docs);
        }
        if self.database_url.is_some() {
            s.database_url.clone_from(&self.database_url);
        }
        if self.no_qr {
            s.print_qr = false;
        }
        if let Some(admin) = self.admin_listen {
            s.admin_listen = admin.0;
        }
        if self.admin_token_file.is_some() {
            s.admin_token_file.clone_from(&self.admin_token_file);
        }
        if self.metrics_on_service_port {
            s.metrics_on_service_port = true;
        }
        if self.tls_cert.is_some() {
            s.tls_cert.clone_from(&self.tls_cert);
        }
        if self.tls_key.is_some() {
            s.tls_key.clone_from(&self.tls_key);
        }
        if !self.cors_allowed_origins.is_empty() {
            s.cors_allowed_origins
                .clone_from(&self.cors_allowed_origins);
        }
        if !self.trusted_proxies.is_empty() {
            s.trusted_proxies.clone_from(&self.trusted_proxies);
        }
        // Outbound delivery (issue 17).
        take!(
            outbound_delivery,
            outbound_allow_loopback,
            outbound_allow_private,
            outbound_max_attempts,
            outbound_retry_initial_ms,
            outbound_retry_max_ms,
            outbound_concurrency,
            outbound_timeout_seconds,
            outbound_max_per_destination,
            outbound_max_total,
            outbound_ttl_seconds
        );
        take!(
            push_min_interval_seconds,
            push_max_attempts,
            push_timeout_seconds
        );
        if self.push_gateway_url.is_some() {
            s.push_gateway_url.clone_from(&self.push_gateway_url);
        }
        s.validate()?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9999\"\nqueue_max_messages = 5\nlog_format = \"json\"\n",
        )
        .unwrap();
        let args = Args::parse_from([
            "m",
            "--config",
            path.to_str().unwrap(),
            "--queue-max-messages",
            "7",
        ]);
        let s = args.settings().unwrap();
        assert_eq!(s.listen.port(), 9999);
        assert_eq!(s.queue_max_messages, 7);
        assert_eq!(s.log_format, LogFormat::Json);
        assert_eq!(s.public_url(), "http://127.0.0.1:9999");
        assert!(matches!(s.storage(), StorageConfig::Sqlite { .. }));
    }

    #[test]
    fn memory_storage_is_chosen_by_its_url() {
        for (url, memory) in [
            ("memory", true),
            ("memory:", true),
            ("memory:demo", true),
            ("memoryless", false),
            ("postgres://m@db/memory", false),
        ] {
            let args = Args::parse_from(["m", "--database-url", url]);
            let s = args.settings().unwrap();
            assert_eq!(
                matches!(s.storage(), StorageConfig::Memory),
                memory,
                "{url}"
            );
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        assert!(Settings::from_toml("nope = 1").is_err());
        let args = Args::parse_from(["m", "--max-message-bytes", "0"]);
        assert!(args.settings().is_err());
    }

    #[test]
    fn grant_policies_need_their_lists() {
        let args = Args::parse_from(["m", "--grant-policy", "allow-list"]);
        assert!(args.settings().is_err());
        let args = Args::parse_from([
            "m",
            "--grant-policy",
            "allow-list",
            "--grant-allow",
            "did:example:a,did:example:b",
        ]);
        let s = args.settings().unwrap();
        assert_eq!(s.grant_policy, GrantPolicy::AllowList);
        assert_eq!(s.grant_allow_list, ["did:example:a", "did:example:b"]);
        let s = Settings::from_toml("grant_policy = \"token\"\ngrant_tokens = [\"t1\"]\n").unwrap();
        assert_eq!(s.grant_policy, GrantPolicy::Token);
        assert!(Settings::from_toml("grant_policy = \"sometimes\"").is_err());
    }

    #[test]
    fn ws_urls() {
        let mut s = Settings::default();
        assert_eq!(s.public_ws_url(), "ws://127.0.0.1:8080/ws");
        s.public_ws_url = Some("wss://x/y".into());
        assert_eq!(s.public_ws_url(), "wss://x/y");
    }

    #[test]
    fn debug_redacts_tokens_and_database_passwords() {
        let s = Settings {
            grant_tokens: vec!["tok-SECRET-1".into(), "tok-SECRET-2".into()],
            database_url: Some("postgres://mediator:pa55-SECRET@db.example:5432/m".into()),
            ..Settings::default()
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(
            shown.contains("postgres://mediator:***@db.example:5432/m"),
            "{shown}"
        );
        assert!(shown.contains("[2 redacted]"), "{shown}");
        for (url, expected) in [
            (
                "host=db user=m password=pa55-SECRET dbname=m",
                "host=db user=m password=*** dbname=m",
            ),
            (
                "host=db PASSWORD = 'pa 55 SECRET' dbname=m",
                "host=db PASSWORD = *** dbname=m",
            ),
            (
                "postgres://m@db/m?sslmode=require&password=SECRET&x=1",
                "postgres://m@db/m?sslmode=require&password=***&x=1",
            ),
            ("postgres://m@db/m", "postgres://m@db/m"),
            (
                "postgresql://u:p%40ss-SECRET@[::1]:5432/m",
                "postgresql://u:***@[::1]:5432/m",
            ),
        ] {
            assert_eq!(redact_database_url(url), expected);
        }
    }

    #[test]
    fn new_limits_have_flags_and_are_checked() {
        let args = Args::parse_from([
            "m",
            "--max-connections",
            "3",
            "--did-rate-limit-per-second",
            "2",
            "--max-forward-attachments",
            "2",
            "--replay-window-seconds",
            "60",
        ]);
        let s = args.settings().unwrap();
        assert_eq!(s.max_connections, 3);
        assert!((s.did_rate_limit_per_second - 2.0).abs() < f64::EPSILON);
        assert_eq!(s.max_forward_attachments, 2);
        assert_eq!(s.replay_window_seconds, 60);
        assert!(Args::parse_from(["m", "--max-forward-attachments", "0"])
            .settings()
            .is_err());
        assert!(Args::parse_from(["m", "--ws-idle-timeout-seconds", "0"])
            .settings()
            .is_err());
        assert!(Settings::from_toml("unpack_queue = 0\nheader_timeout_seconds = 5").is_ok());
    }

    #[test]
    fn defaults_are_loopback() {
        let s = Settings::default();
        assert!(s.listen.ip().is_loopback());
        assert!(s.admin_listen.is_some_and(|a| a.ip().is_loopback()));
        assert!(!s.metrics_on_service_port);
    }

    #[test]
    fn the_admin_listener_can_move_or_be_turned_off() {
        let s = Args::parse_from(["m", "--admin-listen", "off"])
            .settings()
            .unwrap();
        assert_eq!(s.admin_listen, None);
        let s = Args::parse_from(["m", "--admin-listen", "127.0.0.1:9999"])
            .settings()
            .unwrap();
        assert_eq!(s.admin_listen, Some("127.0.0.1:9999".parse().unwrap()));
        assert!(Args::try_parse_from(["m", "--admin-listen", "nowhere"]).is_err());
        let s = Settings::from_toml("admin_listen = \"off\"").unwrap();
        assert_eq!(s.admin_listen, None);
        let s = Settings::from_toml("admin_listen = \"[::1]:9000\"").unwrap();
        assert_eq!(s.admin_listen, Some("[::1]:9000".parse().unwrap()));
        assert!(Settings::from_toml("admin_listen = \"x\"").is_err());
        // Not the service port.
        assert!(Args::parse_from([
            "m",
            "--listen",
            "127.0.0.1:7000",
            "--admin-listen",
            "127.0.0.1:7000"
        ])
        .settings()
        .is_err());
        let s = Args::parse_from(["m", "--trusted-proxy", "10.0.0.0/8,::1"])
            .settings()
            .unwrap();
        assert_eq!(s.trusted_proxies, ["10.0.0.0/8", "::1"]);
        assert!(Args::parse_from(["m", "--trusted-proxy", "10.0.0.0/40"])
            .settings()
            .is_err());
        assert!(Args::parse_from(["m", "--tls-cert", "c.pem"])
            .settings()
            .is_err());
        let args = Args::parse_from(["m", "--data-dir", "d", "admin", "schema"]);
        assert!(matches!(args.command, Some(Command::Admin { .. })));
    }
}
