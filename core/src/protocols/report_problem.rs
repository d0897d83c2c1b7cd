//! Report Problem 2.0 (DIDComm v2.1 "Problem Reports").
//!
//! A problem report starts a child thread of the thread where the problem happened (`pthid`),
//! carries a structured `code` (`e.p.xfer.cant-use-endpoint`: sorter, scope, descriptors), and
//! optionally a `comment` that is fixed per code, with `{1}`, `{2}`... filled from `args`.

use crate::prelude::*;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{new_message, shorten, wrong_type, Body, ProtocolMessage};
use crate::error::{Error, ErrorKind, Result};
use crate::message::Message;

/// The protocol identifier.
pub const REPORT_PROBLEM_PIURI: &str = "https://didcomm.org/report-problem/2.0";
/// `problem-report`.
pub const PROBLEM_REPORT_TYPE: &str = "https://didcomm.org/report-problem/2.0/problem-report";

/// Common problem codes.
pub mod codes {
    /// Failed to achieve required trust.
    pub const TRUST: &str = "e.p.trust";
    /// Cryptographic operation failed.
    pub const TRUST_CRYPTO: &str = "e.p.trust.crypto";
    /// Unable to transport data.
    pub const XFER: &str = "e.p.xfer";
    /// An endpoint could not be used.
    pub const XFER_CANT_USE_ENDPOINT: &str = "e.p.xfer.cant-use-endpoint";
    /// DID is unusable.
    pub const DID: &str = "e.p.did";
    /// Bad message.
    pub const MSG: &str = "e.p.msg";
    /// The message uses something this agent does not support.
    pub const MSG_UNSUPPORTED: &str = "e.p.msg.unsupported";
    /// The message is larger than this agent accepts.
    pub const MSG_TOO_LARGE: &str = "e.p.msg.too-large";
    /// Internal error.
    pub const ME: &str = "e.p.me";
    /// A required resource is inadequate or unavailable.
    pub const ME_RES: &str = "e.p.me.res";
    /// Storage is inadequate or unavailable.
    pub const ME_RES_STORAGE: &str = "e.p.me.res.storage";
    /// Circumstances don't satisfy requirements.
    pub const REQ: &str = "e.p.req";
    /// The sender is not allowed to do what it asked (e.g. mediation not granted).
    pub const REQ_NOT_ALLOWED: &str = "e.p.req.not-allowed";
    /// Failed to satisfy timing constraints (e.g. the message expired).
    pub const REQ_TIME: &str = "e.p.req.time";
    /// Too many errors in this protocol run; it is abandoned.
    pub const REQ_MAX_ERRORS_EXCEEDED: &str = "e.p.req.max-errors-exceeded";
    /// Failed for legal reasons.
    pub const LEGAL: &str = "e.p.legal";
    /// Message Pickup: the connection cannot do live delivery.
    pub const LIVE_MODE_NOT_SUPPORTED: &str = "e.m.live-mode-not-supported";
}

/// The standard descriptors and their fixed comments (DIDComm v2.1 "Problem Codes").
const DESCRIPTORS: &[(&str, &str)] = &[
    ("trust.crypto", "Cryptographic operation failed."),
    ("trust", "Failed to achieve required trust."),
    ("xfer", "Unable to transport data."),
    ("did", "DID is unusable."),
    ("msg", "Bad message."),
    (
        "me.res",
        "A required resource is inadequate or unavailable.",
    ),
    ("me", "Internal error."),
    ("req.time", "Failed to satisfy timing constraints."),
    ("req", "Circumstances don't satisfy requirements."),
    ("legal", "Failed for legal reasons."),
];

/// Whether a problem is an error or a warning (the code's first token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sorter {
    /// `e`: the problem defeats the intentions of at least one party.
    Error,
    /// `w`: the consequences need judgment.
    Warning,
}

/// A parsed problem code: `sorter.scope.descriptor...`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProblemCode(String);

impl ProblemCode {
    /// Parse a code as received: a sorter (`e` or `w`), a scope and any descriptors, as
    /// non-empty dot-separated tokens without whitespace. Case and characters within tokens
    /// are not policed here (use [`ProblemCode::is_canonical`]).
    pub fn parse(code: &str) -> Result<ProblemCode> {
        let mut tokens = code.split('.');
        let sorter_ok = matches!(tokens.next(), Some("e" | "w"));
        let rest: Vec<&str> = tokens.collect();
        if !sorter_ok
            || rest.is_empty()
            || rest
                .iter()
                .any(|t| t.is_empty() || t.chars().any(char::is_whitespace))
        {
            return Err(Error::malformed(format!(
                "problem code '{}' is not of the form e|w.scope.descriptor",
                shorten(code)
            )));
        }
        Ok(ProblemCode(code.to_owned()))
    }

    /// Whether every token is lower kebab-case, as the spec asks of codes we send.
    pub fn is_canonical(&self) -> bool {
        self.0.split('.').all(|t| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Error or warning.
    pub fn sorter(&self) -> Sorter {
        if self.0.starts_with('e') {
            Sorter::Error
        } else {
            Sorter::Warning
        }
    }

    /// The scope: `p` (the protocol is abandoned), `m` (the message is rejected) or a state
    /// name of the sender's protocol.
    pub fn scope(&self) -> &str {
        self.0.split('.').nth(1).unwrap_or_default()
    }

    /// The descriptors after the scope, joined by dots (`xfer.cant-use-endpoint`).
    pub fn descriptors(&self) -> &str {
        let mut parts = self.0.splitn(3, '.');
        parts.nth(2).unwrap_or_default()
    }

    /// Whether the descriptors start with `prefix` token by token (`xfer` matches
    /// `xfer.cant-use-endpoint` but not `xferred`).
    pub fn has_descriptor(&self, prefix: &str) -> bool {
        let d = self.descriptors();
        d == prefix
            || d.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.'))
    }

    /// The spec's fixed comment for the most specific standard descriptor of this code.
    pub fn standard_comment(&self) -> Option<&'static str> {
        DESCRIPTORS
            .iter()
            .find(|(d, _)| self.has_descriptor(d))
            .map(|(_, comment)| *comment)
    }
}

impl TryFrom<String> for ProblemCode {
    type Error = Error;

    fn try_from(value: String) -> Result<Self> {
        ProblemCode::parse(&value)
    }
}

impl From<ProblemCode> for String {
    fn from(code: ProblemCode) -> String {
        code.0
    }
}

impl core::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A problem report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemReport {
    /// The problem code (see [`codes`]).
    pub code: String,
    /// Human-readable text fixed per code, with `{1}`, `{2}`... placeholders for `args`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Values for the placeholders (`None`: a JSON `null`, shown as `?`). Non-string values
    /// received are kept as their JSON text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Option<String>>,
    /// A URI where help is available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_to: Option<String>,
    /// The thread in which the problem occurred. The spec requires `pthid`; when reading, a
    /// report that has only `thid` is accepted with that value, as some agents send it.
    pub pthid: String,
    /// The ids of the messages that triggered the problem (the `ack` header).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ack: Vec<String>,
}

impl ProblemReport {
    /// A report of `code` about the thread `pthid`.
    pub fn new(code: impl Into<String>, pthid: impl Into<String>) -> ProblemReport {
        ProblemReport {
            code: code.into(),
            comment: None,
            args: vec![],
            escalate_to: None,
            pthid: pthid.into(),
            ack: vec![],
        }
    }

    /// A report of `code` about a received message: `pthid` is its thread (its id when it
    /// starts one), which is how the sender matches the report to its request.
    ///
    /// No `ack`: the spec's form is an array, and didcomm-jvm 0.3 (under Hyperledger Identus'
    /// mobile SDKs) refuses any message whose `ack` is not a string, so a report carrying it
    /// could be read by one kind of client or the other, never both. Set [`ProblemReport::ack`]
    /// by hand where every peer is known to read the array.
    pub fn about(message: &Message, code: impl Into<String>) -> ProblemReport {
        ProblemReport::new(code, message.thread_id())
    }

    /// A report for one of our own errors about `message`: the code follows the error kind and
    /// the comment is the code's fixed standard text, never the error's reason (which may say
    /// more than a peer should learn).
    pub fn from_error(error: &Error, message: &Message) -> ProblemReport {
        let code = match error.kind() {
            ErrorKind::Malformed => codes::MSG,
            ErrorKind::Unsupported => codes::MSG_UNSUPPORTED,
            ErrorKind::TooLarge => codes::MSG_TOO_LARGE,
            ErrorKind::DidNotResolved | ErrorKind::DidUrlNotFound => codes::DID,
            ErrorKind::SecretNotFound
            | ErrorKind::NoCompatibleKeys
            | ErrorKind::DecryptionFailed
            | ErrorKind::InvalidSignature => codes::TRUST_CRYPTO,
            ErrorKind::SenderMismatch | ErrorKind::RecipientMismatch => codes::TRUST,
            ErrorKind::Expired => codes::REQ_TIME,
            ErrorKind::ResolverFailure => codes::ME_RES,
            ErrorKind::IllegalArgument | ErrorKind::InvalidState => codes::ME,
        };
        let mut report = ProblemReport::about(message, code);
        report.comment = ProblemCode(code.to_owned())
            .standard_comment()
            .map(str::to_owned);
        report
    }

    /// Set the comment.
    #[must_use]
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }

    /// Set the arguments.
    #[must_use]
    pub fn args(mut self, args: Vec<String>) -> Self {
        self.args = args.into_iter().map(Some).collect();
        self
    }

    /// The parsed code.
    pub fn problem_code(&self) -> Result<ProblemCode> {
        ProblemCode::parse(&self.code)
    }

    /// The comment with `{n}` replaced by the n-th argument (`?` when missing or null) and
    /// any argument the comment does not reference appended, comma-separated. Without a
    /// comment, the code's standard comment (or the code itself) stands in.
    pub fn interpolated_comment(&self) -> String {
        let template = match &self.comment {
            Some(c) => c.clone(),
            None => ProblemCode::parse(&self.code)
                .ok()
                .and_then(|c| c.standard_comment())
                .unwrap_or(&self.code)
                .to_owned(),
        };
        let mut used = vec![false; self.args.len()];
        let mut out = String::with_capacity(template.len());
        let mut rest = template.as_str();
        while let Some(open) = rest.find('{') {
            let (before, from_brace) = rest.split_at(open);
            out.push_str(before);
            let placeholder = from_brace
                .find('}')
                .and_then(|close| from_brace.get(1..close).map(|digits| (close, digits)))
                .filter(|(_, digits)| {
                    !digits.is_empty()
                        && digits.len() <= 4
                        && digits.bytes().all(|b| b.is_ascii_digit())
                })
                .and_then(|(close, digits)| digits.parse::<usize>().ok().map(|n| (close, n)))
                .filter(|(_, n)| *n >= 1);
            match placeholder {
                Some((close, n)) => {
                    match self.args.get(n - 1) {
                        Some(Some(arg)) => out.push_str(arg),
                        _ => out.push('?'),
                    }
                    if let Some(flag) = used.get_mut(n - 1) {
                        *flag = true;
                    }
                    rest = from_brace.get(close + 1..).unwrap_or_default();
                }
                None => {
                    out.push('{');
                    rest = from_brace.get(1..).unwrap_or_default();
                }
            }
        }
        out.push_str(rest);
        let extras: Vec<&str> = self
            .args
            .iter()
            .zip(&used)
            .filter(|(_, used)| !**used)
            .map(|(arg, _)| arg.as_deref().unwrap_or("?"))
            .collect();
        if !extras.is_empty() {
            out.push_str(", ");
            out.push_str(&extras.join(", "));
        }
        out
    }

    /// Build the report under another message type: protocols such as Message Pickup 4.0
    /// define their own `problem-report` with this body.
    pub fn to_message_as(&self, type_: &str) -> Result<Message> {
        let code = ProblemCode::parse(&self.code)
            .map_err(|e| Error::illegal_argument(e.reason().to_owned()))?;
        if !code.is_canonical() {
            return Err(Error::illegal_argument(
                "problem codes are written in lower kebab-case",
            ));
        }
        if self.pthid.is_empty() {
            return Err(Error::illegal_argument(
                "a problem report needs the 'pthid' of the thread where the problem occurred",
            ));
        }
        let mut body = Map::new();
        body.insert("code".into(), Value::String(self.code.clone()));
        super::put(&mut body, "comment", self.comment.clone());
        if !self.args.is_empty() {
            body.insert(
                "args".into(),
                Value::Array(
                    self.args
                        .iter()
                        .map(|a| a.clone().map_or(Value::Null, Value::String))
                        .collect(),
                ),
            );
        }
        super::put(&mut body, "escalate_to", self.escalate_to.clone());
        let mut message = new_message(type_, body)?.pthid(self.pthid.clone());
        if !self.ack.is_empty() {
            message.ack = Some(self.ack.clone());
        }
        Ok(message)
    }
}

/// Whether `type_` is a problem report: Report Problem 2.0's, or a protocol's own
/// `.../problem-report` (same body).
pub fn is_problem_report(type_: &str) -> bool {
    type_ == PROBLEM_REPORT_TYPE || type_.ends_with("/problem-report")
}

impl ProtocolMessage for ProblemReport {
    fn message_type(&self) -> &'static str {
        PROBLEM_REPORT_TYPE
    }

    fn to_message(&self) -> Result<Message> {
        self.to_message_as(PROBLEM_REPORT_TYPE)
    }

    /// Reads Report Problem 2.0 reports and protocol-specific `.../problem-report` types.
    fn from_message(message: &Message) -> Result<Self> {
        if !is_problem_report(&message.type_) {
            return Err(wrong_type(message, PROBLEM_REPORT_TYPE));
        }
        let body = Body::of(message, "problem-report")?;
        let code = body.required_string("code")?;
        ProblemCode::parse(&code).map_err(|e| body.error(e.reason()))?;
        let args = match body.array("args")? {
            None => vec![],
            Some(items) => items
                .iter()
                .map(|v| match v {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                })
                .collect(),
        };
        let pthid = message
            .pthid
            .clone()
            .or_else(|| message.thid.clone())
            .ok_or_else(|| body.error("'pthid' is missing"))?;
        Ok(ProblemReport {
            code,
            comment: body.string("comment")?,
            args,
            escalate_to: body.string("escalate_to")?,
            pthid,
            ack: message.ack.clone().unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse() {
        let c = ProblemCode::parse("e.p.xfer.cant-use-endpoint").unwrap();
        assert_eq!(c.sorter(), Sorter::Error);
        assert_eq!(c.scope(), "p");
        assert_eq!(c.descriptors(), "xfer.cant-use-endpoint");
        assert!(c.has_descriptor("xfer"));
        assert!(!c.has_descriptor("xf"));
        assert_eq!(c.standard_comment(), Some("Unable to transport data."));
        assert!(c.is_canonical());
        let w = ProblemCode::parse("w.m.trust.crypto").unwrap();
        assert_eq!(w.sorter(), Sorter::Warning);
        assert_eq!(
            w.standard_comment(),
            Some("Cryptographic operation failed.")
        );
        assert!(!ProblemCode::parse("e.p.Bad_Token").unwrap().is_canonical());
        for bad in ["", "e", "x.p.msg", "e..msg", "e.p.a b", "e.p."] {
            assert!(ProblemCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn interpolation() {
        let mut r = ProblemReport::new(codes::XFER_CANT_USE_ENDPOINT, "t")
            .comment("Unable to use the {1} endpoint for {2}.")
            .args(vec![
                "https://agents.r.us/inbox".into(),
                "did:sov:C805".into(),
            ]);
        assert_eq!(
            r.interpolated_comment(),
            "Unable to use the https://agents.r.us/inbox endpoint for did:sov:C805."
        );
        r.args = vec![Some("a".into())];
        assert_eq!(
            r.interpolated_comment(),
            "Unable to use the a endpoint for ?."
        );
        r.args = vec![None, Some("b".into()), Some("c".into()), None];
        assert_eq!(
            r.interpolated_comment(),
            "Unable to use the ? endpoint for b., c, ?"
        );
        r.comment = Some("{0} {x} {1 {99999} {".into());
        assert_eq!(r.interpolated_comment(), "{0} {x} {1 {99999} {, ?, b, c, ?");
        r.comment = None;
        r.args = vec![];
        assert_eq!(r.interpolated_comment(), "Unable to transport data.");
    }
}
