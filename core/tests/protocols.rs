#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The protocol family: every message type round-trips through JSON and refuses another type
//! and malformed bodies with a typed error; the spec's (and deployed agents') examples parse;
//! the state machines drive full exchanges, over real encryption where it matters.

mod common;

use std::fmt::Debug;

use common::*;
use didcomm_edge::protocols::basic_message::*;
use didcomm_edge::protocols::discover_features::*;
use didcomm_edge::protocols::empty::*;
use didcomm_edge::protocols::mediation::*;
use didcomm_edge::protocols::oob::*;
use didcomm_edge::protocols::pickup::*;
use didcomm_edge::protocols::report_problem::*;
use didcomm_edge::protocols::return_route::{return_route, ReturnRoute};
use didcomm_edge::protocols::rotation::*;
use didcomm_edge::protocols::trust_ping::*;
use didcomm_edge::protocols::{ack, threading, ProtocolMessage};
use didcomm_edge::{
    DidComm, Error, ErrorKind, Message, PackEncryptedOptions, RouteOptions, UnpackMetadata,
    UnpackOptions,
};
use serde_json::{json, Value};

/// Build, serialize to JSON text, parse back, read: the same value, under its own type.
fn round_trip<T: ProtocolMessage + PartialEq + Debug>(value: &T) -> Message {
    let message = value.to_message().unwrap();
    assert_eq!(message.type_, value.message_type());
    let text = message.to_json().unwrap();
    let parsed = Message::from_json(&text, Default::default()).unwrap();
    let back = T::from_message(&parsed).unwrap_or_else(|e| panic!("{}: {e}", message.type_));
    assert_eq!(&back, value, "{}", message.type_);
    parsed
}

fn assert_malformed<T: ProtocolMessage + Debug>(message: &Message) {
    match T::from_message(message) {
        Ok(v) => panic!("{} {:?}: accepted as {v:?}", message.type_, message.body),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Malformed, "{}: {e}", message.type_),
    }
}

fn msg(type_: &str, body: Value) -> Message {
    Message::build("id-1", type_, body)
}

/// Every reader refuses every other message type.
#[test]
fn every_reader_refuses_other_types() {
    let other = msg("https://didcomm.org/other/1.0/thing", json!({}));
    assert_malformed::<Empty>(&other);
    assert_malformed::<Ping>(&other);
    assert_malformed::<PingResponse>(&other);
    assert_malformed::<BasicMessage>(&other);
    assert_malformed::<ProblemReport>(&other);
    assert_malformed::<Queries>(&other);
    assert_malformed::<Disclose>(&other);
    assert_malformed::<Invitation>(&other);
    assert_malformed::<MediateRequest>(&other);
    assert_malformed::<MediateGrant>(&other);
    assert_malformed::<MediateDeny>(&other);
    assert_malformed::<RecipientUpdate>(&other);
    assert_malformed::<RecipientUpdateResponse>(&other);
    assert_malformed::<RecipientQuery>(&other);
    assert_malformed::<RecipientList>(&other);
    assert_malformed::<StatusRequest>(&other);
    assert_malformed::<Status>(&other);
    assert_malformed::<DeliveryRequest>(&other);
    assert_malformed::<Delivery>(&other);
    assert_malformed::<MessagesReceived>(&other);
    assert_malformed::<LiveDeliveryChange>(&other);
    assert!(MediationMessage::parse(&other).is_err());
    assert!(PickupMessage::parse(&other).is_err());
    // Same family, other message: still refused.
    let grant = MediateGrant {
        version: MediationVersion::V3,
        routing_did: vec!["did:example:m".into()],
    }
    .to_message()
    .unwrap();
    assert_malformed::<MediateRequest>(&grant);
    assert_malformed::<RecipientList>(&grant);
    let status_v4 = Status {
        version: PickupVersion::V4,
        ..Status::default()
    }
    .to_message()
    .unwrap();
    assert_malformed::<StatusRequest>(&status_v4);
    // A body that is not an object is malformed for everyone.
    for t in [
        EMPTY_TYPE,
        PING_TYPE,
        BASIC_MESSAGE_TYPE,
        MEDIATE_REQUEST_V2,
        STATUS_REQUEST_V3,
    ] {
        let m = msg(t, json!(["not", "an", "object"]));
        assert!(
            [
                Empty::from_message(&m).err(),
                Ping::from_message(&m).err(),
                BasicMessage::from_message(&m).err(),
                MediateRequest::from_message(&m).err(),
                StatusRequest::from_message(&m).err(),
            ]
            .iter()
            .flatten()
            .all(|e| e.kind() == ErrorKind::Malformed),
            "{t}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Coordinate Mediation.

#[test]
fn mediation_messages_round_trip_in_both_versions() {
    for version in [MediationVersion::V2, MediationVersion::V3] {
        let request = round_trip(&MediateRequest { version });
        assert_eq!(return_route(&request).unwrap(), ReturnRoute::All);
        round_trip(&MediateDeny { version });
        for dids in [
            vec!["did:example:mediator"],
            vec!["did:peer:2.Ez6L", "did:web:m.example"],
        ] {
            round_trip(&MediateGrant {
                version,
                routing_did: dids.into_iter().map(str::to_owned).collect(),
            });
        }
        let update = round_trip(&RecipientUpdate {
            version,
            updates: vec![
                RecipientUpdateItem::add(
                    "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH",
                ),
                RecipientUpdateItem::remove("did:peer:2.Ez6LS"),
            ],
        });
        assert_eq!(return_route(&update).unwrap(), ReturnRoute::All);
        round_trip(&RecipientUpdateResponse {
            version,
            updated: vec![
                RecipientUpdated {
                    recipient_did: "did:example:a".into(),
                    action: UpdateAction::Add,
                    result: UpdateResult::Success,
                },
                RecipientUpdated {
                    recipient_did: "did:example:b".into(),
                    action: UpdateAction::Remove,
                    result: UpdateResult::NoChange,
                },
                RecipientUpdated {
                    recipient_did: "x".into(),
                    action: UpdateAction::Add,
                    result: UpdateResult::ClientError,
                },
                RecipientUpdated {
                    recipient_did: "did:example:c".into(),
                    action: UpdateAction::Add,
                    result: UpdateResult::ServerError,
                },
            ],
        });
        round_trip(&RecipientQuery {
            version,
            paginate: None,
        });
        round_trip(&RecipientQuery {
            version,
            paginate: Some(Paginate {
                limit: 30,
                offset: 0,
            }),
        });
        round_trip(&RecipientList {
            version,
            dids: vec!["did:example:a".into()],
            pagination: Some(Pagination {
                count: 1,
                offset: 30,
                remaining: 100,
            }),
        });
        round_trip(&RecipientList {
            version,
            dids: vec![],
            pagination: None,
        });
    }
    // The wire names of each version.
    let v2 = RecipientList {
        version: MediationVersion::V2,
        dids: vec!["did:example:a".into()],
        pagination: None,
    }
    .to_message()
    .unwrap();
    assert_eq!(v2.type_, KEYLIST_V2);
    assert_eq!(
        v2.body.unwrap()["keys"][0]["recipient_did"],
        "did:example:a"
    );
    let grant_v2 = MediateGrant {
        version: MediationVersion::V2,
        routing_did: vec!["did:example:m".into()],
    }
    .to_message()
    .unwrap();
    assert_eq!(grant_v2.body.unwrap()["routing_did"], "did:example:m");
    let grant_v3 = MediateGrant {
        version: MediationVersion::V3,
        routing_did: vec!["did:example:m".into()],
    }
    .to_message()
    .unwrap();
    assert_eq!(
        grant_v3.body.unwrap()["routing_did"],
        json!(["did:example:m"])
    );
}

#[test]
fn mediation_spec_and_field_examples_parse() {
    // 2.0 spec text: routing_did a string.
    let grant = MediateGrant::from_message(&msg(
        MEDIATE_GRANT_V2,
        json!({"routing_did": "did:peer:z6Mkfriq1MqLBoPWecGoDLjguo1sB9brj6wT3qZ5BxkKpuP6"}),
    ))
    .unwrap();
    assert_eq!(
        grant.routing_did,
        ["did:peer:z6Mkfriq1MqLBoPWecGoDLjguo1sB9brj6wT3qZ5BxkKpuP6"]
    );
    // 2.0 as deployed mediators send it, and 3.0: a list.
    for t in [MEDIATE_GRANT_V2, MEDIATE_GRANT_V3] {
        let grant = MediateGrant::from_message(&msg(
            t,
            json!({"routing_did": ["did:peer:0z6Mkfriq1MqLBoPWecGoDLjguo1sB9brj6wT3qZ5BxkKpuP6"]}),
        ))
        .unwrap();
        assert_eq!(grant.routing_did.len(), 1);
    }
    // A response written with `updates` (Veramo) instead of `updated`.
    let response = RecipientUpdateResponse::from_message(&msg(
        RECIPIENT_UPDATE_RESPONSE_V3,
        json!({"updates": [{"recipient_did": "did:example:a", "action": "add", "result": "success"}]}),
    ))
    .unwrap();
    assert_eq!(response.updated[0].result, UpdateResult::Success);
    // A 2.0 keylist written with 3.0's `dids`, and the reverse.
    assert_eq!(
        RecipientList::from_message(&msg(
            KEYLIST_V2,
            json!({"dids": [{"recipient_did": "did:example:a"}]})
        ))
        .unwrap()
        .dids,
        ["did:example:a"]
    );
    assert_eq!(
        RecipientList::from_message(&msg(RECIPIENT_V3, json!({"keys": []})))
            .unwrap()
            .dids,
        Vec::<String>::new()
    );
    // Veramo's mediate-deny has `body: null`; a request may have no body at all.
    let mut deny = msg(MEDIATE_DENY_V3, Value::Null);
    assert!(MediateDeny::from_message(&deny).is_ok());
    deny.body = None;
    assert!(MediateDeny::from_message(&deny).is_ok());
}

#[test]
fn mediation_malformed_bodies() {
    let grants = [
        json!({}),
        json!({"routing_did": []}),
        json!({"routing_did": 7}),
        json!({"routing_did": [7]}),
        json!({"routing_did": "not a did"}),
        json!({"routing_did": ["did:example:ok", "https://not.a.did"]}),
    ];
    for body in grants {
        assert_malformed::<MediateGrant>(&msg(MEDIATE_GRANT_V3, body));
    }
    let updates = [
        json!({}),
        json!({"updates": {}}),
        json!({"updates": ["did:example:a"]}),
        json!({"updates": [{"action": "add"}]}),
        json!({"updates": [{"recipient_did": "", "action": "add"}]}),
        json!({"updates": [{"recipient_did": "did:example:a"}]}),
        json!({"updates": [{"recipient_did": "did:example:a", "action": "replace"}]}),
        json!({"updates": [{"recipient_did": 5, "action": "add"}]}),
    ];
    for body in updates {
        assert_malformed::<RecipientUpdate>(&msg(KEYLIST_UPDATE_V2, body.clone()));
        assert_malformed::<RecipientUpdate>(&msg(RECIPIENT_UPDATE_V3, body));
    }
    let responses = [
        json!({}),
        json!({"updated": [{"recipient_did": "did:example:a", "action": "add"}]}),
        json!({"updated": [{"recipient_did": "did:example:a", "action": "add", "result": "maybe"}]}),
    ];
    for body in responses {
        assert_malformed::<RecipientUpdateResponse>(&msg(KEYLIST_UPDATE_RESPONSE_V2, body));
    }
    for body in [
        json!({"paginate": {"limit": 10}}),
        json!({"paginate": {"limit": -1, "offset": 0}}),
        json!({"paginate": 5}),
    ] {
        assert_malformed::<RecipientQuery>(&msg(RECIPIENT_QUERY_V3, body));
    }
    for body in [
        json!({}),
        json!({"dids": ["did:example:a"]}),
        json!({"dids": [{"recipient_did": 1}]}),
        json!({"dids": [], "pagination": {"count": 1, "offset": 0}}),
    ] {
        assert_malformed::<RecipientList>(&msg(RECIPIENT_V3, body));
    }
    // Building refuses what the spec does not allow.
    assert!(MediateGrant {
        version: MediationVersion::V3,
        routing_did: vec![]
    }
    .to_message()
    .is_err());
    assert!(RecipientUpdate {
        version: MediationVersion::V3,
        updates: vec![]
    }
    .to_message()
    .is_err());
}

#[test]
fn mediation_client_checks_replies() {
    let mut client = MediationClient::new(MediationVersion::V2, "did:example:mediator");
    assert!(client.update("did:example:bob", vec![]).is_err());
    let request = client.request("did:example:bob").unwrap();
    assert_eq!(request.type_, MEDIATE_REQUEST_V2);

    let grant = MediateGrant {
        version: MediationVersion::V2,
        routing_did: vec!["did:example:mediator".into()],
    }
    .to_message()
    .unwrap()
    .from("did:example:mediator");
    // Not in our thread: refused, state unchanged.
    assert!(client.handle(&grant).is_err());
    // From someone else: refused.
    let imposter = threading::reply_to(&request, grant.clone()).from("did:example:mallory");
    assert_eq!(
        client.handle(&imposter).unwrap_err().kind(),
        ErrorKind::SenderMismatch
    );
    // Of the other version: refused.
    let v3 = threading::reply_to(
        &request,
        MediateGrant {
            version: MediationVersion::V3,
            routing_did: vec!["did:example:mediator".into()],
        }
        .to_message()
        .unwrap(),
    );
    assert!(client.handle(&v3).is_err());
    let event = client
        .handle(&threading::reply_to(&request, grant))
        .unwrap();
    assert_eq!(
        event,
        MediationEvent::Granted {
            routing_did: vec!["did:example:mediator".into()]
        }
    );
    let service = client.service("#didcomm-1").unwrap();
    assert_eq!(service.service_endpoint["uri"], "did:example:mediator");

    let update = client
        .update(
            "did:example:bob",
            vec![
                RecipientUpdateItem::add("did:example:bob"),
                RecipientUpdateItem::add("did:example:bob2"),
            ],
        )
        .unwrap();
    let response = RecipientUpdateResponse {
        version: MediationVersion::V2,
        updated: vec![
            RecipientUpdated {
                recipient_did: "did:example:bob".into(),
                action: UpdateAction::Add,
                result: UpdateResult::Success,
            },
            RecipientUpdated {
                recipient_did: "did:example:bob2".into(),
                action: UpdateAction::Add,
                result: UpdateResult::ClientError,
            },
            // Something we did not ask for is ignored.
            RecipientUpdated {
                recipient_did: "did:example:extra".into(),
                action: UpdateAction::Add,
                result: UpdateResult::Success,
            },
        ],
    }
    .to_message()
    .unwrap();
    let response = threading::reply_to(&update, response);
    client.handle(&response).unwrap();
    assert_eq!(
        client.recipient_dids.iter().collect::<Vec<_>>(),
        ["did:example:bob"]
    );
    // The same response again answers nothing pending.
    assert!(client.handle(&response).is_err());

    let query = client.query("did:example:bob", None).unwrap();
    let list = threading::reply_to(
        &query,
        RecipientList {
            version: MediationVersion::V2,
            dids: vec!["did:example:bob".into(), "did:example:bob3".into()],
            pagination: None,
        }
        .to_message()
        .unwrap(),
    );
    assert!(matches!(
        client.handle(&list).unwrap(),
        MediationEvent::Listed { .. }
    ));
    assert_eq!(client.recipient_dids.len(), 2);
    // The client state survives serialization (a host persists it).
    let saved = serde_json::to_string(&client).unwrap();
    assert_eq!(
        serde_json::from_str::<MediationClient>(&saved).unwrap(),
        client
    );
}

/// Bob asks mediator1 for mediation over authcrypt and registers his DID, Alice routes a
/// message to him through mediator1, and Bob picks it up: every message of the exchange built
/// and read with the core's types and carried in real envelopes. The mediator's replies are
/// built by hand here (what it decides is the mediator crate's, tested there).
#[tokio::test]
async fn mediation_routing_and_pickup_end_to_end() {
    let bob = engine(&wallet("bob-rust"));
    let mediator = engine(&wallet("mediator1-rust"));
    let options = PackEncryptedOptions::default();
    async fn send(
        from: &DidComm,
        to: &DidComm,
        m: &Message,
        to_did: &str,
    ) -> (Message, UnpackMetadata) {
        let (packed, _) = from
            .pack_encrypted(
                m,
                to_did,
                m.from.as_deref(),
                None,
                &PackEncryptedOptions::default(),
            )
            .await
            .unwrap();
        to.unpack(&packed, &UnpackOptions::default()).await.unwrap()
    }
    // The mediator's reply to `request`, from mediator1.
    let reply = |request: &Message, reply: Message| {
        threading::reply_to(request, reply).from("did:example:mediator1")
    };

    let mut client = MediationClient::new(MediationVersion::V3, "did:example:mediator1");
    let outgoing = client.request("did:example:bob").unwrap();
    let (received, meta) = send(&bob, &mediator, &outgoing, "did:example:mediator1").await;
    assert!(meta.authenticated);
    assert_eq!(received.from.as_deref(), Some("did:example:bob"));
    assert!(matches!(
        MediationMessage::parse(&received).unwrap(),
        MediationMessage::Request(MediateRequest {
            version: MediationVersion::V3
        })
    ));
    let grant = MediateGrant {
        version: MediationVersion::V3,
        routing_did: vec!["did:example:mediator1".into()],
    }
    .to_message()
    .unwrap();
    let (grant, _) = send(&mediator, &bob, &reply(&received, grant), "did:example:bob").await;
    client.handle(&grant).unwrap();

    let outgoing = client
        .update(
            "did:example:bob",
            vec![RecipientUpdateItem::add("did:example:bob")],
        )
        .unwrap();
    let (received, _) = send(&bob, &mediator, &outgoing, "did:example:mediator1").await;
    let MediationMessage::Update(update) = MediationMessage::parse(&received).unwrap() else {
        panic!("{received:?}")
    };
    assert_eq!(
        update.updates,
        [RecipientUpdateItem::add("did:example:bob")]
    );
    let response = RecipientUpdateResponse {
        version: MediationVersion::V3,
        updated: vec![RecipientUpdated {
            recipient_did: "did:example:bob".into(),
            action: UpdateAction::Add,
            result: UpdateResult::Success,
        }],
    }
    .to_message()
    .unwrap();
    let (response, _) = send(
        &mediator,
        &bob,
        &reply(&received, response),
        "did:example:bob",
    )
    .await;
    client.handle(&response).unwrap();
    assert_eq!(
        client.routing_did(),
        Some(&["did:example:mediator1".to_owned()][..])
    );
    assert!(client.recipient_dids.contains("did:example:bob"));

    // Alice routes to Bob; the mediator unwraps the forward for the registered DID.
    let alice = engine(&wallet("alice-rust"));
    let hello = BasicMessage::new("hello Bob")
        .to_message()
        .unwrap()
        .from("did:example:alice")
        .to("did:example:bob");
    let (packed, _) = alice
        .pack_encrypted(
            &hello,
            "did:example:bob",
            Some("did:example:alice"),
            None,
            &options,
        )
        .await
        .unwrap();
    let routed = alice
        .route(&packed, "did:example:bob", &RouteOptions::default())
        .await
        .unwrap();
    let (forward, _) = mediator.unwrap_forward(&routed.message).await.unwrap();
    assert_eq!(forward.next, "did:example:bob");

    // Pickup 3.0: status, delivery, messages-received.
    let status_request = StatusRequest::default()
        .to_message()
        .unwrap()
        .from("did:example:bob");
    let (status_request, _) = send(&bob, &mediator, &status_request, "did:example:mediator1").await;
    assert!(matches!(
        PickupMessage::parse(&status_request).unwrap(),
        PickupMessage::StatusRequest(_)
    ));
    let status = Status {
        version: PickupVersion::V3,
        message_count: 1,
        longest_waited_seconds: Some(5),
        oldest_received_time: Some(1_700_000_000),
        ..Status::default()
    }
    .to_message()
    .unwrap();
    let (status, _) = send(
        &mediator,
        &bob,
        &reply(&status_request, status),
        "did:example:bob",
    )
    .await;
    let status = Status::from_message(&status).unwrap();
    assert_eq!(status.message_count, 1);
    assert_eq!(status.longest_waited_seconds, Some(5));
    assert_eq!(status.oldest_received_time, Some(1_700_000_000));

    let delivery_request = DeliveryRequest {
        version: PickupVersion::V3,
        limit: 10,
        recipient_did: None,
    }
    .to_message()
    .unwrap()
    .from("did:example:bob");
    let delivery = Delivery {
        version: PickupVersion::V3,
        recipient_did: None,
        messages: vec![DeliveredMessage {
            id: "q-1".into(),
            message: forward.messages[0].clone(),
            form: None,
        }],
        form: AttachmentForm::Base64,
    }
    .to_message()
    .unwrap();
    let delivery = reply(&delivery_request, delivery);
    assert_eq!(delivery.thid.as_deref(), Some(delivery_request.id.as_str()));
    let (delivery, _) = send(&mediator, &bob, &delivery, "did:example:bob").await;
    let delivery = Delivery::from_message(&delivery).unwrap();
    assert_eq!(delivery.messages.len(), 1);
    let (received, meta) = bob
        .unpack(&delivery.messages[0].message, &UnpackOptions::default())
        .await
        .unwrap();
    assert!(meta.authenticated);
    assert_eq!(
        BasicMessage::from_message(&received).unwrap().content,
        "hello Bob"
    );

    let ack = delivery
        .acknowledgement()
        .to_message()
        .unwrap()
        .from("did:example:bob");
    let (ack, _) = send(&bob, &mediator, &ack, "did:example:mediator1").await;
    let PickupMessage::MessagesReceived(ack) = PickupMessage::parse(&ack).unwrap() else {
        panic!("{ack:?}")
    };
    assert_eq!(ack.message_id_list, ["q-1"]);
}

// ---------------------------------------------------------------------------------------------
// Message Pickup.

#[test]
fn pickup_messages_round_trip_in_both_versions() {
    let packed = r#"{"ciphertext":"abc","protected":"e30"}"#;
    for version in [PickupVersion::V3, PickupVersion::V4] {
        let m = round_trip(&StatusRequest {
            version,
            recipient_did: Some("did:example:bob".into()),
        });
        assert_eq!(return_route(&m).unwrap(), ReturnRoute::All);
        round_trip(&StatusRequest {
            version,
            recipient_did: None,
        });
        round_trip(&Status {
            version,
            recipient_did: Some("did:example:bob".into()),
            message_count: 7,
            longest_waited_seconds: (version == PickupVersion::V3).then_some(3600),
            newest_received_time: Some(1_658_085_169),
            oldest_received_time: Some(1_658_084_293),
            total_bytes: Some(8096),
            live_delivery: Some(false),
        });
        round_trip(&Status {
            version,
            ..Status::default()
        });
        round_trip(&DeliveryRequest {
            version,
            limit: 10,
            recipient_did: Some("did:example:bob".into()),
        });
        for form in [AttachmentForm::Base64, AttachmentForm::Json] {
            round_trip(&Delivery {
                version,
                recipient_did: None,
                messages: vec![
                    DeliveredMessage {
                        id: "123".into(),
                        message: packed.into(),
                        form: None,
                    },
                    DeliveredMessage {
                        id: "456".into(),
                        message: packed.into(),
                        form: None,
                    },
                ],
                form,
            });
        }
        let received = round_trip(&MessagesReceived {
            version,
            message_id_list: vec!["123".into(), "456".into()],
        });
        // 4.0 dropped return_route from messages-received.
        let expected = match version {
            PickupVersion::V3 => ReturnRoute::All,
            PickupVersion::V4 => ReturnRoute::None,
        };
        assert_eq!(return_route(&received).unwrap(), expected);
        round_trip(&LiveDeliveryChange {
            version,
            live_delivery: true,
        });
    }
    // 4.0's empty delivery; 3.0 answers with a status instead.
    round_trip(&Delivery {
        version: PickupVersion::V4,
        ..Delivery::default()
    });
    assert!(Delivery::default().to_message().is_err());
    // Wire names.
    let v4 = DeliveryRequest {
        version: PickupVersion::V4,
        limit: 5,
        recipient_did: None,
    }
    .to_message()
    .unwrap();
    assert_eq!(v4.type_, DELIVERY_REQUEST_V4);
    assert_eq!(v4.body.unwrap()["message_count_limit"], 5);
    let v3 = Status {
        version: PickupVersion::V4,
        longest_waited_seconds: Some(3),
        ..Status::default()
    }
    .to_message()
    .unwrap();
    assert!(v3.body.unwrap().get("longest_waited_seconds").is_none());
}

#[test]
fn pickup_spec_and_field_examples_parse() {
    let status = Status::from_message(&msg(
        STATUS_V3,
        json!({"recipient_did": "<did for messages>", "message_count": 7, "longest_waited_seconds": 3600,
               "newest_received_time": 1658085169, "oldest_received_time": 1658084293,
               "total_bytes": 8096, "live_delivery": false}),
    ))
    .unwrap();
    assert_eq!(status.message_count, 7);
    assert_eq!(status.longest_waited_seconds, Some(3600));
    let request = DeliveryRequest::from_message(&msg(
        DELIVERY_REQUEST_V4,
        json!({"message_count_limit": 10, "recipient_did": "<did for messages>"}),
    ))
    .unwrap();
    assert_eq!(request.limit, 10);
    // Veramo writes pickup 2.0's `recipient_key` in 3.0 messages.
    let request = DeliveryRequest::from_message(&msg(
        DELIVERY_REQUEST_V3,
        json!({"limit": 2, "recipient_key": "did:example:bob#key-1"}),
    ))
    .unwrap();
    assert_eq!(
        request.recipient_did.as_deref(),
        Some("did:example:bob#key-1")
    );
    // A delivery with JSON attachments (Veramo) and one with base64 (spec).
    let mut delivery = msg(DELIVERY_V3, json!({}));
    delivery.attachments = Some(vec![
        didcomm_edge::Attachment::json("a", json!({"ciphertext": "x"})),
        didcomm_edge::Attachment::base64("b", br#"{"ciphertext":"y"}"#),
    ]);
    let read = Delivery::from_message(&delivery).unwrap();
    assert_eq!(read.messages[0].message, r#"{"ciphertext":"x"}"#);
    assert_eq!(read.messages[1].message, r#"{"ciphertext":"y"}"#);
    assert_eq!(read.form, AttachmentForm::Json);
}

#[test]
fn pickup_malformed_bodies() {
    for body in [
        json!({}),
        json!({"message_count": "7"}),
        json!({"message_count": -1}),
    ] {
        assert_malformed::<Status>(&msg(STATUS_V4, body));
    }
    assert_malformed::<Status>(&msg(
        STATUS_V3,
        json!({"message_count": 1, "live_delivery": "yes"}),
    ));
    for body in [json!({}), json!({"limit": "ten"}), json!({"limit": 1.5})] {
        assert_malformed::<DeliveryRequest>(&msg(DELIVERY_REQUEST_V3, body));
    }
    assert_malformed::<StatusRequest>(&msg(STATUS_REQUEST_V3, json!({"recipient_did": 5})));
    for body in [
        json!({}),
        json!({"message_id_list": "123"}),
        json!({"message_id_list": [1]}),
    ] {
        assert_malformed::<MessagesReceived>(&msg(MESSAGES_RECEIVED_V4, body));
    }
    for body in [json!({}), json!({"live_delivery": "true"})] {
        assert_malformed::<LiveDeliveryChange>(&msg(LIVE_DELIVERY_CHANGE_V3, body));
    }
    let with_attachment = |a: didcomm_edge::Attachment| {
        let mut m = msg(DELIVERY_V4, json!({}));
        m.attachments = Some(vec![a]);
        m
    };
    let mut no_id = didcomm_edge::Attachment::json("x", json!({}));
    no_id.id = None;
    for a in [
        no_id,
        didcomm_edge::Attachment::json("x", json!("a string")),
        didcomm_edge::Attachment::base64("x", b"not json"),
        didcomm_edge::Attachment::base64("x", b"[1]"),
        didcomm_edge::Attachment::links("x", vec!["https://cdn.example".into()], "hash"),
    ] {
        assert_malformed::<Delivery>(&with_attachment(a));
    }
}

// ---------------------------------------------------------------------------------------------
// Trust Ping, Basic Message, Empty, ACKs.

#[test]
fn trust_ping() {
    round_trip(&Ping::default());
    round_trip(&Ping {
        response_requested: false,
    });
    round_trip(&PingResponse { thid: "t-1".into() });
    // The spec's example, and a ping without body (response wanted by default).
    let ping = Message::from_value(
        json!({"type": PING_TYPE, "id": "518be002-de8e-456e-b3d5-8fe472477a86",
               "from": "did:example:123456", "body": {"response_requested": true}}),
        Default::default(),
    )
    .unwrap();
    let response = PingResponse::answer(&ping).unwrap().unwrap();
    assert_eq!(
        response.thid.as_deref(),
        Some("518be002-de8e-456e-b3d5-8fe472477a86")
    );
    assert_eq!(response.to, Some(vec!["did:example:123456".to_owned()]));
    assert!(
        Ping::from_message(&msg(PING_TYPE, json!({})))
            .unwrap()
            .response_requested
    );
    let quiet = msg(PING_TYPE, json!({"response_requested": false}));
    assert!(PingResponse::answer(&quiet).unwrap().is_none());
    assert_malformed::<Ping>(&msg(PING_TYPE, json!({"response_requested": "yes"})));
    assert_malformed::<PingResponse>(&msg(PING_RESPONSE_TYPE, json!({})));
    assert!(PingResponse {
        thid: String::new()
    }
    .to_message()
    .is_err());
}

#[test]
fn basic_message_and_empty() {
    let m = round_trip(&BasicMessage {
        content: "Your hovercraft is full of eels.".into(),
        lang: Some("en".into()),
    });
    assert!(m.created_time.is_some());
    round_trip(&BasicMessage::new(""));
    assert_malformed::<BasicMessage>(&msg(BASIC_MESSAGE_TYPE, json!({})));
    assert_malformed::<BasicMessage>(&msg(BASIC_MESSAGE_TYPE, json!({"content": 5})));
    assert_malformed::<BasicMessage>(
        &msg(BASIC_MESSAGE_TYPE, json!({"content": "x"})).header("lang", json!(1)),
    );
    round_trip(&Empty);
    assert!(Empty::from_message(&msg(EMPTY_TYPE, json!({}))).is_ok());
}

#[test]
fn acks_between_messages() {
    let mut question = BasicMessage::new("are you there?")
        .to_message()
        .unwrap()
        .please_ack();
    question.please_ack.as_mut().unwrap().push("older".into());
    let reply = ack::acknowledge(&question, BasicMessage::new("yes").to_message().unwrap());
    assert_eq!(reply.ack, Some(vec![question.id.clone(), "older".into()]));
    let pure = ack::pure_ack(&ack::ack_requests(&question))
        .unwrap()
        .unwrap();
    assert_eq!(pure.type_, EMPTY_TYPE);
    assert!(ack::ack_requests(&pure).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Report Problem.

#[test]
fn problem_reports() {
    let spec = Message::from_value(
        json!({
            "type": PROBLEM_REPORT_TYPE,
            "id": "7c9de639-c51c-4d60-ab95-103fa613c805",
            "pthid": "1e513ad4-48c9-444e-9e7e-5b8b45c5e325",
            "ack": ["1e513ad4-48c9-444e-9e7e-5b8b45c5e325"],
            "body": {
                "code": "e.p.xfer.cant-use-endpoint",
                "comment": "Unable to use the {1} endpoint for {2}.",
                "args": ["https://agents.r.us/inbox", "did:sov:C805sNYhMrjHiqZDTUASHg"],
                "escalate_to": "mailto:admin@foo.org"
            }
        }),
        Default::default(),
    )
    .unwrap();
    let report = ProblemReport::from_message(&spec).unwrap();
    assert_eq!(
        report.interpolated_comment(),
        "Unable to use the https://agents.r.us/inbox endpoint for did:sov:C805sNYhMrjHiqZDTUASHg."
    );
    assert_eq!(report.ack, ["1e513ad4-48c9-444e-9e7e-5b8b45c5e325"]);
    assert!(report.problem_code().unwrap().has_descriptor("xfer"));
    round_trip(&report);
    let mut with_nulls = report.clone();
    with_nulls.args = vec![None, Some("b".into())];
    round_trip(&with_nulls);
    round_trip(&ProblemReport::new(codes::REQ_NOT_ALLOWED, "thread-1"));

    // About a received message; and a protocol's own problem-report type is read too.
    let trigger = msg("https://didcomm.org/x/1.0/y", json!({})).thid("thread-9");
    let about = ProblemReport::about(&trigger, codes::MSG);
    // No `ack` (didcomm-jvm reads only a string there, the spec an array): `pthid` matches it.
    assert_eq!(
        (about.pthid.as_str(), about.ack.as_slice()),
        ("thread-9", &[][..])
    );
    assert!(about.to_message().unwrap().ack.is_none());
    let pickup = about.to_message_as(PROBLEM_REPORT_V4).unwrap();
    assert_eq!(ProblemReport::from_message(&pickup).unwrap(), about);
    // Non-string args are kept as their JSON text; a report with only `thid` is accepted.
    let lenient = msg(
        PROBLEM_REPORT_TYPE,
        json!({"code": "w.m.msg", "args": [3, null, {"a": 1}]}),
    )
    .thid("t");
    let lenient = ProblemReport::from_message(&lenient).unwrap();
    assert_eq!(
        lenient.args,
        [Some("3".into()), None, Some(r#"{"a":1}"#.into())]
    );
    assert_eq!(lenient.pthid, "t");

    for body in [
        json!({}),
        json!({"code": ""}),
        json!({"code": "x.p.msg"}),
        json!({"code": "e"}),
        json!({"code": 1}),
        json!({"code": "e.p.msg", "args": "one"}),
        json!({"code": "e.p.msg", "comment": 5}),
    ] {
        assert_malformed::<ProblemReport>(&msg(PROBLEM_REPORT_TYPE, body).pthid("p"));
    }
    assert_malformed::<ProblemReport>(&msg(PROBLEM_REPORT_TYPE, json!({"code": "e.p.msg"})));
    // Written codes must be canonical, and a pthid is required.
    assert!(ProblemReport::new("e.p.Msg_Bad", "t").to_message().is_err());
    assert!(ProblemReport::new("e.p.msg", "").to_message().is_err());
}

#[test]
fn problem_reports_from_errors_never_carry_the_reason() {
    let trigger = msg("https://didcomm.org/x/1.0/y", json!({}));
    let cases = [
        (ErrorKind::DecryptionFailed, "e.p.trust.crypto"),
        (ErrorKind::Malformed, "e.p.msg"),
        (ErrorKind::DidNotResolved, "e.p.did"),
        (ErrorKind::SenderMismatch, "e.p.trust"),
        (ErrorKind::Expired, "e.p.req.time"),
        (ErrorKind::InvalidState, "e.p.me"),
        (ErrorKind::ResolverFailure, "e.p.me.res"),
    ];
    for (kind, code) in cases {
        let error = Error::new(kind, "secret-ish detail: did:example:internal#key-9");
        let report = ProblemReport::from_error(&error, &trigger);
        assert_eq!(report.code, code);
        let text = report.to_message().unwrap().to_json().unwrap();
        assert!(!text.contains("secret-ish"), "{text}");
        assert!(report.comment.is_some());
    }
}

// ---------------------------------------------------------------------------------------------
// Discover Features.

#[test]
fn discover_features() {
    let queries = Queries {
        queries: vec![
            FeatureQuery::new(
                FEATURE_PROTOCOL,
                "https://didcomm.org/coordinate-mediation/*",
            ),
            FeatureQuery::new(FEATURE_GOAL_CODE, "org.didcomm.*"),
            FeatureQuery::new("governance-framework", "*"),
        ],
    };
    let queries_msg = round_trip(&queries).from("did:example:alice");
    let mut registry = FeatureRegistry::mediator_defaults();
    registry
        .features
        .push(Disclosure::goal_code("org.didcomm.mediator"));
    let reply = registry.reply(&queries_msg).unwrap();
    assert_eq!(reply.thid.as_deref(), Some(queries_msg.id.as_str()));
    let disclose = Disclose::from_message(&reply).unwrap();
    let ids: Vec<&str> = disclose.disclosures.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            MEDIATION_V2_PIURI,
            MEDIATION_V3_PIURI,
            "org.didcomm.mediator"
        ]
    );
    assert_eq!(disclose.disclosures[0].roles, ["mediator"]);
    round_trip(&disclose);
    round_trip(&Disclose {
        disclosures: vec![],
    });

    // The spec's examples.
    let q = Queries::from_message(&msg(
        QUERIES_TYPE,
        json!({"queries": [
            { "feature-type": "protocol", "match": "https://didcomm.org/tictactoe/1.*" },
            { "feature-type": "goal-code", "match": "org.didcomm.*" }
        ]}),
    ))
    .unwrap();
    assert_eq!(q.queries[0].match_, "https://didcomm.org/tictactoe/1.*");
    let d = Disclose::from_message(&msg(
        DISCLOSE_TYPE,
        json!({"disclosures": [
            {"feature-type": "protocol", "id": "https://didcomm.org/tictactoe/1.0", "roles": ["player"]},
            {"feature-type": "goal-code", "id": "org.didcomm.sell.goods.consumer"}
        ]}),
    ))
    .unwrap();
    assert_eq!(d.disclosures[1].roles, Vec::<String>::new());

    for body in [
        json!({}),
        json!({"queries": []}),
        json!({"queries": [{"feature-type": "protocol"}]}),
        json!({"queries": [{"match": "*"}]}),
        json!({"queries": ["protocol"]}),
    ] {
        assert_malformed::<Queries>(&msg(QUERIES_TYPE, body));
    }
    for body in [
        json!({}),
        json!({"disclosures": [{"feature-type": "protocol"}]}),
        json!({"disclosures": [{"feature-type": "protocol", "id": "x", "roles": "player"}]}),
    ] {
        assert_malformed::<Disclose>(&msg(DISCLOSE_TYPE, body));
    }
    assert!(Queries { queries: vec![] }.to_message().is_err());
}

// ---------------------------------------------------------------------------------------------
// Out-of-Band.

#[test]
fn out_of_band_invitations() {
    let request = MediateRequest::default().to_message().unwrap();
    let invitation = Invitation::new("did:example:mediator1")
        .unwrap()
        .goal("org.didcomm.mediator", "Connect to the mediator")
        .attach_message(&request)
        .unwrap();
    round_trip(&invitation);
    let url = invitation
        .to_url("https://mediator.example/invite")
        .unwrap();
    assert!(url.starts_with("https://mediator.example/invite?_oob="));
    assert!(!url.contains('='.to_string().repeat(2).as_str()));
    let back = Invitation::from_url(&url).unwrap();
    assert_eq!(back, invitation);
    assert_eq!(back.attached_messages().unwrap()[0].type_, request.type_);
    // Existing query parameters are kept.
    let url = invitation.to_url("https://x.example/p?lang=en").unwrap();
    assert!(url.contains("?lang=en&_oob="));
    assert_eq!(Invitation::from_url(&url).unwrap(), invitation);
    // A reply starts a child thread of the invitation.
    let reply = back.reply(Ping::default().to_message().unwrap());
    assert_eq!(reply.pthid.as_deref(), Some(invitation.id.as_str()));
    assert_eq!(reply.to, Some(vec!["did:example:mediator1".to_owned()]));

    // Padded and percent-encoded forms are tolerated.
    let encoded = invitation.to_encoded().unwrap();
    let padding = (4 - encoded.len() % 4) % 4;
    let padded = format!("{encoded}{}", "%3D".repeat(padding));
    assert_eq!(
        Invitation::from_url(&format!("https://x.example/?_oob={padded}")).unwrap(),
        invitation
    );

    // Errors.
    assert_eq!(
        Invitation::from_url("https://x.example/?_oobid=5f0e3ffb")
            .unwrap_err()
            .kind(),
        ErrorKind::Unsupported
    );
    assert_eq!(
        short_url_id("https://x.example/?_oobid=5f0e3ffb").as_deref(),
        Some("5f0e3ffb")
    );
    for bad in [
        "https://x.example/",
        "https://x.example/?_oob=",
        "https://x.example/?_oob=!!!",
        "https://x.example/?_oob=e30", // {} is not a message
        "https://x.example/?_oob=%E0%A4",
    ] {
        assert!(Invitation::from_url(bad).is_err(), "{bad}");
    }
    assert!(invitation.to_url("https://x.example/#frag").is_err());
    // An invitation needs a `from` that is a DID.
    let mut no_from = invitation.to_message().unwrap();
    no_from.from = None;
    assert_malformed::<Invitation>(&no_from);
    assert_malformed::<Invitation>(
        &msg(INVITATION_TYPE, json!({"goal_code": 5})).from("did:example:a"),
    );
    assert_malformed::<Invitation>(
        &msg(INVITATION_TYPE, json!({"accept": "didcomm/v2"})).from("did:example:a"),
    );
}

// ---------------------------------------------------------------------------------------------
// DID rotation.

#[tokio::test]
async fn did_rotation_builds_from_prior_and_the_keylist_update() {
    // Charlie rotates to Alice's DID (the reference corpus's from_prior parties).
    let mut w = wallet("charlie-rust");
    w.merge(wallet("alice-rust"));
    let rotating = engine(&w);
    let mut options = RotationOptions::default();
    options.iat = Some(1_700_000_000);
    options.keylist_entries = KeylistEntries::Both;
    options.mediation_version = MediationVersion::V2;
    let rotation = rotating
        .rotate_did("did:example:charlie", "did:example:alice", &options)
        .await
        .unwrap();
    assert!(rotation.issuer_kid.starts_with("did:example:charlie#"));
    let updates = &rotation.keylist_update.updates;
    assert_eq!(updates[0], RecipientUpdateItem::add("did:example:alice"));
    assert!(updates
        .iter()
        .any(|u| *u == RecipientUpdateItem::remove("did:example:charlie")));
    assert!(updates
        .iter()
        .any(|u| *u == RecipientUpdateItem::remove("did:example:charlie#key-x25519-1")));
    assert!(updates
        .iter()
        .filter(|u| u.action == UpdateAction::Add)
        .all(|u| u.recipient_did.starts_with("did:example:alice")));
    // The update is a ready 2.0 keylist-update.
    assert_eq!(
        rotation.keylist_update.to_message().unwrap().type_,
        KEYLIST_UPDATE_V2
    );

    // The first message from the new DID announces it; Bob's unpack verifies it.
    let hello = rotation.apply(
        BasicMessage::new("I moved")
            .to_message()
            .unwrap()
            .to("did:example:bob"),
    );
    let (packed, _) = rotating
        .pack_encrypted(
            &hello,
            "did:example:bob",
            Some("did:example:alice"),
            None,
            &PackEncryptedOptions::default(),
        )
        .await
        .unwrap();
    let bob = engine(&wallet("bob-rust"));
    let (received, meta) = bob
        .unpack(&packed, &UnpackOptions::default())
        .await
        .unwrap();
    assert_eq!(
        received_rotation(&received, &meta),
        Some((
            "did:example:charlie".to_owned(),
            "did:example:alice".to_owned()
        ))
    );
    assert_eq!(meta.from_prior.unwrap().iat, Some(1_700_000_000));
    assert!(received_rotation(&received, &UnpackMetadata::default()).is_none());

    // Refusals: same DID, DID URLs, a prior DID whose keys we do not hold.
    for (prior, new) in [
        ("did:example:alice", "did:example:alice"),
        ("did:example:charlie#key-1", "did:example:alice"),
        ("not-a-did", "did:example:alice"),
    ] {
        assert!(rotating
            .rotate_did(prior, new, &RotationOptions::default())
            .await
            .is_err());
    }
    let err = bob
        .rotate_did(
            "did:example:charlie",
            "did:example:bob",
            &RotationOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SecretNotFound);
}

/// Every reader, on every message type of the family, with odd bodies and attachments:
/// answers or refuses with a typed input error, never panics or reports an internal error.
#[test]
fn odd_inputs_never_panic() {
    let types = [
        EMPTY_TYPE,
        PING_TYPE,
        PING_RESPONSE_TYPE,
        BASIC_MESSAGE_TYPE,
        PROBLEM_REPORT_TYPE,
        QUERIES_TYPE,
        DISCLOSE_TYPE,
        INVITATION_TYPE,
        MEDIATE_REQUEST_V2,
        MEDIATE_GRANT_V2,
        MEDIATE_DENY_V2,
        KEYLIST_UPDATE_V2,
        KEYLIST_UPDATE_RESPONSE_V2,
        KEYLIST_QUERY_V2,
        KEYLIST_V2,
        MEDIATE_REQUEST_V3,
        MEDIATE_GRANT_V3,
        MEDIATE_DENY_V3,
        RECIPIENT_UPDATE_V3,
        RECIPIENT_UPDATE_RESPONSE_V3,
        RECIPIENT_QUERY_V3,
        RECIPIENT_V3,
        STATUS_REQUEST_V3,
        STATUS_V3,
        DELIVERY_REQUEST_V3,
        DELIVERY_V3,
        MESSAGES_RECEIVED_V3,
        LIVE_DELIVERY_CHANGE_V3,
        STATUS_REQUEST_V4,
        STATUS_V4,
        DELIVERY_REQUEST_V4,
        DELIVERY_V4,
        MESSAGES_RECEIVED_V4,
        LIVE_DELIVERY_CHANGE_V4,
        PROBLEM_REPORT_V4,
    ];
    let deep = (0..200).fold(json!(1), |v, _| json!([v]));
    let fields = [
        "routing_did",
        "updates",
        "updated",
        "keys",
        "dids",
        "paginate",
        "pagination",
        "limit",
        "message_count_limit",
        "message_count",
        "message_id_list",
        "live_delivery",
        "code",
        "args",
        "comment",
        "queries",
        "disclosures",
        "content",
        "response_requested",
        "goal_code",
        "accept",
        "recipient_did",
        "action",
        "result",
    ];
    let odd_values = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1.5e300),
        json!(u64::MAX),
        json!(""),
        json!("\u{0}\u{ffff}"),
        json!([]),
        json!([null, {}, [], "x", -1]),
        json!({}),
        json!([{"recipient_did": null, "action": {}, "result": []}]),
        deep.clone(),
    ];
    let mut bodies = vec![json!({}), json!(null)];
    for f in fields {
        for v in &odd_values {
            bodies.push(json!({ f: v }));
        }
    }
    let mut attachment = didcomm_edge::Attachment::json("a", json!([1]));
    attachment.id = Some(String::new());
    let attachments = [
        None,
        Some(vec![]),
        Some(vec![attachment]),
        Some(vec![didcomm_edge::Attachment::base64("b", &[0xff, 0xfe])]),
    ];
    let check = |r: Result<(), didcomm_edge::Error>| {
        if let Err(e) = r {
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::Malformed | ErrorKind::Unsupported | ErrorKind::IllegalArgument
                ),
                "{e}"
            );
        }
    };
    for t in types {
        for body in &bodies {
            for a in &attachments {
                let mut m = msg(t, body.clone());
                m.attachments = a.clone();
                check(MediationMessage::parse(&m).map(|_| ()));
                check(PickupMessage::parse(&m).map(|_| ()));
                check(ProblemReport::from_message(&m).map(|r| {
                    let _ = r.interpolated_comment();
                }));
                check(Queries::from_message(&m).map(|_| ()));
                check(Disclose::from_message(&m).map(|_| ()));
                check(Invitation::from_message(&m).map(|i| {
                    let _ = i.attached_messages();
                }));
                check(Ping::from_message(&m).map(|_| ()));
                check(PingResponse::from_message(&m).map(|_| ()));
                check(BasicMessage::from_message(&m).map(|_| ()));
                check(Empty::from_message(&m).map(|_| ()));
            }
        }
    }
}
