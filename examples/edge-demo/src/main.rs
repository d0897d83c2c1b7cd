//! `edge-demo`: the end-to-end demo behind `make demo`.
//!
//! Starts the real mediator binary on 127.0.0.1 (SQLite in a temporary folder), then runs two
//! edge devices, Alice and Bob, through mediation, key management (keylist review, DID rotation
//! with `from_prior`), pickup and live delivery with acknowledgements, and Bob's reply. Each
//! step says what was sent, what the mediator could see, and what each device decrypted. Exits
//! 0 when every step did what it should; stops the mediator and removes the folder either way.
//!
//! - [`scenario`]: the story and its checks.
//! - [`explain`]: what each step shows; [`printer`]: how it is printed.
//! - [`harness`]: the temporary folder and the mediator process.
#![forbid(unsafe_code)]

mod explain;
mod harness;
mod printer;
mod scenario;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::harness::Harness;
use crate::printer::Printer;

/// How long the whole demo may take before it gives up.
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs the mediator binary and two edge devices through mediation, key rotation, pickup, live
/// delivery and a reply.
#[derive(Debug, Parser)]
#[command(name = "edge-demo")]
struct Args {
    /// The mediator binary (default: didcomm-edge-mediator next to this program).
    #[arg(long, value_name = "PATH")]
    mediator_bin: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut out = Printer::new();
    let Some(mediator_bin) = args.mediator_bin.or_else(default_mediator_bin) else {
        let _ = writeln!(
            std::io::stderr(),
            "edge-demo: cannot find didcomm-edge-mediator; pass --mediator-bin PATH"
        );
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "edge-demo: no runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let mut harness = match Harness::create() {
        Ok(h) => h,
        Err(e) => {
            out.fail(&e);
            return ExitCode::from(1);
        }
    };
    let started = Instant::now();
    let (result, log) = runtime.block_on(async {
        let result = tokio::time::timeout(
            DEADLINE,
            scenario::run(&mut out, &mut harness, &mediator_bin),
        )
        .await
        .unwrap_or_else(|_| Err(format!("the demo did not finish within {DEADLINE:?}")));
        // Stops the mediator and removes the folder.
        (result, harness.finish().await)
    });
    match result {
        Ok(()) => {
            out.line(&format!(
                "\ndemo finished in {:.1} s: mediator stopped, temporary folder removed",
                started.elapsed().as_secs_f64()
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            out.fail(&e);
            if !log.trim().is_empty() {
                out.line("mediator log (last lines):");
                let lines: Vec<&str> = log.lines().collect();
                for line in lines.iter().skip(lines.len().saturating_sub(20)) {
                    out.line(&format!("  {line}"));
                }
            }
            ExitCode::from(1)
        }
    }
}

/// `didcomm-edge-mediator` in this program's folder, when it is there.
fn default_mediator_bin() -> Option<PathBuf> {
    let here = std::env::current_exe().ok()?;
    let candidate = here.parent()?.join("didcomm-edge-mediator");
    candidate.exists().then_some(candidate)
}
