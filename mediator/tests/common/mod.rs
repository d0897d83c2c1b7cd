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

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use didcomm_edge::protocols::mediation::MediationVersion;
use didcomm_edge::protocols::pickup::{
    DeliveryRequest, MessagesReceived, PickupVersion, StatusRequest,
};
use didcomm_edge::Message;
use didcomm_edge_mediator::config::Settings;
use didcomm_edge_mediator::server::{self, RunningServer};
use didcomm_edge_testkit::{Device, HttpAnswer, HttpConnection, WsConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

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
    s.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    // The existing tests read the metrics on the service port (the compatibility path).
    s.metrics_on_service_port = true;
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

    pub async fn http(&self) -> HttpConnection {
        HttpConnection::connect(self.server.local_addr)
            .await
            .unwrap()
    }

    pub async fn ws(&self) -> WsConnection {
        didcomm_edge_testkit::connect_ws(self.server.local_addr, STEP)
            .await
            .unwrap()
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
pub async fn call(http: &mut HttpConnection, device: &Device, packed: &str) -> Message {
    device.call_over(http, packed).await.unwrap()
}

/// POST `packed`; expect a refusal `status` carrying a packed problem report, and unpack it.
pub async fn refused(
    http: &mut HttpConnection,
    device: &Device,
    packed: &str,
    status: u16,
) -> Message {
    let r: HttpAnswer = http.post_packed(packed).await.unwrap();
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r.is_didcomm(), "a packed problem report: {}", r.text());
    device.unpack(&r.text()).await.unwrap()
}

/// Mediation (request → grant), a new recipient DID routed through the mediator, and its
/// keylist update; returns the recipient DID.
pub async fn enroll(http: &mut HttpConnection, device: &mut Device) -> String {
    let routing_did = device.mediate_over(http).await.unwrap();
    assert_eq!(routing_did, std::slice::from_ref(&device.mediator_did));
    add_recipient(http, device).await
}

/// A new recipient DID for `device`, registered with the mediator; returned.
pub async fn add_recipient(http: &mut HttpConnection, device: &mut Device) -> String {
    let routing = device.mediator_did.clone();
    let recipient = device.add_recipient_over(http, &routing).await.unwrap();
    assert!(device.mediation.recipient_dids.contains(&recipient));
    recipient
}

/// A `status-request` of `version` for every recipient DID of the device.
pub fn status_request(version: PickupVersion) -> StatusRequest {
    StatusRequest {
        version,
        recipient_did: None,
    }
}

/// One `delivery-request` of `version` for up to `limit` messages by `device`; the reply.
pub async fn delivery(
    http: &mut HttpConnection,
    device: &Device,
    version: PickupVersion,
    limit: u64,
) -> Message {
    let (request, _) = device
        .request(&DeliveryRequest {
            version,
            limit,
            recipient_did: None,
        })
        .await
        .unwrap();
    call(http, device, &request).await
}

/// POST `messages-received` of `version` for `ids` by `device`; the answer.
pub async fn messages_received(
    http: &mut HttpConnection,
    device: &Device,
    version: PickupVersion,
    ids: Vec<String>,
) -> HttpAnswer {
    let (ack, _) = device
        .request(&MessagesReceived {
            version,
            message_id_list: ids,
        })
        .await
        .unwrap();
    http.post_packed(&ack).await.unwrap()
}

// Raw HTTP, byte for byte, for what no client sends (slow, cut or malformed requests, a
// request from a chosen local address).

/// A second loopback address: Linux routes all of 127.0.0.0/8 to the loopback interface, so
/// a client bound here is "another peer" to the server on 127.0.0.1.
pub const OTHER_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Whether this host routes [`OTHER_PEER`] to loopback (Linux does; macOS only has
/// 127.0.0.1 unless configured): the checks that need a second peer address are skipped
/// where it cannot be bound.
pub fn other_peer_available() -> bool {
    let available = std::net::TcpListener::bind(SocketAddr::new(OTHER_PEER, 0)).is_ok();
    if !available {
        eprintln!("127.0.0.2 cannot be bound here: skipping the second-address checks");
    }
    available
}

/// A TCP connection to `addr` from `local` (any port).
pub async fn connect_from(local: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(local, 0)).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Write `request` on a fresh connection from `local` and read until the server closes it or
/// `STEP` passes; returns what was read.
pub async fn raw_exchange(local: IpAddr, addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = connect_from(local, addr).await;
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(STEP, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP/1.1 answer (`0` when there was none).
pub fn status_of(answer: &str) -> u16 {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}
