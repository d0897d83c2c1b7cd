//! didcomm-edge on a sensor: the core without std on bare metal. Run by `make test-sensor` under
//! QEMU (mps2-an386, a Cortex-M4F), it
//! 1. makes a did:peer:2 identity (X25519 + Ed25519) from the host's seed,
//! 2. packs an authcrypt message with a 40-byte reading for the host's did:peer:2 and writes it,
//! 3. waits for the host's authcrypt reply and unpacks it (sender, thread and body checked),
//! 4. unpacks a DIDComm spec vector (Appendix C.3, authcrypt X25519 A256CBC-HS512),
//!
//! then exits with success; any failure exits with failure. The host's side of the exchange
//! (testkit/tests/sensor.rs) checks the sensor's message with the normal core and answers it.
#![no_std]
#![no_main]

extern crate alloc;

mod heap;
mod host;
mod rng;
mod stack;
mod ticks;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use didcomm_edge::{
    DidComm, Identity, IdentityMethod, Message, PackEncryptedOptions, ResolverChain, UnpackOptions,
    Wallet,
};

#[global_allocator]
static HEAP: heap::PeakHeap = heap::PeakHeap::empty();

/// The sensor's reading: 40 bytes, the size the issue measures on the wire.
const READING: &str = "t=21.50C rh=40.2% p=1013.2hPa batt=3.71V";

const SPEC_BOB: &str = include_str!(concat!(env!("OUT_DIR"), "/spec_bob.json"));
const SPEC_VECTOR: &str = include_str!(concat!(env!("OUT_DIR"), "/spec_vector.json"));

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    stack::paint();
    HEAP.init();
    ticks::start();
    let success = match exchange().and_then(|()| spec_vector()) {
        Ok(()) => true,
        Err(reason) => {
            host::print(&format!("sensor: FAILED: {reason}"));
            false
        }
    };
    host::exit(success)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    host::print(&format!("sensor: PANIC: {info}"));
    host::exit(false)
}

/// Poll a future of the core to its end. Everything the sensor awaits (in-memory secrets,
/// self-describing DIDs) completes at once; a future that keeps pending is a bug, not a wait.
fn block_on<F: Future>(future: F) -> Result<F::Output, String> {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Ok(output);
        }
    }
    Err("a future of the core never completed".to_string())
}

fn core_error(what: &str) -> impl Fn(didcomm_edge::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// One `sensor: name value` line per figure, for the host's test and BENCHMARKS.md.
fn report(name: &str, value: impl core::fmt::Display) {
    host::print(&format!("sensor: {name} {value}"));
}

fn report_work(name: &str, instructions: Option<u64>) {
    if let Some(n) = instructions {
        report(&format!("{name}_instructions"), n);
    }
    report(&format!("{name}_heap_peak"), HEAP.peak());
    HEAP.reset_peak();
}

/// Steps 1 to 3: identity, the reading to the host, the host's reply.
fn exchange() -> Result<(), String> {
    let seed = host::read("seed.bin").ok_or("no seed.bin from the host")?;
    rng::seed(seed.try_into().map_err(|_| "seed.bin is not 32 bytes")?);
    didcomm_edge::set_clock(host::now);
    let peer = host::read("host-did.txt").ok_or("no host-did.txt from the host")?;
    let peer = String::from_utf8(peer).map_err(|_| "host-did.txt is not UTF-8")?;
    let peer = peer.trim();
    HEAP.reset_peak();

    let (me, spent) = ticks::measure(|| Identity::generate(IdentityMethod::Peer2, None));
    let me = me.map_err(core_error("identity"))?;
    report_work("identity", spent);
    let wallet = me.to_wallet().map_err(core_error("wallet"))?;
    let resolver = ResolverChain::new().without_web();
    let dc = DidComm::new(Arc::new(resolver), Arc::new(wallet.secrets_store()));

    let message = Message::new(
        "https://didcomm.org/basicmessage/2.0/message",
        serde_json::json!({ "content": READING }),
    )
    .map_err(core_error("message"))?
    .from(me.did.as_str())
    .to(peer);
    let options = PackEncryptedOptions::default();
    let (packed, spent) = ticks::measure(|| {
        block_on(dc.pack_encrypted(&message, peer, Some(&me.did), None, &options))
    });
    let (packed, _) = packed?.map_err(core_error("pack"))?;
    report_work("pack", spent);
    report("did_bytes", me.did.len());
    report("authcrypt_bytes", packed.len());
    host::write("sensor-message.json", packed.as_bytes())?;

    let reply = host::wait_for("reply.json", 120).ok_or("no reply.json from the host")?;
    let reply = String::from_utf8(reply).map_err(|_| "reply.json is not UTF-8")?;
    let (unpacked, spent) =
        ticks::measure(|| block_on(dc.unpack(&reply, &UnpackOptions::default())));
    let (answer, metadata) = unpacked?.map_err(core_error("unpack the reply"))?;
    report_work("unpack", spent);
    if !(metadata.encrypted && metadata.authenticated) {
        return Err("the reply is not authcrypt".to_string());
    }
    if answer.from.as_deref() != Some(peer) || answer.thid.as_deref() != Some(&message.id) {
        return Err("the reply is not the host's answer to the reading".to_string());
    }
    let content = answer.body.as_ref().and_then(|b| b.get("content"));
    report(
        "reply",
        content.and_then(|c| c.as_str()).unwrap_or("(no content)"),
    );

    Ok(())
}

/// The spec's authcrypt vector, unpacked as Bob with the spec's identities.
fn spec_vector() -> Result<(), String> {
    let bob = Wallet::from_json(SPEC_BOB).map_err(core_error("spec Bob"))?;
    let vector: serde_json::Value =
        serde_json::from_str(SPEC_VECTOR).map_err(|_| "the vector is not JSON")?;
    let packed = vector["packed"]
        .as_str()
        .ok_or("the vector has no packed text")?;
    let expected = &vector["message"];
    let dc = DidComm::new(Arc::new(bob.resolver()), Arc::new(bob.secrets_store()));
    // The vector expired in 2018: unpack it at its own creation time.
    let mut options = UnpackOptions::default();
    options.now = expected["created_time"].as_u64();
    let (unpacked, spent) = ticks::measure(|| block_on(dc.unpack(packed, &options)));
    let (message, metadata) = unpacked?.map_err(core_error("unpack the spec vector"))?;
    report_work("spec_vector_unpack", spent);
    let got = message
        .to_value()
        .map_err(core_error("the vector's message"))?;
    if &got != expected || !metadata.authenticated {
        return Err(format!("spec vector {}: a different message", vector["id"]));
    }
    report("spec_vector", vector["id"].as_str().unwrap_or("?"));
    report("heap_bytes", heap::HEAP_BYTES);
    if let Some(peak) = stack::peak() {
        report("stack_peak", peak);
        report("stack_bytes", stack::size());
    }
    host::print("sensor: OK");
    Ok(())
}
