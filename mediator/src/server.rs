//! The HTTP and WebSocket server: routes, transports, per-connection rate limit, background
//! tasks (live delivery, expiry sweep) and graceful shutdown.
//!
//! Routes:
//! - `POST /` and `POST /didcomm`: one packed message. Content types:
//!   `application/didcomm-encrypted+json`, `application/didcomm-signed+json`, and plain
//!   `application/json` (the body is a self-describing JWE/JWS; some HTTP clients cannot set
//!   custom types). `application/didcomm-plain+json` and anything else: 415.
//!   202 when accepted with nothing to reply, 200 with the reply when `return_route` asked for
//!   one; 400/403/413/415/429/503/507 with a JSON body `{"error": kind, "reason": "..."}`.
//! - `GET /ws`: WebSocket; each text or binary frame is one packed message, replies and live
//!   deliveries come back as text frames; a refused frame is answered with the same JSON error
//!   object as HTTP (or a packed problem report, see below) and the connection stays open.
//!
//! A refused request that was authenticated and asked for replies on its connection
//! (`return_route`) is answered with a packed Report Problem 2.0 message
//! (`application/didcomm-encrypted+json`) under the same HTTP status; other refusals get the
//! JSON error object.
//! - `GET /healthz`, `GET /metrics` (Prometheus text).
//! - `GET /oob` (invitation JSON and `_oob` URL), `GET /oob/url`, `GET /oob/qr.svg`.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use didcomm_edge::{Config as EngineConfig, DidComm, InMemoryDidResolver, ResolverChain};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::Settings;
use crate::error::{Error, ErrorKind, Result};
use crate::handler::{Connection, LiveRegistry, LiveSignal, MessageHandler, Transport};
use crate::identity::{self, Identity};
use crate::mediator::{GrantRules, Mediator, MediatorHandler};
use crate::metrics::Metrics;
use crate::oob::Invitation;
use crate::storage::{self, now_ms, Storage};

/// Media types accepted on `POST`.
pub const ACCEPTED_CONTENT_TYPES: [&str; 3] = [
    "application/didcomm-encrypted+json",
    "application/didcomm-signed+json",
    "application/json",
];

/// The HTTP status for an error kind.
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::TooLarge | ErrorKind::Envelope(didcomm_edge::ErrorKind::TooLarge) => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::QuotaExceeded => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::Storage | ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal
        | ErrorKind::Io
        | ErrorKind::Config
        | ErrorKind::Envelope(
            didcomm_edge::ErrorKind::InvalidState | didcomm_edge::ErrorKind::ResolverFailure,
        ) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Per-connection data created when a TCP connection is accepted.
#[derive(Debug, Clone)]
pub struct ConnMeta {
    id: u64,
    peer: SocketAddr,
    bucket: Arc<Mutex<Option<TokenBucket>>>,
}

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

impl Connected<axum::serve::IncomingStream<'_, TcpListener>> for ConnMeta {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TcpListener>) -> Self {
        ConnMeta {
            id: NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed),
            peer: *stream.remote_addr(),
            bucket: Arc::new(Mutex::new(None)),
        }
    }
}

/// A token bucket: `rate` tokens per second, at most `burst` saved up.
#[derive(Debug, Clone, Copy)]
struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl ConnMeta {
    /// Take one token; `Err(wait)` tells how long until one is available.
    fn take(&self, rate: f64, burst: f64) -> std::result::Result<(), Duration> {
        let Ok(mut slot) = self.bucket.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let bucket = slot.get_or_insert(TokenBucket {
            tokens: burst,
            last: now,
        });
        let elapsed = now.duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

/// Everything the routes share.
#[derive(Clone)]
struct App {
    handler: Arc<dyn MessageHandler>,
    storage: Arc<dyn Storage>,
    metrics: Arc<Metrics>,
    live: Arc<LiveRegistry>,
    invitation: Arc<Invitation>,
    did: String,
    max_message_bytes: usize,
    rate: f64,
    burst: f64,
    shutdown: watch::Receiver<bool>,
    /// Held by every WebSocket session; shutdown waits until all clones are gone.
    sessions: mpsc::Sender<()>,
}

/// A started mediator.
#[derive(Debug)]
pub struct RunningServer {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    /// The URL devices use.
    pub public_url: String,
    /// The mediator's identity.
    pub identity: Identity,
    /// The invitation.
    pub invitation: Invitation,
    /// The shared services (storage, engine, metrics).
    pub mediator: Arc<Mediator>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<()>>,
}

impl RunningServer {
    /// Stop accepting, let in-flight requests finish (up to the grace period), close
    /// WebSockets and the storage.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.shutdown.send(true);
        self.task
            .await
            .map_err(|_| Error::new(ErrorKind::Internal, "the server task failed"))?
    }

    /// Wait until the server stops by itself (it only does on shutdown or a fatal error).
    pub async fn wait(self) -> Result<()> {
        self.task
            .await
            .map_err(|_| Error::new(ErrorKind::Internal, "the server task failed"))?
    }

    /// A handle that triggers shutdown from elsewhere (signal handlers).
    pub fn shutdown_trigger(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Start the mediator with its built-in [`MediatorHandler`].
pub async fn start(settings: Settings) -> Result<RunningServer> {
    start_with(settings, |mediator| {
        Arc::new(MediatorHandler::new(mediator)) as Arc<dyn MessageHandler>
    })
    .await
}

/// Start the mediator with the handler `make_handler` builds over the shared services.
pub async fn start_with(
    settings: Settings,
    make_handler: impl FnOnce(Arc<Mediator>) -> Arc<dyn MessageHandler>,
) -> Result<RunningServer> {
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| Error::io(format!("binding {}", settings.listen), &e))?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| Error::io("reading the bound address", &e))?;
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local_addr}"));

    let ws_url = settings
        .public_ws_url
        .clone()
        .unwrap_or_else(|| crate::config::ws_url_for(&public_url));
    let identity = identity::load_or_create(&settings.data_dir, &[&public_url, &ws_url])?;
    // Pinned documents first (the mediator's own, then any configured), then the built-in
    // methods: devices' did:peer and did:key resolve without pinning.
    let mut pinned = InMemoryDidResolver::new(identity.wallet.did_docs.iter().cloned());
    if let Some(path) = &settings.pinned_did_docs {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path.display(), &e))?;
        let docs = didcomm_edge::Wallet::from_json(&text)
            .map_err(|e| Error::from(e).context(path.display()))?;
        for doc in docs.did_docs {
            pinned.insert(doc);
        }
    }
    let mut resolver = ResolverChain::new().with_pinned(Arc::new(pinned));
    if !settings.resolve_did_web {
        resolver = resolver.without_web();
    }
    let didcomm = Arc::new(DidComm::with_config(
        Arc::new(resolver),
        Arc::new(identity.wallet.secrets_store()),
        EngineConfig::default().with_max_message_size(settings.max_message_bytes),
    ));
    let storage = storage::open(&settings.storage()).await?;
    let metrics = Arc::new(Metrics::default());
    let mediator = Arc::new(Mediator {
        did: identity.did.clone(),
        didcomm,
        storage: Arc::clone(&storage),
        metrics: Arc::clone(&metrics),
        quota: settings.quota(),
        message_ttl: Duration::from_secs(settings.message_ttl_seconds),
        grants: GrantRules {
            policy: settings.grant_policy,
            allow_list: settings.grant_allow_list.iter().cloned().collect(),
            tokens: settings
                .grant_tokens
                .iter()
                .filter(|t| !t.is_empty())
                .cloned()
                .collect(),
        },
        max_keys_per_client: settings.max_keys_per_client,
        features: crate::protocols::discover::mediator_features(),
        keylist_proof: settings.keylist_proof,
        delivery_max_bytes: settings.delivery_max_bytes,
    });
    let handler = make_handler(Arc::clone(&mediator));
    let invitation = Invitation::new(&identity.did, &public_url, &settings.label)?;

    let live = Arc::new(LiveRegistry::default());
    let live_task = tokio::spawn(Arc::clone(&live).run(storage.subscribe()));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let sweep_task = tokio::spawn(sweep_loop(
        Arc::clone(&storage),
        Arc::clone(&metrics),
        Duration::from_secs(settings.sweep_interval_seconds.max(1)),
        shutdown_rx.clone(),
    ));
    let (sessions_tx, mut sessions_rx) = mpsc::channel::<()>(1);
    let app = App {
        handler,
        storage: Arc::clone(&storage),
        metrics,
        live,
        invitation: Arc::new(invitation.clone()),
        did: identity.did.clone(),
        max_message_bytes: settings.max_message_bytes,
        rate: settings.rate_limit_per_second,
        burst: settings.rate_limit_burst,
        shutdown: shutdown_rx.clone(),
        sessions: sessions_tx,
    };
    let router = Router::new()
        .route("/", post(post_message).get(get_invitation))
        .route("/didcomm", post(post_message))
        .route("/ws", get(ws_upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/oob", get(get_invitation))
        .route("/oob/url", get(get_invitation_url))
        .route("/oob/qr.svg", get(get_invitation_svg))
        // Bodies are read with our own limit (clear 413s); lift axum's default.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(app);

    let grace = Duration::from_secs(settings.shutdown_grace_seconds);
    let mut wait_shutdown = shutdown_rx.clone();
    let mut grace_shutdown = shutdown_rx;
    let task = tokio::spawn(async move {
        let serve = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<ConnMeta>(),
        )
        .with_graceful_shutdown(async move {
            let _ = wait_shutdown.wait_for(|stop| *stop).await;
        })
        .into_future();
        let deadline = async move {
            let _ = grace_shutdown.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        };
        let served = tokio::select! {
            r = serve => r.map_err(|e| Error::io("serving", &e)),
            () = deadline => {
                tracing::warn!("shutdown grace period over; dropping remaining requests");
                Ok(())
            }
        };
        // WebSocket sessions saw the signal and are closing; wait for them (bounded).
        let _ = tokio::time::timeout(Duration::from_secs(5), sessions_rx.recv()).await;
        sweep_task.abort();
        live_task.abort();
        storage.close().await;
        tracing::info!("mediator stopped");
        served
    });
    Ok(RunningServer {
        local_addr,
        public_url,
        identity,
        invitation,
        mediator,
        shutdown: shutdown_tx,
        task,
    })
}

/// Resolves once shutdown was requested.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn sweep_loop(
    storage: Arc<dyn Storage>,
    metrics: Arc<Metrics>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stopped(&mut shutdown) => return,
        }
        match storage.sweep_expired(now_ms()).await {
            Ok(0) => {}
            Ok(n) => {
                metrics.expired(n);
                tracing::info!(expired = n, "expired messages swept");
            }
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
        }
    }
}

fn refusal(app: &App, kind: ErrorKind, status: StatusCode, reason: &str) -> Response {
    app.metrics.refused(kind.as_str());
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": kind.as_str(), "reason": reason}).to_string(),
    )
        .into_response()
}

fn content_type_ok(headers: &HeaderMap) -> std::result::Result<(), String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err("a Content-Type header is required".into());
    };
    let value = value.to_str().unwrap_or_default();
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if ACCEPTED_CONTENT_TYPES.contains(&essence.as_str()) {
        Ok(())
    } else {
        Err(format!(
            "content type '{essence}' is not accepted; send one of {}",
            ACCEPTED_CONTENT_TYPES.join(", ")
        ))
    }
}

async fn post_message(
    State(app): State<App>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if conn.take(app.rate, app.burst).is_err() {
        app.metrics.refused("rate_limited");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"error": "rate_limited", "reason": "rate limit exceeded on this connection"})
                .to_string(),
        )
            .into_response();
    }
    if let Err(reason) = content_type_ok(&headers) {
        app.metrics.refused("unsupported_media_type");
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"error": "unsupported_media_type", "reason": reason}).to_string(),
        )
            .into_response();
    }
    let too_large = format!(
        "the message exceeds the limit of {} bytes",
        app.max_message_bytes
    );
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > app.max_message_bytes) {
        return refusal(
            &app,
            ErrorKind::TooLarge,
            StatusCode::PAYLOAD_TOO_LARGE,
            &too_large,
        );
    }
    let bytes = match axum::body::to_bytes(body, app.max_message_bytes).await {
        Ok(bytes) => bytes,
        Err(e) => {
            let is_limit = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if is_limit {
                refusal(
                    &app,
                    ErrorKind::TooLarge,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &too_large,
                )
            } else {
                refusal(
                    &app,
                    ErrorKind::BadRequest,
                    StatusCode::BAD_REQUEST,
                    "the request body could not be read",
                )
            };
        }
    };
    if bytes.is_empty() {
        return refusal(
            &app,
            ErrorKind::BadRequest,
            StatusCode::BAD_REQUEST,
            "the request body is empty",
        );
    }
    app.metrics.message_in(Transport::Http);
    let connection = Connection::request_only(conn.id, Transport::Http, conn.peer);
    match app.handler.handle(&bytes, &connection).await {
        Ok(mut replies) => {
            if replies.len() > 1 {
                tracing::warn!(
                    connection = conn.id,
                    dropped = replies.len() - 1,
                    "HTTP carries one reply; extra replies dropped"
                );
            }
            if replies.is_empty() {
                StatusCode::ACCEPTED.into_response()
            } else {
                app.metrics.message_out(Transport::Http);
                let reply = replies.swap_remove(0);
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/didcomm-encrypted+json")],
                    reply,
                )
                    .into_response()
            }
        }
        Err(e) => {
            tracing::info!(connection = conn.id, peer = %conn.peer, error = %e.kind(), "message refused");
            match e.report() {
                // The sender can read a problem report: it carries the refusal.
                Some(report) => {
                    app.metrics.refused(e.kind().as_str());
                    app.metrics.message_out(Transport::Http);
                    (
                        status_for(e.kind()),
                        [(header::CONTENT_TYPE, "application/didcomm-encrypted+json")],
                        report.to_owned(),
                    )
                        .into_response()
                }
                None => refusal(&app, e.kind(), status_for(e.kind()), e.reason()),
            }
        }
    }
}

async fn ws_upgrade(
    State(app): State<App>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    ws: WebSocketUpgrade,
) -> Response {
    // Frames a little over the limit still arrive, so they get a clear refusal instead of a
    // dropped connection; far larger ones close it.
    let hard_cap = app.max_message_bytes.saturating_mul(2).max(64 * 1024);
    ws.max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .on_upgrade(move |socket| ws_session(app, conn, socket))
}

async fn ws_session(app: App, conn: ConnMeta, socket: WebSocket) {
    let _session = app.sessions.clone();
    let (signals_tx, mut signals) = mpsc::channel(64);
    let connection = Connection::live_capable(
        conn.id,
        Transport::WebSocket,
        conn.peer,
        Arc::clone(&app.live),
        signals_tx,
    );
    let (mut sink, mut stream) = socket.split();
    let mut shutdown = app.shutdown.clone();
    app.metrics.ws_connection(true);
    tracing::debug!(connection = conn.id, peer = %conn.peer, "websocket opened");
    loop {
        tokio::select! {
            frame = stream.next() => {
                let bytes = match frame {
                    Some(Ok(WsMessage::Text(text))) => axum::body::Bytes::from(text),
                    Some(Ok(WsMessage::Binary(bytes))) => bytes,
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                    Some(Ok(WsMessage::Close(_)) | Err(_)) | None => break,
                };
                if let Err(wait) = conn.take(app.rate, app.burst) {
                    // Back-pressure instead of refusal: the socket is not read meanwhile.
                    tokio::time::sleep(wait).await;
                    let _ = conn.take(app.rate, app.burst);
                }
                let out = ws_frame(&app, &connection, &bytes).await;
                if send_all(&mut sink, out).await.is_err() {
                    break;
                }
            }
            signal = signals.recv() => {
                let Some(_) = signal else { break };
                // One look at the queues answers every signal waiting now.
                while let Ok(LiveSignal::Stored(_) | LiveSignal::Resync) = signals.try_recv() {}
                let out = match app.handler.deliver_live(&connection).await {
                    Ok(messages) => {
                        for _ in &messages {
                            app.metrics.message_out(Transport::WebSocket);
                        }
                        messages
                    }
                    Err(e) => {
                        tracing::warn!(connection = conn.id, error = %e, "live delivery failed");
                        vec![]
                    }
                };
                if send_all(&mut sink, out).await.is_err() {
                    break;
                }
            }
            () = stopped(&mut shutdown) => {
                let _ = sink
                    .send(WsMessage::Close(Some(CloseFrame {
                        code: 1001,
                        reason: "mediator shutting down".into(),
                    })))
                    .await;
                break;
            }
        }
    }
    connection.stop_live();
    app.metrics.ws_connection(false);
    tracing::debug!(connection = conn.id, "websocket closed");
}

async fn send_all(
    sink: &mut futures_util::stream::SplitSink<WebSocket, WsMessage>,
    messages: Vec<String>,
) -> std::result::Result<(), axum::Error> {
    for m in messages {
        sink.send(WsMessage::Text(m.into())).await?;
    }
    Ok(())
}

/// Handle one WebSocket frame; returns the frames to send back.
async fn ws_frame(app: &App, connection: &Connection, bytes: &[u8]) -> Vec<String> {
    let error = |kind: ErrorKind, reason: &str| {
        app.metrics.refused(kind.as_str());
        vec![json!({"error": kind.as_str(), "reason": reason}).to_string()]
    };
    if bytes.len() > app.max_message_bytes {
        return error(
            ErrorKind::TooLarge,
            &format!(
                "the message exceeds the limit of {} bytes",
                app.max_message_bytes
            ),
        );
    }
    app.metrics.message_in(Transport::WebSocket);
    match app.handler.handle(bytes, connection).await {
        Ok(replies) => {
            for _ in &replies {
                app.metrics.message_out(Transport::WebSocket);
            }
            replies
        }
        Err(e) => {
            tracing::info!(connection = connection.id, error = %e.kind(), "message refused");
            match e.report() {
                Some(report) => {
                    app.metrics.refused(e.kind().as_str());
                    app.metrics.message_out(Transport::WebSocket);
                    vec![report.to_owned()]
                }
                None => error(e.kind(), e.reason()),
            }
        }
    }
}

async fn healthz(State(app): State<App>) -> Response {
    match tokio::time::timeout(Duration::from_secs(3), app.storage.totals()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ok\n").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable\n").into_response(),
    }
}

async fn metrics_text(State(app): State<App>) -> Response {
    let totals = app.storage.totals().await.ok();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(totals),
    )
        .into_response()
}

async fn get_invitation(State(app): State<App>) -> Response {
    axum::Json(json!({
        "did": app.did,
        "invitation": app.invitation.message,
        "url": app.invitation.url,
    }))
    .into_response()
}

async fn get_invitation_url(State(app): State<App>) -> Response {
    (StatusCode::OK, format!("{}\n", app.invitation.url)).into_response()
}

async fn get_invitation_svg(State(app): State<App>) -> Response {
    match app.invitation.qr_svg() {
        Ok(svg) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "image/svg+xml")],
            svg,
        )
            .into_response(),
        Err(e) => refusal(
            &app,
            e.kind(),
            StatusCode::INTERNAL_SERVER_ERROR,
            e.reason(),
        ),
    }
}
