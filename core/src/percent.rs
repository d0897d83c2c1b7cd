//! Percent-decoding of URL query values and did:web parts (`%XX` escapes) through
//! `percent-encoding`, which passes a malformed escape through: here it is refused.

use crate::prelude::*;

/// Why a value does not percent-decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undecodable {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

/// Decode the `%XX` escapes of `value` (`+` stays `+`).
pub(crate) fn decode(value: &str) -> Result<String, Undecodable> {
    let escapes_ok = value.split('%').skip(1).all(|rest| {
        rest.as_bytes()
            .get(..2)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !escapes_ok {
        return Err(Undecodable::BadEscape);
    }
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map(alloc::borrow::Cow::into_owned)
        .map_err(|_| Undecodable::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::{decode, Undecodable};

    #[test]
    fn escapes() {
        assert_eq!(decode("a%3Db+c%3a").unwrap(), "a=b+c:");
        assert_eq!(decode("plain").unwrap(), "plain");
        for bad in ["%zz", "%4", "%", "a%%41", "%+1", "%-1"] {
            assert_eq!(decode(bad), Err(Undecodable::BadEscape), "{bad}");
        }
        assert_eq!(decode("%ff"), Err(Undecodable::NotUtf8));
    }
}
