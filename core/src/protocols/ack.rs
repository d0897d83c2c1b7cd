//! Acknowledgements (DIDComm v2.1 "ACKs"): `please_ack` asks for one, `ack` gives one.
//!
//! The loop-avoidance rules of the spec are built in: mediators never honor `please_ack` on a
//! `forward`, and a pure ACK never asks for an ACK.

use crate::prelude::*;

use crate::error::Result;
use crate::message::Message;
use crate::routing::FORWARD_TYPE;

use super::empty::{Empty, EMPTY_TYPE};
use super::ProtocolMessage;

/// The ids `message` asks to have acknowledged, with the empty string ("this message")
/// replaced by its id. Empty for a `forward` (mediators must not honor `please_ack`) and for a
/// pure ACK (an empty message carrying `ack`), which must not start a circle of ACKs.
pub fn ack_requests(message: &Message) -> Vec<String> {
    if message.type_ == FORWARD_TYPE || is_pure_ack(message) {
        return vec![];
    }
    let mut ids: Vec<String> = vec![];
    for id in message.please_ack.iter().flatten() {
        let id = if id.is_empty() { &message.id } else { id };
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    ids
}

/// Whether `message` is a pure ACK: an empty message with an `ack` header.
pub fn is_pure_ack(message: &Message) -> bool {
    message.type_ == EMPTY_TYPE && message.ack.as_ref().is_some_and(|a| !a.is_empty())
}

/// Add `ids` to the `ack` header of `reply` (after any it already has, skipping repeats; the
/// spec wants them in the order received).
#[must_use]
pub fn with_acks(mut reply: Message, ids: &[String]) -> Message {
    let acks = reply.ack.get_or_insert_with(Vec::new);
    for id in ids {
        if !acks.contains(id) {
            acks.push(id.clone());
        }
    }
    reply
}

/// Acknowledge what `received` asked for on `reply`, the next natural message of the protocol.
#[must_use]
pub fn acknowledge(received: &Message, reply: Message) -> Message {
    with_acks(reply, &ack_requests(received))
}

/// A pure ACK of `ids`: an empty message with the `ack` header and no `please_ack`. `None`
/// when there is nothing to acknowledge.
pub fn pure_ack(ids: &[String]) -> Result<Option<Message>> {
    if ids.is_empty() {
        return Ok(None);
    }
    let mut message = Empty.to_message()?;
    message.ack = Some(ids.to_vec());
    Ok(Some(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_and_answers() {
        let mut m = Message::build("xyz", "t", json!({}));
        m.please_ack = Some(vec!["".into(), "abc".into(), "xyz".into()]);
        assert_eq!(ack_requests(&m), ["xyz", "abc"]);
        let reply = acknowledge(
            &m,
            Message::build("r", "t", json!({})).ack(vec!["old".into()]),
        );
        assert_eq!(reply.ack.unwrap(), ["old", "xyz", "abc"]);
        let ack = pure_ack(&["xyz".to_owned()]).unwrap().unwrap();
        assert!(is_pure_ack(&ack));
        assert!(ack.please_ack.is_none());
        let mut asking = ack.clone();
        asking.please_ack = Some(vec!["".into()]);
        assert!(ack_requests(&asking).is_empty());
        assert!(pure_ack(&[]).unwrap().is_none());
        let mut forward = Message::build("f", FORWARD_TYPE, json!({"next": "did:example:bob"}));
        forward.please_ack = Some(vec!["".into()]);
        assert!(ack_requests(&forward).is_empty());
    }
}
