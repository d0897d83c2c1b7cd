//! Configuration: defaults that run out of the box on 127.0.0.1, overridden by a TOML file,
//! then by environment variables, then by command-line flags.

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

/// Every setting of the mediator, with its default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// `postgres://...` to store in PostgreSQL instead of SQLite.
    pub database_url: Option<String>,
    /// PostgreSQL connections per instance.
    pub database_pool_size: usize,
    /// Largest packed message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Messages per second one connection may send (token bucket refill rate).
    pub rate_limit_per_second: f64,
    /// Burst allowance of the per-connection token bucket.
    pub rate_limit_burst: f64,
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
        }
    }
}

impl Settings {
    /// The URL devices use to reach the mediator.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }

    /// The WebSocket URL devices use: `public_ws_url`, else the public URL with its scheme
    /// turned into `ws`/`wss` and `/ws` appended.
    pub fn public_ws_url(&self) -> String {
        self.public_ws_url
            .clone()
            .unwrap_or_else(|| ws_url_for(&self.public_url()))
    }

    /// Which storage to open.
    pub fn storage(&self) -> StorageConfig {
        match &self.database_url {
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

/// The WebSocket URL next to an HTTP URL: `http` → `ws`, `https` → `wss`, plus `/ws`.
pub fn ws_url_for(http_url: &str) -> String {
    let trimmed = http_url.trim_end_matches('/');
    let converted = if let Some(rest) = trimmed.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = trimmed.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        trimmed.to_owned()
    };
    format!("{converted}/ws")
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
    /// URL devices reach the mediator at [default: http://<listen>].
    #[arg(long, env = "MEDIATOR_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Folder for the identity and the SQLite database [default: ./mediator-data].
    #[arg(long, env = "MEDIATOR_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// postgres://user@host:port/db to use PostgreSQL instead of SQLite.
    #[arg(long, env = "MEDIATOR_DATABASE_URL")]
    pub database_url: Option<String>,
    /// PostgreSQL connections per instance [default: 8].
    #[arg(long, env = "MEDIATOR_DATABASE_POOL_SIZE")]
    pub database_pool_size: Option<usize>,
    /// Largest packed message accepted, in bytes [default: 1048576].
    #[arg(long, env = "MEDIATOR_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Messages per second per connection [default: 200].
    #[arg(long, env = "MEDIATOR_RATE_LIMIT_PER_SECOND")]
    pub rate_limit_per_second: Option<f64>,
    /// Burst per connection [default: 400].
    #[arg(long, env = "MEDIATOR_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<f64>,
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
        assert_eq!(
            ws_url_for("http://127.0.0.1:8080"),
            "ws://127.0.0.1:8080/ws"
        );
        assert_eq!(
            ws_url_for("https://m.example/didcomm/"),
            "wss://m.example/didcomm/ws"
        );
        let mut s = Settings::default();
        assert_eq!(s.public_ws_url(), "ws://127.0.0.1:8080/ws");
        s.public_ws_url = Some("wss://x/y".into());
        assert_eq!(s.public_ws_url(), "wss://x/y");
    }

    #[test]
    fn defaults_are_loopback() {
        let s = Settings::default();
        assert!(s.listen.ip().is_loopback());
    }
}
