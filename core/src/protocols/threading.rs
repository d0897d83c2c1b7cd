//! Threading (DIDComm v2.1 "Threading"): `thid` ties the messages of one protocol run together,
//! `pthid` points from a child run to its parent.
//!
//! A thread's id is the `thid` of its first message, or that message's `id` when it has no
//! `thid` ([`Message::thread_id`]).

use crate::prelude::*;

use crate::message::Message;

/// Make `reply` a reply to `request` in the same thread: `thid` is the request's thread, the
/// request's `pthid` is carried along (so every party learns the parent), and `to` is the
/// request's sender when it named one. `from` is left to the caller.
#[must_use]
pub fn reply_to(request: &Message, mut reply: Message) -> Message {
    reply.thid = Some(request.thread_id().to_owned());
    if let Some(pthid) = &request.pthid {
        reply.pthid = Some(pthid.clone());
    }
    if let Some(from) = &request.from {
        reply.to = Some(vec![from.clone()]);
    }
    reply
}

/// Make `child` the first message of a new thread whose parent is `parent`'s thread.
#[must_use]
pub fn child_of(parent: &Message, mut child: Message) -> Message {
    child.pthid = Some(parent.thread_id().to_owned());
    child
}

/// Whether `message` belongs to the thread `thid` (ids compare case-insensitively, as the spec
/// asks of UUID-like ids).
pub fn in_thread(message: &Message, thid: &str) -> bool {
    message.thread_id().eq_ignore_ascii_case(thid)
}

/// Whether `message` is a child of the thread `parent_thid`.
pub fn is_child_of(message: &Message, parent_thid: &str) -> bool {
    message
        .pthid
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case(parent_thid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reply_and_child() {
        let request = Message::build("req-1", "t", json!({}))
            .from("did:example:alice")
            .pthid("parent");
        let reply = reply_to(&request, Message::build("r", "t", json!({})));
        assert_eq!(reply.thid.as_deref(), Some("req-1"));
        assert_eq!(reply.pthid.as_deref(), Some("parent"));
        assert_eq!(reply.to, Some(vec!["did:example:alice".to_owned()]));
        assert!(in_thread(&reply, "REQ-1"));
        let child = child_of(&reply, Message::build("c", "t", json!({})));
        assert!(is_child_of(&child, "req-1"));
        assert!(!in_thread(&child, "req-1"));
    }
}
