//! `didcomm-edge-mediator-load`: a load generator for the mediator, on loopback only.
//!
//! It starts the real mediator binary (SQLite in a temporary folder, or `--database-url`),
//! enrolls `--recipients` devices with real protocol messages (Coordinate Mediation
//! `mediate-request`, a recipient did:peer:2 whose service names the mediator, `keylist-update`),
//! then measures, each phase bounded in count and time, with messages a sender builds the way
//! any sender would (authcrypt to the recipient, then the core's `route`, which wraps it in a
//! forward for the mediator found in the recipient's DID document):
//! 1. forward throughput: N routed messages POSTed over C keep-alive connections (each 202
//!    means "stored durably"), with latency percentiles;
//! 2. pickup throughput: every device drains its queue (delivery-request + messages-received);
//! 3. forward latency at a fixed offered rate (default 1,000 messages/s);
//! 4. forward-to-delivery latency in live mode (a device on the WebSocket);
//! 5. resident memory of the mediator with `--queued` messages waiting.
#![forbid(unsafe_code)]
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use didcomm_edge::protocols::mediation::MediationVersion;
use didcomm_edge::protocols::pickup::{
    DeliveryRequest, LiveDeliveryChange, MessagesReceived, PickupVersion, Status, StatusRequest,
    DELIVERY_V3,
};
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::Message;
use didcomm_edge_testkit::{
    Device, Error, ErrorKind, HttpConnection, MediatorProcess, SelfSignedTls, WsConnection,
};
use serde_json::{json, Value};

#[derive(Debug, Parser)]
#[command(
    name = "didcomm-edge-mediator-load",
    about = "Load generator for the mediator (loopback)"
)]
struct Args {
    /// PostgreSQL URL (a fresh database is best), or `memory` for the in-memory storage;
    /// SQLite in a temporary folder when absent.
    #[arg(long)]
    database_url: Option<String>,
    /// Routed messages in the throughput phase.
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Enrolled devices (the messages are spread over their recipient DIDs).
    #[arg(long, default_value_t = 8)]
    recipients: usize,
    /// Offered rate of the latency phase (messages/s).
    #[arg(long, default_value_t = 1_000)]
    rate: u64,
    /// Seconds of the latency phase.
    #[arg(long, default_value_t = 5)]
    rate_seconds: u64,
    /// Messages of the live phase (0 skips it).
    #[arg(long, default_value_t = 2_000)]
    live_messages: usize,
    /// Offered rate of the live phase (messages/s).
    #[arg(long, default_value_t = 500)]
    live_rate: u64,
    /// Messages queued for the memory phase (0 skips it).
    #[arg(long, default_value_t = 100_000)]
    queued: usize,
    /// Size of each message's content in bytes.
    #[arg(long, default_value_t = 512)]
    payload: usize,
    /// The mediator binary (default: next to this one).
    #[arg(long)]
    mediator: Option<PathBuf>,
    /// Stop any phase after this many seconds.
    #[arg(long, default_value_t = 120)]
    phase_timeout: u64,
    /// Serve TLS (HTTPS and WSS) with a certificate made for the run, and connect over it.
    #[arg(long)]
    tls: bool,
}

type AnyResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The mediator's settings for the run: logs at `warn`, every limit out of the way (the load
/// is the point).
const MEDIATOR_ARGS: [&str; 16] = [
    "--log-filter",
    "warn",
    "--rate-limit-per-second",
    "1000000000",
    "--rate-limit-burst",
    "1000000000",
    "--did-rate-limit-per-second",
    "1000000000",
    "--did-rate-limit-burst",
    "1000000000",
    "--max-connections",
    "100000",
    "--queue-max-messages",
    "100000000",
    "--queue-max-bytes",
    "1000000000000",
];

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

impl Percentiles {
    fn json(&self) -> Value {
        json!({"p50": self.p50, "p90": self.p90, "p99": self.p99, "max": self.max})
    }
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

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn fail(reason: String) -> Box<dyn std::error::Error + Send + Sync> {
    reason.into()
}

/// Where the mediator listens and how to reach it: plain TCP, or TLS that trusts the run's
/// own certificate.
#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    tls: Option<Arc<SelfSignedTls>>,
}

impl Target {
    async fn http(&self) -> Result<HttpConnection, Error> {
        match &self.tls {
            None => HttpConnection::connect(self.addr).await,
            Some(tls) => tls.connect_http(self.addr).await,
        }
    }

    async fn ws(&self, timeout: Duration) -> Result<WsConnection, Error> {
        match &self.tls {
            None => didcomm_edge_testkit::connect_ws(self.addr, timeout).await,
            Some(tls) => tls.connect_ws(self.addr, timeout).await,
        }
    }
}

/// POST a packed request; the reply (200 with a packed message) unpacked.
async fn call(http: &mut HttpConnection, device: &Device, packed: &str) -> AnyResult<Message> {
    Ok(device.call_over(http, packed).await?)
}

/// A device with a grant and one registered recipient DID, enrolled with real protocol
/// messages over `http`.
async fn enroll(
    http: &mut HttpConnection,
    mediator_did: &str,
    version: MediationVersion,
) -> AnyResult<(Device, String)> {
    let mut device = Device::new(mediator_did, version)?;
    let (_, recipient) = device.enroll_over(http).await?;
    Ok((device, recipient))
}

/// Build `count` routed messages from `sender` to the recipients (round robin) on all cores:
/// authcrypt to the recipient, then `route` (a forward anoncrypted for the mediator). The
/// message at index `n` carries `"n": n` in its content.
async fn pack_routed(
    sender: &Device,
    recipients: &[String],
    count: usize,
    payload: usize,
    salt: &str,
) -> AnyResult<Vec<String>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let filler = "x".repeat(payload);
    let recipients = Arc::new(recipients.to_vec());
    let mut tasks = Vec::new();
    for w in 0..workers {
        let sender = sender.clone();
        let recipients = Arc::clone(&recipients);
        let filler = filler.clone();
        let salt = salt.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut i = w;
            while i < count {
                let to = recipients
                    .get(i % recipients.len().max(1))
                    .ok_or("no recipients")?;
                let routed = sender
                    .send(to, json!({"content": filler, "n": i, "salt": salt}))
                    .await?;
                out.push((i, routed.message));
                i += workers;
            }
            Ok::<Vec<(usize, String)>, Box<dyn std::error::Error + Send + Sync>>(out)
        }));
    }
    let mut all = Vec::with_capacity(count);
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort_unstable_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, m)| m).collect())
}

/// POST every message over `concurrency` connections; returns (elapsed, latencies in µs).
async fn blast(
    target: &Target,
    messages: Vec<String>,
    concurrency: usize,
    timeout: Duration,
) -> AnyResult<(Duration, Vec<u64>)> {
    let queue = Arc::new(tokio::sync::Mutex::new(messages));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let queue = Arc::clone(&queue);
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut http = target.http().await?;
            let mut latencies = Vec::new();
            loop {
                let Some(m) = queue.lock().await.pop() else {
                    break;
                };
                let t = Instant::now();
                let r = http.post_packed(&m).await?;
                if r.status != 202 {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!("status {}: {}", r.status, r.text()),
                    ));
                }
                latencies.push(micros(t.elapsed()));
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

/// One device picks up and acknowledges until its queue is empty; checks that the first
/// message of each delivery unpacks for the device. Returns the count.
async fn drain_one(target: Target, device: Device, deadline: Instant) -> AnyResult<usize> {
    let mut http = target.http().await?;
    let mut total = 0;
    while Instant::now() < deadline {
        let (request, _) = device
            .request(&DeliveryRequest {
                version: PickupVersion::V3,
                limit: 100,
                recipient_did: None,
            })
            .await?;
        let reply = call(&mut http, &device, &request).await?;
        if reply.type_ != DELIVERY_V3 {
            break;
        }
        let delivery = Device::delivered(&reply)?;
        if let Some(first) = delivery.messages.first() {
            // End to end: what the sender routed is readable by the recipient.
            device.unpack(&first.message).await?;
        }
        total += delivery.messages.len();
        let (ack, _) = device.request(&delivery.acknowledgement()).await?;
        call(&mut http, &device, &ack).await?;
    }
    Ok(total)
}

/// Every device drains its queue at once; returns (messages, elapsed).
async fn drain_all(
    target: &Target,
    devices: &[Device],
    timeout: Duration,
) -> AnyResult<(usize, Duration)> {
    let started = Instant::now();
    let deadline = started + timeout;
    let tasks: Vec<_> = devices
        .iter()
        .map(|d| tokio::spawn(drain_one(target.clone(), d.clone(), deadline)))
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok((total, started.elapsed()))
}

/// Offer `rate` messages per second; latency counted from the scheduled time.
async fn fixed_rate(
    target: &Target,
    messages: Vec<String>,
    rate: u64,
    connections: usize,
) -> AnyResult<(f64, Vec<u64>)> {
    let (tx, rx) = tokio::sync::mpsc::channel::<(Instant, String)>(messages.len().max(1));
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut workers = Vec::new();
    for _ in 0..connections {
        let rx = Arc::clone(&rx);
        let target = target.clone();
        workers.push(tokio::spawn(async move {
            let mut http = target.http().await?;
            let mut latencies = Vec::new();
            loop {
                let next = rx.lock().await.recv().await;
                let Some((scheduled, m)) = next else { break };
                let r = http.post_packed(&m).await?;
                if r.status == 202 {
                    latencies.push(micros(scheduled.elapsed()));
                }
            }
            Ok::<Vec<u64>, Error>(latencies)
        }));
    }
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    for (i, m) in messages.into_iter().enumerate() {
        let scheduled = started + interval * u32::try_from(i).unwrap_or(u32::MAX);
        tokio::time::sleep_until(scheduled.into()).await;
        tx.send((scheduled, m)).await?;
    }
    drop(tx);
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await??);
    }
    let achieved = latencies.len() as f64 / started.elapsed().as_secs_f64();
    Ok((achieved, latencies))
}

/// Live mode: `device` on the WebSocket with live delivery on; `messages` (routed to it) are
/// POSTed at `rate`; latency from the scheduled send to the arrival of the delivery that
/// carries each message. Returns (received, latencies in µs).
async fn live_phase(
    target: &Target,
    device: &Device,
    messages: Vec<(u64, String)>,
    rate: u64,
    timeout: Duration,
) -> AnyResult<(usize, Vec<u64>)> {
    let mut ws = target.ws(timeout).await?;
    let (on, _) = device
        .request(&LiveDeliveryChange {
            version: PickupVersion::V3,
            live_delivery: true,
        })
        .await?;
    ws.send(&on).await?;
    let status = ws
        .next(timeout)
        .await?
        .ok_or("no status for live-delivery-change")?;
    let status = Status::from_message(&device.unpack(&status).await?)?;
    if status.live_delivery != Some(true) {
        return Err(fail("live delivery did not turn on".into()));
    }
    let expected = messages.len();
    let sent: Arc<Mutex<HashMap<u64, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    // The schedule is kept by one task; several connections post (one alone could not keep
    // up when a post takes longer than the interval).
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(expected.max(1));
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut posters = Vec::new();
    for _ in 0..8 {
        let rx = Arc::clone(&rx);
        let target = target.clone();
        posters.push(tokio::spawn(async move {
            let mut http = target.http().await?;
            loop {
                let next = rx.lock().await.recv().await;
                let Some(m) = next else { break };
                let r = http.post_packed(&m).await?;
                if r.status != 202 {
                    return Err(Error::new(
                        ErrorKind::Refused,
                        format!("status {}", r.status),
                    ));
                }
            }
            Ok::<(), Error>(())
        }));
    }
    let sender_sent = Arc::clone(&sent);
    let sender = tokio::spawn(async move {
        let started = Instant::now();
        let interval = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
        for (i, (n, m)) in messages.into_iter().enumerate() {
            let scheduled = started + interval * u32::try_from(i).unwrap_or(u32::MAX);
            tokio::time::sleep_until(scheduled.into()).await;
            if let Ok(mut map) = sender_sent.lock() {
                map.insert(n, scheduled);
            }
            if tx.send(m).await.is_err() {
                break;
            }
        }
        drop(tx);
        for p in posters {
            p.await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    });
    let deadline = Instant::now() + timeout;
    let mut latencies = Vec::with_capacity(expected);
    while latencies.len() < expected && Instant::now() < deadline {
        let Some(frame) = ws.next(Duration::from_secs(5)).await? else {
            break;
        };
        let arrived = Instant::now();
        let message = device.unpack(&frame).await?;
        if message.type_ != DELIVERY_V3 {
            continue; // the status answering an acknowledgement
        }
        let delivery = Device::delivered(&message)?;
        for item in &delivery.messages {
            let inner = device.unpack(&item.message).await?;
            let n = inner
                .body
                .as_ref()
                .and_then(|b| b.get("n"))
                .and_then(Value::as_u64)
                .ok_or("a delivered message without its number")?;
            let scheduled = sent.lock().ok().and_then(|m| m.get(&n).copied());
            if let Some(scheduled) = scheduled {
                latencies.push(micros(arrived.saturating_duration_since(scheduled)));
            }
        }
        let ack = MessagesReceived {
            version: PickupVersion::V3,
            message_id_list: delivery.messages.iter().map(|m| m.id.clone()).collect(),
        };
        let (ack, _) = device.request(&ack).await?;
        ws.send(&ack).await?;
    }
    sender.await?.map_err(fail)?;
    ws.close().await;
    Ok((latencies.len(), latencies))
}

async fn queued_total(target: &Target, devices: &[Device]) -> AnyResult<u64> {
    let mut http = target.http().await?;
    let mut total = 0;
    for device in devices {
        let (request, _) = device
            .request(&StatusRequest {
                version: PickupVersion::V3,
                recipient_did: None,
            })
            .await?;
        let status = Status::from_message(&call(&mut http, device, &request).await?)?;
        total += status.message_count;
    }
    Ok(total)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
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
    let backend = match args.database_url.as_deref() {
        // A label for the report; the mediator itself decides what the URL means.
        Some(url) if url.starts_with("postgres") => "postgres",
        Some(_) => "memory",
        None => "sqlite",
    };
    let mut mediator_args: Vec<String> = MEDIATOR_ARGS.iter().map(|a| (*a).to_owned()).collect();
    if let Some(url) = &args.database_url {
        mediator_args.extend(["--database-url".to_owned(), url.clone()]);
    }
    let tls = if args.tls {
        let tls = SelfSignedTls::new()?;
        let (cert, key) = tls.write(&data)?;
        mediator_args.extend(["--tls-cert".into(), cert.display().to_string()]);
        mediator_args.extend(["--tls-key".into(), key.display().to_string()]);
        Some(Arc::new(tls))
    } else {
        None
    };
    let mut mediator = MediatorProcess::start(&bin, &data, &mediator_args).await?;
    let target = Target {
        addr: mediator.addr,
        tls,
    };
    let pid = mediator.pid();
    let (rss_idle, _) = rss_kib(pid);
    let timeout = Duration::from_secs(args.phase_timeout);

    // Enrollment, alternating Coordinate Mediation 2.0 and 3.0.
    eprintln!("[{backend}] enrolling {} devices", args.recipients);
    let mut http = target.http().await?;
    let mut devices = Vec::new();
    let mut recipients = Vec::new();
    for i in 0..args.recipients.max(1) {
        let version = if i % 2 == 0 {
            MediationVersion::V3
        } else {
            MediationVersion::V2
        };
        let (device, recipient) = enroll(&mut http, &mediator.did, version).await?;
        devices.push(device);
        recipients.push(recipient);
    }
    // The sender needs no mediation: it resolves the recipients' DIDs (did:peer:2) and the
    // mediator's from the DIDs themselves.
    let sender = Device::new(&mediator.did, MediationVersion::V3)?;

    // 1. Throughput.
    eprintln!("[{backend}] routing {} messages", args.messages);
    let messages = pack_routed(&sender, &recipients, args.messages, args.payload, "t").await?;
    let forward_bytes = messages.first().map(String::len).unwrap_or(0);
    eprintln!("[{backend}] sending over {} connections", args.concurrency);
    let (elapsed, latencies) = blast(&target, messages, args.concurrency, timeout).await?;
    let throughput = latencies.len() as f64 / elapsed.as_secs_f64();
    let tp = percentiles(latencies);
    let (rss_after_throughput, _) = rss_kib(pid);

    // 2. Pickup.
    eprintln!("[{backend}] picking up");
    let (picked, pickup_elapsed) = drain_all(&target, &devices, timeout).await?;
    if picked != args.messages {
        return Err(fail(format!(
            "{picked} of {} forwarded messages were picked up",
            args.messages
        )));
    }
    let pickup_rate = picked as f64 / pickup_elapsed.as_secs_f64();

    // 3. Fixed rate.
    let count = usize::try_from(args.rate * args.rate_seconds).unwrap_or(usize::MAX);
    eprintln!(
        "[{backend}] offering {} msg/s for {} s",
        args.rate, args.rate_seconds
    );
    let messages = pack_routed(&sender, &recipients, count, args.payload, "r").await?;
    let (achieved, latencies) = fixed_rate(&target, messages, args.rate, args.concurrency).await?;
    let fr = percentiles(latencies);
    drain_all(&target, &devices, timeout).await?;

    // 4. Live delivery.
    let mut live = Value::Null;
    if args.live_messages > 0 {
        eprintln!(
            "[{backend}] live delivery of {} messages at {} msg/s",
            args.live_messages, args.live_rate
        );
        let first = recipients.first().ok_or("no recipient")?.clone();
        let messages =
            pack_routed(&sender, &[first], args.live_messages, args.payload, "l").await?;
        let numbered = messages
            .into_iter()
            .enumerate()
            .map(|(i, m)| (i as u64, m))
            .collect();
        let device = devices.first().ok_or("no device")?;
        let (received, latencies) =
            live_phase(&target, device, numbered, args.live_rate, timeout).await?;
        let lp = percentiles(latencies);
        live = json!({
            "messages": args.live_messages,
            "received": received,
            "offered_per_s": args.live_rate,
            "forward_to_delivery_ms": lp.json(),
        });
    }

    // 5. Memory with `queued` messages waiting.
    let mut memory = Value::Null;
    if args.queued > 0 {
        eprintln!("[{backend}] routing {} messages to queue", args.queued);
        // In chunks, so that the generator does not hold them all at once.
        let mut sent = 0;
        let mut fill_elapsed = Duration::ZERO;
        while sent < args.queued {
            let chunk = (args.queued - sent).min(20_000);
            let salt = format!("q{sent}");
            let messages = pack_routed(&sender, &recipients, chunk, args.payload, &salt).await?;
            let (elapsed, latencies) = blast(&target, messages, args.concurrency, timeout).await?;
            fill_elapsed += elapsed;
            sent += latencies.len();
        }
        let queued = queued_total(&target, &devices).await?;
        let (rss, peak) = rss_kib(pid);
        memory = json!({
            "queued": queued,
            "fill_rate_msgs_per_s": (sent as f64 / fill_elapsed.as_secs_f64()).round(),
            "rss_mib": round1(rss as f64 / 1024.0),
            "peak_rss_mib": round1(peak as f64 / 1024.0),
        });
    }
    // Graceful stop (SIGTERM) so the database is left clean.
    let _ = mediator.terminate(Duration::from_secs(30)).await;
    let _ = std::fs::remove_dir_all(&data);
    Ok(json!({
        "backend": backend,
        "tls": args.tls,
        "recipients": recipients.len(),
        "routed_forward_bytes": forward_bytes,
        "concurrency": args.concurrency,
        "throughput": {
            "messages": args.messages,
            "msgs_per_s": throughput.round(),
            "latency_ms": tp.json(),
        },
        "pickup": {"messages": picked, "msgs_per_s": pickup_rate.round()},
        "fixed_rate": {
            "offered_per_s": args.rate,
            "achieved_per_s": achieved.round(),
            "latency_ms": fr.json(),
        },
        "live": live,
        "memory": memory,
        "rss_idle_mib": round1(rss_idle as f64 / 1024.0),
        "rss_after_throughput_mib": round1(rss_after_throughput as f64 / 1024.0),
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
