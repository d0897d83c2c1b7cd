//! Outbound delivery against the real mediator binary: replies to requests without
//! `return_route` and forwards for a gateway with an endpoint of its own are POSTed to the
//! endpoint in the DID document (a real HTTP receiver on loopback), survive a kill -9 of the
//! mediator, and are never sent to loopback unless the settings allow it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use didcomm_edge::protocols::mediation::{MediationVersion, RecipientUpdateItem};
use didcomm_edge::protocols::trust_ping::{Ping, PING_RESPONSE_TYPE};
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::{DidCommService, Identity, IdentityMethod, RouteOptions};
use didcomm_edge_testkit::{Device, HttpConnection, MediatorProcess};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What the receiver saw: the content type and the body of each POST.
type Received = mpsc::Receiver<(String, String)>;

/// A DIDComm endpoint on loopback that answers 202 to every POST and reports what it got.
async fn receiver_on(listener: TcpListener) -> Received {
    let (tx, rx) = mpsc::channel(16);
    let app = Router::new()
        .route(
            "/didcomm",
            post(
                |State(tx): State<mpsc::Sender<(String, String)>>,
                 headers: HeaderMap,
                 body: String| async move {
                    let ct = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send((ct, body)).await;
                    StatusCode::ACCEPTED
                },
            ),
        )
        .with_state(tx);
    tokio::spawn(async move { axum::serve(listener, app).await });
    rx
}

async fn receiver() -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, receiver_on(listener).await)
}

fn endpoint(addr: SocketAddr) -> String {
    format!("http://{addr}/didcomm")
}

async fn start(data_dir: &Path, extra: &[&str]) -> MediatorProcess {
    let bin = Path::new(env!("CARGO_BIN_EXE_didcomm-edge-mediator"));
    let mut args = vec![
        "--log-filter",
        "warn",
        "--outbound-retry-initial-ms",
        "100",
        "--outbound-retry-max-ms",
        "400",
        "--outbound-timeout-seconds",
        "1",
    ];
    args.extend_from_slice(extra);
    MediatorProcess::start(bin, data_dir, args)
        .await
        .expect("start the mediator binary")
}

/// A device whose DID document names `uri` as its own endpoint.
fn device_at(uri: &str, mediator_did: &str) -> Device {
    let identity =
        Identity::generate(IdentityMethod::Peer2, Some(&DidCommService::new(uri))).unwrap();
    Device::from_wallet(
        identity.to_wallet().unwrap(),
        mediator_did,
        MediationVersion::V2,
    )
    .unwrap()
}

/// A trust ping from `device` to the mediator without `return_route`, POSTed; returns its id.
async fn ping_without_return_route(mediator: &MediatorProcess, device: &Device) -> String {
    let ping = Ping::default()
        .to_message()
        .unwrap()
        .from(device.did.clone())
        .to(mediator.did.clone());
    let id = ping.id.clone();
    let packed = device.pack(&ping).await.unwrap();
    let mut http = HttpConnection::connect(mediator.addr).await.unwrap();
    let answer = http.post_packed(&packed).await.unwrap();
    assert_eq!(answer.status, 202, "{}", answer.text());
    id
}

async fn next(received: &mut Received, wait: Duration) -> Option<(String, String)> {
    tokio::time::timeout(wait, received.recv())
        .await
        .ok()
        .flatten()
}

async fn metrics(mediator: &MediatorProcess) -> String {
    let mut http = HttpConnection::connect(mediator.admin_addr.unwrap())
        .await
        .unwrap();
    http.get("/metrics").await.unwrap().text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_without_return_route_is_answered_at_the_senders_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, mut received) = receiver().await;
    let mediator = start(dir.path(), &["--outbound-allow-loopback", "true"]).await;
    let device = device_at(&endpoint(addr), &mediator.did);
    let id = ping_without_return_route(&mediator, &device).await;

    let (content_type, body) = next(&mut received, Duration::from_secs(20))
        .await
        .expect("the ping-response reached the device's endpoint");
    assert_eq!(content_type, "application/didcomm-encrypted+json");
    let response = device.unpack(&body).await.unwrap();
    assert_eq!(response.type_, PING_RESPONSE_TYPE);
    assert_eq!(response.thid.as_deref(), Some(id.as_str()));
    assert_eq!(response.from.as_deref(), Some(mediator.did.as_str()));
    // Delivered once.
    assert!(next(&mut received, Duration::from_millis(500))
        .await
        .is_none());
    let text = metrics(&mediator).await;
    assert!(
        text.contains("didcomm_mediator_outbound_deliveries_total{result=\"ok\"} 1"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_endpoints_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, mut received) = receiver().await;
    let mediator = start(dir.path(), &[]).await;
    let device = device_at(&endpoint(addr), &mediator.did);
    ping_without_return_route(&mediator, &device).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = metrics(&mediator).await;
        if text.contains("didcomm_mediator_outbound_deliveries_total{result=\"given_up\"} 1") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(next(&mut received, Duration::from_millis(300))
        .await
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    // A port with nobody listening yet.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let flags = [
        "--outbound-allow-loopback",
        "true",
        "--outbound-max-attempts",
        "1000",
    ];
    let mediator = start(dir.path(), &flags).await;
    let device = device_at(&endpoint(addr), &mediator.did);
    let id = ping_without_return_route(&mediator, &device).await;
    // Let a few attempts fail.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !metrics(&mediator)
        .await
        .contains("didcomm_mediator_outbound_deliveries_total{result=\"failed\"} 2")
    {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    mediator.kill().await.unwrap();

    let mut received = receiver_on(TcpListener::bind(addr).await.unwrap()).await;
    let mediator = start(dir.path(), &flags).await;
    let (_, body) = next(&mut received, Duration::from_secs(20))
        .await
        .expect("delivered after the restart");
    let response = device.unpack(&body).await.unwrap();
    assert_eq!(response.thid.as_deref(), Some(id.as_str()));
    drop(mediator);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_for_a_gateway_go_to_its_own_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, mut received) = receiver().await;
    let mediator = start(dir.path(), &["--outbound-allow-loopback", "true"]).await;
    let mut http = HttpConnection::connect(mediator.addr).await.unwrap();

    // The gateway holds a grant and registers a DID whose service is its own endpoint.
    let mut gateway = Device::new(&mediator.did, MediationVersion::V2).unwrap();
    gateway.mediate_over(&mut http).await.unwrap();
    let own = Identity::generate(
        IdentityMethod::Peer2,
        Some(&DidCommService::new(endpoint(addr))),
    )
    .unwrap();
    let recipient = gateway.add_recipient_identity(&own).unwrap();
    let update = gateway
        .keylist_update(vec![RecipientUpdateItem::add(recipient.clone())])
        .await
        .unwrap();
    let reply = gateway.call_over(&mut http, &update).await.unwrap();
    gateway.handle_mediation(&reply).unwrap();

    // A sender forwards a message for it through the mediator.
    let sender = Device::new(&mediator.did, MediationVersion::V2).unwrap();
    let packed = sender
        .authcrypt(&recipient, json!({"text": "for the gateway"}))
        .await
        .unwrap();
    let forward = sender
        .didcomm
        .wrap_in_forward(
            &packed,
            &recipient,
            std::slice::from_ref(&mediator.did),
            &RouteOptions::default(),
        )
        .await
        .unwrap();
    let answer = http.post_packed(&forward).await.unwrap();
    assert_eq!(answer.status, 202, "{}", answer.text());

    let (_, body) = next(&mut received, Duration::from_secs(20))
        .await
        .expect("the forwarded message reached the gateway's endpoint");
    assert_eq!(body, packed, "the message as the sender packed it");
    let message = gateway.unpack(&body).await.unwrap();
    assert_eq!(message.body.unwrap()["text"], "for the gateway");
}
