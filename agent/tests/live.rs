//! Live delivery over the WebSocket: messages arrive as they are sent, are deleted only when
//! acknowledged, and none is lost or handed over twice when the connection is cut or the
//! mediator restarts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{config, connected, mediator, settings, Proxy, STEP};
use didcomm_edge::protocols::basic_message::BasicMessage;
use didcomm_edge::protocols::pickup::PickupVersion;
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge_agent::{EdgeAgent, ErrorKind, LiveEvent, LiveState, LiveStream};

fn text(content: &str) -> didcomm_edge::Message {
    BasicMessage::new(content).to_message().unwrap()
}

async fn next(live: &mut LiveStream) -> LiveEvent {
    tokio::time::timeout(STEP, live.recv())
        .await
        .expect("a live message in time")
        .unwrap()
}

fn content_of(event: &LiveEvent) -> String {
    BasicMessage::from_message(&event.received().unwrap().message)
        .unwrap()
        .content
}

/// Nothing more arrives within `wait`.
async fn quiet(live: &mut LiveStream, wait: Duration) {
    if let Ok(event) = tokio::time::timeout(wait, live.recv()).await {
        panic!("unexpected live event: {event:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_delivery_in_order_and_deleted_on_ack() {
    let dir = tempfile::tempdir().unwrap();
    let server = mediator(settings(dir.path(), None)).await;
    for version in [PickupVersion::V3, PickupVersion::V4] {
        let alice = connected(&server, config().pickup_version(version)).await;
        let bob = connected(&server, config().pickup_version(version)).await;
        let bob_did = bob.did().await.unwrap();
        // One message waits before live mode starts; it is pushed first.
        alice.send(&bob_did, text("queued")).await.unwrap();
        let mut live = bob.live().await.unwrap();
        live.wait_live(STEP).await.unwrap();
        assert_eq!(live.state(), LiveState::Live);
        let first = next(&mut live).await;
        assert_eq!(content_of(&first), "queued");
        for i in 0..5 {
            alice
                .send(&bob_did, text(&format!("live {i}")))
                .await
                .unwrap();
        }
        let mut got = vec![];
        for _ in 0..5 {
            let event = next(&mut live).await;
            got.push(content_of(&event));
            live.ack(&event).await.unwrap();
        }
        assert_eq!(got, ["live 0", "live 1", "live 2", "live 3", "live 4"]);
        // The first one is still queued: not acknowledged yet.
        assert_eq!(
            bob.status(None).await.unwrap().message_count,
            1,
            "{version:?}"
        );
        live.ack(&first).await.unwrap();
        assert_eq!(bob.status(None).await.unwrap().message_count, 0);
        // A ping over live mode is answered once acknowledged.
        let ping = alice.ping(&bob_did).await.unwrap();
        let event = next(&mut live).await;
        assert!(event.received().is_some());
        let acked = live.ack(&event).await.unwrap();
        assert_eq!(acked.replies.len(), 1);
        let batch = alice.pickup().await.unwrap();
        assert!(batch.messages.iter().any(|m| m.is_reply_to(&ping.id)));
        batch.acknowledge().await.unwrap();
        live.close().await;
    }
    server.shutdown().await.unwrap();
}

/// Hosts that hand the application queue ids (the language bindings) acknowledge by id: each
/// handed message once, none lost when an acknowledgement is abandoned half-way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_by_queue_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = mediator(settings(dir.path(), None)).await;
    let alice = connected(&server, config()).await;
    let bob = connected(&server, config()).await;
    let bob_did = bob.did().await.unwrap();
    alice.send(&bob_did, text("one")).await.unwrap();
    let mut live = bob.live().await.unwrap();
    let handle = live.handle();
    let event = next(&mut live).await;
    let id = event.queue_id().to_owned();
    let unknown = handle.ack_queue_id("not-handed").await.unwrap_err();
    assert_eq!(unknown.kind(), ErrorKind::IllegalArgument);
    // Polled once, then dropped before the mediator confirmed: the message can still be
    // acknowledged.
    let abandoned = tokio::time::timeout(Duration::ZERO, handle.ack_queue_id(&id)).await;
    assert!(
        abandoned.is_err(),
        "the acknowledgement cannot be confirmed without waiting"
    );
    handle.ack_queue_id(&id).await.unwrap();
    assert_eq!(bob.status(None).await.unwrap().message_count, 0);
    let again = handle.ack_queue_id(&id).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::IllegalArgument);
    live.close().await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_loses_nothing_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = mediator(settings(dir.path(), None)).await;
    let proxy = Proxy::start(server.local_addr).await;
    let alice = connected(&server, config()).await;
    let bob = EdgeAgent::new(config().websocket_url(format!("ws://{}/ws", proxy.addr))).unwrap();
    bob.connect(&server.invitation.url).await.unwrap();
    let bob_did = bob.did().await.unwrap();
    let mut live = bob.live().await.unwrap();
    live.wait_live(STEP).await.unwrap();

    alice.send(&bob_did, text("before")).await.unwrap();
    let held = next(&mut live).await;
    assert_eq!(content_of(&held), "before");

    // The network drops; messages keep coming to the mediator meanwhile.
    proxy.cut();
    for i in 0..3 {
        alice
            .send(&bob_did, text(&format!("during {i}")))
            .await
            .unwrap();
    }
    let mut got = BTreeSet::new();
    for _ in 0..3 {
        let event = next(&mut live).await;
        assert!(got.insert(content_of(&event)), "handed over twice");
        live.ack(&event).await.unwrap();
    }
    assert_eq!(
        got,
        ["during 0", "during 1", "during 2"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
    // The message held across the cut was not handed over again; acknowledging it now works.
    quiet(&mut live, Duration::from_millis(500)).await;
    live.ack(&held).await.unwrap();
    assert_eq!(bob.status(None).await.unwrap().message_count, 0);

    // An acknowledgement sent while the connection is down is delivered after it returns.
    alice.send(&bob_did, text("late ack")).await.unwrap();
    let event = next(&mut live).await;
    proxy.cut();
    tokio::time::timeout(STEP, live.ack(&event))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bob.status(None).await.unwrap().message_count, 0);
    quiet(&mut live, Duration::from_millis(500)).await;
    live.close().await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_mode_survives_a_mediator_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = mediator(settings(dir.path(), None)).await;
    let addr = server.local_addr;
    let alice = connected(&server, config()).await;
    let bob = connected(&server, config()).await;
    let bob_did = bob.did().await.unwrap();
    let mut live = bob.live().await.unwrap();
    live.wait_live(STEP).await.unwrap();
    alice.send(&bob_did, text("one")).await.unwrap();
    let one = next(&mut live).await;
    assert_eq!(content_of(&one), "one");

    server.shutdown().await.unwrap();
    // While it is down, sends fail with a typed error, after their retries.
    let e = alice.send(&bob_did, text("lost?")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unreachable, "{e}");
    assert!(e.is_transient());
    let state = tokio::time::timeout(STEP, async {
        loop {
            if let LiveState::Reconnecting { attempt, .. } = live.state() {
                return attempt;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert!(state >= 1);

    // Same port, same data: the queue survived; the stream reconnects by itself.
    let server = mediator(settings(dir.path(), Some(addr))).await;
    live.wait_live(STEP).await.unwrap();
    alice.send(&bob_did, text("two")).await.unwrap();
    let two = next(&mut live).await;
    assert_eq!(content_of(&two), "two");
    live.ack(&two).await.unwrap();
    live.ack(&one).await.unwrap();
    quiet(&mut live, Duration::from_millis(500)).await;
    assert_eq!(bob.status(None).await.unwrap().message_count, 0);
    live.close().await;
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_mode_follows_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let server = mediator(settings(dir.path(), None)).await;
    let alice = connected(&server, config()).await;
    let bob = connected(&server, config()).await;
    let mut live = bob.live().await.unwrap();
    live.wait_live(STEP).await.unwrap();
    let prior = bob.did().await.unwrap();
    let rotated = bob.rotate().await.unwrap();
    // Both the new and the prior DID deliver live.
    alice.send(&rotated.new_did, text("to new")).await.unwrap();
    alice.send(&prior, text("to prior")).await.unwrap();
    let mut got = BTreeSet::new();
    for _ in 0..2 {
        let event = next(&mut live).await;
        got.insert(content_of(&event));
        live.ack(&event).await.unwrap();
    }
    assert_eq!(
        got,
        ["to new", "to prior"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
    quiet(&mut live, Duration::from_millis(300)).await;
    live.close().await;
    server.shutdown().await.unwrap();
}
