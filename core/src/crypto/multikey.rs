//! Multibase (base58btc, `z` prefix) + multicodec key encodings, as used by `Multikey`
//! verification methods, did:key and did:peer.

use crate::prelude::*;

use super::keys::{KeyPair, KeyType, PublicKey};
use crate::error::{Error, Result};

/// Multicodec code of a public key type.
pub fn public_codec(key_type: KeyType) -> u64 {
    match key_type {
        KeyType::Ed25519 => 0xed,
        KeyType::X25519 => 0xec,
        KeyType::Secp256k1 => 0xe7,
        KeyType::P256 => 0x1200,
        KeyType::P384 => 0x1201,
        KeyType::P521 => 0x1202,
    }
}

/// Multicodec code of a private key type.
pub fn private_codec(key_type: KeyType) -> u64 {
    match key_type {
        KeyType::Ed25519 => 0x1300,
        KeyType::Secp256k1 => 0x1301,
        KeyType::X25519 => 0x1302,
        KeyType::P256 => 0x1306,
        KeyType::P384 => 0x1307,
        KeyType::P521 => 0x1308,
    }
}

fn public_type(codec: u64) -> Option<KeyType> {
    KeyType::ALL
        .into_iter()
        .find(|kt| public_codec(*kt) == codec)
}

fn private_type(codec: u64) -> Option<KeyType> {
    KeyType::ALL
        .into_iter()
        .find(|kt| private_codec(*kt) == codec)
}

/// Read an unsigned LEB128 varint (at most 9 bytes, as multiformats allows; minimal encoding).
pub fn read_varint(bytes: &[u8]) -> Result<(u64, &[u8])> {
    use unsigned_varint::decode;
    let too_long = || Error::malformed("multicodec varint is truncated or too long");
    match decode::u64(bytes) {
        // unsigned-varint reads a tenth byte into the top bit; multiformats stops at nine.
        Ok((_, rest)) if bytes.len() - rest.len() > 9 => Err(too_long()),
        Ok(read) => Ok(read),
        Err(decode::Error::NotMinimal) => Err(Error::malformed(
            "multicodec varint is not minimally encoded",
        )),
        Err(_) => Err(too_long()),
    }
}

/// Append an unsigned LEB128 varint.
pub fn write_varint(value: u64, out: &mut Vec<u8>) {
    let mut buf = unsigned_varint::encode::u64_buffer();
    out.extend_from_slice(unsigned_varint::encode::u64(value, &mut buf));
}

/// The longest multibase or base58 key encoding we decode, in characters. The longest
/// legitimate one, an uncompressed P-521 public key with its two-byte multicodec (135 bytes),
/// is 186 characters; base58 decoding is quadratic, so nothing longer is decoded as a key.
pub const MAX_KEY_MULTIBASE_LEN: usize = 256;

/// The longest multibase value decoded at all (a did:peer:4 encoded document, within a DID).
const MAX_MULTIBASE_LEN: usize = crate::did::MAX_DID_LEN;

/// Refuse a key encoding longer than [`MAX_KEY_MULTIBASE_LEN`] before decoding it.
pub(crate) fn check_key_encoding_len(value: &str, what: &str) -> Result<()> {
    if value.len() > MAX_KEY_MULTIBASE_LEN {
        return Err(Error::too_large(format!(
            "{what} of {} characters is longer than any key ({MAX_KEY_MULTIBASE_LEN} at most)",
            value.len()
        )));
    }
    Ok(())
}

/// Decode a `z`-prefixed base58btc multibase string (at most 8 KiB: base58 is quadratic).
pub fn decode_multibase(value: &str) -> Result<Vec<u8>> {
    if value.len() > MAX_MULTIBASE_LEN {
        return Err(Error::too_large(format!(
            "multibase value of {} characters exceeds {MAX_MULTIBASE_LEN}",
            value.len()
        )));
    }
    let rest = value
        .strip_prefix('z')
        .ok_or_else(|| Error::unsupported("only base58btc ('z') multibase is supported"))?;
    decode_base58(rest).ok_or_else(|| Error::malformed("multibase value is not valid base58btc"))
}

/// The value of a base58btc (Bitcoin alphabet) character.
fn base58_digit(c: u8) -> Option<u64> {
    let d = match c {
        b'1'..=b'9' => c - b'1',
        b'A'..=b'H' => c - b'A' + 9,
        b'J'..=b'N' => c - b'J' + 17,
        b'P'..=b'Z' => c - b'P' + 22,
        b'a'..=b'k' => c - b'a' + 33,
        b'm'..=b'z' => c - b'm' + 44,
        _ => return None,
    };
    Some(u64::from(d))
}

/// Decode base58btc (leading '1's are leading zero bytes), as `bs58` does but on 32-bit limbs
/// taking five digits at a time: still quadratic, but about ten times fewer steps than a byte
/// at a time, which matters for the one long input we accept (a did:peer:4 document).
pub(crate) fn decode_base58(input: &str) -> Option<Vec<u8>> {
    let bytes = input.as_bytes();
    let zeros = bytes.iter().take_while(|&&b| b == b'1').count();
    let digits = bytes.get(zeros..).unwrap_or_default();
    // Little-endian limbs of the number; log(58)/log(2^32) limbs per digit.
    let mut limbs: Vec<u32> = Vec::with_capacity(digits.len() * 733 / 4000 + 2);
    for chunk in digits.chunks(5) {
        // 58^5 < 2^32, so (limb * 58^5 + carry) fits in u64.
        let mut multiplier: u64 = 1;
        let mut carry: u64 = 0;
        for &c in chunk {
            multiplier *= 58;
            carry = carry * 58 + base58_digit(c)?;
        }
        for limb in &mut limbs {
            let v = u64::from(*limb) * multiplier + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        while carry > 0 {
            limbs.push(carry as u32);
            carry >>= 32;
        }
    }
    let mut out = Vec::with_capacity(zeros + limbs.len() * 4);
    out.resize(zeros, 0);
    let mut started = false;
    for limb in limbs.iter().rev() {
        for b in limb.to_be_bytes() {
            started |= b != 0;
            if started {
                out.push(b);
            }
        }
    }
    Some(out)
}

/// Encode bytes as a `z`-prefixed base58btc multibase string.
pub fn encode_multibase(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(1 + bytes.len() * 138 / 100 + 1);
    s.push('z');
    s.push_str(&bs58::encode(bytes).into_string());
    s
}

/// Split multicodec-prefixed bytes into the codec and the key bytes.
pub fn split_multicodec(bytes: &[u8]) -> Result<(u64, &[u8])> {
    read_varint(bytes)
}

/// Parse a public Multikey value (`z...`), validating the key.
pub fn public_key_from_multibase(value: &str) -> Result<PublicKey> {
    check_key_encoding_len(value, "multibase key")?;
    let bytes = decode_multibase(value)?;
    let (codec, key) = split_multicodec(&bytes)?;
    let key_type = public_type(codec).ok_or_else(|| {
        Error::unsupported(format!("unsupported public key multicodec 0x{codec:x}"))
    })?;
    PublicKey::from_bytes(key_type, key)
}

/// Encode a public key as a Multikey value (compressed points for EC keys).
pub fn public_key_to_multibase(key: &PublicKey) -> String {
    let mut bytes = Vec::with_capacity(70);
    write_varint(public_codec(key.key_type()), &mut bytes);
    bytes.extend_from_slice(&key.to_bytes());
    encode_multibase(&bytes)
}

/// Parse a private Multikey value.
pub fn key_pair_from_multibase(value: &str) -> Result<KeyPair> {
    check_key_encoding_len(value, "multibase key")?;
    let bytes = zeroize::Zeroizing::new(decode_multibase(value)?);
    let (codec, key) = split_multicodec(&bytes)?;
    let key_type = private_type(codec).ok_or_else(|| {
        Error::unsupported(format!("unsupported private key multicodec 0x{codec:x}"))
    })?;
    KeyPair::from_secret_bytes(key_type, key)
}

/// Encode a key pair's secret as a private Multikey value (handle with care).
pub fn key_pair_to_multibase(pair: &KeyPair) -> String {
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(70));
    write_varint(private_codec(pair.key_type()), &mut bytes);
    bytes.extend_from_slice(&pair.secret_bytes());
    encode_multibase(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        for v in [0u64, 1, 0x7f, 0x80, 0xed, 0x1200, 0x1308, u32::MAX as u64] {
            let mut out = vec![];
            write_varint(v, &mut out);
            assert_eq!(read_varint(&out).unwrap(), (v, &[][..]));
        }
        assert!(read_varint(&[0x80]).is_err());
        assert!(read_varint(&[0x80, 0x00]).is_err());
        assert!(read_varint(&[]).is_err());
    }

    #[test]
    fn varints_stop_at_nine_bytes() {
        let nine = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert_eq!(read_varint(&nine).unwrap(), ((1 << 63) - 1, &[][..]));
        let ten = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(read_varint(&ten).is_err());
        let mut out = vec![];
        write_varint((1 << 63) - 1, &mut out);
        assert_eq!(out, nine);
    }

    #[test]
    fn multikey_round_trip() {
        for kt in KeyType::ALL {
            let pair = KeyPair::generate(kt).unwrap();
            let mb = public_key_to_multibase(pair.public());
            assert_eq!(&public_key_from_multibase(&mb).unwrap(), pair.public());
            let private = key_pair_to_multibase(&pair);
            assert_eq!(
                key_pair_from_multibase(&private).unwrap().public(),
                pair.public()
            );
        }
    }

    #[test]
    fn base58_decoding_matches_bs58() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for len in 0..120 {
            for _ in 0..8 {
                let mut data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                // Leading zero bytes ('1's) in some inputs.
                let lead = (next() % 4) as usize;
                for b in data.iter_mut().take(lead) {
                    *b = 0;
                }
                let text = bs58::encode(&data).into_string();
                assert_eq!(decode_base58(&text).unwrap(), data, "{text}");
            }
        }
        for bad in ["0", "O", "I", "l", "abc+", "é"] {
            assert!(decode_base58(bad).is_none(), "{bad}");
            assert!(bs58::decode(bad).into_vec().is_err());
        }
        assert_eq!(decode_base58("").unwrap(), Vec::<u8>::new());
        assert_eq!(decode_base58("111").unwrap(), vec![0, 0, 0]);
    }

    #[test]
    fn known_ed25519_multikey() {
        // did:key spec example.
        let k =
            public_key_from_multibase("z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK").unwrap();
        assert_eq!(k.key_type(), KeyType::Ed25519);
    }
}
