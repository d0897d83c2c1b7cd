//! The embedded backend: one SQLite file in WAL mode.
//!
//! Writes go to one dedicated writer thread that owns the only writing connection. It takes
//! every request waiting in its queue (up to [`MAX_BATCH`]) and applies them in **one**
//! transaction, each inside its own savepoint so one failing request does not fail the others;
//! then it commits once and answers every request (group commit). A commit with
//! `synchronous=FULL` fsyncs the WAL, so one fsync covers the whole batch: that is what lets
//! thousands of forwards per second be durable on one disk.
//!
//! Why `synchronous=FULL` and not `NORMAL`: with WAL, `NORMAL` survives a crash of the process
//! (kill -9) but may lose the last commits on power loss or an OS crash, because it syncs only at
//! checkpoints. The mediator tells the sender "202 Accepted" once `store` returns, and the issue
//! asks that a message is durable by then, so commits must reach the disk. Group commit pays
//! for it.
//!
//! Reads use a small pool of read-only connections on blocking threads; WAL lets them run
//! while the writer writes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension, Transaction};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::{
    key_did, to_i64, to_u64, Grant, KeylistAction, KeylistResult, KeylistUpdate, NewMessage,
    Notification, QueueStats, Quota, Storage, StoreOutcome, StoredMessage, MAX_BATCH,
    NOTIFY_CAPACITY,
};
use crate::error::{Error, ErrorKind, Result};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE grants (
    did TEXT PRIMARY KEY,
    routing_did TEXT NOT NULL,
    granted_at INTEGER NOT NULL
);
CREATE TABLE keys (
    key TEXT PRIMARY KEY,
    did TEXT NOT NULL
);
CREATE INDEX keys_by_did ON keys (did, key);
CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    recipient TEXT NOT NULL,
    id TEXT NOT NULL,
    body BLOB NOT NULL,
    size INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    UNIQUE (recipient, id)
);
CREATE INDEX messages_by_queue ON messages (recipient, received_at);
CREATE INDEX messages_by_expiry ON messages (expires_at);
CREATE TABLE queues (
    recipient TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    bytes INTEGER NOT NULL
) WITHOUT ROWID;
",
    r"
CREATE TABLE tombstones (
    recipient TEXT NOT NULL,
    id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (recipient, id)
) WITHOUT ROWID;
CREATE INDEX tombstones_by_expiry ON tombstones (expires_at);
ALTER TABLE keys ADD COLUMN key_did TEXT;
CREATE INDEX keys_by_key_did ON keys (key_did);
",
];

/// How many expired messages one sweep step deletes (keeps each write transaction short).
const SWEEP_STEP: i64 = 5000;

/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 4;

type Reply<T> = oneshot::Sender<Result<T>>;

/// A write request for the writer thread.
enum Op {
    Store {
        message: NewMessage,
        quota: Quota,
        reply: Reply<StoreOutcome>,
    },
    PutGrant {
        grant: Grant,
        reply: Reply<Grant>,
    },
    RemoveGrant {
        did: String,
        reply: Reply<bool>,
    },
    UpdateKeylist {
        did: String,
        updates: Vec<KeylistUpdate>,
        reply: Reply<Vec<KeylistResult>>,
    },
    Ack {
        recipients: Vec<String>,
        ids: Vec<String>,
        reply: Reply<u64>,
    },
    Sweep {
        now_ms: u64,
        reply: Reply<(u64, bool)>,
    },
    Close {
        reply: oneshot::Sender<()>,
    },
}

/// The SQLite backend.
pub struct SqliteStorage {
    path: PathBuf,
    writer: mpsc::Sender<Op>,
    readers: Arc<Readers>,
    notify: broadcast::Sender<Notification>,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn sql_error(e: &rusqlite::Error) -> Error {
    Error::storage(format!("sqlite: {e}"))
}

fn closed() -> Error {
    Error::new(ErrorKind::Unavailable, "the storage is closed")
}

impl SqliteStorage {
    /// Open (creating if needed) the database at `path`, migrate it and start the writer.
    pub async fn open(path: &Path) -> Result<SqliteStorage> {
        let path = path.to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), &e))?;
        }
        let open_path = path.clone();
        let conn = tokio::task::spawn_blocking(move || open_writer(&open_path))
            .await
            .map_err(|_| Error::new(ErrorKind::Internal, "the open task failed"))??;
        let (tx, rx) = mpsc::channel(MAX_BATCH * 8);
        let (notify, _) = broadcast::channel(NOTIFY_CAPACITY);
        let writer_notify = notify.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, &writer_notify))
            .map_err(|e| Error::io("starting the sqlite writer thread", &e))?;
        Ok(SqliteStorage {
            readers: Arc::new(Readers {
                path: path.clone(),
                idle: Mutex::new(Vec::new()),
            }),
            path,
            writer: tx,
            notify,
        })
    }

    async fn write<T>(&self, make: impl FnOnce(Reply<T>) -> Op) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.writer.send(make(reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || readers.with(f))
            .await
            .map_err(|_| Error::new(ErrorKind::Internal, "a read task failed"))?
    }
}

fn open_writer(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path).map_err(|e| sql_error(&e))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| sql_error(&e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| sql_error(&e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::storage(format!(
            "sqlite refused WAL mode (journal_mode={mode})"
        )));
    }
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA journal_size_limit=67108864;")
        .map_err(|e| sql_error(&e))?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| sql_error(&e))?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| sql_error(&e))?;
    let done = usize::try_from(version).unwrap_or(0);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        tx.execute_batch(sql)
            .map_err(|e| sql_error(&e).context(format!("migration {}", index + 1)))?;
        tx.execute_batch(&format!("PRAGMA user_version={}", index + 1))
            .map_err(|e| sql_error(&e))?;
    }
    backfill_key_dids(&tx)?;
    tx.commit().map_err(|e| sql_error(&e))
}

/// Keys registered before `key_did` existed get theirs (DID syntax is parsed in Rust, once).
fn backfill_key_dids(c: &Connection) -> Result<()> {
    let keys: Vec<String> = c
        .prepare("SELECT key FROM keys WHERE key_did IS NULL")
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        })
        .map_err(|e| sql_error(&e))?;
    for key in keys {
        c.execute(
            "UPDATE keys SET key_did = ?2 WHERE key = ?1",
            params![key, key_did(&key)],
        )
        .map_err(|e| sql_error(&e))?;
    }
    Ok(())
}

/// Called after the batch's commit with its outcome.
type Finish = Box<dyn FnOnce(Result<(), Error>) + Send>;

fn writer_loop(
    mut conn: Connection,
    mut rx: mpsc::Receiver<Op>,
    notify: &broadcast::Sender<Notification>,
) {
    let mut batch: Vec<Op> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut close_replies = Vec::new();
        let mut finishers: Vec<Finish> = Vec::with_capacity(batch.len());
        let mut stored: Vec<(String, String)> = Vec::new();
        let outcome = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        {
            Ok(mut tx) => {
                for op in batch.drain(..) {
                    if let Op::Close { reply } = op {
                        close_replies.push(reply);
                        continue;
                    }
                    finishers.push(apply(&mut tx, op, &mut stored));
                }
                tx.commit().map_err(|e| sql_error(&e))
            }
            Err(e) => {
                let error = sql_error(&e);
                for op in batch.drain(..) {
                    match op {
                        Op::Close { reply } => close_replies.push(reply),
                        other => finishers.push(fail(other)),
                    }
                }
                Err(error)
            }
        };
        let committed = outcome.is_ok();
        for finish in finishers {
            finish(outcome.clone());
        }
        if committed {
            stored.sort_unstable();
            stored.dedup();
            for (owner, recipient) in stored {
                // No receiver is fine: nobody is live.
                let _ = notify.send(Notification::Stored { recipient, owner });
            }
        }
        if !close_replies.is_empty() {
            let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
            for reply in close_replies {
                let _ = reply.send(());
            }
            return;
        }
    }
}

/// A finisher that reports `error` for an op that never ran.
fn fail(op: Op) -> Finish {
    fn finish<T: Send + 'static>(reply: Reply<T>) -> Finish {
        Box::new(move |outcome: Result<(), Error>| {
            let error = outcome.err().unwrap_or_else(closed);
            let _ = reply.send(Err(error));
        })
    }
    match op {
        Op::Store { reply, .. } => finish(reply),
        Op::PutGrant { reply, .. } => finish(reply),
        Op::RemoveGrant { reply, .. } => finish(reply),
        Op::UpdateKeylist { reply, .. } => finish(reply),
        Op::Ack { reply, .. } => finish(reply),
        Op::Sweep { reply, .. } => finish(reply),
        Op::Close { reply } => Box::new(move |_| {
            let _ = reply.send(());
        }),
    }
}

/// Run `op` in its own savepoint; the returned finisher answers the caller once the batch's
/// commit is known.
fn apply(tx: &mut Transaction<'_>, op: Op, stored: &mut Vec<(String, String)>) -> Finish {
    match op {
        Op::Store {
            message,
            quota,
            reply,
        } => {
            let result = in_savepoint(tx, |c| store_one(c, &message, quota));
            if matches!(result, Ok(StoreOutcome::Stored)) {
                stored.push((message.owner, message.recipient));
            }
            answer(reply, result)
        }
        Op::PutGrant { grant, reply } => answer(reply, in_savepoint(tx, |c| put_grant(c, &grant))),
        Op::RemoveGrant { did, reply } => {
            answer(reply, in_savepoint(tx, |c| remove_grant(c, &did)))
        }
        Op::UpdateKeylist {
            did,
            updates,
            reply,
        } => answer(
            reply,
            in_savepoint(tx, |c| update_keylist(c, &did, &updates)),
        ),
        Op::Ack {
            recipients,
            ids,
            reply,
        } => answer(reply, in_savepoint(tx, |c| ack(c, &recipients, &ids))),
        Op::Sweep { now_ms, reply } => answer(reply, in_savepoint(tx, |c| sweep(c, now_ms))),
        Op::Close { reply } => Box::new(move |_| {
            let _ = reply.send(());
        }),
    }
}

/// Run `body` inside a savepoint, rolled back if it fails (a refused request leaves nothing).
fn in_savepoint<T>(
    tx: &mut Transaction<'_>,
    body: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    let sp = tx.savepoint().map_err(|e| sql_error(&e))?;
    let result = body(&sp);
    match result {
        Ok(value) => {
            sp.commit().map_err(|e| sql_error(&e))?;
            Ok(value)
        }
        // Dropping the savepoint rolls it back.
        Err(e) => Err(e),
    }
}

/// Answer the caller with `result` once the batch committed (or with the commit's error).
fn answer<T: Send + 'static>(reply: Reply<T>, result: Result<T>) -> Finish {
    Box::new(move |outcome: Result<(), Error>| {
        let _ = reply.send(outcome.and(result));
    })
}

fn store_one(c: &Connection, m: &NewMessage, quota: Quota) -> Result<StoreOutcome> {
    let exists = c
        .prepare_cached(
            "SELECT 1 FROM messages WHERE recipient = ?1 AND id = ?2
             UNION ALL SELECT 1 FROM tombstones WHERE recipient = ?1 AND id = ?2",
        )
        .and_then(|mut s| s.exists(params![m.recipient, m.id]))
        .map_err(|e| sql_error(&e))?;
    if exists {
        return Ok(StoreOutcome::Duplicate);
    }
    let (count, bytes): (i64, i64) = c
        .prepare_cached("SELECT count, bytes FROM queues WHERE recipient = ?1")
        .and_then(|mut s| {
            s.query_row(params![m.recipient], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(|e| sql_error(&e))?
        .unwrap_or((0, 0));
    let size = to_i64(m.body.len() as u64);
    if to_u64(count).saturating_add(1) > quota.max_messages
        || to_u64(bytes).saturating_add(m.body.len() as u64) > quota.max_bytes
    {
        return Err(Error::new(
            ErrorKind::QuotaExceeded,
            format!(
                "the queue holds {count} messages / {bytes} bytes (limits {} / {})",
                quota.max_messages, quota.max_bytes
            ),
        ));
    }
    c.prepare_cached(
        "INSERT INTO messages (recipient, id, body, size, received_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            m.recipient,
            m.id,
            m.body,
            size,
            to_i64(m.received_at_ms),
            to_i64(m.expires_at_ms)
        ])
    })
    .map_err(|e| sql_error(&e))?;
    c.prepare_cached(
        "INSERT INTO queues (recipient, count, bytes) VALUES (?1, 1, ?2)
         ON CONFLICT (recipient) DO UPDATE SET count = count + 1, bytes = bytes + excluded.bytes",
    )
    .and_then(|mut s| s.execute(params![m.recipient, size]))
    .map_err(|e| sql_error(&e))?;
    Ok(StoreOutcome::Stored)
}

fn read_grant(c: &Connection, did: &str) -> rusqlite::Result<Option<Grant>> {
    c.prepare_cached("SELECT did, routing_did, granted_at FROM grants WHERE did = ?1")?
        .query_row(params![did], |r| {
            Ok(Grant {
                did: r.get(0)?,
                routing_did: r.get(1)?,
                granted_at_ms: to_u64(r.get(2)?),
            })
        })
        .optional()
}

fn put_grant(c: &Connection, grant: &Grant) -> Result<Grant> {
    if let Some(existing) = read_grant(c, &grant.did).map_err(|e| sql_error(&e))? {
        return Ok(existing);
    }
    c.execute(
        "INSERT INTO grants (did, routing_did, granted_at) VALUES (?1, ?2, ?3)",
        params![grant.did, grant.routing_did, to_i64(grant.granted_at_ms)],
    )
    .map_err(|e| sql_error(&e))?;
    Ok(grant.clone())
}

fn drop_queue(c: &Connection, key: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM messages WHERE recipient = ?1", params![key])?;
    c.execute("DELETE FROM queues WHERE recipient = ?1", params![key])?;
    c.execute("DELETE FROM tombstones WHERE recipient = ?1", params![key])?;
    Ok(())
}

fn remove_grant(c: &Connection, did: &str) -> Result<bool> {
    let keys: Vec<String> = c
        .prepare("SELECT key FROM keys WHERE did = ?1")
        .and_then(|mut s| {
            s.query_map(params![did], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        })
        .map_err(|e| sql_error(&e))?;
    for key in &keys {
        drop_queue(c, key).map_err(|e| sql_error(&e))?;
    }
    c.execute("DELETE FROM keys WHERE did = ?1", params![did])
        .map_err(|e| sql_error(&e))?;
    let removed = c
        .execute("DELETE FROM grants WHERE did = ?1", params![did])
        .map_err(|e| sql_error(&e))?;
    Ok(removed > 0)
}

fn update_keylist(
    c: &Connection,
    did: &str,
    updates: &[KeylistUpdate],
) -> Result<Vec<KeylistResult>> {
    if read_grant(c, did).map_err(|e| sql_error(&e))?.is_none() {
        return Err(Error::new(
            ErrorKind::Forbidden,
            "keylist update from a DID without a mediation grant",
        ));
    }
    let mut results = Vec::with_capacity(updates.len());
    for update in updates {
        let owner: Option<String> = c
            .prepare_cached("SELECT did FROM keys WHERE key = ?1")
            .and_then(|mut s| s.query_row(params![update.key], |r| r.get(0)).optional())
            .map_err(|e| sql_error(&e))?;
        let result = match (update.action, owner.as_deref()) {
            (_, Some(other)) if other != did => KeylistResult::OwnedByAnother,
            (KeylistAction::Add, Some(_)) | (KeylistAction::Remove, None) => {
                KeylistResult::NoChange
            }
            (KeylistAction::Add, None) => {
                c.execute(
                    "INSERT INTO keys (key, did, key_did) VALUES (?1, ?2, ?3)",
                    params![update.key, did, key_did(&update.key)],
                )
                .map_err(|e| sql_error(&e))?;
                KeylistResult::Success
            }
            (KeylistAction::Remove, Some(_)) => {
                c.execute("DELETE FROM keys WHERE key = ?1", params![update.key])
                    .map_err(|e| sql_error(&e))?;
                drop_queue(c, &update.key).map_err(|e| sql_error(&e))?;
                KeylistResult::Success
            }
        };
        results.push(result);
    }
    Ok(results)
}

fn ack(c: &Connection, recipients: &[String], ids: &[String]) -> Result<u64> {
    let mut total = 0u64;
    for recipient in recipients {
        let (mut count, mut bytes) = (0i64, 0i64);
        for id in ids {
            let gone: Option<(i64, i64)> = c
                .prepare_cached(
                    "DELETE FROM messages WHERE recipient = ?1 AND id = ?2
                     RETURNING size, expires_at",
                )
                .and_then(|mut s| {
                    s.query_row(params![recipient, id], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(|e| sql_error(&e))?;
            if let Some((size, expires_at)) = gone {
                count += 1;
                bytes += size;
                // The id stays known until the message would have expired: a late retry of
                // the same message is not queued again.
                c.prepare_cached(
                    "INSERT INTO tombstones (recipient, id, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (recipient, id) DO NOTHING",
                )
                .and_then(|mut s| s.execute(params![recipient, id, expires_at]))
                .map_err(|e| sql_error(&e))?;
            }
        }
        if count > 0 {
            release(c, recipient, count, bytes)?;
            total += to_u64(count);
        }
    }
    Ok(total)
}

/// Take `count` messages of `bytes` off a queue's counters; forget empty queues.
fn release(c: &Connection, recipient: &str, count: i64, bytes: i64) -> Result<()> {
    c.prepare_cached(
        "UPDATE queues SET count = max(count - ?2, 0), bytes = max(bytes - ?3, 0)
         WHERE recipient = ?1",
    )
    .and_then(|mut s| s.execute(params![recipient, count, bytes]))
    .map_err(|e| sql_error(&e))?;
    c.prepare_cached("DELETE FROM queues WHERE recipient = ?1 AND count <= 0")
        .and_then(|mut s| s.execute(params![recipient]))
        .map_err(|e| sql_error(&e))?;
    Ok(())
}

/// One sweep step: (messages deleted, whether more may be waiting).
fn sweep(c: &Connection, now_ms: u64) -> Result<(u64, bool)> {
    let rows: Vec<(String, i64)> = c
        .prepare_cached(
            "DELETE FROM messages WHERE seq IN
                 (SELECT seq FROM messages WHERE expires_at <= ?1 LIMIT ?2)
             RETURNING recipient, size",
        )
        .and_then(|mut s| {
            s.query_map(params![to_i64(now_ms), SWEEP_STEP], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect()
        })
        .map_err(|e| sql_error(&e))?;
    let mut per_queue: HashMap<String, (i64, i64)> = HashMap::new();
    for (recipient, size) in &rows {
        let entry = per_queue.entry(recipient.clone()).or_default();
        entry.0 += 1;
        entry.1 += size;
    }
    for (recipient, (count, bytes)) in per_queue {
        release(c, &recipient, count, bytes)?;
    }
    let tombstones = c
        .prepare_cached(
            "DELETE FROM tombstones WHERE (recipient, id) IN
                 (SELECT recipient, id FROM tombstones WHERE expires_at <= ?1 LIMIT ?2)",
        )
        .and_then(|mut s| s.execute(params![to_i64(now_ms), SWEEP_STEP]))
        .map_err(|e| sql_error(&e))?;
    let more = rows.len() as i64 >= SWEEP_STEP || tombstones as i64 >= SWEEP_STEP;
    Ok((rows.len() as u64, more))
}

/// Read-only connections, opened on demand and kept idle for reuse.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let reused = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match reused {
            Some(conn) => conn,
            None => {
                let conn = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|e| sql_error(&e))?;
                conn.busy_timeout(std::time::Duration::from_secs(10))
                    .map_err(|e| sql_error(&e))?;
                conn
            }
        };
        let result = f(&conn).map_err(|e| sql_error(&e));
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
        result
    }
}

fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl Storage for SqliteStorage {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn put_grant(&self, grant: &Grant) -> Result<Grant> {
        let grant = grant.clone();
        self.write(|reply| Op::PutGrant { grant, reply }).await
    }

    async fn grant(&self, did: &str) -> Result<Option<Grant>> {
        let did = did.to_owned();
        self.read(move |c| read_grant(c, &did)).await
    }

    async fn remove_grant(&self, did: &str) -> Result<bool> {
        let did = did.to_owned();
        self.write(|reply| Op::RemoveGrant { did, reply }).await
    }

    async fn update_keylist(
        &self,
        did: &str,
        updates: &[KeylistUpdate],
    ) -> Result<Vec<KeylistResult>> {
        let did = did.to_owned();
        let updates = updates.to_vec();
        self.write(|reply| Op::UpdateKeylist {
            did,
            updates,
            reply,
        })
        .await
    }

    async fn keylist(&self, did: &str, offset: u64, limit: u64) -> Result<(Vec<String>, u64)> {
        let did = did.to_owned();
        self.read(move |c| {
            let keys = c
                .prepare_cached(
                    "SELECT key FROM keys WHERE did = ?1 ORDER BY key LIMIT ?2 OFFSET ?3",
                )?
                .query_map(params![did, to_i64(limit), to_i64(offset)], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            let total: i64 = c
                .prepare_cached("SELECT count(*) FROM keys WHERE did = ?1")?
                .query_row(params![did], |r| r.get(0))?;
            Ok((keys, to_u64(total)))
        })
        .await
    }

    async fn key_owner(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_owned();
        self.read(move |c| {
            c.prepare_cached("SELECT did FROM keys WHERE key = ?1")?
                .query_row(params![key], |r| r.get(0))
                .optional()
        })
        .await
    }

    async fn find_recipient(&self, next: &str) -> Result<Option<(String, String)>> {
        let next = next.to_owned();
        self.read(move |c| {
            let did = key_did(&next).to_owned();
            c.prepare_cached(
                "SELECT key, did FROM keys WHERE key = ?1 OR key = ?2 OR key_did = ?2
                 ORDER BY CASE WHEN key = ?1 THEN 0 WHEN key = ?2 THEN 1 ELSE 2 END, key
                 LIMIT 1",
            )?
            .query_row(params![next, did], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
        })
        .await
    }

    async fn store(&self, message: NewMessage, quota: Quota) -> Result<StoreOutcome> {
        self.write(|reply| Op::Store {
            message,
            quota,
            reply,
        })
        .await
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
        let recipients = recipients.to_vec();
        self.read(move |c| {
            let sql = format!(
                "SELECT recipient, id, body, received_at FROM messages
                 WHERE recipient IN ({}) AND expires_at > ?1
                 ORDER BY received_at, seq LIMIT ?2",
                placeholders(3, recipients.len())
            );
            let mut values: Vec<rusqlite::types::Value> =
                vec![to_i64(now_ms).into(), to_i64(limit as u64).into()];
            values.extend(recipients.into_iter().map(Into::into));
            let mut statement = c.prepare_cached(&sql)?;
            let rows = statement
                .query_map(params_from_iter(values), |r| {
                    Ok(StoredMessage {
                        recipient: r.get(0)?,
                        id: r.get(1)?,
                        body: r.get(2)?,
                        received_at_ms: to_u64(r.get(3)?),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn ack(&self, recipients: &[String], ids: &[String]) -> Result<u64> {
        if recipients.is_empty() || ids.is_empty() {
            return Ok(0);
        }
        let recipients = recipients.to_vec();
        let ids = ids.to_vec();
        self.write(|reply| Op::Ack {
            recipients,
            ids,
            reply,
        })
        .await
    }

    async fn queue_stats(&self, recipients: &[String]) -> Result<QueueStats> {
        if recipients.is_empty() {
            return Ok(QueueStats::default());
        }
        let recipients = recipients.to_vec();
        self.read(move |c| {
            let list = placeholders(1, recipients.len());
            let (messages, bytes): (i64, i64) = c
                .prepare_cached(&format!(
                    "SELECT coalesce(sum(count), 0), coalesce(sum(bytes), 0) FROM queues
                     WHERE recipient IN ({list})"
                ))?
                .query_row(params_from_iter(recipients.iter()), |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            let (oldest, newest): (Option<i64>, Option<i64>) = c
                .prepare_cached(&format!(
                    "SELECT min(received_at), max(received_at) FROM messages
                     WHERE recipient IN ({list})"
                ))?
                .query_row(params_from_iter(recipients.iter()), |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            Ok(QueueStats {
                messages: to_u64(messages),
                bytes: to_u64(bytes),
                oldest_received_at_ms: oldest.map(to_u64),
                newest_received_at_ms: newest.map(to_u64),
            })
        })
        .await
    }

    async fn totals(&self) -> Result<QueueStats> {
        self.read(|c| {
            let (messages, bytes): (i64, i64) = c
                .prepare_cached(
                    "SELECT coalesce(sum(count), 0), coalesce(sum(bytes), 0) FROM queues",
                )?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(QueueStats {
                messages: to_u64(messages),
                bytes: to_u64(bytes),
                oldest_received_at_ms: None,
                newest_received_at_ms: None,
            })
        })
        .await
    }

    async fn sweep_expired(&self, now_ms: u64) -> Result<u64> {
        let mut total = 0;
        loop {
            let (step, more) = self.write(|reply| Op::Sweep { now_ms, reply }).await?;
            total += step;
            if !more {
                return Ok(total);
            }
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.notify.subscribe()
    }

    async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.writer.send(Op::Close { reply }).await.is_ok() {
            let _ = done.await;
        }
    }
}
