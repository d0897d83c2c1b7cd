//! Ending a relationship between edge agents, through the real mediator (in process, SQLite,
//! loopback): the ending message is anoncrypted, has no `from`, carries a `from_prior` without
//! `sub` signed by the DID the peer knows, and both sides forget what they knew of the other.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{config, connected, mediator, settings};
use didcomm_edge::protocols::basic_message::BasicMessage;
use didcomm_edge::protocols::empty::EMPTY_TYPE;
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge_agent::ErrorKind;

fn text(content: &str) -> didcomm_edge::Message {
    BasicMessage::new(content).to_message().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_relationship_forgets_the_peer_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let server = mediator(settings(dir.path(), None)).await;
    let alice = connected(&server, config()).await;
    let bob = connected(&server, config()).await;
    let carol = connected(&server, config()).await;
    let a0 = alice.did().await.unwrap();
    let c0 = carol.did().await.unwrap();
    let b0 = bob.did().await.unwrap();

    // Bob rotates and tells Alice; she answers to his new DID, so he knows she saw it.
    let rotated = bob.rotate().await.unwrap();
    let b1 = rotated.new_did.clone();
    assert!(
        bob.send(&a0, text("I moved"))
            .await
            .unwrap()
            .announced_rotation
    );
    let batch = alice.pickup().await.unwrap();
    assert_eq!(batch.messages[0].rotation(), Some((b0.clone(), b1.clone())));
    batch.acknowledge().await.unwrap();
    assert_eq!(alice.peer_did(&b0).await, b1);
    assert_eq!(alice.send(&b0, text("noted")).await.unwrap().to, b1);
    let batch = bob.pickup().await.unwrap();
    assert_eq!(batch.messages.len(), 1);
    batch.acknowledge().await.unwrap();
    assert!(bob.state().await.rotation_seen_by.contains(&a0));

    // Bob ends his relationship with Alice: signed by the DID she knows now (his new one).
    let sent = bob.end_relationship(&a0).await.unwrap();
    assert_eq!(sent.to, a0);
    assert!(!sent.announced_rotation);
    assert!(!bob.state().await.rotation_seen_by.contains(&a0));
    let batch = alice.pickup().await.unwrap();
    assert_eq!(batch.messages.len(), 1);
    let ending = &batch.messages[0];
    assert_eq!(ending.message.type_, EMPTY_TYPE);
    assert_eq!(ending.message.from, None);
    assert!(ending.metadata.anonymous_sender && !ending.metadata.authenticated);
    assert_eq!(ending.sender(), None);
    assert_eq!(ending.rotation(), None);
    assert_eq!(ending.ending(), Some(b1.clone()));
    batch.acknowledge().await.unwrap();
    // Alice forgot Bob's rotation: his first DID no longer leads anywhere.
    assert_eq!(alice.peer_did(&b0).await, b0);
    assert!(alice.state().await.peer_rotations.is_empty());

    // Carol never wrote to Bob's new DID: his ending to her is signed by the DID she knew.
    bob.end_relationship(&c0).await.unwrap();
    let batch = carol.pickup().await.unwrap();
    assert_eq!(batch.messages.len(), 1);
    assert_eq!(batch.messages[0].ending(), Some(b0.clone()));
    assert_eq!(
        batch.messages[0].metadata.from_prior.as_ref().unwrap().iss,
        b0
    );
    batch.acknowledge().await.unwrap();

    // Bob still receives on his DIDs (other peers use them): an ending removes nothing from
    // his keylist.
    let mut keys = bob.keylist().await.unwrap();
    keys.sort();
    let mut expected = vec![b0.clone(), b1.clone()];
    expected.sort();
    assert_eq!(keys, expected);

    // An agent that is not connected cannot end anything.
    let stranger = didcomm_edge_agent::EdgeAgent::new(config()).unwrap();
    let e = stranger.end_relationship(&a0).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotConnected);
    server.shutdown().await.unwrap();
}
