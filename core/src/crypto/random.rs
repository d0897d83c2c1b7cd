//! Randomness from the operating system (or `crypto.getRandomValues` on wasm).

use crate::prelude::*;

use rand_core::{OsRng, RngCore};

use crate::error::{Error, ErrorKind, Result};

/// Fill `buf` with random bytes.
pub(crate) fn fill(buf: &mut [u8]) -> Result<()> {
    OsRng
        .try_fill_bytes(buf)
        .map_err(|_| Error::new(ErrorKind::InvalidState, "the system random source failed"))
}

/// A random version 4 UUID, the conventional form of DIDComm message ids.
pub fn uuid_v4() -> Result<String> {
    let mut b = [0u8; 16];
    fill(&mut b)?;
    let id = uuid::Builder::from_random_bytes(b).into_uuid();
    Ok(id
        .hyphenated()
        .encode_lower(&mut uuid::Uuid::encode_buffer())
        .to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuid_shape() {
        let id = super::uuid_v4().unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(id, super::uuid_v4().unwrap());
    }
}
