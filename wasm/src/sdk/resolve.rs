//! The engine's resolver in the SDK build: the core's [`ResolverChain`] (did:key, did:peer
//! 0/2/3/4 and did:jwk built in, did:web through the core's [`WebResolver`] over `fetch`), with
//! the user's resolver for every other method. The cache rules are the core's: the engine
//! caches what the chain's `cache_policy` allows.
//!
//! Settings, in the engine's `config`: `fetch` (a WHATWG `fetch`; default `globalThis.fetch`;
//! `null`: did:web is left to the user's resolver), `didWebTtlSeconds`, `allowLoopbackHttp`
//! (fetch `did:web:127.0.0.1...` / `localhost` over plain HTTP: tests only) and `pinned` (a
//! resolver asked first, for every DID: a wallet's documents).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use didcomm_edge::did::methods::web::{HttpClient, HttpResponse, WebResolver};
use didcomm_edge::{Error, ErrorKind, ResolverChain, Result};
use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::error::{illegal, js_message};
use crate::host::JsDidResolver;

/// The `config` keys this module reads (the engine's own are in `convert.rs`).
const CONFIG_KEYS: &[&str] = &["fetch", "didWebTtlSeconds", "allowLoopbackHttp", "pinned"];

/// The chain for `DidComm`'s constructor, and its `config` without the chain's settings (a
/// copy; the engine's own keys are checked by `convert::config_from_js`).
pub(crate) fn split(resolver: &JsValue, config: &JsValue) -> Result<(ResolverChain, JsValue)> {
    let chain = chain(resolver, config)?;
    if absent(config) || !config.is_object() {
        return Ok((chain, config.clone()));
    }
    let rest = Object::assign(&Object::new(), config.unchecked_ref::<Object>());
    for key in CONFIG_KEYS {
        Reflect::delete_property(&rest, &JsValue::from_str(key))
            .map_err(|_| Error::new(ErrorKind::InvalidState, "copying the config"))?;
    }
    Ok((chain, rest.into()))
}

/// How long one did:web fetch may take, as the native client's timeout.
const FETCH_TIMEOUT_MS: u32 = 10_000;

fn get(object: &JsValue, key: &str) -> Result<JsValue> {
    if object.is_undefined() || object.is_null() {
        return Ok(JsValue::UNDEFINED);
    }
    Reflect::get(object, &key.into())
        .map_err(|e| illegal(format!("reading config.{key}: {}", js_message(&e))))
}

fn absent(value: &JsValue) -> bool {
    value.is_undefined() || value.is_null()
}

/// The chain over the user's `resolver` (may be `null`/`undefined`: built-in methods only).
fn chain(resolver: &JsValue, config: &JsValue) -> Result<ResolverChain> {
    let mut chain = ResolverChain::new();
    if !absent(resolver) {
        chain = chain.with_host(Arc::new(JsDidResolver::new(resolver)?));
    }
    let pinned = get(config, "pinned")?;
    if !absent(&pinned) {
        chain = chain.with_pinned(Arc::new(JsDidResolver::new(&pinned)?));
    }
    let given = get(config, "fetch")?;
    let disabled = given.is_null();
    let fetch = if disabled {
        None
    } else if given.is_undefined() {
        // The host's fetch when it has one; without it did:web goes to the user's resolver.
        Reflect::get(&js_sys::global(), &"fetch".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
    } else {
        Some(
            given
                .dyn_into::<Function>()
                .map_err(|_| illegal("config.fetch must be a function or null"))?,
        )
    };
    let Some(fetch) = fetch else {
        return Ok(if disabled { chain.without_web() } else { chain });
    };
    let mut web = WebResolver::new(Arc::new(FetchClient { fetch }));
    let ttl = get(config, "didWebTtlSeconds")?;
    if !absent(&ttl) {
        let seconds = ttl
            .as_f64()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .ok_or_else(|| illegal("config.didWebTtlSeconds must be a non-negative number"))?;
        web = web.with_ttl(seconds);
    }
    let loopback = get(config, "allowLoopbackHttp")?;
    if !absent(&loopback) {
        let allow = loopback
            .as_bool()
            .ok_or_else(|| illegal("config.allowLoopbackHttp must be a boolean"))?;
        web = web.allow_loopback_http(allow);
    }
    Ok(chain.with_web(web))
}

/// The core's [`HttpClient`] over a JS `fetch`: GET with the DID document media types, no
/// redirects (a browser's `fetch` cannot keep them on the same host for us), a 10 s timeout,
/// and the body read up to `max_len + 1` bytes (the core refuses larger documents).
struct FetchClient {
    fetch: Function,
}

fn failure(what: &str, thrown: &JsValue) -> Error {
    Error::new(
        ErrorKind::ResolverFailure,
        format!("{what}: {}", js_message(thrown)),
    )
}

async fn settle(value: JsValue, what: &str) -> Result<JsValue> {
    JsFuture::from(Promise::resolve(&value))
        .await
        .map_err(|e| failure(what, &e))
}

fn property(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn method(object: &JsValue, key: &str) -> Result<Function> {
    property(object, key).dyn_into::<Function>().map_err(|_| {
        Error::new(
            ErrorKind::ResolverFailure,
            format!("the fetch response has no {key}()"),
        )
    })
}

fn request_init() -> Result<JsValue> {
    let init = Object::new();
    let headers = Object::new();
    let set = |o: &Object, k: &str, v: &JsValue| Reflect::set(o, &k.into(), v).map(|_| ());
    set(
        &headers,
        "accept",
        &"application/did+json, application/json".into(),
    )
    .and_then(|()| set(&init, "headers", &headers))
    .and_then(|()| set(&init, "redirect", &"error".into()))
    .map_err(|_| Error::new(ErrorKind::InvalidState, "building a fetch request"))?;
    // AbortSignal.timeout where the host has it (Node 17.3+, current browsers).
    let timeout = Reflect::get(&js_sys::global(), &"AbortSignal".into())
        .ok()
        .map(|class| (property(&class, "timeout"), class));
    if let Some((Ok(timeout), class)) = timeout.map(|(f, c)| (f.dyn_into::<Function>(), c)) {
        if let Ok(signal) = timeout.call1(&class, &JsValue::from(FETCH_TIMEOUT_MS)) {
            set(&init, "signal", &signal)
                .map_err(|_| Error::new(ErrorKind::InvalidState, "building a fetch request"))?;
        }
    }
    Ok(init.into())
}

/// Read the response body, stopping after `limit` bytes.
async fn read_body(response: &JsValue, limit: usize) -> Result<Vec<u8>> {
    let body = property(response, "body");
    if absent(&body) {
        // A fetch without streams: the whole body at once.
        let buffer = method(response, "arrayBuffer")?
            .call0(response)
            .map_err(|e| failure("reading the response", &e))?;
        let bytes = Uint8Array::new(&settle(buffer, "reading the response").await?);
        let len = (bytes.length() as usize).min(limit);
        return Ok(bytes.subarray(0, len as u32).to_vec());
    }
    let reader = method(&body, "getReader")?
        .call0(&body)
        .map_err(|e| failure("reading the response", &e))?;
    let read = method(&reader, "read")?;
    let mut out = Vec::new();
    loop {
        let chunk = read
            .call0(&reader)
            .map_err(|e| failure("reading the response", &e))?;
        let chunk = settle(chunk, "reading the response").await?;
        if property(&chunk, "done").is_truthy() {
            break;
        }
        let bytes = Uint8Array::new(&property(&chunk, "value"));
        let room = limit.saturating_sub(out.len());
        let take = (bytes.length() as usize).min(room);
        out.extend(bytes.subarray(0, take as u32).to_vec());
        if out.len() >= limit {
            if let Ok(cancel) = method(&reader, "cancel") {
                // Best effort: the rest of the body is not wanted.
                let _ = cancel.call0(&reader);
            }
            break;
        }
    }
    Ok(out)
}

#[async_trait(?Send)]
impl HttpClient for FetchClient {
    async fn get(&self, url: &str, max_len: usize) -> Result<HttpResponse> {
        let returned = self
            .fetch
            .call2(&JsValue::UNDEFINED, &url.into(), &request_init()?)
            .map_err(|e| failure("fetch", &e))?;
        let response = settle(returned, "fetch").await?;
        let status = property(&response, "status")
            .as_f64()
            .filter(|s| (100.0..=599.0).contains(s))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::ResolverFailure,
                    "fetch returned something other than a Response",
                )
            })?;
        let body = if (200.0..300.0).contains(&status) {
            read_body(&response, max_len.saturating_add(1)).await?
        } else {
            Vec::new()
        };
        Ok(HttpResponse {
            // In range: checked above.
            status: status as u16,
            body,
        })
    }
}
