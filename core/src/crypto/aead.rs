//! Content encryption (A256CBC-HS512, A256GCM, XC20P) and AES key wrap (A256KW), on
//! askar-crypto's implementations.

use std::fmt;

use askar_crypto::alg::aes::{A256CbcHs512, A256Gcm, A256Kw, AesKey};
use askar_crypto::alg::chacha20::{Chacha20Key, XC20P};
use askar_crypto::encrypt::KeyAeadInPlace;
use askar_crypto::repr::KeySecretBytes;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};

/// A JWE content encryption algorithm.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
pub enum ContentEncAlg {
    /// AES-256-CBC with HMAC-SHA-512 (the only algorithm authcrypt allows; the default).
    #[default]
    #[serde(rename = "A256CBC-HS512")]
    A256CbcHs512,
    /// AES-256-GCM (anoncrypt only).
    #[serde(rename = "A256GCM")]
    A256Gcm,
    /// XChaCha20-Poly1305 (anoncrypt only).
    #[serde(rename = "XC20P")]
    Xc20P,
}

impl ContentEncAlg {
    /// The JOSE `enc` name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentEncAlg::A256CbcHs512 => "A256CBC-HS512",
            ContentEncAlg::A256Gcm => "A256GCM",
            ContentEncAlg::Xc20P => "XC20P",
        }
    }

    /// Parse a JOSE `enc` name.
    pub fn parse(enc: &str) -> Option<ContentEncAlg> {
        Some(match enc {
            "A256CBC-HS512" => ContentEncAlg::A256CbcHs512,
            "A256GCM" => ContentEncAlg::A256Gcm,
            "XC20P" => ContentEncAlg::Xc20P,
            _ => return None,
        })
    }

    pub(crate) fn key_len(self) -> usize {
        match self {
            ContentEncAlg::A256CbcHs512 => 64,
            ContentEncAlg::A256Gcm | ContentEncAlg::Xc20P => 32,
        }
    }

    pub(crate) fn iv_len(self) -> usize {
        match self {
            ContentEncAlg::A256CbcHs512 => 16,
            ContentEncAlg::A256Gcm => 12,
            ContentEncAlg::Xc20P => 24,
        }
    }

    pub(crate) fn tag_len(self) -> usize {
        match self {
            ContentEncAlg::A256CbcHs512 => 32,
            ContentEncAlg::A256Gcm | ContentEncAlg::Xc20P => 16,
        }
    }
}

impl fmt::Display for ContentEncAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn cipher(alg: ContentEncAlg, cek: &[u8]) -> Result<Box<dyn KeyAeadInPlace>> {
    let bad = |_| Error::invalid_state("content key has the wrong length");
    Ok(match alg {
        ContentEncAlg::A256CbcHs512 => {
            Box::new(AesKey::<A256CbcHs512>::from_secret_bytes(cek).map_err(bad)?)
        }
        ContentEncAlg::A256Gcm => Box::new(AesKey::<A256Gcm>::from_secret_bytes(cek).map_err(bad)?),
        ContentEncAlg::Xc20P => {
            Box::new(Chacha20Key::<XC20P>::from_secret_bytes(cek).map_err(bad)?)
        }
    })
}

/// Encrypt in place; `buffer` holds the plaintext on entry and `ciphertext || tag` on return.
/// Returns the ciphertext length.
pub(crate) fn encrypt(
    alg: ContentEncAlg,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    buffer: &mut Vec<u8>,
) -> Result<usize> {
    cipher(alg, cek)?
        .encrypt_in_place(buffer, iv, aad)
        .map_err(|_| Error::invalid_state("content encryption failed"))
}

/// Decrypt in place; `buffer` holds `ciphertext || tag` on entry and the plaintext on return.
pub(crate) fn decrypt(
    alg: ContentEncAlg,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    buffer: &mut Vec<u8>,
) -> Result<()> {
    if iv.len() != alg.iv_len() {
        return Err(Error::malformed(format!(
            "JWE 'iv' must be {} bytes for {alg}",
            alg.iv_len()
        )));
    }
    cipher(alg, cek)?
        .decrypt_in_place(buffer, iv, aad)
        .map_err(|_| Error::new(ErrorKind::DecryptionFailed, "content decryption failed"))
}

/// AES key wrap (RFC 3394) of the content key.
pub fn wrap_key(kek: &[u8; 32], cek: &[u8]) -> Result<Vec<u8>> {
    let kw = AesKey::<A256Kw>::from_secret_bytes(kek)
        .map_err(|_| Error::invalid_state("key-wrapping key has the wrong length"))?;
    let mut buf = Vec::with_capacity(cek.len() + 8);
    buf.extend_from_slice(cek);
    kw.encrypt_in_place(&mut buf, &[], &[])
        .map_err(|_| Error::invalid_state("key wrap failed"))?;
    Ok(buf)
}

/// AES key unwrap (RFC 3394); fails when the integrity check fails (wrong key or tampering).
pub fn unwrap_key(kek: &[u8; 32], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
        return Err(Error::malformed(
            "JWE 'encrypted_key' has an impossible length",
        ));
    }
    let kw = AesKey::<A256Kw>::from_secret_bytes(kek)
        .map_err(|_| Error::invalid_state("key-wrapping key has the wrong length"))?;
    let mut buf = Zeroizing::new(wrapped.to_vec());
    kw.decrypt_in_place(&mut *buf, &[], &[])
        .map_err(|_| Error::new(ErrorKind::DecryptionFailed, "key unwrap failed"))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 3394 section 4.6: wrap 256 bits of key data with a 256-bit KEK.
    #[test]
    fn rfc3394_4_6() {
        let kek: [u8; 32] = hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
            .try_into()
            .unwrap();
        let data = hex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
        let expected =
            hex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21");
        assert_eq!(wrap_key(&kek, &data).unwrap(), expected);
        assert_eq!(*unwrap_key(&kek, &expected).unwrap(), data);
        let mut tampered = expected.clone();
        tampered[3] ^= 1;
        assert_eq!(
            unwrap_key(&kek, &tampered).unwrap_err().kind(),
            ErrorKind::DecryptionFailed
        );
    }

    #[test]
    fn content_round_trip_and_tamper() {
        for alg in [
            ContentEncAlg::A256CbcHs512,
            ContentEncAlg::A256Gcm,
            ContentEncAlg::Xc20P,
        ] {
            let cek = vec![7u8; alg.key_len()];
            let iv = vec![9u8; alg.iv_len()];
            let mut buf = b"attack at dawn".to_vec();
            let ct_len = encrypt(alg, &cek, &iv, b"aad", &mut buf).unwrap();
            assert_eq!(buf.len(), ct_len + alg.tag_len(), "{alg}");
            let mut copy = buf.clone();
            decrypt(alg, &cek, &iv, b"aad", &mut copy).unwrap();
            assert_eq!(copy, b"attack at dawn");
            let mut bad_aad = buf.clone();
            assert!(decrypt(alg, &cek, &iv, b"aaD", &mut bad_aad).is_err());
        }
    }
}
