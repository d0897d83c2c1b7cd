//! The host's side of the sensor test: the firmware in `embedded/` (the core without std)
//! runs on QEMU's Cortex-M4F board, and this test is the device it talks to. It checks the
//! sensor's authcrypt message with the normal core, answers it, and requires the firmware to
//! exit with success (it also unpacks a spec vector). `make test-sensor` builds the firmware
//! and names it in DIDCOMM_EDGE_SENSOR_FIRMWARE; without it this test fails rather than passes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    // The firmware's console, passed through for the figures it prints.
    clippy::print_stdout
)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use didcomm_edge::{
    DidComm, Identity, IdentityMethod, Message, PackEncryptedOptions, ResolverChain, UnpackOptions,
};

const READING: &str = "t=21.50C rh=40.2% p=1013.2hPa batt=3.71V";
const LIMIT: Duration = Duration::from_secs(180);

fn wait_for(path: &Path, child: &mut std::process::Child) -> String {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the firmware exited ({status}) before writing {}",
                path.display()
            );
        }
        assert!(
            start.elapsed() < LIMIT,
            "no {} within {LIMIT:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
#[ignore = "run by `make test-sensor`, which builds the firmware first"]
async fn the_sensor_talks_to_the_host_under_qemu() {
    let firmware = PathBuf::from(
        std::env::var("DIDCOMM_EDGE_SENSOR_FIRMWARE")
            .expect("DIDCOMM_EDGE_SENSOR_FIRMWARE: the firmware to run (make test-sensor)"),
    );
    let dir = std::env::temp_dir().join(format!("didcomm-edge-sensor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut seed)
        .unwrap();
    std::fs::write(dir.join("seed.bin"), seed).unwrap();
    let host = Identity::generate(IdentityMethod::Peer2, None).unwrap();
    std::fs::write(dir.join("host-did.txt"), &host.did).unwrap();
    let wallet = host.to_wallet().unwrap();
    let dc = DidComm::new(
        Arc::new(ResolverChain::new().without_web()),
        Arc::new(wallet.secrets_store()),
    );

    let mut qemu = Command::new("qemu-system-arm")
        .args([
            "-machine",
            "mps2-an386",
            "-cpu",
            "cortex-m4",
            "-nographic",
            "-monitor",
            "none",
        ])
        .args([
            "-semihosting-config",
            "enable=on,target=native",
            "-icount",
            "shift=0",
        ])
        .arg("-kernel")
        .arg(&firmware)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("qemu-system-arm (apt qemu-system-arm; make test-sensor installs it)");
    let stdout = qemu.stdout.take().unwrap();
    let output = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap_or_default();
            println!("{line}");
            lines.push(line);
        }
        lines
    });

    let packed = wait_for(&dir.join("sensor-message.json"), &mut qemu);
    let (message, metadata) = dc.unpack(&packed, &UnpackOptions::default()).await.unwrap();
    assert!(metadata.encrypted && metadata.authenticated, "{metadata:?}");
    let sensor = message
        .from
        .clone()
        .expect("the sensor's message names its sender");
    assert!(sensor.starts_with("did:peer:2."), "{sensor}");
    assert_eq!(message.to.as_deref(), Some(&[host.did.clone()][..]));
    assert_eq!(message.body.as_ref().unwrap()["content"], READING);
    let sent_by = metadata.encrypted_from_kid.as_deref().unwrap_or_default();
    assert!(sent_by.starts_with(&format!("{sensor}#")), "{sent_by}");

    let reply = Message::new(
        "https://didcomm.org/basicmessage/2.0/message",
        serde_json::json!({ "content": "received 21.50C" }),
    )
    .unwrap()
    .from(host.did.as_str())
    .to(sensor.as_str())
    .thid(message.id.as_str());
    let (reply, _) = dc
        .pack_encrypted(
            &reply,
            &sensor,
            Some(&host.did),
            None,
            &PackEncryptedOptions::default(),
        )
        .await
        .unwrap();
    std::fs::write(dir.join("reply.json.part"), reply).unwrap();
    std::fs::rename(dir.join("reply.json.part"), dir.join("reply.json")).unwrap();

    let start = Instant::now();
    let status = loop {
        if let Some(status) = qemu.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = qemu.kill();
            panic!("the firmware did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let lines = output.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        status.success(),
        "the firmware failed ({status}): {lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l == "sensor: reply received 21.50C"),
        "{lines:#?}"
    );
    assert!(lines.iter().any(|l| l == "sensor: OK"), "{lines:#?}");
}
