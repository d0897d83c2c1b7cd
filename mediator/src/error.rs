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
    IllegalArgument,
    /// The message type or feature is not served by this mediator.
    Unsupported,
    /// The configuration is invalid.
    Config,
    /// A file or socket operation failed.
    Io,
    /// The server is shutting down, a component stopped, or it is too busy right now (retry
    /// shortly).
    Unavailable,
    /// The sender (its address or its DID) sent more than its rate allows.
    RateLimited,
    /// An authenticated request whose (sender, id) was already handled.
    Replay,
    /// The client took too long to send its request.
    TimedOut,
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
            ErrorKind::IllegalArgument => "illegal_argument",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Config => "config",
            ErrorKind::Io => "io",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Replay => "replay",
            ErrorKind::TimedOut => "timed_out",
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
    /// When a retry may succeed (rate limits, a busy server).
    retry_after: Option<std::time::Duration>,
}

impl Error {
    /// An error of `kind` with a reason for humans (no secrets, no message contents).
    pub fn new(kind: ErrorKind, reason: impl Into<String>) -> Self {
        Error {
            kind,
            reason: reason.into(),
            problem_code: None,
            report: None,
            retry_after: None,
        }
    }

    /// `who` sent more than its rate allows; a request may pass again after `wait`.
    pub fn rate_limited(who: &str, wait: std::time::Duration) -> Self {
        Error::new(
            ErrorKind::RateLimited,
            format!("rate limit exceeded for {who}"),
        )
        .with_retry_after(wait)
    }

    /// Say when a retry may succeed.
    #[must_use]
    pub fn with_retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after = Some(wait);
        self
    }

    /// When a retry may succeed, if the error says.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
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

    pub(crate) fn illegal_argument(reason: impl Into<String>) -> Self {
        Error::new(ErrorKind::IllegalArgument, reason)
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
        Error::new(ErrorKind::Envelope(e.kind()), bounded_reason(e.reason()))
    }
}

/// `text` with every run of non-space characters longer than [`EXCERPT_CHARS`] cut there.
fn cut_long_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4 * MAX_REASON_CHARS));
    let mut run = 0usize;
    for c in text.chars() {
        if c.is_whitespace() {
            run = 0;
            out.push(c);
            continue;
        }
        run += 1;
        if run <= EXCERPT_CHARS {
            out.push(c);
        } else if run == EXCERPT_CHARS + 1 {
            out.push('…');
        }
    }
    out
}

/// Most characters of a reason taken from the envelope engine.
const MAX_REASON_CHARS: usize = 160;

/// A reason from the engine, which may quote the input it refused: every quoted run (`'…'`
/// or `"…"`) cut to an [`excerpt`], the whole to [`MAX_REASON_CHARS`].
fn bounded_reason(reason: &str) -> String {
    let mut out = String::new();
    let mut rest = reason;
    while let Some(open) = rest.find(['\'', '"']) {
        let (before, from_quote) = rest.split_at(open);
        out.push_str(before);
        let quote = from_quote.chars().next().unwrap_or('\'');
        let inner = from_quote.get(1..).unwrap_or_default();
        match inner.find(quote) {
            Some(close) => {
                out.push(quote);
                out.push_str(&excerpt(inner.get(..close).unwrap_or_default()));
                out.push(quote);
                rest = inner.get(close + 1..).unwrap_or_default();
            }
            None => {
                out.push(quote);
                out.push_str(&excerpt(inner));
                rest = "";
            }
        }
    }
    out.push_str(rest);
    // Unquoted input (a DID after "resolving") is one long word: cut every word too.
    let mut out = cut_long_words(&out);
    if out.chars().nth(MAX_REASON_CHARS).is_some() {
        out = out.chars().take(MAX_REASON_CHARS).collect();
        out.push('…');
    }
    out
}

// One rule for quoting input in reasons, the core's: at most EXCERPT_CHARS characters, control
// characters replaced, `…` when cut.
pub use didcomm_edge::error::{excerpt, EXCERPT_CHARS};

/// The mediator's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_and_printable() {
        assert_eq!(excerpt("did:key:z6Mk"), "did:key:z6Mk");
        let long = format!("did:key:z{}", "2".repeat(100_000));
        let shown = excerpt(&long);
        assert_eq!(shown.chars().count(), EXCERPT_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(excerpt("a\nb\u{1b}[31m"), "a\u{fffd}b\u{fffd}[31m");
    }

    #[test]
    fn engine_reasons_quote_little_of_the_input() {
        let did = format!("did:key:z{}", "2".repeat(10_000));
        let e = Error::from(didcomm_edge::Error::new(
            didcomm_edge::ErrorKind::Malformed,
            format!("kid '{did}' is not a DID URL; also \"{did}"),
        ));
        assert!(
            e.reason().chars().count() <= MAX_REASON_CHARS + 1,
            "{}",
            e.reason()
        );
        assert!(
            !e.reason().contains(&"2".repeat(EXCERPT_CHARS)),
            "{}",
            e.reason()
        );
        assert!(
            e.reason().starts_with("kid 'did:key:z222"),
            "{}",
            e.reason()
        );
        let e = Error::from(didcomm_edge::Error::new(
            didcomm_edge::ErrorKind::Unsupported,
            format!("resolving {did}"),
        ));
        assert!(e.reason().chars().count() < 80, "{}", e.reason());
        let plain = "the message is not valid JSON";
        let e = Error::from(didcomm_edge::Error::new(
            didcomm_edge::ErrorKind::Malformed,
            plain,
        ));
        assert_eq!(e.reason(), plain);
    }
}
