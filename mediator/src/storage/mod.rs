//! Storage: mediation grants, keylists and per-recipient message queues behind one async trait,
//! with three backends: [`sqlite::SqliteStorage`] (embedded, the default),
//! [`postgres::PostgresStorage`] (several mediator processes on one database) and
//! [`memory::MemoryStorage`] (nothing persisted: tests, the demo, embedding).
//!
//! The contract every backend keeps (tested with the same test bodies against each):
//! - [`Storage::store`] returns only once the message is durable (committed and synced; in
//!   memory: visible to every later call, and lost with the process).
//! - A message is identified by `(recipient, id)`; storing the same pair again is a no-op that
//!   answers [`StoreOutcome::Duplicate`] (a sender's retry never queues a copy), also after the
//!   message was acknowledged: an acknowledged id leaves a tombstone until the message's expiry.
//! - A message leaves its queue only through [`Storage::ack`] (the device's `messages-received`)
//!   or because it expired ([`Storage::sweep_expired`]); fetching never deletes.
//! - One owner per DID: a DID and all of its DID URLs are one namespace, held by one granted
//!   DID while it holds a key or a queued message there (see [`keylist`]). Keylist updates,
//!   forward lookups and stores all check it inside their write (or read) against the
//!   `namespaces` table, so no order of concurrent requests can cross owners.
//! - Each queue has a count and byte quota, each device (all keys of one owner) another, and
//!   all queues together a byte budget; all checked atomically with the insert.
//! - A device's key limit is checked inside the keylist write.
//! - Deliveries are bounded in messages and bytes, but carry at least one message.
//! - Every stored message is announced on [`Storage::subscribe`], to every process sharing the
//!   database (PostgreSQL: `LISTEN/NOTIFY`; SQLite and memory: one process, an in-process
//!   broadcast).

pub mod keylist;
pub mod memory;
pub mod postgres;
pub mod sqlite;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use didcomm_edge::AttachmentForm;
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
    /// The key, or its DID's namespace, is held by another DID: refused (`client_error`).
    OwnedByAnother,
    /// The requester already holds as many keys as it may (`server_error`).
    KeyLimit,
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
    /// The packed message, opaque to the mediator: the bytes the sender attached.
    pub body: Vec<u8>,
    /// How the forward attached it (and so how it is delivered).
    pub form: AttachmentForm,
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
    /// The packed message, as it was forwarded.
    pub body: Vec<u8>,
    /// How the forward attached it.
    pub form: AttachmentForm,
    /// When it arrived, milliseconds since the Unix epoch.
    pub received_at_ms: u64,
}

/// The `form` column: how a stored message was attached (0 base64, 1 json; rows from before
/// the column are 0, which is how they were always delivered).
pub(crate) fn form_code(form: AttachmentForm) -> i16 {
    match form {
        AttachmentForm::Base64 => 0,
        AttachmentForm::Json => 1,
    }
}

/// The form a `form` column value stands for.
pub(crate) fn form_of_code(code: i16) -> AttachmentForm {
    if code == 1 {
        AttachmentForm::Json
    } else {
        AttachmentForm::Base64
    }
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

/// Limits checked when a message is stored, atomically with the insert: per queue (one
/// recipient key), per device (every queue of the key's owner) and over every queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Most messages a queue may hold.
    pub max_messages: u64,
    /// Most bytes (sum of message sizes) a queue may hold.
    pub max_bytes: u64,
    /// Most messages all queues of one device (owner) may hold together.
    pub device_max_messages: u64,
    /// Most bytes all queues of one device may hold together.
    pub device_max_bytes: u64,
    /// Most bytes all queues of the mediator may hold together (the disk budget).
    pub total_max_bytes: u64,
}

impl Quota {
    /// No limit at all (tests, tools).
    pub const UNLIMITED: Quota = Quota {
        max_messages: u64::MAX,
        max_bytes: u64::MAX,
        device_max_messages: u64::MAX,
        device_max_bytes: u64::MAX,
        total_max_bytes: u64::MAX,
    };
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            max_messages: 10_000,
            max_bytes: 64 * 1024 * 1024,
            device_max_messages: 50_000,
            device_max_bytes: 256 * 1024 * 1024,
            total_max_bytes: 4 * 1024 * 1024 * 1024,
        }
    }
}

/// Which limit refused a store (the reason of its [`crate::ErrorKind::QuotaExceeded`]).
pub(crate) fn quota_error(which: QuotaRefusal, quota: &Quota) -> crate::error::Error {
    let reason = match which {
        QuotaRefusal::Queue => format!(
            "the recipient's queue is full (limits {} messages / {} bytes)",
            quota.max_messages, quota.max_bytes
        ),
        QuotaRefusal::Device => format!(
            "the recipient device's queues are full (limits {} messages / {} bytes)",
            quota.device_max_messages, quota.device_max_bytes
        ),
        QuotaRefusal::Total => format!(
            "the mediator's storage budget is used up ({} bytes)",
            quota.total_max_bytes
        ),
    };
    crate::error::Error::new(crate::ErrorKind::QuotaExceeded, reason)
}

/// The limit a store met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuotaRefusal {
    Queue,
    Device,
    Total,
}

/// A store whose recipient's namespace is now held by another DID than the one the forward
/// was resolved for (the key changed hands in between): refused, never re-bound.
pub(crate) fn moved_recipient() -> crate::error::Error {
    crate::error::Error::new(
        crate::ErrorKind::UnknownRecipient,
        "no mediation grant covers the forward's recipient any more",
    )
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

/// A message waiting in the outbox to be POSTed to an endpoint (outbound delivery, see
/// [`crate::outbound`]): already packed and routed, opaque to the storage.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// Unique in the outbox (base64url SHA-256 of destination and body: a second put of the
    /// same message to the same endpoint is a duplicate).
    pub id: String,
    /// The endpoint URL it is POSTed to.
    pub destination: String,
    /// The packed (and routed) message.
    pub body: Vec<u8>,
    /// Delivery attempts started so far (a claim counts one).
    pub attempts: u32,
    /// When it was put, milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// When it is given up if still undelivered, milliseconds since the Unix epoch.
    pub expires_at_ms: u64,
}

impl fmt::Debug for OutboundMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the body.
        f.debug_struct("OutboundMessage")
            .field("id", &self.id)
            .field("attempts", &self.attempts)
            .field("bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// The bounds of the outbox, checked atomically with each put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxLimits {
    /// Most messages waiting for one destination URL.
    pub per_destination: u64,
    /// Most messages waiting in the whole outbox.
    pub total: u64,
}

/// The outbox refusal of a put over a bound.
pub(crate) fn outbox_full(per_destination: bool, limits: OutboxLimits) -> crate::error::Error {
    let reason = if per_destination {
        format!(
            "the outbox holds {} messages for this endpoint already",
            limits.per_destination
        )
    } else {
        format!("the outbox is full ({} messages)", limits.total)
    };
    crate::error::Error::new(crate::ErrorKind::QuotaExceeded, reason)
}

/// Where a device asked to be woken by a push (Push 1.0 `set-target`).
#[derive(Clone, PartialEq, Eq)]
pub struct PushTarget {
    /// The push service (`fcm`, `apns`, ...).
    pub platform: String,
    /// The device's token there (a credential of sorts: never logged).
    pub token: String,
}

impl fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushTarget")
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

/// Most outbox messages one claim hands out.
pub const MAX_CLAIM: usize = 256;

/// The storage every mediator component uses. Implementations must be cheap to share
/// (`Arc<dyn Storage>`) and safe to call from many tasks at once.
#[async_trait]
pub trait Storage: Send + Sync + fmt::Debug + 'static {
    /// `sqlite`, `postgres` or `memory`, for logs and metrics.
    fn backend(&self) -> &'static str;

    /// Record a grant for `grant.did`. If the DID already holds one, it is kept and returned.
    async fn put_grant(&self, grant: &Grant) -> Result<Grant>;

    /// The grant of `did`, if any.
    async fn grant(&self, did: &str) -> Result<Option<Grant>>;

    /// Remove the grant of `did` with its keys and their queues. Answers whether one existed.
    async fn remove_grant(&self, did: &str) -> Result<bool>;

    /// The grants whose DID sorts after `after` (all when `None`), in DID order, at most
    /// `limit` (capped at [`MAX_PAGE`]). The last DID of a page is the `after` of the next.
    async fn list_grants(&self, after: Option<&str>, limit: u64) -> Result<Vec<Grant>>;

    /// Delete every message queued for the keys of `did` (an operator's purge), with their
    /// tombstones; the grant and the keys stay. Returns how many messages were deleted.
    async fn purge_queues(&self, did: &str) -> Result<u64>;

    /// How many schema migrations the database has applied (the in-memory backend answers
    /// [`SCHEMA_VERSION`], the version this build writes).
    async fn schema_version(&self) -> Result<u32>;

    /// Whether the storage can serve requests now: a read answers and writes are accepted.
    /// [`crate::ErrorKind::Unavailable`] once closed; a storage error when the database
    /// does not answer.
    async fn ready(&self) -> Result<()>;

    /// Apply keylist updates for the granted `did`, in order, with no key limit. Fails with
    /// [`crate::ErrorKind::Forbidden`] when `did` holds no grant.
    async fn update_keylist(
        &self,
        did: &str,
        updates: &[KeylistUpdate],
    ) -> Result<Vec<KeylistResult>> {
        self.update_keylist_within(did, updates, u64::MAX).await
    }

    /// Apply keylist updates for the granted `did`, in order, in one transaction; an add
    /// that would give `did` more than `max_keys` keys answers [`KeylistResult::KeyLimit`]
    /// (counted inside the write). Each entry is decided by [`keylist::decide`].
    async fn update_keylist_within(
        &self,
        did: &str,
        updates: &[KeylistUpdate],
        max_keys: u64,
    ) -> Result<Vec<KeylistResult>>;

    /// The keys of `did`, sorted, paged; plus the total count.
    async fn keylist(&self, did: &str, offset: u64, limit: u64) -> Result<(Vec<String>, u64)>;

    /// The DID whose keylist holds `key`.
    async fn key_owner(&self, key: &str) -> Result<Option<String>>;

    /// Where a forward to `next` (a DID or a DID URL) goes: the registered key and its owner.
    /// `next` itself when registered; else its DID when registered; else the first registered
    /// DID URL of that DID (a sender may name the DID where the device registered a key id).
    /// Only keys of the namespace's owner are candidates: the lookup never crosses owners.
    async fn find_recipient(&self, next: &str) -> Result<Option<(String, String)>>;

    /// Queue a message. Returns once it is durable. Fails with
    /// [`crate::ErrorKind::QuotaExceeded`] when the queue, the device's queues or the global
    /// budget would overflow, and with [`crate::ErrorKind::UnknownRecipient`] when the
    /// recipient's namespace is held by another DID than `message.owner`. A store for a
    /// namespace nobody holds claims it for `message.owner` (a queued message holds it).
    async fn store(&self, message: NewMessage, quota: Quota) -> Result<StoreOutcome>;

    /// Up to `limit` unexpired messages of the given recipients, oldest first, whose sizes
    /// add up to at most `max_bytes`, except that the first is always included (a large
    /// message goes alone, it never blocks the queue). Deletes nothing.
    async fn fetch(
        &self,
        recipients: &[String],
        limit: usize,
        max_bytes: u64,
        now_ms: u64,
    ) -> Result<Vec<StoredMessage>> {
        self.fetch_excluding(recipients, limit, max_bytes, now_ms, &[])
            .await
    }

    /// As [`Storage::fetch`], skipping the messages whose ids are in `exclude` (those already
    /// pushed to a live connection and not yet acknowledged).
    async fn fetch_excluding(
        &self,
        recipients: &[String],
        limit: usize,
        max_bytes: u64,
        now_ms: u64,
        exclude: &[String],
    ) -> Result<Vec<StoredMessage>>;

    /// Delete the messages with these ids from the given recipients' queues (and no one
    /// else's), leaving tombstones so that the same ids are not stored again before they
    /// expire, in one set-based statement (at most [`MAX_ACK_IDS`] ids: more are refused with
    /// [`crate::ErrorKind::TooLarge`]). Returns how many were deleted; unknown ids are ignored.
    async fn ack(&self, recipients: &[String], ids: &[String]) -> Result<u64>;

    /// Counts of the given recipients' queues.
    async fn queue_stats(&self, recipients: &[String]) -> Result<QueueStats>;

    /// Counts over every queue (for metrics).
    async fn totals(&self) -> Result<QueueStats>;

    /// Delete messages (and tombstones) whose expiry is at or before `now_ms`. Returns how
    /// many messages.
    async fn sweep_expired(&self, now_ms: u64) -> Result<u64>;

    /// Put a message in the outbox, due at `due_at_ms`. Returns once it is durable.
    /// [`StoreOutcome::Duplicate`] when its id is there already (nothing changes);
    /// [`crate::ErrorKind::QuotaExceeded`] when its destination or the whole outbox holds as
    /// many as `limits` allow (checked atomically with the insert).
    async fn outbox_put(
        &self,
        message: &OutboundMessage,
        due_at_ms: u64,
        limits: OutboxLimits,
    ) -> Result<StoreOutcome>;

    /// Take up to `limit` (at most [`MAX_CLAIM`]) outbox messages due at `now_ms`, earliest
    /// first, and lease them: each is not due again before `lease_until_ms` (so another
    /// worker or instance does not take it meanwhile, and a crash only delays it), and its
    /// `attempts` grows by one. The messages are returned with the new count.
    async fn outbox_claim(
        &self,
        now_ms: u64,
        lease_until_ms: u64,
        limit: usize,
    ) -> Result<Vec<OutboundMessage>>;

    /// Make a claimed message due again at `due_at_ms` (its attempt failed). Unknown ids are
    /// ignored.
    async fn outbox_retry(&self, id: &str, due_at_ms: u64) -> Result<()>;

    /// Remove a message from the outbox (delivered, or given up). Answers whether it was there.
    async fn outbox_remove(&self, id: &str) -> Result<bool>;

    /// How many messages wait in the outbox.
    async fn outbox_depth(&self) -> Result<u64>;

    /// Register (or replace) the push target of the granted DID `did`.
    async fn set_push_target(&self, did: &str, target: &PushTarget, now_ms: u64) -> Result<()>;

    /// The push target of `did`, if any.
    async fn push_target(&self, did: &str) -> Result<Option<PushTarget>>;

    /// Remove the push target of `did`; answers whether there was one.
    async fn remove_push_target(&self, did: &str) -> Result<bool>;

    /// A stream of [`Notification`]s. A lagging receiver should treat
    /// `RecvError::Lagged` like [`Notification::Resync`].
    fn subscribe(&self) -> broadcast::Receiver<Notification>;

    /// Finish pending writes and release the database (called at shutdown).
    async fn close(&self);
}

/// Which backend to open, and where. Its `Debug` never shows the PostgreSQL URL (it may
/// carry a password).
#[derive(Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// Nothing persisted: everything is lost when the process ends (tests, the demo,
    /// embedding).
    Memory,
    /// An SQLite file.
    Sqlite {
        /// The database file.
        path: std::path::PathBuf,
    },
    /// A PostgreSQL server.
    Postgres {
        /// `postgres://user@host:port/db` or key=value form; `sslmode=require` asks for TLS.
        url: String,
        /// Connections in the pool.
        pool_size: usize,
        /// CA certificates (PEM) for TLS; the webpki roots when `None`.
        ca_file: Option<std::path::PathBuf>,
    },
}

impl fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageConfig::Memory => f.write_str("Memory"),
            StorageConfig::Sqlite { path } => f.debug_struct("Sqlite").field("path", path).finish(),
            StorageConfig::Postgres {
                pool_size, ca_file, ..
            } => f
                .debug_struct("Postgres")
                .field("url", &"<redacted>")
                .field("pool_size", pool_size)
                .field("ca_file", ca_file)
                .finish(),
        }
    }
}

/// Open (and migrate) the configured backend.
pub async fn open(config: &StorageConfig) -> Result<Arc<dyn Storage>> {
    Ok(match config {
        StorageConfig::Memory => Arc::new(memory::MemoryStorage::new()),
        StorageConfig::Sqlite { path } => Arc::new(sqlite::SqliteStorage::open(path).await?),
        StorageConfig::Postgres {
            url,
            pool_size,
            ca_file,
        } => Arc::new(
            postgres::PostgresStorage::connect_with(url, *pool_size, ca_file.as_deref()).await?,
        ),
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

/// How many of the sizes (oldest first) fit a delivery of `max_bytes`: those whose running
/// sum stays within it, and always the first one.
pub(crate) fn within_budget(sizes: impl IntoIterator<Item = u64>, max_bytes: u64) -> usize {
    let mut total = 0u64;
    let mut taken = 0usize;
    for size in sizes {
        total = total.saturating_add(size);
        if taken > 0 && total > max_bytes {
            break;
        }
        taken += 1;
    }
    taken
}

/// The schema version this build migrates databases to (the number of migration files of
/// each SQL backend under `mediator/migrations/`).
pub const SCHEMA_VERSION: u32 = 6;

/// Most grants one [`Storage::list_grants`] page holds.
pub const MAX_PAGE: u64 = 1000;

/// Most ids one [`Storage::ack`] takes (one statement, bounded parameters).
pub const MAX_ACK_IDS: usize = 10_000;

/// Most recipients one read or acknowledgement names.
pub const MAX_RECIPIENTS: usize = 10_000;

pub(crate) fn check_ack_size(recipients: &[String], ids: &[String]) -> Result<()> {
    if ids.len() > MAX_ACK_IDS || recipients.len() > MAX_RECIPIENTS {
        return Err(crate::error::Error::new(
            crate::ErrorKind::TooLarge,
            format!("an acknowledgement names at most {MAX_ACK_IDS} ids and {MAX_RECIPIENTS} keys"),
        ));
    }
    Ok(())
}

/// Whether a fetch for `recipients` of up to `limit` messages can find anything (`false`: answer
/// with nothing, without a query); more than [`MAX_RECIPIENTS`] is refused. The same for every
/// backend.
pub(crate) fn fetch_can_find(recipients: &[String], limit: usize) -> Result<bool> {
    if recipients.is_empty() || limit == 0 {
        return Ok(false);
    }
    if recipients.len() > MAX_RECIPIENTS {
        return Err(crate::error::Error::new(
            crate::ErrorKind::TooLarge,
            "too many recipients",
        ));
    }
    Ok(true)
}

/// How many store requests one transaction may carry (group commit).
pub(crate) const MAX_BATCH: usize = 512;

/// The capacity of the notification broadcast.
pub(crate) const NOTIFY_CAPACITY: usize = 4096;

/// The migrations still to run on a database that recorded `applied` of them, of the `known`
/// this binary carries (indices into its list). A database migrated by a newer mediator is
/// refused: this binary would write it by rules that no longer hold.
pub(crate) fn pending_migrations(applied: i64, known: usize) -> Result<std::ops::Range<usize>> {
    let applied = usize::try_from(applied.max(0)).unwrap_or(usize::MAX);
    if applied > known {
        return Err(crate::error::Error::new(
            crate::error::ErrorKind::Storage,
            format!(
                "the database's schema version {applied} is newer than this mediator's ({known}): \
                 run the newer mediator, or restore a backup made before the upgrade"
            ),
        ));
    }
    Ok(applied..known)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pending_migrations_refuse_a_newer_database() {
        assert_eq!(super::pending_migrations(0, 4).unwrap(), 0..4);
        assert_eq!(super::pending_migrations(4, 4).unwrap(), 4..4);
        assert_eq!(super::pending_migrations(-1, 4).unwrap(), 0..4);
        assert!(super::pending_migrations(5, 4).is_err());
    }

    use super::*;

    #[test]
    fn storage_config_debug_hides_the_url() {
        let config = StorageConfig::Postgres {
            url: "postgres://user:s3cret@db/x".into(),
            pool_size: 2,
            ca_file: None,
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn budgets_take_a_prefix_and_at_least_one() {
        assert_eq!(within_budget([], 10), 0);
        assert_eq!(within_budget([100, 1], 10), 1);
        assert_eq!(within_budget([4, 4, 4], 10), 2);
        assert_eq!(within_budget([4, 6, 1], 10), 2);
        assert_eq!(within_budget([u64::MAX, 1], u64::MAX), 2);
    }
}
