//! CORS on the service port for browser agents: off unless origins are configured, then only
//! those origins' pages may read the answers (preflights answered by the mediator).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::{IpAddr, Ipv4Addr};

use common::{raw_exchange, status_of, test_settings, World};
use didcomm_edge_mediator::server;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn preflight(origin: &str) -> Vec<u8> {
    format!(
        "OPTIONS / HTTP/1.1\r\nHost: mediator\r\nOrigin: {origin}\r\n\
         Access-Control-Request-Method: POST\r\n\
         Access-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

fn invitation_from(origin: &str) -> Vec<u8> {
    format!("GET /oob HTTP/1.1\r\nHost: mediator\r\nOrigin: {origin}\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

/// The value of `header` in a raw HTTP/1.1 answer (names compared case-insensitively).
fn header<'a>(answer: &'a str, header: &str) -> Option<&'a str> {
    answer
        .split("\r\n\r\n")
        .next()?
        .lines()
        .skip(1)
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case(header).then(|| value.trim())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cors_headers_unless_origins_are_configured() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(test_settings(dir.path(), None)).await;
    let addr = world.server.local_addr;
    let answer = raw_exchange(LOCALHOST, addr, &preflight("https://app.example")).await;
    assert_eq!(
        header(&answer, "access-control-allow-origin"),
        None,
        "{answer}"
    );
    let answer = raw_exchange(LOCALHOST, addr, &invitation_from("https://app.example")).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
    world.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_origins_and_only_they_may_call_from_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), None);
    settings.cors_allowed_origins = vec!["https://app.example".into()];
    let world = World::start(settings).await;
    let addr = world.server.local_addr;
    let answer = raw_exchange(LOCALHOST, addr, &preflight("https://app.example")).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert_eq!(
        header(&answer, "access-control-allow-origin"),
        Some("https://app.example")
    );
    let methods = header(&answer, "access-control-allow-methods").unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let answer = raw_exchange(LOCALHOST, addr, &invitation_from("https://app.example")).await;
    assert_eq!(status_of(&answer), 200, "{answer}");
    assert_eq!(
        header(&answer, "access-control-allow-origin"),
        Some("https://app.example")
    );
    // Another site's page gets no permission to read.
    let answer = raw_exchange(LOCALHOST, addr, &preflight("https://evil.example")).await;
    assert_eq!(
        header(&answer, "access-control-allow-origin"),
        None,
        "{answer}"
    );
    let answer = raw_exchange(LOCALHOST, addr, &invitation_from("https://evil.example")).await;
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
    world.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_that_can_never_match_are_refused_at_start() {
    for origins in [
        vec!["https://app.example/".to_owned()],
        vec!["app.example".to_owned()],
        vec!["ftp://app.example".to_owned()],
        vec!["*".to_owned(), "https://app.example".to_owned()],
        vec![format!("https://{}", "a".repeat(10_000))],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = test_settings(dir.path(), None);
        settings.cors_allowed_origins = origins.clone();
        let refused = server::start(settings).await.map(|_| ()).unwrap_err();
        assert!(
            refused.to_string().contains("cors_allowed_origins"),
            "{origins:?}: {refused}"
        );
        assert!(refused.to_string().len() < 600, "{refused}");
    }
}
