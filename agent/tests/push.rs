//! The agent registers, reads and removes its push target at a real mediator (Push 1.0).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{config, connected, mediator, settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_registers_its_push_target() {
    let dir = tempfile::tempdir().unwrap();
    let server = mediator(settings(dir.path(), None)).await;
    let agent = connected(&server, config()).await;
    let did = agent.control_did().to_owned();

    assert_eq!(agent.push_target().await.unwrap().token, None);
    let target = agent.set_push_target("fcm", "token-1").await.unwrap();
    assert_eq!(target.platform.as_deref(), Some("fcm"));
    assert_eq!(target.token.as_deref(), Some("token-1"));
    // The mediator holds it for the agent's control DID.
    let stored = server
        .mediator
        .storage
        .push_target(&did)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.platform.as_str(), stored.token.as_str()),
        ("fcm", "token-1")
    );
    assert_eq!(agent.push_target().await.unwrap(), target);

    // A bad target is refused before it is sent.
    assert!(agent.set_push_target("FCM!", "t").await.is_err());

    agent.remove_push_target().await.unwrap();
    assert_eq!(agent.push_target().await.unwrap().token, None);
    assert!(server
        .mediator
        .storage
        .push_target(&did)
        .await
        .unwrap()
        .is_none());
}
