//! The storage contract, the same test bodies against a real SQLite file, a real PostgreSQL
//! server and the in-memory backend (which needs no database, so its tests always run).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use didcomm_edge::AttachmentForm;
use didcomm_edge_mediator::storage::{
    self, Grant, KeylistAction, KeylistResult, KeylistUpdate, NewMessage, Notification,
    OutboundMessage, OutboxLimits, PushTarget, Quota, Storage, StorageConfig, StoreOutcome,
};
use didcomm_edge_mediator::ErrorKind;

fn msg(recipient: &str, id: &str, body: &[u8], received: u64) -> NewMessage {
    NewMessage {
        recipient: recipient.into(),
        owner: OWNER.into(),
        id: id.into(),
        body: body.to_vec(),
        form: AttachmentForm::Base64,
        received_at_ms: received,
        expires_at_ms: u64::MAX / 4,
    }
}

const OWNER: &str = "did:example:owner";

/// A message for a key of `owner` (the store refuses one whose owner does not hold the key's
/// namespace).
fn msg_by(owner: &str, recipient: &str, id: &str, body: &[u8], received: u64) -> NewMessage {
    NewMessage {
        owner: owner.into(),
        ..msg(recipient, id, body, received)
    }
}

fn stored_by(recipient: &str, owner: &str) -> Notification {
    Notification::Stored {
        recipient: recipient.into(),
        owner: owner.into(),
    }
}

fn stored(recipient: &str) -> Notification {
    Notification::Stored {
        recipient: recipient.into(),
        owner: OWNER.into(),
    }
}

fn add(key: &str) -> KeylistUpdate {
    KeylistUpdate {
        key: key.into(),
        action: KeylistAction::Add,
    }
}

fn remove(key: &str) -> KeylistUpdate {
    KeylistUpdate {
        key: key.into(),
        action: KeylistAction::Remove,
    }
}

fn grant(did: &str) -> Grant {
    Grant {
        did: did.into(),
        routing_did: "did:example:mediator".into(),
        granted_at_ms: 1_000,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

const BIG: Quota = Quota {
    max_messages: 1_000_000,
    max_bytes: 1 << 40,
    ..Quota::UNLIMITED
};

/// No byte budget on a fetch.
const ANY_SIZE: u64 = u64::MAX;

async fn grants_and_keylists(s: Arc<dyn Storage>) {
    assert_eq!(s.grant("did:example:alice").await.unwrap(), None);
    let err = s
        .update_keylist("did:example:alice", &[add("did:example:alice#k1")])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);

    let g = s.put_grant(&grant("did:example:alice")).await.unwrap();
    assert_eq!(g, grant("did:example:alice"));
    // A second grant request keeps the first grant.
    let mut later = grant("did:example:alice");
    later.granted_at_ms = 2_000;
    assert_eq!(s.put_grant(&later).await.unwrap().granted_at_ms, 1_000);
    s.put_grant(&grant("did:example:bob")).await.unwrap();

    let results = s
        .update_keylist(
            "did:example:alice",
            &[add("k-a1"), add("k-a2"), add("k-a1"), remove("k-none")],
        )
        .await
        .unwrap();
    assert_eq!(
        results,
        vec![
            KeylistResult::Success,
            KeylistResult::Success,
            KeylistResult::NoChange,
            KeylistResult::NoChange
        ]
    );
    // Bob cannot take or remove Alice's key.
    let results = s
        .update_keylist(
            "did:example:bob",
            &[add("k-a1"), remove("k-a2"), add("k-b1")],
        )
        .await
        .unwrap();
    assert_eq!(
        results,
        vec![
            KeylistResult::OwnedByAnother,
            KeylistResult::OwnedByAnother,
            KeylistResult::Success
        ]
    );
    assert_eq!(
        s.key_owner("k-a1").await.unwrap().as_deref(),
        Some("did:example:alice")
    );
    assert_eq!(s.key_owner("k-zz").await.unwrap(), None);
    let (keys, total) = s.keylist("did:example:alice", 0, 10).await.unwrap();
    assert_eq!((keys, total), (strings(&["k-a1", "k-a2"]), 2));
    let (keys, total) = s.keylist("did:example:alice", 1, 10).await.unwrap();
    assert_eq!((keys, total), (strings(&["k-a2"]), 2));

    // Removing a key drops its queue.
    s.store(msg_by("did:example:alice", "k-a2", "m1", b"x", 1), BIG)
        .await
        .unwrap();
    assert_eq!(
        s.update_keylist("did:example:alice", &[remove("k-a2")])
            .await
            .unwrap(),
        vec![KeylistResult::Success]
    );
    assert_eq!(
        s.queue_stats(&strings(&["k-a2"])).await.unwrap().messages,
        0
    );

    // Removing a grant removes its keys and queues.
    s.store(msg_by("did:example:alice", "k-a1", "m1", b"x", 1), BIG)
        .await
        .unwrap();
    assert!(s.remove_grant("did:example:alice").await.unwrap());
    assert!(!s.remove_grant("did:example:alice").await.unwrap());
    assert_eq!(s.key_owner("k-a1").await.unwrap(), None);
    assert!(s
        .fetch(&strings(&["k-a1"]), 10, ANY_SIZE, 0)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(s.totals().await.unwrap().messages, 0);
}

async fn store_fetch_ack(s: Arc<dyn Storage>) {
    for (i, id) in ["m1", "m2", "m3"].iter().enumerate() {
        let outcome = s
            .store(
                msg("r1", id, format!("body-{id}").as_bytes(), 100 + i as u64),
                BIG,
            )
            .await
            .unwrap();
        assert_eq!(outcome, StoreOutcome::Stored);
    }
    s.store(msg("r2", "m1", b"other", 50), BIG).await.unwrap();

    let first = s.fetch(&strings(&["r1"]), 2, ANY_SIZE, 0).await.unwrap();
    assert_eq!(
        first.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        ["m1", "m2"]
    );
    assert_eq!(first[0].body, b"body-m1");
    assert_eq!(first[0].recipient, "r1");
    assert_eq!(first[0].received_at_ms, 100);
    // Fetching deletes nothing.
    assert_eq!(
        s.fetch(&strings(&["r1"]), 10, ANY_SIZE, 0)
            .await
            .unwrap()
            .len(),
        3
    );
    let both = s
        .fetch(&strings(&["r1", "r2"]), 10, ANY_SIZE, 0)
        .await
        .unwrap();
    assert_eq!(both.len(), 4);
    assert_eq!(both[0].recipient, "r2", "oldest first across queues");

    // Skipping ids already pushed elsewhere (live mode), however many.
    let mut pushed = strings(&["m1", "m3"]);
    pushed.extend((0..3000).map(|i| format!("other-{i}")));
    let rest = s
        .fetch_excluding(&strings(&["r1", "r2"]), 10, ANY_SIZE, 0, &pushed)
        .await
        .unwrap();
    assert_eq!(
        rest.iter()
            .map(|m| (m.recipient.as_str(), m.id.as_str()))
            .collect::<Vec<_>>(),
        [("r1", "m2")],
        "an id is excluded in every queue"
    );

    let stats = s.queue_stats(&strings(&["r1"])).await.unwrap();
    assert_eq!(stats.messages, 3);
    assert_eq!(stats.bytes, 21);
    assert_eq!(stats.oldest_received_at_ms, Some(100));
    assert_eq!(stats.newest_received_at_ms, Some(102));

    // An ack only touches the named recipients' queues: r2's "m1" survives.
    let deleted = s
        .ack(&strings(&["r1"]), &strings(&["m1", "m3", "unknown"]))
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    let left = s
        .fetch(&strings(&["r1", "r2"]), 10, ANY_SIZE, 0)
        .await
        .unwrap();
    assert_eq!(
        left.iter()
            .map(|m| (m.recipient.as_str(), m.id.as_str()))
            .collect::<Vec<_>>(),
        [("r2", "m1"), ("r1", "m2")]
    );
    let stats = s.queue_stats(&strings(&["r1"])).await.unwrap();
    assert_eq!((stats.messages, stats.bytes), (1, 7));
    // Acking again is harmless.
    assert_eq!(
        s.ack(&strings(&["r1"]), &strings(&["m1"])).await.unwrap(),
        0
    );
    let totals = s.totals().await.unwrap();
    assert_eq!((totals.messages, totals.bytes), (2, 12));
    assert!(s.fetch(&[], 10, ANY_SIZE, 0).await.unwrap().is_empty());
}

/// A message is handed out in the form it was stored with (how its forward attached it).
async fn forms_are_kept(s: Arc<dyn Storage>) {
    for (id, form) in [("b", AttachmentForm::Base64), ("j", AttachmentForm::Json)] {
        let message = NewMessage {
            form,
            ..msg("r1", id, b"{ }", 1)
        };
        assert_eq!(s.store(message, BIG).await.unwrap(), StoreOutcome::Stored);
    }
    let fetched = s.fetch(&strings(&["r1"]), 10, ANY_SIZE, 0).await.unwrap();
    let forms: Vec<_> = fetched.iter().map(|m| (m.id.as_str(), m.form)).collect();
    assert_eq!(
        forms,
        [("b", AttachmentForm::Base64), ("j", AttachmentForm::Json)]
    );
    assert_eq!(fetched[1].body, b"{ }");
}

async fn duplicates_are_stored_once(s: Arc<dyn Storage>) {
    assert_eq!(
        s.store(msg("r1", "same", b"abc", 1), BIG).await.unwrap(),
        StoreOutcome::Stored
    );
    assert_eq!(
        s.store(msg("r1", "same", b"abc", 2), BIG).await.unwrap(),
        StoreOutcome::Duplicate
    );
    // The same id for another recipient is another message.
    assert_eq!(
        s.store(msg("r2", "same", b"abc", 3), BIG).await.unwrap(),
        StoreOutcome::Stored
    );
    let stats = s.queue_stats(&strings(&["r1"])).await.unwrap();
    assert_eq!((stats.messages, stats.bytes), (1, 3));
    // Concurrent duplicates: exactly one is stored.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            s.store(msg("r3", "race", b"zz", 5), BIG).await.unwrap()
        }));
    }
    let mut stored = 0;
    for t in tasks {
        if t.await.unwrap() == StoreOutcome::Stored {
            stored += 1;
        }
    }
    assert_eq!(stored, 1);
    assert_eq!(s.queue_stats(&strings(&["r3"])).await.unwrap().messages, 1);
}

async fn acknowledged_ids_stay_duplicates_until_they_expire(s: Arc<dyn Storage>) {
    let mut m = msg("r1", "once", b"abc", 1);
    m.expires_at_ms = 5_000;
    assert_eq!(s.store(m.clone(), BIG).await.unwrap(), StoreOutcome::Stored);
    assert_eq!(
        s.ack(&strings(&["r1"]), &strings(&["once"])).await.unwrap(),
        1
    );
    // Delivered and acknowledged: a late retry is not queued again.
    assert_eq!(
        s.store(m.clone(), BIG).await.unwrap(),
        StoreOutcome::Duplicate
    );
    assert_eq!(s.queue_stats(&strings(&["r1"])).await.unwrap().messages, 0);
    assert!(s
        .fetch(&strings(&["r1"]), 10, ANY_SIZE, 0)
        .await
        .unwrap()
        .is_empty());
    // The tombstone is per recipient, like the id.
    let mut other = m.clone();
    other.recipient = "r2".into();
    assert_eq!(s.store(other, BIG).await.unwrap(), StoreOutcome::Stored);
    // It lasts until the message would have expired, then goes with the sweep.
    s.sweep_expired(4_000).await.unwrap();
    assert_eq!(
        s.store(m.clone(), BIG).await.unwrap(),
        StoreOutcome::Duplicate
    );
    s.sweep_expired(6_000).await.unwrap();
    m.expires_at_ms = 50_000;
    assert_eq!(s.store(m, BIG).await.unwrap(), StoreOutcome::Stored);
    // Removing a key forgets its tombstones with its queue.
    s.put_grant(&grant("did:example:t")).await.unwrap();
    s.update_keylist("did:example:t", &[add("k-t")])
        .await
        .unwrap();
    s.store(msg_by("did:example:t", "k-t", "x", b"x", 1), BIG)
        .await
        .unwrap();
    s.ack(&strings(&["k-t"]), &strings(&["x"])).await.unwrap();
    s.update_keylist("did:example:t", &[remove("k-t")])
        .await
        .unwrap();
    assert_eq!(
        s.store(msg("k-t", "x", b"x", 1), BIG).await.unwrap(),
        StoreOutcome::Stored
    );
}

async fn forwards_find_their_recipient(s: Arc<dyn Storage>) {
    let alice = "did:example:alice";
    let carol = "did:example:carol";
    s.put_grant(&grant(alice)).await.unwrap();
    s.put_grant(&grant(carol)).await.unwrap();
    s.update_keylist(
        alice,
        &[
            add("did:example:a1#key-2"),
            add("did:example:a2"),
            add("did:example:a2#key-9"),
        ],
    )
    .await
    .unwrap();
    s.update_keylist(carol, &[add("did:example:c1")])
        .await
        .unwrap();
    let find = |next: &'static str| {
        let s = Arc::clone(&s);
        async move { s.find_recipient(next).await.unwrap() }
    };
    let pair = |key: &str, owner: &str| Some((key.to_owned(), owner.to_owned()));
    // As registered.
    assert_eq!(
        find("did:example:a1#key-2").await,
        pair("did:example:a1#key-2", alice)
    );
    // The DID of a key registered as a DID URL.
    assert_eq!(
        find("did:example:a1").await,
        pair("did:example:a1#key-2", alice)
    );
    // Another key id of that DID.
    assert_eq!(
        find("did:example:a1#key-1").await,
        pair("did:example:a1#key-2", alice)
    );
    // A key id of a DID registered as a DID.
    assert_eq!(
        find("did:example:c1#key-1").await,
        pair("did:example:c1", carol)
    );
    // The exact registration wins over the DID's.
    assert_eq!(find("did:example:a2").await, pair("did:example:a2", alice));
    assert_eq!(
        find("did:example:a2#key-9").await,
        pair("did:example:a2#key-9", alice)
    );
    assert_eq!(
        find("did:example:a2#key-1").await,
        pair("did:example:a2", alice)
    );
    // Unknown DIDs and prefixes of registered ones are not found.
    assert_eq!(find("did:example:zed").await, None);
    assert_eq!(find("did:example:a").await, None);
    assert_eq!(find("did:example:c1x").await, None);
    s.update_keylist(carol, &[remove("did:example:c1")])
        .await
        .unwrap();
    assert_eq!(find("did:example:c1").await, None);
}

async fn quotas(s: Arc<dyn Storage>) {
    let q = Quota {
        max_messages: 2,
        max_bytes: 10,
        ..BIG
    };
    s.store(msg("r1", "a", b"1234", 1), q).await.unwrap();
    s.store(msg("r1", "b", b"1234", 2), q).await.unwrap();
    let err = s.store(msg("r1", "c", b"1", 3), q).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded);
    // A duplicate of a queued message is still answered as such when the queue is full.
    assert_eq!(
        s.store(msg("r1", "a", b"1234", 4), q).await.unwrap(),
        StoreOutcome::Duplicate
    );
    // Byte quota.
    s.store(msg("r2", "a", b"12345678", 1), q).await.unwrap();
    let err = s.store(msg("r2", "b", b"123", 2), q).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded);
    // A refused message leaves nothing behind; acking makes room.
    assert_eq!(s.queue_stats(&strings(&["r1"])).await.unwrap().messages, 2);
    s.ack(&strings(&["r1"]), &strings(&["a"])).await.unwrap();
    s.store(msg("r1", "c", b"1", 3), q).await.unwrap();
    let ids: Vec<String> = s
        .fetch(&strings(&["r1"]), 10, ANY_SIZE, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, strings(&["b", "c"]));
}

async fn expiry(s: Arc<dyn Storage>) {
    let mut old = msg("r1", "old", b"old", 1);
    old.expires_at_ms = 1_000;
    let mut fresh = msg("r1", "fresh", b"fresh", 2);
    fresh.expires_at_ms = 5_000;
    s.store(old, BIG).await.unwrap();
    s.store(fresh, BIG).await.unwrap();
    let at_2000: Vec<String> = s
        .fetch(&strings(&["r1"]), 10, ANY_SIZE, 2_000)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        at_2000,
        strings(&["fresh"]),
        "expired messages are not handed out"
    );
    assert_eq!(s.sweep_expired(2_000).await.unwrap(), 1);
    let stats = s.queue_stats(&strings(&["r1"])).await.unwrap();
    assert_eq!((stats.messages, stats.bytes), (1, 5));
    assert_eq!(s.sweep_expired(2_000).await.unwrap(), 0);
    assert_eq!(s.sweep_expired(10_000).await.unwrap(), 1);
    assert_eq!(s.totals().await.unwrap().messages, 0);
}

async fn notifications(s: Arc<dyn Storage>) {
    let mut rx = s.subscribe();
    s.store(msg("r-live", "n1", b"x", 1), BIG).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a notification in time")
        .unwrap();
    assert_eq!(event, stored("r-live"));
    // A duplicate announces nothing new; the next store does.
    s.store(msg("r-live", "n1", b"x", 1), BIG).await.unwrap();
    s.store(msg("r-other", "n2", b"x", 1), BIG).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a notification in time")
        .unwrap();
    assert_eq!(event, stored("r-other"));
}

async fn concurrent_stores(s: Arc<dyn Storage>) {
    let mut tasks = Vec::new();
    for i in 0..400u64 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let recipient = format!("r{}", i % 8);
            s.store(msg(&recipient, &format!("m{i}"), &[7u8; 100], i), BIG)
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StoreOutcome::Stored);
    }
    let totals = s.totals().await.unwrap();
    assert_eq!((totals.messages, totals.bytes), (400, 40_000));
    let all: Vec<String> = (0..8).map(|i| format!("r{i}")).collect();
    assert_eq!(s.fetch(&all, 1000, ANY_SIZE, 0).await.unwrap().len(), 400);
}

/// One owner per DID: a DID and its DID URLs are one namespace (issue 12's squatting, both
/// directions), lookups never cross owners, and a queued message keeps its namespace.
async fn one_owner_per_did(s: Arc<dyn Storage>) {
    let (alice, bob, mallory) = (
        "did:example:alice",
        "did:example:bob",
        "did:example:mallory",
    );
    for did in [alice, bob, mallory] {
        s.put_grant(&grant(did)).await.unwrap();
    }
    let a_url = "did:key:zAlice#zAlice";
    let a_did = "did:key:zAlice";
    let b_did = "did:key:zBob";
    assert_eq!(
        s.update_keylist(alice, &[add(a_url)]).await.unwrap(),
        [KeylistResult::Success]
    );
    assert_eq!(
        s.update_keylist(bob, &[add(b_did)]).await.unwrap(),
        [KeylistResult::Success]
    );
    // Mallory takes neither Alice's bare DID nor another key id of it, nor a DID URL of Bob's.
    assert_eq!(
        s.update_keylist(
            mallory,
            &[
                add(a_did),
                add("did:key:zAlice#other"),
                add("did:key:zBob#k1")
            ]
        )
        .await
        .unwrap(),
        [
            KeylistResult::OwnedByAnother,
            KeylistResult::OwnedByAnother,
            KeylistResult::OwnedByAnother
        ]
    );
    assert_eq!(s.keylist(mallory, 0, 10).await.unwrap().1, 0);
    // Forwards go to the namespace's owner, whatever form of the DID they name.
    for next in [a_did, a_url, "did:key:zAlice#other"] {
        assert_eq!(
            s.find_recipient(next).await.unwrap(),
            Some((a_url.to_owned(), alice.to_owned())),
            "{next}"
        );
    }
    assert_eq!(
        s.find_recipient("did:key:zBob#k1").await.unwrap(),
        Some((b_did.to_owned(), bob.to_owned()))
    );
    // The owner adds more keys of its own DID.
    assert_eq!(
        s.update_keylist(alice, &[add("did:key:zAlice#second")])
            .await
            .unwrap(),
        [KeylistResult::Success]
    );

    // Alice removes her keys while a forward to one of them is in flight: its message is
    // stored for Alice and holds the namespace, so Mallory cannot register it and receive it.
    s.update_keylist(alice, &[remove(a_url), remove("did:key:zAlice#second")])
        .await
        .unwrap();
    let mut late = msg_by(alice, a_url, "late", b"for alice", 1);
    late.expires_at_ms = 5_000;
    assert_eq!(s.store(late, BIG).await.unwrap(), StoreOutcome::Stored);
    assert_eq!(
        s.update_keylist(mallory, &[add(a_url), add(a_did)])
            .await
            .unwrap(),
        [KeylistResult::OwnedByAnother, KeylistResult::OwnedByAnother]
    );
    // A store resolved for another owner than the namespace's is refused, never re-bound.
    let err = s
        .store(msg_by(mallory, a_url, "theft", b"x", 2), BIG)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownRecipient);
    // Once nothing of Alice's is left there (expired and swept), the namespace is free.
    s.sweep_expired(6_000).await.unwrap();
    assert_eq!(
        s.update_keylist(mallory, &[add(a_did)]).await.unwrap(),
        [KeylistResult::Success]
    );
    assert_eq!(
        s.queue_stats(&strings(&[a_did, a_url]))
            .await
            .unwrap()
            .messages,
        0
    );
    assert_eq!(
        s.update_keylist(alice, &[add(a_url)]).await.unwrap(),
        [KeylistResult::OwnedByAnother]
    );
    // Removing a grant frees its namespaces.
    assert!(s.remove_grant(bob).await.unwrap());
    assert_eq!(
        s.update_keylist(mallory, &[add("did:key:zBob#k1")])
            .await
            .unwrap(),
        [KeylistResult::Success]
    );
}

/// A device that rotated its DID (`from_prior`) sends the implied update from the new DID:
/// the new DID's keys are added; the prior DID's stay its own (the new DID cannot remove
/// them: the mediator answers `no_change`) until the prior DID removes them or its grant goes.
async fn a_rotated_did_adds_its_keys_beside_the_prior_ones(s: Arc<dyn Storage>) {
    let (prior, new) = ("did:example:charlie", "did:example:alice");
    s.put_grant(&grant(prior)).await.unwrap();
    s.update_keylist(prior, &[add(prior)]).await.unwrap();
    s.put_grant(&grant(new)).await.unwrap();
    let results = s
        .update_keylist(
            new,
            &[
                add(new),
                add("did:example:alice#key-x25519-1"),
                remove(prior),
                remove("did:example:charlie#key-x25519-1"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        results,
        [
            KeylistResult::Success,
            KeylistResult::Success,
            KeylistResult::OwnedByAnother,
            KeylistResult::NoChange
        ]
    );
    let owner_of = |next: &'static str| {
        let s = Arc::clone(&s);
        async move {
            s.find_recipient(next)
                .await
                .unwrap()
                .map(|(_, owner)| owner)
        }
    };
    assert_eq!(owner_of(new).await.as_deref(), Some(new));
    assert_eq!(owner_of(prior).await.as_deref(), Some(prior));
    assert!(s.remove_grant(prior).await.unwrap());
    assert_eq!(owner_of(prior).await, None);
    assert_eq!(
        owner_of("did:example:alice#key-x25519-1").await.as_deref(),
        Some(new)
    );
}

/// Two devices adding keys of the same DID at the same time: exactly one owns it.
async fn concurrent_adds_have_one_owner(s: Arc<dyn Storage>) {
    let devices = ["did:example:first", "did:example:second"];
    for did in devices {
        s.put_grant(&grant(did)).await.unwrap();
    }
    for round in 0..20 {
        let bare = format!("did:key:zRace{round}");
        let url = format!("{bare}#k1");
        let mut tasks = Vec::new();
        for (device, key) in [(devices[0], bare.clone()), (devices[1], url.clone())] {
            let s = Arc::clone(&s);
            tasks.push(tokio::spawn(async move {
                s.update_keylist(device, &[add(&key)]).await.unwrap()[0]
            }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        results.sort_by_key(|r| *r == KeylistResult::Success);
        assert_eq!(
            results,
            [KeylistResult::OwnedByAnother, KeylistResult::Success],
            "round {round}"
        );
        let owner_bare = s.key_owner(&bare).await.unwrap();
        let owner_url = s.key_owner(&url).await.unwrap();
        assert!(owner_bare.is_none() != owner_url.is_none(), "round {round}");
    }
}

/// The key limit is counted inside the write: concurrent adds cannot pass it.
async fn key_limit_inside_the_write(s: Arc<dyn Storage>) {
    let did = "did:example:many";
    s.put_grant(&grant(did)).await.unwrap();
    let results = s
        .update_keylist_within(did, &[add("k-1"), add("k-2"), add("k-1"), add("k-3")], 2)
        .await
        .unwrap();
    assert_eq!(
        results,
        [
            KeylistResult::Success,
            KeylistResult::Success,
            KeylistResult::NoChange,
            KeylistResult::KeyLimit
        ]
    );
    s.update_keylist(did, &[remove("k-1"), remove("k-2")])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            s.update_keylist_within(did, &[add(&format!("k-race-{i}"))], 5)
                .await
                .unwrap()[0]
        }));
    }
    let mut added = 0;
    for t in tasks {
        if t.await.unwrap() == KeylistResult::Success {
            added += 1;
        }
    }
    assert_eq!(added, 5);
    assert_eq!(s.keylist(did, 0, 100).await.unwrap().1, 5);
}

/// A device's quota covers all of its keys; the global budget covers every device.
async fn device_quotas_and_the_global_budget(s: Arc<dyn Storage>) {
    let q = Quota {
        device_max_messages: 3,
        device_max_bytes: 1_000,
        total_max_bytes: 40,
        ..BIG
    };
    let dev = |owner: &str, key: &str, id: &str, body: &[u8]| msg_by(owner, key, id, body, 1);
    s.store(dev("did:example:d1", "d1-a", "1", b"1234"), q)
        .await
        .unwrap();
    s.store(dev("did:example:d1", "d1-b", "2", b"1234"), q)
        .await
        .unwrap();
    s.store(dev("did:example:d1", "d1-c", "3", b"1234"), q)
        .await
        .unwrap();
    // A fourth message on yet another key of the same device is over its count.
    let err = s
        .store(dev("did:example:d1", "d1-d", "4", b"1"), q)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded);
    assert!(err.to_string().contains("device"), "{err}");
    // Another device still has room, until all queues together reach the budget (40 bytes).
    s.store(dev("did:example:d2", "d2-a", "1", &[0u8; 20]), q)
        .await
        .unwrap();
    let err = s
        .store(dev("did:example:d2", "d2-b", "2", &[0u8; 9]), q)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded);
    assert!(err.to_string().contains("budget"), "{err}");
    assert_eq!(s.totals().await.unwrap().bytes, 32);
    // Acknowledging and sweeping give room back, to the device and to the budget.
    s.ack(&strings(&["d1-a"]), &strings(&["1"])).await.unwrap();
    s.store(dev("did:example:d1", "d1-d", "4", b"1"), q)
        .await
        .unwrap();
    s.store(dev("did:example:d2", "d2-b", "2", &[0u8; 7]), q)
        .await
        .unwrap();
    let mut expiring = dev("did:example:d2", "d2-a", "x", b"");
    expiring.expires_at_ms = 10;
    s.store(expiring, q).await.unwrap();
    let err = s
        .store(dev("did:example:d3", "d3", "1", b"12345"), q)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::QuotaExceeded);
    s.ack(&strings(&["d2-a"]), &strings(&["1"])).await.unwrap();
    s.sweep_expired(100).await.unwrap();
    s.store(dev("did:example:d3", "d3", "1", &[0u8; 20]), q)
        .await
        .unwrap();
}

/// A delivery carries at most its byte budget, but always the oldest message.
async fn deliveries_have_a_byte_budget(s: Arc<dyn Storage>) {
    s.store(msg("r1", "big", &[1u8; 100], 1), BIG)
        .await
        .unwrap();
    s.store(msg("r1", "a", &[2u8; 30], 2), BIG).await.unwrap();
    s.store(msg("r1", "b", &[3u8; 30], 3), BIG).await.unwrap();
    s.store(msg("r1", "c", &[4u8; 30], 4), BIG).await.unwrap();
    let ids = |messages: Vec<storage::StoredMessage>| -> Vec<String> {
        messages.into_iter().map(|m| m.id).collect()
    };
    let r1 = strings(&["r1"]);
    // Larger than the budget: delivered alone, the queue is not blocked.
    assert_eq!(
        ids(s.fetch(&r1, 10, 64, 0).await.unwrap()),
        strings(&["big"])
    );
    s.ack(&r1, &strings(&["big"])).await.unwrap();
    assert_eq!(
        ids(s.fetch(&r1, 10, 64, 0).await.unwrap()),
        strings(&["a", "b"])
    );
    assert_eq!(
        ids(s.fetch(&r1, 10, 90, 0).await.unwrap()),
        strings(&["a", "b", "c"])
    );
    assert_eq!(ids(s.fetch(&r1, 1, 90, 0).await.unwrap()), strings(&["a"]));
    let pushed = strings(&["a"]);
    assert_eq!(
        ids(s.fetch_excluding(&r1, 10, 30, 0, &pushed).await.unwrap()),
        strings(&["b"])
    );
}

/// Acknowledgements are bounded, and one takes many ids over several queues at once.
async fn acknowledgements_are_set_based_and_bounded(s: Arc<dyn Storage>) {
    let too_many: Vec<String> = (0..=storage::MAX_ACK_IDS).map(|i| i.to_string()).collect();
    let err = s.ack(&strings(&["r1"]), &too_many).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    for i in 0..300 {
        let recipient = format!("r{}", i % 3);
        s.store(msg(&recipient, &format!("m{i}"), b"x", i), BIG)
            .await
            .unwrap();
    }
    let mut ids: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    ids.extend((0..5000).map(|i| format!("unknown-{i}")));
    let queues = strings(&["r0", "r1", "r2"]);
    assert_eq!(s.ack(&queues, &ids).await.unwrap(), 300);
    assert_eq!(s.totals().await.unwrap().messages, 0);
    // Tombstones were left for each.
    assert_eq!(
        s.store(msg("r2", "m299", b"x", 1), BIG).await.unwrap(),
        StoreOutcome::Duplicate
    );
}

/// What the admin side uses: grants listed in pages, a device's queues purged (its grant and
/// keys stay, other devices' queues are untouched), the schema version, readiness until closed.
async fn admin_operations(s: Arc<dyn Storage>) {
    assert!(s.list_grants(None, 10).await.unwrap().is_empty());
    for did in ["did:example:c", "did:example:a", "did:example:b"] {
        s.put_grant(&grant(did)).await.unwrap();
    }
    let page = s.list_grants(None, 2).await.unwrap();
    let dids: Vec<&str> = page.iter().map(|g| g.did.as_str()).collect();
    assert_eq!(dids, ["did:example:a", "did:example:b"]);
    assert_eq!(page[0], grant("did:example:a"));
    let rest = s.list_grants(Some("did:example:b"), 2).await.unwrap();
    assert_eq!(rest, vec![grant("did:example:c")]);
    assert!(s
        .list_grants(Some("did:example:c"), 2)
        .await
        .unwrap()
        .is_empty());
    assert!(s.list_grants(None, 0).await.unwrap().is_empty());

    s.update_keylist(
        "did:example:a",
        &[add("did:example:ka"), add("did:example:ka#2")],
    )
    .await
    .unwrap();
    s.update_keylist("did:example:b", &[add("did:example:kb")])
        .await
        .unwrap();
    for (i, key) in ["did:example:ka", "did:example:ka#2", "did:example:ka"]
        .iter()
        .enumerate()
    {
        s.store(
            msg_by("did:example:a", key, &format!("m{i}"), b"abc", 1),
            BIG,
        )
        .await
        .unwrap();
    }
    s.store(
        msg_by("did:example:b", "did:example:kb", "m0", b"b", 1),
        BIG,
    )
    .await
    .unwrap();
    // Acknowledged ids leave tombstones; a purge drops them with the queue.
    s.ack(&strings(&["did:example:ka"]), &strings(&["m0"]))
        .await
        .unwrap();
    assert_eq!(s.purge_queues("did:example:a").await.unwrap(), 2);
    assert_eq!(s.purge_queues("did:example:a").await.unwrap(), 0);
    assert_eq!(s.purge_queues("did:example:nobody").await.unwrap(), 0);
    let a_keys = strings(&["did:example:ka", "did:example:ka#2"]);
    assert_eq!(s.queue_stats(&a_keys).await.unwrap().messages, 0);
    let totals = s.totals().await.unwrap();
    assert_eq!((totals.messages, totals.bytes), (1, 1));
    assert_eq!(s.keylist("did:example:a", 0, 10).await.unwrap().1, 2);
    assert!(s.grant("did:example:a").await.unwrap().is_some());
    assert_eq!(
        s.store(
            msg_by("did:example:a", "did:example:ka", "m0", b"abc", 1),
            BIG
        )
        .await
        .unwrap(),
        StoreOutcome::Stored
    );
    assert_eq!(s.totals().await.unwrap().messages, 2);

    assert_eq!(s.schema_version().await.unwrap(), storage::SCHEMA_VERSION);
    s.ready().await.unwrap();
    s.close().await;
    assert_eq!(s.ready().await.unwrap_err().kind(), ErrorKind::Unavailable);
}

fn outbound(id: &str, destination: &str) -> OutboundMessage {
    OutboundMessage {
        id: id.into(),
        destination: destination.into(),
        body: format!("packed {id}").into_bytes(),
        attempts: 0,
        created_at_ms: 1_000,
        expires_at_ms: 1_000_000,
    }
}

async fn outbox_is_bounded_and_leased(s: Arc<dyn Storage>) {
    let limits = OutboxLimits {
        per_destination: 2,
        total: 3,
    };
    let a = "https://a.example/didcomm";
    let b = "https://b.example/didcomm";
    assert_eq!(s.outbox_depth().await.unwrap(), 0);
    assert_eq!(
        s.outbox_put(&outbound("1", a), 100, limits).await.unwrap(),
        StoreOutcome::Stored
    );
    // The same id again: nothing changes.
    assert_eq!(
        s.outbox_put(&outbound("1", a), 100, limits).await.unwrap(),
        StoreOutcome::Duplicate
    );
    s.outbox_put(&outbound("2", a), 50, limits).await.unwrap();
    let per_destination = s
        .outbox_put(&outbound("3", a), 100, limits)
        .await
        .unwrap_err();
    assert_eq!(per_destination.kind(), ErrorKind::QuotaExceeded);
    s.outbox_put(&outbound("4", b), 300, limits).await.unwrap();
    let total = s
        .outbox_put(&outbound("5", b), 100, limits)
        .await
        .unwrap_err();
    assert_eq!(total.kind(), ErrorKind::QuotaExceeded);
    assert_eq!(s.outbox_depth().await.unwrap(), 3);

    // Nothing is due before its time; due ones come earliest first, counted and leased.
    assert!(s.outbox_claim(10, 1_000, 10).await.unwrap().is_empty());
    let claimed = s.outbox_claim(200, 1_000, 10).await.unwrap();
    let ids: Vec<&str> = claimed.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["2", "1"]);
    assert!(claimed.iter().all(|m| m.attempts == 1));
    assert_eq!(claimed[1].body, b"packed 1");
    assert_eq!(claimed[1].destination, a);
    assert_eq!(claimed[1].expires_at_ms, 1_000_000);
    // Leased: not handed out again before the lease ends, even though its time has come.
    assert_eq!(
        s.outbox_claim(500, 1_000, 10)
            .await
            .unwrap()
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>(),
        ["4"]
    );
    // A failed attempt makes it due again; a lease that runs out does too (a crashed worker).
    s.outbox_retry("2", 600).await.unwrap();
    s.outbox_retry("unknown", 600).await.unwrap();
    let again = s.outbox_claim(600, 2_000, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id.as_str(), again[0].attempts), ("2", 2));
    let expired_lease = s.outbox_claim(2_000, 3_000, 1).await.unwrap();
    assert_eq!(expired_lease.len(), 1, "a claim takes at most its limit");

    // Removed when delivered (or given up); room again under the bounds.
    assert!(s.outbox_remove("1").await.unwrap());
    assert!(!s.outbox_remove("1").await.unwrap());
    s.outbox_put(&outbound("3", a), 100, limits).await.unwrap();
    assert_eq!(s.outbox_depth().await.unwrap(), 3);
}

async fn push_targets_are_kept_per_device(s: Arc<dyn Storage>) {
    let fcm = PushTarget {
        platform: "fcm".into(),
        token: "token-1".into(),
    };
    let apns = PushTarget {
        platform: "apns".into(),
        token: "00ff".into(),
    };
    assert_eq!(s.push_target("did:example:a").await.unwrap(), None);
    s.set_push_target("did:example:a", &fcm, 1).await.unwrap();
    s.set_push_target("did:example:b", &apns, 1).await.unwrap();
    assert_eq!(s.push_target("did:example:a").await.unwrap(), Some(fcm));
    // Replaced, not added.
    s.set_push_target("did:example:a", &apns, 2).await.unwrap();
    assert_eq!(
        s.push_target("did:example:a").await.unwrap(),
        Some(apns.clone())
    );
    assert!(s.remove_push_target("did:example:a").await.unwrap());
    assert!(!s.remove_push_target("did:example:a").await.unwrap());
    assert_eq!(s.push_target("did:example:a").await.unwrap(), None);
    assert_eq!(s.push_target("did:example:b").await.unwrap(), Some(apns));
    // A revoked grant takes its target with it.
    s.put_grant(&grant("did:example:b")).await.unwrap();
    assert!(s.remove_grant("did:example:b").await.unwrap());
    assert_eq!(s.push_target("did:example:b").await.unwrap(), None);
}

async fn sqlite(dir: &tempfile::TempDir) -> Arc<dyn Storage> {
    storage::open(&StorageConfig::Sqlite {
        path: dir.path().join("mediator.sqlite"),
    })
    .await
    .unwrap()
}

async fn memory() -> Arc<dyn Storage> {
    storage::open(&StorageConfig::Memory).await.unwrap()
}

async fn postgres() -> (Arc<dyn Storage>, String) {
    let url = common::fresh_pg_database().await;
    let s = storage::open(&StorageConfig::Postgres {
        url: url.clone(),
        pool_size: 4,
        ca_file: None,
    })
    .await
    .unwrap();
    (s, url)
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let s = super::sqlite(&dir).await;
                    super::$name(std::sync::Arc::clone(&s)).await;
                    s.close().await;
                }
            )*
        }
        mod on_memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let s = super::memory().await;
                    super::$name(std::sync::Arc::clone(&s)).await;
                    s.close().await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (s, _url) = super::postgres().await;
                    super::$name(std::sync::Arc::clone(&s)).await;
                    s.close().await;
                }
            )*
        }
    };
}

contract!(
    grants_and_keylists,
    store_fetch_ack,
    forms_are_kept,
    duplicates_are_stored_once,
    acknowledged_ids_stay_duplicates_until_they_expire,
    forwards_find_their_recipient,
    quotas,
    expiry,
    notifications,
    concurrent_stores,
    one_owner_per_did,
    a_rotated_did_adds_its_keys_beside_the_prior_ones,
    concurrent_adds_have_one_owner,
    key_limit_inside_the_write,
    device_quotas_and_the_global_budget,
    deliveries_have_a_byte_budget,
    acknowledgements_are_set_based_and_bounded,
    admin_operations,
    outbox_is_bounded_and_leased,
    push_targets_are_kept_per_device,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite(&dir).await;
    s.put_grant(&grant("did:example:alice")).await.unwrap();
    s.update_keylist("did:example:alice", &[add("k1")])
        .await
        .unwrap();
    s.store(msg_by("did:example:alice", "k1", "m1", b"hello", 1), BIG)
        .await
        .unwrap();
    let limits = OutboxLimits {
        per_destination: 10,
        total: 10,
    };
    s.outbox_put(&outbound("o1", "https://a.example/"), 5, limits)
        .await
        .unwrap();
    s.close().await;
    drop(s);
    let s = sqlite(&dir).await;
    assert_eq!(
        s.key_owner("k1").await.unwrap().as_deref(),
        Some("did:example:alice")
    );
    let waiting = s.outbox_claim(5, 10, 10).await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].body, b"packed o1");
    assert_eq!(
        s.fetch(&strings(&["k1"]), 10, ANY_SIZE, 0).await.unwrap()[0].body,
        b"hello"
    );
    // The writer refuses work once closed.
    s.close().await;
    let err = s
        .store(msg_by("did:example:alice", "k1", "m2", b"x", 1), BIG)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

/// The in-memory backend keeps nothing in a file and, like the SQL backends' writers, refuses
/// work once closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_refuses_writes_once_closed() {
    let s = memory().await;
    assert_eq!(s.backend(), "memory");
    s.store(msg("k1", "m1", b"hello", 1), BIG).await.unwrap();
    s.close().await;
    let err = s.store(msg("k1", "m2", b"x", 1), BIG).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    // What it held can still be read.
    assert_eq!(
        s.fetch(&strings(&["k1"]), 10, ANY_SIZE, 0).await.unwrap()[0].body,
        b"hello"
    );
}

/// A data folder written by the first schema (before tombstones and `key_did`) opens, and its
/// keys are found by DID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_first_schema_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mediator.sqlite");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE grants (did TEXT PRIMARY KEY, routing_did TEXT NOT NULL,
                 granted_at INTEGER NOT NULL);
             CREATE TABLE keys (key TEXT PRIMARY KEY, did TEXT NOT NULL);
             CREATE INDEX keys_by_did ON keys (did, key);
             CREATE TABLE messages (seq INTEGER PRIMARY KEY, recipient TEXT NOT NULL,
                 id TEXT NOT NULL, body BLOB NOT NULL, size INTEGER NOT NULL,
                 received_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
                 UNIQUE (recipient, id));
             CREATE INDEX messages_by_queue ON messages (recipient, received_at);
             CREATE INDEX messages_by_expiry ON messages (expires_at);
             CREATE TABLE queues (recipient TEXT PRIMARY KEY, count INTEGER NOT NULL,
                 bytes INTEGER NOT NULL) WITHOUT ROWID;
             INSERT INTO grants VALUES ('did:example:old', 'did:example:m', 1);
             INSERT INTO keys VALUES ('did:example:k#key-1', 'did:example:old');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let s = sqlite(&dir).await;
    assert_eq!(
        s.find_recipient("did:example:k").await.unwrap(),
        Some(("did:example:k#key-1".into(), "did:example:old".into()))
    );
    s.store(
        msg_by("did:example:old", "did:example:k#key-1", "m", b"x", 1),
        BIG,
    )
    .await
    .unwrap();
    s.ack(&strings(&["did:example:k#key-1"]), &strings(&["m"]))
        .await
        .unwrap();
    assert_eq!(
        s.store(
            msg_by("did:example:old", "did:example:k#key-1", "m", b"x", 1),
            BIG
        )
        .await
        .unwrap(),
        StoreOutcome::Duplicate
    );
    s.close().await;
}

/// A database written by the first schema (before tombstones and `key_did`) is migrated when
/// an instance connects, and its keys are found by DID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_first_schema_is_migrated() {
    let url = common::fresh_pg_database().await;
    {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let driver = tokio::spawn(connection);
        client
            .batch_execute(
                "CREATE TABLE schema_version (version integer NOT NULL);
                 INSERT INTO schema_version VALUES (1);
                 CREATE TABLE grants (did text PRIMARY KEY, routing_did text NOT NULL,
                     granted_at bigint NOT NULL);
                 CREATE TABLE keys (key text PRIMARY KEY, did text NOT NULL);
                 CREATE TABLE messages (seq bigserial PRIMARY KEY, recipient text NOT NULL,
                     id text NOT NULL, body bytea NOT NULL, size bigint NOT NULL,
                     received_at bigint NOT NULL, expires_at bigint NOT NULL,
                     UNIQUE (recipient, id));
                 CREATE TABLE queues (recipient text PRIMARY KEY, count bigint NOT NULL,
                     bytes bigint NOT NULL);
                 INSERT INTO grants VALUES ('did:example:old', 'did:example:m', 1);
                 INSERT INTO keys VALUES ('did:example:k#key-1', 'did:example:old');",
            )
            .await
            .unwrap();
        drop(client);
        let _ = driver.await;
    }
    let s = storage::open(&StorageConfig::Postgres {
        url,
        pool_size: 2,
        ca_file: None,
    })
    .await
    .unwrap();
    assert_eq!(
        s.find_recipient("did:example:k").await.unwrap(),
        Some(("did:example:k#key-1".into(), "did:example:old".into()))
    );
    s.store(
        msg_by("did:example:old", "did:example:k#key-1", "m", b"x", 1),
        BIG,
    )
    .await
    .unwrap();
    s.ack(&strings(&["did:example:k#key-1"]), &strings(&["m"]))
        .await
        .unwrap();
    assert_eq!(
        s.store(
            msg_by("did:example:old", "did:example:k#key-1", "m", b"x", 1),
            BIG
        )
        .await
        .unwrap(),
        StoreOutcome::Duplicate
    );
    s.close().await;
}

/// How many migration files a backend has under `mediator/migrations/`, after checking they
/// are numbered 0001, 0002, ... without gaps (the runner applies them in list order, and the
/// schema version counts them).
fn migration_files(backend: &str) -> i64 {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    names.sort();
    for (i, name) in names.iter().enumerate() {
        assert!(
            name.starts_with(&format!("{:04}_", i + 1)),
            "{backend} migration {name} is out of sequence"
        );
    }
    i64::try_from(names.len()).unwrap()
}

/// Every migration file is in the list the runner applies (a file added without its
/// `include_str!`, or an entry dropped, would change the version a fresh database reports).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_schema_version_counts_the_migration_files() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite(&dir).await;
    s.close().await;
    let c = rusqlite::Connection::open(dir.path().join("mediator.sqlite")).unwrap();
    let version: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, migration_files("sqlite"));
    assert_eq!(i64::from(storage::SCHEMA_VERSION), version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_version_counts_the_migration_files() {
    let (s, url) = postgres().await;
    s.close().await;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    let version: i32 = client
        .query_one("SELECT max(version) FROM schema_version", &[])
        .await
        .unwrap()
        .get(0);
    drop(client);
    let _ = driver.await;
    assert_eq!(i64::from(version), migration_files("postgres"));
    assert_eq!(storage::SCHEMA_VERSION, u32::try_from(version).unwrap());
}

/// A database migrated by a newer mediator is refused, not written with older rules (an
/// operator who rolled the binary back must restore the backup or upgrade again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    sqlite(&dir).await.close().await;
    let newer = migration_files("sqlite") + 1;
    let c = rusqlite::Connection::open(dir.path().join("mediator.sqlite")).unwrap();
    c.execute_batch(&format!("PRAGMA user_version = {newer}"))
        .unwrap();
    drop(c);
    let refused = storage::open(&StorageConfig::Sqlite {
        path: dir.path().join("mediator.sqlite"),
    })
    .await
    .map(|_| ())
    .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Storage);
    assert!(refused.to_string().contains("newer"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_newer_schema_is_refused() {
    let (s, url) = postgres().await;
    s.close().await;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    let newer = i32::try_from(migration_files("postgres") + 1).unwrap();
    client
        .execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&newer],
        )
        .await
        .unwrap();
    drop(client);
    let _ = driver.await;
    let refused = storage::open(&StorageConfig::Postgres {
        url,
        pool_size: 2,
        ca_file: None,
    })
    .await
    .map(|_| ())
    .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Storage);
    assert!(refused.to_string().contains("newer"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_is_wal_with_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite(&dir).await;
    s.store(msg("k1", "m1", b"hello", 1), BIG).await.unwrap();
    assert!(dir.path().join("mediator.sqlite-wal").exists());
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_instances_share_data_and_notifications() {
    let (a, url) = postgres().await;
    // A second instance on the same database (migrations already ran: a no-op).
    let b = storage::open(&StorageConfig::Postgres {
        url,
        pool_size: 2,
        ca_file: None,
    })
    .await
    .unwrap();
    let mut heard_by_b = b.subscribe();
    a.put_grant(&grant("did:example:alice")).await.unwrap();
    a.update_keylist("did:example:alice", &[add("k1")])
        .await
        .unwrap();
    assert_eq!(
        b.key_owner("k1").await.unwrap().as_deref(),
        Some("did:example:alice")
    );
    a.store(msg_by("did:example:alice", "k1", "m1", b"hello", 1), BIG)
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), heard_by_b.recv())
        .await
        .expect("instance B hears of a store on instance A")
        .unwrap();
    assert_eq!(event, stored_by("k1", "did:example:alice"));
    // B acknowledges what A stored; A then sees an empty queue.
    assert_eq!(
        b.fetch(&strings(&["k1"]), 10, ANY_SIZE, 0)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        b.ack(&strings(&["k1"]), &strings(&["m1"])).await.unwrap(),
        1
    );
    assert!(a
        .fetch(&strings(&["k1"]), 10, ANY_SIZE, 0)
        .await
        .unwrap()
        .is_empty());
    // A duplicate sent to the other instance is still stored once.
    a.store(msg_by("did:example:alice", "k1", "m2", b"x", 1), BIG)
        .await
        .unwrap();
    assert_eq!(
        b.store(msg_by("did:example:alice", "k1", "m2", b"x", 1), BIG)
            .await
            .unwrap(),
        StoreOutcome::Duplicate
    );
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_listener_reconnects_and_announces_a_resync() {
    let (s, url) = postgres().await;
    let mut rx = s.subscribe();
    // Cut the LISTEN connection from the server side.
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(killed.len(), 1, "one listener connection");
    let event = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a resync after the reconnect")
        .unwrap();
    assert_eq!(event, Notification::Resync);
    s.store(msg("k1", "after", b"x", 1), BIG).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("notifications flow again")
        .unwrap();
    assert_eq!(event, stored("k1"));
    s.close().await;
}

/// The database and its -wal / -shm files hold queued messages: readable by their owner only.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite(&dir).await;
    s.store(msg("k1", "m1", b"hello", 1), BIG).await.unwrap();
    for name in [
        "mediator.sqlite",
        "mediator.sqlite-wal",
        "mediator.sqlite-shm",
    ] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}: {mode:o}");
    }
    s.close().await;
}

/// SQLite's own locks survive opening: the storage never opens (and closes) a descriptor of
/// the database file once SQLite has it, which would drop every POSIX lock of the process on
/// it. Without its lock on the -shm file, a reader connection opened later rebuilt the WAL
/// index under the writer and reads failed now and then (SQLITE_IOERR_SHORT_READ).
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_its_file_locks_after_opening() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let s = sqlite(&dir).await;
    s.store(msg("k1", "m1", b"hello", 1), BIG).await.unwrap();
    let pid = std::process::id().to_string();
    let locks = std::fs::read_to_string("/proc/locks").unwrap();
    for name in ["mediator.sqlite", "mediator.sqlite-shm"] {
        let inode = std::fs::metadata(dir.path().join(name)).unwrap().ino();
        let held = locks.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.contains(&"POSIX")
                && fields.contains(&pid.as_str())
                && fields
                    .iter()
                    .any(|f| f.rsplit(':').next() == Some(inode.to_string().as_str()))
        });
        assert!(held, "no lock of this process on {name}:\n{locks}");
    }
    s.close().await;
}

/// A URL that asks for TLS against a server without it fails, clearly, instead of falling
/// back to plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tls_asked_but_not_offered_is_refused() {
    let url = common::fresh_pg_database().await;
    let err = storage::open(&StorageConfig::Postgres {
        url: format!("{url}?sslmode=require"),
        pool_size: 2,
        ca_file: None,
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    assert!(err.to_string().contains("does not offer"), "{err}");
}

/// Sessions commit synchronously whatever the database's or the role's default says: "202
/// Accepted" means the WAL is flushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_commit_synchronously() {
    let url = common::fresh_pg_database().await;
    let name = url.rsplit('/').next().unwrap().to_owned();
    {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        let driver = tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "ALTER DATABASE {name} SET synchronous_commit = off"
            ))
            .await
            .unwrap();
        drop(client);
        let _ = driver.await;
    }
    let s = storage::postgres::PostgresStorage::connect(&url, 2)
        .await
        .unwrap();
    assert_eq!(s.session_setting("synchronous_commit").await.unwrap(), "on");
    s.close().await;
}
