//! Shared set-up: a real mediator (the mediator crate as a library) on 127.0.0.1 with SQLite
//! in a temporary folder, agents with quick retries, and a TCP proxy that can cut connections.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use didcomm_edge::{DidComm, ResolverChain};
use didcomm_edge_agent::{AgentConfig, EdgeAgent, RetryPolicy};
use didcomm_edge_mediator::config::Settings;
use didcomm_edge_mediator::server::{self, RunningServer};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How long one step of a test may wait.
pub const STEP: Duration = Duration::from_secs(20);

/// Mediator settings: loopback, ephemeral port (or `listen`), SQLite in `data_dir`, quiet.
pub fn settings(data_dir: &Path, listen: Option<SocketAddr>) -> Settings {
    let mut s = Settings::default();
    s.listen = listen.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
    // Several mediators run at once: no admin listener on its fixed default port.
    s.admin_listen = None;
    s.data_dir = data_dir.to_path_buf();
    s.print_qr = false;
    s.shutdown_grace_seconds = 2;
    s.resolve_did_web = false;
    s
}

/// Start a mediator.
pub async fn mediator(settings: Settings) -> RunningServer {
    server::start(settings).await.unwrap()
}

/// Agent configuration for tests: short timeouts, quick retries, quick reconnects.
pub fn config() -> AgentConfig {
    AgentConfig::default()
        .request_timeout(Duration::from_secs(5))
        .retry(RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
        })
        .live_timing(Duration::from_secs(2), Duration::from_millis(300))
}

/// An agent connected to `server` through its `_oob` invitation URL.
pub async fn connected(server: &RunningServer, config: AgentConfig) -> EdgeAgent {
    let agent = EdgeAgent::new(config).unwrap();
    agent.connect(&server.invitation.url).await.unwrap();
    agent
}

/// The mediator's envelope engine, rebuilt from its wallet file: what the mediator can read.
pub fn mediator_view(server: &RunningServer) -> DidComm {
    let wallet = &server.identity.wallet;
    DidComm::new(
        Arc::new(ResolverChain::new().with_pinned(Arc::new(wallet.resolver()))),
        Arc::new(wallet.secrets_store()),
    )
}

/// A loopback TCP proxy to `upstream` whose connections can be cut.
pub struct Proxy {
    pub addr: SocketAddr,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
    /// New connections pass requests on but hang up as soon as the answer starts (the
    /// request was handled; the client never learns it).
    drop_answers: Arc<AtomicBool>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let drop_answers = Arc::new(AtomicBool::new(false));
        let list = Arc::clone(&connections);
        let flag = Arc::clone(&drop_answers);
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let drop_answer = flag.load(Ordering::SeqCst);
                let task = tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    if drop_answer {
                        let (mut from_client, _to_client) = inbound.split();
                        let (mut from_server, mut to_server) = outbound.split();
                        let mut first = [0u8; 1];
                        tokio::select! {
                            _ = tokio::io::copy(&mut from_client, &mut to_server) => {}
                            _ = from_server.read(&mut first) => {}
                        }
                    } else {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                list.lock().unwrap().push(task);
            }
        });
        Proxy {
            addr,
            connections,
            accept,
            drop_answers,
        }
    }

    /// Make new connections hang up when the answer starts (or behave again).
    pub fn drop_answers(&self, on: bool) {
        self.drop_answers.store(on, Ordering::SeqCst);
    }

    /// Drop every open connection (as a network outage would).
    pub fn cut(&self) {
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
