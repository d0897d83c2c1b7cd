//! The HTTP and WebSocket server: routes, transports, limits, background tasks (live
//! delivery, expiry sweep) and graceful shutdown.
//!
//! Limits where attackers live: a rate limit per peer address (IPv6: per /64) over all its
//! connections (HTTP requests are refused with 429 and `Retry-After`, WebSocket frames wait),
//! a cap on open connections (more are closed as soon as they are accepted), a header timeout
//! that is also the keep-alive idle timeout, a body timeout (408, connection closed) and a
//! WebSocket idle timeout (any frame, a ping too, counts as activity). The per-DID rate
//! limit, the unpack pool and the replay cache sit behind the transport, in
//! [`crate::mediator::MediatorHandler`].
//!
//! Routes:
//! - `POST /` and `POST /didcomm`: one packed message. Content types:
//!   `application/didcomm-encrypted+json`, `application/didcomm-signed+json`, and plain
//!   `application/json` (the body is a self-describing JWE/JWS; some HTTP clients cannot set
//!   custom types). `application/didcomm-plain+json` and anything else: 415.
//!   202 when accepted with nothing to reply, 200 with the reply when `return_route` asked for
//!   one; 400/403/408/409/413/415/429/503/507 with a JSON body `{"error": kind, "reason": "..."}`.
//! - `GET /ws`: WebSocket; each text or binary frame is one packed message, replies and live
//!   deliveries come back as text frames; a refused frame is answered with the same JSON error
//!   object as HTTP (or a packed problem report, see below) and the connection stays open.
//!
//! A refused request that was authenticated and asked for replies on its connection
//! (`return_route`) is answered with a packed Report Problem 2.0 message
//! (`application/didcomm-encrypted+json`) under the same HTTP status; other refusals get the
//! JSON error object.
//! - `GET /healthz`: whether the storage answers (kept for deployments that probe it; the
//!   admin listener's `/livez` and `/readyz` are the probes to use, see [`crate::admin`]).
//!   `GET /metrics` only with `metrics_on_service_port` (metrics are on the admin listener).
//! - `GET /oob` (invitation JSON and `_oob` URL), `GET /oob/url`, `GET /oob/qr.svg`.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use didcomm_edge::{Config as EngineConfig, DidComm, InMemoryDidResolver, ResolverChain};
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::admin::{self, AdminApp, Ready};
use crate::config::Settings;
use crate::error::{Error, ErrorKind, Result};
use crate::forwarded::TrustedProxies;
use crate::handler::{Connection, LiveRegistry, LiveSignal, MessageHandler, Transport};
use crate::identity::{self, Identity};
use crate::mediator::{GrantRules, HandlerLimits, KeyedLimit, Mediator, MediatorHandler};
use crate::metrics::Metrics;
use crate::oob::Invitation;
use crate::outbound::{Outbound, OutboundConfig};
use crate::storage::{self, now_ms, Storage};
use crate::tls::ReloadingCert;

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
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Replay => StatusCode::CONFLICT,
        ErrorKind::TimedOut => StatusCode::REQUEST_TIMEOUT,
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
    pub(crate) id: u64,
    pub(crate) peer: SocketAddr,
    /// This connection's place under the connection cap, held until the connection (or the
    /// WebSocket it became) ends.
    _slot: Arc<OwnedSemaphorePermit>,
}

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

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
    per_ip: Arc<KeyedLimit<IpAddr>>,
    body_timeout: Duration,
    ws_idle_timeout: Duration,
    /// Whose forwarding headers name the client.
    proxies: Arc<TrustedProxies>,
    shutdown: watch::Receiver<bool>,
    /// Held by every WebSocket session; shutdown waits until all clones are gone.
    sessions: mpsc::Sender<()>,
}

/// A started mediator.
#[derive(Debug)]
pub struct RunningServer {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    /// The address of the admin listener (`None`: turned off).
    pub admin_addr: Option<SocketAddr>,
    /// The service port's certificate when it speaks TLS ([`ReloadingCert::reload`] reads the
    /// files again).
    pub tls: Option<Arc<ReloadingCert>>,
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
    let limits = HandlerLimits::from_settings(&settings);
    start_with(settings, move |mediator| {
        Arc::new(MediatorHandler::with_limits(mediator, &limits)) as Arc<dyn MessageHandler>
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
    let tls = match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(ReloadingCert::load(cert, key)?)),
        _ => None,
    };
    let acceptor = match &tls {
        Some(cert) => Some(tokio_rustls::TlsAcceptor::from(cert.server_config()?)),
        None => None,
    };
    let proxies = Arc::new(TrustedProxies::parse(&settings.trusted_proxies)?);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{local_addr}"));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let metrics = Arc::new(Metrics::default());
    // The admin listener answers from the start (`/livez` 200, `/readyz` 503 until the
    // identity and the storage are loaded); a failed start drops `shutdown_tx`, which stops it.
    let admin = AdminApp::new(&settings, Arc::clone(&metrics), shutdown_rx.clone())?;
    let admin_ready = Arc::clone(&admin.ready);
    let (admin_addr, admin_task) = match settings.admin_listen {
        Some(addr) => {
            let admin_listener = TcpListener::bind(addr)
                .await
                .map_err(|e| Error::io(format!("binding the admin listener {addr}"), &e))?;
            let bound = admin_listener
                .local_addr()
                .map_err(|e| Error::io("reading the admin address", &e))?;
            if !bound.ip().is_loopback() {
                tracing::warn!(admin = %bound, "the admin listener is not on a loopback address");
            }
            let serving = Serving {
                router: admin::router(admin),
                slots: Arc::new(Semaphore::new(admin::ADMIN_MAX_CONNECTIONS)),
                header_timeout: Duration::from_secs(settings.header_timeout_seconds.max(1)),
                metrics: Arc::clone(&metrics),
                tls: None,
            };
            let task = tokio::spawn(serving.accept_loop(admin_listener, shutdown_rx.clone()));
            (Some(bound), Some(task))
        }
        None => (None, None),
    };

    let ws_url = settings
        .public_ws_url
        .clone()
        .unwrap_or_else(|| didcomm_edge::routing::mediator_websocket_url(&public_url));
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
    resolver = if settings.resolve_did_web {
        resolver.with_web(didcomm_edge_web::resolver()?)
    } else {
        resolver.without_web()
    };
    let didcomm = Arc::new(DidComm::with_config(
        Arc::new(resolver),
        Arc::new(identity.wallet.secrets_store()),
        EngineConfig::default()
            .with_max_message_size(settings.max_message_bytes)
            // No message to the mediator needs more attachments than a forward may carry, and
            // the engine counts them before it builds the message.
            .with_max_attachments(settings.max_forward_attachments),
    ));
    let storage = storage::open(&settings.storage()).await?;
    let live = Arc::new(LiveRegistry::default());
    let outbound = settings.outbound_delivery.then(|| {
        Arc::new(Outbound::new(
            Arc::clone(&storage),
            Arc::clone(&metrics),
            OutboundConfig::from_settings(&settings),
        ))
    });
    let push = match &settings.push_gateway_url {
        Some(url) => Some(Arc::new(crate::push::Pusher::new(
            url,
            Arc::clone(&storage),
            Arc::clone(&metrics),
            identity.did.clone(),
            Duration::from_secs(settings.push_min_interval_seconds),
            settings.push_max_attempts,
            Duration::from_secs(settings.push_timeout_seconds),
        )?)),
        None => None,
    };
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
        outbound: outbound.clone(),
        push,
        live: Arc::clone(&live),
    });
    let handler = make_handler(Arc::clone(&mediator));
    let invitation = Invitation::new(&identity.did, &public_url, &settings.label)?;

    let outbound_task = outbound.map(|o| tokio::spawn(o.run(shutdown_rx.clone())));
    let live_task = tokio::spawn(Arc::clone(&live).run(storage.subscribe()));
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
        per_ip: Arc::new(KeyedLimit::new(
            settings.rate_limit_per_second,
            settings.rate_limit_burst,
        )),
        body_timeout: Duration::from_secs(settings.body_timeout_seconds.max(1)),
        ws_idle_timeout: Duration::from_secs(settings.ws_idle_timeout_seconds.max(1)),
        proxies,
        shutdown: shutdown_rx.clone(),
        sessions: sessions_tx,
    };
    let mut router = Router::new()
        .route("/", post(post_message).get(get_invitation))
        .route("/didcomm", post(post_message))
        .route("/ws", get(ws_upgrade))
        // Kept for deployments that probe it; the admin listener's /livez and /readyz are
        // the probes to use.
        .route("/healthz", get(healthz));
    if settings.metrics_on_service_port {
        router = router.route("/metrics", get(metrics_text));
    }
    let router = router
        .route("/oob", get(get_invitation))
        .route("/oob/url", get(get_invitation_url))
        .route("/oob/qr.svg", get(get_invitation_svg))
        // Bodies are read with our own limit (clear 413s); lift axum's default.
        .layer(axum::extract::DefaultBodyLimit::disable());
    let router = match cors_layer(&settings.cors_allowed_origins)? {
        Some(cors) => router.layer(cors),
        None => router,
    }
    .with_state(app);

    let grace = Duration::from_secs(settings.shutdown_grace_seconds);
    let serving = Serving {
        router,
        slots: Arc::new(Semaphore::new(settings.max_connections.max(1))),
        header_timeout: Duration::from_secs(settings.header_timeout_seconds.max(1)),
        metrics: Arc::clone(&mediator.metrics),
        tls: acceptor,
    };
    let mut grace_shutdown = shutdown_rx.clone();
    let task = tokio::spawn(async move {
        let serve = serving.accept_loop(listener, shutdown_rx);
        let deadline = async move {
            let _ = grace_shutdown.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        };
        let served = tokio::select! {
            r = serve => r,
            () = deadline => {
                tracing::warn!("shutdown grace period over; dropping remaining requests");
                Ok(())
            }
        };
        // WebSocket sessions saw the signal and are closing; wait for them (bounded).
        let _ = tokio::time::timeout(Duration::from_secs(5), sessions_rx.recv()).await;
        if let Some(mut admin_task) = admin_task {
            if tokio::time::timeout(Duration::from_secs(2), &mut admin_task)
                .await
                .is_err()
            {
                admin_task.abort();
            }
        }
        sweep_task.abort();
        live_task.abort();
        // Attempts still in flight find the storage closed: their leases run out and the
        // next start delivers them.
        if let Some(task) = outbound_task {
            task.abort();
        }
        storage.close().await;
        tracing::info!("mediator stopped");
        served
    });
    let _ = admin_ready.set(Ready {
        storage: Arc::clone(&mediator.storage),
        did: identity.did.clone(),
    });
    Ok(RunningServer {
        local_addr,
        admin_addr,
        tls,
        public_url,
        identity,
        invitation,
        mediator,
        shutdown: shutdown_tx,
        task,
    })
}

/// The accept loop's state: the routes, the connection cap, the HTTP/1 timeouts, TLS.
struct Serving {
    router: Router,
    slots: Arc<Semaphore>,
    header_timeout: Duration,
    metrics: Arc<Metrics>,
    /// The TLS handshake every connection goes through first, when the port speaks TLS.
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Serving {
    /// Accept connections until shutdown, then wait until the open ones have finished their
    /// requests (the caller bounds that wait by the grace period).
    async fn accept_loop(
        self,
        listener: TcpListener,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<()> {
        // Every connection task holds a clone; `recv` returns `None` once all are gone.
        let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = stopped(&mut shutdown) => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(slot) = Arc::clone(&self.slots).try_acquire_owned() else {
                // Over the cap: close at once rather than hold a socket the server cannot serve.
                self.metrics.refused("connection_limit");
                tracing::debug!(peer = %peer, "connection refused: too many open");
                drop(stream);
                continue;
            };
            let meta = ConnMeta {
                id: NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed),
                peer,
                _slot: Arc::new(slot),
            };
            tokio::spawn(serve_accepted(
                stream,
                meta,
                self.router.clone(),
                self.header_timeout,
                shutdown.clone(),
                open_tx.clone(),
                self.tls.clone(),
            ));
        }
        drop(listener);
        drop(open_tx);
        let _ = open_rx.recv().await;
        Ok(())
    }
}

/// Serve an accepted connection: the TLS handshake first when the port speaks TLS (within
/// the header timeout: a client that stalls it is dropped), then HTTP/1.
async fn serve_accepted(
    stream: TcpStream,
    meta: ConnMeta,
    router: Router,
    header_timeout: Duration,
    shutdown: watch::Receiver<bool>,
    open: mpsc::Sender<()>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = tls else {
        return serve_connection(stream, meta, router, header_timeout, shutdown, open).await;
    };
    match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => {
            serve_connection(stream, meta, router, header_timeout, shutdown, open).await
        }
        Ok(Err(e)) => tracing::debug!(peer = %meta.peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(peer = %meta.peer, "TLS handshake timed out"),
    }
}

/// Serve one HTTP/1 connection (and its upgrade to a WebSocket) until it closes, or until
/// shutdown lets its in-flight request finish.
async fn serve_connection<S>(
    stream: S,
    meta: ConnMeta,
    router: Router,
    header_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
    _open: mpsc::Sender<()>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(meta.clone()));
            let mut router = router.clone();
            async move {
                use tower_service::Service as _;
                router.call(request.map(Body::new)).await
            }
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Counted from the first poll for a request head, so also between kept-alive requests.
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        r = connection.as_mut() => r,
        () = stopped(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
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

/// The key an address is rate-limited under: IPv4 addresses (also IPv4-mapped IPv6) as they
/// are, IPv6 addresses by their /64, the smallest block one subscriber usually gets (so
/// rotating through one's own prefix does not buy a fresh budget).
fn rate_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !u128::from(u64::MAX),
            )),
        },
    }
}

/// Add `Retry-After` (whole seconds, at least 1) when the error says when to retry.
fn with_retry_after(mut response: Response, wait: Option<Duration>) -> Response {
    if let Some(wait) = wait {
        let seconds = wait
            .as_secs()
            .saturating_add(u64::from(wait.subsec_nanos() > 0));
        if let Ok(value) = header::HeaderValue::from_str(&seconds.max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
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
    let client = app.proxies.client(conn.peer.ip(), &headers);
    if let Err(wait) = app.per_ip.check(&rate_key(client)) {
        let e = Error::rate_limited("this address", wait);
        return with_retry_after(
            refusal(&app, e.kind(), status_for(e.kind()), e.reason()),
            e.retry_after(),
        );
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
    let read = tokio::time::timeout(
        app.body_timeout,
        axum::body::to_bytes(body, app.max_message_bytes),
    )
    .await;
    let Ok(read) = read else {
        // A body that stalls (slowloris): answer and close the connection.
        let mut response = refusal(
            &app,
            ErrorKind::TimedOut,
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time",
        );
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        return response;
    };
    let bytes = match read {
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
                    ErrorKind::IllegalArgument,
                    StatusCode::BAD_REQUEST,
                    "the request body could not be read",
                )
            };
        }
    };
    if bytes.is_empty() {
        return refusal(
            &app,
            ErrorKind::IllegalArgument,
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
            tracing::info!(connection = conn.id, peer = %conn.peer, client = %client, error = %e.kind(), "message refused");
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
                None => with_retry_after(
                    refusal(&app, e.kind(), status_for(e.kind()), e.reason()),
                    e.retry_after(),
                ),
            }
        }
    }
}

async fn ws_upgrade(
    State(app): State<App>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // Behind a trusted proxy the client is named by the upgrade request's headers.
    let client = app.proxies.client(conn.peer.ip(), &headers);
    // Frames a little over the limit still arrive, so they get a clear refusal instead of a
    // dropped connection; far larger ones close it.
    let hard_cap = app.max_message_bytes.saturating_mul(2).max(64 * 1024);
    ws.max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .on_upgrade(move |socket| ws_session(app, conn, client, socket))
}

async fn ws_session(app: App, conn: ConnMeta, client: IpAddr, socket: WebSocket) {
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
    let idle = tokio::time::sleep(app.ws_idle_timeout);
    tokio::pin!(idle);
    loop {
        tokio::select! {
            frame = stream.next() => {
                // Any frame, a ping too, shows the peer is alive.
                idle.as_mut().reset(tokio::time::Instant::now() + app.ws_idle_timeout);
                let bytes = match frame {
                    Some(Ok(WsMessage::Text(text))) => axum::body::Bytes::from(text),
                    Some(Ok(WsMessage::Binary(bytes))) => bytes,
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
                    Some(Ok(WsMessage::Close(_)) | Err(_)) | None => break,
                };
                if let Err(wait) = app.per_ip.check(&rate_key(client)) {
                    // Back-pressure instead of refusal: the socket is not read meanwhile
                    // (shutdown still ends the wait).
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = stopped(&mut shutdown) => break,
                    }
                    let _ = app.per_ip.check(&rate_key(client));
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
            () = &mut idle => {
                tracing::debug!(connection = conn.id, "websocket idle; closing");
                app.metrics.refused("ws_idle");
                let _ = sink
                    .send(WsMessage::Close(Some(CloseFrame {
                        code: 1000,
                        reason: "idle timeout".into(),
                    })))
                    .await;
                break;
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
    match tokio::time::timeout(Duration::from_secs(3), app.storage.ready()).await {
        Ok(Ok(_)) => (StatusCode::OK, "ok\n").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable\n").into_response(),
    }
}

async fn metrics_text(State(app): State<App>) -> Response {
    let totals = app.storage.totals().await.ok();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
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

/// The longest origin accepted in `cors_allowed_origins` (an origin is scheme, host and port).
const MAX_ORIGIN_LEN: usize = 253 + 20;

/// CORS for browser agents: the pages of `origins` (or any, for `*`) may POST messages, read
/// the answers and fetch the invitation; preflights are answered without reaching the
/// handler. `None` when no origin is configured (no CORS headers at all).
pub(crate) fn cors_layer(origins: &[String]) -> Result<Option<tower_http::cors::CorsLayer>> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.iter().any(|o| o == "*") {
        if origins.len() > 1 {
            return Err(Error::config(
                "cors_allowed_origins: '*' allows every origin; list no others beside it",
            ));
        }
        AllowOrigin::any()
    } else {
        let mut values = Vec::with_capacity(origins.len());
        for origin in origins {
            values.push(origin_header(origin)?);
        }
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
            .allow_headers([axum::http::header::CONTENT_TYPE])
            .max_age(Duration::from_secs(600)),
    ))
}

/// One configured origin as the header value browsers send: `scheme://host[:port]`, nothing
/// after it (a trailing `/` or a path never matches an `Origin` header).
fn origin_header(origin: &str) -> Result<axum::http::HeaderValue> {
    let refuse = |why: &str| {
        Error::config(format!(
            "cors_allowed_origins: '{}' {why}",
            crate::error::excerpt(origin)
        ))
    };
    if origin.len() > MAX_ORIGIN_LEN {
        return Err(refuse("is too long for an origin"));
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err(refuse("is not scheme://host[:port]"));
    };
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.contains('/') {
        return Err(refuse(
            "is not an http(s) origin (scheme://host[:port], no path)",
        ));
    }
    axum::http::HeaderValue::from_str(origin).map_err(|_| refuse("is not a header value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_share_a_budget_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(rate_key(a), rate_key(b));
        assert_ne!(rate_key(a), rate_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(rate_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
        let v4: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(rate_key(v4), v4);
    }
}
