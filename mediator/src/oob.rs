//! The Out-of-Band 2.0 invitation a device scans to start mediation: as JSON, as an `_oob`
//! URL, and as a QR code (SVG for `GET /oob/qr.svg`, Unicode blocks for the terminal).

use didcomm_edge::protocols::oob::Invitation as OobInvitation;
use didcomm_edge::protocols::ProtocolMessage;
use qrcode::render::{svg, unicode};
use qrcode::QrCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};

pub use didcomm_edge::protocols::oob::INVITATION_TYPE;

/// The goal code of the mediator's invitations.
pub const GOAL_CODE: &str = "request-mediate";

/// An invitation and its renderings.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// The invitation message (plaintext JSON).
    pub message: Value,
    /// `<public_url>?_oob=<base64url(message)>`.
    pub url: String,
}

impl Invitation {
    /// The invitation from the mediator `did`, reachable at `public_url`. Its id is derived
    /// from the DID so the QR code stays the same across restarts.
    pub fn new(did: &str, public_url: &str, label: &str) -> Result<Invitation> {
        Invitation::with_id(did, public_url, label, &stable_id(did))
    }

    /// An invitation whose id is `token`, for the invitation-token grant policy: a device that
    /// answers it sends its `mediate-request` with the invitation id as `pthid`, which the
    /// policy accepts when `token` is one of `grant_tokens`. Give each device its own.
    pub fn for_token(did: &str, public_url: &str, label: &str, token: &str) -> Result<Invitation> {
        if token.is_empty() {
            return Err(Error::config("an invitation token must not be empty"));
        }
        Invitation::with_id(did, public_url, label, token)
    }

    fn with_id(did: &str, public_url: &str, label: &str, id: &str) -> Result<Invitation> {
        let mut invitation = OobInvitation::new(did)?.goal(GOAL_CODE, label);
        invitation.id = id.to_owned();
        // No creation time: the same invitation (and QR code) across restarts.
        invitation.created_time = None;
        let message = invitation.to_message()?.to_value()?;
        let url = invitation.to_url(public_url)?;
        Ok(Invitation { message, url })
    }

    fn qr(&self) -> Result<QrCode> {
        QrCode::new(self.url.as_bytes()).map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("the invitation URL does not fit a QR code: {e}"),
            )
        })
    }

    /// The QR code of the URL as an SVG document.
    pub fn qr_svg(&self) -> Result<String> {
        Ok(self
            .qr()?
            .render::<svg::Color<'_>>()
            .min_dimensions(256, 256)
            .quiet_zone(true)
            .build())
    }

    /// The QR code of the URL drawn with Unicode half blocks, for a terminal.
    pub fn qr_terminal(&self) -> Result<String> {
        Ok(self
            .qr()?
            .render::<unicode::Dense1x2>()
            .dark_color(unicode::Dense1x2::Light)
            .light_color(unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build())
    }
}

/// A UUID-shaped id derived from `seed`.
fn stable_id(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let part = |from: usize, to: usize| hex.get(from..to).unwrap_or_default().to_owned();
    format!(
        "{}-{}-4{}-8{}-{}",
        part(0, 8),
        part(8, 12),
        part(13, 16),
        part(17, 20),
        part(20, 32)
    )
}

/// Parse the invitation out of an `_oob` URL (used by tests and clients), as its plaintext
/// JSON, with the core's reader.
pub fn parse_oob_url(url: &str) -> Result<Value> {
    let invitation = OobInvitation::from_url(url)?;
    Ok(invitation.to_message()?.to_value()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_round_trips_and_id_is_stable() {
        let a = Invitation::new("did:example:m", "http://127.0.0.1:8080", "m").unwrap();
        let b = Invitation::new("did:example:m", "http://127.0.0.1:8080", "m").unwrap();
        assert_eq!(a.message, b.message);
        assert_eq!(parse_oob_url(&a.url).unwrap(), a.message);
        assert!(a.url.starts_with("http://127.0.0.1:8080?_oob="));
        assert_eq!(a.message["type"], INVITATION_TYPE);
        assert_eq!(a.message["from"], "did:example:m");
        assert_eq!(a.message["body"]["goal_code"], GOAL_CODE);
        assert_eq!(a.message["body"]["accept"][0], "didcomm/v2");
        let token = Invitation::for_token("did:example:m", "http://x", "m", "tok-1").unwrap();
        assert_eq!(token.message["id"], "tok-1");
        assert!(Invitation::for_token("did:example:m", "http://x", "m", "").is_err());
        let id = a.message["id"].as_str().unwrap();
        assert_eq!(id.len(), 36);
        let other = Invitation::new("did:example:n", "http://x", "m").unwrap();
        assert_ne!(other.message["id"], a.message["id"]);
    }

    #[test]
    fn qr_renders() {
        let inv = Invitation::new("did:example:m", "http://127.0.0.1:8080", "m").unwrap();
        let svg = inv.qr_svg().unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"));
        let term = inv.qr_terminal().unwrap();
        assert!(term.lines().count() > 10);
    }
}
