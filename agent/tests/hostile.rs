//! Hostile deliveries: a stranger forwards into Bob's queue, next to good messages, a message
//! larger than Bob accepts, bytes that are no DIDComm message, a message encrypted for another
//! key and a JWS with a thousand signatures by a DID nobody can resolve. Bob's pickup, polling
//! and live, hands over every good message, reports each bad one once (acknowledged, so never
//! delivered again) and never fails or loops for them. And retried control requests are fresh
//! messages (a mediator refuses a replayed message id).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use common::{config, connected, mediator, mediator_view, settings, STEP};
use didcomm_edge::protocols::basic_message::BasicMessage;
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::{Identity, IdentityMethod, Message, UnpackOptions};
use didcomm_edge_agent::transport::HttpTransport;
use didcomm_edge_agent::{AgentConfig, EdgeAgent, ErrorKind, LiveEvent};
use didcomm_edge_mediator::server::RunningServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn text(content: &str) -> Message {
    BasicMessage::new(content).to_message().unwrap()
}

fn content(m: &Message) -> String {
    BasicMessage::from_message(m).unwrap().content
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A mediator that stores messages of up to 12 MiB (so a stranger can queue one larger than
/// the device's default limit).
async fn roomy_mediator(dir: &std::path::Path) -> RunningServer {
    let mut s = settings(dir, None);
    s.max_message_bytes = 12 * 1024 * 1024;
    mediator(s).await
}

/// Forward `packed` (any JSON object) to `to` through the mediator, as a stranger would.
async fn forward_raw(server: &RunningServer, via: &EdgeAgent, to: &str, packed: &str) {
    // Built by hand: the core's router wraps only encrypted messages.
    let mediator_did = server.identity.did.clone();
    let forward = didcomm_edge::Forward::new(to, packed)
        .to_message()
        .unwrap()
        .to(mediator_did.clone());
    let (wire, _) = via
        .didcomm()
        .pack_encrypted(&forward, &mediator_did, None, None, &Default::default())
        .await
        .unwrap();
    HttpTransport::new(STEP)
        .unwrap()
        .post(&server.public_url, &wire)
        .await
        .unwrap();
}

/// A JWS of `count` signatures, each by a key of a DID no resolver knows.
fn many_signatures(to: &str, count: usize) -> String {
    let payload = format!(
        r#"{{"id":"hostile-jws","typ":"application/didcomm-plain+json","type":"https://didcomm.org/basicmessage/2.0/message","to":["{to}"],"body":{{"content":"x"}}}}"#
    );
    let signature = serde_json::json!({
        "protected": b64(br#"{"typ":"application/didcomm-signed+json","alg":"EdDSA","kid":"did:example:nobody#key-1"}"#),
        "header": {"kid": "did:example:nobody#key-1"},
        "signature": b64(&[7u8; 64]),
    });
    serde_json::json!({
        "payload": b64(payload.as_bytes()),
        "signatures": vec![signature; count],
    })
    .to_string()
}

/// Fill Bob's queue: four good messages from Alice interleaved with four hostile ones, the
/// first of which is `large` bytes long. Returns the good contents.
async fn fill_queue(
    server: &RunningServer,
    alice: &EdgeAgent,
    bob_did: &str,
    large: usize,
) -> BTreeSet<String> {
    let mut good = BTreeSet::new();
    let mut send_good = |n: usize| {
        let content = format!("good {n}");
        good.insert(content.clone());
        async move { alice.send(bob_did, text(&content)).await.unwrap() }
    };
    send_good(0).await;
    // (a) Larger than Bob accepts: it looks like a JWE, and is mostly padding.
    let big = format!(
        r#"{{"protected":"e30","recipients":[],"iv":"AAAA","tag":"AAAA","ciphertext":"{}"}}"#,
        "A".repeat(large)
    );
    forward_raw(server, alice, bob_did, &big).await;
    send_good(1).await;
    // (b) A JWE for another key, and a JSON object that is no DIDComm message at all.
    let other = Identity::generate(IdentityMethod::Peer2, None).unwrap();
    let (for_other, _) = alice
        .didcomm()
        .pack_encrypted(
            &text("not for Bob").to(other.did.clone()),
            &other.did,
            None,
            None,
            &Default::default(),
        )
        .await
        .unwrap();
    forward_raw(server, alice, bob_did, &for_other).await;
    forward_raw(
        server,
        alice,
        bob_did,
        r#"{"garbage":[1,2,3],"ciphertext":7}"#,
    )
    .await;
    send_good(2).await;
    // (c) A JWS with a thousand signatures by an unresolvable DID.
    forward_raw(server, alice, bob_did, &many_signatures(bob_did, 1000)).await;
    send_good(3).await;
    good
}

const HOSTILE: usize = 4;

/// Just over the core's default unpack limit (4 MiB), Bob's default maximum.
const OVER_DEFAULT: usize = 4 * 1024 * 1024 + 1024;

async fn drain_by_polling(bob: &EdgeAgent) -> (BTreeSet<String>, Vec<(String, ErrorKind)>) {
    let mut got = BTreeSet::new();
    let mut rejected = Vec::new();
    for _ in 0..10 {
        let batch = bob.pickup().await.unwrap();
        if batch.is_empty() {
            break;
        }
        for received in &batch.messages {
            assert!(got.insert(content(&received.message)), "handed over twice");
        }
        for failed in &batch.failed {
            rejected.push((failed.queue_id.clone(), failed.error.kind()));
        }
        batch.acknowledge().await.unwrap();
    }
    (got, rejected)
}

fn assert_rejected_once(rejected: &[(String, ErrorKind)]) {
    let ids: BTreeSet<&String> = rejected.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), rejected.len(), "reported twice: {rejected:?}");
    assert_eq!(rejected.len(), HOSTILE, "{rejected:?}");
    assert!(
        rejected
            .iter()
            .any(|(_, k)| *k == ErrorKind::Envelope(didcomm_edge::ErrorKind::TooLarge)),
        "{rejected:?}"
    );
    for (_, kind) in rejected {
        assert!(matches!(kind, ErrorKind::Envelope(_)), "{rejected:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_hands_over_good_messages_and_rejects_hostile_ones_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = roomy_mediator(dir.path()).await;
    let alice = connected(&server, config()).await;
    let bob = connected(&server, config()).await;
    let bob_did = bob.did().await.unwrap();
    let good = fill_queue(&server, &alice, &bob_did, OVER_DEFAULT).await;

    let (got, rejected) = drain_by_polling(&bob).await;
    assert_eq!(got, good);
    assert_rejected_once(&rejected);
    // Acknowledged: nothing waits, nothing comes again.
    assert_eq!(bob.status(None).await.unwrap().message_count, 0);
    assert!(bob.pickup().await.unwrap().is_empty());
    server.shutdown().await.unwrap();
}

async fn drain_live(
    bob: &EdgeAgent,
    expected: usize,
) -> (BTreeSet<String>, Vec<(String, ErrorKind)>) {
    let mut live = bob.live().await.unwrap();
    live.wait_live(STEP).await.unwrap();
    let mut got = BTreeSet::new();
    let mut rejected = Vec::new();
    while got.len() + rejected.len() < expected {
        let event = tokio::time::timeout(STEP, live.recv())
            .await
            .unwrap_or_else(|_| panic!("stuck after {got:?} and {rejected:?}"))
            .unwrap();
        match &event {
            LiveEvent::Message(m) => {
                assert!(got.insert(content(&m.message)), "handed over twice");
            }
            LiveEvent::Undecryptable(u) => rejected.push((u.queue_id.clone(), u.error.kind())),
        }
        live.ack(&event).await.unwrap();
    }
    // Nothing more comes (no second report of a rejected message).
    let more = tokio::time::timeout(Duration::from_millis(700), live.recv()).await;
    assert!(more.is_err(), "{more:?}");
    live.close().await;
    (got, rejected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_mode_hands_over_good_messages_and_rejects_hostile_ones_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = roomy_mediator(dir.path()).await;
    let alice = connected(&server, config()).await;
    let bob = connected(&server, config()).await;
    let bob_did = bob.did().await.unwrap();
    // Queued before live mode starts: the first push carries all of them at once.
    let good = fill_queue(&server, &alice, &bob_did, OVER_DEFAULT).await;

    let (got, rejected) = drain_live(&bob, good.len() + HOSTILE).await;
    assert_eq!(got, good);
    assert_rejected_once(&rejected);
    assert_eq!(bob.status(None).await.unwrap().message_count, 0);
    server.shutdown().await.unwrap();
}

/// A small device: it opens messages of up to 64 KiB and reads replies of up to 1 MiB.
fn small_device() -> AgentConfig {
    config()
        .max_message_size(64 * 1024)
        .max_delivery_size(1024 * 1024)
}

/// Larger than the small device accepts; with the rest of the queue, more than one delivery
/// it reads can carry, while a delivery of it alone fits.
const OVER_SMALL: usize = 450 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_device_asks_for_fewer_messages_and_rejects_what_it_does_not_accept() {
    let dir = tempfile::tempdir().unwrap();
    let server = roomy_mediator(dir.path()).await;
    let alice = connected(&server, config()).await;
    let bob = connected(&server, small_device()).await;
    let bob_did = bob.did().await.unwrap();
    let good = fill_queue(&server, &alice, &bob_did, OVER_SMALL).await;

    let (got, rejected) = drain_by_polling(&bob).await;
    assert_eq!(got, good);
    assert_rejected_once(&rejected);
    assert_eq!(bob.status(None).await.unwrap().message_count, 0);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_push_too_large_to_read_is_drained_by_delivery_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = roomy_mediator(dir.path()).await;
    let alice = connected(&server, config()).await;
    let bob = connected(&server, small_device()).await;
    let bob_did = bob.did().await.unwrap();
    let good = fill_queue(&server, &alice, &bob_did, OVER_SMALL).await;

    let (got, rejected) = drain_live(&bob, good.len() + HOSTILE).await;
    assert_eq!(got, good);
    assert_rejected_once(&rejected);
    assert_eq!(bob.status(None).await.unwrap().message_count, 0);

    // Drained, the stream is live again: a new message is pushed.
    let mut live = bob.live().await.unwrap();
    live.wait_live(STEP).await.unwrap();
    alice.send(&bob_did, text("after")).await.unwrap();
    let event = tokio::time::timeout(STEP, live.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(content(&event.received().unwrap().message), "after");
    live.ack(&event).await.unwrap();
    live.close().await;
    server.shutdown().await.unwrap();
}

/// An HTTP proxy in front of the mediator that records every request body and can hang up
/// instead of answering (the request was handled; the client never hears so).
struct Recorder {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<String>>>,
    drop_answers: Arc<AtomicUsize>,
}

impl Recorder {
    async fn start(upstream: SocketAddr) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
        let drop_answers = Arc::new(AtomicUsize::new(0));
        let (b, d) = (Arc::clone(&bodies), Arc::clone(&drop_answers));
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, upstream, Arc::clone(&b), Arc::clone(&d)));
            }
        });
        Recorder {
            addr,
            bodies,
            drop_answers,
        }
    }

    /// Hang up instead of answering the next `n` requests.
    fn drop_answers(&self, n: usize) {
        self.drop_answers.store(n, Ordering::SeqCst);
    }

    fn count(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }

    /// The (type, id) of the requests recorded since `from`, as the mediator reads them.
    async fn requests_since(&self, server: &RunningServer, from: usize) -> Vec<(String, String)> {
        let bodies: Vec<String> = self.bodies.lock().unwrap()[from..].to_vec();
        let view = mediator_view(server);
        let mut out = Vec::new();
        for body in bodies {
            let (m, _) = view.unpack(&body, &UnpackOptions::default()).await.unwrap();
            out.push((m.type_, m.id));
        }
        out
    }
}

async fn serve(
    mut conn: TcpStream,
    upstream: SocketAddr,
    bodies: Arc<Mutex<Vec<String>>>,
    drop_answers: Arc<AtomicUsize>,
) {
    let client = reqwest::Client::new();
    while let Some((path, body)) = read_request(&mut conn).await {
        bodies.lock().unwrap().push(body.clone());
        let answer = client
            .post(format!("http://{upstream}{path}"))
            .header("content-type", "application/didcomm-encrypted+json")
            .body(body)
            .send()
            .await;
        if drop_answers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return;
        }
        let Ok(answer) = answer else { return };
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap_or_default();
        let head = format!(
            "HTTP/1.1 {status} Answer\r\ncontent-type: application/didcomm-encrypted+json\r\ncontent-length: {}\r\n\r\n",
            text.len()
        );
        if conn.write_all(head.as_bytes()).await.is_err()
            || conn.write_all(text.as_bytes()).await.is_err()
        {
            return;
        }
    }
}

/// One HTTP/1.1 request with a `content-length` body: its path and body.
async fn read_request(conn: &mut TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..header_end].to_vec()).ok()?;
    let path = head.split_whitespace().nth(1)?.to_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8(buf[header_end..header_end + length].to_vec()).ok()?;
    Some((path, body))
}

fn assert_distinct_ids(requests: &[(String, String)], what: &str) {
    let ids: BTreeSet<&String> = requests.iter().map(|(_, id)| id).collect();
    assert_eq!(
        ids.len(),
        requests.len(),
        "{what}: an id was sent twice: {requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retried_control_requests_are_fresh_messages() {
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mediator_addr = free.local_addr().unwrap();
    drop(free);
    let recorder = Recorder::start(mediator_addr).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), Some(mediator_addr));
    s.public_url = Some(format!("http://{}", recorder.addr));
    let server = mediator(s).await;

    // Mediation request and keylist update, each answer lost once: retried as new messages,
    // and the retry's answer is taken as the answer to the request.
    let bob = EdgeAgent::new(config()).unwrap();
    recorder.drop_answers(1);
    let from = recorder.count();
    bob.connect(&server.invitation.url).await.unwrap();
    let requests = recorder.requests_since(&server, from).await;
    assert!(requests.len() >= 3, "{requests:?}");
    assert_distinct_ids(&requests, "connect");
    let bob_did = bob.did().await.unwrap();

    // Every control request, its first answer lost.
    let alice = connected(&server, config()).await;
    alice.send(&bob_did, text("hello")).await.unwrap();
    let steps: [&str; 5] = ["keylist", "status", "pickup", "ping", "rotate"];
    for step in steps {
        recorder.drop_answers(1);
        let from = recorder.count();
        match step {
            "keylist" => drop(bob.keylist().await.unwrap()),
            "status" => assert_eq!(bob.status(None).await.unwrap().message_count, 1),
            "pickup" => {
                let batch = bob.pickup().await.unwrap();
                assert_eq!(batch.messages.len(), 1);
                recorder.drop_answers(1);
                batch.acknowledge().await.unwrap();
            }
            "ping" => drop(bob.ping_mediator().await.unwrap()),
            _ => drop(bob.rotate().await.unwrap()),
        }
        let requests = recorder.requests_since(&server, from).await;
        assert!(requests.len() >= 2, "{step}: {requests:?}");
        assert_distinct_ids(&requests, step);
    }
    assert_eq!(bob.status(None).await.unwrap().message_count, 0);

    // Every answer lost: as many distinct messages as attempts.
    recorder.drop_answers(3);
    let from = recorder.count();
    let e = bob.ping_mediator().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unreachable, "{e}");
    let requests = recorder.requests_since(&server, from).await;
    assert_eq!(requests.len(), 3, "{requests:?}");
    assert_distinct_ids(&requests, "ping");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_too_large_for_any_delivery_is_a_typed_error_not_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let server = roomy_mediator(dir.path()).await;
    let alice = connected(&server, config()).await;
    // Reads deliveries of at most 16 KiB × 2 + 64 KiB = 96 KiB.
    let tiny = config().max_message_size(16 * 1024).max_delivery_size(0);
    let bob = connected(&server, tiny).await;
    let bob_did = bob.did().await.unwrap();
    let big = format!(
        r#"{{"protected":"e30","ciphertext":"{}"}}"#,
        "A".repeat(200 * 1024)
    );
    forward_raw(&server, &alice, &bob_did, &big).await;

    let too_large = ErrorKind::Envelope(didcomm_edge::ErrorKind::TooLarge);
    let e = bob.pickup().await.unwrap_err();
    assert_eq!(e.kind(), too_large, "{e}");
    assert!(e.reason().contains("max_delivery_size"), "{e}");
    // Live mode stops with the same error instead of reconnecting for ever.
    let mut live = bob.live().await.unwrap();
    let e = tokio::time::timeout(STEP, live.recv())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), too_large, "{e}");
    // Nothing was deleted: the operator (or a device with a larger limit) can still act.
    assert_eq!(bob.status(None).await.unwrap().message_count, 1);
    server.shutdown().await.unwrap();
}
