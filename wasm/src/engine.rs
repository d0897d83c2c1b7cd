//! `DidComm`: the core engine as a JS class. Async methods return Promises that reject with a
//! `DidCommError`; argument errors reject too (never throw synchronously from an async method).

use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use didcomm_edge::protocols::rotation::{self, RotationOptions};
use didcomm_edge::{DidComm, Error, UnpackMetadata};
use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::convert::{
    config_from_js, from_prior_from_js, message_from_js, message_to_js, metadata_to_js,
    optional_string_arg, parse_json, string_arg, unpack_options_from_js, PackEncryptedArgs,
};
use crate::error::js_err;
#[cfg(not(feature = "sdk"))]
use crate::host::JsDidResolver;
use crate::host::JsSecretsResolver;

/// The DIDComm v2 envelope engine over a JS DID resolver and secrets store.
#[wasm_bindgen(js_name = DidComm)]
pub struct JsDidComm {
    pub(crate) inner: Rc<DidComm>,
}

impl std::fmt::Debug for JsDidComm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

/// Run `work` as a Promise; its error becomes a `DidCommError` rejection.
pub(crate) fn promise<F>(work: F) -> Promise
where
    F: Future<Output = Result<JsValue, Error>> + 'static,
{
    future_to_promise(async move { work.await.map_err(js_err) })
}

/// `{ [a]: va, [b]: vb }`.
pub(crate) fn pair(a: &str, va: JsValue, b: &str, vb: JsValue) -> Result<JsValue, Error> {
    let object = Object::new();
    Reflect::set(&object, &a.into(), &va)
        .and_then(|_| Reflect::set(&object, &b.into(), &vb))
        .map_err(|_| Error::new(didcomm_edge::ErrorKind::InvalidState, "building a result"))?;
    Ok(object.into())
}

#[wasm_bindgen(js_class = DidComm)]
impl JsDidComm {
    /// `new DidComm(resolver, secrets, config?)`. In the SDK build the resolver is the core's
    /// `ResolverChain`, with `resolver` (optional there) for the methods it does not implement.
    #[wasm_bindgen(constructor)]
    #[cfg_attr(feature = "sdk", allow(clippy::arc_with_non_send_sync))]
    pub fn new(resolver: JsValue, secrets: JsValue, config: JsValue) -> Result<JsDidComm, JsValue> {
        #[cfg(not(feature = "sdk"))]
        let resolver = JsDidResolver::new(&resolver).map_err(js_err)?;
        // The chain, and the config without the chain's settings.
        #[cfg(feature = "sdk")]
        let (resolver, config) = crate::sdk::resolve::split(&resolver, &config).map_err(js_err)?;
        let secrets = JsSecretsResolver::new(&secrets).map_err(js_err)?;
        let config = config_from_js(&config).map_err(js_err)?;
        Ok(JsDidComm {
            inner: Rc::new(DidComm::with_config(
                Arc::new(resolver),
                Arc::new(secrets),
                config,
            )),
        })
    }

    /// `packPlaintext(message): string`.
    #[wasm_bindgen(js_name = packPlaintext)]
    pub fn pack_plaintext(&self, message: JsValue) -> Result<String, JsValue> {
        let message = message_from_js(&message).map_err(js_err)?;
        self.inner.pack_plaintext(&message).map_err(js_err)
    }

    /// `packSigned(message, signBy): Promise<{ packed, metadata }>`.
    #[wasm_bindgen(js_name = packSigned)]
    pub fn pack_signed(&self, message: JsValue, sign_by: JsValue) -> Promise {
        let engine = Rc::clone(&self.inner);
        promise(async move {
            let message = message_from_js(&message)?;
            let sign_by = string_arg(&sign_by, "signBy")?;
            let (packed, metadata) = engine.pack_signed(&message, &sign_by).await?;
            pair(
                "packed",
                packed.into(),
                "metadata",
                metadata_to_js(&metadata)?,
            )
        })
    }

    /// `packEncrypted(message, to, options?): Promise<{ packed, metadata }>`: authcrypt when
    /// `options.from` is given, anoncrypt otherwise.
    #[wasm_bindgen(js_name = packEncrypted)]
    pub fn pack_encrypted(&self, message: JsValue, to: JsValue, options: JsValue) -> Promise {
        let engine = Rc::clone(&self.inner);
        promise(async move {
            let message = message_from_js(&message)?;
            let to = string_arg(&to, "to")?;
            let args = PackEncryptedArgs::from_js(&options)?;
            let core_options = args.core_options()?;
            let (packed, metadata) = engine
                .pack_encrypted(
                    &message,
                    &to,
                    args.from.as_deref(),
                    args.sign_by.as_deref(),
                    &core_options,
                )
                .await?;
            pair(
                "packed",
                packed.into(),
                "metadata",
                metadata_to_js(&metadata)?,
            )
        })
    }

    /// `unpack(packed, options?): Promise<{ message, metadata }>`. `packed` is the message as
    /// received: JSON text, or an already parsed object.
    pub fn unpack(&self, packed: JsValue, options: JsValue) -> Promise {
        let engine = Rc::clone(&self.inner);
        promise(async move {
            let packed = match packed.as_string() {
                Some(text) => text,
                None => crate::convert::stringify_object(&packed, "the packed message")?,
            };
            let options = unpack_options_from_js(&options)?;
            let (message, metadata) = engine.unpack(&packed, &options).await?;
            pair(
                "message",
                message_to_js(&message)?,
                "metadata",
                metadata_to_js(&metadata)?,
            )
        })
    }

    /// `resolve(did): Promise<DidDocument>` through the engine's cache.
    pub fn resolve(&self, did: JsValue) -> Promise {
        let engine = Rc::clone(&self.inner);
        promise(async move {
            let did = string_arg(&did, "did")?;
            let resolved = engine.resolve(&did).await?;
            let text = serde_json::to_string(resolved.document()).map_err(|_| {
                Error::new(
                    didcomm_edge::ErrorKind::InvalidState,
                    "DID document to JSON",
                )
            })?;
            parse_json(&text)
        })
    }

    /// `packFromPrior(claims, issuerKid?): Promise<{ jwt, issuerKid }>`: sign `from_prior`
    /// claims with a key of the prior DID, for the `from_prior` header of a message.
    #[wasm_bindgen(js_name = packFromPrior)]
    pub fn pack_from_prior(&self, claims: JsValue, issuer_kid: JsValue) -> Promise {
        let engine = Rc::clone(&self.inner);
        promise(async move {
            let claims = from_prior_from_js(&claims)?;
            let issuer_kid = optional_string_arg(&issuer_kid, "issuerKid")?;
            let (jwt, kid) = engine
                .pack_from_prior(&claims, issuer_kid.as_deref())
                .await?;
            pair("jwt", jwt.into(), "issuerKid", kid.into())
        })
    }

    /// `endRelationship(did, issuerKid?): Promise<{ jwt, issuerKid }>`: end the relationship
    /// that uses `did` (rotate it to no DID): the `from_prior` JWT without `sub`, signed by
    /// `did`, for a message without `from` packed anoncrypt to the peer.
    #[wasm_bindgen(js_name = endRelationship)]
    pub fn end_relationship(&self, did: JsValue, issuer_kid: JsValue) -> Promise {
        let engine = Rc::clone(&self.inner);
        promise(async move {
            let did = string_arg(&did, "did")?;
            let mut options = RotationOptions::default();
            options.issuer_kid = optional_string_arg(&issuer_kid, "issuerKid")?;
            let ending = engine.end_relationship(&did, &options).await?;
            pair(
                "jwt",
                ending.from_prior.into(),
                "issuerKid",
                ending.issuer_kid.into(),
            )
        })
    }

    /// Drop the cached document of `did` (after learning it changed).
    #[wasm_bindgen(js_name = invalidateDid)]
    pub fn invalidate_did(&self, did: JsValue) -> Result<(), JsValue> {
        let did = string_arg(&did, "did").map_err(js_err)?;
        self.inner.invalidate_did(&did);
        Ok(())
    }

    /// Drop a cached private key (after deleting or replacing it in the store).
    #[wasm_bindgen(js_name = forgetSecret)]
    pub fn forget_secret(&self, kid: JsValue) -> Result<(), JsValue> {
        let kid = string_arg(&kid, "kid").map_err(js_err)?;
        self.inner.forget_secret(&kid);
        Ok(())
    }

    /// Drop every cached document, key and shared secret.
    #[wasm_bindgen(js_name = clearCaches)]
    pub fn clear_caches(&self) {
        self.inner.clear_caches();
    }
}

/// `receivedEnding(message, metadata): string | undefined`: the DID whose relationship a
/// received message ended (a verified `fromPrior` without `sub` on a message without `from`).
#[wasm_bindgen(js_name = receivedEnding)]
pub fn received_ending(message: JsValue, metadata: JsValue) -> Result<JsValue, JsValue> {
    read_ending(&message, &metadata).map_err(js_err)
}

fn read_ending(message: &JsValue, metadata: &JsValue) -> Result<JsValue, Error> {
    let message = message_from_js(message)?;
    let claims = Reflect::get(metadata, &"fromPrior".into()).unwrap_or(JsValue::UNDEFINED);
    let mut core = UnpackMetadata::default();
    if !(claims.is_undefined() || claims.is_null()) {
        core.from_prior = Some(from_prior_from_js(&claims)?);
    }
    Ok(rotation::received_ending(&message, &core).map_or(JsValue::UNDEFINED, JsValue::from))
}
