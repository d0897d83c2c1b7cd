//! The admin listener: health, readiness and metrics apart from the service port, the admin
//! API behind its bearer token, its bounds, and the `admin` subcommands of the binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::path::Path;

use common::{status_of, test_settings, World, STEP};
use didcomm_edge::protocols::mediation::MediationVersion;
use didcomm_edge_mediator::config::Settings;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "admin-token-for-the-tests-0123456789";

/// One request on a fresh connection (`Connection: close`); the status and the body.
async fn admin(addr: SocketAddr, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n");
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(STEP, stream.read_to_end(&mut out))
        .await
        .expect("the admin listener answers in time")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status_of(&text), body)
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// A DID as one path segment.
fn segment(did: &str) -> String {
    did.replace('%', "%25")
        .replace('#', "%23")
        .replace('/', "%2F")
        .replace('?', "%3F")
}

fn with_token(settings: &mut Settings, dir: &Path) {
    let path = dir.join("admin-token");
    std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
    settings.admin_token_file = Some(path);
}

/// Before the admin listener, `/metrics` was public on the service port; now the service port
/// answers 404 unless the compatibility setting is on, and the admin listener serves it with
/// `/livez` and `/readyz`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_probes_moved_to_the_admin_listener() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), Some("memory".into()));
    settings.metrics_on_service_port = false;
    let world = World::start(settings).await;
    let service = world.server.local_addr;
    let admin_addr = world.server.admin_addr.unwrap();
    assert_ne!(admin_addr.port(), service.port());

    assert_eq!(admin(service, "GET", "/metrics", None).await.0, 404);
    assert_eq!(admin(service, "GET", "/livez", None).await.0, 404);
    assert_eq!(
        admin(service, "GET", "/admin/v1/schema", Some(TOKEN))
            .await
            .0,
        404
    );
    // Kept on the service port for deployments that probe it.
    assert_eq!(admin(service, "GET", "/healthz", None).await.0, 200);
    assert_eq!(admin(service, "GET", "/oob", None).await.0, 200);

    let (status, text) = admin(admin_addr, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("didcomm_mediator_messages_in_total"),
        "{text}"
    );
    assert!(text.contains("didcomm_mediator_queue_messages 0"), "{text}");
    assert_eq!(
        admin(admin_addr, "GET", "/livez", None).await,
        (200, "ok\n".into())
    );
    let (status, body) = admin(admin_addr, "GET", "/readyz", None).await;
    assert_eq!(status, 200, "{body}");
    let ready = json_of(&body);
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["did"], world.mediator_did());
    assert_eq!(ready["storage"], "memory");
    world.server.shutdown().await.unwrap();

    // The compatibility path: the same request answered as before.
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(test_settings(dir.path(), Some("memory".into()))).await;
    let (status, text) = admin(world.server.local_addr, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("didcomm_mediator_messages_in_total"),
        "{text}"
    );
    world.server.shutdown().await.unwrap();

    // Turned off: no admin listener at all.
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), Some("memory".into()));
    settings.admin_listen = None;
    let world = World::start(settings).await;
    assert_eq!(world.server.admin_addr, None);
    world.server.shutdown().await.unwrap();
}

/// A closed (or unreachable) storage makes the mediator not ready, with a reason, while it is
/// still alive: an orchestrator stops sending traffic instead of restarting it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_when_the_storage_is_closed() {
    for database in [None, Some("memory".to_owned())] {
        let dir = tempfile::tempdir().unwrap();
        let world = World::start(test_settings(dir.path(), database.clone())).await;
        let admin_addr = world.server.admin_addr.unwrap();
        assert_eq!(admin(admin_addr, "GET", "/readyz", None).await.0, 200);
        world.server.mediator.storage.close().await;
        let (status, body) = admin(admin_addr, "GET", "/readyz", None).await;
        assert_eq!(status, 503, "{database:?}: {body}");
        let answer = json_of(&body);
        assert_eq!(answer["ready"], false);
        assert!(
            answer["reason"].as_str().unwrap().contains("closed"),
            "{body}"
        );
        assert_eq!(admin(admin_addr, "GET", "/livez", None).await.0, 200);
        // The metrics still answer (without the queue totals).
        assert_eq!(admin(admin_addr, "GET", "/metrics", None).await.0, 200);
        world.server.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_its_token() {
    // No token file: the API is refused, the probes are served.
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(test_settings(dir.path(), Some("memory".into()))).await;
    let admin_addr = world.server.admin_addr.unwrap();
    let (status, body) = admin(admin_addr, "GET", "/admin/v1/schema", Some(TOKEN)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(json_of(&body)["error"], "forbidden");
    assert_eq!(admin(admin_addr, "GET", "/readyz", None).await.0, 200);
    world.server.shutdown().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), Some("memory".into()));
    with_token(&mut settings, dir.path());
    // Debug of the settings shows the file, not the token.
    assert!(!format!("{settings:?}").contains(TOKEN));
    let world = World::start(settings).await;
    let admin_addr = world.server.admin_addr.unwrap();
    for token in [
        None,
        Some("wrong-token-wrong-token"),
        Some(&TOKEN[..TOKEN.len() - 1]),
    ] {
        let (status, body) = admin(admin_addr, "GET", "/admin/v1/schema", token).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(json_of(&body)["error"], "unauthorized");
        assert!(!body.contains(TOKEN));
    }
    let (status, body) = admin(admin_addr, "GET", "/admin/v1/schema", Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let schema = json_of(&body);
    assert_eq!(schema["backend"], "memory");
    assert_eq!(schema["schema_version"], schema["binary_schema_version"]);
    world.server.shutdown().await.unwrap();

    // A token file that is too short refuses the start.
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), Some("memory".into()));
    let path = dir.path().join("short");
    std::fs::write(&path, "abc\n").unwrap();
    settings.admin_token_file = Some(path);
    let err = didcomm_edge_mediator::server::start(settings)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), didcomm_edge_mediator::ErrorKind::Config);
}

/// List devices and grants, a device's queue depth, purge it, revoke its grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_lists_purges_and_revokes() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), None);
    with_token(&mut settings, dir.path());
    let world = World::start(settings).await;
    let admin_addr = world.server.admin_addr.unwrap();
    let (alice, alice_key) = world.enrolled(MediationVersion::V2).await;
    let (bob, _) = world.enrolled(MediationVersion::V3).await;
    let sender = world.device(MediationVersion::V3);
    let mut http = world.http().await;
    for i in 0..3 {
        let routed = sender
            .send(&alice_key, json!({"content": format!("hello {i}")}))
            .await
            .unwrap();
        assert_eq!(http.post_packed(&routed.message).await.unwrap().status, 202);
    }
    let get = |path: String| async move { admin(admin_addr, "GET", &path, Some(TOKEN)).await };

    let (status, body) = get("/admin/v1/grants".into()).await;
    assert_eq!(status, 200, "{body}");
    let grants = json_of(&body);
    let mut dids: Vec<&str> = grants["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["did"].as_str().unwrap())
        .collect();
    dids.sort_unstable();
    let mut expected = vec![alice.did.as_str(), bob.did.as_str()];
    expected.sort_unstable();
    assert_eq!(dids, expected);
    assert_eq!(grants["next"], Value::Null);
    // Paged.
    let (_, body) = get("/admin/v1/grants?limit=1".into()).await;
    let first = json_of(&body);
    assert_eq!(first["grants"].as_array().unwrap().len(), 1);
    let after = first["next"].as_str().unwrap().to_owned();
    let (_, body) = get(format!(
        "/admin/v1/grants?limit=1&after={}",
        segment(&after)
    ))
    .await;
    let second = json_of(&body);
    assert_eq!(second["grants"][0]["did"], expected[1]);

    let (status, body) = get("/admin/v1/devices".into()).await;
    assert_eq!(status, 200, "{body}");
    let devices = json_of(&body);
    let alice_entry = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["did"] == alice.did.as_str())
        .unwrap()
        .clone();
    assert_eq!(alice_entry["keys"], 1);
    assert_eq!(alice_entry["queue"]["messages"], 3);

    let alice_path = segment(&alice.did);
    let (status, body) = get(format!("/admin/v1/devices/{alice_path}")).await;
    assert_eq!(status, 200, "{body}");
    let device = json_of(&body);
    assert_eq!(device["keys"], json!([alice_key]));
    assert_eq!(device["key_count"], 1);
    assert_eq!(device["routing_did"], world.mediator_did());
    let (_, body) = get(format!("/admin/v1/devices/{alice_path}/queue")).await;
    assert_eq!(json_of(&body)["queue"]["messages"], 3);

    let (status, body) = admin(
        admin_addr,
        "DELETE",
        &format!("/admin/v1/devices/{alice_path}/queue"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["purged"], 3);
    let (_, body) = get(format!("/admin/v1/devices/{alice_path}/queue")).await;
    assert_eq!(json_of(&body)["queue"]["messages"], 0);

    let (status, body) = admin(
        admin_addr,
        "DELETE",
        &format!("/admin/v1/grants/{alice_path}"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)["revoked"], true);
    for path in [
        format!("/admin/v1/devices/{alice_path}"),
        format!("/admin/v1/devices/{alice_path}/queue"),
    ] {
        let (status, body) = get(path).await;
        assert_eq!(status, 404, "{body}");
    }
    let (status, _) = admin(
        admin_addr,
        "DELETE",
        &format!("/admin/v1/grants/{alice_path}"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 404);
    // The revoked device is refused on the service port.
    let (packed, _) = alice
        .request(&didcomm_edge::protocols::pickup::StatusRequest {
            version: didcomm_edge::protocols::pickup::PickupVersion::V3,
            recipient_did: None,
        })
        .await
        .unwrap();
    assert_eq!(http.post_packed(&packed).await.unwrap().status, 403);
    world.server.shutdown().await.unwrap();
}

/// Admin requests are bounded like the service port's: long DIDs, malformed queries,
/// unknown routes and floods get short refusals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_input_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), Some("memory".into()));
    with_token(&mut settings, dir.path());
    let world = World::start(settings).await;
    let admin_addr = world.server.admin_addr.unwrap();
    let long = format!("did:example:{}", "a".repeat(9000));
    let (status, body) = admin(
        admin_addr,
        "GET",
        &format!("/admin/v1/devices/{long}"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.len() < 300, "{body}");
    for path in [
        "/admin/v1/grants?limit=lots",
        "/admin/v1/grants?limit=-1",
        "/admin/v1/devices?limit=99999999999999999999999",
        "/admin/v1/devices/did%3Aexample%3A%0A",
    ] {
        let (status, body) = admin(admin_addr, "GET", path, Some(TOKEN)).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(json_of(&body)["error"], "illegal_argument");
    }
    // Page sizes are capped, not refused.
    let (status, _) = admin(
        admin_addr,
        "GET",
        "/admin/v1/grants?limit=1000000",
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(admin(admin_addr, "GET", "/nope", Some(TOKEN)).await.0, 404);
    assert_eq!(
        admin(admin_addr, "POST", "/admin/v1/schema", Some(TOKEN))
            .await
            .0,
        405
    );
    // A flood from one address is cut by the per-address limit, before the token is checked.
    let mut limited = 0;
    for _ in 0..150 {
        if admin(
            admin_addr,
            "GET",
            "/admin/v1/schema",
            Some("wrong-token-wrong-token"),
        )
        .await
        .0 == 429
        {
            limited += 1;
        }
    }
    assert!(limited > 0, "no 429 in 150 requests");
    // The probes are not rate limited.
    assert_eq!(admin(admin_addr, "GET", "/livez", None).await.0, 200);
    world.server.shutdown().await.unwrap();
}

/// `didcomm-edge-mediator admin ...` opens the configured database directly: the same answers
/// as the API, while the server runs (SQLite allows a second process) or after it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_subcommands_work_on_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(test_settings(dir.path(), None)).await;
    let (alice, alice_key) = world.enrolled(MediationVersion::V3).await;
    let sender = world.device(MediationVersion::V3);
    let mut http = world.http().await;
    let routed = sender
        .send(&alice_key, json!({"content": "hello"}))
        .await
        .unwrap();
    assert_eq!(http.post_packed(&routed.message).await.unwrap().status, 202);

    let run = |args: Vec<String>| {
        let data_dir = dir.path().to_path_buf();
        async move {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_didcomm-edge-mediator"))
                .arg("--data-dir")
                .arg(&data_dir)
                .args(["--log-filter", "warn", "admin"])
                .args(&args)
                .output();
            let out = tokio::time::timeout(STEP, out).await.unwrap().unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let (code, out, err) = run(vec!["devices".into()]).await;
    assert_eq!(code, Some(0), "{err}");
    let devices = json_of(&out);
    assert_eq!(devices["devices"][0]["did"], alice.did.as_str());
    assert_eq!(devices["devices"][0]["queue"]["messages"], 1);
    let (code, out, _) = run(vec!["schema".into()]).await;
    assert_eq!(code, Some(0));
    assert_eq!(json_of(&out)["backend"], "sqlite");
    let (_, out, _) = run(vec!["queue".into(), alice.did.clone()]).await;
    assert_eq!(json_of(&out)["queue"]["messages"], 1);
    let (_, out, _) = run(vec!["purge".into(), alice.did.clone()]).await;
    assert_eq!(json_of(&out)["purged"], 1);
    world.server.shutdown().await.unwrap();

    // Stopped server: still works.
    let (code, out, err) = run(vec!["revoke".into(), alice.did.clone()]).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(json_of(&out)["revoked"], true);
    let (code, _, err) = run(vec!["device".into(), alice.did.clone()]).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("no mediation grant"), "{err}");
    let (_, out, _) = run(vec!["grants".into()]).await;
    assert_eq!(json_of(&out)["grants"], json!([]));
}
