//! didcomm-edge Push 1.0 (`https://didcomm-edge.org/push/1.0`): a device tells its mediator
//! where to send a wake-up push when messages arrive while it is not connected. Shaped like
//! Aries' push-notifications-fcm / -apns 1.0 (`set-device-info`, `get-device-info`,
//! `device-info`), with the platform a field rather than one protocol per platform, and an
//! explicit `remove-target`. See `docs/protocols/push-1.0.md`.
//!
//! The push carries no message content: the mediator asks the operator's push gateway to wake
//! the device, which then picks up as usual.

use crate::prelude::*;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{check_type, new_message, put, threading, Body, ProtocolMessage};
use crate::error::{Error, Result};
use crate::message::Message;

/// The protocol identifier.
pub const PUSH_PIURI: &str = "https://didcomm-edge.org/push/1.0";
/// `set-target`: push to this target from now on.
pub const SET_TARGET_TYPE: &str = "https://didcomm-edge.org/push/1.0/set-target";
/// `get-target`: which target is registered?
pub const GET_TARGET_TYPE: &str = "https://didcomm-edge.org/push/1.0/get-target";
/// `remove-target`: push no more.
pub const REMOVE_TARGET_TYPE: &str = "https://didcomm-edge.org/push/1.0/remove-target";
/// `target`: the registered target (the answer to each of the above).
pub const TARGET_TYPE: &str = "https://didcomm-edge.org/push/1.0/target";

/// Longest `platform` accepted.
pub const MAX_PLATFORM_LEN: usize = 32;
/// Longest `token` accepted (FCM tokens are about 160 characters, APNs 64 hex digits; web push
/// subscriptions are longer).
pub const MAX_TOKEN_LEN: usize = 4096;

fn check_target(platform: &str, token: &str) -> Result<()> {
    let platform_ok = !platform.is_empty()
        && platform.len() <= MAX_PLATFORM_LEN
        && platform
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !platform_ok {
        return Err(Error::malformed(format!(
            "push 'platform' must be 1 to {MAX_PLATFORM_LEN} lowercase letters, digits or '-' \
             (fcm, apns, webpush, ...)"
        )));
    }
    if token.is_empty() || token.len() > MAX_TOKEN_LEN || token.chars().any(char::is_control) {
        return Err(Error::malformed(format!(
            "push 'token' must be 1 to {MAX_TOKEN_LEN} characters without control characters"
        )));
    }
    Ok(())
}

/// `set-target`: where the mediator should push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetTarget {
    /// The push service: `fcm`, `apns`, `webpush` or another name the operator's gateway knows.
    pub platform: String,
    /// The device's token at that service (opaque to the mediator).
    pub token: String,
}

impl ProtocolMessage for SetTarget {
    fn message_type(&self) -> &'static str {
        SET_TARGET_TYPE
    }

    fn to_message(&self) -> Result<Message> {
        check_target(&self.platform, &self.token)?;
        let mut body = Map::new();
        body.insert("platform".into(), Value::String(self.platform.clone()));
        body.insert("token".into(), Value::String(self.token.clone()));
        new_message(SET_TARGET_TYPE, body)
    }

    fn from_message(message: &Message) -> Result<Self> {
        check_type(message, SET_TARGET_TYPE)?;
        let body = Body::of(message, "set-target")?;
        let target = SetTarget {
            platform: body.required_string("platform")?,
            token: body.required_string("token")?,
        };
        check_target(&target.platform, &target.token)?;
        Ok(target)
    }
}

/// `get-target`: ask which target is registered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetTarget {}

impl ProtocolMessage for GetTarget {
    fn message_type(&self) -> &'static str {
        GET_TARGET_TYPE
    }

    fn to_message(&self) -> Result<Message> {
        new_message(GET_TARGET_TYPE, Map::new())
    }

    fn from_message(message: &Message) -> Result<Self> {
        check_type(message, GET_TARGET_TYPE)?;
        Body::of(message, "get-target")?;
        Ok(GetTarget {})
    }
}

/// `remove-target`: push no more.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveTarget {}

impl ProtocolMessage for RemoveTarget {
    fn message_type(&self) -> &'static str {
        REMOVE_TARGET_TYPE
    }

    fn to_message(&self) -> Result<Message> {
        new_message(REMOVE_TARGET_TYPE, Map::new())
    }

    fn from_message(message: &Message) -> Result<Self> {
        check_type(message, REMOVE_TARGET_TYPE)?;
        Body::of(message, "remove-target")?;
        Ok(RemoveTarget {})
    }
}

/// `target`: the target registered now (both fields absent: none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The push service, if a target is registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The token, if a target is registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl Target {
    /// The `target` answering `request` (threaded, addressed back; the caller sets `from`).
    pub fn reply(&self, request: &Message) -> Result<Message> {
        Ok(threading::reply_to(request, self.to_message()?))
    }
}

impl ProtocolMessage for Target {
    fn message_type(&self) -> &'static str {
        TARGET_TYPE
    }

    fn to_message(&self) -> Result<Message> {
        if let (Some(platform), Some(token)) = (&self.platform, &self.token) {
            check_target(platform, token)?;
        } else if self.platform.is_some() || self.token.is_some() {
            return Err(Error::illegal_argument(
                "a push target has both 'platform' and 'token', or neither",
            ));
        }
        let mut body = Map::new();
        put(&mut body, "platform", self.platform.clone());
        put(&mut body, "token", self.token.clone());
        new_message(TARGET_TYPE, body)
    }

    fn from_message(message: &Message) -> Result<Self> {
        check_type(message, TARGET_TYPE)?;
        let body = Body::of(message, "target")?;
        let target = Target {
            platform: body.string("platform")?,
            token: body.string("token")?,
        };
        match (&target.platform, &target.token) {
            (Some(platform), Some(token)) => check_target(platform, token)?,
            (None, None) => {}
            _ => {
                return Err(body.error("a push target has both 'platform' and 'token', or neither"))
            }
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_and_bad_ones_are_refused() {
        let set = SetTarget {
            platform: "fcm".into(),
            token: "abc:123".into(),
        };
        let m = set.to_message().unwrap();
        assert_eq!(m.type_, SET_TARGET_TYPE);
        assert_eq!(SetTarget::from_message(&m).unwrap(), set);

        let target = Target {
            platform: Some("apns".into()),
            token: Some("00ff".into()),
        };
        let reply = target.reply(&m).unwrap();
        assert_eq!(reply.thid.as_deref(), Some(m.id.as_str()));
        assert_eq!(Target::from_message(&reply).unwrap(), target);
        assert_eq!(
            Target::from_message(&Target::default().to_message().unwrap()).unwrap(),
            Target::default()
        );

        for (platform, token) in [("", "t"), ("FCM", "t"), ("fcm", ""), ("fcm", "a\nb")] {
            let bad = SetTarget {
                platform: platform.into(),
                token: token.into(),
            };
            assert!(bad.to_message().is_err(), "{platform:?} {token:?}");
        }
        let half = Message::build("x", TARGET_TYPE, serde_json::json!({"platform": "fcm"}));
        assert!(Target::from_message(&half).is_err());
        assert!(GetTarget::from_message(&GetTarget {}.to_message().unwrap()).is_ok());
        assert!(RemoveTarget::from_message(&RemoveTarget {}.to_message().unwrap()).is_ok());
    }
}
