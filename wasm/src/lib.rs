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
//! internal. New features (identities, routing, protocol builders) go in their own module here
//! plus one re-export line in `wasm/npm/src/api.js` and their declarations in `index.d.ts`.
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
mod util;

pub use engine::{received_ending, JsDidComm};
pub use error::set_error_class;
pub use util::{a256kw_unwrap, a256kw_wrap, create_message, parse_wallet};
