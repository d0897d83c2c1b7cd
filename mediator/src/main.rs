//! `didcomm-edge-mediator`: run the mediator.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use didcomm_edge_mediator::config::{Args, Command, LogFormat, Settings};
use didcomm_edge_mediator::server;
use tracing_subscriber::EnvFilter;

fn init_logging(settings: &Settings) {
    let filter =
        EnvFilter::try_new(&settings.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(settings: Settings) -> didcomm_edge_mediator::Result<()> {
    let running = server::start(settings.clone()).await?;
    // Listen for the stop signals before announcing the address: a supervisor (or a test) may
    // send SIGTERM as soon as it reads the banner, and an uninstalled handler means death by
    // signal instead of a graceful stop.
    let stop = StopSignals::install();
    // SIGHUP's default is to end the process: the handler is in place before the banner too.
    if let Some(cert) = running.tls.clone() {
        spawn_reload_on_hangup(cert);
    }
    tracing::info!(
        did = %running.identity.did,
        url = %running.public_url,
        storage = running.mediator.storage.backend(),
        created_identity = running.identity.created,
        "mediator started"
    );
    // The banner goes to stdout: the invitation for people, and one line for scripts.
    let mut out = std::io::stdout().lock();
    if settings.print_qr {
        if let Ok(qr) = running.invitation.qr_terminal() {
            let _ = writeln!(out, "{qr}");
        }
    }
    let _ = writeln!(out, "mediator DID: {}", running.identity.did);
    let _ = writeln!(out, "invitation: {}", running.invitation.url);
    if let Some(admin) = running.admin_addr {
        let _ = writeln!(out, "admin on http://{admin}");
    }
    let scheme = if running.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let _ = writeln!(out, "listening on {scheme}://{}", running.local_addr);
    let _ = out.flush();
    drop(out);

    let trigger = running.shutdown_trigger();
    tokio::spawn(async move {
        stop.wait().await;
        tracing::info!("shutdown requested");
        let _ = trigger.send(true);
    });
    running.wait().await
}

/// Read the certificate and key files again on every SIGHUP (open connections keep theirs;
/// a failed reload keeps the current certificate).
fn spawn_reload_on_hangup(cert: std::sync::Arc<didcomm_edge_mediator::tls::ReloadingCert>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(e) => {
                tracing::warn!(error = %e, "SIGHUP cannot be handled: no certificate reloads");
                return;
            }
        };
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match cert.reload() {
                    Ok(()) => tracing::info!("TLS certificate reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "TLS certificate not reloaded; keeping the current one");
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    {
        let _ = cert;
    }
}

/// SIGTERM and SIGINT (Ctrl-C), registered with the runtime at construction.
struct StopSignals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let streams = match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(term), Ok(int)) => Some((term, int)),
                _ => None,
            };
            StopSignals { streams }
        }
        #[cfg(not(unix))]
        {
            StopSignals {}
        }
    }

    async fn wait(self) {
        #[cfg(unix)]
        {
            match self.streams {
                Some((mut term, mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let settings = match args.settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&settings);
    // Debug of the settings hides grant tokens and the database password.
    tracing::debug!(settings = ?settings, "settings");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(Command::Admin { action }) = &args.command {
        return match runtime.block_on(didcomm_edge_mediator::admin::run_command(&settings, action))
        {
            Ok(answer) => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{answer:#}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        };
    }
    match runtime.block_on(run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "mediator failed");
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
