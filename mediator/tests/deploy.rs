//! The deployment files in `mediator/deploy/` are held to the binary: the sample
//! configuration names every setting with its true default, and the systemd unit is one
//! systemd accepts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use didcomm_edge::protocols::mediation::MediationVersion;
use didcomm_edge::protocols::pickup::PickupVersion;
use didcomm_edge_mediator::config::Settings;
use didcomm_edge_mediator::identity::WALLET_FILE;
use didcomm_edge_testkit::{Device, HttpConnection, MediatorProcess};
use serde_json::json;

fn deploy_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name)
}

fn sample() -> String {
    std::fs::read_to_string(deploy_file("mediator.toml")).unwrap()
}

/// Every setting's name, as serde knows them: an unknown key is refused with the list of the
/// expected ones, so a setting added to `Settings` shows up here without a second list.
fn setting_names() -> BTreeSet<String> {
    let err = Settings::from_toml("zz_not_a_setting = 1")
        .unwrap_err()
        .to_string();
    let expected = err
        .split("expected one of ")
        .nth(1)
        .unwrap_or_else(|| panic!("no list of settings in {err:?}"));
    expected
        .split(',')
        .map(|name| {
            name.trim()
                .trim_matches(|c| c == '`' || c == '\n')
                .to_owned()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// The key of a `key = value` line, or None for prose.
fn key_of(line: &str) -> Option<&str> {
    let (key, _) = line.split_once(" = ")?;
    key.chars()
        .all(|c| c.is_ascii_lowercase() || c == '_')
        .then_some(key)
}

#[test]
fn the_sample_configuration_is_the_defaults() {
    let parsed = Settings::from_toml(&sample()).unwrap();
    assert!(
        parsed == Settings::default(),
        "an uncommented line of deploy/mediator.toml differs from the default: {parsed:?}"
    );
}

#[test]
fn the_sample_configuration_names_every_setting() {
    let names = setting_names();
    assert!(names.len() > 40, "settings list not understood: {names:?}");
    let text = sample();
    let mut seen = BTreeSet::new();
    for line in text.lines() {
        if let Some(key) = key_of(line) {
            seen.insert(key.to_owned());
        } else if let Some(commented) = line.strip_prefix("# ") {
            if let Some(key) = key_of(commented) {
                // A commented setting is an example someone will uncomment: it must parse.
                if let Err(e) = Settings::from_toml(commented) {
                    panic!("commented example `{commented}` does not parse: {e}");
                }
                seen.insert(key.to_owned());
            }
        }
    }
    let missing: Vec<_> = names.difference(&seen).collect();
    let unknown: Vec<_> = seen.difference(&names).collect();
    assert!(
        missing.is_empty(),
        "settings missing from deploy/mediator.toml: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "deploy/mediator.toml names no such setting: {unknown:?}"
    );
}

/// A systemd tool's verdict on a copy of the unit that starts the binary under test.
fn unit_under_test(dir: &Path) -> PathBuf {
    let bin = env!("CARGO_BIN_EXE_didcomm-edge-mediator");
    let unit = std::fs::read_to_string(deploy_file("didcomm-edge-mediator.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/didcomm-edge-mediator "));
    let path = dir.join("didcomm-edge-mediator.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/didcomm-edge-mediator", bin),
    )
    .unwrap();
    path
}

fn systemd_analyze(args: &[&str]) -> std::process::Output {
    std::process::Command::new("systemd-analyze")
        .args(args)
        .output()
        .expect("systemd-analyze (Debian package systemd; scripts/setup.sh deploy installs it)")
}

#[test]
fn systemd_accepts_the_unit_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_under_test(dir.path());
    let out = systemd_analyze(&["verify", unit.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // An unknown or misspelled key is only a warning to systemd (exit 0): refuse those too.
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}

#[test]
fn the_unit_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_under_test(dir.path());
    let out = systemd_analyze(&["security", "--offline=true", unit.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let level: f64 = stdout
        .lines()
        .find_map(|l| {
            l.split_once("Overall exposure level for ")?
                .1
                .split_once(": ")
        })
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in {stdout}"));
    // systemd rates 0-10; below 2 is its best band short of a fully sandboxed no-network unit.
    assert!(
        level < 2.0,
        "exposure {level} (systemd-analyze security):\n{stdout}"
    );
}

async fn start_mediator(data_dir: &Path) -> MediatorProcess {
    let bin = Path::new(env!("CARGO_BIN_EXE_didcomm-edge-mediator"));
    MediatorProcess::start(bin, data_dir, ["--log-filter", "warn"])
        .await
        .expect("start the mediator binary")
}

/// The operator guide's backup, done while the mediator serves, and its restore on another
/// data folder: the restored mediator has the same DID and still holds the queued message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_backup_and_restore_as_the_operator_guide_says() {
    tokio::time::timeout(Duration::from_secs(120), backup_and_restore())
        .await
        .expect("the backup test finishes in time");
}

async fn backup_and_restore() {
    let live = tempfile::tempdir().unwrap();
    let mediator = start_mediator(live.path()).await;
    let mut alice = Device::new(&mediator.did, MediationVersion::V3).unwrap();
    let mut http = HttpConnection::connect(mediator.addr).await.unwrap();
    let recipient = common::enroll(&mut http, &mut alice).await;
    let bob = Device::new(&mediator.did, MediationVersion::V3).unwrap();
    let routed = bob
        .send(&recipient, json!({"reading": 21.5}))
        .await
        .unwrap();
    assert_eq!(http.post_packed(&routed.message).await.unwrap().status, 202);

    // docs/operators.md, "Backups": sqlite3's online backup of the database and a copy of
    // the identity file, with the mediator running.
    let backup = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("sqlite3")
        .arg(live.path().join("mediator.sqlite"))
        .arg(format!(
            ".backup '{}'",
            backup.path().join("mediator.sqlite").display()
        ))
        .output()
        .expect("sqlite3 (Debian package sqlite3; scripts/setup.sh deploy installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::copy(
        live.path().join(WALLET_FILE),
        backup.path().join(WALLET_FILE),
    )
    .unwrap();
    let did = mediator.did.clone();
    mediator.kill().await.unwrap();

    // Restore: both files into an empty data folder.
    let restored = tempfile::tempdir().unwrap();
    for file in ["mediator.sqlite", WALLET_FILE] {
        std::fs::copy(backup.path().join(file), restored.path().join(file)).unwrap();
    }
    let mediator = start_mediator(restored.path()).await;
    assert_eq!(mediator.did, did, "the restored mediator keeps its DID");
    let mut http = HttpConnection::connect(mediator.addr).await.unwrap();
    let reply = common::delivery(&mut http, &alice, PickupVersion::V4, 10).await;
    let delivered = Device::delivered(&reply).unwrap().messages;
    assert_eq!(delivered.len(), 1, "the queued message survived the backup");
    let inner = alice.unpack(&delivered[0].message).await.unwrap();
    assert_eq!(inner.body.unwrap()["reading"], 21.5);
    mediator.kill().await.unwrap();
}
