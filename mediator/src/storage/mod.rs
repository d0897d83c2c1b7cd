//! Storage: mediation grants, keylists and per-recipient message queues behind one async trait,
//! with two backends: [`sqlite::SqliteStorage`] (embedded, the default) and
//! [`postgres::PostgresStorage`] (several mediator processes on one database).
//!
//! The contract every backend keeps (tested with the same test bodies against both):
//! - [`Storage::store`] returns only once the message is durable (committed and synced).
//! - A message is identified by `(recipient, id)`; storing the same pair again is a no-op that
//!   answers [`StoreOutcome::Duplicate`] (a sender's retry never queues a copy), also after the
//!   message was acknowledged: an acknowledged id leaves a tombstone until the message's expiry.
//! - A message leaves its queue only through [`Storage::ack`] (the device's `messages-received`)
//!   or because it expired ([`Storage::sweep_expired`]); fetching never deletes.
//! - Each queue has a count and byte quota, checked atomically with the insert.
//! - Every stored message is announced on [`Storage::subscribe`], to every process sharing the
//!   database (PostgreSQL: `LISTEN/NOTIFY`; SQLite: one process, an in-process broadcast).

pub mod postgres;
pub mod sqlite;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::error::Result;

/// A mediation grant: the mediator routes messages for `did`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The DID of the device that asked for mediation (the only DID that may manage the
    /// keylist and pick up its messages).
    pub did: String,
    /// The DID the device advertises as its routing key / mediator endpoint.
    pub routing_did: String,
    /// When the grant was made, milliseconds since the Unix epoch.
    pub granted_at_ms: u64,
}

/// Add or remove a recipient key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeylistAction {
    /// Route messages for the key to the granted DID.
    Add,
    /// Stop routing messages for the key.
    Remove,
}

/// One entry of a keylist update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeylistUpdate {
    /// The recipient key (a DID or DID URL that forwards name in `next`).
    pub key: String,
    /// What to do with it.
    pub action: KeylistAction,
}

/// The outcome of one keylist update entry (Coordinate Mediation's `result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeylistResult {
    /// Done.
    Success,
    /// Nothing to do (already present / already absent).
    NoChange,
    /// The key is registered by another DID: refused (`client_error`).
    OwnedByAnother,
}

/// A message to queue for a recipient key.
#[derive(Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The recipient key (a forward's `next`, as registered in the keylist).
    pub recipient: String,
    /// The granted DID whose keylist holds `recipient` (announced with the notification, so
    /// that live connections, registered per DID, hear of it).
    pub owner: String,
    /// The message id, unique per recipient (see `mediator::handler::message_id`).
    pub id: String,
    /// The packed message, opaque to the mediator.
    pub body: Vec<u8>,
    /// When it arrived, milliseconds since the Unix epoch.
    pub received_at_ms: u64,
    /// When it may be dropped, milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
}

impl fmt::Debug for NewMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the body: logs must not carry message contents.
        f.debug_struct("NewMessage")
            .field("recipient", &self.recipient)
            .field("owner", &self.owner)
            .field("id", &self.id)
            .field("bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// A queued message as handed out for pickup.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// The recipient key it was queued for.
    pub recipient: String,
    /// Its id (what `messages-received` lists).
    pub id: String,
    /// The packed message.
    pub body: Vec<u8>,
    /// When it arrived, milliseconds since the Unix epoch.
    pub received_at_ms: u64,
}

impl fmt::Debug for StoredMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredMessage")
            .field("recipient", &self.recipient)
            .field("id", &self.id)
            .field("bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// What [`Storage::store`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// The message is now queued (durably).
    Stored,
    /// The same `(recipient, id)` is queued, or was acknowledged and has not expired yet;
    /// nothing changed.
    Duplicate,
}

/// Per-recipient limits, checked when a message is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Most messages a queue may hold.
    pub max_messages: u64,
    /// Most bytes (sum of message sizes) a queue may hold.
    pub max_bytes: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            max_messages: 10_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Counts for status replies and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Queued messages (including expired ones not yet swept).
    pub messages: u64,
    /// Their total size.
    pub bytes: u64,
    /// Arrival time of the oldest, milliseconds since the Unix epoch.
    pub oldest_received_at_ms: Option<u64>,
    /// Arrival time of the newest, milliseconds since the Unix epoch.
    pub newest_received_at_ms: Option<u64>,
}

/// An event on the storage's notification stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// A message was queued for this recipient key (by this process or another).
    Stored {
        /// The recipient key.
        recipient: String,
        /// The granted DID that owns the key.
        owner: String,
    },
    /// Notifications may have been missed (listener reconnected, receiver lagged): every live
    /// connection should look at its queues again.
    Resync,
}

/// The storage every mediator component uses. Implementations must be cheap to share
/// (`Arc<dyn Storage>`) and safe to call from many tasks at once.
#[async_trait]
pub trait Storage: Send + Sync + fmt::Debug + 'static {
    /// `sqlite` or `postgres`, for logs and metrics.
    fn backend(&self) -> &'static str;

    /// Record a grant for `grant.did`. If the DID already holds one, it is kept and returned.
    async fn put_grant(&self, grant: &Grant) -> Result<Grant>;

    /// The grant of `did`, if any.
    async fn grant(&self, did: &str) -> Result<Option<Grant>>;

    /// Remove the grant of `did` with its keys and their queues. Answers whether one existed.
    async fn remove_grant(&self, did: &str) -> Result<bool>;

    /// Apply keylist updates for the granted `did`, in order. Fails with
    /// [`crate::ErrorKind::Forbidden`] when `did` holds no grant.
    async fn update_keylist(
        &self,
        did: &str,
        updates: &[KeylistUpdate],
    ) -> Result<Vec<KeylistResult>>;

    /// The keys of `did`, sorted, paged; plus the total count.
    async fn keylist(&self, did: &str, offset: u64, limit: u64) -> Result<(Vec<String>, u64)>;

    /// The DID whose keylist holds `key`.
    async fn key_owner(&self, key: &str) -> Result<Option<String>>;

    /// Where a forward to `next` (a DID or a DID URL) goes: the registered key and its owner.
    /// `next` itself when registered; else its DID when registered; else the first registered
    /// DID URL of that DID (a sender may name the DID where the device registered a key id).
    async fn find_recipient(&self, next: &str) -> Result<Option<(String, String)>>;

    /// Queue a message. Returns once it is durable. Fails with
    /// [`crate::ErrorKind::QuotaExceeded`] when the queue is full.
    async fn store(&self, message: NewMessage, quota: Quota) -> Result<StoreOutcome>;

    /// Up to `limit` unexpired messages of the given recipients, oldest first. Deletes nothing.
    async fn fetch(
        &self,
        recipients: &[String],
        limit: usize,
        now_ms: u64,
    ) -> Result<Vec<StoredMessage>>;

    /// Delete the messages with these ids from the given recipients' queues (and no one
    /// else's), leaving tombstones so that the same ids are not stored again before they
    /// expire. Returns how many were deleted; unknown ids are ignored.
    async fn ack(&self, recipients: &[String], ids: &[String]) -> Result<u64>;

    /// Counts of the given recipients' queues.
    async fn queue_stats(&self, recipients: &[String]) -> Result<QueueStats>;

    /// Counts over every queue (for metrics).
    async fn totals(&self) -> Result<QueueStats>;

    /// Delete messages (and tombstones) whose expiry is at or before `now_ms`. Returns how
    /// many messages.
    async fn sweep_expired(&self, now_ms: u64) -> Result<u64>;

    /// A stream of [`Notification`]s. A lagging receiver should treat
    /// `RecvError::Lagged` like [`Notification::Resync`].
    fn subscribe(&self) -> broadcast::Receiver<Notification>;

    /// Finish pending writes and release the database (called at shutdown).
    async fn close(&self);
}

/// Which backend to open, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// An SQLite file.
    Sqlite {
        /// The database file.
        path: std::path::PathBuf,
    },
    /// A PostgreSQL server.
    Postgres {
        /// `postgres://user@host:port/db` or key=value form.
        url: String,
        /// Connections in the pool.
        pool_size: usize,
    },
}

/// Open (and migrate) the configured backend.
pub async fn open(config: &StorageConfig) -> Result<Arc<dyn Storage>> {
    Ok(match config {
        StorageConfig::Sqlite { path } => Arc::new(sqlite::SqliteStorage::open(path).await?),
        StorageConfig::Postgres { url, pool_size } => {
            Arc::new(postgres::PostgresStorage::connect(url, *pool_size).await?)
        }
    })
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The DID part of a key (`did:x:y#key-1` → `did:x:y`), stored next to each key so that a
/// forward naming the DID finds a key registered as a DID URL.
pub(crate) fn key_did(key: &str) -> &str {
    didcomm_edge::did::did_of(key)
}

/// Saturating conversion for database integer columns.
pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Saturating conversion from database integer columns.
pub(crate) fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// How many store requests one transaction may carry (group commit).
pub(crate) const MAX_BATCH: usize = 512;

/// The capacity of the notification broadcast.
pub(crate) const NOTIFY_CAPACITY: usize = 4096;
