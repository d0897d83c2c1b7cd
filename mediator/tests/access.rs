//! Access control, grant policies, problem reports, Trust Ping and Discover Features, over real
//! HTTP and WebSocket on 127.0.0.1 (SQLite).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{call, refused, status_request, test_settings, World, STEP};
use didcomm_edge::protocols::discover_features::{Disclose, FeatureQuery, Queries};
use didcomm_edge::protocols::mediation::{
    MediationEvent, MediationVersion, RecipientUpdateItem, UpdateResult, MEDIATE_DENY_V2,
    MEDIATE_GRANT_V3,
};
use didcomm_edge::protocols::pickup::{
    DeliveryRequest, LiveDeliveryChange, MessagesReceived, PickupVersion, Status,
};
use didcomm_edge::protocols::report_problem::{ProblemReport, PROBLEM_REPORT_TYPE};
use didcomm_edge::protocols::return_route::{with_return_route, ReturnRoute};
use didcomm_edge::protocols::trust_ping::{Ping, PING_RESPONSE_TYPE};
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::Message;
use didcomm_edge_mediator::config::GrantPolicy;
use didcomm_edge_testkit::Device;
use serde_json::{json, Value};

/// The report's code, checked to be about `request_id` (by `pthid`; no `ack`, which
/// didcomm-jvm refuses in the spec's array form).
fn problem(report: &Message, request_id: &str) -> ProblemReport {
    let parsed = ProblemReport::from_message(report).unwrap();
    assert_eq!(report.pthid.as_deref(), Some(request_id));
    assert!(report.ack.is_none(), "{:?}", report.ack);
    parsed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_did_cannot_pick_up_or_update_someone_elses_queue() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(test_settings(dir.path(), None)).await;
    let (alice, alice_recipient) = world.enrolled(MediationVersion::V3).await;
    let (mut carol, _) = world.enrolled(MediationVersion::V2).await;
    let mut bob = world.device(MediationVersion::V3); // never asked for mediation
    let dave = world.device(MediationVersion::V3);
    let mut http = world.http().await;
    let routed = dave
        .send(&alice_recipient, json!({"content": "for alice"}))
        .await
        .unwrap();
    assert_eq!(http.post_packed(&routed.message).await.unwrap().status, 202);

    // Carol (granted, but not Alice) asks for Alice's queue: refused with a problem report.
    let (request, id) = carol
        .request(&DeliveryRequest {
            version: PickupVersion::V3,
            limit: 10,
            recipient_did: Some(alice_recipient.clone()),
        })
        .await
        .unwrap();
    let report = refused(&mut http, &carol, &request, 403).await;
    assert_eq!(report.type_, PROBLEM_REPORT_TYPE);
    assert_eq!(problem(&report, &id).code, "e.p.req.not-allowed");
    // Carol's own queue is empty, and acknowledging Alice's ids deletes nothing.
    let (request, _) = carol
        .request(&DeliveryRequest {
            version: PickupVersion::V4,
            limit: 10,
            recipient_did: None,
        })
        .await
        .unwrap();
    let empty = call(&mut http, &carol, &request).await;
    assert!(Device::delivered(&empty).unwrap().messages.is_empty());
    let storage = &world.server.mediator.storage;
    let queued = storage
        .fetch(std::slice::from_ref(&alice_recipient), 10, u64::MAX, 0)
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    let (ack, _) = carol
        .request(&MessagesReceived {
            version: PickupVersion::V3,
            message_id_list: vec![queued[0].id.clone()],
        })
        .await
        .unwrap();
    call(&mut http, &carol, &ack).await;
    assert_eq!(
        storage
            .fetch(std::slice::from_ref(&alice_recipient), 10, u64::MAX, 0)
            .await
            .unwrap()
            .len(),
        1
    );
    // Carol cannot take or drop Alice's recipient DID.
    let update = carol
        .keylist_update(vec![
            RecipientUpdateItem::remove(alice_recipient.clone()),
            RecipientUpdateItem::add(alice_recipient.clone()),
            RecipientUpdateItem::add("not a DID"),
        ])
        .await
        .unwrap();
    let reply = call(&mut http, &carol, &update).await;
    let MediationEvent::Updated { updated } = carol.handle_mediation(&reply).unwrap() else {
        panic!("{reply:?}")
    };
    let results: Vec<UpdateResult> = updated.iter().map(|u| u.result).collect();
    assert_eq!(
        results,
        [
            UpdateResult::NoChange,
            UpdateResult::ClientError,
            UpdateResult::ClientError
        ]
    );
    assert_eq!(
        storage.key_owner(&alice_recipient).await.unwrap(),
        Some(alice.did.clone())
    );

    // Bob holds no grant: no pickup, no keylist.
    let (request, id) = bob
        .request(&status_request(PickupVersion::V3))
        .await
        .unwrap();
    let report = refused(&mut http, &bob, &request, 403).await;
    assert_eq!(problem(&report, &id).code, "e.p.req.not-allowed");
    bob.mediation.state = didcomm_edge::protocols::mediation::MediationState::Granted {
        routing_did: vec![world.mediator_did()],
    };
    let update = bob
        .keylist_update(vec![RecipientUpdateItem::add("did:example:bob")])
        .await
        .unwrap();
    refused(&mut http, &bob, &update, 403).await;
    let query = bob.keylist_query(None).await.unwrap();
    refused(&mut http, &bob, &query, 403).await;

    // Requests that do not authenticate their sender are refused (JSON: nobody to answer).
    let anonymous = bob.to_mediator(status_request(PickupVersion::V3).to_message().unwrap());
    let anonymous = Message {
        from: None,
        ..anonymous
    };
    let (packed, _) = bob
        .didcomm
        .pack_encrypted(
            &anonymous,
            &bob.mediator_did,
            None,
            None,
            &Default::default(),
        )
        .await
        .unwrap();
    let r = http.post_packed(&packed).await.unwrap();
    assert_eq!(r.status, 403);
    assert!(r.text().contains("forbidden"), "{}", r.text());
    // Signed by Alice but not encrypted: not enough to read her queue.
    let signed_only = alice.to_mediator(status_request(PickupVersion::V3).to_message().unwrap());
    let (packed, _) = alice
        .didcomm
        .pack_signed(&signed_only, &alice.did)
        .await
        .unwrap();
    let r = http
        .request(
            "POST",
            "/",
            Some("application/didcomm-signed+json"),
            packed.into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());

    // A forward to a DID nobody registered is refused.
    let stranger = world.device(MediationVersion::V3);
    let wrapped = dave
        .didcomm
        .wrap_in_forward(
            &routed_inner(&dave, &stranger.did).await,
            &stranger.did,
            &[world.mediator_did()],
            &Default::default(),
        )
        .await
        .unwrap();
    let r = http.post_packed(&wrapped).await.unwrap();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("unknown_recipient"), "{}", r.text());
    world.server.shutdown().await.unwrap();
}

/// A message authcrypted from `from` to `to`.
async fn routed_inner(from: &Device, to: &str) -> String {
    from.authcrypt(to, json!({"content": "x"})).await.unwrap()
}

async fn ask_mediation(world: &World, device: &mut Device, message: Option<Message>) -> Message {
    let mut http = world.http().await;
    let mut request = device.mediation.request(&device.did).unwrap();
    if let Some(changed) = message {
        request = Message {
            body: changed.body,
            pthid: changed.pthid,
            ..request
        };
    }
    let packed = device.pack(&request).await.unwrap();
    let reply = call(&mut http, device, &packed).await;
    device.handle_mediation(&reply).unwrap();
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grant_policies_allow_list_and_invitation_token() {
    // Allow-list.
    let dir = tempfile::tempdir().unwrap();
    let mut alice = Device::new("did:example:placeholder", MediationVersion::V2).unwrap();
    let mut settings = test_settings(dir.path(), None);
    settings.grant_policy = GrantPolicy::AllowList;
    settings.grant_allow_list = vec![alice.did.clone()];
    let world = World::start(settings).await;
    alice = Device::from_wallet(alice.wallet, &world.mediator_did(), MediationVersion::V2).unwrap();
    let mut bob = world.device(MediationVersion::V2);
    let reply = ask_mediation(&world, &mut alice, None).await;
    assert_eq!(reply.type_, MEDIATE_GRANT_V3.replace("3.0", "2.0"));
    let reply = ask_mediation(&world, &mut bob, None).await;
    assert_eq!(reply.type_, MEDIATE_DENY_V2);
    assert!(world
        .server
        .mediator
        .storage
        .grant(&bob.did)
        .await
        .unwrap()
        .is_none());
    world.server.shutdown().await.unwrap();

    // Invitation token: in the body, or as the pthid (the invitation's id).
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), None);
    settings.grant_policy = GrantPolicy::Token;
    settings.grant_tokens = vec!["invite-7f3a".into()];
    let world = World::start(settings).await;
    let base = |body: Value, pthid: Option<&str>| {
        let m = Message::build("x", "t", body);
        Some(match pthid {
            Some(p) => m.pthid(p),
            None => m,
        })
    };
    let mut with_body = world.device(MediationVersion::V3);
    let reply = ask_mediation(
        &world,
        &mut with_body,
        base(json!({"token": "invite-7f3a"}), None),
    )
    .await;
    assert_eq!(reply.type_, MEDIATE_GRANT_V3);
    // The device scans an invitation made for it (its id is the token) and answers it.
    let url = didcomm_edge_mediator::oob::Invitation::for_token(
        &world.mediator_did(),
        &world.server.public_url,
        "test",
        "invite-7f3a",
    )
    .unwrap()
    .url;
    let scanned = didcomm_edge::protocols::oob::Invitation::from_url(&url).unwrap();
    assert_eq!(scanned.from, world.mediator_did());
    let mut with_pthid = Device::new(&scanned.from, MediationVersion::V3).unwrap();
    let answer = scanned.reply(Message::build("x", "t", json!({})));
    let reply = ask_mediation(&world, &mut with_pthid, Some(answer)).await;
    assert_eq!(reply.type_, MEDIATE_GRANT_V3);
    let mut wrong = world.device(MediationVersion::V3);
    let reply = ask_mediation(
        &world,
        &mut wrong,
        base(json!({"token": "invite-0000"}), None),
    )
    .await;
    assert!(reply.type_.ends_with("/mediate-deny"));
    let mut none = world.device(MediationVersion::V3);
    let reply = ask_mediation(&world, &mut none, None).await;
    assert!(reply.type_.ends_with("/mediate-deny"));
    // A granted device asking again (after a restart, without the token) keeps its grant.
    let reply = ask_mediation(&world, &mut with_body, None).await;
    assert_eq!(reply.type_, MEDIATE_GRANT_V3);
    world.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_ping_discover_features_and_problem_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), None);
    settings.queue_max_messages = 1;
    let world = World::start(settings).await;
    let (alice, recipient) = world.enrolled(MediationVersion::V3).await;
    let stranger = world.device(MediationVersion::V3); // no grant needed for these
    let mut http = world.http().await;

    // Trust Ping.
    let (ping, id) = stranger.request(&Ping::default()).await.unwrap();
    let pong = call(&mut http, &stranger, &ping).await;
    assert_eq!(pong.type_, PING_RESPONSE_TYPE);
    assert_eq!(pong.thid.as_deref(), Some(id.as_str()));
    assert_eq!(pong.from.as_deref(), Some(world.mediator_did().as_str()));
    let (quiet, _) = stranger
        .request(&Ping {
            response_requested: false,
        })
        .await
        .unwrap();
    assert_eq!(http.post_packed(&quiet).await.unwrap().status, 202);

    // Discover Features: what the mediator serves.
    let (queries, id) = stranger
        .request(&Queries {
            queries: vec![
                FeatureQuery::new("protocol", "https://didcomm.org/coordinate-mediation/*"),
                FeatureQuery::new("protocol", "https://didcomm.org/message*pickup/*"),
                FeatureQuery::new("header", "*"),
            ],
        })
        .await
        .unwrap();
    let disclose = call(&mut http, &stranger, &queries).await;
    assert_eq!(disclose.thid.as_deref(), Some(id.as_str()));
    let ids: Vec<String> = Disclose::from_message(&disclose)
        .unwrap()
        .disclosures
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(
        ids,
        [
            "https://didcomm.org/coordinate-mediation/2.0",
            "https://didcomm.org/coordinate-mediation/3.0",
            "https://didcomm.org/messagepickup/3.0",
            "https://didcomm.org/message-pickup/4.0",
            "return_route",
        ]
    );
    let (all, _) = stranger
        .request(&Queries {
            queries: vec![FeatureQuery::new("protocol", "*")],
        })
        .await
        .unwrap();
    let all = Disclose::from_message(&call(&mut http, &stranger, &all).await).unwrap();
    for piuri in [
        "https://didcomm.org/routing/2.0",
        "https://didcomm.org/trust-ping/2.0",
        "https://didcomm.org/discover-features/2.0",
        "https://didcomm.org/report-problem/2.0",
    ] {
        assert!(all.disclosures.iter().any(|d| d.id == piuri), "{piuri}");
    }

    // A type the mediator does not serve: a problem report when the sender can read one...
    let basic = alice.to_mediator(
        Message::new(
            "https://didcomm.org/basicmessage/2.0/message",
            json!({"content": "hi"}),
        )
        .unwrap(),
    );
    let id = basic.id.clone();
    let packed = alice.pack(&basic).await.unwrap();
    let report = refused(&mut http, &alice, &packed, 400).await;
    let parsed = problem(&report, &id);
    assert_eq!(parsed.code, "e.p.msg.unsupported");
    assert!(parsed.comment.unwrap().contains("not served"));
    assert_eq!(report.from.as_deref(), Some(world.mediator_did().as_str()));
    // ...and the JSON error without return_route.
    let no_route = with_return_route(basic.clone(), ReturnRoute::None);
    let packed = alice.pack(&no_route).await.unwrap();
    let r = http.post_packed(&packed).await.unwrap();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("\"unsupported\""), "{}", r.text());
    // return_route "thread" covers the request's own thread.
    let thread = with_return_route(basic, ReturnRoute::Thread);
    let packed = alice.pack(&thread).await.unwrap();
    refused(&mut http, &alice, &packed, 400).await;

    // A malformed body of a known type.
    let bad = alice.to_mediator(Message::build(
        "bad-1",
        "https://didcomm.org/messagepickup/3.0/delivery-request",
        json!({"limit": "ten"}),
    ));
    let packed = alice.pack(&bad).await.unwrap();
    let report = refused(&mut http, &alice, &packed, 400).await;
    assert_eq!(problem(&report, "bad-1").code, "e.p.msg");
    // A message only a recipient should get.
    let wrong_way = alice.to_mediator(Message::build(
        "wrong-1",
        "https://didcomm.org/messagepickup/3.0/status",
        json!({"message_count": 0}),
    ));
    let packed = alice.pack(&wrong_way).await.unwrap();
    let report = refused(&mut http, &alice, &packed, 400).await;
    assert_eq!(problem(&report, "wrong-1").code, "e.p.msg.unsupported");

    // Live mode over HTTP: e.m.live-mode-not-supported; Pickup 4.0's own report type.
    for (version, type_) in [
        (PickupVersion::V3, PROBLEM_REPORT_TYPE),
        (
            PickupVersion::V4,
            "https://didcomm.org/message-pickup/4.0/problem-report",
        ),
    ] {
        let (live, id) = alice
            .request(&LiveDeliveryChange {
                version,
                live_delivery: true,
            })
            .await
            .unwrap();
        let report = refused(&mut http, &alice, &live, 400).await;
        assert_eq!(report.type_, type_);
        assert_eq!(problem(&report, &id).code, "e.m.live-mode-not-supported");
    }

    // Over the WebSocket, a refusal is a packed problem report frame too.
    let mut ws = world.ws().await;
    let (request, id) = stranger
        .request(&status_request(PickupVersion::V3))
        .await
        .unwrap();
    ws.send(&request).await.unwrap();
    let frame = ws.next(STEP).await.unwrap().unwrap();
    let report = stranger.unpack(&frame).await.unwrap();
    assert_eq!(problem(&report, &id).code, "e.p.req.not-allowed");
    let (request, _) = alice
        .request(&status_request(PickupVersion::V3))
        .await
        .unwrap();
    ws.send(&request).await.unwrap();
    let status = alice
        .unpack(&ws.next(STEP).await.unwrap().unwrap())
        .await
        .unwrap();
    assert_eq!(Status::from_message(&status).unwrap().message_count, 0);
    ws.close().await;

    // An authenticated forward over the quota: 507 with e.p.me.res.storage.
    let dave = world.device(MediationVersion::V3);
    let first = dave.send(&recipient, json!({"n": 1})).await.unwrap();
    assert_eq!(http.post_packed(&first.message).await.unwrap().status, 202);
    let inner = routed_inner(&dave, &recipient).await;
    let forward = didcomm_edge::Forward::new(recipient.clone(), inner)
        .to_message()
        .unwrap();
    let forward = with_return_route(
        forward.from(dave.did.clone()).to(world.mediator_did()),
        ReturnRoute::All,
    );
    let id = forward.id.clone();
    let packed = dave.pack(&forward).await.unwrap();
    let report = refused(&mut http, &dave, &packed, 507).await;
    assert_eq!(problem(&report, &id).code, "e.p.me.res.storage");

    let metrics = http.get("/metrics").await.unwrap().text();
    assert!(
        metrics.contains("didcomm_mediator_refusals_total{reason=\"unsupported\"}"),
        "{metrics}"
    );
    // The server kept serving through all of it.
    let (ping, _) = stranger.request(&Ping::default()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), call(&mut http, &stranger, &ping))
        .await
        .unwrap();
    world.server.shutdown().await.unwrap();
}
