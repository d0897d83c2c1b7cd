//! The mediator's error type: one enum of kinds a caller (or an HTTP status) can act on.
//!
//! Reasons name what failed (a table, a file, a limit), never message contents or key material.

use std::fmt;

/// What went wrong, in terms an operator or a transport can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The envelope engine refused the message (malformed, not for us, ...).
    Envelope(didcomm_edge::ErrorKind),
    /// The storage backend failed (database unreachable, disk full, migration failed).
    Storage,
    /// The recipient's queue is full (count or byte quota).
    QuotaExceeded,
    /// The request is not allowed for this sender (no grant, key owned by someone else).
    Forbidden,
    /// The message is addressed to a recipient this mediator does not serve.
    UnknownRecipient,
    /// The input is too large.
    TooLarge,
    /// The input is not what the protocol expects.
    BadRequest,
    /// The message type or feature is not served by this mediator.
    Unsupported,
    /// The configuration is invalid.
    Config,
    /// A file or socket operation failed.
    Io,
    /// The server is shutting down or a component stopped.
    Unavailable,
    /// An internal invariant did not hold (a bug).
    Internal,
}

impl ErrorKind {
    /// A stable snake_case name, used in metrics labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Envelope(kind) => kind.as_str(),
            ErrorKind::Storage => "storage",
            ErrorKind::QuotaExceeded => "quota_exceeded",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::UnknownRecipient => "unknown_recipient",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Config => "config",
            ErrorKind::Io => "io",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of every fallible mediator operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    reason: String,
    /// A Report Problem code more precise than the kind's (e.g. `e.m.live-mode-not-supported`).
    problem_code: Option<&'static str>,
    /// The refusal packed as a problem report for the sender, when it can read one.
    report: Option<String>,
}

impl Error {
    /// An error of `kind` with a reason for humans (no secrets, no message contents).
    pub fn new(kind: ErrorKind, reason: impl Into<String>) -> Self {
        Error {
            kind,
            reason: reason.into(),
            problem_code: None,
            report: None,
        }
    }

    /// Name the Report Problem code to answer this error with.
    #[must_use]
    pub fn with_problem_code(mut self, code: &'static str) -> Self {
        self.problem_code = Some(code);
        self
    }

    /// The Report Problem code set with [`Error::with_problem_code`], if any.
    pub fn problem_code(&self) -> Option<&'static str> {
        self.problem_code
    }

    /// Attach the packed problem report the transport sends back instead of its JSON error.
    #[must_use]
    pub fn with_report(mut self, packed: String) -> Self {
        self.report = Some(packed);
        self
    }

    /// The packed problem report for the sender, when the refused request was authenticated
    /// and allowed replies on its connection (`return_route`).
    pub fn report(&self) -> Option<&str> {
        self.report.as_deref()
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Why.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Prefix the reason with context.
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.reason = format!("{context}: {}", self.reason);
        self
    }

    pub(crate) fn storage(reason: impl Into<String>) -> Self {
        Error::new(ErrorKind::Storage, reason)
    }

    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config, reason)
    }

    pub(crate) fn io(what: impl fmt::Display, e: &std::io::Error) -> Self {
        Error::new(ErrorKind::Io, format!("{what}: {e}"))
    }

    pub(crate) fn bad_request(reason: impl Into<String>) -> Self {
        Error::new(ErrorKind::BadRequest, reason)
    }

    pub(crate) fn forbidden(reason: impl Into<String>) -> Self {
        Error::new(ErrorKind::Forbidden, reason)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.reason)
    }
}

impl std::error::Error for Error {}

impl From<didcomm_edge::Error> for Error {
    fn from(e: didcomm_edge::Error) -> Self {
        Error::new(ErrorKind::Envelope(e.kind()), e.reason())
    }
}

/// The mediator's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
