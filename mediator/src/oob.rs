//! The Out-of-Band 2.0 invitation a device scans to start mediation: as JSON, as an `_oob`
//! URL, and as a QR code (SVG for `GET /oob/qr.svg`, Unicode blocks for the terminal).

use base64::Engine as _;
use qrcode::render::{svg, unicode};
use qrcode::QrCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};

/// The Out-of-Band 2.0 invitation message type.
pub const INVITATION_TYPE: &str = "https://didcomm.org/out-of-band/2.0/invitation";

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
        let message = json!({
            "type": INVITATION_TYPE,
            "id": stable_id(did),
            "from": did,
            "body": {
                "goal_code": "request-mediate",
                "goal": "Request mediation",
                "label": label,
                "accept": ["didcomm/v2"],
            },
        });
        let text = serde_json::to_string(&message)
            .map_err(|_| Error::new(ErrorKind::Internal, "the invitation does not serialize"))?;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text.as_bytes());
        let separator = if public_url.contains('?') { '&' } else { '?' };
        Ok(Invitation {
            message,
            url: format!("{public_url}{separator}_oob={encoded}"),
        })
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

/// Parse the invitation out of an `_oob` URL (used by tests and clients).
pub fn parse_oob_url(url: &str) -> Result<Value> {
    let encoded = url
        .split(['?', '&'])
        .find_map(|part| part.strip_prefix("_oob="))
        .ok_or_else(|| Error::bad_request("the URL has no _oob parameter"))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map_err(|_| Error::bad_request("_oob is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| Error::bad_request("_oob is not JSON"))
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
