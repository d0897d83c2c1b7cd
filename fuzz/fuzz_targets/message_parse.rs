//! Plaintext message parsing must never panic, whatever the bytes.
#![no_main]

use didcomm_edge::message::{Message, ParseOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for require_body in [false, true] {
            if let Ok(m) = Message::from_json(text, ParseOptions { require_body }) {
                // What parses must serialize and parse again to the same message.
                let again = Message::from_json(&m.to_json().unwrap_or_default(), ParseOptions { require_body });
                assert_eq!(again.ok(), Some(m));
            }
        }
    }
});
