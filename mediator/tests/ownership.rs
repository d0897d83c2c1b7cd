//! One owner per DID and delivery budgets, black box over HTTP on 127.0.0.1 (SQLite): the
//! keylist squatting of issue 12 in both directions (a bare DID against a DID URL and the
//! reverse), the proof-of-control policy, and pickups cut by bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{call, enroll, test_settings, World, STEP};
use didcomm_edge::protocols::mediation::{
    MediationEvent, MediationVersion, RecipientUpdateItem, UpdateResult,
};
use didcomm_edge::protocols::pickup::{LiveDeliveryChange, PickupVersion};
use didcomm_edge::protocols::return_route::{with_return_route, ReturnRoute};
use didcomm_edge_mediator::config::KeylistProof;
use didcomm_edge_mediator::protocols::mediation::proof;
use didcomm_edge_testkit::{Device, HttpConnection};
use serde_json::json;

/// Send a keylist update; the results, in order.
async fn update(
    http: &mut HttpConnection,
    device: &mut Device,
    items: Vec<RecipientUpdateItem>,
) -> Vec<UpdateResult> {
    let packed = device.keylist_update(items).await.unwrap();
    let reply = call(http, device, &packed).await;
    let MediationEvent::Updated { updated } = device.handle_mediation(&reply).unwrap() else {
        panic!("{reply:?}")
    };
    updated.iter().map(|u| u.result).collect()
}

/// The messages waiting for `device` (one delivery of up to 100), their ids.
async fn pick_up(http: &mut HttpConnection, device: &Device) -> Vec<String> {
    let delivery = common::delivery(http, device, PickupVersion::V4, 100).await;
    Device::delivered(&delivery)
        .unwrap()
        .messages
        .into_iter()
        .map(|m| m.id)
        .collect()
}

async fn acknowledge(http: &mut HttpConnection, device: &Device, ids: Vec<String>) {
    let r = common::messages_received(http, device, PickupVersion::V4, ids).await;
    assert!(r.status == 200 || r.status == 202, "{}", r.text());
}

/// A message authcrypted from `from` to `to`, wrapped in a forward whose `next` is `next`.
async fn forward(from: &Device, to: &str, next: &str, mediator: &str) -> String {
    let inner = from
        .authcrypt(to, json!({"content": "secret"}))
        .await
        .unwrap();
    from.didcomm
        .wrap_in_forward(&inner, next, &[mediator.to_owned()], &Default::default())
        .await
        .unwrap()
}

/// Alice registers her DID as a DID URL; Mallory, granted too, cannot register the bare DID
/// (issue 12: she got `success` and then Alice's forwards).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_did_cannot_take_a_did_url_of_another_device() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(test_settings(dir.path(), None)).await;
    let mediator = world.mediator_did();
    let mut http = world.http().await;
    let mut alice = world.device(MediationVersion::V3);
    enroll(&mut http, &mut alice).await;
    let alice_did = alice.new_recipient_did(&mediator).unwrap();
    let alice_url = format!("{alice_did}#key-1");
    assert_eq!(
        update(
            &mut http,
            &mut alice,
            vec![RecipientUpdateItem::add(alice_url)]
        )
        .await,
        [UpdateResult::Success]
    );
    let (mut mallory, _) = world.enrolled(MediationVersion::V2).await;
    assert_eq!(
        update(
            &mut http,
            &mut mallory,
            vec![RecipientUpdateItem::add(alice_did.clone())]
        )
        .await,
        [UpdateResult::ClientError],
        "Mallory must not register Alice's DID"
    );
    // A sender's forward naming Alice's DID goes to Alice, not to Mallory.
    let dave = world.device(MediationVersion::V3);
    let wrapped = forward(&dave, &alice_did, &alice_did, &mediator).await;
    assert_eq!(http.post_packed(&wrapped).await.unwrap().status, 202);
    assert!(pick_up(&mut http, &mallory).await.is_empty());
    assert_eq!(pick_up(&mut http, &alice).await.len(), 1);
    world.server.shutdown().await.unwrap();
}

/// The reverse: Bob registers his bare DID; Mallory cannot register one of its DID URLs, and
/// a forward naming that DID URL goes to Bob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_did_url_cannot_take_the_bare_did_of_another_device() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(test_settings(dir.path(), None)).await;
    let mediator = world.mediator_did();
    let mut http = world.http().await;
    let (bob, bob_did) = world.enrolled(MediationVersion::V3).await;
    let (mut mallory, _) = world.enrolled(MediationVersion::V3).await;
    let bob_url = format!("{bob_did}#key-1");
    assert_eq!(
        update(
            &mut http,
            &mut mallory,
            vec![RecipientUpdateItem::add(bob_url.clone())]
        )
        .await,
        [UpdateResult::ClientError],
        "Mallory must not register a DID URL of Bob's DID"
    );
    let dave = world.device(MediationVersion::V3);
    let wrapped = forward(&dave, &bob_did, &bob_url, &mediator).await;
    assert_eq!(http.post_packed(&wrapped).await.unwrap().status, 202);
    assert!(pick_up(&mut http, &mallory).await.is_empty());
    let ids = pick_up(&mut http, &bob).await;
    assert_eq!(ids.len(), 1);
    // Bob removes his key and the namespace is free again (nothing of his is left there).
    acknowledge(&mut http, &bob, ids).await;
    let mut bob = bob;
    assert_eq!(
        update(
            &mut http,
            &mut bob,
            vec![RecipientUpdateItem::remove(bob_did)]
        )
        .await,
        [UpdateResult::Success]
    );
    assert_eq!(
        update(
            &mut http,
            &mut mallory,
            vec![RecipientUpdateItem::add(bob_url)]
        )
        .await,
        [UpdateResult::Success]
    );
    world.server.shutdown().await.unwrap();
}

/// A pickup carries at most the delivery byte budget (default 1 MiB): three messages of
/// about 400 KB come in two deliveries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_cut_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(test_settings(dir.path(), None)).await;
    let mut http = world.http().await;
    let (alice, alice_did) = world.enrolled(MediationVersion::V3).await;
    let dave = world.device(MediationVersion::V3);
    for i in 0..3 {
        let content = format!("{i}{}", "x".repeat(300_000));
        let routed = dave
            .send(&alice_did, json!({ "content": content }))
            .await
            .unwrap();
        let r = http.post_packed(&routed.message).await.unwrap();
        assert_eq!(r.status, 202, "{}", r.text());
    }
    let first = pick_up(&mut http, &alice).await;
    assert_eq!(first.len(), 2, "the first delivery stays within 1 MiB");
    acknowledge(&mut http, &alice, first).await;
    assert_eq!(pick_up(&mut http, &alice).await.len(), 1);
    world.server.shutdown().await.unwrap();
}

/// Live delivery uses the same budget: three waiting messages of about 400 KB are pushed in
/// deliveries of at most 1 MiB, all of them without an acknowledgement in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_deliveries_are_cut_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(test_settings(dir.path(), None)).await;
    let mut http = world.http().await;
    let (alice, alice_did) = world.enrolled(MediationVersion::V3).await;
    let dave = world.device(MediationVersion::V3);
    for i in 0..3 {
        let content = format!("{i}{}", "x".repeat(300_000));
        let routed = dave
            .send(&alice_did, json!({ "content": content }))
            .await
            .unwrap();
        assert_eq!(http.post_packed(&routed.message).await.unwrap().status, 202);
    }
    let mut ws = world.ws().await;
    let (on, on_id) = alice
        .request(&LiveDeliveryChange {
            version: PickupVersion::V4,
            live_delivery: true,
        })
        .await
        .unwrap();
    ws.send(&on).await.unwrap();
    let mut pushed = 0;
    while pushed < 3 {
        let text = ws.next(STEP).await.unwrap().expect("a push in time");
        let m = alice.unpack(&text).await.unwrap();
        if m.thid.as_deref() == Some(on_id.as_str()) {
            continue; // the status answering the change
        }
        let n = Device::delivered(&m).unwrap().messages.len();
        assert!((1..=2).contains(&n), "a delivery of {n} messages");
        pushed += n;
    }
    assert_eq!(pushed, 3);
    ws.close().await;
    world.server.shutdown().await.unwrap();
}

/// A keylist update carrying proof attachments (the proof-of-control policy).
async fn update_with_proofs(
    http: &mut HttpConnection,
    device: &mut Device,
    items: Vec<RecipientUpdateItem>,
    proofs: Vec<String>,
) -> Vec<UpdateResult> {
    let mut message = device.mediation.update(&device.did, items).unwrap();
    message.attachments = Some(
        proofs
            .iter()
            .map(|jws| proof::attachment(jws).unwrap())
            .collect(),
    );
    let packed = device
        .pack(&with_return_route(message, ReturnRoute::All))
        .await
        .unwrap();
    let reply = call(http, device, &packed).await;
    let MediationEvent::Updated { updated } = device.handle_mediation(&reply).unwrap() else {
        panic!("{reply:?}")
    };
    updated.iter().map(|u| u.result).collect()
}

/// `signer` vouches, with a key of `added`, that `requester` may register `keys`.
async fn vouch(signer: &Device, added: &str, requester: &str, keys: &[String]) -> String {
    let statement = proof::statement("proof-1", added, requester, keys);
    signer
        .didcomm
        .pack_signed(&statement, added)
        .await
        .unwrap()
        .0
}

/// Under `keylist_proof = "same-did"` an add is accepted for the requester's own DID, or with
/// a proof signed by the added DID naming the requester; anything else is `client_error`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proof_policy_accepts_only_adds_the_added_did_vouches_for() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), None);
    settings.keylist_proof = KeylistProof::SameDid;
    let world = World::start(settings).await;
    let mediator = world.mediator_did();
    let mut http = world.http().await;
    let mut alice = world.device(MediationVersion::V3);
    let request = alice.mediate_request().await.unwrap();
    let reply = call(&mut http, &alice, &request).await;
    alice.handle_mediation(&reply).unwrap();
    let mut mallory = world.device(MediationVersion::V2);
    let request = mallory.mediate_request().await.unwrap();
    let reply = call(&mut http, &mallory, &request).await;
    mallory.handle_mediation(&reply).unwrap();

    // Its own DID needs no proof.
    let own = format!("{}#key-1", alice.did);
    assert_eq!(
        update(&mut http, &mut alice, vec![RecipientUpdateItem::add(own)]).await,
        [UpdateResult::Success]
    );
    // Another DID without a proof: refused.
    let recipient = alice.new_recipient_did(&mediator).unwrap();
    assert_eq!(
        update(
            &mut http,
            &mut alice,
            vec![RecipientUpdateItem::add(recipient.clone())]
        )
        .await,
        [UpdateResult::ClientError]
    );
    // A proof for another requester (Alice's, replayed by Mallory) proves nothing to Mallory.
    let keys = vec![recipient.clone()];
    let for_alice = vouch(&alice, &recipient, &alice.did, &keys).await;
    assert_eq!(
        update_with_proofs(
            &mut http,
            &mut mallory,
            vec![RecipientUpdateItem::add(recipient.clone())],
            vec![for_alice.clone()]
        )
        .await,
        [UpdateResult::ClientError]
    );
    // Mallory signing with her own DID for Alice's recipient DID proves nothing either.
    let by_mallory = vouch(&mallory, &mallory.did.clone(), &mallory.did, &keys).await;
    assert_eq!(
        update_with_proofs(
            &mut http,
            &mut mallory,
            vec![RecipientUpdateItem::add(recipient.clone())],
            vec![by_mallory]
        )
        .await,
        [UpdateResult::ClientError]
    );
    // The added DID's own signature, naming Alice: accepted.
    assert_eq!(
        update_with_proofs(
            &mut http,
            &mut alice,
            vec![RecipientUpdateItem::add(recipient.clone())],
            vec![for_alice]
        )
        .await,
        [UpdateResult::Success]
    );
    world.server.shutdown().await.unwrap();
}
