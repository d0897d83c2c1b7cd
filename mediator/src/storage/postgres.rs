//! The scale-out backend: PostgreSQL, shared by several mediator processes.
//!
//! - Stores are batched like SQLite's (group commit): one task collects waiting store requests
//!   and runs them in one transaction, pipelined on one connection, through the
//!   `didcomm_edge_store` function (dedup + quota + insert + counters, atomically per message).
//!   Requests are sorted by recipient so concurrent batches of several instances lock queue rows
//!   in the same order; a batch that still meets a deadlock or serialization failure is retried.
//! - Durability is PostgreSQL's `synchronous_commit` (on by default): the commit returns once
//!   the WAL is flushed.
//! - Each batch `NOTIFY`s the recipients it stored for (delivered at commit, to every process
//!   that `LISTEN`s, this one included): a device connected live to instance B hears of a
//!   message forwarded to instance A. The listener reconnects by itself and then announces
//!   [`Notification::Resync`], since notifications sent while it was away are lost.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, Pool, Runtime};
use futures_util::future::join_all;
use std::sync::Mutex;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, NoTls};

use super::{
    key_did, to_i64, to_u64, Grant, KeylistAction, KeylistResult, KeylistUpdate, NewMessage,
    Notification, QueueStats, Quota, Storage, StoreOutcome, StoredMessage, MAX_BATCH,
    NOTIFY_CAPACITY,
};
use crate::error::{Error, ErrorKind, Result};

/// The notification channel.
const CHANNEL: &str = "didcomm_edge_stored";

/// `NOTIFY` payloads must stay under 8000 bytes; longer keys announce a resync instead.
const MAX_NOTIFY_PAYLOAD: usize = 7000;

/// Lock id that serializes migrations of concurrently starting instances.
const MIGRATION_LOCK: i64 = 0x6469_6463_6f6d;

/// Schema migrations; `schema_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE grants (
    did text PRIMARY KEY,
    routing_did text NOT NULL,
    granted_at bigint NOT NULL
);
CREATE TABLE keys (
    key text PRIMARY KEY,
    did text NOT NULL
);
CREATE INDEX keys_by_did ON keys (did, key);
CREATE TABLE messages (
    seq bigserial PRIMARY KEY,
    recipient text NOT NULL,
    id text NOT NULL,
    body bytea NOT NULL,
    size bigint NOT NULL,
    received_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    UNIQUE (recipient, id)
);
CREATE INDEX messages_by_queue ON messages (recipient, received_at, seq);
CREATE INDEX messages_by_expiry ON messages (expires_at);
CREATE TABLE queues (
    recipient text PRIMARY KEY,
    count bigint NOT NULL,
    bytes bigint NOT NULL
);
-- 0 stored, 1 duplicate, 2 over quota.
CREATE FUNCTION didcomm_edge_store(p_recipient text, p_id text, p_body bytea,
        p_received bigint, p_expires bigint, p_max_count bigint, p_max_bytes bigint)
    RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    q_count bigint;
    q_bytes bigint;
    inserted integer;
BEGIN
    INSERT INTO queues (recipient, count, bytes) VALUES (p_recipient, 0, 0)
        ON CONFLICT (recipient) DO NOTHING;
    SELECT count, bytes INTO q_count, q_bytes FROM queues
        WHERE recipient = p_recipient FOR UPDATE;
    IF EXISTS (SELECT 1 FROM messages WHERE recipient = p_recipient AND id = p_id) THEN
        RETURN 1;
    END IF;
    IF q_count + 1 > p_max_count OR q_bytes + length(p_body) > p_max_bytes THEN
        RETURN 2;
    END IF;
    INSERT INTO messages (recipient, id, body, size, received_at, expires_at)
        VALUES (p_recipient, p_id, p_body, length(p_body), p_received, p_expires)
        ON CONFLICT (recipient, id) DO NOTHING;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    IF inserted = 0 THEN
        RETURN 1;
    END IF;
    UPDATE queues SET count = count + 1, bytes = bytes + length(p_body)
        WHERE recipient = p_recipient;
    RETURN 0;
END $$;
",
    r"
CREATE TABLE tombstones (
    recipient text NOT NULL,
    id text NOT NULL,
    expires_at bigint NOT NULL,
    PRIMARY KEY (recipient, id)
);
CREATE INDEX tombstones_by_expiry ON tombstones (expires_at);
ALTER TABLE keys ADD COLUMN key_did text;
CREATE INDEX keys_by_key_did ON keys (key_did);
-- As before, and an acknowledged id (a tombstone) counts as a duplicate until it expires.
CREATE OR REPLACE FUNCTION didcomm_edge_store(p_recipient text, p_id text, p_body bytea,
        p_received bigint, p_expires bigint, p_max_count bigint, p_max_bytes bigint)
    RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    q_count bigint;
    q_bytes bigint;
    inserted integer;
BEGIN
    INSERT INTO queues (recipient, count, bytes) VALUES (p_recipient, 0, 0)
        ON CONFLICT (recipient) DO NOTHING;
    SELECT count, bytes INTO q_count, q_bytes FROM queues
        WHERE recipient = p_recipient FOR UPDATE;
    IF EXISTS (SELECT 1 FROM messages WHERE recipient = p_recipient AND id = p_id)
        OR EXISTS (SELECT 1 FROM tombstones WHERE recipient = p_recipient AND id = p_id) THEN
        RETURN 1;
    END IF;
    IF q_count + 1 > p_max_count OR q_bytes + length(p_body) > p_max_bytes THEN
        RETURN 2;
    END IF;
    INSERT INTO messages (recipient, id, body, size, received_at, expires_at)
        VALUES (p_recipient, p_id, p_body, length(p_body), p_received, p_expires)
        ON CONFLICT (recipient, id) DO NOTHING;
    GET DIAGNOSTICS inserted = ROW_COUNT;
    IF inserted = 0 THEN
        RETURN 1;
    END IF;
    UPDATE queues SET count = count + 1, bytes = bytes + length(p_body)
        WHERE recipient = p_recipient;
    RETURN 0;
END $$;
",
];

fn pg_error(e: &tokio_postgres::Error) -> Error {
    // The Display of a server error is its message (no parameters, so no message contents).
    Error::storage(format!("postgres: {e}"))
}

fn pool_error(e: &deadpool_postgres::PoolError) -> Error {
    Error::storage(format!("postgres pool: {e}"))
}

fn closed() -> Error {
    Error::new(ErrorKind::Unavailable, "the storage is closed")
}

fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

struct StoreRequest {
    message: NewMessage,
    quota: Quota,
    reply: oneshot::Sender<Result<StoreOutcome>>,
}

enum WriteOp {
    Store(StoreRequest),
    Close(oneshot::Sender<()>),
}

/// The PostgreSQL backend.
pub struct PostgresStorage {
    pool: Pool,
    writer: mpsc::Sender<WriteOp>,
    notify: broadcast::Sender<Notification>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage").finish_non_exhaustive()
    }
}

impl PostgresStorage {
    /// Connect to `url`, migrate the schema, start the store batcher and the listener.
    pub async fn connect(url: &str, pool_size: usize) -> Result<PostgresStorage> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|_| Error::config("the PostgreSQL URL does not parse"))?;
        let pool = Pool::builder(Manager::new(config.clone(), NoTls))
            .max_size(pool_size.max(2))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| Error::config(format!("PostgreSQL pool: {e}")))?;
        migrate(&pool).await?;
        let (notify, _) = broadcast::channel(NOTIFY_CAPACITY);
        let (ready_tx, ready_rx) = oneshot::channel();
        let listener = tokio::spawn(listen(config, notify.clone(), Some(ready_tx)));
        // Wait for the first LISTEN so nothing stored after `connect` returns goes unheard.
        match tokio::time::timeout(Duration::from_secs(15), ready_rx).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                listener.abort();
                return Err(e);
            }
            _ => {
                listener.abort();
                return Err(Error::storage("the PostgreSQL listener did not start"));
            }
        }
        let (writer, rx) = mpsc::channel(MAX_BATCH * 8);
        tokio::spawn(store_batcher(pool.clone(), rx));
        Ok(PostgresStorage {
            pool,
            writer,
            notify,
            listener: Mutex::new(Some(listener)),
        })
    }

    fn stop_listener(&self) {
        if let Some(listener) = self.listener.lock().ok().and_then(|mut l| l.take()) {
            listener.abort();
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Client> {
        self.pool.get().await.map_err(|e| pool_error(&e))
    }
}

impl Drop for PostgresStorage {
    fn drop(&mut self) {
        // The listener task would otherwise hold its connection forever.
        self.stop_listener();
    }
}

async fn migrate(pool: &Pool) -> Result<()> {
    let mut client = pool.get().await.map_err(|e| pool_error(&e))?;
    let tx = client.transaction().await.map_err(|e| pg_error(&e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| pg_error(&e))?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
        .await
        .map_err(|e| pg_error(&e))?;
    let row = tx
        .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
        .await
        .map_err(|e| pg_error(&e))?;
    let done: i32 = row.get(0);
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(done).unwrap_or(0))
    {
        tx.batch_execute(sql)
            .await
            .map_err(|e| pg_error(&e).context(format!("migration {}", index + 1)))?;
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(|e| pg_error(&e))?;
    }
    // Keys registered before `key_did` existed get theirs (DID syntax is parsed in Rust).
    let old = tx
        .query("SELECT key FROM keys WHERE key_did IS NULL", &[])
        .await
        .map_err(|e| pg_error(&e))?;
    for row in old {
        let key: String = row.get(0);
        tx.execute(
            "UPDATE keys SET key_did = $2 WHERE key = $1",
            &[&key, &key_did(&key)],
        )
        .await
        .map_err(|e| pg_error(&e))?;
    }
    tx.commit().await.map_err(|e| pg_error(&e))
}

/// The `NOTIFY` payload announcing a stored message: `[owner, recipient]` as JSON.
fn notify_payload(owner: &str, recipient: &str) -> String {
    serde_json::json!([owner, recipient]).to_string()
}

/// Read a `NOTIFY` payload; anything unexpected means "look at every queue".
fn parse_payload(payload: &str) -> Notification {
    match serde_json::from_str::<(String, String)>(payload) {
        Ok((owner, recipient)) => Notification::Stored { recipient, owner },
        Err(_) => Notification::Resync,
    }
}

/// Hold a `LISTEN` connection forever, reconnecting with backoff.
async fn listen(
    config: tokio_postgres::Config,
    notify: broadcast::Sender<Notification>,
    mut ready: Option<oneshot::Sender<Result<()>>>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (events_tx, mut events) = mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    loop {
                        let message =
                            futures_util::future::poll_fn(|cx| connection.poll_message(cx)).await;
                        match message {
                            Some(Ok(AsyncMessage::Notification(n))) => {
                                let _ = events_tx.send(n.payload().to_owned());
                            }
                            Some(Ok(_)) => {}
                            Some(Err(_)) | None => return,
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        backoff = Duration::from_millis(200);
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(Ok(()));
                        } else {
                            let _ = notify.send(Notification::Resync);
                            tracing::info!("postgres listener reconnected");
                        }
                        while let Some(payload) = events.recv().await {
                            let _ = notify.send(parse_payload(&payload));
                        }
                        tracing::warn!("postgres listener connection lost");
                    }
                    Err(e) => {
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(Err(pg_error(&e)));
                            driver.abort();
                            return;
                        }
                    }
                }
                driver.abort();
            }
            Err(e) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(pg_error(&e)));
                    return;
                }
                tracing::warn!(error = %e, "postgres listener cannot connect");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn store_batcher(pool: Pool, mut rx: mpsc::Receiver<WriteOp>) {
    let mut batch: Vec<StoreRequest> = Vec::with_capacity(MAX_BATCH);
    let mut close: Option<oneshot::Sender<()>> = None;
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(op) = next.take() {
            match op {
                WriteOp::Store(request) => batch.push(request),
                WriteOp::Close(reply) => close = Some(reply),
            }
            if batch.len() < MAX_BATCH && close.is_none() {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            batch.sort_by(|a, b| a.message.recipient.cmp(&b.message.recipient));
            let mut outcome = run_store_batch(&pool, &batch).await;
            for _ in 0..3 {
                match &outcome {
                    Err(Retry::Yes(_)) => outcome = run_store_batch(&pool, &batch).await,
                    _ => break,
                }
            }
            match outcome {
                Ok(results) => {
                    for (request, result) in batch.drain(..).zip(results) {
                        let _ = request.reply.send(result);
                    }
                }
                Err(Retry::Yes(e) | Retry::No(e)) => {
                    for request in batch.drain(..) {
                        let _ = request.reply.send(Err(e.clone()));
                    }
                }
            }
        }
        if let Some(reply) = close.take() {
            let _ = reply.send(());
            return;
        }
    }
}

enum Retry {
    Yes(Error),
    No(Error),
}

fn classify(e: &tokio_postgres::Error) -> Retry {
    if retryable(e) {
        Retry::Yes(pg_error(e))
    } else {
        Retry::No(pg_error(e))
    }
}

async fn run_store_batch(
    pool: &Pool,
    batch: &[StoreRequest],
) -> std::result::Result<Vec<Result<StoreOutcome>>, Retry> {
    let mut client = pool.get().await.map_err(|e| Retry::No(pool_error(&e)))?;
    let tx = client.transaction().await.map_err(|e| classify(&e))?;
    let statement = tx
        .prepare_cached("SELECT didcomm_edge_store($1, $2, $3, $4, $5, $6, $7)")
        .await
        .map_err(|e| classify(&e))?;
    let numbers: Vec<[i64; 4]> = batch
        .iter()
        .map(|r| {
            [
                to_i64(r.message.received_at_ms),
                to_i64(r.message.expires_at_ms),
                to_i64(r.quota.max_messages),
                to_i64(r.quota.max_bytes),
            ]
        })
        .collect();
    let params: Vec<[&(dyn ToSql + Sync); 7]> = batch
        .iter()
        .zip(&numbers)
        .map(|(r, [received, expires, max_count, max_bytes])| {
            [
                &r.message.recipient as &(dyn ToSql + Sync),
                &r.message.id,
                &r.message.body,
                received,
                expires,
                max_count,
                max_bytes,
            ]
        })
        .collect();
    // Sent together: tokio-postgres pipelines concurrent queries on one connection.
    let rows = join_all(params.iter().map(|p| tx.query_one(&statement, p))).await;
    let mut results = Vec::with_capacity(batch.len());
    let mut stored = BTreeSet::new();
    for (request, row) in batch.iter().zip(rows) {
        let code: i32 = row.map_err(|e| classify(&e))?.get(0);
        results.push(match code {
            0 => {
                stored.insert((
                    request.message.owner.as_str(),
                    request.message.recipient.as_str(),
                ));
                Ok(StoreOutcome::Stored)
            }
            1 => Ok(StoreOutcome::Duplicate),
            _ => Err(Error::new(
                ErrorKind::QuotaExceeded,
                format!(
                    "the queue is full (limits {} messages / {} bytes)",
                    request.quota.max_messages, request.quota.max_bytes
                ),
            )),
        });
    }
    for (owner, recipient) in stored {
        let mut payload = notify_payload(owner, recipient);
        if payload.len() > MAX_NOTIFY_PAYLOAD {
            payload.clear();
        }
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])
            .await
            .map_err(|e| classify(&e))?;
    }
    tx.commit().await.map_err(|e| classify(&e))?;
    Ok(results)
}

fn row_grant(row: &tokio_postgres::Row) -> Grant {
    Grant {
        did: row.get(0),
        routing_did: row.get(1),
        granted_at_ms: to_u64(row.get(2)),
    }
}

#[async_trait]
impl Storage for PostgresStorage {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn put_grant(&self, grant: &Grant) -> Result<Grant> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO grants (did, routing_did, granted_at) VALUES ($1, $2, $3)
                 ON CONFLICT (did) DO NOTHING",
                &[&grant.did, &grant.routing_did, &to_i64(grant.granted_at_ms)],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        let row = client
            .query_one(
                "SELECT did, routing_did, granted_at FROM grants WHERE did = $1",
                &[&grant.did],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        Ok(row_grant(&row))
    }

    async fn grant(&self, did: &str) -> Result<Option<Grant>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT did, routing_did, granted_at FROM grants WHERE did = $1",
                &[&did],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        Ok(row.as_ref().map(row_grant))
    }

    async fn remove_grant(&self, did: &str) -> Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg_error(&e))?;
        tx.execute(
            "DELETE FROM messages WHERE recipient IN (SELECT key FROM keys WHERE did = $1)",
            &[&did],
        )
        .await
        .map_err(|e| pg_error(&e))?;
        tx.execute(
            "DELETE FROM queues WHERE recipient IN (SELECT key FROM keys WHERE did = $1)",
            &[&did],
        )
        .await
        .map_err(|e| pg_error(&e))?;
        tx.execute(
            "DELETE FROM tombstones WHERE recipient IN (SELECT key FROM keys WHERE did = $1)",
            &[&did],
        )
        .await
        .map_err(|e| pg_error(&e))?;
        tx.execute("DELETE FROM keys WHERE did = $1", &[&did])
            .await
            .map_err(|e| pg_error(&e))?;
        let removed = tx
            .execute("DELETE FROM grants WHERE did = $1", &[&did])
            .await
            .map_err(|e| pg_error(&e))?;
        tx.commit().await.map_err(|e| pg_error(&e))?;
        Ok(removed > 0)
    }

    async fn update_keylist(
        &self,
        did: &str,
        updates: &[KeylistUpdate],
    ) -> Result<Vec<KeylistResult>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg_error(&e))?;
        let granted = tx
            .query_opt("SELECT 1 FROM grants WHERE did = $1 FOR SHARE", &[&did])
            .await
            .map_err(|e| pg_error(&e))?;
        if granted.is_none() {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "keylist update from a DID without a mediation grant",
            ));
        }
        let mut results = Vec::with_capacity(updates.len());
        for update in updates {
            let result = match update.action {
                KeylistAction::Add => {
                    let inserted = tx
                        .execute(
                            "INSERT INTO keys (key, did, key_did) VALUES ($1, $2, $3)
                             ON CONFLICT (key) DO NOTHING",
                            &[&update.key, &did, &key_did(&update.key)],
                        )
                        .await
                        .map_err(|e| pg_error(&e))?;
                    if inserted > 0 {
                        KeylistResult::Success
                    } else {
                        let owner: Option<String> = tx
                            .query_opt("SELECT did FROM keys WHERE key = $1", &[&update.key])
                            .await
                            .map_err(|e| pg_error(&e))?
                            .map(|r| r.get(0));
                        if owner.as_deref() == Some(did) {
                            KeylistResult::NoChange
                        } else {
                            KeylistResult::OwnedByAnother
                        }
                    }
                }
                KeylistAction::Remove => {
                    let owner: Option<String> = tx
                        .query_opt(
                            "SELECT did FROM keys WHERE key = $1 FOR UPDATE",
                            &[&update.key],
                        )
                        .await
                        .map_err(|e| pg_error(&e))?
                        .map(|r| r.get(0));
                    match owner.as_deref() {
                        None => KeylistResult::NoChange,
                        Some(other) if other != did => KeylistResult::OwnedByAnother,
                        Some(_) => {
                            for sql in [
                                "DELETE FROM keys WHERE key = $1",
                                "DELETE FROM messages WHERE recipient = $1",
                                "DELETE FROM queues WHERE recipient = $1",
                                "DELETE FROM tombstones WHERE recipient = $1",
                            ] {
                                tx.execute(sql, &[&update.key])
                                    .await
                                    .map_err(|e| pg_error(&e))?;
                            }
                            KeylistResult::Success
                        }
                    }
                }
            };
            results.push(result);
        }
        tx.commit().await.map_err(|e| pg_error(&e))?;
        Ok(results)
    }

    async fn keylist(&self, did: &str, offset: u64, limit: u64) -> Result<(Vec<String>, u64)> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT key FROM keys WHERE did = $1 ORDER BY key LIMIT $2 OFFSET $3",
                &[&did, &to_i64(limit), &to_i64(offset)],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        let total: i64 = client
            .query_one("SELECT count(*) FROM keys WHERE did = $1", &[&did])
            .await
            .map_err(|e| pg_error(&e))?
            .get(0);
        Ok((rows.iter().map(|r| r.get(0)).collect(), to_u64(total)))
    }

    async fn key_owner(&self, key: &str) -> Result<Option<String>> {
        let client = self.client().await?;
        Ok(client
            .query_opt("SELECT did FROM keys WHERE key = $1", &[&key])
            .await
            .map_err(|e| pg_error(&e))?
            .map(|r| r.get(0)))
    }

    async fn find_recipient(&self, next: &str) -> Result<Option<(String, String)>> {
        let client = self.client().await?;
        let did = key_did(next);
        Ok(client
            .query_opt(
                "SELECT key, did FROM keys WHERE key = $1 OR key = $2 OR key_did = $2
                 ORDER BY CASE WHEN key = $1 THEN 0 WHEN key = $2 THEN 1 ELSE 2 END, key
                 LIMIT 1",
                &[&next, &did],
            )
            .await
            .map_err(|e| pg_error(&e))?
            .map(|r| (r.get(0), r.get(1))))
    }

    async fn store(&self, message: NewMessage, quota: Quota) -> Result<StoreOutcome> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(WriteOp::Store(StoreRequest {
                message,
                quota,
                reply,
            }))
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    async fn fetch(
        &self,
        recipients: &[String],
        limit: usize,
        now_ms: u64,
    ) -> Result<Vec<StoredMessage>> {
        if recipients.is_empty() || limit == 0 {
            return Ok(vec![]);
        }
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT recipient, id, body, received_at FROM messages
                 WHERE recipient = ANY($1) AND expires_at > $2
                 ORDER BY received_at, seq LIMIT $3",
                &[&recipients, &to_i64(now_ms), &to_i64(limit as u64)],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        Ok(rows
            .iter()
            .map(|r| StoredMessage {
                recipient: r.get(0),
                id: r.get(1),
                body: r.get(2),
                received_at_ms: to_u64(r.get(3)),
            })
            .collect())
    }

    async fn ack(&self, recipients: &[String], ids: &[String]) -> Result<u64> {
        if recipients.is_empty() || ids.is_empty() {
            return Ok(0);
        }
        let client = self.client().await?;
        let rows = client
            .query(
                "WITH gone AS (
                     DELETE FROM messages WHERE recipient = ANY($1) AND id = ANY($2)
                     RETURNING recipient, id, size, expires_at
                 ), tombs AS (
                     INSERT INTO tombstones (recipient, id, expires_at)
                     SELECT recipient, id, expires_at FROM gone
                     ON CONFLICT (recipient, id) DO NOTHING
                 ), per AS (
                     SELECT recipient, count(*) AS n, sum(size)::bigint AS b
                     FROM gone GROUP BY recipient
                 )
                 UPDATE queues q SET count = greatest(q.count - per.n, 0),
                                     bytes = greatest(q.bytes - per.b, 0)
                 FROM per WHERE q.recipient = per.recipient
                 RETURNING per.n",
                &[&recipients, &ids],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        Ok(rows.iter().map(|r| to_u64(r.get(0))).sum())
    }

    async fn queue_stats(&self, recipients: &[String]) -> Result<QueueStats> {
        if recipients.is_empty() {
            return Ok(QueueStats::default());
        }
        let client = self.client().await?;
        let counts = client
            .query_one(
                "SELECT coalesce(sum(count), 0)::bigint, coalesce(sum(bytes), 0)::bigint
                 FROM queues WHERE recipient = ANY($1)",
                &[&recipients],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        let times = client
            .query_one(
                "SELECT min(received_at), max(received_at) FROM messages WHERE recipient = ANY($1)",
                &[&recipients],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        Ok(QueueStats {
            messages: to_u64(counts.get(0)),
            bytes: to_u64(counts.get(1)),
            oldest_received_at_ms: times.get::<_, Option<i64>>(0).map(to_u64),
            newest_received_at_ms: times.get::<_, Option<i64>>(1).map(to_u64),
        })
    }

    async fn totals(&self) -> Result<QueueStats> {
        let client = self.client().await?;
        let counts = client
            .query_one(
                "SELECT coalesce(sum(count), 0)::bigint, coalesce(sum(bytes), 0)::bigint FROM queues",
                &[],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        Ok(QueueStats {
            messages: to_u64(counts.get(0)),
            bytes: to_u64(counts.get(1)),
            oldest_received_at_ms: None,
            newest_received_at_ms: None,
        })
    }

    async fn sweep_expired(&self, now_ms: u64) -> Result<u64> {
        let client = self.client().await?;
        let mut total = 0;
        loop {
            let rows = client
                .query(
                    "WITH gone AS (
                         DELETE FROM messages WHERE seq IN
                             (SELECT seq FROM messages WHERE expires_at <= $1 LIMIT 5000)
                         RETURNING recipient, size
                     ), per AS (
                         SELECT recipient, count(*) AS n, sum(size)::bigint AS b
                         FROM gone GROUP BY recipient
                     )
                     UPDATE queues q SET count = greatest(q.count - per.n, 0),
                                         bytes = greatest(q.bytes - per.b, 0)
                     FROM per WHERE q.recipient = per.recipient
                     RETURNING per.n",
                    &[&to_i64(now_ms)],
                )
                .await
                .map_err(|e| pg_error(&e))?;
            let step: u64 = rows.iter().map(|r| to_u64(r.get(0))).sum();
            total += step;
            let tombstones = client
                .execute(
                    "DELETE FROM tombstones WHERE (recipient, id) IN
                         (SELECT recipient, id FROM tombstones WHERE expires_at <= $1 LIMIT 5000)",
                    &[&to_i64(now_ms)],
                )
                .await
                .map_err(|e| pg_error(&e))?;
            if step < 5000 && tombstones < 5000 {
                return Ok(total);
            }
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.notify.subscribe()
    }

    async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.writer.send(WriteOp::Close(reply)).await.is_ok() {
            let _ = done.await;
        }
        self.stop_listener();
        self.pool.close();
    }
}
