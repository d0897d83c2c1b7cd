//! Cryptographic building blocks: keys, JWK and Multikey encodings, the Concat KDF and the
//! symmetric ciphers. Nothing here knows about DIDComm messages.

pub mod aead;
pub mod jwk;
pub(crate) mod kdf;
pub mod keys;
pub mod multikey;
pub(crate) mod random;

pub use aead::ContentEncAlg;
pub use keys::{KeyPair, KeyType, PublicKey, SignAlg};
pub use random::uuid_v4;
