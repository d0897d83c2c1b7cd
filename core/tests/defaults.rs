//! The defaults table (`testdata/defaults.json`), which every language's tests check: the
//! core's own defaults are the table's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;

use didcomm_edge::{Config, DidComm, InMemorySecrets, ResolverChain, UnpackOptions};
use serde_json::{json, Value};

fn table() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/defaults.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn unpack_options_default_to_the_table() {
    let o = UnpackOptions::default();
    let ours = json!({
        "expect_decrypt_by_all_keys": o.expect_decrypt_by_all_keys,
        "unwrap_re_wrapping_forward": o.unwrap_re_wrapping_forward,
        "require_body": o.require_body,
        "check_recipient_in_to": o.check_recipient_in_to,
        "reject_expired": o.reject_expired,
        "check_from_prior_times": o.check_from_prior_times,
        "now": o.now,
    });
    assert_eq!(ours, table()["unpack"]);
}

#[test]
fn engine_limits_default_to_the_table() {
    let c = Config::default();
    let ours = json!({
        "max_message_size": c.max_message_size,
        "did_cache_capacity": c.did_cache_capacity,
        "did_cache_ttl_seconds": c.did_cache_ttl.map(|d| d.as_secs()),
        "secret_cache_capacity": c.secret_cache_capacity,
        "static_secret_cache_capacity": c.static_secret_cache_capacity,
        "max_forward_unwraps": c.max_forward_unwraps,
        "max_signatures": c.max_signatures,
        "max_recipients": c.max_recipients,
        "max_attachments": c.max_attachments,
        "max_json_values": c.max_json_values,
        "did_miss_ttl_seconds": c.did_miss_ttl.as_secs(),
        "clock_skew_seconds": c.clock_skew.as_secs(),
    });
    assert_eq!(ours, table()["config"]);
}

#[tokio::test]
async fn bodyless_and_expired_plaintexts_behave_as_the_table_says() {
    let behaviour = &table()["behaviour"];
    let dc = DidComm::new(
        Arc::new(ResolverChain::new()),
        Arc::new(InMemorySecrets::default()),
    );
    let bodyless = r#"{"id":"1","type":"https://example.com/t"}"#;
    let accepted = dc.unpack(bodyless, &UnpackOptions::default()).await.is_ok();
    assert_eq!(
        behaviour["plaintext_without_body"],
        if accepted { "accepted" } else { "refused" }
    );
    let expired = r#"{"id":"2","type":"https://example.com/t","body":{},"expires_time":1}"#;
    let outcome = match dc.unpack(expired, &UnpackOptions::default()).await {
        Ok((_, metadata)) if metadata.expired => "reported",
        Ok(_) => "ignored",
        Err(_) => "refused",
    };
    assert_eq!(behaviour["expired_message"], outcome);
}
