//! Base64url without padding, decoded strictly.
//!
//! JOSE uses unpadded base64url. We refuse padding, other alphabets and non-canonical encodings
//! (non-zero trailing bits): two different strings must never decode to the same bytes, or a
//! signature over one would validate the other.

use crate::prelude::*;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::{Error, Result};

/// Encode bytes as unpadded base64url.
pub fn encode(data: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Encode into an existing string (saves an allocation on hot paths).
pub fn encode_into(data: impl AsRef<[u8]>, out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(data, out);
}

/// Decode canonical unpadded base64url; `what` names the field for the error message.
pub fn decode(input: &str, what: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(input)
        .map_err(|_| Error::malformed(format!("{what} is not canonical unpadded base64url")))
}

/// Decode at most `max_chars` characters of base64url: a longer `input` is refused (kind
/// [`crate::ErrorKind::TooLarge`]) before any decoding or allocation.
pub fn decode_bounded(input: &str, max_chars: usize, what: &str) -> Result<Vec<u8>> {
    if input.len() > max_chars {
        return Err(Error::too_large(format!(
            "{what} of {} characters exceeds the limit of {max_chars}",
            input.len()
        )));
    }
    decode(input, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(decode(&encode(&data), "x").unwrap(), data);
        }
    }

    #[test]
    fn rejects_non_canonical_padding_and_alphabet() {
        // "QQ" is canonical for b"A"; "QR" has non-zero trailing bits.
        assert_eq!(decode("QQ", "x").unwrap(), b"A");
        assert!(decode("QR", "x").is_err());
        assert!(decode("QQ==", "x").is_err());
        assert!(decode("a+b/", "x").is_err());
        assert!(decode("a b", "x").is_err());
    }

    #[test]
    fn bounded_decoding_refuses_long_input_first() {
        assert_eq!(decode_bounded("QQ", 2, "x").unwrap(), b"A");
        // Too long, and not even base64: the length is what is reported.
        let err = decode_bounded("!!!", 2, "x").unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::TooLarge);
    }
}
