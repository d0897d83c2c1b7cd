//! The mediator over real HTTP and WebSocket on 127.0.0.1, with real SQLite files and a real
//! PostgreSQL server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{grant, make_devices, test_settings, World};
use didcomm_edge_mediator::client::{Device, HttpClient};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const STEP: Duration = Duration::from_secs(20);

async fn pickup(
    http: &mut HttpClient,
    device: &Device,
    mediator: &str,
    name: &str,
    body: Value,
) -> didcomm_edge::Message {
    let request = device.pickup_request(mediator, name, body).await.unwrap();
    let response = http.post_packed(&request).await.unwrap();
    assert_eq!(response.status, 200, "{name}: {}", response.text());
    assert_eq!(
        response.content_type.as_deref(),
        Some("application/didcomm-encrypted+json")
    );
    device.unpack(&response.text()).await.unwrap()
}

/// Forward → status → delivery → messages-received → empty, with duplicates stored once.
async fn store_and_pickup(world: World) {
    let mediator = world.mediator_did();
    let (alice, bob) = (&world.devices[0], &world.devices[1]);
    grant(&world.server.mediator.storage, &alice.did, &mediator).await;
    let mut http = world.http().await;

    let mut inner_texts = Vec::new();
    for i in 0..3 {
        let (forward, inner) = bob
            .forward(
                &mediator,
                &alice.did,
                json!({"content": format!("hello {i}")}),
            )
            .await
            .unwrap();
        let r = http.post_packed(&forward).await.unwrap();
        assert_eq!(r.status, 202, "{}", r.text());
        assert!(r.body.is_empty());
        inner_texts.push(inner);
    }
    // The same inner message forwarded again (re-wrapped) is stored once.
    let again = bob
        .wrap_forward(&mediator, &alice.did, &inner_texts[0])
        .await
        .unwrap();
    assert_eq!(http.post_packed(&again).await.unwrap().status, 202);

    let status = pickup(&mut http, alice, &mediator, "status-request", json!({})).await;
    assert_eq!(status.type_, "https://didcomm.org/messagepickup/3.0/status");
    assert_eq!(status.body.as_ref().unwrap()["message_count"], 3);

    let delivery = pickup(
        &mut http,
        alice,
        &mediator,
        "delivery-request",
        json!({"limit": 10}),
    )
    .await;
    assert_eq!(
        delivery.type_,
        "https://didcomm.org/messagepickup/3.0/delivery"
    );
    let delivered = Device::delivered(&delivery).unwrap();
    assert_eq!(delivered.len(), 3);
    let mut contents = Vec::new();
    for (_, bytes) in &delivered {
        let m = alice
            .unpack(std::str::from_utf8(bytes).unwrap())
            .await
            .unwrap();
        assert_eq!(m.from.as_deref(), Some(bob.did.as_str()));
        contents.push(m.body.unwrap()["content"].as_str().unwrap().to_owned());
    }
    assert_eq!(contents, ["hello 0", "hello 1", "hello 2"]);

    // Delivery deletes nothing; messages-received does.
    let again = pickup(
        &mut http,
        alice,
        &mediator,
        "delivery-request",
        json!({"limit": 10}),
    )
    .await;
    assert_eq!(Device::delivered(&again).unwrap().len(), 3);
    let ids: Vec<String> = delivered.iter().map(|(id, _)| id.clone()).collect();
    let status = pickup(
        &mut http,
        alice,
        &mediator,
        "messages-received",
        json!({"message_id_list": ids}),
    )
    .await;
    assert_eq!(status.body.as_ref().unwrap()["message_count"], 0);
    let empty = pickup(
        &mut http,
        alice,
        &mediator,
        "delivery-request",
        json!({"limit": 10}),
    )
    .await;
    assert_eq!(empty.type_, "https://didcomm.org/messagepickup/3.0/status");

    let metrics = http.get("/metrics").await.unwrap().text();
    assert!(
        metrics.contains("didcomm_mediator_messages_stored_total 3"),
        "{metrics}"
    );
    assert!(metrics.contains("didcomm_mediator_messages_duplicate_total 1"));
    assert!(metrics.contains("didcomm_mediator_messages_acknowledged_total 3"));
    world.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_pickup_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let wallets = make_devices(dir.path(), 2);
    let world = World::start(test_settings(dir.path(), None), &wallets).await;
    tokio::time::timeout(Duration::from_secs(120), store_and_pickup(world))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_pickup_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let wallets = make_devices(dir.path(), 2);
    let url = common::fresh_pg_database().await;
    let world = World::start(test_settings(dir.path(), Some(url)), &wallets).await;
    tokio::time::timeout(Duration::from_secs(120), store_and_pickup(world))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn others_cannot_pick_up_or_forward_to_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let wallets = make_devices(dir.path(), 3);
    let world = World::start(test_settings(dir.path(), None), &wallets).await;
    let mediator = world.mediator_did();
    let (alice, bob, carol) = (&world.devices[0], &world.devices[1], &world.devices[2]);
    grant(&world.server.mediator.storage, &alice.did, &mediator).await;
    grant(&world.server.mediator.storage, &carol.did, &mediator).await;
    let mut http = world.http().await;
    let (forward, _) = bob
        .forward(&mediator, &alice.did, json!({"content": "for alice"}))
        .await
        .unwrap();
    assert_eq!(http.post_packed(&forward).await.unwrap().status, 202);

    // Carol (granted, but not Alice) asks for Alice's queue: refused.
    let request = carol
        .pickup_request(
            &mediator,
            "delivery-request",
            json!({"limit": 10, "recipient_did": alice.did}),
        )
        .await
        .unwrap();
    let r = http.post_packed(&request).await.unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    // Carol's own queue is empty, and acking Alice's ids deletes nothing.
    let delivery = pickup(
        &mut http,
        carol,
        &mediator,
        "delivery-request",
        json!({"limit": 10}),
    )
    .await;
    assert!(Device::delivered(&delivery).unwrap().is_empty());
    let own = world
        .server
        .mediator
        .storage
        .fetch(std::slice::from_ref(&alice.did), 10, 0)
        .await
        .unwrap();
    let ids: Vec<String> = own.iter().map(|m| m.id.clone()).collect();
    pickup(
        &mut http,
        carol,
        &mediator,
        "messages-received",
        json!({"message_id_list": ids}),
    )
    .await;
    assert_eq!(
        world
            .server
            .mediator
            .storage
            .fetch(std::slice::from_ref(&alice.did), 10, 0)
            .await
            .unwrap()
            .len(),
        1
    );

    // Bob holds no grant: no pickup.
    let request = bob
        .pickup_request(&mediator, "status-request", json!({}))
        .await
        .unwrap();
    let r = http.post_packed(&request).await.unwrap();
    assert_eq!(r.status, 403);
    assert!(r.text().contains("forbidden"));

    // An anonymous (anoncrypt) pickup request is refused even when it names Alice.
    let anon = didcomm_edge::Message::new(
        "https://didcomm.org/messagepickup/3.0/status-request",
        json!({}),
    )
    .unwrap()
    .from(alice.did.clone())
    .to(mediator.clone());
    let anon = didcomm_edge::Message { from: None, ..anon };
    let (packed, _) = bob
        .didcomm
        .pack_encrypted(&anon, &mediator, None, None, &Default::default())
        .await
        .unwrap();
    assert_eq!(http.post_packed(&packed).await.unwrap().status, 403);

    // A forward to a key nobody registered is refused.
    let (forward, _) = alice
        .forward(
            &mediator,
            &bob.did,
            json!({"content": "nobody mediates bob"}),
        )
        .await
        .unwrap();
    let r = http.post_packed(&forward).await.unwrap();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("unknown_recipient"), "{}", r.text());
    world.server.shutdown().await.unwrap();
}

/// Send raw bytes on a fresh TCP connection; return the status code and body.
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(STEP, s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_statuses_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let wallets = make_devices(dir.path(), 2);
    let mut settings = test_settings(dir.path(), None);
    settings.max_message_bytes = 4096;
    let world = World::start(settings, &wallets).await;
    let mediator = world.mediator_did();
    let (alice, bob) = (&world.devices[0], &world.devices[1]);
    grant(&world.server.mediator.storage, &alice.did, &mediator).await;
    let addr = world.server.local_addr;
    let mut http = world.http().await;

    let cases: Vec<(Option<&str>, Vec<u8>, u16, &str)> = vec![
        (
            Some("text/plain"),
            b"{}".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            Some("application/didcomm-plain+json"),
            b"{}".to_vec(),
            415,
            "unsupported_media_type",
        ),
        (None, b"{}".to_vec(), 415, "Content-Type"),
        (
            Some("application/didcomm-encrypted+json"),
            vec![],
            400,
            "empty",
        ),
        (
            Some("application/didcomm-encrypted+json"),
            b"not json".to_vec(),
            400,
            "malformed",
        ),
        (
            Some("application/json"),
            b"{\"protected\": 1}".to_vec(),
            400,
            "malformed",
        ),
        (
            Some("application/didcomm-encrypted+json"),
            vec![0xff, 0xfe],
            400,
            "UTF-8",
        ),
        (
            Some("application/didcomm-signed+json; charset=utf-8"),
            vec![b'x'; 5000],
            413,
            "limit of 4096",
        ),
    ];
    for (ct, body, status, reason) in cases {
        let r = http.request("POST", "/", ct, body).await.unwrap();
        assert_eq!(r.status, status, "{ct:?}: {}", r.text());
        assert!(r.text().contains(reason), "{ct:?}: {}", r.text());
    }
    // A chunked body without Content-Length that grows past the limit.
    let mut chunked = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..3 {
        chunked.extend_from_slice(b"800\r\n");
        chunked.extend_from_slice(&[b'a'; 0x800]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, text) = raw(addr, &chunked).await;
    assert_eq!(status, 413, "{text}");
    // Garbage that is not HTTP at all.
    let (status, _) = raw(addr, b"\x00\x01garbage\r\n\r\n").await;
    assert_eq!(status, 400);
    // Unknown path and method.
    assert_eq!(http.get("/nope").await.unwrap().status, 404);
    assert_eq!(
        http.request("PUT", "/", Some("application/json"), b"{}".to_vec())
            .await
            .unwrap()
            .status,
        405
    );

    // Still serving: a real forward is accepted, health and metrics answer.
    let (forward, _) = bob
        .forward(&mediator, &alice.did, json!({"content": "still here"}))
        .await
        .unwrap();
    let mut fresh = world.http().await;
    assert_eq!(fresh.post_packed(&forward).await.unwrap().status, 202);
    let health = fresh.get("/healthz").await.unwrap();
    assert_eq!((health.status, health.text().trim()), (200, "ok"));
    let metrics = fresh.get("/metrics").await.unwrap().text();
    assert!(
        metrics.contains("didcomm_mediator_refusals_total{reason=\"too_large\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("didcomm_mediator_refusals_total{reason=\"unsupported_media_type\"} 3")
    );
    assert!(metrics.contains("didcomm_mediator_queue_messages 1"));
    assert!(metrics.contains("didcomm_mediator_handle_seconds_count{transport=\"http\"}"));

    // The invitation.
    let oob = fresh.get("/oob").await.unwrap();
    let oob: Value = serde_json::from_slice(&oob.body).unwrap();
    assert_eq!(oob["did"], mediator.as_str());
    assert_eq!(oob["invitation"]["from"], mediator.as_str());
    let url = oob["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("http://{addr}?_oob=")));
    assert_eq!(
        didcomm_edge_mediator::oob::parse_oob_url(url).unwrap(),
        oob["invitation"]
    );
    let svg = fresh.get("/oob/qr.svg").await.unwrap();
    assert_eq!(svg.content_type.as_deref(), Some("image/svg+xml"));
    assert!(svg.text().contains("<svg"));
    world.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_per_connection() {
    let dir = tempfile::tempdir().unwrap();
    let wallets = make_devices(dir.path(), 1);
    let mut settings = test_settings(dir.path(), None);
    settings.rate_limit_per_second = 1.0;
    settings.rate_limit_burst = 3.0;
    let world = World::start(settings, &wallets).await;
    let mut one = world.http().await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            one.request("POST", "/", Some("application/json"), b"{}".to_vec())
                .await
                .unwrap()
                .status,
        );
    }
    assert_eq!(statuses, [400, 400, 400, 429, 429]);
    let metrics = one.get("/metrics").await.unwrap().text();
    assert!(metrics.contains("didcomm_mediator_refusals_total{reason=\"rate_limited\"} 2"));
    // Another connection has its own bucket.
    let mut two = world.http().await;
    assert_eq!(
        two.request("POST", "/", Some("application/json"), b"{}".to_vec())
            .await
            .unwrap()
            .status,
        400
    );
    world.server.shutdown().await.unwrap();
}

async fn ws_connect(
    addr: std::net::SocketAddr,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    ws
}

async fn ws_next(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> String {
    loop {
        let frame = tokio::time::timeout(STEP, ws.next())
            .await
            .expect("a frame in time");
        match frame {
            Some(Ok(WsMessage::Text(t))) => return t.to_string(),
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Alice goes live on `live_side`; Bob forwards through `forward_side`; Alice receives it
/// pushed over her WebSocket, acknowledges over the same socket.
async fn live_delivery(live_side: &World, forward_side: &World) {
    let mediator = live_side.mediator_did();
    let (alice, bob) = (&live_side.devices[0], &forward_side.devices[1]);
    let mut ws = ws_connect(live_side.server.local_addr).await;
    // Before live mode, the socket answers requests (return_route).
    let request = alice
        .pickup_request(&mediator, "status-request", json!({}))
        .await
        .unwrap();
    ws.send(WsMessage::Text(request.into())).await.unwrap();
    let status = alice.unpack(&ws_next(&mut ws).await).await.unwrap();
    assert_eq!(status.body.as_ref().unwrap()["live_delivery"], false);
    let request = alice
        .pickup_request(
            &mediator,
            "live-delivery-change",
            json!({"live_delivery": true}),
        )
        .await
        .unwrap();
    ws.send(WsMessage::Text(request.into())).await.unwrap();
    let status = alice.unpack(&ws_next(&mut ws).await).await.unwrap();
    assert_eq!(status.body.as_ref().unwrap()["live_delivery"], true);

    let mut http = HttpClient::connect(forward_side.server.local_addr)
        .await
        .unwrap();
    let forward_mediator = forward_side.mediator_did();
    let (forward, _) = bob
        .forward(&forward_mediator, &alice.did, json!({"content": "live!"}))
        .await
        .unwrap();
    assert_eq!(http.post_packed(&forward).await.unwrap().status, 202);

    let delivery = alice.unpack(&ws_next(&mut ws).await).await.unwrap();
    assert_eq!(
        delivery.type_,
        "https://didcomm.org/messagepickup/3.0/delivery"
    );
    let delivered = Device::delivered(&delivery).unwrap();
    assert_eq!(delivered.len(), 1);
    let inner = alice
        .unpack(std::str::from_utf8(&delivered[0].1).unwrap())
        .await
        .unwrap();
    assert_eq!(inner.body.unwrap()["content"], "live!");

    let ack = alice
        .pickup_request(
            &mediator,
            "messages-received",
            json!({"message_id_list": [delivered[0].0]}),
        )
        .await
        .unwrap();
    ws.send(WsMessage::Text(ack.into())).await.unwrap();
    let status = alice.unpack(&ws_next(&mut ws).await).await.unwrap();
    assert_eq!(status.body.as_ref().unwrap()["message_count"], 0);

    // A refused frame gets a JSON error and the socket stays usable.
    ws.send(WsMessage::Text("not a message".into()))
        .await
        .unwrap();
    let error: Value = serde_json::from_str(&ws_next(&mut ws).await).unwrap();
    assert_eq!(error["error"], "malformed");
    let oversized = "x".repeat(1024 * 1024 + 1);
    ws.send(WsMessage::Text(oversized.into())).await.unwrap();
    let error: Value = serde_json::from_str(&ws_next(&mut ws).await).unwrap();
    assert_eq!(error["error"], "too_large");
    let request = alice
        .pickup_request(&mediator, "status-request", json!({}))
        .await
        .unwrap();
    ws.send(WsMessage::Text(request.into())).await.unwrap();
    alice.unpack(&ws_next(&mut ws).await).await.unwrap();
    let _ = ws.close(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_live_delivery_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let wallets = make_devices(dir.path(), 2);
    let world = World::start(test_settings(dir.path(), None), &wallets).await;
    grant(
        &world.server.mediator.storage,
        &world.devices[0].did,
        &world.mediator_did(),
    )
    .await;
    tokio::time::timeout(Duration::from_secs(120), live_delivery(&world, &world))
        .await
        .unwrap();
    world.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_delivery_across_two_instances_on_one_postgres() {
    let url = common::fresh_pg_database().await;
    let dir_a = tempfile::tempdir().unwrap();
    let wallets = make_devices(dir_a.path(), 2);
    // Both instances share the database and (as a deployment would) the identity.
    let dir_b = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir_a.path().join("pinned.json"),
        dir_b.path().join("pinned.json"),
    )
    .unwrap();
    let a = World::start(test_settings(dir_a.path(), Some(url.clone())), &wallets).await;
    let wallet_path = didcomm_edge_mediator::identity::WALLET_FILE;
    let wallet =
        didcomm_edge_mediator::identity::load_wallet(&dir_a.path().join(wallet_path)).unwrap();
    didcomm_edge_mediator::identity::save_wallet(&dir_b.path().join(wallet_path), &wallet).unwrap();
    let b = World::start(test_settings(dir_b.path(), Some(url)), &wallets).await;
    assert_eq!(a.mediator_did(), b.mediator_did());
    grant(
        &a.server.mediator.storage,
        &a.devices[0].did,
        &a.mediator_did(),
    )
    .await;
    // Alice is live on B; Bob forwards to A.
    tokio::time::timeout(Duration::from_secs(120), live_delivery(&b, &a))
        .await
        .unwrap();
    a.server.shutdown().await.unwrap();
    b.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_requests() {
    let dir = tempfile::tempdir().unwrap();
    let wallets = make_devices(dir.path(), 2);
    let world = World::start(test_settings(dir.path(), None), &wallets).await;
    let mediator = world.mediator_did();
    grant(
        &world.server.mediator.storage,
        &world.devices[0].did,
        &mediator,
    )
    .await;
    let mut forwards = Vec::new();
    for i in 0..60 {
        let (f, _) = world.devices[1]
            .forward(&mediator, &world.devices[0].did, json!({"n": i}))
            .await
            .unwrap();
        forwards.push(f);
    }
    let addr = world.server.local_addr;
    let mut tasks = Vec::new();
    for chunk in forwards.chunks(10) {
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut accepted = 0;
            let Ok(mut http) = HttpClient::connect(addr).await else {
                return 0;
            };
            for f in chunk {
                match http.post_packed(&f).await {
                    Ok(r) if r.status == 202 => accepted += 1,
                    _ => break,
                }
            }
            accepted
        }));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    let storage_dir = dir.path().to_path_buf();
    world.server.shutdown().await.unwrap();
    let mut accepted = 0;
    for t in tasks {
        accepted += t.await.unwrap();
    }
    // Every 202 is in the database, read after the server is gone.
    let storage = didcomm_edge_mediator::storage::open(
        &didcomm_edge_mediator::storage::StorageConfig::Sqlite {
            path: storage_dir.join("mediator.sqlite"),
        },
    )
    .await
    .unwrap();
    let stored = storage.totals().await.unwrap().messages;
    assert_eq!(stored, accepted as u64);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_persists_with_private_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let wallets = make_devices(dir.path(), 1);
    let world = World::start(test_settings(dir.path(), None), &wallets).await;
    let did = world.mediator_did();
    assert!(world.server.identity.created);
    world.server.shutdown().await.unwrap();
    let path = dir
        .path()
        .join(didcomm_edge_mediator::identity::WALLET_FILE);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let world = World::start(test_settings(dir.path(), None), &wallets).await;
    assert_eq!(world.mediator_did(), did);
    assert!(!world.server.identity.created);
    world.server.shutdown().await.unwrap();
    // A wallet others can read is refused.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = didcomm_edge_mediator::server::start(test_settings(dir.path(), None))
        .await
        .unwrap_err();
    assert!(err.reason().contains("chmod 600"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_refusal_and_expiry_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let wallets = make_devices(dir.path(), 2);
    let mut settings = test_settings(dir.path(), None);
    settings.queue_max_messages = 1;
    settings.message_ttl_seconds = 1;
    settings.sweep_interval_seconds = 1;
    let world = World::start(settings, &wallets).await;
    let mediator = world.mediator_did();
    let (alice, bob) = (&world.devices[0], &world.devices[1]);
    grant(&world.server.mediator.storage, &alice.did, &mediator).await;
    let mut http = world.http().await;
    let (first, _) = bob
        .forward(&mediator, &alice.did, json!({"n": 1}))
        .await
        .unwrap();
    let (second, _) = bob
        .forward(&mediator, &alice.did, json!({"n": 2}))
        .await
        .unwrap();
    assert_eq!(http.post_packed(&first).await.unwrap().status, 202);
    let r = http.post_packed(&second).await.unwrap();
    assert_eq!(r.status, 507, "{}", r.text());
    assert!(r.text().contains("quota_exceeded"));
    // After the TTL the sweep empties the queue, which makes room again.
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let metrics = http.get("/metrics").await.unwrap().text();
        if metrics.contains("didcomm_mediator_messages_expired_total 1") {
            assert!(
                metrics.contains("didcomm_mediator_queue_messages 0"),
                "{metrics}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no sweep: {metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(http.post_packed(&second).await.unwrap().status, 202);
    world.server.shutdown().await.unwrap();
}
