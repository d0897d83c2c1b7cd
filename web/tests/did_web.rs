//! The built-in did:web client against servers on 127.0.0.1: loopback refused unless asked
//! for, redirects only on the same origin, and a did:web identity resolved, cached and used.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use didcomm_edge::crypto::KeyType;
use didcomm_edge::did::methods::web::{HttpClient, WebResolver};
use didcomm_edge::did::Relationship;
use didcomm_edge::{
    DidComm, DidResolver, ErrorKind, Identity, InMemorySecrets, Message, PackEncryptedOptions,
    ResolverChain, Secret, UnpackOptions,
};
use didcomm_edge_web::ReqwestClient;
use serde_json::json;

/// How long a server waits for requests that should not come.
const SHORT: Duration = Duration::from_secs(5);

/// A server answering `responses` in turn for up to `wait`; returns the request paths it saw.
fn serve(
    listener: TcpListener,
    responses: Vec<String>,
    wait: Duration,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + wait;
        let mut paths = vec![];
        for reply in responses {
            let mut stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => return paths,
                }
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request).to_string();
            paths.push(
                request
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("(not HTTP)")
                    .to_owned(),
            );
            let _ = stream.write_all(reply.as_bytes());
        }
        paths
    })
}

fn redirect(to: &str) -> String {
    format!(
        "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

/// An HTTP answer with a did+json `body`.
fn answer(status: u16, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/did+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The longest reason a refusal may have (as in core's hostile tests): fixed text plus an
/// excerpt of the input.
const MAX_REASON_CHARS: usize = 240;

#[tokio::test]
async fn loopback_is_not_fetched_by_default() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = serve(listener, vec![redirect("/x"); 2], SHORT);
    // The built-in resolver, no opt-in: a name resolving to loopback and the IP literal.
    for did in [
        format!("did:web:localhost%3A{port}"),
        format!("did:web:127.0.0.1%3A{port}"),
    ] {
        for web in [
            WebResolver::new(Arc::new(ReqwestClient::new(true).unwrap())),
            didcomm_edge_web::resolver().unwrap(),
        ] {
            let err = web.resolve(&did).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ResolverFailure, "{err}");
            assert!(err.reason().chars().count() <= MAX_REASON_CHARS, "{err}");
        }
    }
    // Names are checked after DNS, by the client, whatever URL it is given.
    let client = ReqwestClient::new(true).unwrap();
    for url in [
        format!("http://localhost:{port}/x"),
        format!("http://127.0.0.1:{port}/x"),
        format!("http://[::1]:{port}/x"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
    ] {
        let err = client.get(&url, 1024).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ResolverFailure, "{url}: {err}");
    }
    assert_eq!(server.join().unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn redirects_on_the_same_host_are_followed() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let did = format!("did:web:127.0.0.1%3A{port}");
    let doc = json!({"id": did}).to_string();
    let ok = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/did+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{doc}",
        doc.len()
    );
    let server = serve(listener, vec![redirect("/moved/did.json"), ok], SHORT);
    let web =
        WebResolver::new(Arc::new(ReqwestClient::new(true).unwrap())).allow_loopback_http(true);
    let found = web.resolve(&did).await.unwrap().unwrap();
    assert_eq!(found.id, did);
    assert_eq!(
        server.join().unwrap(),
        vec!["/.well-known/did.json", "/moved/did.json"]
    );
}

#[tokio::test]
async fn redirects_to_another_host_are_not_followed() {
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let target_port = target.local_addr().unwrap().port();
    let target_server = serve(target, vec![redirect("/x")], SHORT);
    let origin = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = origin.local_addr().unwrap().port();
    // Another host (localhost is another name), then another port of the same host.
    let origin_server = serve(
        origin,
        vec![
            redirect(&format!("http://localhost:{target_port}/did.json")),
            redirect(&format!("http://127.0.0.1:{target_port}/did.json")),
        ],
        SHORT,
    );
    let web =
        WebResolver::new(Arc::new(ReqwestClient::new(true).unwrap())).allow_loopback_http(true);
    let did = format!("did:web:127.0.0.1%3A{port}");
    for _ in 0..2 {
        let err = web.resolve(&did).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ResolverFailure, "{err}");
        assert!(err.reason().contains("302"), "{err}");
    }
    assert_eq!(origin_server.join().unwrap().len(), 2);
    assert_eq!(target_server.join().unwrap(), Vec::<String>::new());
}
/// A did:web document served on 127.0.0.1: fetched once, then cached for its time to live.
#[tokio::test]
async fn did_web_over_loopback_http() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let did = format!("did:web:127.0.0.1%3A{port}:users:bob");
    let bob = Identity::did_key(KeyType::X25519).unwrap();
    let mut doc = bob.document.clone();
    doc.id = did.clone();
    let doc_json = serde_json::to_string(&doc).unwrap().replace(&bob.did, &did);
    let secrets: Vec<Secret> = bob
        .secrets
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.kid = s.kid.replace(&bob.did, &did);
            s
        })
        .collect();
    let replies = vec![
        answer(200, &doc_json),
        answer(200, &doc_json.replace(&did, "did:web:elsewhere.example")),
        answer(404, "{}"),
        answer(200, &doc_json),
    ];
    let server = serve(listener, replies, Duration::from_secs(20));
    let web = || didcomm_edge_web::loopback_resolver().unwrap();
    // The engine caches the document for the did:web time to live: two resolutions, one fetch.
    let dc = DidComm::new(
        Arc::new(ResolverChain::new().with_web(web())),
        Arc::new(InMemorySecrets::new(secrets.clone())),
    );
    let first = dc.resolve(&did).await.unwrap();
    let again = dc.resolve(&did).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    // A zero time to live fetches every time: a document for another DID is refused, a 404 is
    // "not resolved", and the fourth answer is good again.
    let dc0 = DidComm::new(
        Arc::new(ResolverChain::new().with_web(web().with_ttl(Duration::ZERO))),
        Arc::new(InMemorySecrets::new(secrets)),
    );
    assert_eq!(
        dc0.resolve(&did).await.unwrap_err().kind(),
        ErrorKind::Malformed
    );
    assert_eq!(
        dc0.resolve(&did).await.unwrap_err().kind(),
        ErrorKind::DidNotResolved
    );
    let resolved = dc0.resolve(&did).await.unwrap();
    assert_eq!(resolved.kids(Relationship::KeyAgreement).len(), 1);
    // Pack to the did:web identity and unpack with its secrets.
    let msg = Message::new("t", json!({})).unwrap().to(did.as_str());
    let (packed, _) = dc
        .pack_encrypted(&msg, &did, None, None, &PackEncryptedOptions::default())
        .await
        .unwrap();
    dc0.unpack(&packed, &UnpackOptions::default())
        .await
        .unwrap();
    let paths = server.join().unwrap();
    assert_eq!(paths, vec!["/users/bob/did.json"; 4]);
    // Without the loopback opt-in the same DID is fetched over HTTPS, which fails to connect.
    let strict = ResolverChain::new().with_web(didcomm_edge_web::resolver().unwrap());
    let err = strict.resolve(&did).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResolverFailure);
}
