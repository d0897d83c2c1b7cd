//! Shared test set-up: a real PostgreSQL server (started once per test binary unless
//! `DIDCOMM_EDGE_TEST_PG` names one) and fresh databases on it.
#![allow(dead_code)]

use std::process::Command;
use std::sync::OnceLock;

/// The URL of the test PostgreSQL server (its `postgres` database).
pub fn pg_server_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("DIDCOMM_EDGE_TEST_PG") {
            if !url.is_empty() {
                return url;
            }
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");
        let dir = std::env::temp_dir().join(format!("didcomm-edge-test-pg-{}", std::process::id()));
        let out = Command::new("bash")
            .arg(script)
            .arg("start")
            .arg(&dir)
            .arg("--owner-pid")
            .arg(std::process::id().to_string())
            .output()
            .expect("run scripts/postgres.sh");
        assert!(
            out.status.success(),
            "postgres.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf-8 url")
            .trim()
            .to_owned()
    })
    .clone()
}

/// A new, empty database on the test server; returns its URL.
pub async fn fresh_pg_database() -> String {
    let server = pg_server_url();
    let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
        .await
        .expect("connect to the test postgres");
    let driver = tokio::spawn(connection);
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    drop(client);
    let _ = driver.await;
    let base = server.rsplit_once('/').expect("url has a path").0;
    format!("{base}/{name}")
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
