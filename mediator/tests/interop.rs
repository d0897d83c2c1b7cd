//! Interop with an independent client: the reference `didcomm` crate (0.4.1) packs a message
//! with `forward: true` to a recipient whose DID document names this mediator, as its
//! endpoint DID or through its routing key; the packed result is posted to the mediator as
//! is, and our device picks it up and reads it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use async_trait::async_trait;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use common::{call, test_settings, World};
use didcomm_edge::crypto::jwk;
use didcomm_edge::did::{DidResolver, Relationship};
use didcomm_edge::protocols::mediation::{MediationVersion, RecipientUpdateItem};
use didcomm_edge::protocols::pickup::PickupVersion;
use didcomm_edge::{
    DidCommService, Identity, IdentityMethod, ResolvedDid, ResolverChain, SecretMaterial,
};
use didcomm_edge_testkit::{Device, HttpConnection};
use didcomm_reference as reference;
use reference::did::{
    DIDCommMessagingService, DIDDoc, Service, ServiceKind, VerificationMaterial,
    VerificationMethod, VerificationMethodType,
};
use reference::secrets::resolvers::ExampleSecretsResolver;
use serde_json::json;

/// The reference crate resolves with our chain (did:peer:2 of the mediator and the devices),
/// documents converted to its model.
struct OurResolution(ResolverChain);

fn to_reference(resolved: &ResolvedDid) -> DIDDoc {
    let did = resolved.did().to_owned();
    let mut methods: Vec<VerificationMethod> = vec![];
    let mut ids = |rel: Relationship| -> Vec<String> {
        resolved
            .usable_keys(rel)
            .map(|(kid, key)| {
                if !methods.iter().any(|m| m.id == kid) {
                    methods.push(VerificationMethod {
                        id: kid.to_owned(),
                        type_: VerificationMethodType::JsonWebKey2020,
                        controller: did.clone(),
                        verification_material: VerificationMaterial::JWK {
                            public_key_jwk: jwk::public_key_to_jwk(key),
                        },
                    });
                }
                kid.to_owned()
            })
            .collect()
    };
    let key_agreement = ids(Relationship::KeyAgreement);
    let authentication = ids(Relationship::Authentication);
    let service = resolved
        .document()
        .didcomm_endpoints()
        .into_iter()
        .map(|e| Service {
            id: e.service_id,
            service_endpoint: ServiceKind::DIDCommMessaging {
                value: DIDCommMessagingService {
                    uri: e.uri,
                    accept: Some(e.accept),
                    routing_keys: e.routing_keys,
                },
            },
        })
        .collect();
    DIDDoc {
        id: did,
        key_agreement,
        authentication,
        verification_method: methods,
        service,
    }
}

#[async_trait(?Send)]
impl reference::did::DIDResolver for OurResolution {
    async fn resolve(&self, did: &str) -> reference::error::Result<Option<DIDDoc>> {
        Ok(self
            .0
            .resolve(did)
            .await
            .unwrap()
            .map(|doc| to_reference(&ResolvedDid::new(doc))))
    }
}

fn reference_secrets(identity: &Identity) -> ExampleSecretsResolver {
    ExampleSecretsResolver::new(
        identity
            .secrets
            .iter()
            .map(|s| {
                let SecretMaterial::Jwk(private) = &s.material else {
                    panic!("JWK secrets")
                };
                reference::secrets::Secret {
                    id: s.kid.clone(),
                    type_: reference::secrets::SecretType::JsonWebKey2020,
                    secret_material: reference::secrets::SecretMaterial::JWK {
                        private_key_jwk: private.clone(),
                    },
                }
            })
            .collect(),
    )
}

/// One Message Pickup 3.0 `delivery-request` (up to 10 messages) by `device`; the delivery.
async fn pick_up(http: &mut HttpConnection, device: &Device) -> didcomm_edge::Message {
    common::delivery(http, device, PickupVersion::V3, 10).await
}

/// The reference crate packs for `to` with `forward: true`; returns the packed message and
/// the service endpoint it chose.
async fn reference_pack(sender: &Identity, to: &str, authcrypt: bool, n: u64) -> (String, String) {
    let message = reference::Message::build(
        format!("ref-{n}"),
        "https://didcomm.org/basicmessage/2.0/message".into(),
        json!({"content": format!("from the reference crate {n}")}),
    )
    .to(to.to_owned());
    let message = if authcrypt {
        message.from(sender.did.clone())
    } else {
        message
    }
    .finalize();
    let options = reference::PackEncryptedOptions {
        forward: true,
        ..reference::PackEncryptedOptions::default()
    };
    let (packed, meta) = message
        .pack_encrypted(
            to,
            authcrypt.then_some(sender.did.as_str()),
            None,
            &OurResolution(ResolverChain::new()),
            &reference_secrets(sender),
            &options,
        )
        .await
        .unwrap();
    let service = meta
        .messaging_service
        .expect("the reference crate routed it");
    (packed, service.service_endpoint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_crate_forwards_through_this_mediator() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(test_settings(dir.path(), None)).await;
    let mediator = world.mediator_did();
    // Recipient 1: its service endpoint is the mediator's DID (the mediation grant's
    // routing_did), the usual form.
    let (mut alice, by_did) = world.enrolled(MediationVersion::V2).await;
    // Recipient 2: the mediator's URL as endpoint and its key agreement key as routing key.
    let by_key = Identity::generate(
        IdentityMethod::Peer2,
        Some(
            &DidCommService::new(world.server.public_url.clone())
                .with_routing_keys([format!("{mediator}#key-2")]),
        ),
    )
    .unwrap();
    let by_key = alice.add_recipient_identity(&by_key).unwrap();
    let mut http = world.http().await;
    let update = alice
        .keylist_update(vec![RecipientUpdateItem::add(by_key.clone())])
        .await
        .unwrap();
    let reply = call(&mut http, &alice, &update).await;
    alice.handle_mediation(&reply).unwrap();

    let sender = Identity::generate(IdentityMethod::Peer2, None).unwrap();
    let cases = [(by_did.clone(), true), (by_did, false), (by_key, true)];
    for (n, (to, authcrypt)) in cases.iter().enumerate() {
        let (packed, endpoint) = reference_pack(&sender, to, *authcrypt, n as u64).await;
        // The reference crate found this mediator's HTTP endpoint in the DIDs.
        assert_eq!(endpoint, world.server.public_url);
        let r = http.post_packed(&packed).await.unwrap();
        assert_eq!(r.status, 202, "case {n}: {}", r.text());
    }

    let delivery = pick_up(&mut http, &alice).await;
    let delivered = Device::delivered(&delivery).unwrap().messages;
    assert_eq!(delivered.len(), cases.len());
    for (n, item) in delivered.iter().enumerate() {
        let (message, meta) = alice
            .didcomm
            .unpack(&item.message, &Default::default())
            .await
            .unwrap();
        assert_eq!(message.id, format!("ref-{n}"));
        assert_eq!(
            message.body.unwrap()["content"],
            format!("from the reference crate {n}")
        );
        let (to, authcrypt) = &cases[n];
        assert_eq!(message.to.as_deref(), Some(std::slice::from_ref(to)));
        assert_eq!(meta.authenticated, *authcrypt);
        if *authcrypt {
            assert_eq!(message.from.as_deref(), Some(sender.did.as_str()));
        }
    }
    world.server.shutdown().await.unwrap();
}

/// The packed message `packed` re-written the way another library might write it: members in
/// reverse order, spaces around separators. Still the same JWE, but not the bytes serde_json
/// would write.
fn as_another_library_writes_it(packed: &str) -> String {
    let value: serde_json::Map<String, serde_json::Value> = serde_json::from_str(packed).unwrap();
    let members: Vec<String> = value
        .iter()
        .rev()
        .map(|(k, v)| format!("{} : {}", serde_json::to_string(k).unwrap(), v))
        .collect();
    format!("{{ {} }}", members.join(" ,\n  "))
}

/// A forward's attached messages are stored and delivered byte for byte, in the form they
/// arrived in (`data.json` or `data.base64`), whatever the sender's member order and spacing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_messages_are_delivered_byte_for_byte_in_the_form_they_came() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(test_settings(dir.path(), None)).await;
    let mediator = world.mediator_did();
    let (alice, recipient) = world.enrolled(MediationVersion::V2).await;
    let mut http = world.http().await;

    let mut sent = Vec::new();
    for (n, form) in ["json", "base64"].into_iter().enumerate() {
        let inner = didcomm_edge::Message::build(
            format!("inner-{n}"),
            "https://didcomm.org/basicmessage/2.0/message",
            json!({ "content": form }),
        )
        .to(recipient.clone());
        let (packed, _) = alice
            .didcomm
            .pack_encrypted(&inner, &recipient, None, None, &Default::default())
            .await
            .unwrap();
        let packed = as_another_library_writes_it(&packed);
        let data = match form {
            "json" => format!(r#"{{ "json" :  {packed} }}"#),
            _ => format!(r#"{{"base64":"{}"}}"#, B64.encode(packed.as_bytes())),
        };
        let forward = format!(
            r#"{{"id":"fwd-{n}","type":"https://didcomm.org/routing/2.0/forward","to":["{mediator}"],"body":{{"next":"{recipient}"}},"attachments":[{{"id":"a","data":{data}}}]}}"#
        );
        let forward = didcomm_edge::Message::from_json(&forward, Default::default()).unwrap();
        let (to_mediator, _) = alice
            .didcomm
            .pack_encrypted(&forward, &mediator, None, None, &Default::default())
            .await
            .unwrap();
        let r = http.post_packed(&to_mediator).await.unwrap();
        assert_eq!(r.status, 202, "{form}: {}", r.text());
        sent.push((form, packed));
    }

    let delivery = pick_up(&mut http, &alice).await;
    let attachments = delivery.attachments.clone().unwrap();
    let delivered = Device::delivered(&delivery).unwrap().messages;
    assert_eq!(delivered.len(), sent.len());
    for ((form, packed), (item, attachment)) in sent.iter().zip(delivered.iter().zip(&attachments))
    {
        assert_eq!(&item.message, packed, "the {form} message was re-written");
        match *form {
            "json" => assert!(attachment.data.json.is_some() && attachment.data.base64.is_none()),
            _ => assert!(attachment.data.base64.is_some() && attachment.data.json.is_none()),
        }
        let (message, _) = alice
            .didcomm
            .unpack(&item.message, &Default::default())
            .await
            .unwrap();
        assert_eq!(message.body.unwrap()["content"], *form);
    }
    world.server.shutdown().await.unwrap();
}

/// The reference crate (the engine of npm `didcomm-node` too) reads this mediator's problem
/// reports: a message type the mediator does not serve, authcrypted by a reference-crate
/// client, gets a packed report that the client unpacks and parses, with `pthid` naming its
/// request and no `ack` (whose array form didcomm-jvm refuses).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_crate_reads_our_problem_reports() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(test_settings(dir.path(), None)).await;
    let mediator = world.mediator_did();
    let client = Identity::generate(IdentityMethod::Peer2, None).unwrap();
    let resolver = OurResolution(ResolverChain::new());
    let secrets = reference_secrets(&client);
    let request = reference::Message::build(
        "ref-request".into(),
        "https://didcomm.org/basicmessage/2.0/message".into(),
        json!({"content": "not served here"}),
    )
    .from(client.did.clone())
    .to(mediator.clone())
    .header("return_route".into(), json!("all"))
    .finalize();
    let (packed, _) = request
        .pack_encrypted(
            &mediator,
            Some(&client.did),
            None,
            &resolver,
            &secrets,
            &reference::PackEncryptedOptions::default(),
        )
        .await
        .unwrap();
    let mut http = world.http().await;
    let r = http.post_packed(&packed).await.unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    let (report, meta) = reference::Message::unpack(
        &r.text(),
        &resolver,
        &secrets,
        &reference::UnpackOptions::default(),
    )
    .await
    .unwrap();
    assert!(meta.encrypted && meta.authenticated);
    assert_eq!(
        report.type_,
        "https://didcomm.org/report-problem/2.0/problem-report"
    );
    assert_eq!(report.pthid.as_deref(), Some("ref-request"));
    assert_eq!(report.from.as_deref(), Some(mediator.as_str()));
    let text = serde_json::to_value(&report).unwrap();
    assert!(text.get("ack").is_none(), "{text}");
    assert_eq!(text["body"]["code"], "e.p.msg.unsupported");
    world.server.shutdown().await.unwrap();
}
