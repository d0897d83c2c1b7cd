//! The demo's processes and files: a private temporary folder (mode 0700) and the mediator
//! binary running in it, started and stopped through the testkit's [`MediatorProcess`].
//! Whatever happens, the mediator is stopped and the folder removed: by [`Harness::finish`],
//! else when the harness is dropped (an early return, a panic).

use std::path::{Path, PathBuf};
use std::time::Duration;

use didcomm_edge_testkit::MediatorProcess;

use crate::scenario::DemoResult;

/// How long the mediator has to stop after SIGTERM before it is killed.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// What the mediator said about itself when it started.
#[derive(Debug, Clone)]
pub struct MediatorInfo {
    /// Its DID.
    pub did: String,
    /// Its HTTP endpoint (`http://127.0.0.1:port`).
    pub url: String,
    /// Its `_oob` invitation URL.
    pub invitation: String,
}

/// The temporary folder and the mediator process.
#[derive(Debug)]
pub struct Harness {
    folder: tempfile::TempDir,
    mediator: Option<MediatorProcess>,
}

impl Harness {
    /// A fresh private folder in the system's temporary folder; no mediator yet.
    pub fn create() -> DemoResult<Harness> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("didcomm-edge-demo-");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o700));
        }
        let folder = builder
            .tempdir()
            .map_err(|e| format!("a temporary folder: {e}"))?;
        Ok(Harness {
            folder,
            mediator: None,
        })
    }

    /// The folder (the devices' state files go there).
    pub fn dir(&self) -> &Path {
        self.folder.path()
    }

    /// The mediator's data folder (SQLite, its identity).
    fn mediator_dir(&self) -> PathBuf {
        self.dir().join("mediator")
    }

    /// The mediator's identity file (its keys: the demo opens a forward with them).
    pub fn mediator_identity(&self) -> PathBuf {
        self.mediator_dir().join("mediator-identity.json")
    }

    fn log_path(&self) -> PathBuf {
        self.dir().join("mediator.log")
    }

    /// Start the mediator binary `bin` on a free loopback port, its data (SQLite) in the
    /// folder and its log in `mediator.log` there; returns once its banner said where it
    /// listens.
    pub async fn start_mediator(&mut self, bin: &Path) -> DemoResult<MediatorInfo> {
        let log =
            std::fs::File::create(self.log_path()).map_err(|e| format!("mediator.log: {e}"))?;
        let args = ["--log-filter", "warn", "--shutdown-grace-seconds", "2"];
        let mediator = MediatorProcess::start_with_log(bin, &self.mediator_dir(), args, log)
            .await
            .map_err(|e| format!("the mediator did not start: {e}"))?;
        let info = MediatorInfo {
            did: mediator.did.clone(),
            url: mediator.url(),
            invitation: mediator.invitation.clone(),
        };
        self.mediator = Some(mediator);
        Ok(info)
    }

    /// Stop the mediator (SIGTERM, then SIGKILL after a few seconds), read its log, remove the
    /// folder; returns the log.
    pub async fn finish(mut self) -> String {
        if let Some(mediator) = self.mediator.take() {
            let _ = mediator.stop(STOP_WAIT).await;
        }
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        // Dropping the harness removes the folder.
        log
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // Also on an early return or when unwinding: never leave a mediator running. The
        // folder (and the keys in it) is removed by the `TempDir` after this.
        if let Some(mediator) = self.mediator.as_mut() {
            let _ = mediator.child.start_kill();
        }
    }
}
