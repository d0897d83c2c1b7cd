//! # didcomm-edge-wasm
//!
//! The wasm-bindgen layer of the `didcomm-edge` npm package: a thin conversion layer between
//! JavaScript values and the core's types. No envelope logic lives here.
//!
//! - Plain JS objects in and out. Messages, DID documents and secrets are JSON data formats and
//!   cross as JSON text (so JSON semantics apply: `toJSON`, dropped `undefined`); API structures
//!   (options, metadata, configuration) go through `serde-wasm-bindgen` with camelCase names.
//! - Async operations return Promises.
//! - The DID resolver and the secrets store are JS objects with (async) methods, adapted to the
//!   core's `DidResolver` / `SecretsResolver` traits (`?Send` on wasm) in `host.rs`.
//! - Every failure becomes an instance of the JS `DidCommError` class (registered by the package's
//!   entry module) carrying the core's `ErrorKind` as `kind`.
//!
//! The JavaScript-facing API is the npm package (`wasm/npm`), whose entry modules re-export what
//! is public from here and add the pure-JS helpers. Exports whose names start with `__` are
//! internal.
//!
//! Two modules are built from this crate: the engine alone (pack, unpack, resolve through the
//! host's resolver: the package's main entry), and with the `sdk` feature the engine plus the
//! SDK (`sdk/`: the core's resolver chain, identities, routing, protocol messages: the
//! `didcomm-edge/sdk` entry), so pack/unpack users do not load the rest. New SDK features go in
//! `sdk/` plus their re-export in `wasm/npm/src/sdk-api.js` and declarations in `sdk.d.ts`.
//!
//! Everything is compiled for wasm32 only: on other targets the crate is empty (the JS types it
//! uses are `!Send`, which the core's host traits require natively).
#![cfg(target_arch = "wasm32")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod convert;
mod engine;
mod error;
mod host;
#[cfg(feature = "sdk")]
mod sdk;
mod util;

pub use engine::{received_ending, JsDidComm};
pub use error::set_error_class;
#[cfg(feature = "sdk")]
pub use sdk::identity::{generate_did_key, generate_identity, identity_wallet};
#[cfg(feature = "sdk")]
pub use sdk::protocols::{
    build_protocol_message, oob_attached_messages, oob_invitation_from_url, oob_invitation_url,
    oob_reply, parse_protocol_message, protocol_message_types, pure_ack, reply_to,
    trust_ping_response,
};
pub use util::{a256kw_unwrap, a256kw_wrap, create_message, parse_wallet};
