//! Content encryption (A256CBC-HS512, A256GCM, XC20P) and AES key wrap (A256KW), on
//! RustCrypto's ciphers. A256CBC-HS512 is JWA's composition (RFC 7518 section 5.2), which no
//! crate of theirs provides: AES-256-CBC with PKCS#7 padding, then HMAC-SHA-512 over
//! `aad || iv || ciphertext || AL` truncated to 32 bytes.

use crate::prelude::*;

use core::fmt;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use aes::Aes256;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::Aes256Gcm;
use chacha20poly1305::XChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha2::Sha512;
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

/// Encrypt in place; `buffer` holds the plaintext on entry and `ciphertext || tag` on return.
/// Returns the ciphertext length.
pub(crate) fn encrypt(
    alg: ContentEncAlg,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    buffer: &mut Vec<u8>,
) -> Result<usize> {
    check_lengths(alg, cek, iv)?;
    match alg {
        ContentEncAlg::A256CbcHs512 => {
            let (mac_key, enc_key) = cek.split_at(32);
            let plaintext_len = buffer.len();
            // PKCS#7 always adds 1 to 16 bytes.
            buffer.resize(plaintext_len + 16 - plaintext_len % 16, 0);
            let ciphertext_len = cbc::Encryptor::<Aes256>::new(enc_key.into(), iv.into())
                .encrypt_padded_mut::<Pkcs7>(buffer, plaintext_len)
                .map_err(|_| Error::invalid_state("content encryption failed"))?
                .len();
            buffer.truncate(ciphertext_len);
            let tag = cbc_hmac(mac_key, aad, iv, buffer)?.finalize().into_bytes();
            buffer.extend_from_slice(tag.get(..32).unwrap_or_default());
            Ok(ciphertext_len)
        }
        ContentEncAlg::A256Gcm => seal::<Aes256Gcm>(cek, iv, aad, buffer),
        ContentEncAlg::Xc20P => seal::<XChaCha20Poly1305>(cek, iv, aad, buffer),
    }
}

/// Decrypt in place; `buffer` holds `ciphertext || tag` on entry and the plaintext on return.
pub(crate) fn decrypt(
    alg: ContentEncAlg,
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    buffer: &mut Vec<u8>,
) -> Result<()> {
    check_lengths(alg, cek, iv)?;
    let failed = || Error::new(ErrorKind::DecryptionFailed, "content decryption failed");
    let Some(ciphertext_len) = buffer.len().checked_sub(alg.tag_len()) else {
        return Err(failed());
    };
    let (ciphertext, tag) = buffer.split_at_mut(ciphertext_len);
    match alg {
        ContentEncAlg::A256CbcHs512 => {
            let (mac_key, enc_key) = cek.split_at(32);
            // The tag first (in constant time), so nothing unauthenticated is ever decrypted.
            cbc_hmac(mac_key, aad, iv, ciphertext)?
                .verify_truncated_left(tag)
                .map_err(|_| failed())?;
            let plaintext_len = cbc::Decryptor::<Aes256>::new(enc_key.into(), iv.into())
                .decrypt_padded_mut::<Pkcs7>(ciphertext)
                .map_err(|_| failed())?
                .len();
            buffer.truncate(plaintext_len);
        }
        ContentEncAlg::A256Gcm => {
            open::<Aes256Gcm>(cek, iv, aad, ciphertext, tag).map_err(|_| failed())?;
            buffer.truncate(ciphertext_len);
        }
        ContentEncAlg::Xc20P => {
            open::<XChaCha20Poly1305>(cek, iv, aad, ciphertext, tag).map_err(|_| failed())?;
            buffer.truncate(ciphertext_len);
        }
    }
    Ok(())
}

/// A256GCM and XC20P: `ciphertext || tag` in `buffer`, the ciphertext length returned. The
/// lengths are checked by the caller (`check_lengths`).
fn seal<C: AeadInPlace + KeyInit>(
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    buffer: &mut Vec<u8>,
) -> Result<usize> {
    let failed = || Error::invalid_state("content encryption failed");
    let tag = C::new_from_slice(cek)
        .map_err(|_| failed())?
        .encrypt_in_place_detached(aes_gcm::aead::Nonce::<C>::from_slice(iv), aad, buffer)
        .map_err(|_| failed())?;
    let ciphertext_len = buffer.len();
    buffer.extend_from_slice(&tag);
    Ok(ciphertext_len)
}

/// The inverse of `seal`, on the ciphertext and the tag already split.
fn open<C: AeadInPlace + KeyInit>(
    cek: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &mut [u8],
    tag: &[u8],
) -> core::result::Result<(), ()> {
    C::new_from_slice(cek)
        .map_err(|_| ())?
        .decrypt_in_place_detached(
            aes_gcm::aead::Nonce::<C>::from_slice(iv),
            aad,
            ciphertext,
            aes_gcm::aead::Tag::<C>::from_slice(tag),
        )
        .map_err(|_| ())
}

/// The key and IV lengths `alg` takes: the ciphers' constructors panic on any other.
fn check_lengths(alg: ContentEncAlg, cek: &[u8], iv: &[u8]) -> Result<()> {
    if cek.len() != alg.key_len() {
        return Err(Error::invalid_state("content key has the wrong length"));
    }
    if iv.len() != alg.iv_len() {
        return Err(Error::malformed(format!(
            "JWE 'iv' must be {} bytes for {alg}",
            alg.iv_len()
        )));
    }
    Ok(())
}

/// RFC 7518 section 5.2.2.1: HMAC-SHA-512 over `aad || iv || ciphertext || AL`, where AL is the
/// bit length of `aad` as a big-endian 64-bit integer.
fn cbc_hmac(mac_key: &[u8], aad: &[u8], iv: &[u8], ciphertext: &[u8]) -> Result<Hmac<Sha512>> {
    let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(mac_key)
        .map_err(|_| Error::invalid_state("content key has the wrong length"))?;
    mac.update(aad);
    mac.update(iv);
    mac.update(ciphertext);
    mac.update(&(aad.len() as u64).wrapping_mul(8).to_be_bytes());
    Ok(mac)
}

/// AES key wrap (RFC 3394) of the content key.
pub fn wrap_key(kek: &[u8; 32], cek: &[u8]) -> Result<Vec<u8>> {
    let mut wrapped = vec![0u8; cek.len() + 8];
    aes_kw::KekAes256::from(*kek)
        .wrap(cek, &mut wrapped)
        .map_err(|_| Error::invalid_state("key wrap failed"))?;
    Ok(wrapped)
}

/// AES key unwrap (RFC 3394); fails when the integrity check fails (wrong key or tampering).
pub fn unwrap_key(kek: &[u8; 32], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
        return Err(Error::malformed(
            "JWE 'encrypted_key' has an impossible length",
        ));
    }
    let mut key = Zeroizing::new(vec![0u8; wrapped.len() - 8]);
    aes_kw::KekAes256::from(*kek)
        .unwrap(wrapped, &mut key)
        .map_err(|_| Error::new(ErrorKind::DecryptionFailed, "key unwrap failed"))?;
    Ok(key)
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
