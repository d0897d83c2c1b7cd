//! `edge-demo`: the end-to-end demo behind `make demo`.
//!
//! Starts the real mediator binary on 127.0.0.1 (SQLite in a temporary folder), then runs two
//! edge devices, Alice and Bob, through mediation, key management (keylist review, DID rotation
//! with `from_prior`), pickup and live delivery with acknowledgements, and Bob's reply. Each
//! step says what was sent, what the mediator could see, and what each device decrypted. Exits
//! 0 when every step did what it should; stops the mediator and removes the folder either way.
#![forbid(unsafe_code)]

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use didcomm_edge::protocols::basic_message::BasicMessage;
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::{DidComm, DidResolver, Message, ResolverChain, UnpackOptions, Wallet};
use didcomm_edge_agent::{AgentConfig, EdgeAgent, LiveEvent, Received, Sent};
use serde_json::Value;

/// How long the whole demo may take before it gives up.
const DEADLINE: Duration = Duration::from_secs(60);

type DemoResult<T> = Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut mediator_bin = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--mediator-bin" => mediator_bin = iter.next().map(PathBuf::from),
            "-h" | "--help" => {
                let _ = writeln!(
                    std::io::stdout(),
                    "usage: edge-demo [--mediator-bin PATH]\n\nRuns the mediator binary (default: \
                     didcomm-edge-mediator next to this program) and two edge devices through \
                     mediation, key rotation, pickup, live delivery and a reply."
                );
                return ExitCode::SUCCESS;
            }
            other => {
                let _ = writeln!(std::io::stderr(), "edge-demo: unknown argument '{other}'");
                return ExitCode::from(2);
            }
        }
    }
    let mediator_bin = match mediator_bin.or_else(default_mediator_bin) {
        Some(path) => path,
        None => {
            let _ = writeln!(
                std::io::stderr(),
                "edge-demo: cannot find didcomm-edge-mediator; pass --mediator-bin PATH"
            );
            return ExitCode::from(2);
        }
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
    let mut out = Printer::new();
    let workspace = match Workspace::create() {
        Ok(w) => w,
        Err(e) => {
            out.fail(&e);
            return ExitCode::from(1);
        }
    };
    let started = Instant::now();
    let result = runtime.block_on(async {
        match tokio::time::timeout(DEADLINE, run(&mut out, &workspace, &mediator_bin)).await {
            Ok(r) => r,
            Err(_) => Err(format!("the demo did not finish within {DEADLINE:?}")),
        }
    });
    // Stops the mediator and removes the folder.
    let log = workspace.finish();
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
                for line in log
                    .lines()
                    .rev()
                    .take(20)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                {
                    out.line(&format!("  {line}"));
                }
            }
            ExitCode::from(1)
        }
    }
}

fn default_mediator_bin() -> Option<PathBuf> {
    let here = std::env::current_exe().ok()?;
    let candidate = here.parent()?.join("didcomm-edge-mediator");
    candidate.exists().then_some(candidate)
}

// ------------------------------------------------------------------------------------------
// The story.

async fn run(out: &mut Printer, ws: &Workspace, mediator_bin: &Path) -> DemoResult<()> {
    out.title("didcomm-edge: two edge devices and a mediator, end to end");
    let mediator = ws.start_mediator(mediator_bin)?;
    out.step("The mediator runs as its own process on 127.0.0.1, SQLite in a temporary folder");
    out.kv("listening on", &mediator.url);
    out.kv("mediator DID", &format!("{}…", head(&mediator.did, 40)));
    let chain = ResolverChain::new().with_web(didcomm_edge_web::resolver().map_err(err)?);
    if let Ok(Some(doc)) = chain.resolve(&mediator.did).await {
        let uris: Vec<String> = doc.didcomm_endpoints().into_iter().map(|e| e.uri).collect();
        out.kv("its endpoints", &uris.join(", "));
    }
    out.kv("invitation", &shorten(&mediator.invitation, 72));
    let mut names = Names::default();
    names.add(&mediator.did, "the mediator");

    // ---------------------------------------------------------------- Phase 1
    out.phase("Phase 1 — mediation: request, grant, keylist update");
    let config = AgentConfig::default();
    let alice = EdgeAgent::open(ws.dir.join("alice.json"), config.clone()).map_err(err)?;
    let bob = EdgeAgent::open(ws.dir.join("bob.json"), config).map_err(err)?;
    names.add(alice.control_did(), "Alice's control DID");
    names.add(bob.control_did(), "Bob's control DID");

    out.step("Alice scans the mediator's invitation (the _oob URL)");
    let a = alice.connect(&mediator.invitation).await.map_err(err)?;
    names.add(&a.did, "Alice");
    explain_connection(out, &names, ("Alice", "her"), &alice, &a).await?;

    out.step("Bob is given only the mediator's DID (its document carries the endpoints)");
    let b = bob.connect(&mediator.did).await.map_err(err)?;
    names.add(&b.did, "Bob");
    explain_connection(out, &names, ("Bob", "his"), &bob, &b).await?;

    let rtt = bob.ping_mediator().await.map_err(err)?;
    out.say(&format!(
        "Bob → mediator: trust ping; ping-response after {:.1} ms",
        rtt.as_secs_f64() * 1000.0
    ));

    // ---------------------------------------------------------------- Phase 2
    out.phase("Phase 2 — key management: review the keylist, rotate a DID");
    let keys = alice.keylist().await.map_err(err)?;
    out.say("Alice → mediator: keylist-query; the mediator forwards messages for:");
    for k in &keys {
        out.item(&names.show(k));
    }
    ensure(
        keys == [a.did.clone()],
        "Alice's keylist should hold her messaging DID",
    )?;

    out.step("Alice rotates her messaging DID (new keys, new did:peer:2, same mediator)");
    let rotated = alice.rotate().await.map_err(err)?;
    names.add(&rotated.new_did, "Alice (new DID)");
    names.add(&rotated.prior_did, "Alice (prior DID)");
    out.say("Alice → mediator: keylist-update add the new DID (the prior one keeps receiving)");
    out.say("from_prior, a JWT signed by the prior DID, will ride on her next messages:");
    show_from_prior(out, &names, &rotated.from_prior);
    let keys = alice.keylist().await.map_err(err)?;
    out.say("keylist now:");
    for k in &keys {
        out.item(&names.show(k));
    }
    ensure(keys.len() == 2, "both of Alice's DIDs should be registered")?;

    // ---------------------------------------------------------------- Phase 3
    out.phase("Phase 3 — delivery: send, what the mediator sees, pickup, acknowledgement");
    let text = "Greenhouse 3 is at 21.5 °C, humidity 64 %.";
    let message = BasicMessage::new(text)
        .to_message()
        .map_err(err)?
        .please_ack();
    out.step("Alice writes to Bob (a basic message asking for an acknowledgement)");
    let sent = alice.send(&b.did, message).await.map_err(err)?;
    explain_sent(out, &names, &sent);

    out.step("What the mediator could see (opened here with the mediator's own keys)");
    show_mediator_view(out, &names, ws, &sent).await?;

    out.step("Bob picks up (Message Pickup: status, delivery, then messages-received)");
    let status = bob.status(None).await.map_err(err)?;
    out.say(&format!(
        "mediator → Bob: status: {} message(s) waiting, {} bytes",
        status.message_count,
        status.total_bytes.unwrap_or(0)
    ));
    let batch = bob.pickup().await.map_err(err)?;
    ensure(
        batch.messages.len() == 1 && batch.failed.is_empty(),
        "Bob should receive exactly Alice's message",
    )?;
    let mut got_id = String::new();
    for received in &batch.messages {
        show_received(out, &names, "Bob", received);
        got_id.clone_from(&received.message.id);
        let content = BasicMessage::from_message(&received.message)
            .map(|m| m.content)
            .unwrap_or_default();
        ensure(content == text, "Bob should read Alice's text")?;
        ensure(
            received.rotation() == Some((rotated.prior_did.clone(), rotated.new_did.clone())),
            "Bob should learn Alice's rotation",
        )?;
    }
    out.say("Bob has the message: only now does he acknowledge it to the mediator");
    let acked = batch.acknowledge().await.map_err(err)?;
    out.say(&format!(
        "Bob → mediator: messages-received ({} id) — the mediator deletes its copy",
        acked.ids.len()
    ));
    for reply in &acked.replies {
        out.say(&format!(
            "Bob → Alice (automatic): ack of {} (Alice asked with please_ack)",
            short_id(&sent.id)
        ));
        let _ = reply;
    }
    ensure(
        acked.reply_errors.is_empty(),
        "Bob's automatic ack should go out",
    )?;
    let left = bob.status(None).await.map_err(err)?.message_count;
    out.say(&format!("messages waiting for Bob now: {left}"));
    ensure(left == 0, "the mediator should hold nothing more for Bob")?;

    // ---------------------------------------------------------------- Phase 4
    out.phase("Phase 4 — Bob replies; Alice receives live over the WebSocket");
    let mut live = alice.live().await.map_err(err)?;
    live.wait_live(Duration::from_secs(10)).await.map_err(err)?;
    out.say("Alice → mediator (WebSocket): live-delivery-change on — messages are pushed as they arrive");
    out.step("Bob answers the DID he knew; his agent follows Alice's rotation");
    let reply = BasicMessage::new("Thanks! Opening the vents by 10 %.")
        .to_message()
        .map_err(err)?
        .thid(got_id.clone());
    let sent_reply = bob.send(&rotated.prior_did, reply).await.map_err(err)?;
    out.say(&format!(
        "Bob asked for {} and sent to {}",
        names.show(&rotated.prior_did),
        names.show(&sent_reply.to)
    ));
    explain_sent(out, &names, &sent_reply);

    let mut seen_ack = false;
    let mut seen_reply = false;
    while !(seen_ack && seen_reply) {
        let event = tokio::time::timeout(Duration::from_secs(10), live.recv())
            .await
            .map_err(|_| "Alice did not receive Bob's messages live in time".to_owned())?
            .map_err(err)?;
        match &event {
            LiveEvent::Message(received) => {
                show_received(out, &names, "Alice (live)", received);
                if received.is_pure_ack() {
                    seen_ack |= received
                        .message
                        .ack
                        .iter()
                        .flatten()
                        .any(|id| *id == sent.id);
                } else {
                    seen_reply |= received.is_reply_to(&got_id);
                }
            }
            LiveEvent::Undecryptable(u) => {
                return Err(format!("Alice could not open a message: {}", u.error));
            }
        }
        live.ack(&event).await.map_err(err)?;
        out.say("Alice → mediator (WebSocket): messages-received — deleted at the mediator");
    }
    live.close().await;

    out.step("Alice retires her prior DID now that nothing waits for it");
    let retired = alice.retire_prior_dids(false).await.map_err(err)?;
    for did in &retired {
        out.say(&format!("keylist-update remove {}", names.show(did)));
    }
    let keys = alice.keylist().await.map_err(err)?;
    out.say("Alice's keylist now:");
    for k in &keys {
        out.item(&names.show(k));
    }
    ensure(
        keys == [rotated.new_did.clone()],
        "only the new DID should remain",
    )?;
    let (a_left, b_left) = (
        alice.status(None).await.map_err(err)?.message_count,
        bob.status(None).await.map_err(err)?.message_count,
    );
    out.say(&format!(
        "messages held by the mediator: {} for Alice, {} for Bob",
        a_left, b_left
    ));
    ensure(
        a_left == 0 && b_left == 0,
        "the mediator should hold nothing",
    )?;
    out.say("Both devices kept their state (identities, keys, mediator connection) in files:");
    out.item("alice.json, bob.json (mode 0600) — a restarted device continues from them");
    Ok(())
}

async fn explain_connection(
    out: &mut Printer,
    names: &Names,
    (who, their): (&str, &str),
    agent: &EdgeAgent,
    c: &didcomm_edge_agent::Connection,
) -> DemoResult<()> {
    let version = match agent.config().mediation_version {
        didcomm_edge::protocols::mediation::MediationVersion::V2 => "2.0",
        _ => "3.0",
    };
    out.say(&format!(
        "{who} → mediator: mediate-request (Coordinate Mediation {version}, authcrypt from {})",
        names.show(agent.control_did())
    ));
    out.say(&format!(
        "mediator → {who}: mediate-grant, routing_did = {}",
        c.routing_did
            .iter()
            .map(|d| names.show(d))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let doc = agent.didcomm().resolve(&c.did).await.map_err(err)?;
    let endpoint = doc
        .document()
        .didcomm_endpoints()
        .into_iter()
        .next()
        .ok_or_else(|| format!("{who}'s DID has no DIDComm service"))?;
    out.say(&format!(
        "{who} makes {their} messaging DID {}…",
        head(&c.did, 40)
    ));
    out.say(&format!(
        "  its DIDCommMessaging service: uri = {}{}",
        names.show(&endpoint.uri),
        if endpoint.routing_keys.is_empty() {
            String::new()
        } else {
            format!(", routingKeys = {:?}", endpoint.routing_keys)
        }
    ));
    out.say(&format!(
        "{who} → mediator: keylist-update add {} → success",
        names.show(&c.did)
    ));
    Ok(())
}

fn explain_sent(out: &mut Printer, names: &Names, sent: &Sent) {
    out.say(&format!(
        "packed for {} (authcrypt): {} bytes{}",
        names.show(&sent.to),
        sent.packed.len(),
        if sent.announced_rotation {
            ", carrying from_prior"
        } else {
            ""
        }
    ));
    out.say(&format!(
        "wrapped in {} forward layer(s) for {} → {} bytes POSTed to {}",
        sent.hops.len(),
        sent.hops
            .iter()
            .map(|h| names.show(h))
            .collect::<Vec<_>>()
            .join(", "),
        sent.wire.len(),
        sent.uri
    ));
}

async fn show_mediator_view(
    out: &mut Printer,
    names: &Names,
    ws: &Workspace,
    sent: &Sent,
) -> DemoResult<()> {
    let path = ws.dir.join("mediator").join("mediator-identity.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let wallet = Wallet::from_json(&text).map_err(err)?;
    let mediator = DidComm::new(
        Arc::new(
            ResolverChain::new()
                .with_pinned(Arc::new(wallet.resolver()))
                .with_web(didcomm_edge_web::resolver().map_err(err)?),
        ),
        Arc::new(wallet.secrets_store()),
    );
    let outer: Value = serde_json::from_str(&sent.wire).map_err(|e| e.to_string())?;
    let header = outer
        .get("protected")
        .and_then(Value::as_str)
        .and_then(|p| B64.decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .unwrap_or(Value::Null);
    out.say(&format!(
        "on the wire: a JWE, alg {}, enc {}, for {} (no sender: anoncrypt)",
        header.get("alg").and_then(Value::as_str).unwrap_or("?"),
        header.get("enc").and_then(Value::as_str).unwrap_or("?"),
        recipients(&outer)
            .iter()
            .map(|k| names.show(k))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let (forward, _) = mediator.unwrap_forward(&sent.wire).await.map_err(err)?;
    out.say(&format!(
        "the mediator opens it: a routing forward, next = {}",
        names.show(&forward.next)
    ));
    for attached in &forward.messages {
        let inner: Value = serde_json::from_str(attached).map_err(|e| e.to_string())?;
        out.say(&format!(
            "  attachment: another JWE of {} bytes, for {}",
            attached.len(),
            recipients(&inner)
                .iter()
                .map(|k| names.show(k))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        match mediator.unpack(attached, &UnpackOptions::default()).await {
            Ok(_) => return Err("the mediator could read the message it forwards".to_owned()),
            Err(e) => out.say(&format!(
                "  the mediator cannot open it ({}): it stores it for Bob, unread",
                e.kind()
            )),
        }
    }
    ensure(forward.next == sent.to, "the forward should name Bob's DID")
}

fn recipients(jwe: &Value) -> Vec<String> {
    jwe.get("recipients")
        .and_then(Value::as_array)
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r.get("header")?.get("kid")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn show_received(out: &mut Printer, names: &Names, who: &str, r: &Received) {
    let m: &Message = &r.message;
    out.say(&format!(
        "{who} decrypted ({} bytes as delivered):",
        r.packed_len
    ));
    out.item(&format!("type: {}", m.type_));
    out.item(&format!(
        "from: {} (authenticated: {})",
        m.from
            .as_deref()
            .map(|f| names.show(f))
            .unwrap_or_else(|| "anonymous".into()),
        r.metadata.authenticated
    ));
    if let Some(to) = &m.to {
        out.item(&format!(
            "to: {}",
            to.iter()
                .map(|t| names.show(t))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some((prior, new)) = r.rotation() {
        out.item(&format!(
            "from_prior verified: {} rotated to {}",
            names.show(&prior),
            names.show(&new)
        ));
    }
    if m.please_ack.is_some() {
        out.item("please_ack: the sender wants an acknowledgement");
    }
    if let Some(ack) = &m.ack {
        out.item(&format!(
            "ack: {}",
            ack.iter()
                .map(|a| short_id(a))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(thid) = &m.thid {
        out.item(&format!("thread: {}", short_id(thid)));
    }
    if let Some(body) = &m.body {
        if body.as_object().is_some_and(|o| !o.is_empty()) {
            out.item(&format!("body: {body}"));
        }
    }
}

fn show_from_prior(out: &mut Printer, names: &Names, jwt: &str) {
    let mut parts = jwt.split('.');
    let decode = |p: Option<&str>| -> Value {
        p.and_then(|p| B64.decode(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    };
    let header = decode(parts.next());
    let claims = decode(parts.next());
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("?").to_owned();
    out.item(&format!(
        "header: alg {}, signed with {}",
        field(&header, "alg"),
        names.show(&field(&header, "kid"))
    ));
    out.item(&format!(
        "iss (prior): {}",
        names.show(&field(&claims, "iss"))
    ));
    out.item(&format!(
        "sub (new):   {}",
        names.show(&field(&claims, "sub"))
    ));
}

// ------------------------------------------------------------------------------------------
// Naming and printing.

/// Readable names for the DIDs of the story.
#[derive(Default)]
struct Names(BTreeMap<String, String>);

impl Names {
    fn add(&mut self, did: &str, name: &str) {
        self.0.insert(did.to_owned(), name.to_owned());
    }

    fn show(&self, did_or_url: &str) -> String {
        let (did, fragment) = match did_or_url.split_once('#') {
            Some((d, f)) => (d, Some(f)),
            None => (did_or_url, None),
        };
        match (self.0.get(did), fragment) {
            (Some(name), Some(f)) => format!("{name} #{f} ({}…)", head(did, 22)),
            (Some(name), None) => format!("{name} ({}…)", head(did, 22)),
            (None, _) => shorten(did_or_url, 48),
        }
    }
}

fn shorten(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let head: String = text.chars().take(max.saturating_sub(7)).collect();
    let tail: String = text.chars().skip(count.saturating_sub(6)).collect();
    format!("{head}…{tail}")
}

/// The first `n` characters (did:peer:2 DIDs differ in their first key, not in their tail).
fn head(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

fn short_id(id: &str) -> String {
    shorten(id, 13)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn ensure(condition: bool, what: &str) -> DemoResult<()> {
    if condition {
        Ok(())
    } else {
        Err(format!("check failed: {what}"))
    }
}

struct Printer {
    out: std::io::Stdout,
    color: bool,
    steps: u32,
}

impl Printer {
    fn new() -> Printer {
        let out = std::io::stdout();
        let color = out.is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Printer {
            out,
            color,
            steps: 0,
        }
    }

    fn line(&mut self, text: &str) {
        let _ = writeln!(self.out.lock(), "{text}");
    }

    fn styled(&mut self, code: &str, text: &str) {
        if self.color {
            self.line(&format!("\x1b[{code}m{text}\x1b[0m"));
        } else {
            self.line(text);
        }
    }

    fn title(&mut self, text: &str) {
        self.styled(
            "1",
            &format!("\n{text}\n{}", "=".repeat(text.chars().count())),
        );
    }

    fn phase(&mut self, text: &str) {
        self.styled("1;36", &format!("\n{text}"));
    }

    fn step(&mut self, text: &str) {
        self.steps += 1;
        self.styled("1", &format!("\n[{}] {text}", self.steps));
    }

    fn say(&mut self, text: &str) {
        self.line(&format!("    {text}"));
    }

    fn kv(&mut self, key: &str, value: &str) {
        self.line(&format!("    {key:<13} {value}"));
    }

    fn item(&mut self, text: &str) {
        self.line(&format!("      · {text}"));
    }

    fn fail(&mut self, text: &str) {
        let _ = writeln!(std::io::stderr(), "\nedge-demo failed: {text}");
    }
}

// ------------------------------------------------------------------------------------------
// The temporary folder and the mediator process.

struct Workspace {
    dir: PathBuf,
    mediator: std::sync::Mutex<Option<Child>>,
}

struct MediatorInfo {
    did: String,
    url: String,
    invitation: String,
}

impl Workspace {
    fn create() -> DemoResult<Workspace> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("didcomm-edge-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        Ok(Workspace {
            dir,
            mediator: std::sync::Mutex::new(None),
        })
    }

    /// Start the mediator on a free loopback port and read its banner (DID, invitation, URL).
    fn start_mediator(&self, bin: &Path) -> DemoResult<MediatorInfo> {
        let log = std::fs::File::create(self.dir.join("mediator.log"))
            .map_err(|e| format!("mediator.log: {e}"))?;
        let mut child = Command::new(bin)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(self.dir.join("mediator"))
            .arg("--no-qr")
            .arg("--admin-listen")
            .arg("127.0.0.1:0")
            .arg("--log-filter")
            .arg("warn")
            .arg("--shutdown-grace-seconds")
            .arg("2")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdout = child.stdout.take();
        if let Ok(mut slot) = self.mediator.lock() {
            *slot = Some(child);
        }
        let stdout = stdout.ok_or("the mediator's output is not readable")?;
        // Read the banner on a thread so a silent mediator cannot hang the demo.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut did = None;
            let mut invitation = None;
            let mut url = None;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(v) = line.strip_prefix("mediator DID: ") {
                    did = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("invitation: ") {
                    invitation = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("listening on ") {
                    url = Some(v.trim().to_owned());
                }
                if let (Some(did), Some(invitation), Some(url)) = (&did, &invitation, &url) {
                    let _ = tx.send(MediatorInfo {
                        did: did.clone(),
                        url: url.clone(),
                        invitation: invitation.clone(),
                    });
                    break;
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(20))
            .map_err(|_| "the mediator did not start (no banner within 20 s)".to_owned())
    }

    /// Stop the mediator (SIGTERM, then kill), read its log, remove the folder.
    fn finish(&self) -> String {
        let child = self.mediator.lock().ok().and_then(|mut c| c.take());
        if let Some(mut child) = child {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        let log = std::fs::read_to_string(self.dir.join("mediator.log")).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&self.dir);
        log
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        // Also when unwinding: never leave a mediator running or keys on disk.
        if self.dir.exists() {
            let _ = self.finish();
        }
    }
}
