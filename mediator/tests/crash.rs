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
use didcomm_edge::protocols::pickup::{DeliveryRequest, MessagesReceived, PickupVersion};
use didcomm_edge_mediator::client::{Device, HttpClient};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Running {
    child: Child,
    addr: SocketAddr,
    did: String,
}

async fn spawn_mediator(data_dir: &Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_didcomm-edge-mediator"))
        .args(["--listen", "127.0.0.1:0", "--no-qr", "--log-filter", "warn"])
        // This test is about durability, not rate limiting: Bob's retry sends all 540
        // forwards on one connection, faster than the default burst on a quick machine.
        .args([
            "--rate-limit-per-second",
            "100000",
            "--rate-limit-burst",
            "100000",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the mediator binary");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut did = None;
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(d) = line.strip_prefix("mediator DID: ") {
                did = Some(d.to_owned());
            }
            if let Some(a) = line.strip_prefix("listening on http://") {
                return a.parse::<SocketAddr>().unwrap();
            }
        }
        panic!("the mediator exited before listening");
    })
    .await
    .expect("the mediator starts in time");
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Running {
        child,
        addr,
        did: did.expect("the mediator printed its DID"),
    }
}

async fn kill9(mut running: Running) {
    running.child.start_kill().unwrap(); // SIGKILL
    let _ = running.child.wait().await;
}

/// One page (at most 100) of Alice's queue (Pickup 4.0); returns (message id, content
/// number) pairs.
async fn drain(addr: SocketAddr, alice: &Device) -> Vec<(String, u64)> {
    let mut http = HttpClient::connect(addr).await.unwrap();
    let (request, _) = alice
        .request(&DeliveryRequest {
            version: PickupVersion::V4,
            limit: 100_000,
            recipient_did: None,
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    let reply = common::call(&mut http, alice, &request).await;
    for m in Device::delivered(&reply).unwrap().messages {
        let inner = alice.unpack(&m.message).await.unwrap();
        out.push((m.id, inner.body.unwrap()["n"].as_u64().unwrap()));
    }
    out
}

async fn ack(addr: SocketAddr, alice: &Device, ids: &[String]) {
    let mut http = HttpClient::connect(addr).await.unwrap();
    let (request, _) = alice
        .request(&MessagesReceived {
            version: PickupVersion::V4,
            message_id_list: ids.to_vec(),
        })
        .await
        .unwrap();
    let r = http.post_packed(&request).await.unwrap();
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
        let mut http = HttpClient::connect(first.addr).await.unwrap();
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
            let Ok(mut http) = HttpClient::connect(addr).await else {
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
    kill9(first).await;
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
    kill9(second).await;

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
    let mut http = HttpClient::connect(third.addr).await.unwrap();
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
    kill9(third).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_gracefully_and_creates_a_private_data_folder() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let mut running = spawn_mediator(&dir).await;
    let mut http = HttpClient::connect(running.addr).await.unwrap();
    assert_eq!(http.get("/healthz").await.unwrap().status, 200);
    let pid = running.child.id().unwrap();
    let status = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), running.child.wait())
        .await
        .expect("the mediator stops within 20 s of SIGTERM")
        .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    assert!(HttpClient::connect(running.addr).await.is_err());

    let identity_dir = parent.path().join("new-folder");
    didcomm_edge_mediator::identity::load_or_create(&identity_dir, &["http://x"]).unwrap();
    let mode = std::fs::metadata(&identity_dir)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
}
