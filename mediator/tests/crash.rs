//! Durability: kill -9 the real mediator binary in the middle of a load, restart it, and check
//! that no accepted (202) message is lost and that nothing acknowledged is delivered again.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use didcomm_edge::protocols::mediation::MediationVersion;
use didcomm_edge::protocols::pickup::PickupVersion;
use didcomm_edge_testkit::{Device, HttpConnection, MediatorProcess};
use serde_json::json;

/// The mediator binary on loopback with its data in `data_dir`.
async fn spawn_mediator(data_dir: &Path) -> MediatorProcess {
    let bin = Path::new(env!("CARGO_BIN_EXE_didcomm-edge-mediator"));
    MediatorProcess::start(
        bin,
        data_dir,
        [
            "--log-filter",
            "warn",
            // This test is about durability, not rate limiting: Bob's retry sends all 540
            // forwards on one connection, faster than the default burst on a quick machine.
            "--rate-limit-per-second",
            "100000",
            "--rate-limit-burst",
            "100000",
        ],
    )
    .await
    .expect("start the mediator binary")
}

/// One page (at most 100) of Alice's queue (Pickup 4.0); returns (message id, content
/// number) pairs.
async fn drain(addr: SocketAddr, alice: &Device) -> Vec<(String, u64)> {
    let mut http = HttpConnection::connect(addr).await.unwrap();
    let mut out = Vec::new();
    let reply = common::delivery(&mut http, alice, PickupVersion::V4, 100_000).await;
    for m in Device::delivered(&reply).unwrap().messages {
        let inner = alice.unpack(&m.message).await.unwrap();
        out.push((m.id, inner.body.unwrap()["n"].as_u64().unwrap()));
    }
    out
}

async fn ack(addr: SocketAddr, alice: &Device, ids: &[String]) {
    let mut http = HttpConnection::connect(addr).await.unwrap();
    let r = common::messages_received(&mut http, alice, PickupVersion::V4, ids.to_vec()).await;
    assert_eq!(r.status, 202, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_load_loses_nothing_and_redelivers_nothing_acknowledged() {
    tokio::time::timeout(Duration::from_secs(240), scenario())
        .await
        .expect("the crash test finishes in time");
}

async fn scenario() {
    let dir = tempfile::tempdir().unwrap();
    let first = spawn_mediator(dir.path()).await;
    let mediator = first.did.clone();
    // Alice enrolls with the protocol; Bob routes real forwards to her recipient DID.
    let mut alice = Device::new(&mediator, MediationVersion::V3).unwrap();
    let recipient = {
        let mut http = HttpConnection::connect(first.addr).await.unwrap();
        common::enroll(&mut http, &mut alice).await
    };
    let bob = Device::new(&mediator, MediationVersion::V3).unwrap();

    // 90 forwards per sender, 6 senders; the kill comes once 150 are accepted.
    let total = 540u64;
    let mut forwards = Vec::new();
    for n in 0..total {
        let routed = bob.send(&recipient, json!({"n": n})).await.unwrap();
        assert_eq!(routed.hops, std::slice::from_ref(&mediator));
        forwards.push((n, routed.message));
    }
    let accepted = Arc::new(Mutex::new(BTreeSet::new()));
    let mut senders = Vec::new();
    for chunk in forwards.chunks(90) {
        let chunk = chunk.to_vec();
        let accepted = Arc::clone(&accepted);
        let addr = first.addr;
        senders.push(tokio::spawn(async move {
            let Ok(mut http) = HttpConnection::connect(addr).await else {
                return;
            };
            for (n, f) in chunk {
                match http.post_packed(&f).await {
                    Ok(r) if r.status == 202 => {
                        accepted.lock().unwrap().insert(n);
                    }
                    Ok(r) => panic!("unexpected status {}: {}", r.status, r.text()),
                    Err(_) => return, // the mediator died
                }
            }
        }));
    }
    loop {
        let count = accepted.lock().unwrap().len();
        if count >= 150 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first.kill().await.unwrap();
    for s in senders {
        s.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() >= 150 && accepted.len() < total as usize,
        "killed mid-load: {}",
        accepted.len()
    );

    // Restart with the same identity; pick up and acknowledge pages until at least half of
    // the accepted messages are acknowledged, then kill -9 right after the last ack.
    let second = spawn_mediator(dir.path()).await;
    assert_eq!(second.did, mediator, "same identity after restart");
    let mut acked: BTreeSet<u64> = BTreeSet::new();
    while acked.len() < accepted.len() / 2 {
        let page = drain(second.addr, &alice).await;
        assert!(!page.is_empty(), "the queue ran dry early: messages lost");
        let ids: Vec<String> = page.iter().map(|(id, _)| id.clone()).collect();
        for (_, n) in &page {
            assert!(acked.insert(*n), "message {n} stored or delivered twice");
        }
        ack(second.addr, &alice, &ids).await;
    }
    second.kill().await.unwrap();

    // Third start: the rest is there, nothing acknowledged comes back.
    let third = spawn_mediator(dir.path()).await;
    let mut after: BTreeSet<u64> = BTreeSet::new();
    loop {
        let page = drain(third.addr, &alice).await;
        if page.is_empty() {
            break;
        }
        let ids: Vec<String> = page.iter().map(|(id, _)| id.clone()).collect();
        for (_, n) in &page {
            assert!(
                !acked.contains(n),
                "message {n} delivered again after messages-received"
            );
            assert!(after.insert(*n), "message {n} delivered twice");
        }
        ack(third.addr, &alice, &ids).await;
    }
    let everything: BTreeSet<u64> = acked.union(&after).copied().collect();
    let lost: Vec<&u64> = accepted.difference(&everything).collect();
    assert!(
        lost.is_empty(),
        "accepted (202) but lost after kill -9: {lost:?}"
    );

    // Bob retries every forward (he cannot know which ones made it before the crash): each
    // is accepted, the ones already acknowledged are not delivered again (their tombstones
    // survived kill -9), and the ones that never made it are delivered once.
    let mut http = HttpConnection::connect(third.addr).await.unwrap();
    for (_, f) in &forwards {
        let r = http.post_packed(f).await.unwrap();
        assert_eq!(r.status, 202, "{}", r.text());
    }
    let mut retried: BTreeSet<u64> = BTreeSet::new();
    loop {
        let page = drain(third.addr, &alice).await;
        if page.is_empty() {
            break;
        }
        let ids: Vec<String> = page.iter().map(|(id, _)| id.clone()).collect();
        for (_, n) in &page {
            assert!(
                !everything.contains(n),
                "message {n} delivered again after messages-received"
            );
            assert!(retried.insert(*n), "message {n} delivered twice");
        }
        ack(third.addr, &alice, &ids).await;
    }
    assert_eq!(
        everything.len() + retried.len(),
        total as usize,
        "every message delivered exactly once in the end"
    );
    third.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_gracefully_and_creates_a_private_data_folder() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let mut running = spawn_mediator(&dir).await;
    let mut http = HttpConnection::connect(running.addr).await.unwrap();
    assert_eq!(http.get("/healthz").await.unwrap().status, 200);
    let exit = running
        .terminate(Duration::from_secs(20))
        .await
        .expect("the mediator stops within 20 s of SIGTERM");
    assert!(exit.success(), "exit status {exit:?}");
    assert!(HttpConnection::connect(running.addr).await.is_err());

    let identity_dir = parent.path().join("new-folder");
    didcomm_edge_mediator::identity::load_or_create(&identity_dir, &["http://x"]).unwrap();
    let mode = std::fs::metadata(&identity_dir)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
}
