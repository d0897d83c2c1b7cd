//! The admin side: a listener of its own (default `127.0.0.1:9464`, [`Settings::admin_listen`])
//! for operators and orchestrators, apart from the service port that devices and senders
//! reach.
//!
//! Routes:
//! - `GET /livez`: 200 while the process serves (it checks nothing else: a database outage
//!   must not get a healthy process restarted in a loop).
//! - `GET /readyz`: 200 `{"ready": true, ...}` once the identity is loaded and the storage
//!   answers; 503 `{"ready": false, "reason": "..."}` otherwise (starting, storage down or
//!   closed, shutting down).
//! - `GET /metrics`: the Prometheus text.
//! - The admin API under `/admin/v1/`, behind `Authorization: Bearer <token>` where the token
//!   is the content of [`Settings::admin_token_file`] (no file configured: 403 for every
//!   admin request; a missing or wrong token: 401). Tokens are compared as SHA-256 digests in
//!   constant time, and never logged.
//!   - `GET /admin/v1/grants?after=<did>&limit=<n>`: grants in DID order (≤ 1,000 a page).
//!   - `DELETE /admin/v1/grants/{did}`: revoke a grant (its keys and queues go with it).
//!   - `GET /admin/v1/devices?after=<did>&limit=<n>`: devices (granted DIDs) with their key
//!     count and queue depth (≤ 100 a page).
//!   - `GET /admin/v1/devices/{did}`: one device: its grant, keys (the first 1,000) and queue.
//!   - `GET /admin/v1/devices/{did}/queue`, `DELETE` the same: a device's queue depth, purge it.
//!   - `GET /admin/v1/schema`: the storage backend and its schema version.
//!
//!   DIDs in paths are percent-encoded (`%` as `%25`). Pages end when `next` is `null`.
//!
//! Every admin request is bounded before it is authorized like the service port's: the
//! connection cap and header timeout, a per-address rate limit, no request body read, DIDs of
//! at most [`MAX_DID_BYTES`], page sizes capped.
//!
//! The same operations run from the command line (`didcomm-edge-mediator admin ...`,
//! [`AdminCommand`]) on the configured database directly: they need the server's settings and
//! access to its database, not the token, and work while the server is stopped.

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::watch;

use crate::config::Settings;
use crate::error::{Error, ErrorKind, Result};
use crate::mediator::KeyedLimit;
use crate::metrics::Metrics;
use crate::server::{status_for, ConnMeta};
use crate::storage::{self, Grant, Storage, MAX_PAGE, MAX_RECIPIENTS};

/// Longest DID an admin request may name, in bytes (the core's own cap on DIDs).
pub const MAX_DID_BYTES: usize = 8 * 1024;

/// Most devices one `devices` page lists (each costs two storage reads).
pub const MAX_DEVICE_PAGE: u64 = 100;

/// Most keys shown for one device.
const SHOWN_KEYS: u64 = 1000;

/// Shortest token accepted in the token file.
const MIN_TOKEN_CHARS: usize = 16;

/// Largest token file read.
const MAX_TOKEN_FILE_BYTES: u64 = 4096;

/// Longest `Authorization` header looked at.
const MAX_AUTHORIZATION_BYTES: usize = 4096;

/// Admin requests per second per address, and the burst.
const ADMIN_RATE: (f64, f64) = (50.0, 100.0);

/// Open connections on the admin listener.
pub(crate) const ADMIN_MAX_CONNECTIONS: usize = 64;

/// How long `/readyz` waits for the storage.
const READY_TIMEOUT: Duration = Duration::from_secs(3);

/// The admin API's bearer token, kept as its SHA-256 digest only. `Debug` shows nothing of it.
pub struct AdminToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

impl AdminToken {
    /// The token in `text` (surrounding whitespace ignored), at least 16 characters.
    pub fn new(text: &str) -> Result<AdminToken> {
        let token = text.trim();
        if token.chars().count() < MIN_TOKEN_CHARS {
            return Err(Error::config(format!(
                "the admin token must have at least {MIN_TOKEN_CHARS} characters"
            )));
        }
        Ok(AdminToken {
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }

    /// Read the token file (at most 4 KiB).
    pub fn from_file(path: &Path) -> Result<AdminToken> {
        use std::io::Read as _;
        let file = std::fs::File::open(path).map_err(|e| Error::io(path.display(), &e))?;
        let mut text = String::new();
        file.take(MAX_TOKEN_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| Error::io(path.display(), &e))?;
        if text.len() as u64 > MAX_TOKEN_FILE_BYTES {
            return Err(Error::config(format!(
                "{}: the admin token file is larger than {MAX_TOKEN_FILE_BYTES} bytes",
                path.display()
            )));
        }
        AdminToken::new(&text).map_err(|e| e.context(path.display()))
    }

    /// Whether `presented` is the token (constant time in its content: the digests are
    /// compared, so neither the length nor a prefix of the token leaks).
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(digest.ct_eq(&self.digest))
    }
}

/// What the admin listener needs once the mediator is up.
#[derive(Debug)]
pub(crate) struct Ready {
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) did: String,
}

/// The admin routes' shared state.
#[derive(Clone)]
pub(crate) struct AdminApp {
    /// Set once the identity is loaded and the storage opened.
    pub(crate) ready: Arc<OnceLock<Ready>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) token: Option<Arc<AdminToken>>,
    pub(crate) per_ip: Arc<KeyedLimit<IpAddr>>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl AdminApp {
    pub(crate) fn new(
        settings: &Settings,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<AdminApp> {
        let token = match &settings.admin_token_file {
            Some(path) => Some(Arc::new(AdminToken::from_file(path)?)),
            None => None,
        };
        Ok(AdminApp {
            ready: Arc::new(OnceLock::new()),
            metrics,
            token,
            per_ip: Arc::new(KeyedLimit::new(ADMIN_RATE.0, ADMIN_RATE.1)),
            shutdown,
        })
    }
}

/// The admin listener's routes.
pub(crate) fn router(app: AdminApp) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/admin/v1/grants", get(list_grants))
        .route(
            "/admin/v1/grants/{did}",
            axum::routing::delete(revoke_grant),
        )
        .route("/admin/v1/devices", get(list_devices))
        .route("/admin/v1/devices/{did}", get(show_device))
        .route(
            "/admin/v1/devices/{did}/queue",
            get(show_queue).delete(purge_queue),
        )
        .route("/admin/v1/schema", get(show_schema))
        .fallback(not_found)
        .with_state(app)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body}\n"),
    )
        .into_response()
}

fn refusal(status: StatusCode, error: &str, reason: &str) -> Response {
    json_response(status, &json!({"error": error, "reason": reason}))
}

fn error_response(e: &Error) -> Response {
    let mut response = refusal(status_for(e.kind()), e.kind().as_str(), e.reason());
    if let Some(wait) = e.retry_after() {
        let seconds = wait.as_secs().max(1).to_string();
        if let Ok(value) = header::HeaderValue::from_str(&seconds) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}

async fn not_found() -> Response {
    refusal(StatusCode::NOT_FOUND, "not_found", "no such admin route")
}

async fn livez() -> Response {
    (StatusCode::OK, "ok\n").into_response()
}

async fn readyz(State(app): State<AdminApp>) -> Response {
    let not_ready = |reason: &str| {
        json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"ready": false, "reason": reason}),
        )
    };
    if *app.shutdown.borrow() {
        return not_ready("shutting down");
    }
    let Some(ready) = app.ready.get() else {
        return not_ready("starting: the identity and the storage are not loaded yet");
    };
    match tokio::time::timeout(READY_TIMEOUT, ready.storage.ready()).await {
        Ok(Ok(())) => json_response(
            StatusCode::OK,
            &json!({"ready": true, "did": ready.did, "storage": ready.storage.backend()}),
        ),
        Ok(Err(e)) => not_ready(&format!("storage: {}", e.reason())),
        Err(_) => not_ready("storage: no answer within 3 s"),
    }
}

async fn metrics(State(app): State<AdminApp>) -> Response {
    let totals = match app.ready.get() {
        Some(ready) => tokio::time::timeout(READY_TIMEOUT, ready.storage.totals())
            .await
            .ok()
            .and_then(std::result::Result::ok),
        None => None,
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
        app.metrics.render(totals),
    )
        .into_response()
}

/// The storage for an admin request: the per-address limit, then the token, then readiness.
fn authorize<'a>(
    app: &'a AdminApp,
    conn: &ConnMeta,
    headers: &HeaderMap,
) -> std::result::Result<&'a Arc<dyn Storage>, Box<Response>> {
    if let Err(wait) = app.per_ip.check(&conn.peer.ip()) {
        app.metrics.refused("admin_rate_limited");
        return Err(Box::new(error_response(&Error::rate_limited(
            "this address",
            wait,
        ))));
    }
    let Some(token) = &app.token else {
        app.metrics.refused("admin_disabled");
        return Err(Box::new(refusal(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the admin API is disabled: no admin_token_file is configured",
        )));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .filter(|v| v.len() <= MAX_AUTHORIZATION_BYTES)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    if !presented.is_some_and(|p| token.matches(p)) {
        app.metrics.refused("admin_unauthorized");
        tracing::info!(peer = %conn.peer, "admin request refused: no or wrong bearer token");
        let mut response = refusal(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return Err(Box::new(response));
    }
    match app.ready.get() {
        Some(ready) => Ok(&ready.storage),
        None => Err(Box::new(refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the mediator is starting",
        ))),
    }
}

/// A page request: `after` a DID, at most `limit`.
#[derive(Debug, Deserialize)]
struct PageQuery {
    after: Option<String>,
    limit: Option<u64>,
}

fn page_of(
    query: std::result::Result<Query<PageQuery>, QueryRejection>,
) -> std::result::Result<PageQuery, Box<Response>> {
    let Ok(Query(page)) = query else {
        return Err(Box::new(refusal(
            StatusCode::BAD_REQUEST,
            ErrorKind::IllegalArgument.as_str(),
            "the query takes after=<did> and limit=<number>",
        )));
    };
    if let Some(after) = &page.after {
        check_did(after).map_err(|e| Box::new(error_response(&e)))?;
    }
    Ok(page)
}

fn answer(result: Result<Option<Value>>) -> Response {
    match result {
        Ok(Some(body)) => json_response(StatusCode::OK, &body),
        Ok(None) => refusal(
            StatusCode::NOT_FOUND,
            "not_found",
            "no mediation grant for that DID",
        ),
        Err(e) => error_response(&e),
    }
}

async fn list_grants(
    State(app): State<AdminApp>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    headers: HeaderMap,
    query: std::result::Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    let storage = match authorize(&app, &conn, &headers) {
        Ok(storage) => storage,
        Err(response) => return *response,
    };
    let page = match page_of(query) {
        Ok(page) => page,
        Err(response) => return *response,
    };
    answer(
        grants(storage.as_ref(), page.after.as_deref(), page.limit)
            .await
            .map(Some),
    )
}

async fn revoke_grant(
    State(app): State<AdminApp>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    headers: HeaderMap,
    UrlPath(did): UrlPath<String>,
) -> Response {
    let storage = match authorize(&app, &conn, &headers) {
        Ok(storage) => storage,
        Err(response) => return *response,
    };
    let result = revoke(storage.as_ref(), &did).await;
    if matches!(result, Ok(Some(_))) {
        tracing::info!(peer = %conn.peer, did = %did, "admin: grant revoked");
    }
    answer(result)
}

async fn list_devices(
    State(app): State<AdminApp>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    headers: HeaderMap,
    query: std::result::Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    let storage = match authorize(&app, &conn, &headers) {
        Ok(storage) => storage,
        Err(response) => return *response,
    };
    let page = match page_of(query) {
        Ok(page) => page,
        Err(response) => return *response,
    };
    answer(
        devices(storage.as_ref(), page.after.as_deref(), page.limit)
            .await
            .map(Some),
    )
}

async fn show_device(
    State(app): State<AdminApp>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    headers: HeaderMap,
    UrlPath(did): UrlPath<String>,
) -> Response {
    match authorize(&app, &conn, &headers) {
        Ok(storage) => answer(device(storage.as_ref(), &did).await),
        Err(response) => *response,
    }
}

async fn show_queue(
    State(app): State<AdminApp>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    headers: HeaderMap,
    UrlPath(did): UrlPath<String>,
) -> Response {
    match authorize(&app, &conn, &headers) {
        Ok(storage) => answer(queue(storage.as_ref(), &did).await),
        Err(response) => *response,
    }
}

async fn purge_queue(
    State(app): State<AdminApp>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    headers: HeaderMap,
    UrlPath(did): UrlPath<String>,
) -> Response {
    let storage = match authorize(&app, &conn, &headers) {
        Ok(storage) => storage,
        Err(response) => return *response,
    };
    let result = purge(storage.as_ref(), &did).await;
    if let Ok(Some(body)) = &result {
        let purged = body.get("purged").and_then(Value::as_u64).unwrap_or(0);
        tracing::info!(peer = %conn.peer, did = %did, purged, "admin: queue purged");
    }
    answer(result)
}

async fn show_schema(
    State(app): State<AdminApp>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    headers: HeaderMap,
) -> Response {
    match authorize(&app, &conn, &headers) {
        Ok(storage) => answer(schema(storage.as_ref()).await.map(Some)),
        Err(response) => *response,
    }
}

// The operations, shared by the admin API and the `admin` subcommands.

/// A DID named by an admin request: not empty, at most [`MAX_DID_BYTES`], no control
/// characters.
fn check_did(did: &str) -> Result<()> {
    if did.is_empty() || did.len() > MAX_DID_BYTES || did.chars().any(char::is_control) {
        return Err(Error::illegal_argument(format!(
            "a DID of 1 to {MAX_DID_BYTES} bytes without control characters is expected"
        )));
    }
    Ok(())
}

fn grant_json(grant: &Grant) -> Value {
    grant_with(grant, serde_json::Map::new())
}

/// The grant's fields followed by `more`.
fn grant_with(grant: &Grant, more: serde_json::Map<String, Value>) -> Value {
    let mut fields = serde_json::Map::new();
    fields.insert("did".into(), json!(grant.did));
    fields.insert("routing_did".into(), json!(grant.routing_did));
    fields.insert("granted_at_ms".into(), json!(grant.granted_at_ms));
    fields.extend(more);
    Value::Object(fields)
}

/// The page's `next`: the last DID when the page is full (there may be more).
fn next_of(grants: &[Grant], limit: u64) -> Value {
    match grants.last() {
        Some(last) if grants.len() as u64 == limit => json!(last.did),
        _ => Value::Null,
    }
}

/// Grants in DID order: `{"grants": [...], "next": <did or null>}`.
pub async fn grants(
    storage: &dyn Storage,
    after: Option<&str>,
    limit: Option<u64>,
) -> Result<Value> {
    let limit = limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let page = storage.list_grants(after, limit).await?;
    Ok(json!({
        "grants": page.iter().map(grant_json).collect::<Vec<_>>(),
        "next": next_of(&page, limit),
    }))
}

/// The key count and queue of the granted `did`.
async fn queue_of(storage: &dyn Storage, did: &str) -> Result<(Vec<String>, u64, Value)> {
    let (keys, total) = storage.keylist(did, 0, MAX_RECIPIENTS as u64).await?;
    let stats = storage.queue_stats(&keys).await?;
    let queue = json!({
        "messages": stats.messages,
        "bytes": stats.bytes,
        "oldest_received_at_ms": stats.oldest_received_at_ms,
        "newest_received_at_ms": stats.newest_received_at_ms,
        // More keys than one read covers: the counts are of the first ones.
        "partial": total > keys.len() as u64,
    });
    Ok((keys, total, queue))
}

/// Devices (granted DIDs) with their key count and queue depth.
pub async fn devices(
    storage: &dyn Storage,
    after: Option<&str>,
    limit: Option<u64>,
) -> Result<Value> {
    let limit = limit.unwrap_or(MAX_DEVICE_PAGE).clamp(1, MAX_DEVICE_PAGE);
    let page = storage.list_grants(after, limit).await?;
    let mut devices = Vec::with_capacity(page.len());
    for grant in &page {
        let (_, keys, queue) = queue_of(storage, &grant.did).await?;
        let mut more = serde_json::Map::new();
        more.insert("keys".into(), json!(keys));
        more.insert("queue".into(), queue);
        devices.push(grant_with(grant, more));
    }
    Ok(json!({"devices": devices, "next": next_of(&page, limit)}))
}

/// One device: its grant, its keys (the first 1,000) and its queue; `None` without a grant.
pub async fn device(storage: &dyn Storage, did: &str) -> Result<Option<Value>> {
    check_did(did)?;
    let Some(grant) = storage.grant(did).await? else {
        return Ok(None);
    };
    let (mut keys, total, queue) = queue_of(storage, did).await?;
    keys.truncate(usize::try_from(SHOWN_KEYS).unwrap_or(usize::MAX));
    let mut more = serde_json::Map::new();
    more.insert("key_count".into(), json!(total));
    more.insert("keys".into(), json!(keys));
    more.insert("queue".into(), queue);
    Ok(Some(grant_with(&grant, more)))
}

/// A device's queue depth; `None` without a grant.
pub async fn queue(storage: &dyn Storage, did: &str) -> Result<Option<Value>> {
    check_did(did)?;
    if storage.grant(did).await?.is_none() {
        return Ok(None);
    }
    let (_, keys, queue) = queue_of(storage, did).await?;
    Ok(Some(json!({"did": did, "keys": keys, "queue": queue})))
}

/// Delete every message queued for a device (its grant and keys stay); `None` without a grant.
pub async fn purge(storage: &dyn Storage, did: &str) -> Result<Option<Value>> {
    check_did(did)?;
    if storage.grant(did).await?.is_none() {
        return Ok(None);
    }
    let purged = storage.purge_queues(did).await?;
    Ok(Some(json!({"did": did, "purged": purged})))
}

/// Revoke a grant with its keys and queues; `None` when there was none.
pub async fn revoke(storage: &dyn Storage, did: &str) -> Result<Option<Value>> {
    check_did(did)?;
    Ok(storage
        .remove_grant(did)
        .await?
        .then(|| json!({"did": did, "revoked": true})))
}

/// The storage backend and its schema version, with the version this build writes.
pub async fn schema(storage: &dyn Storage) -> Result<Value> {
    Ok(json!({
        "backend": storage.backend(),
        "schema_version": storage.schema_version().await?,
        "binary_schema_version": storage::SCHEMA_VERSION,
    }))
}

/// `didcomm-edge-mediator admin ...`: the admin API's operations on the configured database.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AdminCommand {
    /// Devices (granted DIDs) with their key count and queue depth.
    Devices {
        /// List the DIDs after this one (the `next` of the previous page).
        #[arg(long)]
        after: Option<String>,
        /// At most this many (≤ 100).
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Mediation grants.
    Grants {
        /// List the DIDs after this one (the `next` of the previous page).
        #[arg(long)]
        after: Option<String>,
        /// At most this many (≤ 1000).
        #[arg(long)]
        limit: Option<u64>,
    },
    /// One device: grant, keys and queue.
    Device {
        /// The device's DID.
        did: String,
    },
    /// A device's queue depth.
    Queue {
        /// The device's DID.
        did: String,
    },
    /// Delete every message queued for a device.
    Purge {
        /// The device's DID.
        did: String,
    },
    /// Revoke a device's grant (its keys and queues go with it).
    Revoke {
        /// The device's DID.
        did: String,
    },
    /// The database's schema version.
    Schema,
}

/// Run an admin command on the database `settings` name; the JSON answer. A DID without a
/// grant is an [`ErrorKind::IllegalArgument`] error.
pub async fn run_command(settings: &Settings, command: &AdminCommand) -> Result<Value> {
    let config = settings.storage();
    if matches!(config, storage::StorageConfig::Memory) {
        return Err(Error::config(
            "the in-memory storage lives inside the server process: use the admin API",
        ));
    }
    let storage = storage::open(&config).await?;
    let s = storage.as_ref();
    let result = match command {
        AdminCommand::Devices { after, limit } => {
            devices(s, after.as_deref(), *limit).await.map(Some)
        }
        AdminCommand::Grants { after, limit } => {
            grants(s, after.as_deref(), *limit).await.map(Some)
        }
        AdminCommand::Device { did } => device(s, did).await,
        AdminCommand::Queue { did } => queue(s, did).await,
        AdminCommand::Purge { did } => purge(s, did).await,
        AdminCommand::Revoke { did } => revoke(s, did).await,
        AdminCommand::Schema => schema(s).await.map(Some),
    };
    storage.close().await;
    result?.ok_or_else(|| Error::illegal_argument("no mediation grant for that DID"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_compared_by_digest_and_never_shown() {
        let token = AdminToken::new("  correct-horse-battery-staple\n").unwrap();
        assert!(token.matches("correct-horse-battery-staple"));
        assert!(!token.matches("correct-horse-battery-stapl"));
        assert!(!token.matches(""));
        assert!(!format!("{token:?}").contains("horse"));
        assert!(AdminToken::new("short").is_err());
        assert!(AdminToken::new("                    ").is_err());
    }

    #[test]
    fn dids_are_bounded() {
        assert!(check_did("did:example:a").is_ok());
        assert!(check_did("").is_err());
        assert!(check_did("did:example:\n").is_err());
        assert!(check_did(&"d".repeat(MAX_DID_BYTES + 1)).is_err());
    }
}
