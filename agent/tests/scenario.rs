//! The demo's scenario as a test, against the real mediator (in process, SQLite, loopback):
//! mediation, key management with a DID rotation, pickup and delivery with acknowledgement,
//! then Bob replying to Alice. Plus restarts from the state file, and both protocol versions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cloned_ref_to_slice_refs
)]

mod common;

use common::{config, connected, mediator, mediator_view, settings};
use didcomm_edge::protocols::ack::is_pure_ack;
use didcomm_edge::protocols::basic_message::{BasicMessage, BASIC_MESSAGE_TYPE};
use didcomm_edge::protocols::mediation::MediationVersion;
use didcomm_edge::protocols::pickup::PickupVersion;
use didcomm_edge::protocols::trust_ping::PING_RESPONSE_TYPE;
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::{ErrorKind as CoreKind, UnpackOptions};
use didcomm_edge_agent::{EdgeAgent, ErrorKind};

fn text(content: &str) -> didcomm_edge::Message {
    BasicMessage::new(content).to_message().unwrap()
}

fn content(m: &didcomm_edge::Message) -> String {
    BasicMessage::from_message(m).unwrap().content
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mediation_rotation_pickup_and_reply() {
    let dir = tempfile::tempdir().unwrap();
    let server = mediator(settings(dir.path(), None)).await;
    let mediator_did = server.identity.did.clone();

    // Phase 1: mediation. Alice scans the _oob URL; Bob knows only the mediator's DID.
    let alice = EdgeAgent::new(config()).unwrap();
    let a = alice.connect(&server.invitation.url).await.unwrap();
    assert!(a.newly_granted);
    assert_eq!(a.mediator_did, mediator_did);
    assert_eq!(a.routing_did, [mediator_did.clone()]);
    let bob = EdgeAgent::new(config()).unwrap();
    let b = bob.connect(&mediator_did).await.unwrap();
    assert_eq!(b.http_endpoint, server.public_url);
    // Each messaging DID names the mediator as its endpoint.
    for did in [&a.did, &b.did] {
        let doc = alice.didcomm().resolve(did).await.unwrap();
        let endpoints = doc.document().didcomm_endpoints();
        assert_eq!(endpoints[0].uri, mediator_did, "{did}");
    }
    assert_eq!(alice.keylist().await.unwrap(), [a.did.clone()]);
    assert!(alice.ping_mediator().await.unwrap() < common::STEP);

    // Phase 2: key management. Alice rotates; both DIDs receive until she retires the prior.
    let rotated = alice.rotate().await.unwrap();
    assert_eq!(rotated.prior_did, a.did);
    let mut keys = alice.keylist().await.unwrap();
    keys.sort();
    let mut expected = vec![a.did.clone(), rotated.new_did.clone()];
    expected.sort();
    assert_eq!(keys, expected);

    // Phase 3: Alice writes to Bob (asking for an ack); the message announces her rotation.
    let sent = alice
        .send(&b.did, text("greenhouse at 21.5C").please_ack())
        .await
        .unwrap();
    assert!(sent.announced_rotation);
    assert_eq!(sent.hops, [mediator_did.clone()]);
    assert_eq!(sent.uri, server.public_url);

    // What the mediator can see: a forward naming Bob's DID, carrying a message it cannot open.
    let view = mediator_view(&server);
    let (forward, _) = view.unwrap_forward(&sent.wire).await.unwrap();
    assert_eq!(forward.next, b.did);
    assert_eq!(forward.messages.len(), 1);
    let inner = view
        .unpack(&forward.messages[0], &UnpackOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            inner.kind(),
            CoreKind::SecretNotFound | CoreKind::DecryptionFailed
        ),
        "{inner}"
    );

    // Bob picks up: the message, from Alice's new DID, with her rotation verified.
    assert_eq!(bob.status(None).await.unwrap().message_count, 1);
    let batch = bob.pickup().await.unwrap();
    assert_eq!(batch.messages.len(), 1);
    let got = batch.messages[0].clone();
    assert_eq!(content(&got.message), "greenhouse at 21.5C");
    assert_eq!(got.sender(), Some(rotated.new_did.as_str()));
    assert_eq!(
        got.rotation(),
        Some((a.did.clone(), rotated.new_did.clone()))
    );
    assert!(got.metadata.authenticated && got.metadata.encrypted);
    // Not deleted until acknowledged.
    assert_eq!(bob.pickup().await.unwrap().messages.len(), 1);
    let acked = batch.acknowledge().await.unwrap();
    assert_eq!(acked.ids.len(), 1);
    assert_eq!(acked.replies.len(), 1, "{:?}", acked.reply_errors);
    assert!(acked.reply_errors.is_empty());
    assert_eq!(bob.status(None).await.unwrap().message_count, 0);
    assert!(bob.pickup().await.unwrap().is_empty());

    // Bob replies to the DID he first knew: the agent follows the rotation.
    assert_eq!(bob.peer_did(&a.did).await, rotated.new_did);
    let reply = bob
        .send(
            &a.did,
            text("thanks, opening the vents").thid(got.message.id.clone()),
        )
        .await
        .unwrap();
    assert_eq!(reply.to, rotated.new_did);

    // Alice picks up Bob's automatic ack and his reply.
    let batch = alice.pickup().await.unwrap();
    assert_eq!(batch.messages.len(), 2);
    let ack = batch
        .messages
        .iter()
        .find(|m| is_pure_ack(&m.message))
        .unwrap();
    assert_eq!(ack.message.ack.as_deref(), Some(&[sent.id.clone()][..]));
    let answer = batch
        .messages
        .iter()
        .find(|m| m.message.type_ == BASIC_MESSAGE_TYPE)
        .unwrap();
    assert_eq!(content(&answer.message), "thanks, opening the vents");
    assert!(answer.is_reply_to(&sent.id));
    assert_eq!(answer.sender(), Some(b.did.as_str()));
    batch.acknowledge().await.unwrap();

    // Bob wrote to the new DID: no more from_prior for him.
    let again = alice.send(&b.did, text("noted")).await.unwrap();
    assert!(!again.announced_rotation);

    // The prior DID is retired once nothing waits for it.
    assert_eq!(
        alice.retire_prior_dids(false).await.unwrap(),
        [a.did.clone()]
    );
    assert_eq!(alice.keylist().await.unwrap(), [rotated.new_did.clone()]);
    // A sender still using the retired DID is refused by the mediator.
    let stranger = connected(&server, config()).await;
    let refused = stranger.send(&a.did, text("anyone?")).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Refused, "{refused}");
    assert_eq!(refused.http_status(), Some(400));

    // Trust ping between devices: the response comes back through the mediator.
    let ping = bob.ping(&rotated.new_did).await.unwrap();
    let batch = alice.pickup().await.unwrap();
    assert_eq!(batch.messages.len(), 1);
    let acked = batch.acknowledge().await.unwrap();
    assert_eq!(acked.replies.len(), 1);
    let batch = bob.pickup().await.unwrap();
    let pong = batch
        .messages
        .iter()
        .find(|m| m.message.type_ == PING_RESPONSE_TYPE)
        .unwrap();
    assert!(pong.is_reply_to(&ping.id));
    batch.acknowledge().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retiring_waits_for_messages_to_the_prior_did() {
    let dir = tempfile::tempdir().unwrap();
    let server = mediator(settings(dir.path(), None)).await;
    let alice = connected(&server, config()).await;
    let bob = connected(&server, config()).await;
    let prior = alice.did().await.unwrap();
    let rotated = alice.rotate().await.unwrap();
    // Bob has not heard of the rotation: he writes to the prior DID, which still receives.
    bob.send(&prior, text("to the old address")).await.unwrap();
    let e = alice.retire_prior_dids(false).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::IllegalArgument);
    assert!(e.reason().contains("still wait"), "{e}");
    let batch = alice.pickup().await.unwrap();
    assert_eq!(batch.messages.len(), 1);
    assert_eq!(content(&batch.messages[0].message), "to the old address");
    assert_eq!(
        batch.messages[0].message.to.as_deref(),
        Some(&[prior.clone()][..])
    );
    batch.acknowledge().await.unwrap();
    assert_eq!(alice.retire_prior_dids(false).await.unwrap(), [prior]);
    // Rotating twice chains: Bob follows both hops.
    let second = alice.rotate().await.unwrap();
    assert_eq!(second.prior_did, rotated.new_did);
    alice
        .send(&bob.did().await.unwrap(), text("hi"))
        .await
        .unwrap();
    let batch = bob.pickup().await.unwrap();
    assert_eq!(
        batch.messages[0].rotation(),
        Some((rotated.new_did.clone(), second.new_did.clone()))
    );
    batch.acknowledge().await.unwrap();
    assert_eq!(bob.peer_did(&rotated.new_did).await, second.new_did);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_device_continues_from_its_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = mediator(settings(&dir.path().join("m"), None)).await;
    let path = dir.path().join("alice.json");
    let alice = EdgeAgent::open(&path, config()).unwrap();
    let first = alice.connect(&server.invitation.url).await.unwrap();
    let rotated = alice.rotate().await.unwrap();
    drop(alice);
    let bob = connected(&server, config()).await;
    bob.send(&first.did, text("while you were away"))
        .await
        .unwrap();

    let alice = EdgeAgent::open(&path, config()).unwrap();
    assert_eq!(alice.did().await.unwrap(), rotated.new_did);
    let again = alice.connect(&server.invitation.url).await.unwrap();
    assert!(!again.newly_granted);
    assert_eq!(again.did, rotated.new_did);
    let batch = alice.pickup().await.unwrap();
    assert_eq!(batch.messages.len(), 1);
    // The rotation is still announced after the restart.
    let sent = alice
        .send(&bob.did().await.unwrap(), text("back"))
        .await
        .unwrap();
    assert!(sent.announced_rotation);
    batch.acknowledge().await.unwrap();
    // A redelivered id that was acknowledged is acknowledged again, not handed over again.
    let state = alice.state().await;
    assert_eq!(state.recent_acks.len(), 1);
    // Another mediator is refused: one agent, one mediator.
    let other_dir = tempfile::tempdir().unwrap();
    let other = mediator(settings(other_dir.path(), None)).await;
    let e = alice.connect(&other.invitation.url).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::IllegalArgument);
    other.shutdown().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_protocol_versions() {
    let dir = tempfile::tempdir().unwrap();
    let server = mediator(settings(dir.path(), None)).await;
    for (mediation, pickup) in [
        (MediationVersion::V3, PickupVersion::V4),
        (MediationVersion::V2, PickupVersion::V4),
        (MediationVersion::V3, PickupVersion::V3),
    ] {
        let cfg = config().mediation_version(mediation).pickup_version(pickup);
        let alice = connected(&server, cfg.clone()).await;
        let bob = connected(&server, cfg).await;
        let bob_did = bob.did().await.unwrap();
        assert_eq!(bob.keylist().await.unwrap(), [bob_did.clone()]);
        alice.send(&bob_did, text("v")).await.unwrap();
        assert_eq!(bob.status(None).await.unwrap().message_count, 1);
        let batch = bob.pickup().await.unwrap();
        assert_eq!(batch.messages.len(), 1, "{mediation:?} {pickup:?}");
        batch.acknowledge().await.unwrap();
        assert!(bob.pickup().await.unwrap().is_empty());
        assert_eq!(bob.status(None).await.unwrap().message_count, 0);
        let rotated = bob.rotate().await.unwrap();
        assert_eq!(bob.keylist().await.unwrap().len(), 2);
        assert_eq!(bob.retire_prior_dids(false).await.unwrap().len(), 1);
        assert_eq!(bob.keylist().await.unwrap(), [rotated.new_did]);
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_modes_endpoint_styles_and_undecryptable_messages() {
    use didcomm_edge_agent::{EndpointStyle, SendMode};
    let dir = tempfile::tempdir().unwrap();
    let server = mediator(settings(dir.path(), None)).await;
    // Bob names the mediator by URL and routing key instead of by DID.
    let bob = connected(&server, config().endpoint_style(EndpointStyle::RoutingKeys)).await;
    let bob_did = bob.did().await.unwrap();
    let doc = bob.didcomm().resolve(&bob_did).await.unwrap();
    let endpoint = &doc.document().didcomm_endpoints()[0];
    assert_eq!(endpoint.uri, server.public_url);
    assert_eq!(
        endpoint.routing_keys,
        [format!("{}#key-2", server.identity.did)]
    );
    for (mode, authenticated) in [
        (SendMode::Anoncrypt, false),
        (SendMode::AuthcryptProtectSender, true),
        (SendMode::Authcrypt, true),
    ] {
        let alice = connected(&server, config().send_mode(mode)).await;
        let sent = alice.send(&bob_did, text("mode")).await.unwrap();
        assert_eq!(sent.uri, server.public_url);
        let batch = bob.pickup().await.unwrap();
        assert_eq!(batch.messages.len(), 1, "{mode:?}");
        let got = &batch.messages[0];
        assert_eq!(got.metadata.authenticated, authenticated, "{mode:?}");
        assert_eq!(got.sender().is_some(), authenticated);
        if authenticated {
            assert_eq!(got.sender(), alice.did().await.as_deref());
        }
        batch.acknowledge().await.unwrap();
    }

    // A message Bob cannot open (encrypted for someone else, forwarded to him) is handed over
    // as undecryptable and acknowledged with the batch.
    let carol = connected(&server, config()).await;
    let carol_did = carol.did().await.unwrap();
    let dc = carol.didcomm();
    let (for_carol, _) = dc
        .pack_encrypted(
            &text("not for Bob").to(carol_did.clone()),
            &carol_did,
            None,
            None,
            &Default::default(),
        )
        .await
        .unwrap();
    let wire = dc
        .wrap_in_forward(
            &for_carol,
            &bob_did,
            &[server.identity.did.clone()],
            &Default::default(),
        )
        .await
        .unwrap();
    didcomm_edge_agent::transport::HttpTransport::new(common::STEP)
        .unwrap()
        .post(&server.public_url, &wire)
        .await
        .unwrap();
    let batch = bob.pickup().await.unwrap();
    assert!(batch.messages.is_empty());
    assert_eq!(batch.failed.len(), 1);
    assert!(matches!(
        batch.failed[0].error.kind(),
        ErrorKind::Envelope(_)
    ));
    batch.acknowledge().await.unwrap();
    assert_eq!(bob.status(None).await.unwrap().message_count, 0);
    server.shutdown().await.unwrap();
}
