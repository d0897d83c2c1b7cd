//! # didcomm-edge-ffi
//!
//! The UniFFI layer of didcomm-edge: Kotlin, Swift and Python bindings generated from this one
//! crate. It holds conversions only (JSON text for messages, documents and secrets; records for
//! options and results; one error enum); every rule lives in the core (`didcomm-edge`).
//!
//! | module | what |
//! |---|---|
//! | `agent` | `EdgeAgent`: the edge agent client (mediation, send, pickup, live delivery, rotation), async |
//! | `engine` | `DidComm`: pack (plaintext, signed, encrypted), unpack, resolve, `from_prior` |
//! | `engine_json` | the low-overhead forms of pack and unpack: bytes in, one JSON text out (for CPython) |
//! | `routing` | route planning, forward wrapping and unwrapping |
//! | `host` | the host's `DidResolver` and `SecretsStore` (foreign traits), in-memory versions, `ResolverChain` |
//! | `identity` | new identities, the wallet |
//! | `protocols` | plaintext messages; protocol builders and parsers |
//! | `error` | `DidCommError`, one variant per core error kind |
//! | `runtime` | where blocking and async calls run |
//! | `python` | the Python package's CPython extension (feature `python`): pack, unpack and route with Python objects |
//!
#![forbid(unsafe_code)]

mod agent;
mod engine;
mod engine_json;
mod error;
mod host;
mod identity;
mod json;
mod protocols;
#[cfg(feature = "python")]
mod python;
mod routing;
mod runtime;

pub use agent::{
    Acknowledged, AgentConfig, Connection, EdgeAgent, LiveMessage, LiveState, LiveStream,
    MediationVersion, PickupBatch, PickupStatus, PickupVersion, ReceivedMessage, Rotated, SendMode,
    Sent, UndecryptableMessage,
};
pub use engine::received_ending;
pub use engine::{
    Config, ContentEncryption, DidComm, FromPrior, PackEncryptedMetadata, PackEncryptedOptions,
    PackSignedMetadata, PackedEncrypted, PackedFromPrior, PackedSigned, UnpackMetadata,
    UnpackOptions, Unpacked,
};
pub use error::DidCommError;
pub use host::{
    DidResolver, InMemoryDidResolver, InMemorySecretsStore, ResolverChain, SecretsStore,
};
pub use identity::{
    generate_did_key, generate_identity, DidCommService, Identity, IdentityMethod, KeyType, Wallet,
};
pub use protocols::{
    basic_message, build_protocol_message, create_message, oob_attached_messages, oob_invitation,
    oob_invitation_from_url, oob_invitation_url, oob_reply, parse_basic_message,
    parse_problem_report, parse_protocol_message, problem_report, problem_report_for_error,
    protocol_message_types, pure_ack, reply_to, trust_ping, trust_ping_response, BasicMessage,
    ProblemReport, ProtocolMessage,
};
pub use routing::{
    forward_message, parse_forward, Forward, Route, RouteOptions, Routed, UnwrappedForward,
};

uniffi::setup_scaffolding!("didcomm_edge");
