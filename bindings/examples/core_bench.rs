//! The Rust core's own speed, for `python/bench/bench.py` (`make bench-python`): the same
//! operations on the same wallets as the Python benchmark, with no FFI in between, so the
//! per-call cost of the bindings can be read off side by side.
//!
//! `core_bench <sender-wallet.json> <receiver-wallet.json> <message.json>`, then one JSON
//! request per stdin line, one JSON answer per stdout line:
//! `{"op": "pack_encrypted", "to": kid, "from": kid|null, "enc": "A256CBC-HS512", "ms": 400}`,
//! `{"op": "pack_signed", "sign_by": kid, "ms": 400}`, `{"op": "unpack", "packed": text, "ms": 400}`
//! -> `{"ops_per_sec": 1234.5}`.
#![allow(clippy::print_stdout)]

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use didcomm_edge::message::ParseOptions;
use didcomm_edge::{ContentEncAlg, DidComm, Message, PackEncryptedOptions, UnpackOptions, Wallet};
use serde_json::{json, Value};

type Failure = Box<dyn std::error::Error>;

fn engine(path: &str) -> Result<DidComm, Failure> {
    let wallet = Wallet::from_json(&std::fs::read_to_string(path)?)?;
    Ok(DidComm::new(
        Arc::new(wallet.resolver()),
        Arc::new(wallet.secrets_store()),
    ))
}

fn text(request: &Value, name: &str) -> Option<String> {
    request.get(name).and_then(Value::as_str).map(str::to_owned)
}

async fn run(
    sender: &DidComm,
    receiver: &DidComm,
    message: &Message,
    request: &Value,
) -> Result<f64, Failure> {
    let window = Duration::from_millis(request.get("ms").and_then(Value::as_u64).unwrap_or(400));
    let op = text(request, "op").unwrap_or_default();
    let enc = match text(request, "enc").as_deref() {
        Some("A256GCM") => ContentEncAlg::A256Gcm,
        Some("XC20P") => ContentEncAlg::Xc20P,
        _ => ContentEncAlg::A256CbcHs512,
    };
    let options = PackEncryptedOptions::default().enc_alg_anon(enc);
    let unpack_options = UnpackOptions::default();
    let (to, from, sign_by, packed) = (
        text(request, "to").unwrap_or_default(),
        text(request, "from"),
        text(request, "sign_by").unwrap_or_default(),
        text(request, "packed").unwrap_or_default(),
    );
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < window {
        match op.as_str() {
            "pack_encrypted" => {
                sender
                    .pack_encrypted(message, &to, from.as_deref(), None, &options)
                    .await?;
            }
            "pack_signed" => {
                sender.pack_signed(message, &sign_by).await?;
            }
            "unpack" => {
                receiver.unpack(&packed, &unpack_options).await?;
            }
            other => return Err(format!("unknown op {other}").into()),
        }
        count += 1;
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().collect();
    let [_, sender, receiver, message] = args.as_slice() else {
        return Err("usage: core_bench <sender-wallet> <receiver-wallet> <message>".into());
    };
    let (sender, receiver) = (engine(sender)?, engine(receiver)?);
    let message = Message::from_json(&std::fs::read_to_string(message)?, ParseOptions::default())?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let request: Value = serde_json::from_str(&line?)?;
        let ops = runtime.block_on(run(&sender, &receiver, &message, &request))?;
        writeln!(out, "{}", json!({ "ops_per_sec": ops }))?;
        out.flush()?;
    }
    Ok(())
}
