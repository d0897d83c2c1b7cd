//! The low-overhead forms of `unpack`, `pack_encrypted` and `pack_signed`: UTF-8 bytes in
//! (`&[u8]`, passed by reference with no copy or allocation on the foreign side), one JSON text
//! out. They exist for hosts where each record field crossing the FFI costs interpreted code:
//! in CPython the generated module lifts a 15-field `UnpackMetadata` and lowers every string
//! argument in Python, which cost more than the cryptography of a small message; one
//! `json.loads` (C) of the result does not. The Python package uses only these forms for the
//! three calls. Same engine, same rules, same typed errors as the record forms.
//!
//! Options are the records' JSON (`UnpackOptions`, `PackEncryptedOptions`: the same field names,
//! `enc_alg_anon` as `"A256CBC-HS512"`, `"A256GCM"` or `"XC20P"`); empty bytes mean the defaults.
//! Results are the records' JSON too, except that an unpacked `message` is the message object
//! itself rather than its text.

use serde::de::DeserializeOwned;

use crate::engine::{ops, DidComm, PackEncryptedOptions, UnpackOptions};
use crate::error::{DidCommError, Result};
use crate::json::to_json;
use crate::runtime::block_on;

/// Caller-given UTF-8 text.
fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        DidCommError::malformed(format!("{what} is not UTF-8 (byte {})", e.valid_up_to()))
    })
}

/// Options as the record's JSON; nothing means the defaults.
fn options<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T> {
    if bytes.is_empty() {
        return Ok(T::default());
    }
    // serde would also read a struct from an array of its fields in order: objects only.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(DidCommError::illegal("the options must be a JSON object"));
    }
    // Options hold flags, DIDs and key ids, never key material: serde's text (which names an
    // unknown or mistyped field) may be shown.
    serde_json::from_slice(bytes)
        .map_err(|e| DidCommError::illegal(format!("the options are not valid: {e}")))
}

#[uniffi::export]
impl DidComm {
    /// The low-overhead form of `unpack_blocking` (for CPython; see the module documentation):
    /// `packed` as UTF-8 bytes, `options_json` the `UnpackOptions` record as JSON (empty: the
    /// defaults); returns `{"message": {...}, "metadata": {...UnpackMetadata fields...}}`.
    pub fn unpack_json_blocking(&self, packed: &[u8], options_json: &[u8]) -> Result<String> {
        let packed = utf8(packed, "the packed message")?;
        let options: UnpackOptions = options(options_json)?;
        let unpacked = block_on(ops::unpack(&self.inner, packed, &options))??;
        let metadata = to_json(&unpacked.metadata, "the unpack metadata")?;
        // The message text is a JSON object already: embedded, not re-encoded as a string.
        Ok(format!(
            r#"{{"message":{},"metadata":{metadata}}}"#,
            unpacked.message
        ))
    }

    /// The low-overhead form of `pack_encrypted_blocking`: `message` and `to` as UTF-8 bytes,
    /// `options_json` the `PackEncryptedOptions` record as JSON (empty: anoncrypt with the
    /// defaults); returns the `PackedEncrypted` record as JSON (`packed` is a string).
    pub fn pack_encrypted_json_blocking(
        &self,
        message: &[u8],
        to: &[u8],
        options_json: &[u8],
    ) -> Result<String> {
        let message = utf8(message, "the message")?;
        let to = utf8(to, "the recipient")?;
        let options: PackEncryptedOptions = options(options_json)?;
        let packed = block_on(ops::pack_encrypted(&self.inner, message, to, &options))??;
        to_json(&packed, "the packed message")
    }

    /// The low-overhead form of `pack_signed_blocking`: `message` and `sign_by` as UTF-8
    /// bytes; returns the `PackedSigned` record as JSON (`packed` is a string).
    pub fn pack_signed_json_blocking(&self, message: &[u8], sign_by: &[u8]) -> Result<String> {
        let message = utf8(message, "the message")?;
        let sign_by = utf8(sign_by, "the signer")?;
        let packed = block_on(ops::pack_signed(&self.inner, message, sign_by))??;
        to_json(&packed, "the signed message")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ContentEncryption;
    use crate::identity::{generate_identity, IdentityMethod, Wallet};
    use serde_json::Value;

    #[test]
    fn empty_options_are_the_record_defaults() {
        let unpack: UnpackOptions = options(b"").unwrap();
        assert_eq!(unpack, UnpackOptions::default());
        let pack: PackEncryptedOptions = options(b"").unwrap();
        assert_eq!(pack, PackEncryptedOptions::default());
        // An empty object too: every field has the record's default.
        let unpack: UnpackOptions = options(b"{}").unwrap();
        assert_eq!(unpack, UnpackOptions::default());
    }

    #[test]
    fn options_read_every_field_by_its_record_name() {
        let unpack: UnpackOptions = options(
            br#"{"expect_decrypt_by_all_keys": true, "unwrap_re_wrapping_forward": false,
                 "require_body": true, "check_recipient_in_to": false, "reject_expired": true,
                 "now": 1700000000, "check_from_prior_times": false}"#,
        )
        .unwrap();
        assert_eq!(
            unpack,
            UnpackOptions {
                expect_decrypt_by_all_keys: true,
                unwrap_re_wrapping_forward: false,
                require_body: true,
                check_recipient_in_to: false,
                reject_expired: true,
                now: Some(1_700_000_000),
                check_from_prior_times: false,
            }
        );
        let pack: PackEncryptedOptions = options(
            br#"{"from": "did:example:alice#1", "sign_by": "did:example:alice", "protect_sender": true,
                 "enc_alg_anon": "XC20P", "to_kids": ["did:example:bob#1"]}"#,
        )
        .unwrap();
        assert_eq!(
            pack,
            PackEncryptedOptions {
                from: Some("did:example:alice#1".into()),
                sign_by: Some("did:example:alice".into()),
                protect_sender: true,
                enc_alg_anon: Some(ContentEncryption::Xc20p),
                to_kids: vec!["did:example:bob#1".into()],
            }
        );
        for (name, alg) in [
            ("A256CBC-HS512", ContentEncryption::A256CbcHs512),
            ("A256GCM", ContentEncryption::A256Gcm),
        ] {
            let pack: PackEncryptedOptions =
                options(format!(r#"{{"enc_alg_anon": "{name}"}}"#).as_bytes()).unwrap();
            assert_eq!(pack.enc_alg_anon, Some(alg));
        }
    }

    #[test]
    fn unknown_or_mistyped_options_are_illegal_arguments() {
        for bad in [
            &br#"{"reject_expred": true}"#[..],
            br#"{"reject_expired": "yes"}"#,
            br#"[true]"#,
            br#"{"#,
        ] {
            let error = options::<UnpackOptions>(bad).unwrap_err();
            assert_eq!(error.name(), "illegal_argument", "{error:?}");
        }
        let error = options::<PackEncryptedOptions>(br#"{"enc_alg_anon": "A128GCM"}"#).unwrap_err();
        assert_eq!(error.name(), "illegal_argument");
    }

    #[test]
    fn text_that_is_not_utf8_is_malformed() {
        let error = utf8(b"{\"a\": \xff}", "the packed message").unwrap_err();
        assert_eq!(error.name(), "malformed");
        assert!(error.reason().contains("byte 6"), "{}", error.reason());
    }

    fn party(wallet: &Wallet) -> String {
        let identity = generate_identity(IdentityMethod::Peer2, None).unwrap();
        let did = identity.did.clone();
        wallet.add_identity(identity).unwrap();
        did
    }

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn the_json_forms_agree_with_the_record_forms() {
        let wallet = Wallet::new(None).unwrap();
        let (alice, bob) = (party(&wallet), party(&wallet));
        let engine = wallet.did_comm(None, None);
        let message = serde_json::json!({
            "id": "1", "type": "https://didcomm.org/basicmessage/2.0/message",
            "from": alice, "to": [bob], "body": {"content": "hi"}
        })
        .to_string();

        let signed = parse(
            &engine
                .pack_signed_json_blocking(message.as_bytes(), alice.as_bytes())
                .unwrap(),
        );
        let record = engine
            .pack_signed_blocking(message.clone(), alice.clone())
            .unwrap();
        assert_eq!(
            signed["metadata"],
            parse(&to_json(&record.metadata, "").unwrap())
        );

        let options = serde_json::json!({"from": alice, "sign_by": alice, "protect_sender": true})
            .to_string();
        let encrypted = parse(
            &engine
                .pack_encrypted_json_blocking(
                    message.as_bytes(),
                    bob.as_bytes(),
                    options.as_bytes(),
                )
                .unwrap(),
        );
        let record_options = PackEncryptedOptions {
            from: Some(alice.clone()),
            sign_by: Some(alice.clone()),
            protect_sender: true,
            ..PackEncryptedOptions::default()
        };
        let record = engine
            .pack_encrypted_blocking(message.clone(), bob.clone(), Some(record_options))
            .unwrap();
        assert_eq!(
            encrypted["metadata"],
            parse(&to_json(&record.metadata, "").unwrap())
        );

        for packed in [&signed["packed"], &encrypted["packed"]] {
            let packed = packed.as_str().unwrap();
            let json = parse(&engine.unpack_json_blocking(packed.as_bytes(), b"").unwrap());
            let record = engine.unpack_blocking(packed.to_owned(), None).unwrap();
            assert_eq!(json["message"], parse(&record.message));
            assert_eq!(
                json["metadata"],
                parse(&to_json(&record.metadata, "").unwrap())
            );
        }
        let unpacked = parse(
            &engine
                .unpack_json_blocking(encrypted["packed"].as_str().unwrap().as_bytes(), b"")
                .unwrap(),
        );
        assert_eq!(unpacked["metadata"]["anonymous_sender"], true);
        assert_eq!(unpacked["metadata"]["non_repudiation"], true);
        assert_eq!(unpacked["message"]["body"]["content"], "hi");
    }

    #[test]
    fn the_json_forms_fail_with_the_same_typed_errors() {
        let wallet = Wallet::new(None).unwrap();
        let alice = party(&wallet);
        let engine = wallet.did_comm(None, None);
        let json = engine.unpack_json_blocking(b"{}", b"").unwrap_err();
        let record = engine.unpack_blocking("{}".into(), None).unwrap_err();
        assert_eq!(
            (json.name(), json.reason()),
            (record.name(), record.reason())
        );
        let json = engine
            .pack_signed_json_blocking(b"not json", alice.as_bytes())
            .unwrap_err();
        assert_eq!(json.name(), "malformed");
        let json = engine
            .unpack_json_blocking(b"{}", br#"{"rejectExpired": true}"#)
            .unwrap_err();
        assert_eq!(json.name(), "illegal_argument");
    }
}
