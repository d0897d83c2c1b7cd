//! # didcomm-edge-agent
//!
//! What an edge device runs: one client that does the whole DIDComm v2 flow with a mediator.
//!
//! - [`EdgeAgent::connect`]: from the mediator's invitation (`_oob` URL or DID) to mediation
//!   request → grant → keylist update; the device's messaging did:peer:2 names the mediator
//!   as its endpoint.
//! - [`EdgeAgent::send`]: resolve, pack (authcrypt by default), wrap in forwards, deliver.
//! - [`EdgeAgent::pickup`]: a batch of waiting messages, deleted at the mediator only when
//!   [`Batch::acknowledge`] says the application has them.
//! - [`EdgeAgent::live`]: a stream of messages pushed over a WebSocket, reconnecting without
//!   loss.
//! - [`EdgeAgent::rotate`]: new keys and DID, keylist update, `from_prior` on the next messages.
//! - Trust ping ([`EdgeAgent::ping`], [`EdgeAgent::ping_mediator`]), automatic `ack` for
//!   `please_ack` and `ping-response` for pings.
//!
//! Every device can send and receive: there are no roles. State (identities, keys, mediator
//! connection) is kept in one file ([`EdgeAgent::open`]) so a restarted device continues.
//! Network failures are typed ([`ErrorKind::Unreachable`], [`ErrorKind::TimedOut`],
//! [`ErrorKind::Refused`] with the problem report) and retried when that is safe.
//!
//! ```no_run
//! # async fn demo(invitation: &str, bob: &str) -> didcomm_edge_agent::Result<()> {
//! use didcomm_edge_agent::{AgentConfig, EdgeAgent};
//! use didcomm_edge::protocols::basic_message::BasicMessage;
//! use didcomm_edge::protocols::ProtocolMessage;
//!
//! let alice = EdgeAgent::open("alice.json", AgentConfig::default())?;
//! alice.connect(invitation).await?;
//! alice.send(bob, BasicMessage::new("hello Bob").to_message()?).await?;
//! let batch = alice.pickup().await?;
//! for received in &batch.messages {
//!     println!("{:?}", received.message.body);
//! }
//! batch.acknowledge().await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod agent;
pub mod config;
pub mod error;
mod live;
mod pickup;
pub mod state;
pub mod transport;

pub use agent::{
    pack_for_mediator, to_mediator, Acknowledged, Connection, EdgeAgent, Rotated, Sent,
};
pub use config::{AgentConfig, EndpointStyle, RetryPolicy, SendMode};
pub use error::{Error, ErrorKind, Result};
pub use live::{LiveEvent, LiveHandle, LiveState, LiveStream};
pub use pickup::{Batch, Received, Undecryptable};
pub use state::{AgentState, KeyStore, MediatorLink, StoredIdentity};
