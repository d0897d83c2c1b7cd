//! The bindings' live stream against a real mediator (the mediator crate in-process on
//! 127.0.0.1, SQLite in a temporary folder): an `ack` whose future the host drops (a
//! cancelled Kotlin coroutine or Swift Task) must leave the message acknowledgeable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use didcomm_edge_ffi::{AgentConfig, EdgeAgent, LiveStream};
use didcomm_edge_mediator::config::Settings;
use didcomm_edge_mediator::server;

const STEP: Duration = Duration::from_secs(20);

struct NoWake;
impl Wake for NoWake {
    fn wake(self: Arc<Self>) {}
}

fn config() -> AgentConfig {
    AgentConfig {
        request_timeout_ms: Some(5_000),
        ..AgentConfig::default()
    }
}

async fn next_queue_id(live: &LiveStream) -> String {
    let message = tokio::time::timeout(STEP, live.recv())
        .await
        .expect("a message arrives in time")
        .unwrap();
    assert!(message.message.is_some(), "the message decrypts");
    message.queue_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_ack_leaves_the_message_acknowledgeable() {
    tokio::time::timeout(4 * STEP, scenario())
        .await
        .expect("the scenario finishes in time");
}

async fn scenario() {
    let data = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.listen = "127.0.0.1:0".parse().unwrap();
    settings.admin_listen = None;
    settings.data_dir = data.path().to_path_buf();
    settings.print_qr = false;
    settings.shutdown_grace_seconds = 2;
    settings.resolve_did_web = false;
    let mediator = server::start(settings).await.unwrap();

    let alice = EdgeAgent::new(Some(config())).unwrap();
    let bob = EdgeAgent::new(Some(config())).unwrap();
    alice
        .connect(mediator.invitation.url.clone())
        .await
        .unwrap();
    bob.connect(mediator.invitation.url.clone()).await.unwrap();
    let bob_did = bob.did().unwrap().unwrap();

    let live = bob.live().await.unwrap();
    live.wait_live(20_000).await.unwrap();
    let message = r#"{"id":"m-1","type":"https://didcomm.org/basicmessage/2.0/message","body":{"content":"hello"}}"#;
    alice.send(bob_did.clone(), message.into()).await.unwrap();
    let queue_id = next_queue_id(&live).await;

    // Start an ack and drop its future after the first poll: the message is already taken
    // for acknowledgement and the round trip to the mediator has not completed.
    {
        let mut ack = pin!(live.ack(queue_id.clone()));
        let waker = Waker::from(Arc::new(NoWake));
        let first = ack.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(
            first.is_pending(),
            "an ack needs a round trip to the mediator"
        );
    }

    // Acknowledging again works, and the mediator has nothing left for Bob.
    let acknowledged = live.ack(queue_id.clone()).await.unwrap();
    assert_eq!(acknowledged.ids, vec![queue_id.clone()]);
    assert_eq!(bob.status(None).await.unwrap().message_count, 0);
    // Once acknowledged, the message is gone from the stream.
    assert!(live.ack(queue_id).await.is_err());

    // A failed ack (the stream stopped) leaves it too: a new message, stop, then ack fails
    // with Closed, not with "no message waits".
    alice
        .send(bob_did, message.replace("m-1", "m-2"))
        .await
        .unwrap();
    let second = next_queue_id(&live).await;
    live.stop().await;
    let refused = live.ack(second.clone()).await.unwrap_err();
    assert!(
        format!("{refused:?}").contains("Closed"),
        "a stopped stream refuses with Closed: {refused:?}"
    );
    let again = live.ack(second).await.unwrap_err();
    assert!(
        format!("{again:?}").contains("Closed"),
        "the message is still there to acknowledge: {again:?}"
    );
    mediator.shutdown().await.unwrap();
}
