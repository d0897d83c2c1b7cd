//! `from_prior`: DID rotation. The new DID's first messages carry a JWT, signed with a key of
//! the prior DID, whose `iss` is the prior DID and whose `sub` is the new one. A JWT without
//! `sub` rotates to no DID: it ends the relationship (DIDComm v2.1 "Ending a Relationship"),
//! and its message has no `from`.

use crate::prelude::*;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::b64;
use crate::crypto::SignAlg;
use crate::error::{Error, ErrorKind, Result};

/// The claims of a `from_prior` JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FromPrior {
    /// The prior DID.
    pub iss: String,
    /// The new DID (the message's `from`); absent when the relationship ends (see
    /// [`FromPrior::ending`]). A `null` is refused: the spec omits the claim.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present_string"
    )]
    pub sub: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Expiry, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Not before, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// When the rotation happened, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// JWT id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl FromPrior {
    /// Claims for rotating from `prior_did` to `new_did`, issued now.
    pub fn new(prior_did: impl Into<String>, new_did: impl Into<String>) -> FromPrior {
        FromPrior {
            iss: prior_did.into(),
            sub: Some(new_did.into()),
            aud: None,
            exp: None,
            nbf: None,
            iat: Some(crate::time::now_epoch_seconds()),
            jti: None,
        }
    }

    /// Claims for ending the relationship that used `prior_did` (rotating it to no DID: no
    /// `sub`), issued now.
    pub fn ending(prior_did: impl Into<String>) -> FromPrior {
        FromPrior {
            iss: prior_did.into(),
            sub: None,
            aud: None,
            exp: None,
            nbf: None,
            iat: Some(crate::time::now_epoch_seconds()),
            jti: None,
        }
    }

    /// Whether these claims end the relationship (no `sub`).
    pub fn is_ending(&self) -> bool {
        self.sub.is_none()
    }
}

/// `sub` when present must be a string (`default` covers the absent claim).
fn present_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> core::result::Result<Option<String>, D::Error> {
    String::deserialize(deserializer).map(Some)
}

/// A parsed but not yet verified compact JWT.
#[derive(Debug)]
pub(crate) struct UnverifiedFromPrior<'a> {
    pub alg: SignAlg,
    pub kid: String,
    pub claims: FromPrior,
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
}

/// The longest `from_prior` JWT we parse (its header holds a `kid` of at most
/// [`crate::did::MAX_DID_LEN`], its claims two DIDs).
pub(crate) const MAX_JWT_LEN: usize = 64 * 1024;

/// The clock skew allowed by default (the default of [`crate::Config::clock_skew`]).
pub(crate) const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 300;

/// Refuse claims outside their validity period, allowing `skew` seconds either way: `exp` has
/// passed, `nbf` has not come, or `iat` is in the future (kind [`ErrorKind::Expired`]).
pub(crate) fn check_times(claims: &FromPrior, now: u64, skew: u64) -> Result<()> {
    if claims.exp.is_some_and(|exp| now > exp.saturating_add(skew)) {
        return Err(Error::new(
            ErrorKind::Expired,
            "from_prior has expired ('exp')",
        ));
    }
    if claims.nbf.is_some_and(|nbf| nbf > now.saturating_add(skew)) {
        return Err(Error::new(
            ErrorKind::Expired,
            "from_prior is not valid yet ('nbf' is in the future)",
        ));
    }
    if claims.iat.is_some_and(|iat| iat > now.saturating_add(skew)) {
        return Err(Error::new(
            ErrorKind::Expired,
            "from_prior was issued in the future ('iat')",
        ));
    }
    Ok(())
}

pub(crate) fn parse(jwt: &str) -> Result<UnverifiedFromPrior<'_>> {
    if jwt.len() > MAX_JWT_LEN {
        return Err(Error::new(
            ErrorKind::TooLarge,
            format!(
                "'from_prior' of {} bytes exceeds the limit of {MAX_JWT_LEN}",
                jwt.len()
            ),
        ));
    }
    let mut parts = jwt.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::malformed("'from_prior' is not a compact JWS"));
    };
    let header: Value = crate::message::json_from_slice(
        &b64::decode(header, "from_prior header")?,
        "from_prior header",
    )?;
    if let Some(typ) = header.get("typ") {
        if typ != "JWT" {
            return Err(Error::malformed("from_prior header 'typ' must be JWT"));
        }
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::malformed("from_prior header has no 'alg'"))?;
    let alg = SignAlg::parse(alg).ok_or_else(|| {
        Error::unsupported(format!(
            "from_prior 'alg' {} is not supported",
            crate::error::excerpt(alg)
        ))
    })?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::malformed("from_prior header has no 'kid'"))?;
    crate::did::check_did_len(kid, "from_prior 'kid'")?;
    let kid = kid.to_owned();
    let claims: FromPrior = crate::message::json_from_slice(
        &b64::decode(payload, "from_prior payload")?,
        "from_prior claims",
    )?;
    crate::did::check_did_len(&claims.iss, "from_prior 'iss'")?;
    if let Some(sub) = &claims.sub {
        crate::did::check_did_len(sub, "from_prior 'sub'")?;
    }
    let signature = b64::decode_bounded(
        signature,
        crate::envelope::jws::MAX_SIGNATURE_LEN,
        "from_prior signature",
    )?;
    let signing_input = jwt
        .get(..header_len(jwt))
        .ok_or_else(|| Error::invalid_state("JWT split"))?;
    Ok(UnverifiedFromPrior {
        alg,
        kid,
        claims,
        signing_input,
        signature,
    })
}

/// Length of `header.payload` in a compact JWS.
fn header_len(jwt: &str) -> usize {
    jwt.rfind('.').unwrap_or(0)
}

/// `base64url(header).base64url(claims)`, the JWS signing input.
pub(crate) fn signing_input(alg: SignAlg, kid: &str, claims: &FromPrior) -> Result<String> {
    let header = serde_json::json!({"typ": "JWT", "alg": alg.as_str(), "kid": kid});
    let claims = serde_json::to_vec(claims).map_err(|_| Error::invalid_state("claims"))?;
    Ok(format!(
        "{}.{}",
        b64::encode(header.to_string()),
        b64::encode(claims)
    ))
}

/// How `from_prior` claims must pair with the message's `from`: a rotation names the new DID
/// (`sub`) as the sender; an ending (no `sub`) is sent without a sender. `Err` gives the reason.
pub(crate) fn check_pairing(
    claims: &FromPrior,
    from: Option<&str>,
) -> core::result::Result<(), &'static str> {
    match (claims.sub.as_deref(), from) {
        (Some(sub), Some(from)) if crate::did::did_of(from) == sub => Ok(()),
        (Some(_), Some(_)) => Err("from_prior 'sub' is not the message's 'from'"),
        (Some(_), None) => Err("from_prior names a new DID ('sub') but the message has no 'from'"),
        (None, Some(_)) => Err(
            "from_prior without 'sub' ends the relationship: the message must not have a 'from'",
        ),
        (None, None) => Ok(()),
    }
}
