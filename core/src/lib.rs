//! # didcomm-edge
//!
//! A DIDComm v2 envelope engine: **pack**, **unpack**, **resolve** (and, with the routing
//! module, **route**). Sans-I/O: DID resolution and secret storage are traits the host
//! implements ([`DidResolver`], [`SecretsResolver`]); in-memory versions are included.
//!
//! ```no_run
//! # async fn demo(wallet_json: &str) -> didcomm_edge::Result<()> {
//! use std::sync::Arc;
//! use didcomm_edge::{DidComm, Message, PackEncryptedOptions, UnpackOptions, Wallet};
//!
//! let wallet = Wallet::from_json(wallet_json)?;
//! let dc = DidComm::new(Arc::new(wallet.resolver()), Arc::new(wallet.secrets_store()));
//! let msg = Message::new("https://didcomm.org/basicmessage/2.0/message",
//!                        serde_json::json!({"content": "hi"}))?
//!     .from("did:example:alice")
//!     .to("did:example:bob");
//! let (packed, _meta) = dc
//!     .pack_encrypted(&msg, "did:example:bob", Some("did:example:alice"), None,
//!                     &PackEncryptedOptions::default())
//!     .await?;
//! let (received, meta) = dc.unpack(&packed, &UnpackOptions::default()).await?;
//! assert!(meta.authenticated && meta.encrypted);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// `alloc` is all the core needs; the `std` feature (on by default) adds the system clock,
// randomness from the OS through getrandom and std's locks. Without it (a microcontroller),
// randomness is getrandom's custom backend and the clock is `set_clock`.
#![no_std]

#[macro_use]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

/// What the std prelude would bring, for a crate that is always `no_std`.
mod prelude {
    pub(crate) use alloc::borrow::ToOwned;
    pub(crate) use alloc::boxed::Box;
    pub(crate) use alloc::string::{String, ToString};
    pub(crate) use alloc::vec::Vec;
}

pub(crate) mod b64;
mod cache;
pub mod crypto;
pub mod did;
mod engine;
mod envelope;
pub mod error;
pub mod identity;
pub mod message;
mod pack;
mod percent;
pub mod protocols;
pub mod routing;
pub mod secrets;
mod sync;
pub(crate) mod time;
mod unpack;
mod wallet;

pub use crypto::{ContentEncAlg, KeyPair, KeyType, PublicKey, SignAlg};
pub use did::{DidDocument, DidResolver, InMemoryDidResolver, ResolvedDid, ResolverChain};
pub use engine::{Config, DidComm};
pub use error::{Error, ErrorKind, Result};
pub use identity::{DidCommService, Identity, IdentityMethod};
pub use message::{Attachment, AttachmentData, AttachmentForm, FromPrior, Message};
pub use pack::{PackEncryptedMetadata, PackEncryptedOptions, PackSignedMetadata};
pub use routing::{Forward, Route, RouteOptions, Routed};
pub use secrets::{InMemorySecrets, Secret, SecretMaterial, SecretsResolver};
pub use unpack::{AnonCryptAlg, AuthCryptAlg, UnpackMetadata, UnpackOptions};
pub use wallet::Wallet;

#[cfg(not(feature = "std"))]
pub use time::set_clock;

/// `Send + Sync` on native targets, nothing on wasm (where host objects live on one thread).
/// Host-implemented traits carry this bound so one definition serves both.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSendSync: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync + ?Sized> MaybeSendSync for T {}

/// `Send + Sync` on native targets, nothing on wasm (where host objects live on one thread).
#[cfg(target_arch = "wasm32")]
pub trait MaybeSendSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSendSync for T {}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn engine_is_send_sync() {
        assert_send_sync::<super::DidComm>();
    }
}
