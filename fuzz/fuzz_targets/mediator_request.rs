//! The mediator's request handling must never panic or hang, whatever arrives. A real mediator
//! (SQLite in a temporary folder, nothing listening that the target uses) handles each input
//! through its `MessageHandler`, as a transport would hand it over, in one of three ways the
//! first byte picks:
//! - 0: the rest as raw bytes (work before authentication: JOSE parsing, resolution, limits);
//! - 1: the rest as a plaintext message authcrypted to the mediator by a device holding a
//!   mediation grant (every protocol handler, with an authenticated sender);
//! - 2: the rest as a plaintext anoncrypted to the mediator (forwards from strangers).
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use didcomm_edge::message::ParseOptions;
use didcomm_edge::{
    DidComm, Identity, IdentityMethod, Message, PackEncryptedOptions, ResolverChain,
};
use didcomm_edge_mediator::config::Settings;
use didcomm_edge_mediator::handler::{Connection, MessageHandler, Transport};
use didcomm_edge_mediator::mediator::MediatorHandler;
use didcomm_edge_mediator::server::{self, RunningServer};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

struct Fixture {
    rt: tokio::runtime::Runtime,
    handler: MediatorHandler,
    mediator_did: String,
    device: DidComm,
    device_did: String,
    _server: RunningServer,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        settings.admin_listen = None;
        settings.data_dir = dir.path().to_path_buf();
        settings.print_qr = false;
        settings.log_filter = "off".into();
        let running = rt.block_on(server::start(settings)).unwrap();
        let handler = MediatorHandler::new(Arc::clone(&running.mediator));
        let mediator_did = running.identity.did.clone();

        let identity = Identity::generate(IdentityMethod::Peer2, None).unwrap();
        let wallet = identity.to_wallet().unwrap();
        let device = DidComm::new(
            Arc::new(ResolverChain::new().without_web().with_pinned(Arc::new(wallet.resolver()))),
            Arc::new(wallet.secrets_store()),
        );
        let fixture = Fixture {
            rt,
            handler,
            mediator_did,
            device,
            device_did: identity.did.clone(),
            _server: running,
            _dir: dir,
        };
        // The device asks for mediation once, so keylist and pickup requests reach their
        // handlers with a grant behind them.
        let request = json!({
            "id": "grant-1",
            "type": "https://didcomm.org/coordinate-mediation/3.0/mediate-request",
            "body": {},
        });
        fixture.handle_plaintext(&request, true);
        fixture
    })
}

impl Fixture {
    fn connection(&self) -> Connection {
        Connection::request_only(1, Transport::Http, SocketAddr::from(([127, 0, 0, 1], 9)))
    }

    fn handle_raw(&self, bytes: &[u8]) {
        let connection = self.connection();
        let _ = self.rt.block_on(self.handler.handle(bytes, &connection));
    }

    /// Address the plaintext to the mediator (from the device when `authenticated`), pack it
    /// and hand it to the handler. Plaintexts our own packer refuses are skipped.
    fn handle_plaintext(&self, value: &Value, authenticated: bool) {
        let Value::Object(mut object) = value.clone() else {
            return;
        };
        object.insert("to".into(), json!([self.mediator_did]));
        if authenticated {
            object.insert("from".into(), json!(self.device_did));
        } else {
            object.remove("from");
        }
        let Ok(message) = Message::from_value(Value::Object(object), ParseOptions::default())
        else {
            return;
        };
        let from = authenticated.then_some(self.device_did.as_str());
        let packed = self.rt.block_on(self.device.pack_encrypted(
            &message,
            &self.mediator_did,
            from,
            None,
            &PackEncryptedOptions::default(),
        ));
        if let Ok((packed, _)) = packed {
            self.handle_raw(packed.as_bytes());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    match mode % 3 {
        0 => f.handle_raw(rest),
        mode => {
            if let Ok(value) = serde_json::from_slice::<Value>(rest) {
                f.handle_plaintext(&value, mode == 1);
            }
        }
    }
});
