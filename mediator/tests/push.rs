//! Push for sleeping devices against the real mediator binary: a device registers a target
//! (Push 1.0), a message arrives while it is not connected, and the operator's push gateway (a
//! real HTTP receiver on loopback) is called with no message content, at most once per interval.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use didcomm_edge::protocols::mediation::MediationVersion;
use didcomm_edge::protocols::push::{GetTarget, RemoveTarget, SetTarget, Target};
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge_testkit::{Device, HttpConnection, MediatorProcess};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A push gateway on loopback: answers 200 and reports each JSON body.
async fn gateway() -> (String, mpsc::Receiver<Value>) {
    let (tx, rx) = mpsc::channel(16);
    let app = Router::new()
        .route(
            "/push",
            post(
                |State(tx): State<mpsc::Sender<Value>>, body: String| async move {
                    let _ = tx.send(serde_json::from_str(&body).unwrap()).await;
                    StatusCode::OK
                },
            ),
        )
        .with_state(tx);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/push", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

async fn target_call(
    device: &Device,
    http: &mut HttpConnection,
    m: &impl ProtocolMessage,
) -> Target {
    let (packed, _) = device.request(m).await.unwrap();
    Target::from_message(&device.call_over(http, &packed).await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_device_is_pushed_once_per_interval_without_content() {
    let dir = tempfile::tempdir().unwrap();
    let (url, mut pushes) = gateway().await;
    let bin = Path::new(env!("CARGO_BIN_EXE_didcomm-edge-mediator"));
    let mediator = MediatorProcess::start(
        bin,
        dir.path(),
        [
            "--log-filter",
            "warn",
            "--push-gateway-url",
            url.as_str(),
            "--push-min-interval-seconds",
            "3600",
        ],
    )
    .await
    .unwrap();
    let mut http = HttpConnection::connect(mediator.addr).await.unwrap();
    let mut device = Device::new(&mediator.did, MediationVersion::V2).unwrap();
    let (_, recipient) = device.enroll_over(&mut http).await.unwrap();

    assert_eq!(
        target_call(&device, &mut http, &GetTarget {}).await,
        Target::default()
    );
    let set = SetTarget {
        platform: "fcm".into(),
        token: "device-token-1".into(),
    };
    let target = target_call(&device, &mut http, &set).await;
    assert_eq!(target.token.as_deref(), Some("device-token-1"));
    assert_eq!(target_call(&device, &mut http, &GetTarget {}).await, target);

    // Two messages for the device, which is not connected live.
    let sender = Device::new(&mediator.did, MediationVersion::V2).unwrap();
    for n in 0..2 {
        let routed = sender.send(&recipient, json!({"secret": n})).await.unwrap();
        let answer = http.post_packed(&routed.message).await.unwrap();
        assert_eq!(answer.status, 202, "{}", answer.text());
    }
    let push = tokio::time::timeout(Duration::from_secs(20), pushes.recv())
        .await
        .unwrap()
        .unwrap();
    let mut keys: Vec<&str> = push
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["did", "mediator_did", "pending", "platform", "token"]
    );
    assert_eq!(push["platform"], "fcm");
    assert_eq!(push["token"], "device-token-1");
    assert_eq!(push["mediator_did"], mediator.did.as_str());
    assert_eq!(push["did"], device.did.as_str());
    assert!(push["pending"].as_u64().unwrap() >= 1);
    assert!(!push.to_string().contains("secret"));
    // The second message came within the interval: no second push.
    assert!(
        tokio::time::timeout(Duration::from_millis(700), pushes.recv())
            .await
            .is_err()
    );
    let mut admin = HttpConnection::connect(mediator.admin_addr.unwrap())
        .await
        .unwrap();
    let metrics = admin.get("/metrics").await.unwrap().text();
    assert!(
        metrics.contains("didcomm_mediator_pushes_total{result=\"sent\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("didcomm_mediator_pushes_total{result=\"rate_limited\"} 1"),
        "{metrics}"
    );

    assert_eq!(
        target_call(&device, &mut http, &RemoveTarget {}).await,
        Target::default()
    );
    assert_eq!(
        target_call(&device, &mut http, &GetTarget {}).await,
        Target::default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_granted_device_registers_a_target() {
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_didcomm-edge-mediator"));
    let mediator = MediatorProcess::start(bin, dir.path(), ["--log-filter", "warn"])
        .await
        .unwrap();
    let mut http = HttpConnection::connect(mediator.addr).await.unwrap();
    let device = Device::new(&mediator.did, MediationVersion::V2).unwrap();
    let set = SetTarget {
        platform: "apns".into(),
        token: "00ff".into(),
    };
    let (packed, _) = device.request(&set).await.unwrap();
    let refused = device.call_over(&mut http, &packed).await.unwrap_err();
    assert!(refused.to_string().contains("403"), "{refused}");
}
