//! The agent's error type: what went wrong on the network or in a protocol, typed so a device
//! can decide whether to retry, ask the user, or give up.
//!
//! Reasons name what failed (an endpoint, a message type, a status), never message contents or
//! key material.

use std::fmt;

use didcomm_edge::protocols::report_problem::ProblemReport;

/// What went wrong, in terms a device can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The endpoint could not be reached (connection refused, reset, no route, DNS).
    Unreachable,
    /// The endpoint did not answer in time.
    TimedOut,
    /// The mediator or peer answered with a refusal: an HTTP error status, its JSON reason, or
    /// a DIDComm problem report ([`Error::problem_report`]).
    Refused,
    /// The answer was not what the protocol expects (wrong type, thread or sender).
    Protocol,
    /// The envelope engine failed (malformed message, unknown DID, decryption failed, ...).
    Envelope(didcomm_edge::ErrorKind),
    /// Nothing to talk to yet: connect to a mediator first.
    NotConnected,
    /// The state file could not be read or written.
    Storage,
    /// The live stream or the agent was closed.
    Closed,
    /// The caller asked for something the current state does not allow.
    IllegalArgument,
}

impl ErrorKind {
    /// A stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::TimedOut => "timed_out",
            ErrorKind::Refused => "refused",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Envelope(kind) => kind.as_str(),
            ErrorKind::NotConnected => "not_connected",
            ErrorKind::Storage => "storage",
            ErrorKind::Closed => "closed",
            ErrorKind::IllegalArgument => "illegal_argument",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of every fallible agent operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    kind: ErrorKind,
    reason: String,
    status: Option<u16>,
    problem: Option<Box<ProblemReport>>,
}

impl Error {
    /// An error of `kind` with a reason for humans (no secrets, no message contents).
    pub fn new(kind: ErrorKind, reason: impl Into<String>) -> Self {
        Error {
            kind,
            reason: reason.into(),
            status: None,
            problem: None,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Why.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The HTTP status of a refusal, when it came over HTTP.
    pub fn http_status(&self) -> Option<u16> {
        self.status
    }

    /// The problem report of a refusal, when the other side sent one.
    pub fn problem_report(&self) -> Option<&ProblemReport> {
        self.problem.as_deref()
    }

    /// Whether trying the same request again may succeed: the endpoint was unreachable or slow,
    /// or refused for a passing reason (rate limit, storage unavailable).
    pub fn is_transient(&self) -> bool {
        match self.kind {
            ErrorKind::Unreachable | ErrorKind::TimedOut => true,
            ErrorKind::Refused => matches!(self.status, Some(429 | 502 | 503 | 504)),
            _ => false,
        }
    }

    /// Prefix the reason with context, keeping the kind.
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.reason = format!("{context}: {}", self.reason);
        self
    }

    pub(crate) fn refused_http(status: u16, reason: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Refused,
            reason: reason.into(),
            status: Some(status),
            problem: None,
        }
    }

    pub(crate) fn refused_problem(problem: ProblemReport) -> Self {
        let reason = format!(
            "problem report {}: {}",
            problem.code,
            shorten(&problem.interpolated_comment())
        );
        Error {
            kind: ErrorKind::Refused,
            reason,
            status: None,
            problem: Some(Box::new(problem)),
        }
    }

    pub(crate) fn refused_problem_with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub(crate) fn protocol(reason: impl Into<String>) -> Self {
        Error::new(ErrorKind::Protocol, reason)
    }

    pub(crate) fn storage(what: impl fmt::Display, e: &std::io::Error) -> Self {
        Error::new(ErrorKind::Storage, format!("{what}: {e}"))
    }

    pub(crate) fn illegal_argument(reason: impl Into<String>) -> Self {
        Error::new(ErrorKind::IllegalArgument, reason)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "{} (HTTP {status}): {}", self.kind, self.reason),
            None => write!(f, "{}: {}", self.kind, self.reason),
        }
    }
}

impl std::error::Error for Error {}

impl From<didcomm_edge::Error> for Error {
    fn from(e: didcomm_edge::Error) -> Self {
        Error::new(ErrorKind::Envelope(e.kind()), e.reason())
    }
}

/// The agent's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// At most 200 characters of text from the other side, for reasons.
pub(crate) fn shorten(text: &str) -> String {
    if text.chars().count() <= 200 {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(200).collect();
        s.push('…');
        s
    }
}
