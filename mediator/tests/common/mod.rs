//! Shared test set-up: a real PostgreSQL server (started once per test binary unless
//! `DIDCOMM_EDGE_TEST_PG` names one) and fresh databases on it.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;
use std::sync::OnceLock;

/// The URL of the test PostgreSQL server (its `postgres` database).
pub fn pg_server_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("DIDCOMM_EDGE_TEST_PG") {
            if !url.is_empty() {
                return url;
            }
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");
        let dir = std::env::temp_dir().join(format!("didcomm-edge-test-pg-{}", std::process::id()));
        let out = Command::new("bash")
            .arg(script)
            .arg("start")
            .arg(&dir)
            .arg("--owner-pid")
            .arg(std::process::id().to_string())
            .output()
            .expect("run scripts/postgres.sh");
        assert!(
            out.status.success(),
            "postgres.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf-8 url")
            .trim()
            .to_owned()
    })
    .clone()
}

/// A new, empty database on the test server; returns its URL.
pub async fn fresh_pg_database() -> String {
    let server = pg_server_url();
    let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
        .await
        .expect("connect to the test postgres");
    let driver = tokio::spawn(connection);
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    drop(client);
    let _ = driver.await;
    let base = server.rsplit_once('/').expect("url has a path").0;
    format!("{base}/{name}")
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

use std::path::Path;
use std::sync::Arc;

use didcomm_edge_mediator::client::{Device, HttpClient};
use didcomm_edge_mediator::config::Settings;
use didcomm_edge_mediator::server::{self, RunningServer};
use didcomm_edge_mediator::storage::{Grant, KeylistAction, KeylistUpdate, Storage};

/// Settings for a test mediator: loopback, ephemeral port, no QR, quiet.
pub fn test_settings(data_dir: &Path, database_url: Option<String>) -> Settings {
    let mut s = Settings::default();
    s.listen = "127.0.0.1:0".parse().unwrap();
    s.data_dir = data_dir.to_path_buf();
    s.database_url = database_url;
    s.print_qr = false;
    s.shutdown_grace_seconds = 5;
    s.pinned_did_docs = Some(data_dir.join("pinned.json"));
    s
}

/// Device identities, pinned in `data_dir/pinned.json` so the mediator can resolve them.
pub fn make_devices(data_dir: &Path, n: usize) -> Vec<didcomm_edge::Wallet> {
    std::fs::create_dir_all(data_dir).unwrap();
    let wallets: Vec<didcomm_edge::Wallet> = (0..n)
        .map(|_| didcomm_edge_mediator::identity::new_mediator_identity("").unwrap())
        .collect();
    let pinned = didcomm_edge::Wallet {
        did_docs: wallets.iter().flat_map(|w| w.did_docs.clone()).collect(),
        secrets: vec![],
    };
    std::fs::write(
        data_dir.join("pinned.json"),
        pinned.to_json_pretty().unwrap(),
    )
    .unwrap();
    wallets
}

/// Grant mediation to `did` and register `did` itself as its recipient key.
pub async fn grant(storage: &Arc<dyn Storage>, did: &str, mediator: &str) {
    storage
        .put_grant(&Grant {
            did: did.into(),
            routing_did: mediator.into(),
            granted_at_ms: 1,
        })
        .await
        .unwrap();
    storage
        .update_keylist(
            did,
            &[KeylistUpdate {
                key: did.into(),
                action: KeylistAction::Add,
            }],
        )
        .await
        .unwrap();
}

/// A started mediator plus devices that know its document and each other's.
pub struct World {
    pub server: RunningServer,
    pub devices: Vec<Device>,
}

impl World {
    pub async fn start(settings: Settings, wallets: &[didcomm_edge::Wallet]) -> World {
        let server = server::start(settings).await.unwrap();
        let mut known = server.identity.wallet.did_docs.clone();
        known.extend(wallets.iter().flat_map(|w| w.did_docs.clone()));
        let devices = wallets
            .iter()
            .map(|w| Device::from_wallet(w.clone(), &known).unwrap())
            .collect();
        World { server, devices }
    }

    pub fn mediator_did(&self) -> String {
        self.server.identity.did.clone()
    }

    pub async fn http(&self) -> HttpClient {
        HttpClient::connect(self.server.local_addr).await.unwrap()
    }
}
