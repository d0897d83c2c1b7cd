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
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, Pool, Runtime};
use didcomm_edge::AttachmentForm;
use futures_util::future::join_all;
use futures_util::{Stream, StreamExt};
use std::sync::Mutex;

use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, NoTls};

use super::keylist::{decide, Decision, Facts, Namespace};
use super::{
    check_ack_size, form_code, form_of_code, key_did, moved_recipient, quota_error, to_i64, to_u64,
    within_budget, Grant, KeylistResult, KeylistUpdate, NewMessage, Notification, OutboundMessage,
    OutboxLimits, PushTarget, QueueStats, Quota, QuotaRefusal, Storage, StoreOutcome,
    StoredMessage, MAX_BATCH, MAX_CLAIM, MAX_PAGE, NOTIFY_CAPACITY,
};
use crate::error::{Error, ErrorKind, Result};

/// The notification channel.
const CHANNEL: &str = "didcomm_edge_stored";

/// `NOTIFY` payloads must stay under 8000 bytes; longer keys announce a resync instead.
const MAX_NOTIFY_PAYLOAD: usize = 7000;

/// Lock id that serializes migrations of concurrently starting instances.
const MIGRATION_LOCK: i64 = 0x6469_6463_6f6d;

/// Schema migrations; `schema_version` records how many ran. One file per migration under
/// `migrations/postgres/`, numbered in this order; each file holds exactly the text the inline
/// strings held before (leading newline included), so databases migrated by earlier builds see
/// the same statements.
const MIGRATIONS: &[&str; super::SCHEMA_VERSION as usize] = &[
    include_str!("../../migrations/postgres/0001_initial.sql"),
    include_str!("../../migrations/postgres/0002_tombstones_and_key_dids.sql"),
    // One owner per DID namespace; queues know their namespace and owner; per-device and
    // global counters kept by a trigger on `queues`. Every writer of queues locks the one
    // `budget` row first, so writers never deadlock on it and every check is atomic.
    include_str!("../../migrations/postgres/0003_namespaces_and_counters.sql"),
    // How each message was attached (`storage::form_code`), so it is delivered that way; set
    // by the store transaction after `didcomm_edge_store` inserted the row.
    include_str!("../../migrations/postgres/0004_message_forms.sql"),
    // The outbox of outbound delivery (`crate::outbound`).
    include_str!("../../migrations/postgres/0005_outbox.sql"),
    // Push targets of devices (`crate::push`).
    include_str!("../../migrations/postgres/0006_push_targets.sql"),
];

/// The migration that introduced namespaces (its index in [`MIGRATIONS`]: file 0003).
const NAMESPACES_MIGRATION: usize = 2;

/// Locks the `budget` row: every transaction that changes queues takes it first (one lock
/// order for all writers, and atomic quota checks across instances).
const LOCK_BUDGET: &str = "SELECT 1 FROM budget WHERE id = 1 FOR UPDATE";

/// The advisory lock that serializes outbox puts (their bounds are counted, then inserted).
const OUTBOX_LOCK: i64 = 0x6f75_7462_6f78;

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

/// How sessions reach the server: plain, or TLS when the URL asks for it.
#[derive(Clone)]
enum Transport {
    Plain,
    Tls(tokio_postgres_rustls::MakeRustlsConnect),
}

impl Transport {
    /// TLS (rustls) when the URL's `sslmode` is `require` (the server's certificate is
    /// verified against `ca_file`, or the webpki roots); plain for `disable` and `prefer`
    /// (tokio-postgres's default), as before.
    fn for_config(config: &tokio_postgres::Config, ca_file: Option<&Path>) -> Result<Transport> {
        if config.get_ssl_mode() != SslMode::Require {
            return Ok(Transport::Plain);
        }
        let mut roots = rustls::RootCertStore::empty();
        match ca_file {
            Some(path) => {
                use rustls::pki_types::pem::PemObject;
                let certs = rustls::pki_types::CertificateDer::pem_file_iter(path)
                    .map_err(|_| Error::config("database_ca_file cannot be read as PEM"))?;
                for cert in certs {
                    let cert =
                        cert.map_err(|_| Error::config("database_ca_file holds a bad PEM block"))?;
                    roots
                        .add(cert)
                        .map_err(|_| Error::config("database_ca_file holds a bad certificate"))?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|_| Error::config("no TLS protocol version available"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Transport::Tls(
            tokio_postgres_rustls::MakeRustlsConnect::new(tls),
        ))
    }

    fn manager(&self, config: tokio_postgres::Config) -> Manager {
        match self {
            Transport::Plain => Manager::new(config, NoTls),
            Transport::Tls(tls) => Manager::new(config, tls.clone()),
        }
    }

    async fn connect(
        &self,
        config: &tokio_postgres::Config,
    ) -> std::result::Result<
        (
            tokio_postgres::Client,
            Box<dyn Stream<Item = AsyncMessage> + Send + Unpin>,
        ),
        tokio_postgres::Error,
    > {
        fn messages<S, T>(
            mut connection: tokio_postgres::Connection<S, T>,
        ) -> Box<dyn Stream<Item = AsyncMessage> + Send + Unpin>
        where
            S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
            T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        {
            Box::new(Box::pin(futures_util::stream::poll_fn(
                move |cx| match connection.poll_message(cx) {
                    std::task::Poll::Ready(Some(Ok(m))) => std::task::Poll::Ready(Some(m)),
                    std::task::Poll::Ready(Some(Err(_)) | None) => std::task::Poll::Ready(None),
                    std::task::Poll::Pending => std::task::Poll::Pending,
                },
            )))
        }
        match self {
            Transport::Plain => {
                let (client, connection) = config.connect(NoTls).await?;
                Ok((client, messages(connection)))
            }
            Transport::Tls(tls) => {
                let (client, connection) = config.connect(tls.clone()).await?;
                Ok((client, messages(connection)))
            }
        }
    }
}

/// A connection error in words an operator can act on (TLS asked but not offered is the one
/// that must not pass silently).
fn connect_error(e: &tokio_postgres::Error, wants_tls: bool) -> Error {
    let cause = std::error::Error::source(e)
        .map(ToString::to_string)
        .unwrap_or_default();
    if wants_tls && cause.contains("does not support TLS") {
        return Error::new(
            ErrorKind::Storage,
            "postgres: the URL asks for TLS (sslmode=require) and the server does not offer it",
        );
    }
    if wants_tls && e.to_string().contains("TLS") {
        // rustls's reason (an unknown issuer, a name mismatch): no secret in it.
        let cause: String = cause.chars().take(200).collect();
        return Error::new(ErrorKind::Storage, format!("postgres: TLS failed: {cause}"));
    }
    pg_error(e)
}

impl PostgresStorage {
    /// Connect to `url` (plain, or TLS with the webpki roots when it says `sslmode=require`),
    /// migrate the schema, start the store batcher and the listener.
    pub async fn connect(url: &str, pool_size: usize) -> Result<PostgresStorage> {
        Self::connect_with(url, pool_size, None).await
    }

    /// As [`PostgresStorage::connect`], verifying the server's certificate against the CA
    /// certificates (PEM) in `ca_file` when TLS is used.
    pub async fn connect_with(
        url: &str,
        pool_size: usize,
        ca_file: Option<&Path>,
    ) -> Result<PostgresStorage> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|_| Error::config("the PostgreSQL URL does not parse"))?;
        // Durability must not depend on the server's or the role's default: "202 Accepted"
        // means the WAL is flushed.
        let options = match config.get_options() {
            Some(given) => format!("{given} -c synchronous_commit=on"),
            None => "-c synchronous_commit=on".to_owned(),
        };
        config.options(&options);
        let transport = Transport::for_config(&config, ca_file)?;
        let wants_tls = matches!(transport, Transport::Tls(_));
        // Fail now, clearly, if the server cannot be reached as the URL asks.
        if let Err(e) = transport.connect(&config).await {
            return Err(connect_error(&e, wants_tls));
        }
        let pool = Pool::builder(transport.manager(config.clone()))
            .max_size(pool_size.max(2))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| Error::config(format!("PostgreSQL pool: {e}")))?;
        migrate(&pool).await?;
        let (notify, _) = broadcast::channel(NOTIFY_CAPACITY);
        let (ready_tx, ready_rx) = oneshot::channel();
        let listener = tokio::spawn(listen(config, transport, notify.clone(), Some(ready_tx)));
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

    /// The value of a run-time setting in this storage's sessions (`synchronous_commit`, ...),
    /// for diagnostics and tests.
    pub async fn session_setting(&self, name: &str) -> Result<String> {
        let client = self.client().await?;
        Ok(client
            .query_one("SELECT current_setting($1)", &[&name])
            .await
            .map_err(|e| pg_error(&e))?
            .get(0))
    }

    /// One attempt at a keylist update, in one transaction: the budget lock (removals change
    /// queues), the grant row locked (the key count is exact), then each entry decided by
    /// [`decide`] on what the transaction reads.
    async fn try_update_keylist(
        &self,
        did: &str,
        updates: &[KeylistUpdate],
        max_keys: u64,
    ) -> std::result::Result<Vec<KeylistResult>, Retry> {
        let mut client = self
            .pool
            .get()
            .await
            .map_err(|e| Retry::No(pool_error(&e)))?;
        let tx = client.transaction().await.map_err(|e| classify(&e))?;
        tx.execute(LOCK_BUDGET, &[])
            .await
            .map_err(|e| classify(&e))?;
        let granted = tx
            .query_opt("SELECT 1 FROM grants WHERE did = $1 FOR UPDATE", &[&did])
            .await
            .map_err(|e| classify(&e))?;
        if granted.is_none() {
            return Err(Retry::No(Error::new(
                ErrorKind::Forbidden,
                "keylist update from a DID without a mediation grant",
            )));
        }
        let mut registered: i64 = tx
            .query_one("SELECT count(*) FROM keys WHERE did = $1", &[&did])
            .await
            .map_err(|e| classify(&e))?
            .get(0);
        let mut results = Vec::with_capacity(updates.len());
        for update in updates {
            let namespace = key_did(&update.key);
            let key_owner: Option<String> = tx
                .query_opt("SELECT did FROM keys WHERE key = $1", &[&update.key])
                .await
                .map_err(|e| classify(&e))?
                .map(|r| r.get(0));
            let ns_owner: Option<String> = tx
                .query_opt(
                    "SELECT owner FROM namespaces WHERE did = $1 FOR UPDATE",
                    &[&namespace],
                )
                .await
                .map_err(|e| classify(&e))?
                .map(|r| r.get(0));
            // Whether the namespace is in use matters only when someone else holds it.
            let in_use = match ns_owner.as_deref() {
                Some(owner) if owner != did => tx
                    .query_one(
                        "SELECT EXISTS (SELECT 1 FROM keys WHERE key_did = $1)
                             OR EXISTS (SELECT 1 FROM queues WHERE did = $1 AND count > 0)",
                        &[&namespace],
                    )
                    .await
                    .map_err(|e| classify(&e))?
                    .get(0),
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
                        tx.execute(
                            "INSERT INTO namespaces (did, owner) VALUES ($1, $2)
                             ON CONFLICT (did) DO UPDATE SET owner = excluded.owner",
                            &[&namespace, &did],
                        )
                        .await
                        .map_err(|e| classify(&e))?;
                    }
                    tx.execute(
                        "INSERT INTO keys (key, did, key_did) VALUES ($1, $2, $3)",
                        &[&update.key, &did, &namespace],
                    )
                    .await
                    .map_err(|e| classify(&e))?;
                    registered += 1;
                    KeylistResult::Success
                }
                Decision::Remove => {
                    for sql in [
                        "DELETE FROM keys WHERE key = $1",
                        "DELETE FROM messages WHERE recipient = $1",
                        "DELETE FROM queues WHERE recipient = $1",
                        "DELETE FROM tombstones WHERE recipient = $1",
                    ] {
                        tx.execute(sql, &[&update.key])
                            .await
                            .map_err(|e| classify(&e))?;
                    }
                    registered -= 1;
                    KeylistResult::Success
                }
            };
            results.push(result);
        }
        tx.commit().await.map_err(|e| classify(&e))?;
        Ok(results)
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
    let pending = super::pending_migrations(i64::from(done), MIGRATIONS.len())?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(pending.start) {
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
    let backfill_namespaces = pending.start <= NAMESPACES_MIGRATION;
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
    if backfill_namespaces {
        // Each DID goes to the owner with the oldest grant among those holding a key in it
        // (forward lookups ignore the others' keys); queues get their namespace.
        tx.batch_execute(
            "INSERT INTO namespaces (did, owner)
                 SELECT DISTINCT ON (k.key_did) k.key_did, k.did
                 FROM keys k LEFT JOIN grants g ON g.did = k.did
                 ORDER BY k.key_did, g.granted_at NULLS LAST, k.did",
        )
        .await
        .map_err(|e| pg_error(&e))?;
        let queues = tx
            .query("SELECT recipient FROM queues WHERE did IS NULL", &[])
            .await
            .map_err(|e| pg_error(&e))?;
        for row in queues {
            let recipient: String = row.get(0);
            tx.execute(
                "UPDATE queues SET did = $2 WHERE recipient = $1",
                &[&recipient, &key_did(&recipient)],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        }
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
    transport: Transport,
    notify: broadcast::Sender<Notification>,
    mut ready: Option<oneshot::Sender<Result<()>>>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match transport.connect(&config).await {
            Ok((client, mut connection)) => {
                let (events_tx, mut events) = mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    while let Some(message) = connection.next().await {
                        if let AsyncMessage::Notification(n) = message {
                            let _ = events_tx.send(n.payload().to_owned());
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
            // By namespace, then key: concurrent batches take rows in the same order.
            batch.sort_by(|a, b| {
                let (a, b) = (&a.message.recipient, &b.message.recipient);
                (key_did(a), a).cmp(&(key_did(b), b))
            });
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
        .prepare_cached(
            "SELECT didcomm_edge_store($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .await
        .map_err(|e| classify(&e))?;
    let numbers: Vec<[i64; 7]> = batch
        .iter()
        .map(|r| {
            [
                to_i64(r.message.received_at_ms),
                to_i64(r.message.expires_at_ms),
                to_i64(r.quota.max_messages),
                to_i64(r.quota.max_bytes),
                to_i64(r.quota.device_max_messages),
                to_i64(r.quota.device_max_bytes),
                to_i64(r.quota.total_max_bytes),
            ]
        })
        .collect();
    let namespaces: Vec<&str> = batch
        .iter()
        .map(|r| key_did(&r.message.recipient))
        .collect();
    let params: Vec<[&(dyn ToSql + Sync); 12]> = batch
        .iter()
        .zip(&numbers)
        .zip(&namespaces)
        .map(
            |((r, [received, expires, count, bytes, d_count, d_bytes, total]), ns)| {
                [
                    &r.message.recipient as &(dyn ToSql + Sync),
                    ns,
                    &r.message.owner,
                    &r.message.id,
                    &r.message.body,
                    received,
                    expires,
                    count,
                    bytes,
                    d_count,
                    d_bytes,
                    total,
                ]
            },
        )
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
            2 => Err(quota_error(QuotaRefusal::Queue, &request.quota)),
            3 => Err(quota_error(QuotaRefusal::Device, &request.quota)),
            4 => Err(quota_error(QuotaRefusal::Total, &request.quota)),
            _ => Err(moved_recipient()),
        });
    }
    // Messages attached as `json` (the column's default is base64), in the same transaction.
    let json_form = form_code(AttachmentForm::Json);
    let as_json: Vec<(&String, &String)> = batch
        .iter()
        .zip(&results)
        .filter(|(r, outcome)| {
            r.message.form == AttachmentForm::Json && matches!(outcome, Ok(StoreOutcome::Stored))
        })
        .map(|(r, _)| (&r.message.recipient, &r.message.id))
        .collect();
    if !as_json.is_empty() {
        let set_form = tx
            .prepare_cached("UPDATE messages SET form = $3 WHERE recipient = $1 AND id = $2")
            .await
            .map_err(|e| classify(&e))?;
        let params: Vec<[&(dyn ToSql + Sync); 3]> = as_json
            .iter()
            .map(|(recipient, id)| {
                [
                    *recipient as &(dyn ToSql + Sync),
                    *id as &(dyn ToSql + Sync),
                    &json_form,
                ]
            })
            .collect();
        let updates = join_all(params.iter().map(|p| tx.execute(&set_form, p))).await;
        for update in updates {
            update.map_err(|e| classify(&e))?;
        }
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
        tx.execute(LOCK_BUDGET, &[])
            .await
            .map_err(|e| pg_error(&e))?;
        // A revoked device is pushed no more.
        tx.execute("DELETE FROM push_targets WHERE did = $1", &[&did])
            .await
            .map_err(|e| pg_error(&e))?;
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
        for sql in [
            "DELETE FROM keys WHERE did = $1",
            "DELETE FROM namespaces WHERE owner = $1",
        ] {
            tx.execute(sql, &[&did]).await.map_err(|e| pg_error(&e))?;
        }
        let removed = tx
            .execute("DELETE FROM grants WHERE did = $1", &[&did])
            .await
            .map_err(|e| pg_error(&e))?;
        tx.commit().await.map_err(|e| pg_error(&e))?;
        Ok(removed > 0)
    }

    async fn list_grants(&self, after: Option<&str>, limit: u64) -> Result<Vec<Grant>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT did, routing_did, granted_at FROM grants WHERE did > $1
                 ORDER BY did LIMIT $2",
                &[&after.unwrap_or_default(), &to_i64(limit.min(MAX_PAGE))],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        Ok(rows.iter().map(row_grant).collect())
    }

    async fn purge_queues(&self, did: &str) -> Result<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg_error(&e))?;
        tx.execute(LOCK_BUDGET, &[])
            .await
            .map_err(|e| pg_error(&e))?;
        let purged: i64 = tx
            .query_one(
                "WITH gone AS (
                     DELETE FROM messages
                     WHERE recipient IN (SELECT key FROM keys WHERE did = $1)
                     RETURNING 1
                 ) SELECT count(*) FROM gone",
                &[&did],
            )
            .await
            .map_err(|e| pg_error(&e))?
            .get(0);
        for sql in [
            "DELETE FROM queues WHERE recipient IN (SELECT key FROM keys WHERE did = $1)",
            "DELETE FROM tombstones WHERE recipient IN (SELECT key FROM keys WHERE did = $1)",
        ] {
            tx.execute(sql, &[&did]).await.map_err(|e| pg_error(&e))?;
        }
        tx.commit().await.map_err(|e| pg_error(&e))?;
        Ok(to_u64(purged))
    }

    async fn schema_version(&self) -> Result<u32> {
        let client = self.client().await?;
        let version: i32 = client
            .query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[])
            .await
            .map_err(|e| pg_error(&e))?
            .get(0);
        Ok(u32::try_from(version).unwrap_or(0))
    }

    async fn ready(&self) -> Result<()> {
        if self.writer.is_closed() || self.pool.is_closed() {
            return Err(closed());
        }
        let client = self.client().await?;
        client
            .query_one("SELECT 1", &[])
            .await
            .map_err(|e| pg_error(&e))?;
        Ok(())
    }

    async fn update_keylist_within(
        &self,
        did: &str,
        updates: &[KeylistUpdate],
        max_keys: u64,
    ) -> Result<Vec<KeylistResult>> {
        let mut attempt = 0;
        loop {
            match self.try_update_keylist(did, updates, max_keys).await {
                Err(Retry::Yes(_)) if attempt < 3 => attempt += 1,
                Err(Retry::Yes(e) | Retry::No(e)) => return Err(e),
                Ok(results) => return Ok(results),
            }
        }
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
        // Only keys of the namespace's owner (legacy keys of others stay unreachable).
        Ok(client
            .query_opt(
                "SELECT k.key, k.did FROM keys k LEFT JOIN namespaces n ON n.did = k.key_did
                 WHERE k.key_did = $2 AND (n.owner IS NULL OR n.owner = k.did)
                 ORDER BY CASE WHEN k.key = $1 THEN 0 WHEN k.key = $2 THEN 1 ELSE 2 END, k.key
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
        let client = self.client().await?;
        // Sizes first (no bodies): the budget decides which bodies are read at all.
        let candidates = client
            .query(
                "SELECT seq, size FROM messages
                 WHERE recipient = ANY($1) AND expires_at > $2 AND id <> ALL($4)
                 ORDER BY received_at, seq LIMIT $3",
                &[
                    &recipients,
                    &to_i64(now_ms),
                    &to_i64(limit as u64),
                    &exclude,
                ],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        let taken = within_budget(
            candidates.iter().map(|r| to_u64(r.get::<_, i64>(1))),
            max_bytes,
        );
        let seqs: Vec<i64> = candidates.iter().take(taken).map(|r| r.get(0)).collect();
        let rows = client
            .query(
                "SELECT recipient, id, body, received_at, form FROM messages
                 WHERE seq = ANY($1) ORDER BY received_at, seq",
                &[&seqs],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        Ok(rows
            .iter()
            .map(|r| StoredMessage {
                recipient: r.get(0),
                id: r.get(1),
                body: r.get(2),
                form: form_of_code(r.get(4)),
                received_at_ms: to_u64(r.get(3)),
            })
            .collect())
    }

    async fn ack(&self, recipients: &[String], ids: &[String]) -> Result<u64> {
        check_ack_size(recipients, ids)?;
        if recipients.is_empty() || ids.is_empty() {
            return Ok(0);
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg_error(&e))?;
        tx.execute(LOCK_BUDGET, &[])
            .await
            .map_err(|e| pg_error(&e))?;
        let rows = tx
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
        tx.commit().await.map_err(|e| pg_error(&e))?;
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
        let mut client = self.client().await?;
        let mut total = 0;
        loop {
            let tx = client.transaction().await.map_err(|e| pg_error(&e))?;
            tx.execute(LOCK_BUDGET, &[])
                .await
                .map_err(|e| pg_error(&e))?;
            let rows = tx
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
            let tombstones = tx
                .execute(
                    "DELETE FROM tombstones WHERE (recipient, id) IN
                         (SELECT recipient, id FROM tombstones WHERE expires_at <= $1 LIMIT 5000)",
                    &[&to_i64(now_ms)],
                )
                .await
                .map_err(|e| pg_error(&e))?;
            tx.commit().await.map_err(|e| pg_error(&e))?;
            if step < 5000 && tombstones < 5000 {
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
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg_error(&e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&OUTBOX_LOCK])
            .await
            .map_err(|e| pg_error(&e))?;
        let row = tx
            .query_one(
                "SELECT (SELECT count(*) FROM outbox WHERE id = $1),
                        (SELECT count(*) FROM outbox),
                        (SELECT count(*) FROM outbox WHERE destination = $2)",
                &[&message.id, &message.destination],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        let (exists, total, for_destination): (i64, i64, i64) =
            (row.get(0), row.get(1), row.get(2));
        if exists > 0 {
            return Ok(StoreOutcome::Duplicate);
        }
        if to_u64(total) >= limits.total {
            return Err(super::outbox_full(false, limits));
        }
        if to_u64(for_destination) >= limits.per_destination {
            return Err(super::outbox_full(true, limits));
        }
        tx.execute(
            "INSERT INTO outbox (id, destination, body, attempts, next_attempt_at, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &message.id,
                &message.destination,
                &message.body,
                &i32::try_from(message.attempts).unwrap_or(i32::MAX),
                &to_i64(due_at_ms),
                &to_i64(message.created_at_ms),
                &to_i64(message.expires_at_ms),
            ],
        )
        .await
        .map_err(|e| pg_error(&e))?;
        tx.commit().await.map_err(|e| pg_error(&e))?;
        Ok(StoreOutcome::Stored)
    }

    async fn outbox_claim(
        &self,
        now_ms: u64,
        lease_until_ms: u64,
        limit: usize,
    ) -> Result<Vec<OutboundMessage>> {
        let limit = i64::try_from(limit.min(MAX_CLAIM)).unwrap_or(0);
        let client = self.client().await?;
        // SKIP LOCKED: instances claiming at once take different messages.
        let rows = client
            .query(
                "WITH due AS (
                     SELECT id, next_attempt_at AS was FROM outbox WHERE next_attempt_at <= $1
                     ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED
                 )
                 UPDATE outbox o SET attempts = o.attempts + 1, next_attempt_at = $2
                 FROM due WHERE o.id = due.id
                 RETURNING o.id, o.destination, o.body, o.attempts, o.created_at, o.expires_at,
                           due.was",
                &[&to_i64(now_ms), &to_i64(lease_until_ms), &limit],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        let mut claimed: Vec<(i64, OutboundMessage)> = rows
            .iter()
            .map(|r| {
                (
                    r.get(6),
                    OutboundMessage {
                        id: r.get(0),
                        destination: r.get(1),
                        body: r.get(2),
                        attempts: u32::try_from(r.get::<_, i32>(3)).unwrap_or(0),
                        created_at_ms: to_u64(r.get(4)),
                        expires_at_ms: to_u64(r.get(5)),
                    },
                )
            })
            .collect();
        // Earliest due first, as the other backends.
        claimed.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
        Ok(claimed.into_iter().map(|(_, m)| m).collect())
    }

    async fn outbox_retry(&self, id: &str, due_at_ms: u64) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE outbox SET next_attempt_at = $2 WHERE id = $1",
                &[&id, &to_i64(due_at_ms)],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        Ok(())
    }

    async fn outbox_remove(&self, id: &str) -> Result<bool> {
        let client = self.client().await?;
        let n = client
            .execute("DELETE FROM outbox WHERE id = $1", &[&id])
            .await
            .map_err(|e| pg_error(&e))?;
        Ok(n > 0)
    }

    async fn outbox_depth(&self) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT count(*) FROM outbox", &[])
            .await
            .map_err(|e| pg_error(&e))?;
        Ok(to_u64(row.get(0)))
    }

    async fn set_push_target(&self, did: &str, target: &PushTarget, now_ms: u64) -> Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO push_targets (did, platform, token, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (did) DO UPDATE SET platform = excluded.platform,
                     token = excluded.token, updated_at = excluded.updated_at",
                &[&did, &target.platform, &target.token, &to_i64(now_ms)],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        Ok(())
    }

    async fn push_target(&self, did: &str) -> Result<Option<PushTarget>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT platform, token FROM push_targets WHERE did = $1",
                &[&did],
            )
            .await
            .map_err(|e| pg_error(&e))?;
        Ok(row.map(|r| PushTarget {
            platform: r.get(0),
            token: r.get(1),
        }))
    }

    async fn remove_push_target(&self, did: &str) -> Result<bool> {
        let client = self.client().await?;
        let n = client
            .execute("DELETE FROM push_targets WHERE did = $1", &[&did])
            .await
            .map_err(|e| pg_error(&e))?;
        Ok(n > 0)
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
