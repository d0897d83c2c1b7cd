//! TLS on the service port (certificates made here with rcgen, loopback only): HTTPS, WSS with
//! live delivery, a SIGHUP reload of the real binary, and the reverse-proxy mode's
//! `Forwarded` / `X-Forwarded-For` honoured only from trusted proxies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    other_peer_available, raw_exchange, status_of, test_settings, World, OTHER_PEER, STEP,
};
use didcomm_edge::protocols::mediation::{MediationEvent, MediationVersion, RecipientUpdateItem};
use didcomm_edge::protocols::pickup::{LiveDeliveryChange, PickupVersion, DELIVERY_V3};
use didcomm_edge::protocols::trust_ping::{Ping, PING_RESPONSE_TYPE};
use didcomm_edge_testkit::{Device, MediatorProcess};
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// A self-signed certificate for `localhost` and 127.0.0.1.
struct TestCert {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

fn make_cert() -> TestCert {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    TestCert {
        cert_pem: made.cert.pem(),
        key_pem: made.signing_key.serialize_pem(),
        der: made.cert.der().clone(),
    }
}

/// Write the certificate and key where the settings name them.
fn write_cert(dir: &Path, cert: &TestCert) -> (PathBuf, PathBuf) {
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    // Written next to the files and renamed, as certificate tools do.
    std::fs::write(dir.join("cert.pem.new"), &cert.cert_pem).unwrap();
    std::fs::write(dir.join("key.pem.new"), &cert.key_pem).unwrap();
    std::fs::rename(dir.join("cert.pem.new"), &cert_file).unwrap();
    std::fs::rename(dir.join("key.pem.new"), &key_file).unwrap();
    (cert_file, key_file)
}

/// A client that trusts the given certificates only.
fn connector(trusted: &[&TestCert]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in trusted {
        roots.add(cert.der.clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn tls_connect(
    addr: SocketAddr,
    connector: &tokio_rustls::TlsConnector,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(STEP, connector.connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::other("handshake timed out"))?
}

/// The certificate a TLS connection was shown.
fn shown(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// One HTTP/1.1 request on a kept-alive connection; the status and body (by Content-Length).
async fn exchange(
    stream: &mut TlsStream<TcpStream>,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/didcomm-encrypted+json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = [0u8; 8192];
        loop {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed mid-answer");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())
                            .flatten()
                    })
                    .unwrap_or(0);
                if rest.len() >= length {
                    return (status_of(&text), rest[..length].to_owned());
                }
            }
        }
    };
    tokio::time::timeout(STEP, read)
        .await
        .expect("an answer in time")
}

fn tls_settings(dir: &Path, cert: &TestCert) -> didcomm_edge_mediator::config::Settings {
    let mut settings = test_settings(dir, Some("memory".into()));
    let (cert_file, key_file) = write_cert(dir, cert);
    settings.tls_cert = Some(cert_file);
    settings.tls_key = Some(key_file);
    settings
}

/// HTTPS: a packed message posted and answered; plain HTTP on the TLS port is not served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_carries_packed_messages() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert();
    let world = World::start(tls_settings(dir.path(), &cert)).await;
    let addr = world.server.local_addr;
    assert_eq!(world.server.public_url, format!("https://{addr}"));
    let connector = connector(&[&cert]);
    let mut stream = tls_connect(addr, &connector).await.unwrap();
    assert_eq!(shown(&stream), cert.der);

    let stranger = world.device(MediationVersion::V3);
    let (ping, id) = stranger.request(&Ping::default()).await.unwrap();
    let (status, body) = exchange(&mut stream, "POST", "/", &ping).await;
    assert_eq!(status, 200, "{body}");
    let pong = stranger.unpack(&body).await.unwrap();
    assert_eq!(pong.type_, PING_RESPONSE_TYPE);
    assert_eq!(pong.thid.as_deref(), Some(id.as_str()));
    // The same connection carries the next request.
    let (status, body) = exchange(&mut stream, "GET", "/oob", "").await;
    assert_eq!(status, 200);
    assert!(body.contains(&world.mediator_did()), "{body}");

    // Plain HTTP on the TLS port: no answer, the connection is closed.
    let answer = raw_exchange(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        addr,
        b"GET /oob HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&answer), 0, "{answer}");
    // A client that does not trust the certificate refuses the handshake.
    let other = make_cert();
    assert!(tls_connect(addr, &connector_for(&other)).await.is_err());
    world.server.shutdown().await.unwrap();
}

/// A client that opens a connection and never starts the handshake holds it no longer than
/// the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handshake_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert();
    let mut settings = tls_settings(dir.path(), &cert);
    settings.header_timeout_seconds = 1;
    let world = World::start(settings).await;
    let mut stream = TcpStream::connect(world.server.local_addr).await.unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    let read = tokio::time::timeout(STEP, stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the stalled connection was not closed");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(out.is_empty());
    // Others are still served.
    let mut ok = tls_connect(world.server.local_addr, &connector(&[&cert]))
        .await
        .unwrap();
    assert_eq!(exchange(&mut ok, "GET", "/oob", "").await.0, 200);
    world.server.shutdown().await.unwrap();
}

fn connector_for(cert: &TestCert) -> tokio_rustls::TlsConnector {
    connector(&[cert])
}

/// A frame of `ws` within `STEP`, unpacked by `device`.
async fn ws_next<S>(
    ws: &mut tokio_tungstenite::WebSocketStream<S>,
    device: &Device,
) -> didcomm_edge::Message
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let frame = tokio::time::timeout(STEP, ws.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open")
            .unwrap();
        if let WsMessage::Text(text) = frame {
            return device.unpack(text.as_str()).await.unwrap();
        }
    }
}

/// WSS: a device enrolls over the WebSocket, turns live mode on, and a message routed over
/// HTTPS is pushed to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_carries_a_live_connection() {
    let dir = tempfile::tempdir().unwrap();
    let cert = make_cert();
    let world = World::start(tls_settings(dir.path(), &cert)).await;
    let addr = world.server.local_addr;
    let connector = connector(&[&cert]);
    let stream = tls_connect(addr, &connector).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async("wss://localhost/ws", stream)
        .await
        .unwrap();

    let mut alice = world.device(MediationVersion::V3);
    let request = alice.mediate_request().await.unwrap();
    ws.send(WsMessage::Text(request.into())).await.unwrap();
    let reply = ws_next(&mut ws, &alice).await;
    assert!(matches!(
        alice.handle_mediation(&reply).unwrap(),
        MediationEvent::Granted { .. }
    ));
    let recipient = alice.new_recipient_did(&world.mediator_did()).unwrap();
    let update = alice
        .keylist_update(vec![RecipientUpdateItem::add(recipient.clone())])
        .await
        .unwrap();
    ws.send(WsMessage::Text(update.into())).await.unwrap();
    let reply = ws_next(&mut ws, &alice).await;
    alice.handle_mediation(&reply).unwrap();
    assert!(alice.mediation.recipient_dids.contains(&recipient));

    let (on, _) = alice
        .request(&LiveDeliveryChange {
            version: PickupVersion::V3,
            live_delivery: true,
        })
        .await
        .unwrap();
    ws.send(WsMessage::Text(on.into())).await.unwrap();
    let status = ws_next(&mut ws, &alice).await;
    assert!(status.type_.ends_with("/status"), "{}", status.type_);

    let sender = world.device(MediationVersion::V3);
    let routed = sender
        .send(&recipient, json!({"content": "over TLS"}))
        .await
        .unwrap();
    assert!(routed.uri.starts_with("https://"), "{}", routed.uri);
    let mut https = tls_connect(addr, &connector).await.unwrap();
    assert_eq!(
        exchange(&mut https, "POST", "/", &routed.message).await.0,
        202
    );
    let delivery = ws_next(&mut ws, &alice).await;
    assert_eq!(delivery.type_, DELIVERY_V3);
    let delivered = Device::delivered(&delivery).unwrap();
    assert_eq!(delivered.messages.len(), 1);
    let _ = ws.close(None).await;
    world.server.shutdown().await.unwrap();
}

/// The real binary: SIGHUP makes new handshakes show the new certificate, while a connection
/// opened before keeps working; a broken pair on reload keeps the current certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (make_cert(), make_cert());
    let (cert_file, key_file) = write_cert(dir.path(), &first);
    let mut mediator = MediatorProcess::start(
        Path::new(env!("CARGO_BIN_EXE_didcomm-edge-mediator")),
        &dir.path().join("data"),
        [
            "--database-url".as_ref(),
            "memory".as_ref(),
            "--tls-cert".as_ref(),
            cert_file.as_os_str(),
            "--tls-key".as_ref(),
            key_file.as_os_str(),
        ],
    )
    .await
    .unwrap();
    assert!(mediator.tls);
    let addr = mediator.addr;
    let both = connector(&[&first, &second]);
    let mut before = tls_connect(addr, &both).await.unwrap();
    assert_eq!(shown(&before), first.der);
    assert_eq!(exchange(&mut before, "GET", "/oob", "").await.0, 200);

    let hangup = |pid: u32| async move {
        let sent = tokio::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .await
            .unwrap();
        assert!(sent.success());
    };
    write_cert(dir.path(), &second);
    hangup(mediator.pid()).await;
    let deadline = Instant::now() + STEP;
    loop {
        let stream = tls_connect(addr, &both).await.unwrap();
        if shown(&stream) == second.der {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The connection opened before the reload is still served.
    assert_eq!(exchange(&mut before, "GET", "/oob", "").await.0, 200);

    // A key that does not match its certificate: the reload is refused, the second stays.
    std::fs::write(&key_file, make_cert().key_pem).unwrap();
    hangup(mediator.pid()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stream = tls_connect(addr, &both).await.unwrap();
    assert_eq!(shown(&stream), second.der);
    assert!(
        mediator.child.try_wait().unwrap().is_none(),
        "still running"
    );
    let status = mediator.terminate(STEP).await.unwrap();
    assert!(status.success(), "{status:?}");
}

/// A POST from `local` carrying `header`; its status (400 for the junk body, 429 when the
/// address it counts under is over its budget).
async fn post_from(local: IpAddr, addr: SocketAddr, header: &str) -> u16 {
    let request = format!(
        "POST / HTTP/1.1\r\nHost: m\r\nConnection: close\r\n{header}\
         Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
    );
    status_of(&raw_exchange(local, addr, request.as_bytes()).await)
}

/// Reverse-proxy mode: behind a trusted proxy the per-address limit counts the forwarded
/// client; from anyone else the headers change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), Some("memory".into()));
    settings.rate_limit_per_second = 0.001;
    settings.rate_limit_burst = 2.0;
    settings.trusted_proxies = vec!["127.0.0.1".into()];
    let world = World::start(settings).await;
    let addr = world.server.local_addr;
    let proxy = IpAddr::V4(Ipv4Addr::LOCALHOST);

    let xff = |ip: &str| format!("X-Forwarded-For: 198.51.100.7, {ip}\r\n");
    assert_eq!(post_from(proxy, addr, &xff("203.0.113.1")).await, 400);
    assert_eq!(post_from(proxy, addr, &xff("203.0.113.1")).await, 400);
    assert_eq!(post_from(proxy, addr, &xff("203.0.113.1")).await, 429);
    // Another client behind the same proxy has its own budget, as has the proxy itself.
    assert_eq!(post_from(proxy, addr, &xff("203.0.113.2")).await, 400);
    assert_eq!(post_from(proxy, addr, "").await, 400);
    // RFC 7239 `Forwarded`, IPv6 counted per /64.
    let fwd = |ip: &str| format!("Forwarded: for=\"[{ip}]:4711\";proto=https\r\n");
    assert_eq!(post_from(proxy, addr, &fwd("2001:db8:1:2::1")).await, 400);
    assert_eq!(post_from(proxy, addr, &fwd("2001:db8:1:2::2")).await, 400);
    assert_eq!(post_from(proxy, addr, &fwd("2001:db8:1:2::3")).await, 429);

    // Not a trusted proxy: the headers are ignored, its own address is counted.
    if other_peer_available() {
        assert_eq!(post_from(OTHER_PEER, addr, &xff("203.0.113.3")).await, 400);
        assert_eq!(post_from(OTHER_PEER, addr, &xff("203.0.113.4")).await, 400);
        assert_eq!(post_from(OTHER_PEER, addr, &xff("203.0.113.5")).await, 429);
        assert_eq!(post_from(OTHER_PEER, addr, "").await, 429);
    }
    world.server.shutdown().await.unwrap();
}
