//! The one-pass Concat KDF of NIST SP 800-56A with SHA-256, as JWA (RFC 7518 section 4.6.2)
//! and ECDH-1PU (draft-madden-jose-ecdh-1pu-04 section 2.3) use it to derive a 256-bit
//! key-wrapping key.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Derive the 32-byte key-encryption key.
///
/// `z` is the shared secret (Ze || Zs for ECDH-1PU), `alg` the JWE `alg` value, `apu`/`apv`
/// the decoded party info, and `cc_tag` the content-encryption tag that ECDH-1PU in key-wrap
/// mode appends to SuppPubInfo (empty for ECDH-ES).
pub(crate) fn concat_kdf_256(
    z_parts: &[&[u8]],
    alg: &str,
    apu: &[u8],
    apv: &[u8],
    cc_tag: &[u8],
) -> Zeroizing<[u8; 32]> {
    concat_kdf(z_parts, alg, apu, apv, 256, cc_tag)
}

/// The KDF for any output length up to 256 bits (the caller truncates).
fn concat_kdf(
    z_parts: &[&[u8]],
    alg: &str,
    apu: &[u8],
    apv: &[u8],
    keydatalen_bits: u32,
    cc_tag: &[u8],
) -> Zeroizing<[u8; 32]> {
    let mut h = Sha256::new();
    // One pass suffices: 256 bits of output is one SHA-256 block; the round counter is 1.
    h.update(1u32.to_be_bytes());
    for z in z_parts {
        h.update(z);
    }
    for field in [alg.as_bytes(), apu, apv] {
        h.update((field.len() as u32).to_be_bytes());
        h.update(field);
    }
    h.update(keydatalen_bits.to_be_bytes());
    if !cc_tag.is_empty() {
        h.update((cc_tag.len() as u32).to_be_bytes());
        h.update(cc_tag);
    }
    Zeroizing::new(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7518 Appendix C: ECDH-ES direct key agreement for A128GCM.
    #[test]
    fn rfc7518_appendix_c() {
        let z: [u8; 32] = [
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49,
            110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
        ];
        let out = concat_kdf(&[&z], "A128GCM", b"Alice", b"Bob", 128, b"");
        assert_eq!(
            &out[..16],
            &[86, 170, 141, 234, 248, 35, 109, 32, 92, 34, 40, 205, 113, 167, 16, 26]
        );
        // Splitting Z across parts (Ze || Zs) hashes the same bytes.
        let split = concat_kdf(&[&z[..10], &z[10..]], "A128GCM", b"Alice", b"Bob", 128, b"");
        assert_eq!(*out, *split);
        let tagged = concat_kdf_256(&[&z], "ECDH-1PU+A256KW", b"Alice", b"Bob", b"tag");
        assert_ne!(
            *concat_kdf_256(&[&z], "ECDH-1PU+A256KW", b"Alice", b"Bob", b""),
            *tagged
        );
    }
}
