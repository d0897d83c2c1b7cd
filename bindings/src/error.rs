//! The one error type of the bindings: a variant per [`didcomm_edge::ErrorKind`], each with the
//! core's reason. Kotlin sees `DidCommException.DecryptionFailed`, Swift
//! `DidCommError.DecryptionFailed`, Python `DidCommError.DecryptionFailed`.
//!
//! Host callbacks (resolver, secrets store) return this type too: a host may raise any variant
//! (say `DidNotResolved`), and anything else it raises arrives as
//! [`uniffi::UnexpectedUniFFICallbackError`] and becomes `ResolverFailure` instead of a panic.

use didcomm_edge::ErrorKind;

/// Every failure of the library, by kind. `reason` is for people and never holds key material
/// or message contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum DidCommError {
    /// The input is not a well-formed DIDComm message, JOSE structure, key or DID document.
    #[error("malformed: {reason}")]
    Malformed { reason: String },
    /// Well formed, but an algorithm, curve or form this library does not support.
    #[error("unsupported: {reason}")]
    Unsupported { reason: String },
    /// A DID could not be resolved.
    #[error("did_not_resolved: {reason}")]
    DidNotResolved { reason: String },
    /// The DID resolved, but the key or service is not in its document.
    #[error("did_url_not_found: {reason}")]
    DidUrlNotFound { reason: String },
    /// No secret is held for the keys the operation needs.
    #[error("secret_not_found: {reason}")]
    SecretNotFound { reason: String },
    /// Sender and recipient share no key agreement curve.
    #[error("no_compatible_keys: {reason}")]
    NoCompatibleKeys { reason: String },
    /// Not encrypted to a key we hold, or tampered with.
    #[error("decryption_failed: {reason}")]
    DecryptionFailed { reason: String },
    /// A signature did not verify.
    #[error("invalid_signature: {reason}")]
    InvalidSignature { reason: String },
    /// The authenticated sender is not the message's `from`.
    #[error("sender_mismatch: {reason}")]
    SenderMismatch { reason: String },
    /// Encrypted to a DID the message's `to` does not list.
    #[error("recipient_mismatch: {reason}")]
    RecipientMismatch { reason: String },
    /// The input exceeds the configured size limit.
    #[error("too_large: {reason}")]
    TooLarge { reason: String },
    /// `expires_time` has passed and expired messages were to be refused.
    #[error("expired: {reason}")]
    Expired { reason: String },
    /// Arguments contradict each other or the message.
    #[error("illegal_argument: {reason}")]
    IllegalArgument { reason: String },
    /// A host resolver or secrets store failed (or raised something other than a `DidCommError`).
    #[error("resolver_failure: {reason}")]
    ResolverFailure { reason: String },
    /// An internal invariant did not hold: a bug in didcomm-edge, please report it.
    #[error("invalid_state: {reason}")]
    InvalidState { reason: String },
    // The edge agent's network and protocol kinds (they have no envelope counterpart).
    /// The mediator or peer could not be reached (connection refused, reset, no route, DNS).
    #[error("unreachable: {reason}")]
    Unreachable { reason: String },
    /// The mediator or peer did not answer in time.
    #[error("timed_out: {reason}")]
    TimedOut { reason: String },
    /// The mediator or peer refused: `problem_code` is the code of its problem report (e.g.
    /// `e.p.req.not-granted`), `http_status` the HTTP status, when there was one.
    #[error("refused: {reason}")]
    Refused {
        reason: String,
        problem_code: Option<String>,
        http_status: Option<u16>,
    },
    /// The answer was not what the protocol expects (wrong type, thread or sender).
    #[error("protocol: {reason}")]
    Protocol { reason: String },
    /// The agent is not connected to a mediator yet: call `connect` first.
    #[error("not_connected: {reason}")]
    NotConnected { reason: String },
    /// The agent's state file could not be read or written.
    #[error("storage: {reason}")]
    Storage { reason: String },
    /// The live stream (or the agent) was closed.
    #[error("closed: {reason}")]
    Closed { reason: String },
}

impl DidCommError {
    /// The core's kind of this error; `None` for the agent's network and protocol kinds.
    pub fn kind(&self) -> Option<ErrorKind> {
        Some(match self {
            DidCommError::Malformed { .. } => ErrorKind::Malformed,
            DidCommError::Unsupported { .. } => ErrorKind::Unsupported,
            DidCommError::DidNotResolved { .. } => ErrorKind::DidNotResolved,
            DidCommError::DidUrlNotFound { .. } => ErrorKind::DidUrlNotFound,
            DidCommError::SecretNotFound { .. } => ErrorKind::SecretNotFound,
            DidCommError::NoCompatibleKeys { .. } => ErrorKind::NoCompatibleKeys,
            DidCommError::DecryptionFailed { .. } => ErrorKind::DecryptionFailed,
            DidCommError::InvalidSignature { .. } => ErrorKind::InvalidSignature,
            DidCommError::SenderMismatch { .. } => ErrorKind::SenderMismatch,
            DidCommError::RecipientMismatch { .. } => ErrorKind::RecipientMismatch,
            DidCommError::TooLarge { .. } => ErrorKind::TooLarge,
            DidCommError::Expired { .. } => ErrorKind::Expired,
            DidCommError::IllegalArgument { .. } => ErrorKind::IllegalArgument,
            DidCommError::ResolverFailure { .. } => ErrorKind::ResolverFailure,
            DidCommError::InvalidState { .. } => ErrorKind::InvalidState,
            DidCommError::Unreachable { .. }
            | DidCommError::TimedOut { .. }
            | DidCommError::Refused { .. }
            | DidCommError::Protocol { .. }
            | DidCommError::NotConnected { .. }
            | DidCommError::Storage { .. }
            | DidCommError::Closed { .. } => return None,
        })
    }

    /// The snake_case name of the kind, as the CLI, the npm package and the agent name it.
    pub fn name(&self) -> &'static str {
        match self {
            DidCommError::Unreachable { .. } => "unreachable",
            DidCommError::TimedOut { .. } => "timed_out",
            DidCommError::Refused { .. } => "refused",
            DidCommError::Protocol { .. } => "protocol",
            DidCommError::NotConnected { .. } => "not_connected",
            DidCommError::Storage { .. } => "storage",
            DidCommError::Closed { .. } => "closed",
            core => core.kind().map_or("invalid_state", ErrorKind::as_str),
        }
    }

    /// Why, for people.
    pub fn reason(&self) -> &str {
        match self {
            DidCommError::Malformed { reason }
            | DidCommError::Unsupported { reason }
            | DidCommError::DidNotResolved { reason }
            | DidCommError::DidUrlNotFound { reason }
            | DidCommError::SecretNotFound { reason }
            | DidCommError::NoCompatibleKeys { reason }
            | DidCommError::DecryptionFailed { reason }
            | DidCommError::InvalidSignature { reason }
            | DidCommError::SenderMismatch { reason }
            | DidCommError::RecipientMismatch { reason }
            | DidCommError::TooLarge { reason }
            | DidCommError::Expired { reason }
            | DidCommError::IllegalArgument { reason }
            | DidCommError::ResolverFailure { reason }
            | DidCommError::InvalidState { reason }
            | DidCommError::Unreachable { reason }
            | DidCommError::TimedOut { reason }
            | DidCommError::Refused { reason, .. }
            | DidCommError::Protocol { reason }
            | DidCommError::NotConnected { reason }
            | DidCommError::Storage { reason }
            | DidCommError::Closed { reason } => reason,
        }
    }

    pub(crate) fn illegal(reason: impl Into<String>) -> Self {
        DidCommError::IllegalArgument {
            reason: reason.into(),
        }
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        DidCommError::Malformed {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_state(reason: impl Into<String>) -> Self {
        DidCommError::InvalidState {
            reason: reason.into(),
        }
    }
}

impl From<didcomm_edge::Error> for DidCommError {
    fn from(error: didcomm_edge::Error) -> Self {
        let reason = error.reason().to_owned();
        match error.kind() {
            ErrorKind::Malformed => DidCommError::Malformed { reason },
            ErrorKind::Unsupported => DidCommError::Unsupported { reason },
            ErrorKind::DidNotResolved => DidCommError::DidNotResolved { reason },
            ErrorKind::DidUrlNotFound => DidCommError::DidUrlNotFound { reason },
            ErrorKind::SecretNotFound => DidCommError::SecretNotFound { reason },
            ErrorKind::NoCompatibleKeys => DidCommError::NoCompatibleKeys { reason },
            ErrorKind::DecryptionFailed => DidCommError::DecryptionFailed { reason },
            ErrorKind::InvalidSignature => DidCommError::InvalidSignature { reason },
            ErrorKind::SenderMismatch => DidCommError::SenderMismatch { reason },
            ErrorKind::RecipientMismatch => DidCommError::RecipientMismatch { reason },
            ErrorKind::TooLarge => DidCommError::TooLarge { reason },
            ErrorKind::Expired => DidCommError::Expired { reason },
            ErrorKind::IllegalArgument => DidCommError::IllegalArgument { reason },
            ErrorKind::ResolverFailure => DidCommError::ResolverFailure { reason },
            ErrorKind::InvalidState => DidCommError::InvalidState { reason },
            // A kind added to the core after these bindings: keep its reason, name the gap.
            other => DidCommError::InvalidState {
                reason: format!("{other} (kind not known to these bindings): {reason}"),
            },
        }
    }
}

/// What a host callback raised, for the core. An agent kind (a host resolver may raise
/// `Unreachable`) is a failure of the host: `ResolverFailure`, naming the kind.
impl From<DidCommError> for didcomm_edge::Error {
    fn from(error: DidCommError) -> Self {
        match error.kind() {
            Some(kind) => didcomm_edge::Error::new(kind, error.reason().to_owned()),
            None => didcomm_edge::Error::new(
                ErrorKind::ResolverFailure,
                format!("{}: {}", error.name(), error.reason()),
            ),
        }
    }
}

/// The agent's errors: its network and protocol kinds as their own variants (a refusal keeps
/// its problem-report code and HTTP status), envelope failures as the core's kinds.
impl From<didcomm_edge_agent::Error> for DidCommError {
    fn from(error: didcomm_edge_agent::Error) -> Self {
        use didcomm_edge_agent::ErrorKind as Agent;
        let reason = error.reason().to_owned();
        match error.kind() {
            Agent::Unreachable => DidCommError::Unreachable { reason },
            Agent::TimedOut => DidCommError::TimedOut { reason },
            Agent::Refused => DidCommError::Refused {
                reason,
                problem_code: error.problem_report().map(|p| p.code.clone()),
                http_status: error.http_status(),
            },
            Agent::Protocol => DidCommError::Protocol { reason },
            Agent::NotConnected => DidCommError::NotConnected { reason },
            Agent::Storage => DidCommError::Storage { reason },
            Agent::Closed => DidCommError::Closed { reason },
            Agent::IllegalArgument => DidCommError::IllegalArgument { reason },
            Agent::Envelope(kind) => didcomm_edge::Error::new(kind, reason).into(),
            // A kind added to the agent after these bindings: keep its reason, name the gap.
            other => DidCommError::InvalidState {
                reason: format!("{other} (kind not known to these bindings): {reason}"),
            },
        }
    }
}

/// A host callback raised something that is not a `DidCommError` (or the call itself failed):
/// a typed `ResolverFailure`, never a panic.
impl From<uniffi::UnexpectedUniFFICallbackError> for DidCommError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        DidCommError::ResolverFailure {
            reason: format!("a host callback failed: {}", error.reason),
        }
    }
}

/// The result type of the bindings.
pub type Result<T, E = DidCommError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [ErrorKind; 15] = [
        ErrorKind::Malformed,
        ErrorKind::Unsupported,
        ErrorKind::DidNotResolved,
        ErrorKind::DidUrlNotFound,
        ErrorKind::SecretNotFound,
        ErrorKind::NoCompatibleKeys,
        ErrorKind::DecryptionFailed,
        ErrorKind::InvalidSignature,
        ErrorKind::SenderMismatch,
        ErrorKind::RecipientMismatch,
        ErrorKind::TooLarge,
        ErrorKind::Expired,
        ErrorKind::IllegalArgument,
        ErrorKind::ResolverFailure,
        ErrorKind::InvalidState,
    ];

    #[test]
    fn every_core_kind_has_its_own_variant_and_round_trips() {
        for kind in KINDS {
            let ffi = DidCommError::from(didcomm_edge::Error::new(kind, "why"));
            assert_eq!(ffi.kind(), Some(kind));
            assert_eq!(ffi.name(), kind.as_str());
            assert_eq!(ffi.reason(), "why");
            assert_eq!(ffi.to_string(), format!("{}: why", kind.as_str()));
            let back = didcomm_edge::Error::from(ffi);
            assert_eq!(back.kind(), kind);
        }
    }

    #[test]
    fn unexpected_callback_errors_are_resolver_failures() {
        let e = DidCommError::from(uniffi::UnexpectedUniFFICallbackError::new("boom"));
        assert_eq!(e.kind(), Some(ErrorKind::ResolverFailure));
        assert!(e.reason().contains("boom"));
    }

    #[test]
    fn agent_kinds_have_their_own_variants() {
        use didcomm_edge_agent::{Error as AgentError, ErrorKind as Agent};
        for (kind, name) in [
            (Agent::Unreachable, "unreachable"),
            (Agent::TimedOut, "timed_out"),
            (Agent::Refused, "refused"),
            (Agent::Protocol, "protocol"),
            (Agent::NotConnected, "not_connected"),
            (Agent::Storage, "storage"),
            (Agent::Closed, "closed"),
            (Agent::IllegalArgument, "illegal_argument"),
            (
                Agent::Envelope(ErrorKind::DecryptionFailed),
                "decryption_failed",
            ),
        ] {
            let ffi = DidCommError::from(AgentError::new(kind, "why"));
            assert_eq!(ffi.name(), name);
            assert_eq!(ffi.reason(), "why");
            assert_eq!(ffi.to_string(), format!("{name}: why"));
        }
        // Raised by a host callback, an agent kind reaches the core as a host failure.
        let core = didcomm_edge::Error::from(DidCommError::Unreachable {
            reason: "no route".into(),
        });
        assert_eq!(core.kind(), ErrorKind::ResolverFailure);
        assert!(core.reason().starts_with("unreachable: "));
    }
}
