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
use std::time::Duration;

use didcomm_edge::protocols::mediation::{MediationEvent, MediationVersion, RecipientUpdateItem};
use didcomm_edge::Message;
use didcomm_edge_mediator::client::{Device, HttpClient, HttpResponse, WsClient};
use didcomm_edge_mediator::config::Settings;
use didcomm_edge_mediator::server::{self, RunningServer};

/// How long one step of a test may wait.
pub const STEP: Duration = Duration::from_secs(20);

/// Settings for a test mediator: loopback, ephemeral port, no QR, quiet.
pub fn test_settings(data_dir: &Path, database_url: Option<String>) -> Settings {
    let mut s = Settings::default();
    s.listen = "127.0.0.1:0".parse().unwrap();
    s.data_dir = data_dir.to_path_buf();
    s.database_url = database_url;
    s.print_qr = false;
    s.shutdown_grace_seconds = 5;
    s
}

/// A started mediator.
pub struct World {
    pub server: RunningServer,
}

impl World {
    pub async fn start(settings: Settings) -> World {
        World {
            server: server::start(settings).await.unwrap(),
        }
    }

    pub fn mediator_did(&self) -> String {
        self.server.identity.did.clone()
    }

    pub async fn http(&self) -> HttpClient {
        HttpClient::connect(self.server.local_addr).await.unwrap()
    }

    pub async fn ws(&self) -> WsClient {
        WsClient::connect(self.server.local_addr).await.unwrap()
    }

    /// A new device of this mediator (not enrolled yet).
    pub fn device(&self, version: MediationVersion) -> Device {
        Device::new(&self.mediator_did(), version).unwrap()
    }

    /// A new device, granted mediation and with one registered recipient DID (returned),
    /// enrolled with real protocol messages over HTTP.
    pub async fn enrolled(&self, version: MediationVersion) -> (Device, String) {
        let mut device = self.device(version);
        let mut http = self.http().await;
        let recipient = enroll(&mut http, &mut device).await;
        (device, recipient)
    }
}

/// POST `packed`; expect a 200 with a packed reply and unpack it.
pub async fn call(http: &mut HttpClient, device: &Device, packed: &str) -> Message {
    let r = http.post_packed(packed).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.is_didcomm(), "{:?}", r.content_type);
    device.unpack(&r.text()).await.unwrap()
}

/// POST `packed`; expect a refusal `status` carrying a packed problem report, and unpack it.
pub async fn refused(http: &mut HttpClient, device: &Device, packed: &str, status: u16) -> Message {
    let r: HttpResponse = http.post_packed(packed).await.unwrap();
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r.is_didcomm(), "a packed problem report: {}", r.text());
    device.unpack(&r.text()).await.unwrap()
}

/// Mediation (request → grant), a new recipient DID routed through the mediator, and its
/// keylist update; returns the recipient DID.
pub async fn enroll(http: &mut HttpClient, device: &mut Device) -> String {
    let request = device.mediate_request().await.unwrap();
    let reply = call(http, device, &request).await;
    let MediationEvent::Granted { routing_did } = device.handle_mediation(&reply).unwrap() else {
        panic!("not granted: {reply:?}")
    };
    assert_eq!(routing_did, std::slice::from_ref(&device.mediator_did));
    add_recipient(http, device).await
}

/// A new recipient DID for `device`, registered with the mediator; returned.
pub async fn add_recipient(http: &mut HttpClient, device: &mut Device) -> String {
    let routing = device.mediator_did.clone();
    let recipient = device.new_recipient_did(&routing).unwrap();
    let update = device
        .keylist_update(vec![RecipientUpdateItem::add(recipient.clone())])
        .await
        .unwrap();
    let reply = call(http, device, &update).await;
    device.handle_mediation(&reply).unwrap();
    assert!(device.mediation.recipient_dids.contains(&recipient));
    recipient
}
