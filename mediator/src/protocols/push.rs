//! didcomm-edge Push 1.0 (`docs/protocols/push-1.0.md`): a granted device registers, reads or
//! removes the target the mediator wakes it at; read and written with the core's parsers
//! (`didcomm_edge::protocols::push`). Only the DID holding the mediation grant may, and only
//! for itself. Every request is answered with a `target` (the one registered now).

use didcomm_edge::protocols::push::{
    GetTarget, RemoveTarget, SetTarget, Target, GET_TARGET_TYPE, REMOVE_TARGET_TYPE,
    SET_TARGET_TYPE,
};
use didcomm_edge::protocols::ProtocolMessage;
use didcomm_edge::Message;

use crate::error::{Error, ErrorKind, Result};
use crate::mediator::{Mediator, Request};
use crate::protocols::mediation::require_grant;
use crate::storage::{now_ms, PushTarget};

/// Handle a Push 1.0 request.
pub async fn handle(m: &Mediator, request: &Request<'_>) -> Result<Message> {
    let owner = request.authenticated_sender()?.to_owned();
    require_grant(m, &owner).await?;
    let message = &request.message;
    let now = match message.type_.as_str() {
        SET_TARGET_TYPE => {
            let set = SetTarget::from_message(message)?;
            let target = PushTarget {
                platform: set.platform,
                token: set.token,
            };
            m.storage.set_push_target(&owner, &target, now_ms()).await?;
            Some(target)
        }
        GET_TARGET_TYPE => {
            GetTarget::from_message(message)?;
            m.storage.push_target(&owner).await?
        }
        REMOVE_TARGET_TYPE => {
            RemoveTarget::from_message(message)?;
            m.storage.remove_push_target(&owner).await?;
            None
        }
        _ => {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "this Push 1.0 message is not one a mediator receives",
            ))
        }
    };
    let target = match now {
        Some(t) => Target {
            platform: Some(t.platform),
            token: Some(t.token),
        },
        None => Target::default(),
    };
    Ok(target.reply(message)?)
}
