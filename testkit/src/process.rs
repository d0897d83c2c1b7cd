//! [`MediatorProcess`]: the mediator binary, started on loopback.

use std::ffi::OsStr;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long the mediator may take to print where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running mediator binary (killed when dropped).
#[derive(Debug)]
pub struct MediatorProcess {
    /// The process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its DID.
    pub did: String,
    /// Its out-of-band invitation (the `_oob` URL of its `invitation: ` banner line).
    pub invitation: String,
    /// Where its admin listener listens (`None` when the arguments turned it off).
    pub admin_addr: Option<SocketAddr>,
    /// Whether the service port speaks TLS (`listening on https://`).
    pub tls: bool,
}

fn failed(reason: impl Into<String>) -> io::Error {
    io::Error::other(reason.into())
}

impl MediatorProcess {
    /// Start the mediator binary `bin` on `127.0.0.1` (an ephemeral port, no QR code, the
    /// admin listener on another ephemeral port) with its data in `data_dir`, and `args` after
    /// those; returns once it printed its DID, its invitation and the address it listens on.
    /// Its output keeps being read (and dropped) so that it never blocks on a full pipe; its
    /// log (stderr) goes where the caller's does.
    pub async fn start<I, S>(bin: &Path, data_dir: &Path, args: I) -> io::Result<MediatorProcess>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        MediatorProcess::start_with_log(bin, data_dir, args, Stdio::inherit()).await
    }

    /// [`MediatorProcess::start`], with the mediator's log (its stderr) sent to `log`: for
    /// example a [`std::fs::File`] the caller shows when something went wrong.
    pub async fn start_with_log<I, S>(
        bin: &Path,
        data_dir: &Path,
        args: I,
        log: impl Into<Stdio>,
    ) -> io::Result<MediatorProcess>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--no-qr"])
            .args(["--admin-listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed(format!("cannot start {}: {e}", bin.display())))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| failed("the mediator has no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        // The banner: `mediator DID: `, `invitation: `, `admin on http://` (unless turned off),
        // then `listening on http(s)://`.
        let mut did = None;
        let mut invitation = None;
        let mut admin_addr = None;
        let mut tls = false;
        let addr = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(d) = line.strip_prefix("mediator DID: ") {
                    did = Some(d.to_owned());
                }
                if let Some(i) = line.strip_prefix("invitation: ") {
                    invitation = Some(i.trim().to_owned());
                }
                if let Some(a) = line.strip_prefix("admin on http://") {
                    admin_addr = a.parse::<SocketAddr>().ok();
                }
                let listening = line.strip_prefix("listening on http://").or_else(|| {
                    let a = line.strip_prefix("listening on https://");
                    tls = a.is_some();
                    a
                });
                if let Some(a) = listening {
                    return a
                        .parse::<SocketAddr>()
                        .map_err(|e| failed(format!("listening on '{a}': {e}")));
                }
            }
            Err(failed("the mediator exited before listening"))
        })
        .await
        .map_err(|_| {
            failed(format!(
                "the mediator did not listen within {START_TIMEOUT:?}"
            ))
        })??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(MediatorProcess {
            child,
            addr,
            did: did.ok_or_else(|| failed("the mediator printed no DID"))?,
            invitation: invitation.ok_or_else(|| failed("the mediator printed no invitation"))?,
            admin_addr,
            tls,
        })
    }

    /// Its endpoint, `http://addr` or `https://addr` (what its `listening on` line says).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The process id (0 once it was waited for).
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Send SIGTERM (a graceful stop) and wait at most `wait` for the exit status.
    /// Once the process was waited for, its exit status is returned and nothing is signalled
    /// (its pid would be 0, and `kill -TERM 0` signals the caller's whole process group).
    pub async fn terminate(&mut self, wait: Duration) -> io::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        let Some(pid) = self.child.id() else {
            return self.child.wait().await;
        };
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await?;
        if !sent.success() {
            return Err(failed("kill -TERM failed"));
        }
        tokio::time::timeout(wait, self.child.wait())
            .await
            .map_err(|_| failed(format!("the mediator did not stop within {wait:?}")))?
    }

    /// Stop the process: SIGTERM, and SIGKILL when it has not exited within `wait` (or the
    /// signal could not be sent); returns once it exited.
    pub async fn stop(mut self, wait: Duration) -> io::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        match self.terminate(wait).await {
            Ok(status) => Ok(status),
            Err(_) => self.kill().await,
        }
    }

    /// Kill the process (SIGKILL, as a crash would) and wait for it.
    pub async fn kill(mut self) -> io::Result<ExitStatus> {
        self.child.start_kill()?;
        self.child.wait().await
    }
}
