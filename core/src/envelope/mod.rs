//! The JOSE envelopes of DIDComm: JWS for signed messages, JWE for encrypted ones.

pub(crate) mod jwe;
pub(crate) mod jws;
