//! Hostile clients against the real server, in process, over loopback only: rate limits per
//! address and per DID, the connection cap, slowloris headers and bodies, idle WebSockets,
//! unpacking that cannot stall the runtime, replays, the attachments cap and oversized input.
//! Every test is bounded in requests and time and stops by itself.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::{
    call, connect_from, other_peer_available, raw_exchange, status_of, test_settings, World,
    OTHER_PEER, STEP,
};
use didcomm_edge::protocols::mediation::{MediationEvent, MediationVersion, RecipientUpdateItem};
use didcomm_edge::protocols::report_problem::ProblemReport;
use didcomm_edge::protocols::trust_ping::{Ping, PING_RESPONSE_TYPE};
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::{
    Config as EngineConfig, DidComm, DidDocument, DidResolver, Forward, InMemoryDidResolver,
    Message, PackEncryptedOptions, ResolverChain,
};
use didcomm_edge_mediator::mediator::{HandlerLimits, MediatorHandler};
use didcomm_edge_mediator::server;
use didcomm_edge_testkit::{Device, HttpConnection};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn post_json_request(body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: m\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn post_packed_request(packed: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: m\r\nContent-Type: application/didcomm-encrypted+json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{packed}",
        packed.len()
    )
    .into_bytes()
}

/// A packed trust ping from `device` asking for a response on the connection.
async fn ping(device: &Device) -> String {
    device.request(&Ping::default()).await.unwrap().0
}

fn problem_code(report: &Message) -> String {
    ProblemReport::from_message(report).unwrap().code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_address_limit_is_shared_by_all_its_connections() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), None);
    // One token per 1000 s: no refill during the test.
    settings.rate_limit_per_second = 0.001;
    settings.rate_limit_burst = 3.0;
    let world = World::start(settings).await;
    let addr = world.server.local_addr;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..5 {
        // A new connection each time: the budget belongs to the address.
        let mut http = world.http().await;
        let r = http
            .request("POST", "/", Some("application/json"), b"{}".to_vec())
            .await
            .unwrap();
        if r.status == 429 {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body["error"], "rate_limited");
            retry_after = Some(());
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses, [400, 400, 400, 429, 429]);
    assert!(retry_after.is_some());
    let answer = raw_exchange(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        addr,
        &post_json_request("{}"),
    )
    .await;
    assert_eq!(status_of(&answer), 429, "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: "),
        "{answer}"
    );
    // Another address has its own budget.
    if other_peer_available() {
        let answer = raw_exchange(OTHER_PEER, addr, &post_json_request("{}")).await;
        assert_eq!(status_of(&answer), 400, "{answer}");
    }
    world.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_did_limit_follows_the_sender_over_connections_and_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), None);
    settings.did_rate_limit_per_second = 0.001;
    settings.did_rate_limit_burst = 4.0;
    let world = World::start(settings).await;
    let addr = world.server.local_addr;
    // Enrolment spends two of alice's four.
    let (alice, _) = world.enrolled(MediationVersion::V3).await;
    let mut one = world.http().await;
    let pong = call(&mut one, &alice, &ping(&alice).await).await;
    assert_eq!(pong.type_, PING_RESPONSE_TYPE);
    // The fourth from another address (where one exists).
    let fourth = ping(&alice).await;
    if other_peer_available() {
        let answer = raw_exchange(OTHER_PEER, addr, &post_packed_request(&fourth)).await;
        assert_eq!(status_of(&answer), 200, "{answer}");
    } else {
        let mut three = world.http().await;
        call(&mut three, &alice, &fourth).await;
    }
    // The fifth, on yet another connection: refused.
    let mut two = world.http().await;
    let r = two.post_packed(&ping(&alice).await).await.unwrap();
    assert_eq!(r.status, 429, "{}", r.text());
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["error"], "rate_limited");
    // Bob, same address, is not held to alice's budget.
    let bob = world.device(MediationVersion::V3);
    let pong = call(&mut two, &bob, &ping(&bob).await).await;
    assert_eq!(pong.type_, PING_RESPONSE_TYPE);
    world.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), None);
    settings.max_connections = 2;
    let world = World::start(settings).await;
    let addr = world.server.local_addr;
    let mut a = world.http().await;
    let mut b = world.http().await;
    assert_eq!(a.get("/healthz").await.unwrap().status, 200);
    assert_eq!(b.get("/healthz").await.unwrap().status, 200);
    let answer = raw_exchange(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(answer, "", "a third connection must be closed unanswered");
    // A closed connection frees its place (the server notices asynchronously).
    drop(a);
    let mut served = false;
    for _ in 0..100 {
        let answer = raw_exchange(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            addr,
            b"GET /healthz HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n",
        )
        .await;
        if status_of(&answer) == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "a place freed by a closed connection is reused");
    assert_eq!(b.get("/healthz").await.unwrap().status, 200);
    world.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_sent_one_byte_at_a_time_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), None);
    settings.header_timeout_seconds = 1;
    let world = World::start(settings).await;
    let stream = connect_from(IpAddr::V4(Ipv4Addr::LOCALHOST), world.server.local_addr).await;
    let (mut read, mut write) = stream.into_split();
    // The reader sees the server close the connection.
    let closed = tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = read.read_to_end(&mut sink).await;
    });
    // Fifteen seconds of headers, one byte a second, never finished.
    let header = b"GET /healthz HTTP/1.1\r\nHost: m\r\nX-Slow: aaaaaaaaaaaaaaaa";
    let mut sent = 0;
    for byte in header.iter().take(15) {
        if closed.is_finished() || write.write_all(&[*byte]).await.is_err() {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        closed.is_finished(),
        "the connection is still open after {sent} slow header bytes"
    );
    assert!(sent < 15);
    world.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), None);
    settings.header_timeout_seconds = 1;
    let world = World::start(settings).await;
    let mut stream = connect_from(IpAddr::V4(Ipv4Addr::LOCALHOST), world.server.local_addr).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: m\r\n\r\n")
        .await
        .unwrap();
    // The answer, then (kept alive, nothing more sent) the server closes the connection.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(STEP, stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "an idle kept-alive connection stayed open");
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(status_of(&answer), 200, "{answer}");
    world.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), None);
    settings.body_timeout_seconds = 1;
    let world = World::start(settings).await;
    // 100 bytes announced, 10 sent, then nothing.
    let answer = raw_exchange(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        world.server.local_addr,
        b"POST / HTTP/1.1\r\nHost: m\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"a\": \"bb",
    )
    .await;
    assert_eq!(status_of(&answer), 408, "{answer:?}");
    assert!(answer.contains("timed_out"), "{answer}");
    world.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_websocket_is_closed_and_a_pinging_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), None);
    settings.ws_idle_timeout_seconds = 1;
    let world = World::start(settings).await;

    // Pings every 300 ms (as the agent's live mode does, every 20 s by default, against the
    // default timeout of 120 s) keep a socket open past several timeouts.
    let mut pinging = world.ws().await;
    for _ in 0..10 {
        pinging.ping().await.unwrap();
        // Read what came back meanwhile (the pong is skipped); a close would show up here.
        let next = pinging.next(Duration::from_millis(300)).await;
        assert!(next.is_ok(), "closed while pinging: {next:?}");
    }
    // It still answers requests.
    let device = world.device(MediationVersion::V3);
    pinging.send(&ping(&device).await).await.unwrap();
    let reply = pinging.next(STEP).await.unwrap().expect("a reply in time");
    assert_eq!(
        device.unpack(&reply).await.unwrap().type_,
        PING_RESPONSE_TYPE
    );

    // A socket that says nothing is closed.
    let mut silent = world.ws().await;
    let next = silent.next(STEP).await;
    assert!(next.is_err(), "a silent socket stayed open: {next:?}");
    world.server.shutdown().await.unwrap();
}

/// A DID resolver that blocks its thread (like CPU-bound unpacking would) while resolving
/// the DIDs it was told to hold, until released; it releases itself after 15 s so that a
/// failing test still ends.
struct HoldingResolver {
    inner: ResolverChain,
    hold: Mutex<HashSet<String>>,
    entered: AtomicUsize,
    released: Mutex<bool>,
    wake: Condvar,
}

impl HoldingResolver {
    fn release(&self) {
        *self.released.lock().unwrap() = true;
        self.wake.notify_all();
    }
}

#[async_trait]
impl DidResolver for HoldingResolver {
    async fn resolve(&self, did: &str) -> didcomm_edge::Result<Option<DidDocument>> {
        if self.hold.lock().unwrap().contains(did) {
            self.entered.fetch_add(1, Ordering::SeqCst);
            let released = self.released.lock().unwrap();
            let _ = self
                .wake
                .wait_timeout_while(released, Duration::from_secs(15), |r| !*r)
                .unwrap();
        }
        self.inner.resolve(did).await
    }
}

/// A mediator whose engine resolves through a [`HoldingResolver`].
async fn holding_world(
    workers: usize,
    queue: usize,
) -> (World, Arc<HoldingResolver>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), None);
    settings.unpack_workers = workers;
    settings.unpack_queue = queue;
    let limits = HandlerLimits::from_settings(&settings);
    let data_dir = dir.path().to_path_buf();
    let holding = Arc::new(HoldingResolver {
        inner: ResolverChain::new().without_web(),
        hold: Mutex::new(HashSet::new()),
        entered: AtomicUsize::new(0),
        released: Mutex::new(false),
        wake: Condvar::new(),
    });
    let resolver = Arc::clone(&holding);
    let server = server::start_with(settings, move |mediator| {
        // The identity the server just created, for the engine's secrets and own document.
        let identity = didcomm_edge_mediator::identity::load_or_create(&data_dir, &[]).unwrap();
        // The mediator's own documents first, then the holding resolver.
        struct Chain(Arc<HoldingResolver>, InMemoryDidResolver);
        #[async_trait]
        impl DidResolver for Chain {
            async fn resolve(&self, did: &str) -> didcomm_edge::Result<Option<DidDocument>> {
                match self.1.resolve(did).await? {
                    Some(doc) => Ok(Some(doc)),
                    None => self.0.resolve(did).await,
                }
            }
        }
        let chain = Chain(
            Arc::clone(&resolver),
            InMemoryDidResolver::new(identity.wallet.did_docs.iter().cloned()),
        );
        let mut slowed = (*mediator).clone();
        slowed.didcomm = Arc::new(DidComm::with_config(
            Arc::new(chain),
            Arc::new(identity.wallet.secrets_store()),
            EngineConfig::default(),
        ));
        Arc::new(MediatorHandler::with_limits(Arc::new(slowed), &limits))
    })
    .await
    .unwrap();
    (World { server }, holding, dir)
}

/// Wait (bounded) until `n` requests are held in the resolver.
async fn until_held(holding: &HoldingResolver, n: usize) {
    for _ in 0..400 {
        if holding.entered.load(Ordering::SeqCst) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{n} requests never reached the resolver");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_unpacking_blocks() {
    let (world, holding, _dir) = holding_world(2, 8).await;
    let addr = world.server.local_addr;
    let mediator = world.mediator_did();
    let order = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut pings = Vec::new();
    // More held requests than the runtime has worker threads.
    for i in 0..3 {
        let device = Device::new(&mediator, MediationVersion::V3).unwrap();
        holding.hold.lock().unwrap().insert(device.did.clone());
        let packed = ping(&device).await;
        let order = Arc::clone(&order);
        pings.push(tokio::spawn(async move {
            let mut http = HttpConnection::connect(addr).await.unwrap();
            let r = http.post_packed(&packed).await.unwrap();
            order.lock().unwrap().push(format!("ping {i}"));
            r.status
        }));
    }
    until_held(&holding, 2).await;
    let health = tokio::spawn({
        let order = Arc::clone(&order);
        async move {
            let mut http = HttpConnection::connect(addr).await.unwrap();
            let status = http.get("/healthz").await.unwrap().status;
            order.lock().unwrap().push("healthz".into());
            status
        }
    });
    let health_status = tokio::time::timeout(STEP, health).await.unwrap().unwrap();
    holding.release();
    for p in pings {
        assert_eq!(tokio::time::timeout(STEP, p).await.unwrap().unwrap(), 200);
    }
    assert_eq!(health_status, 200);
    let order = order.lock().unwrap().clone();
    assert_eq!(
        order.first().map(String::as_str),
        Some("healthz"),
        "{order:?}"
    );
    world.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_unpack_queue_refuses_at_once() {
    // One worker, one waiting place.
    let (world, holding, _dir) = holding_world(1, 1).await;
    let addr = world.server.local_addr;
    let mediator = world.mediator_did();
    let mut devices = Vec::new();
    for _ in 0..4 {
        let device = Device::new(&mediator, MediationVersion::V3).unwrap();
        holding.hold.lock().unwrap().insert(device.did.clone());
        devices.push(device);
    }
    let send = |packed: String| {
        tokio::spawn(async move {
            let mut http = HttpConnection::connect(addr).await.unwrap();
            http.post_packed(&packed).await.unwrap()
        })
    };
    let first = send(ping(&devices[0]).await);
    until_held(&holding, 1).await;
    // Three more while the first is held: one may wait, two are refused.
    let mut rest = Vec::new();
    for device in &devices[1..] {
        rest.push(send(ping(device).await));
    }
    // Wait (bounded) until two have finished, whichever they are.
    for _ in 0..400 {
        if rest.iter().filter(|r| r.is_finished()).count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let mut refused = 0;
    let mut waiting = Vec::new();
    for r in rest {
        if r.is_finished() {
            // Finished while the first is still held: refused at once.
            let r = r.await.unwrap();
            assert_eq!(r.status, 503, "{}", r.text());
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(body["error"], "unavailable");
            refused += 1;
        } else {
            waiting.push(r);
        }
    }
    assert_eq!(
        holding.entered.load(Ordering::SeqCst),
        1,
        "refusals came while the first request was held"
    );
    assert_eq!(refused, 2);
    holding.release();
    assert_eq!(
        tokio::time::timeout(STEP, first)
            .await
            .unwrap()
            .unwrap()
            .status,
        200
    );
    for r in waiting {
        assert_eq!(
            tokio::time::timeout(STEP, r).await.unwrap().unwrap().status,
            200
        );
    }
    world.server.shutdown().await.unwrap();
}

/// `message` from `device` to the mediator with `created_time` set to `created`, packed.
async fn packed_at(
    device: &Device,
    message: &impl ProtocolMessage,
    created: Option<u64>,
) -> String {
    let mut message = device.to_mediator(message.to_message().unwrap());
    message.created_time = created;
    device.pack(&message).await.unwrap()
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_and_stale_requests_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(test_settings(dir.path(), None)).await;
    let (mut alice, _) = world.enrolled(MediationVersion::V3).await;
    let mut http = world.http().await;

    // The same authcrypted request twice: the second is a replay.
    let packed = ping(&alice).await;
    assert_eq!(
        call(&mut http, &alice, &packed).await.type_,
        PING_RESPONSE_TYPE
    );
    let report = common::refused(&mut http, &alice, &packed, 409).await;
    assert_eq!(problem_code(&report), "e.p.msg.replay");
    // Also on another connection.
    let mut other = world.http().await;
    let report = common::refused(&mut other, &alice, &packed, 409).await;
    assert_eq!(problem_code(&report), "e.p.msg.replay");

    // Too old, too far ahead: refused; without created_time: accepted once.
    for created in [now_s() - 3600, now_s() + 3600] {
        let stale = packed_at(&alice, &Ping::default(), Some(created)).await;
        let report = common::refused(&mut http, &alice, &stale, 409).await;
        assert_eq!(problem_code(&report), "e.p.req.time");
    }
    let timeless = packed_at(&alice, &Ping::default(), None).await;
    assert_eq!(
        call(&mut http, &alice, &timeless).await.type_,
        PING_RESPONSE_TYPE
    );
    let report = common::refused(&mut http, &alice, &timeless, 409).await;
    assert_eq!(problem_code(&report), "e.p.msg.replay");

    // A replayed keylist-update changes nothing: add, remove, replay the add.
    let key = alice.new_recipient_did(&world.mediator_did()).unwrap();
    let add = alice
        .keylist_update(vec![RecipientUpdateItem::add(key.clone())])
        .await
        .unwrap();
    call(&mut http, &alice, &add).await;
    let remove = alice
        .keylist_update(vec![RecipientUpdateItem::remove(key.clone())])
        .await
        .unwrap();
    let reply = call(&mut http, &alice, &remove).await;
    alice.handle_mediation(&reply).unwrap();
    common::refused(&mut http, &alice, &add, 409).await;
    let query = alice.keylist_query(None).await.unwrap();
    let reply = call(&mut http, &alice, &query).await;
    let MediationEvent::Listed { list } = alice.handle_mediation(&reply).unwrap() else {
        panic!("not a list: {reply:?}")
    };
    let listed = serde_json::to_string(&list).unwrap();
    assert!(
        !listed.contains(&key),
        "the replayed add came back: {listed}"
    );

    // Forwards stay idempotent: the same routed message twice is accepted twice.
    let bob = world.device(MediationVersion::V3);
    let (_, recipient) = world.enrolled(MediationVersion::V3).await;
    let routed = bob.send(&recipient, json!({"n": 1})).await.unwrap();
    for _ in 0..2 {
        let r = http.post_packed(&routed.message).await.unwrap();
        assert_eq!(r.status, 202, "{}", r.text());
    }
    world.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_with_too_many_attachments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), None);
    settings.max_forward_attachments = 2;
    let world = World::start(settings).await;
    let (_, recipient) = world.enrolled(MediationVersion::V3).await;
    let sender = world.device(MediationVersion::V3);
    let mut messages = Vec::new();
    for n in 0..3 {
        let inner = Message::new(
            "https://didcomm.org/basicmessage/2.0/message",
            json!({"n": n}),
        )
        .unwrap()
        .from(sender.did.clone())
        .to(recipient.clone());
        let (packed, _) = sender
            .didcomm
            .pack_encrypted(
                &inner,
                &recipient,
                Some(&sender.did),
                None,
                &PackEncryptedOptions::default(),
            )
            .await
            .unwrap();
        messages.push(packed);
    }
    let mediator = world.mediator_did();
    let forward_of = |messages: Vec<String>| {
        let sender = sender.clone();
        let mediator = mediator.clone();
        let recipient = recipient.clone();
        async move {
            let mut forward = Forward::new(recipient, String::new());
            forward.messages = messages;
            let (packed, _) = sender
                .didcomm
                .pack_encrypted(
                    &forward.to_message().unwrap(),
                    &mediator,
                    None,
                    None,
                    &PackEncryptedOptions::default(),
                )
                .await
                .unwrap();
            packed
        }
    };
    let mut http = world.http().await;
    let r = http
        .post_packed(&forward_of(messages.clone()).await)
        .await
        .unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(
        r.text().contains("more than the limit of 2"),
        "{}",
        r.text()
    );
    let metrics = http.get("/metrics").await.unwrap().text();
    assert!(
        !metrics.contains("didcomm_mediator_messages_stored_total 1")
            && !metrics.contains("didcomm_mediator_messages_stored_total 3"),
        "nothing stored: {metrics}"
    );
    let r = http
        .post_packed(&forward_of(messages[..2].to_vec()).await)
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.text());
    world.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_hostile_input_gets_short_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(test_settings(dir.path(), None)).await;
    let mut http = world.http().await;
    // 1 MiB and one byte over the default limit.
    let big = vec![b'a'; 1024 * 1024 + 1];
    let r = http
        .request("POST", "/", Some("application/json"), big)
        .await
        .unwrap();
    assert_eq!(r.status, 413);
    assert!(r.body.len() < 200, "{}", r.text());
    // A JWS whose kid is a 20,000-character DID: the refusal quotes little of it.
    let kid = format!("did:key:z{}", "2".repeat(20_000));
    let protected =
        base64url(&json!({"typ": "application/didcomm-signed+json", "alg": "EdDSA"}).to_string());
    let jws = json!({
        "payload": base64url("{}"),
        "signatures": [{"protected": protected, "signature": base64url("x"), "header": {"kid": kid}}],
    })
    .to_string();
    // The refused body was not read, so that connection is closed: a new one.
    let mut http = world.http().await;
    let r = http
        .request(
            "POST",
            "/",
            Some("application/didcomm-signed+json"),
            jws.into_bytes(),
        )
        .await
        .unwrap();
    assert!((400..500).contains(&r.status), "{}", r.status);
    assert!(r.body.len() < 400, "reason of {} bytes", r.body.len());
    assert!(!r.text().contains(&"2".repeat(65)), "{}", r.text());
    world.server.shutdown().await.unwrap();
}

fn base64url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}
