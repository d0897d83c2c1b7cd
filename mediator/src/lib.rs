//! # didcomm-edge-mediator
//!
//! A DIDComm v2 mediator: it accepts packed messages over HTTP and WebSocket, keeps them for
//! the devices it mediates for (SQLite embedded, PostgreSQL shared by several instances, or in
//! memory for tests and demos), and hands them over when the devices pick up or are connected live.
//!
//! Layers, outside in:
//! - [`server`]: axum routes, transports, rate limit, shutdown, background tasks.
//! - [`handler`]: the [`handler::MessageHandler`] trait between transports and processing,
//!   the per-connection context and the live-delivery registry.
//! - [`mediator`]: the built-in handler (unpack, dispatch by type, pack replies) and the
//!   shared services; [`protocols`]: forward and pickup.
//! - [`storage`]: the [`storage::Storage`] trait with SQLite, PostgreSQL and in-memory
//!   backends.
//! - [`admin`]: the admin listener (health, readiness, metrics, the admin API) and the
//!   `admin` subcommands.
//! - [`tls`] (the service port's certificate, reloaded) and [`forwarded`] (client addresses
//!   behind trusted reverse proxies).
//! - [`outbound`]: delivery to devices' own endpoints through a persistent outbox; [`push`]:
//!   the push gateway call for devices that sleep.
//! - [`identity`], [`oob`], [`config`], [`metrics`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod config;
pub mod error;
pub mod forwarded;
pub mod handler;
pub mod identity;
pub mod mediator;
pub mod metrics;
pub mod oob;
pub mod outbound;
pub mod protocols;
pub mod push;
pub mod server;
pub mod storage;
pub mod tls;

pub use error::{Error, ErrorKind, Result};
