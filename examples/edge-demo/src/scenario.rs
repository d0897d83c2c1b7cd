//! The story: the mediator, Alice and Bob through mediation, key management (keylist review,
//! DID rotation with `from_prior`), pickup and live delivery with acknowledgements, and Bob's
//! reply. Each step checks that it did what it should.

use std::path::Path;
use std::time::Duration;

use didcomm_edge::protocols::basic_message::BasicMessage;
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::{DidResolver, ResolverChain};
use didcomm_edge_agent::{AgentConfig, EdgeAgent, LiveEvent};

use crate::explain::{
    explain_connection, explain_sent, show_from_prior, show_mediator_view, show_received,
};
use crate::harness::Harness;
use crate::printer::{head, short_id, shorten, Names, Printer};

/// What a step returns: `Err` says what went wrong.
pub type DemoResult<T> = Result<T, String>;

/// The story, from starting the mediator to Alice's last keylist; `Err` says which step did
/// not do what it should.
pub async fn run(out: &mut Printer, ws: &mut Harness, mediator_bin: &Path) -> DemoResult<()> {
    out.title("didcomm-edge: two edge devices and a mediator, end to end");
    let mediator = ws.start_mediator(mediator_bin).await?;
    out.step("The mediator runs as its own process on 127.0.0.1, SQLite in a temporary folder");
    out.kv("listening on", &mediator.url);
    out.kv("mediator DID", &format!("{}…", head(&mediator.did, 40)));
    let chain = ResolverChain::new().with_web(didcomm_edge_web::resolver().map_err(err)?);
    if let Ok(Some(doc)) = chain.resolve(&mediator.did).await {
        let uris: Vec<String> = doc.didcomm_endpoints().into_iter().map(|e| e.uri).collect();
        out.kv("its endpoints", &uris.join(", "));
    }
    out.kv("invitation", &shorten(&mediator.invitation, 72));
    let mut names = Names::default();
    names.add(&mediator.did, "the mediator");

    // ---------------------------------------------------------------- Phase 1
    out.phase("Phase 1 — mediation: request, grant, keylist update");
    let config = AgentConfig::default();
    let alice = EdgeAgent::open(ws.dir().join("alice.json"), config.clone()).map_err(err)?;
    let bob = EdgeAgent::open(ws.dir().join("bob.json"), config).map_err(err)?;
    names.add(alice.control_did(), "Alice's control DID");
    names.add(bob.control_did(), "Bob's control DID");

    out.step("Alice scans the mediator's invitation (the _oob URL)");
    let a = alice.connect(&mediator.invitation).await.map_err(err)?;
    names.add(&a.did, "Alice");
    explain_connection(out, &names, ("Alice", "her"), &alice, &a).await?;

    out.step("Bob is given only the mediator's DID (its document carries the endpoints)");
    let b = bob.connect(&mediator.did).await.map_err(err)?;
    names.add(&b.did, "Bob");
    explain_connection(out, &names, ("Bob", "his"), &bob, &b).await?;

    let rtt = bob.ping_mediator().await.map_err(err)?;
    out.say(&format!(
        "Bob → mediator: trust ping; ping-response after {:.1} ms",
        rtt.as_secs_f64() * 1000.0
    ));

    // ---------------------------------------------------------------- Phase 2
    out.phase("Phase 2 — key management: review the keylist, rotate a DID");
    let keys = alice.keylist().await.map_err(err)?;
    out.say("Alice → mediator: keylist-query; the mediator forwards messages for:");
    for k in &keys {
        out.item(&names.show(k));
    }
    ensure(
        keys == [a.did.clone()],
        "Alice's keylist should hold her messaging DID",
    )?;

    out.step("Alice rotates her messaging DID (new keys, new did:peer:2, same mediator)");
    let rotated = alice.rotate().await.map_err(err)?;
    names.add(&rotated.new_did, "Alice (new DID)");
    names.add(&rotated.prior_did, "Alice (prior DID)");
    out.say("Alice → mediator: keylist-update add the new DID (the prior one keeps receiving)");
    out.say("from_prior, a JWT signed by the prior DID, will ride on her next messages:");
    show_from_prior(out, &names, &rotated.from_prior);
    let keys = alice.keylist().await.map_err(err)?;
    out.say("keylist now:");
    for k in &keys {
        out.item(&names.show(k));
    }
    ensure(keys.len() == 2, "both of Alice's DIDs should be registered")?;

    // ---------------------------------------------------------------- Phase 3
    out.phase("Phase 3 — delivery: send, what the mediator sees, pickup, acknowledgement");
    let text = "Greenhouse 3 is at 21.5 °C, humidity 64 %.";
    let message = BasicMessage::new(text)
        .to_message()
        .map_err(err)?
        .please_ack();
    out.step("Alice writes to Bob (a basic message asking for an acknowledgement)");
    let sent = alice.send(&b.did, message).await.map_err(err)?;
    explain_sent(out, &names, &sent);

    out.step("What the mediator could see (opened here with the mediator's own keys)");
    show_mediator_view(out, &names, &ws.mediator_identity(), &sent).await?;

    out.step("Bob picks up (Message Pickup: status, delivery, then messages-received)");
    let status = bob.status(None).await.map_err(err)?;
    out.say(&format!(
        "mediator → Bob: status: {} message(s) waiting, {} bytes",
        status.message_count,
        status.total_bytes.unwrap_or(0)
    ));
    let batch = bob.pickup().await.map_err(err)?;
    ensure(
        batch.messages.len() == 1 && batch.failed.is_empty(),
        "Bob should receive exactly Alice's message",
    )?;
    let mut got_id = String::new();
    for received in &batch.messages {
        show_received(out, &names, "Bob", received);
        got_id.clone_from(&received.message.id);
        let content = BasicMessage::from_message(&received.message)
            .map(|m| m.content)
            .unwrap_or_default();
        ensure(content == text, "Bob should read Alice's text")?;
        ensure(
            received.rotation() == Some((rotated.prior_did.clone(), rotated.new_did.clone())),
            "Bob should learn Alice's rotation",
        )?;
    }
    out.say("Bob has the message: only now does he acknowledge it to the mediator");
    let acked = batch.acknowledge().await.map_err(err)?;
    out.say(&format!(
        "Bob → mediator: messages-received ({} id) — the mediator deletes its copy",
        acked.ids.len()
    ));
    for reply in &acked.replies {
        out.say(&format!(
            "Bob → Alice (automatic): ack of {} (Alice asked with please_ack)",
            short_id(&sent.id)
        ));
        let _ = reply;
    }
    ensure(
        acked.reply_errors.is_empty(),
        "Bob's automatic ack should go out",
    )?;
    let left = bob.status(None).await.map_err(err)?.message_count;
    out.say(&format!("messages waiting for Bob now: {left}"));
    ensure(left == 0, "the mediator should hold nothing more for Bob")?;

    // ---------------------------------------------------------------- Phase 4
    out.phase("Phase 4 — Bob replies; Alice receives live over the WebSocket");
    let mut live = alice.live().await.map_err(err)?;
    live.wait_live(Duration::from_secs(10)).await.map_err(err)?;
    out.say("Alice → mediator (WebSocket): live-delivery-change on — messages are pushed as they arrive");
    out.step("Bob answers the DID he knew; his agent follows Alice's rotation");
    let reply = BasicMessage::new("Thanks! Opening the vents by 10 %.")
        .to_message()
        .map_err(err)?
        .thid(got_id.clone());
    let sent_reply = bob.send(&rotated.prior_did, reply).await.map_err(err)?;
    out.say(&format!(
        "Bob asked for {} and sent to {}",
        names.show(&rotated.prior_did),
        names.show(&sent_reply.to)
    ));
    explain_sent(out, &names, &sent_reply);

    let mut seen_ack = false;
    let mut seen_reply = false;
    while !(seen_ack && seen_reply) {
        let event = tokio::time::timeout(Duration::from_secs(10), live.recv())
            .await
            .map_err(|_| "Alice did not receive Bob's messages live in time".to_owned())?
            .map_err(err)?;
        match &event {
            LiveEvent::Message(received) => {
                show_received(out, &names, "Alice (live)", received);
                if received.is_pure_ack() {
                    seen_ack |= received
                        .message
                        .ack
                        .iter()
                        .flatten()
                        .any(|id| *id == sent.id);
                } else {
                    seen_reply |= received.is_reply_to(&got_id);
                }
            }
            LiveEvent::Undecryptable(u) => {
                return Err(format!("Alice could not open a message: {}", u.error));
            }
        }
        live.ack(&event).await.map_err(err)?;
        out.say("Alice → mediator (WebSocket): messages-received — deleted at the mediator");
    }
    live.close().await;

    out.step("Alice retires her prior DID now that nothing waits for it");
    let retired = alice.retire_prior_dids(false).await.map_err(err)?;
    for did in &retired {
        out.say(&format!("keylist-update remove {}", names.show(did)));
    }
    let keys = alice.keylist().await.map_err(err)?;
    out.say("Alice's keylist now:");
    for k in &keys {
        out.item(&names.show(k));
    }
    ensure(
        keys == [rotated.new_did.clone()],
        "only the new DID should remain",
    )?;
    let (a_left, b_left) = (
        alice.status(None).await.map_err(err)?.message_count,
        bob.status(None).await.map_err(err)?.message_count,
    );
    out.say(&format!(
        "messages held by the mediator: {} for Alice, {} for Bob",
        a_left, b_left
    ));
    ensure(
        a_left == 0 && b_left == 0,
        "the mediator should hold nothing",
    )?;
    out.say("Both devices kept their state (identities, keys, mediator connection) in files:");
    out.item("alice.json, bob.json (mode 0600) — a restarted device continues from them");
    Ok(())
}

/// An error as the demo reports it.
pub fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// `Err` naming `what` unless `condition`.
pub fn ensure(condition: bool, what: &str) -> DemoResult<()> {
    if condition {
        Ok(())
    } else {
        Err(format!("check failed: {what}"))
    }
}
