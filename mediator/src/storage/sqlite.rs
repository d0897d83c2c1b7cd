//! The embedded backend: one SQLite file in WAL mode.
//!
//! Writes go to one dedicated writer thread that owns the only writing connection. It takes
//! every request waiting in its queue (up to `MAX_BATCH`) and applies them in **one**
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
//! Reads go to a fixed set of reader threads (`MAX_READERS`), each with its own read-only
//! connection; WAL lets them run while the writer writes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension, Transaction};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::keylist::{decide, Decision, Facts, Namespace};
use super::{
    check_ack_size, form_code, form_of_code, key_did, moved_recipient, quota_error, to_i64, to_u64,
    within_budget, Grant, KeylistResult, KeylistUpdate, NewMessage, Notification, OutboundMessage,
    OutboxLimits, PushTarget, QueueStats, Quota, QuotaRefusal, Storage, StoreOutcome,
    StoredMessage, MAX_BATCH, MAX_CLAIM, MAX_PAGE, NOTIFY_CAPACITY,
};
use crate::error::{Error, ErrorKind, Result};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran. One file
/// per migration under `migrations/sqlite/`, numbered in this order; each file holds exactly the
/// text the inline strings held before (leading newline included), so databases migrated by
/// earlier builds see the same statements.
const MIGRATIONS: &[&str; super::SCHEMA_VERSION as usize] = &[
    include_str!("../../migrations/sqlite/0001_initial.sql"),
    include_str!("../../migrations/sqlite/0002_tombstones_and_key_dids.sql"),
    // One owner per DID namespace; queues know their namespace and owner; per-device and
    // global counters kept by triggers on `queues` (every path that changes a queue's counts
    // changes them too).
    include_str!("../../migrations/sqlite/0003_namespaces_and_counters.sql"),
    // How each message was attached (`storage::form_code`), so it is delivered that way.
    include_str!("../../migrations/sqlite/0004_message_forms.sql"),
    // The outbox of outbound delivery (`crate::outbound`).
    include_str!("../../migrations/sqlite/0005_outbox.sql"),
    // Push targets of devices (`crate::push`).
    include_str!("../../migrations/sqlite/0006_push_targets.sql"),
];

/// The migration that introduced namespaces (its index in [`MIGRATIONS`]: file 0003).
const NAMESPACES_MIGRATION: usize = 2;

/// How many expired messages one sweep step deletes (keeps each write transaction short).
const SWEEP_STEP: i64 = 5000;

/// Read connections: at most this many reads run at once (each on its own connection, kept
/// open for the next). More would only add threads, page caches and memory on a machine
/// whose disk and cores they share; waiting reads queue for a connection instead.
const MAX_READERS: usize = 4;

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
    Purge {
        did: String,
        reply: Reply<u64>,
    },
    UpdateKeylist {
        did: String,
        updates: Vec<KeylistUpdate>,
        max_keys: u64,
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
    /// An outbox write: given the batch's transaction it runs in its own savepoint; given
    /// none (the batch could not begin) it answers with that failure.
    Outbox(OutboxRun),
}

/// The body of an [`Op::Outbox`].
type OutboxRun = Box<dyn FnOnce(Option<&mut Transaction<'_>>) -> Finish + Send>;

/// The SQLite backend.
pub struct SqliteStorage {
    path: PathBuf,
    writer: mpsc::Sender<Op>,
    readers: std::sync::mpsc::Sender<ReadJob>,
    notify: broadcast::Sender<Notification>,
    /// Set by [`Storage::close`]: [`Storage::ready`] answers unavailable from then on.
    closed: std::sync::atomic::AtomicBool,
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
        let readers = start_readers(&path)?;
        Ok(SqliteStorage {
            readers,
            path,
            writer: tx,
            notify,
            closed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    async fn write<T>(&self, make: impl FnOnce(Reply<T>) -> Op) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        self.writer.send(make(reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }

    /// Run an outbox write on the writer thread, in the next batch.
    async fn outbox_write<T: Send + 'static>(
        &self,
        body: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.write(move |reply| {
            Op::Outbox(Box::new(move |tx| match tx {
                Some(tx) => answer(reply, in_savepoint(tx, body)),
                None => finish(reply),
            }))
        })
        .await
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let result = conn.and_then(|c| f(c).map_err(|e| sql_error(&e)));
            let _ = reply.send(result);
        });
        self.readers.send(job).map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

/// Restrict the database and its `-wal` / `-shm` files to their owner (0600): they hold the
/// queued messages and the keylists.
fn restrict_files(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        // Created 0600 before SQLite opens it (no window with the umask's mode); SQLite gives
        // its -wal and -shm files the database file's mode. Only ever opened here when it does
        // not exist yet: closing any descriptor of a file drops every POSIX lock this process
        // holds on it, SQLite's included, and without its lock on the -shm file the next
        // connection rebuilt the WAL index under the writer (reads failed with
        // SQLITE_IOERR_SHORT_READ, live deliveries were missed).
        if !path.exists() {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                // Created by another opener since the check: it is theirs to keep open.
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(path.display(), &e)),
            }
        }
        let mut names = vec![path.to_path_buf()];
        for suffix in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            names.push(PathBuf::from(name));
        }
        for name in names.iter().filter(|n| n.exists()) {
            std::fs::set_permissions(name, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io(name.display(), &e))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn open_writer(path: &Path) -> Result<Connection> {
    // Files of an older version may be readable by others: tightened on every open.
    restrict_files(path)?;
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
    // The -wal and -shm files exist now.
    restrict_files(path)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| sql_error(&e))?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| sql_error(&e))?;
    let pending = super::pending_migrations(version, MIGRATIONS.len())?;
    let done = pending.start;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        tx.execute_batch(sql)
            .map_err(|e| sql_error(&e).context(format!("migration {}", index + 1)))?;
        tx.execute_batch(&format!("PRAGMA user_version={}", index + 1))
            .map_err(|e| sql_error(&e))?;
    }
    backfill_key_dids(&tx)?;
    if done <= NAMESPACES_MIGRATION {
        backfill_namespaces(&tx)?;
    }
    tx.commit().map_err(|e| sql_error(&e))
}

/// Namespaces for keys registered before they existed: each DID goes to the owner with the
/// oldest grant among those holding a key in it (forward lookups ignore the others' keys);
/// queues get their namespace.
fn backfill_namespaces(c: &Connection) -> Result<()> {
    c.execute_batch(
        "INSERT OR IGNORE INTO namespaces (did, owner)
             SELECT k.key_did, k.did FROM keys k LEFT JOIN grants g ON g.did = k.did
             ORDER BY k.key_did, g.granted_at IS NULL, g.granted_at, k.did",
    )
    .map_err(|e| sql_error(&e))?;
    let recipients: Vec<String> = c
        .prepare("SELECT recipient FROM queues WHERE did IS NULL")
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        })
        .map_err(|e| sql_error(&e))?;
    for recipient in recipients {
        c.execute(
            "UPDATE queues SET did = ?2 WHERE recipient = ?1",
            params![recipient, key_did(&recipient)],
        )
        .map_err(|e| sql_error(&e))?;
    }
    Ok(())
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
    match op {
        Op::Store { reply, .. } => finish(reply),
        Op::PutGrant { reply, .. } => finish(reply),
        Op::RemoveGrant { reply, .. } => finish(reply),
        Op::Purge { reply, .. } => finish(reply),
        Op::UpdateKeylist { reply, .. } => finish(reply),
        Op::Ack { reply, .. } => finish(reply),
        Op::Sweep { reply, .. } => finish(reply),
        Op::Outbox(run) => run(None),
        Op::Close { reply } => Box::new(move |_| {
            let _ = reply.send(());
        }),
    }
}

/// A finisher that answers with the batch's error (or "closed").
fn finish<T: Send + 'static>(reply: Reply<T>) -> Finish {
    Box::new(move |outcome: Result<(), Error>| {
        let error = outcome.err().unwrap_or_else(closed);
        let _ = reply.send(Err(error));
    })
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
        Op::Purge { did, reply } => answer(reply, in_savepoint(tx, |c| purge(c, &did))),
        Op::UpdateKeylist {
            did,
            updates,
            max_keys,
            reply,
        } => answer(
            reply,
            in_savepoint(tx, |c| update_keylist(c, &did, &updates, max_keys)),
        ),
        Op::Ack {
            recipients,
            ids,
            reply,
        } => answer(reply, in_savepoint(tx, |c| ack(c, &recipients, &ids))),
        Op::Sweep { now_ms, reply } => answer(reply, in_savepoint(tx, |c| sweep(c, now_ms))),
        Op::Outbox(run) => run(Some(tx)),
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
    let namespace = key_did(&m.recipient);
    match namespace_owner(c, namespace).map_err(|e| sql_error(&e))? {
        Some(owner) if owner == m.owner => {}
        // Held by another DID (the key changed hands since the lookup): never re-bound.
        Some(_) if namespace_in_use(c, namespace).map_err(|e| sql_error(&e))? => {
            return Err(moved_recipient())
        }
        // A queued message holds the namespace for its owner.
        _ => claim_namespace(c, namespace, &m.owner).map_err(|e| sql_error(&e))?,
    }
    let size = m.body.len() as u64;
    let counts = |sql: &str, key: &str| -> Result<(u64, u64)> {
        let row: Option<(i64, i64)> = c
            .prepare_cached(sql)
            .and_then(|mut s| {
                s.query_row(params![key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(|e| sql_error(&e))?;
        let (count, bytes) = row.unwrap_or((0, 0));
        Ok((to_u64(count), to_u64(bytes)))
    };
    let fits = |(count, bytes): (u64, u64), max_count: u64, max_bytes: u64| {
        count.saturating_add(1) <= max_count && bytes.saturating_add(size) <= max_bytes
    };
    let queue = counts(
        "SELECT count, bytes FROM queues WHERE recipient = ?1",
        &m.recipient,
    )?;
    if !fits(queue, quota.max_messages, quota.max_bytes) {
        return Err(quota_error(QuotaRefusal::Queue, &quota));
    }
    let device = counts(
        "SELECT count, bytes FROM devices WHERE owner = ?1",
        &m.owner,
    )?;
    if !fits(device, quota.device_max_messages, quota.device_max_bytes) {
        return Err(quota_error(QuotaRefusal::Device, &quota));
    }
    let total = counts("SELECT count, bytes FROM budget WHERE id = ?1", "1")?;
    if !fits(total, u64::MAX, quota.total_max_bytes) {
        return Err(quota_error(QuotaRefusal::Total, &quota));
    }
    let size = to_i64(size);
    c.prepare_cached(
        "INSERT INTO messages (recipient, id, body, size, received_at, expires_at, form)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            m.recipient,
            m.id,
            m.body,
            size,
            to_i64(m.received_at_ms),
            to_i64(m.expires_at_ms),
            form_code(m.form)
        ])
    })
    .map_err(|e| sql_error(&e))?;
    // The triggers on `queues` carry the change to the device's and the global counters.
    c.prepare_cached(
        "INSERT INTO queues (recipient, did, owner, count, bytes) VALUES (?1, ?2, ?3, 1, ?4)
         ON CONFLICT (recipient) DO UPDATE SET count = count + 1,
             bytes = bytes + excluded.bytes, did = excluded.did, owner = excluded.owner",
    )
    .and_then(|mut s| s.execute(params![m.recipient, namespace, m.owner, size]))
    .map_err(|e| sql_error(&e))?;
    Ok(StoreOutcome::Stored)
}

fn namespace_owner(c: &Connection, namespace: &str) -> rusqlite::Result<Option<String>> {
    c.prepare_cached("SELECT owner FROM namespaces WHERE did = ?1")?
        .query_row(params![namespace], |r| r.get(0))
        .optional()
}

fn claim_namespace(c: &Connection, namespace: &str, owner: &str) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO namespaces (did, owner) VALUES (?1, ?2)
         ON CONFLICT (did) DO UPDATE SET owner = excluded.owner",
    )?
    .execute(params![namespace, owner])?;
    Ok(())
}

/// Whether a key is registered in the namespace or a message queued for one of its keys.
fn namespace_in_use(c: &Connection, namespace: &str) -> rusqlite::Result<bool> {
    c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM keys WHERE key_did = ?1)
             OR EXISTS (SELECT 1 FROM queues WHERE did = ?1 AND count > 0)",
    )?
    .query_row(params![namespace], |r| r.get(0))
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
    // A revoked device is pushed no more.
    c.execute("DELETE FROM push_targets WHERE did = ?1", params![did])
        .map_err(|e| sql_error(&e))?;
    c.execute("DELETE FROM keys WHERE did = ?1", params![did])
        .map_err(|e| sql_error(&e))?;
    c.execute("DELETE FROM namespaces WHERE owner = ?1", params![did])
        .map_err(|e| sql_error(&e))?;
    let removed = c
        .execute("DELETE FROM grants WHERE did = ?1", params![did])
        .map_err(|e| sql_error(&e))?;
    Ok(removed > 0)
}

/// Drop the queues of every key of `did` (the keys stay); how many messages they held.
fn purge(c: &Connection, did: &str) -> Result<u64> {
    let keys: Vec<String> = c
        .prepare_cached("SELECT key FROM keys WHERE did = ?1")
        .and_then(|mut s| {
            s.query_map(params![did], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        })
        .map_err(|e| sql_error(&e))?;
    let mut purged = 0u64;
    for key in &keys {
        let count: i64 = c
            .prepare_cached("SELECT count(*) FROM messages WHERE recipient = ?1")
            .and_then(|mut s| s.query_row(params![key], |r| r.get(0)))
            .map_err(|e| sql_error(&e))?;
        purged = purged.saturating_add(to_u64(count));
        drop_queue(c, key).map_err(|e| sql_error(&e))?;
    }
    Ok(purged)
}

fn update_keylist(
    c: &Connection,
    did: &str,
    updates: &[KeylistUpdate],
    max_keys: u64,
) -> Result<Vec<KeylistResult>> {
    if read_grant(c, did).map_err(|e| sql_error(&e))?.is_none() {
        return Err(Error::new(
            ErrorKind::Forbidden,
            "keylist update from a DID without a mediation grant",
        ));
    }
    let mut registered: i64 = c
        .prepare_cached("SELECT count(*) FROM keys WHERE did = ?1")
        .and_then(|mut s| s.query_row(params![did], |r| r.get(0)))
        .map_err(|e| sql_error(&e))?;
    let mut results = Vec::with_capacity(updates.len());
    for update in updates {
        let key_owner: Option<String> = c
            .prepare_cached("SELECT did FROM keys WHERE key = ?1")
            .and_then(|mut s| s.query_row(params![update.key], |r| r.get(0)).optional())
            .map_err(|e| sql_error(&e))?;
        let namespace = key_did(&update.key);
        let ns_owner = namespace_owner(c, namespace).map_err(|e| sql_error(&e))?;
        // Whether the namespace is in use matters only when someone else holds it.
        let in_use = match ns_owner.as_deref() {
            Some(owner) if owner != did => {
                namespace_in_use(c, namespace).map_err(|e| sql_error(&e))?
            }
            _ => true,
        };
        let facts = Facts {
            key_owner: key_owner.as_deref(),
            namespace: ns_owner.as_deref().map(|owner| Namespace { owner, in_use }),
            registered: to_u64(registered),
        };
        let result = match decide(did, update.action, &facts, max_keys) {
            Decision::Answer(result) => result,
            Decision::Add { claim } => {
                if claim {
                    claim_namespace(c, namespace, did).map_err(|e| sql_error(&e))?;
                }
                c.execute(
                    "INSERT INTO keys (key, did, key_did) VALUES (?1, ?2, ?3)",
                    params![update.key, did, namespace],
                )
                .map_err(|e| sql_error(&e))?;
                registered += 1;
                KeylistResult::Success
            }
            Decision::Remove => {
                c.execute("DELETE FROM keys WHERE key = ?1", params![update.key])
                    .map_err(|e| sql_error(&e))?;
                drop_queue(c, &update.key).map_err(|e| sql_error(&e))?;
                registered -= 1;
                KeylistResult::Success
            }
        };
        results.push(result);
    }
    Ok(results)
}

/// Acknowledge in set-based statements: one delete of every (recipient, id) pair, one
/// insert of their tombstones, one counter update per touched queue.
fn ack(c: &Connection, recipients: &[String], ids: &[String]) -> Result<u64> {
    let as_json = |items: &[String]| {
        serde_json::to_string(items)
            .map_err(|_| Error::new(ErrorKind::Internal, "ids do not serialize"))
    };
    let (recipients, ids) = (as_json(recipients)?, as_json(ids)?);
    let gone: Vec<(String, String, i64, i64)> = c
        .prepare_cached(
            "DELETE FROM messages
             WHERE recipient IN (SELECT value FROM json_each(?1))
               AND id IN (SELECT value FROM json_each(?2))
             RETURNING recipient, id, size, expires_at",
        )
        .and_then(|mut s| {
            s.query_map(params![recipients, ids], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect()
        })
        .map_err(|e| sql_error(&e))?;
    if gone.is_empty() {
        return Ok(0);
    }
    // The ids stay known until the messages would have expired: a late retry of the same
    // message is not queued again.
    let tombstones = serde_json::to_string(
        &gone
            .iter()
            .map(|(recipient, id, _, expires_at)| (recipient, id, expires_at))
            .collect::<Vec<_>>(),
    )
    .map_err(|_| Error::new(ErrorKind::Internal, "ids do not serialize"))?;
    c.prepare_cached(
        "INSERT INTO tombstones (recipient, id, expires_at)
         SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?1) WHERE true
         ON CONFLICT (recipient, id) DO NOTHING",
    )
    .and_then(|mut s| s.execute(params![tombstones]))
    .map_err(|e| sql_error(&e))?;
    let mut per_queue: HashMap<&str, (i64, i64)> = HashMap::new();
    for (recipient, _, size, _) in &gone {
        let entry = per_queue.entry(recipient.as_str()).or_default();
        entry.0 += 1;
        entry.1 += size;
    }
    for (recipient, (count, bytes)) in per_queue {
        release(c, recipient, count, bytes)?;
    }
    Ok(gone.len() as u64)
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

/// A read for a reader thread: it gets the thread's connection (or why it could not open one).
type ReadJob = Box<dyn FnOnce(Result<&Connection>) + Send>;

/// Start [`MAX_READERS`] reader threads, each with its own read-only connection (opened on its
/// first job), taking jobs from one queue. A fixed set of threads keeps memory flat under load
/// (no thread, page cache or allocator arena per concurrent request); they stop when the
/// storage is dropped.
fn start_readers(path: &Path) -> Result<std::sync::mpsc::Sender<ReadJob>> {
    let (tx, rx) = std::sync::mpsc::channel::<ReadJob>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..MAX_READERS {
        let rx = Arc::clone(&rx);
        let path = path.to_path_buf();
        std::thread::Builder::new()
            .name(format!("sqlite-reader-{i}"))
            .spawn(move || reader_loop(&path, &rx))
            .map_err(|e| Error::io("starting a sqlite reader thread", &e))?;
    }
    Ok(tx)
}

fn reader_loop(path: &Path, jobs: &Mutex<std::sync::mpsc::Receiver<ReadJob>>) {
    let mut conn: Option<Connection> = None;
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else {
            return; // the storage is gone
        };
        if conn.is_none() {
            match open_reader(path) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    job(Err(e));
                    continue;
                }
            }
        }
        match &conn {
            Some(c) => job(Ok(c)),
            None => job(Err(closed())),
        }
    }
}

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sql_error(&e))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| sql_error(&e))?;
    Ok(conn)
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

    async fn list_grants(&self, after: Option<&str>, limit: u64) -> Result<Vec<Grant>> {
        let after = after.unwrap_or_default().to_owned();
        let limit = to_i64(limit.min(MAX_PAGE));
        self.read(move |c| {
            c.prepare_cached(
                "SELECT did, routing_did, granted_at FROM grants WHERE did > ?1
                 ORDER BY did LIMIT ?2",
            )?
            .query_map(params![after, limit], |r| {
                Ok(Grant {
                    did: r.get(0)?,
                    routing_did: r.get(1)?,
                    granted_at_ms: to_u64(r.get(2)?),
                })
            })?
            .collect()
        })
        .await
    }

    async fn purge_queues(&self, did: &str) -> Result<u64> {
        let did = did.to_owned();
        self.write(|reply| Op::Purge { did, reply }).await
    }

    async fn schema_version(&self) -> Result<u32> {
        self.read(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
            .await
    }

    async fn ready(&self) -> Result<()> {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) || self.writer.is_closed() {
            return Err(closed());
        }
        self.read(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
            .await
            .map(|_| ())
    }

    async fn update_keylist_within(
        &self,
        did: &str,
        updates: &[KeylistUpdate],
        max_keys: u64,
    ) -> Result<Vec<KeylistResult>> {
        let did = did.to_owned();
        let updates = updates.to_vec();
        self.write(|reply| Op::UpdateKeylist {
            did,
            updates,
            max_keys,
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
            // Only keys of the namespace's owner (legacy keys of others stay unreachable).
            c.prepare_cached(
                "SELECT k.key, k.did FROM keys k LEFT JOIN namespaces n ON n.did = k.key_did
                 WHERE k.key_did = ?2 AND (n.owner IS NULL OR n.owner = k.did)
                 ORDER BY CASE WHEN k.key = ?1 THEN 0 WHEN k.key = ?2 THEN 1 ELSE 2 END, k.key
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

    async fn fetch_excluding(
        &self,
        recipients: &[String],
        limit: usize,
        max_bytes: u64,
        now_ms: u64,
        exclude: &[String],
    ) -> Result<Vec<StoredMessage>> {
        if !super::fetch_can_find(recipients, limit)? {
            return Ok(vec![]);
        }
        // Recipients and excluded ids travel as JSON array parameters: the statement text
        // (and its cache entry) does not depend on how many there are.
        let as_json = |items: &[String]| {
            serde_json::to_string(items)
                .map_err(|_| Error::new(ErrorKind::Internal, "ids do not serialize"))
        };
        let (recipients, exclude) = (as_json(recipients)?, as_json(exclude)?);
        self.read(move |c| {
            // Sizes first (no bodies): the budget decides which bodies are read at all.
            let candidates: Vec<(i64, i64)> = c
                .prepare_cached(
                    "SELECT seq, size FROM messages
                     WHERE recipient IN (SELECT value FROM json_each(?1)) AND expires_at > ?2
                       AND id NOT IN (SELECT value FROM json_each(?3))
                     ORDER BY received_at, seq LIMIT ?4",
                )?
                .query_map(
                    params![recipients, to_i64(now_ms), exclude, to_i64(limit as u64)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let taken = within_budget(candidates.iter().map(|(_, size)| to_u64(*size)), max_bytes);
            let seqs: Vec<i64> = candidates.iter().take(taken).map(|(seq, _)| *seq).collect();
            let seqs = serde_json::to_string(&seqs).unwrap_or_else(|_| "[]".to_owned());
            c.prepare_cached(
                "SELECT recipient, id, body, received_at, form FROM messages
                 WHERE seq IN (SELECT value FROM json_each(?1))
                 ORDER BY received_at, seq",
            )?
            .query_map(params![seqs], |r| {
                Ok(StoredMessage {
                    recipient: r.get(0)?,
                    id: r.get(1)?,
                    body: r.get(2)?,
                    form: form_of_code(r.get(4)?),
                    received_at_ms: to_u64(r.get(3)?),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await
    }

    async fn ack(&self, recipients: &[String], ids: &[String]) -> Result<u64> {
        check_ack_size(recipients, ids)?;
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

    async fn outbox_put(
        &self,
        message: &OutboundMessage,
        due_at_ms: u64,
        limits: OutboxLimits,
    ) -> Result<StoreOutcome> {
        let m = message.clone();
        self.outbox_write(move |c| outbox_put(c, &m, due_at_ms, limits))
            .await
    }

    async fn outbox_claim(
        &self,
        now_ms: u64,
        lease_until_ms: u64,
        limit: usize,
    ) -> Result<Vec<OutboundMessage>> {
        let limit = limit.min(MAX_CLAIM);
        self.outbox_write(move |c| outbox_claim(c, now_ms, lease_until_ms, limit))
            .await
    }

    async fn outbox_retry(&self, id: &str, due_at_ms: u64) -> Result<()> {
        let id = id.to_owned();
        self.outbox_write(move |c| {
            c.prepare_cached("UPDATE outbox SET next_attempt_at = ?2 WHERE id = ?1")
                .and_then(|mut s| s.execute(params![id, to_i64(due_at_ms)]))
                .map_err(|e| sql_error(&e))?;
            Ok(())
        })
        .await
    }

    async fn outbox_remove(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.outbox_write(move |c| {
            c.prepare_cached("DELETE FROM outbox WHERE id = ?1")
                .and_then(|mut s| s.execute(params![id]))
                .map(|n| n > 0)
                .map_err(|e| sql_error(&e))
        })
        .await
    }

    async fn outbox_depth(&self) -> Result<u64> {
        self.read(|c| c.query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0)))
            .await
            .map(to_u64)
    }

    async fn set_push_target(&self, did: &str, target: &PushTarget, now_ms: u64) -> Result<()> {
        let (did, target) = (did.to_owned(), target.clone());
        self.outbox_write(move |c| {
            c.prepare_cached(
                "INSERT INTO push_targets (did, platform, token, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (did) DO UPDATE SET platform = excluded.platform,
                     token = excluded.token, updated_at = excluded.updated_at",
            )
            .and_then(|mut s| s.execute(params![did, target.platform, target.token, to_i64(now_ms)]))
            .map_err(|e| sql_error(&e))?;
            Ok(())
        })
        .await
    }

    async fn push_target(&self, did: &str) -> Result<Option<PushTarget>> {
        let did = did.to_owned();
        self.read(move |c| {
            c.prepare_cached("SELECT platform, token FROM push_targets WHERE did = ?1")?
                .query_row(params![did], |r| {
                    Ok(PushTarget {
                        platform: r.get(0)?,
                        token: r.get(1)?,
                    })
                })
                .optional()
        })
        .await
    }

    async fn remove_push_target(&self, did: &str) -> Result<bool> {
        let did = did.to_owned();
        self.outbox_write(move |c| {
            c.prepare_cached("DELETE FROM push_targets WHERE did = ?1")
                .and_then(|mut s| s.execute(params![did]))
                .map(|n| n > 0)
                .map_err(|e| sql_error(&e))
        })
        .await
    }

    fn subscribe(&self) -> broadcast::Receiver<Notification> {
        self.notify.subscribe()
    }

    async fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        let (reply, done) = oneshot::channel();
        if self.writer.send(Op::Close { reply }).await.is_ok() {
            let _ = done.await;
        }
    }
}

fn outbox_put(
    c: &Connection,
    m: &OutboundMessage,
    due_at_ms: u64,
    limits: OutboxLimits,
) -> Result<StoreOutcome> {
    let count = |sql: &str, key: &str| -> Result<u64> {
        c.prepare_cached(sql)
            .and_then(|mut s| s.query_row(params![key], |r| r.get::<_, i64>(0)))
            .map(to_u64)
            .map_err(|e| sql_error(&e))
    };
    if count("SELECT count(*) FROM outbox WHERE id = ?1", &m.id)? > 0 {
        return Ok(StoreOutcome::Duplicate);
    }
    let total: i64 = c
        .prepare_cached("SELECT count(*) FROM outbox")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(|e| sql_error(&e))?;
    if to_u64(total) >= limits.total {
        return Err(super::outbox_full(false, limits));
    }
    if count(
        "SELECT count(*) FROM outbox WHERE destination = ?1",
        &m.destination,
    )? >= limits.per_destination
    {
        return Err(super::outbox_full(true, limits));
    }
    c.prepare_cached(
        "INSERT INTO outbox (id, destination, body, attempts, next_attempt_at, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            m.id,
            m.destination,
            m.body,
            i64::from(m.attempts),
            to_i64(due_at_ms),
            to_i64(m.created_at_ms),
            to_i64(m.expires_at_ms)
        ])
    })
    .map_err(|e| sql_error(&e))?;
    Ok(StoreOutcome::Stored)
}

fn outbox_claim(
    c: &Connection,
    now_ms: u64,
    lease_until_ms: u64,
    limit: usize,
) -> Result<Vec<OutboundMessage>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut due: Vec<OutboundMessage> = c
        .prepare_cached(
            "SELECT id, destination, body, attempts, created_at, expires_at FROM outbox
             WHERE next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2",
        )
        .and_then(|mut s| {
            s.query_map(params![to_i64(now_ms), limit], |r| {
                Ok(OutboundMessage {
                    id: r.get(0)?,
                    destination: r.get(1)?,
                    body: r.get(2)?,
                    attempts: u32::try_from(r.get::<_, i64>(3)?).unwrap_or(u32::MAX),
                    created_at_ms: to_u64(r.get(4)?),
                    expires_at_ms: to_u64(r.get(5)?),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|e| sql_error(&e))?;
    for m in &mut due {
        m.attempts = m.attempts.saturating_add(1);
        c.prepare_cached("UPDATE outbox SET attempts = ?2, next_attempt_at = ?3 WHERE id = ?1")
            .and_then(|mut s| {
                s.execute(params![m.id, i64::from(m.attempts), to_i64(lease_until_ms)])
            })
            .map_err(|e| sql_error(&e))?;
    }
    Ok(due)
}
