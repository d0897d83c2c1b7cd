//! Report Problem 2.0: every refusal of an authenticated request that allows replies on its
//! connection is answered by a problem report (a child thread of the request's thread:
//! `pthid` is the request's thread; no `ack`, which didcomm-jvm and the spec spell
//! differently, see [`ProblemReport::about`]). Message Pickup 4.0 requests get the protocol's
//! own `problem-report` type.

use didcomm_edge::protocols::pickup::PickupVersion;
use didcomm_edge::protocols::report_problem::{codes, ProblemReport, PROBLEM_REPORT_TYPE};
use didcomm_edge::Message;

use crate::error::{Error, ErrorKind, Result};

/// A forward named a recipient no grant covers.
pub const UNKNOWN_RECIPIENT: &str = "e.p.msg.unknown-recipient";

/// The problem code for an error: the one the error names, else the one of its kind.
pub fn code_for(error: &Error) -> &'static str {
    if let Some(code) = error.problem_code() {
        return code;
    }
    use didcomm_edge::ErrorKind as Core;
    match error.kind() {
        ErrorKind::Forbidden => codes::REQ_NOT_ALLOWED,
        ErrorKind::UnknownRecipient => UNKNOWN_RECIPIENT,
        ErrorKind::QuotaExceeded => codes::ME_RES_STORAGE,
        ErrorKind::TooLarge | ErrorKind::Envelope(Core::TooLarge) => codes::MSG_TOO_LARGE,
        ErrorKind::Unsupported | ErrorKind::Envelope(Core::Unsupported) => codes::MSG_UNSUPPORTED,
        ErrorKind::IllegalArgument | ErrorKind::Envelope(Core::Malformed) => codes::MSG,
        ErrorKind::Storage
        | ErrorKind::Unavailable
        | ErrorKind::Envelope(Core::ResolverFailure) => codes::ME_RES,
        ErrorKind::Envelope(Core::DidNotResolved | Core::DidUrlNotFound) => codes::DID,
        ErrorKind::Envelope(
            Core::SecretNotFound
            | Core::NoCompatibleKeys
            | Core::DecryptionFailed
            | Core::InvalidSignature,
        ) => codes::TRUST_CRYPTO,
        ErrorKind::Envelope(Core::SenderMismatch | Core::RecipientMismatch) => codes::TRUST,
        ErrorKind::Envelope(Core::Expired) => codes::REQ_TIME,
        _ => codes::ME,
    }
}

/// The problem report (plaintext, addressed to the request's sender) for `error`, refusing
/// `request`. The comment is the error's reason, which names what was refused and never
/// contains message contents or keys.
pub fn report(error: &Error, request: &Message) -> Result<Message> {
    let type_ = PickupVersion::of_type(&request.type_)
        .map_or(PROBLEM_REPORT_TYPE, PickupVersion::problem_report_type);
    let mut report = ProblemReport::about(request, code_for(error)).comment(error.reason());
    report.escalate_to = None;
    let mut message = report.to_message_as(type_)?;
    message.to = request.from.clone().map(|from| vec![from]);
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use didcomm_edge::protocols::ProtocolMessage;
    use serde_json::json;

    #[test]
    fn codes_follow_kinds_and_overrides() {
        let forbidden = Error::new(ErrorKind::Forbidden, "no");
        assert_eq!(code_for(&forbidden), "e.p.req.not-allowed");
        let live = Error::new(ErrorKind::Unsupported, "no live")
            .with_problem_code(codes::LIVE_MODE_NOT_SUPPORTED);
        assert_eq!(code_for(&live), "e.m.live-mode-not-supported");
        let quota = Error::new(ErrorKind::QuotaExceeded, "full");
        assert_eq!(code_for(&quota), "e.p.me.res.storage");
    }

    #[test]
    fn reports_thread_to_the_request() {
        let request = Message::build(
            "req-1",
            "https://didcomm.org/message-pickup/4.0/status-request",
            json!({}),
        )
        .from("did:example:alice");
        let report = report(&Error::new(ErrorKind::Forbidden, "nope"), &request).unwrap();
        assert_eq!(
            report.type_,
            "https://didcomm.org/message-pickup/4.0/problem-report"
        );
        assert_eq!(report.pthid.as_deref(), Some("req-1"));
        assert_eq!(report.ack, None, "didcomm-jvm refuses a non-string ack");
        assert_eq!(report.to, Some(vec!["did:example:alice".to_owned()]));
        let parsed = ProblemReport::from_message(&report).unwrap();
        assert_eq!(parsed.code, "e.p.req.not-allowed");
        assert_eq!(parsed.comment.as_deref(), Some("nope"));
    }
}
