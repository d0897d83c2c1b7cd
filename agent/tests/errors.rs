//! Network failures are typed: an unreachable mediator, one that does not answer in time, and
//! refusals (an HTTP status with its reason, or a DIDComm problem report).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::{config, connected, mediator, settings};
use didcomm_edge::protocols::oob::Invitation;
use didcomm_edge::{DidCommService, Identity, IdentityMethod};
use didcomm_edge_agent::{AgentState, EdgeAgent, ErrorKind, RetryPolicy, StoredIdentity};
use didcomm_edge_mediator::config::GrantPolicy;
use tokio::net::TcpListener;

/// An invitation from a fresh mediator-like DID whose endpoint is `url`.
fn invitation_to(url: &str) -> String {
    let id = Identity::generate(IdentityMethod::Peer2, Some(&DidCommService::new(url))).unwrap();
    Invitation::new(id.did).unwrap().to_url(url).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_mediator_is_typed_after_retries() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let retry = RetryPolicy {
        attempts: 3,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(100),
    };
    let agent = EdgeAgent::new(config().retry(retry)).unwrap();
    let started = Instant::now();
    let e = agent
        .connect(&invitation_to(&format!("http://{addr}")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unreachable, "{e}");
    assert!(e.reason().contains("after 3 attempts"), "{e}");
    // Two backoffs of 100 ms were waited.
    assert!(started.elapsed() >= Duration::from_millis(200));
    // Nothing to talk to yet.
    assert_eq!(
        agent.pickup().await.unwrap_err().kind(),
        ErrorKind::NotConnected
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_mediator_times_out() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let agent = EdgeAgent::new(
        config()
            .request_timeout(Duration::from_millis(300))
            .retry(RetryPolicy::none()),
    )
    .unwrap();
    let e = agent
        .connect(&invitation_to(&format!("http://{addr}")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e}");
    assert!(e.is_transient());
    hold.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_the_reason_and_the_problem_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), None);
    s.grant_policy = GrantPolicy::AllowList;
    s.grant_allow_list = vec!["did:example:someone-else".into()];
    let strict = mediator(s).await;
    let agent = EdgeAgent::new(config()).unwrap();
    let e = agent.connect(&strict.invitation.url).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    assert!(e.reason().contains("denied"), "{e}");
    strict.shutdown().await.unwrap();

    // A device whose control DID holds no grant is refused with a problem report.
    let dir = tempfile::tempdir().unwrap();
    let server = mediator(settings(dir.path(), None)).await;
    let alice = connected(&server, config()).await;
    let mut state: AgentState = alice.state().await;
    let impostor = Identity::generate(IdentityMethod::Peer2, None).unwrap();
    state.control = StoredIdentity {
        did: impostor.did.clone(),
        wallet: impostor.to_wallet().unwrap(),
    };
    let impostor = EdgeAgent::from_state(state, None, config()).unwrap();
    let e = impostor.pickup().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    assert_eq!(e.http_status(), Some(403));
    let report = e.problem_report().expect("a problem report");
    assert_eq!(report.code, "e.p.req.not-allowed");
    assert!(!e.is_transient());
    // Live mode is refused the same way, and the stream says so and stops.
    let mut live = impostor.live().await.unwrap();
    let e = tokio::time::timeout(common::STEP, live.recv())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    assert_eq!(
        e.problem_report().map(|r| r.code.as_str()),
        Some("e.p.req.not-allowed")
    );
    assert_eq!(live.recv().await.unwrap_err().kind(), ErrorKind::Closed);

    // A send to a DID the mediator does not serve: its JSON reason, HTTP 400.
    let unknown = Identity::generate(
        IdentityMethod::Peer2,
        Some(&DidCommService::new(
            alice.state().await.mediator.unwrap().did,
        )),
    )
    .unwrap();
    let e = alice
        .send(
            &unknown.did,
            didcomm_edge::Message::new("https://example.org/x/1.0/y", serde_json::json!({}))
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Refused, "{e}");
    assert_eq!(e.http_status(), Some(400));
    assert!(e.reason().contains("unknown_recipient"), "{e}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_whose_answer_was_lost_is_stored_once() {
    // The mediator is reached through a proxy that can swallow its answers: the request is
    // handled (the message stored) but the sender never hears so.
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mediator_addr = free.local_addr().unwrap();
    drop(free);
    let proxy = common::Proxy::start(mediator_addr).await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), Some(mediator_addr));
    s.public_url = Some(format!("http://{}", proxy.addr));
    let server = mediator(s).await;
    let alice = connected(&server, config()).await;
    let bob = connected(&server, config()).await;
    let bob_did = bob.did().await.unwrap();

    let message = didcomm_edge::protocols::basic_message::BasicMessage::new("exactly once");
    let message = didcomm_edge::protocols::ProtocolMessage::to_message(&message).unwrap();
    proxy.drop_answers(true);
    proxy.cut(); // pooled connections too
    let e = alice
        .send(&bob_did, message.clone())
        .await
        .map(|sent| sent.id)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unreachable, "{e}");
    assert!(e.reason().contains("after 3 attempts"), "{e}");
    proxy.drop_answers(false);
    // Three attempts reached the mediator with the same bytes: stored once.
    assert_eq!(bob.status(None).await.unwrap().message_count, 1);
    // The application sends the same message again: the same bytes go out, still once.
    alice.send(&bob_did, message).await.unwrap();
    assert_eq!(bob.status(None).await.unwrap().message_count, 1);
    let batch = bob.pickup().await.unwrap();
    assert_eq!(batch.messages.len(), 1);
    batch.acknowledge().await.unwrap();
    server.shutdown().await.unwrap();
}
