//! The one error type of the core.
//!
//! Every failure carries an [`ErrorKind`] a caller can act on and a short reason for humans.
//! Reasons name the offending field or identifier, never key material or message contents.

use crate::prelude::*;

use core::fmt;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is not a well-formed DIDComm message, JOSE structure, key or DID document.
    Malformed,
    /// The input is well formed but uses an algorithm, curve or form this library does not support.
    Unsupported,
    /// A DID could not be resolved.
    DidNotResolved,
    /// A DID resolved, but the referenced key or service is not in its document (or not in the
    /// verification relationship the operation requires).
    DidUrlNotFound,
    /// No secret is available for the keys this operation needs.
    SecretNotFound,
    /// Sender and recipient have no key agreement curve in common.
    NoCompatibleKeys,
    /// Decryption failed: the message was not encrypted to a key we hold, or it was tampered with.
    DecryptionFailed,
    /// A signature did not verify.
    InvalidSignature,
    /// The authenticated sender (authcrypt `skid` or signer) does not belong to the message's `from`.
    SenderMismatch,
    /// The message was encrypted to a key whose DID is not among the message's `to`.
    RecipientMismatch,
    /// The input exceeds the configured size limit.
    TooLarge,
    /// The message's `expires_time` has passed and the caller asked for expired messages to be
    /// refused, or a `from_prior` JWT is outside its validity period (`exp` passed, `nbf` not
    /// yet come, `iat` in the future).
    Expired,
    /// The caller passed arguments that contradict each other or the message.
    IllegalArgument,
    /// A host-supplied resolver or secrets store failed.
    ResolverFailure,
    /// An internal invariant did not hold. This is a bug in didcomm-edge; please report it.
    InvalidState,
}

impl ErrorKind {
    /// A stable, snake_case name for the kind, used by the CLI and the language bindings.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Malformed => "malformed",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::DidNotResolved => "did_not_resolved",
            ErrorKind::DidUrlNotFound => "did_url_not_found",
            ErrorKind::SecretNotFound => "secret_not_found",
            ErrorKind::NoCompatibleKeys => "no_compatible_keys",
            ErrorKind::DecryptionFailed => "decryption_failed",
            ErrorKind::InvalidSignature => "invalid_signature",
            ErrorKind::SenderMismatch => "sender_mismatch",
            ErrorKind::RecipientMismatch => "recipient_mismatch",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Expired => "expired",
            ErrorKind::IllegalArgument => "illegal_argument",
            ErrorKind::ResolverFailure => "resolver_failure",
            ErrorKind::InvalidState => "invalid_state",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned by every fallible operation of the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    reason: String,
}

impl Error {
    /// An error of `kind` with a human-readable `reason` (which must not contain secrets).
    pub fn new(kind: ErrorKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Why, for humans.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Prefix the reason with context, keeping the kind.
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.reason = format!("{context}: {}", self.reason);
        self
    }

    pub(crate) fn too_large(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::TooLarge, reason)
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Malformed, reason)
    }

    pub(crate) fn unsupported(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, reason)
    }

    pub(crate) fn illegal_argument(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::IllegalArgument, reason)
    }

    pub(crate) fn invalid_state(reason: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidState, reason)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.reason)
    }
}

impl core::error::Error for Error {}

/// How many characters of an input string an error reason may quote.
pub const EXCERPT_CHARS: usize = 48;

/// At most [`EXCERPT_CHARS`] characters of `input` (cut at a character boundary), followed by
/// `…` when something was cut: the form in which error reasons quote attacker-supplied strings
/// (DIDs, kids, algorithm names), so a refusal never echoes its input at length. Control
/// characters are replaced, so a quoted value cannot forge lines in a log.
pub fn excerpt(input: &str) -> String {
    let mut out = String::with_capacity(input.len().min(EXCERPT_CHARS * 4) + 3);
    let mut chars = input.chars();
    for c in chars.by_ref().take(EXCERPT_CHARS) {
        out.push(if c.is_control() { '\u{fffd}' } else { c });
    }
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// The result type of the core.
pub type Result<T, E = Error> = core::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_bounded() {
        assert_eq!(excerpt("did:example:alice"), "did:example:alice");
        let long = format!("did:key:z{}", "2".repeat(100_000));
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(
            excerpt(&"é".repeat(EXCERPT_CHARS)),
            "é".repeat(EXCERPT_CHARS)
        );
        assert_eq!(excerpt("a\nb"), "a\u{fffd}b");
    }
}
