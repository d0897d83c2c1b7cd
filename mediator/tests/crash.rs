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

use common::make_devices;
use didcomm_edge_mediator::client::{Device, HttpClient};
use didcomm_edge_mediator::storage::{self, StorageConfig};
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
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--pinned-did-docs")
        .arg(data_dir.join("pinned.json"))
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

/// One page (at most 100) of Alice's queue; returns (message id, content number) pairs.
async fn drain(addr: SocketAddr, alice: &Device, mediator: &str) -> Vec<(String, u64)> {
    let mut http = HttpClient::connect(addr).await.unwrap();
    let request = alice
        .pickup_request(mediator, "delivery-request", json!({"limit": 100_000}))
        .await
        .unwrap();
    let mut out = Vec::new();
    let r = http.post_packed(&request).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let reply = alice.unpack(&r.text()).await.unwrap();
    for (id, bytes) in Device::delivered(&reply).unwrap() {
        let m = alice
            .unpack(std::str::from_utf8(&bytes).unwrap())
            .await
            .unwrap();
        out.push((id, m.body.unwrap()["n"].as_u64().unwrap()));
    }
    out
}

async fn ack(addr: SocketAddr, alice: &Device, mediator: &str, ids: &[String]) {
    let mut http = HttpClient::connect(addr).await.unwrap();
    let request = alice
        .pickup_request(
            mediator,
            "messages-received",
            json!({"message_id_list": ids}),
        )
        .await
        .unwrap();
    let r = http.post_packed(&request).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_load_loses_nothing_and_redelivers_nothing_acknowledged() {
    tokio::time::timeout(Duration::from_secs(240), scenario())
        .await
        .expect("the crash test finishes in time");
}

async fn scenario() {
    let dir = tempfile::tempdir().unwrap();
    let wallets = make_devices(dir.path(), 2);
    // Grant Alice before the mediator runs (the protocol for it lands separately).
    {
        let s = storage::open(&StorageConfig::Sqlite {
            path: dir.path().join("mediator.sqlite"),
        })
        .await
        .unwrap();
        common::grant(&s, &wallets[0].did_docs[0].id, "did:example:mediator").await;
        s.close().await;
    }
    let first = spawn_mediator(dir.path()).await;
    let mediator = first.did.clone();
    let mediator_doc = didcomm_edge_mediator::identity::load_wallet(
        &dir.path()
            .join(didcomm_edge_mediator::identity::WALLET_FILE),
    )
    .unwrap()
    .did_docs;
    let mut known = mediator_doc.clone();
    known.extend(wallets.iter().flat_map(|w| w.did_docs.clone()));
    let alice = Device::from_wallet(wallets[0].clone(), &known).unwrap();
    let bob = Device::from_wallet(wallets[1].clone(), &known).unwrap();

    // 90 forwards per sender, 6 senders; the kill comes once 150 are accepted.
    let total = 540u64;
    let mut forwards = Vec::new();
    for n in 0..total {
        let (f, _) = bob
            .forward(&mediator, &alice.did, json!({"n": n}))
            .await
            .unwrap();
        forwards.push((n, f));
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
        let page = drain(second.addr, &alice, &mediator).await;
        assert!(!page.is_empty(), "the queue ran dry early: messages lost");
        let ids: Vec<String> = page.iter().map(|(id, _)| id.clone()).collect();
        for (_, n) in &page {
            assert!(acked.insert(*n), "message {n} stored or delivered twice");
        }
        ack(second.addr, &alice, &mediator, &ids).await;
    }
    kill9(second).await;

    // Third start: the rest is there, nothing acknowledged comes back.
    let third = spawn_mediator(dir.path()).await;
    let mut after: BTreeSet<u64> = BTreeSet::new();
    loop {
        let page = drain(third.addr, &alice, &mediator).await;
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
        ack(third.addr, &alice, &mediator, &ids).await;
    }
    let everything: BTreeSet<u64> = acked.union(&after).copied().collect();
    let lost: Vec<&u64> = accepted.difference(&everything).collect();
    assert!(
        lost.is_empty(),
        "accepted (202) but lost after kill -9: {lost:?}"
    );
    kill9(third).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_gracefully_and_creates_a_private_data_folder() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    make_devices(&dir, 1);
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
    didcomm_edge_mediator::identity::load_or_create(&identity_dir, "http://x").unwrap();
    let mode = std::fs::metadata(&identity_dir)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
}
