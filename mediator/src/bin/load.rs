//! `didcomm-edge-mediator-load`: a load generator for the mediator, on loopback only.
//!
//! It starts the real mediator binary (SQLite in a temporary folder, or `--database-url`),
//! then measures, each phase bounded in count and time:
//! 1. forward throughput: N anoncrypted forwards POSTed over C keep-alive connections
//!    (each 202 means "stored durably"), with latency percentiles;
//! 2. pickup throughput: delivery-request + messages-received until the queue is empty;
//! 3. forward latency at a fixed offered rate (default 1,000 messages/s);
//! 4. resident memory of the mediator with `--queued` messages waiting.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use didcomm_edge_mediator::client::{Device, HttpClient};
use didcomm_edge_mediator::storage::{self, Grant, KeylistAction, KeylistUpdate, StorageConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Debug, Parser)]
#[command(
    name = "didcomm-edge-mediator-load",
    about = "Load generator for the mediator (loopback)"
)]
struct Args {
    /// PostgreSQL URL (a fresh database is best); SQLite in a temporary folder when absent.
    #[arg(long)]
    database_url: Option<String>,
    /// Forwards in the throughput phase.
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Offered rate of the latency phase (messages/s).
    #[arg(long, default_value_t = 1_000)]
    rate: u64,
    /// Seconds of the latency phase.
    #[arg(long, default_value_t = 5)]
    rate_seconds: u64,
    /// Messages queued for the memory phase (0 skips it).
    #[arg(long, default_value_t = 100_000)]
    queued: usize,
    /// Size of each forwarded payload in bytes.
    #[arg(long, default_value_t = 512)]
    payload: usize,
    /// The mediator binary (default: next to this one).
    #[arg(long)]
    mediator: Option<PathBuf>,
    /// Stop any phase after this many seconds.
    #[arg(long, default_value_t = 120)]
    phase_timeout: u64,
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Mediator {
    child: Child,
    addr: SocketAddr,
    did: String,
}

async fn spawn_mediator(
    bin: &Path,
    data_dir: &Path,
    database_url: Option<&str>,
) -> AnyResult<Mediator> {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--no-qr",
        "--log-filter",
        "warn",
        "--rate-limit-per-second",
        "1000000000",
        "--rate-limit-burst",
        "1000000000",
        "--queue-max-messages",
        "100000000",
        "--queue-max-bytes",
        "1000000000000",
    ])
    .arg("--data-dir")
    .arg(data_dir)
    .arg("--pinned-did-docs")
    .arg(data_dir.join("pinned.json"))
    .stdout(std::process::Stdio::piped())
    .kill_on_drop(true);
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut did = None;
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(d) = line.strip_prefix("mediator DID: ") {
                did = Some(d.to_owned());
            }
            if let Some(a) = line.strip_prefix("listening on http://") {
                return Ok::<SocketAddr, Box<dyn std::error::Error + Send + Sync>>(a.parse()?);
            }
        }
        Err("the mediator exited before listening".into())
    })
    .await??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Mediator {
        child,
        addr,
        did: did.ok_or("no DID printed")?,
    })
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

fn percentiles(mut micros: Vec<u64>) -> Percentiles {
    micros.sort_unstable();
    let at = |q: f64| {
        if micros.is_empty() {
            return 0.0;
        }
        let i = ((micros.len() as f64 - 1.0) * q).round() as usize;
        micros.get(i).copied().unwrap_or(0) as f64 / 1000.0
    };
    Percentiles {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: at(1.0),
    }
}

/// Pack `count` forwards from Bob to Alice on all cores. Payloads are opaque JSON of
/// `payload` bytes (the mediator never reads them), so only the outer anoncrypt is paid.
async fn pack_forwards(
    bob: &Device,
    mediator: &str,
    alice: &str,
    count: usize,
    payload: usize,
    salt: &str,
) -> AnyResult<Vec<String>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let filler = "x".repeat(payload);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let bob = bob.clone();
        let mediator = mediator.to_owned();
        let alice = alice.to_owned();
        let filler = filler.clone();
        let salt = salt.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut i = w;
            while i < count {
                let inner = json!({"ciphertext": filler, "n": i, "salt": salt}).to_string();
                out.push(bob.wrap_forward(&mediator, &alice, &inner).await?);
                i += workers;
            }
            Ok::<Vec<String>, didcomm_edge_mediator::Error>(out)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

/// POST every forward over `concurrency` connections; returns (elapsed, latencies in µs).
async fn blast(
    addr: SocketAddr,
    forwards: Vec<String>,
    concurrency: usize,
    timeout: Duration,
) -> AnyResult<(Duration, Vec<u64>)> {
    let queue = Arc::new(tokio::sync::Mutex::new(forwards));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let queue = Arc::clone(&queue);
        tasks.push(tokio::spawn(async move {
            let mut http = HttpClient::connect(addr).await?;
            let mut latencies = Vec::new();
            loop {
                let Some(f) = queue.lock().await.pop() else {
                    break;
                };
                let t = Instant::now();
                let r = http.post_packed(&f).await?;
                if r.status != 202 {
                    return Err(didcomm_edge_mediator::Error::new(
                        didcomm_edge_mediator::ErrorKind::BadRequest,
                        format!("status {}: {}", r.status, r.text()),
                    ));
                }
                latencies.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
            Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(tokio::time::timeout(timeout, t).await???);
    }
    Ok((started.elapsed(), latencies))
}

/// Pick up and acknowledge until the queue is empty; returns (messages, elapsed).
async fn drain(
    addr: SocketAddr,
    alice: &Device,
    mediator: &str,
    timeout: Duration,
) -> AnyResult<(usize, Duration)> {
    let mut http = HttpClient::connect(addr).await?;
    let started = Instant::now();
    let mut total = 0;
    while started.elapsed() < timeout {
        let request = alice
            .pickup_request(mediator, "delivery-request", json!({"limit": 100}))
            .await?;
        let r = http.post_packed(&request).await?;
        let reply = alice.unpack(&r.text()).await?;
        let delivered = Device::delivered(&reply)?;
        if delivered.is_empty() {
            break;
        }
        total += delivered.len();
        let ids: Vec<String> = delivered.into_iter().map(|(id, _)| id).collect();
        let ack = alice
            .pickup_request(
                mediator,
                "messages-received",
                json!({"message_id_list": ids}),
            )
            .await?;
        http.post_packed(&ack).await?;
    }
    Ok((total, started.elapsed()))
}

/// Offer `rate` forwards per second for `seconds`; latency counted from the scheduled time.
async fn fixed_rate(
    addr: SocketAddr,
    forwards: Vec<String>,
    rate: u64,
    connections: usize,
) -> AnyResult<(f64, Vec<u64>)> {
    let (tx, rx) = tokio::sync::mpsc::channel::<(Instant, String)>(forwards.len().max(1));
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut workers = Vec::new();
    for _ in 0..connections {
        let rx = Arc::clone(&rx);
        workers.push(tokio::spawn(async move {
            let mut http = HttpClient::connect(addr).await?;
            let mut latencies = Vec::new();
            loop {
                let next = rx.lock().await.recv().await;
                let Some((scheduled, f)) = next else { break };
                let r = http.post_packed(&f).await?;
                if r.status == 202 {
                    latencies
                        .push(u64::try_from(scheduled.elapsed().as_micros()).unwrap_or(u64::MAX));
                }
            }
            Ok::<Vec<u64>, didcomm_edge_mediator::Error>(latencies)
        }));
    }
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    for (i, f) in forwards.into_iter().enumerate() {
        let scheduled = started + interval * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(scheduled.into()).await;
        tx.send((scheduled, f)).await?;
    }
    drop(tx);
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await??);
    }
    let achieved = latencies.len() as f64 / started.elapsed().as_secs_f64();
    Ok((achieved, latencies))
}

async fn run(args: Args) -> AnyResult<Value> {
    let bin = match &args.mediator {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .ok_or("no parent folder")?
            .join("didcomm-edge-mediator"),
    };
    let data = tempfile_dir()?;
    let backend = if args.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    // Devices, pinned for the mediator; Alice's grant written before it starts.
    let wallets: Vec<didcomm_edge::Wallet> = (0..2)
        .map(|_| didcomm_edge_mediator::identity::new_mediator_identity(""))
        .collect::<Result<_, _>>()?;
    let pinned = didcomm_edge::Wallet {
        did_docs: wallets.iter().flat_map(|w| w.did_docs.clone()).collect(),
        secrets: vec![],
    };
    std::fs::write(data.join("pinned.json"), pinned.to_json_pretty()?)?;
    let [alice_wallet, bob_wallet] =
        <[didcomm_edge::Wallet; 2]>::try_from(wallets).map_err(|_| "two wallets")?;
    let alice_did = alice_wallet
        .did_docs
        .first()
        .ok_or("no document")?
        .id
        .clone();
    let store_config = match &args.database_url {
        Some(url) => StorageConfig::Postgres {
            url: url.clone(),
            pool_size: 2,
        },
        None => StorageConfig::Sqlite {
            path: data.join("mediator.sqlite"),
        },
    };
    {
        let s = storage::open(&store_config).await?;
        s.put_grant(&Grant {
            did: alice_did.clone(),
            routing_did: "did:example:m".into(),
            granted_at_ms: 0,
        })
        .await?;
        s.update_keylist(
            &alice_did,
            &[KeylistUpdate {
                key: alice_did.clone(),
                action: KeylistAction::Add,
            }],
        )
        .await?;
        s.close().await;
    }
    let mut mediator = spawn_mediator(&bin, &data, args.database_url.as_deref()).await?;
    let mediator_wallet = didcomm_edge_mediator::identity::load_wallet(
        &data.join(didcomm_edge_mediator::identity::WALLET_FILE),
    )?;
    let mut known = mediator_wallet.did_docs.clone();
    known.extend(pinned.did_docs.clone());
    let alice = Device::from_wallet(alice_wallet, &known)?;
    let bob = Device::from_wallet(bob_wallet, &known)?;
    let timeout = Duration::from_secs(args.phase_timeout);
    let pid = mediator.child.id().unwrap_or(0);
    let (rss_idle, _) = rss_kib(pid);

    // 1. Throughput.
    eprintln!("[{backend}] packing {} forwards", args.messages);
    let forwards = pack_forwards(
        &bob,
        &mediator.did,
        &alice.did,
        args.messages,
        args.payload,
        "t",
    )
    .await?;
    let forward_bytes = forwards.first().map(String::len).unwrap_or(0);
    eprintln!("[{backend}] sending over {} connections", args.concurrency);
    let (elapsed, latencies) = blast(mediator.addr, forwards, args.concurrency, timeout).await?;
    let throughput = latencies.len() as f64 / elapsed.as_secs_f64();
    let tp = percentiles(latencies);

    // 2. Pickup.
    eprintln!("[{backend}] picking up");
    let (picked, pickup_elapsed) = drain(mediator.addr, &alice, &mediator.did, timeout).await?;
    let pickup_rate = picked as f64 / pickup_elapsed.as_secs_f64();

    // 3. Fixed rate.
    let count = usize::try_from(args.rate * args.rate_seconds).unwrap_or(usize::MAX);
    eprintln!(
        "[{backend}] offering {} msg/s for {} s",
        args.rate, args.rate_seconds
    );
    let forwards = pack_forwards(&bob, &mediator.did, &alice.did, count, args.payload, "r").await?;
    let (achieved, latencies) =
        fixed_rate(mediator.addr, forwards, args.rate, args.concurrency).await?;
    let fr = percentiles(latencies);
    drain(mediator.addr, &alice, &mediator.did, timeout).await?;

    // 4. Memory with `queued` messages waiting.
    let mut memory = Value::Null;
    if args.queued > 0 {
        eprintln!("[{backend}] queueing {} messages", args.queued);
        let forwards = pack_forwards(
            &bob,
            &mediator.did,
            &alice.did,
            args.queued,
            args.payload,
            "q",
        )
        .await?;
        let (elapsed, latencies) =
            blast(mediator.addr, forwards, args.concurrency, timeout * 3).await?;
        let mut http = HttpClient::connect(mediator.addr).await?;
        let status = alice
            .pickup_request(&mediator.did, "status-request", json!({}))
            .await?;
        let status = alice
            .unpack(&http.post_packed(&status).await?.text())
            .await?;
        let (rss, peak) = rss_kib(pid);
        memory = json!({
            "queued": status.body.as_ref().and_then(|b| b.get("message_count")).cloned(),
            "fill_rate_msgs_per_s": (latencies.len() as f64 / elapsed.as_secs_f64()).round(),
            "rss_mib": (rss as f64 / 1024.0 * 10.0).round() / 10.0,
            "peak_rss_mib": (peak as f64 / 1024.0 * 10.0).round() / 10.0,
        });
    }
    // Graceful stop (SIGTERM) so the database is left clean.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(30), mediator.child.wait()).await;
    let _ = std::fs::remove_dir_all(&data);
    Ok(json!({
        "backend": backend,
        "forward_bytes": forward_bytes,
        "concurrency": args.concurrency,
        "throughput": {
            "messages": args.messages,
            "msgs_per_s": throughput.round(),
            "latency_ms": {"p50": tp.p50, "p90": tp.p90, "p99": tp.p99, "max": tp.max},
        },
        "pickup": {"messages": picked, "msgs_per_s": pickup_rate.round()},
        "fixed_rate": {
            "offered_per_s": args.rate,
            "achieved_per_s": achieved.round(),
            "latency_ms": {"p50": fr.p50, "p90": fr.p90, "p99": fr.p99, "max": fr.max},
        },
        "memory": memory,
        "rss_idle_mib": (rss_idle as f64 / 1024.0 * 10.0).round() / 10.0,
    }))
}

fn tempfile_dir() -> AnyResult<PathBuf> {
    let dir = std::env::temp_dir().join(format!("didcomm-edge-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
