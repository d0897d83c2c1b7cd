//! Routing 2.0 on the engine (the core's `routing.rs`): `resolveRoute`, `route`,
//! `wrapInForward` and `unwrapForward` as methods of `DidComm` in the SDK build.

use std::collections::BTreeMap;
use std::rc::Rc;

use didcomm_edge::{ContentEncAlg, Error, RouteOptions};
use js_sys::{Array, Promise};
use serde::Deserialize;
use wasm_bindgen::prelude::*;

use super::optional_object_arg;
use crate::convert::{metadata_to_js, string_arg};
use crate::engine::{pair, promise, JsDidComm};
use crate::error::illegal;

/// `options` of the routing methods, camelCase.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RouteArgs {
    enc_alg_anon: Option<String>,
    service_id: Option<String>,
    expires_time: Option<u64>,
    delay_milli: Option<i64>,
    forward_headers: Option<BTreeMap<String, serde_json::Value>>,
}

fn route_options(value: &JsValue) -> Result<RouteOptions, Error> {
    let Some(fields) = optional_object_arg(value, "the route options")? else {
        return Ok(RouteOptions::default());
    };
    let args: RouteArgs = serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| {
        illegal(format!(
            "route options: {} (known: encAlgAnon, serviceId, expiresTime, delayMilli, forwardHeaders)",
            crate::convert::json_category(&e)
        ))
    })?;
    let mut options = RouteOptions::default();
    if let Some(enc) = &args.enc_alg_anon {
        options = options.enc_alg_anon(ContentEncAlg::parse(enc).ok_or_else(|| {
            illegal(format!(
                "encAlgAnon '{enc}' is not one of A256CBC-HS512, A256GCM, XC20P"
            ))
        })?);
    }
    options.service_id = args.service_id;
    options.expires_time = args.expires_time;
    options.delay_milli = args.delay_milli;
    options.forward_headers = args.forward_headers.unwrap_or_default();
    Ok(options)
}

fn packed_arg(value: &JsValue) -> Result<String, Error> {
    match value.as_string() {
        Some(text) => Ok(text),
        None => crate::convert::stringify_object(value, "the packed message"),
    }
}

#[wasm_bindgen(js_class = DidComm)]
impl JsDidComm {
    /// `resolveRoute(to, options?): Promise<{ uri, serviceId, accept, hops }>`: where a
    /// message for `to` goes and through which mediators, read from DID documents.
    #[wasm_bindgen(js_name = resolveRoute)]
    pub fn resolve_route(&self, to: JsValue, options: JsValue) -> Promise {
        let engine = Rc::clone(&self.inner);
        promise(async move {
            let to = string_arg(&to, "to")?;
            let route = engine.resolve_route(&to, &route_options(&options)?).await?;
            metadata_to_js(&route)
        })
    }

    /// `route(packed, to, options?): Promise<{ message, uri, serviceId, accept, hops }>`: the
    /// encrypted `packed` wrapped in one anoncrypted forward per mediator, and where to send it.
    pub fn route(&self, packed: JsValue, to: JsValue, options: JsValue) -> Promise {
        let engine = Rc::clone(&self.inner);
        promise(async move {
            let packed = packed_arg(&packed)?;
            let to = string_arg(&to, "to")?;
            let routed = engine
                .route(&packed, &to, &route_options(&options)?)
                .await?;
            metadata_to_js(&routed)
        })
    }

    /// `wrapInForward(packed, next, hops, options?): Promise<string>`: `packed` wrapped in
    /// forwards along `hops` (first receiver first), the last one naming `next`.
    #[wasm_bindgen(js_name = wrapInForward)]
    pub fn wrap_in_forward(
        &self,
        packed: JsValue,
        next: JsValue,
        hops: JsValue,
        options: JsValue,
    ) -> Promise {
        let engine = Rc::clone(&self.inner);
        promise(async move {
            let packed = packed_arg(&packed)?;
            let next = string_arg(&next, "next")?;
            if !Array::is_array(&hops) {
                return Err(illegal("hops must be an array of DIDs or DID URLs"));
            }
            let hops: Vec<String> = Array::from(&hops)
                .iter()
                .map(|h| h.as_string().ok_or_else(|| illegal("hops must be strings")))
                .collect::<Result<_, Error>>()?;
            let wrapped = engine
                .wrap_in_forward(&packed, &next, &hops, &route_options(&options)?)
                .await?;
            Ok(wrapped.into())
        })
    }

    /// `unwrapForward(packed): Promise<{ forward, metadata }>`: (mediator side) a forward
    /// addressed to us, unpacked and read: `forward` is `{ next, messages, expiresTime?,
    /// delayMilli? }`.
    #[wasm_bindgen(js_name = unwrapForward)]
    pub fn unwrap_forward(&self, packed: JsValue) -> Promise {
        let engine = Rc::clone(&self.inner);
        promise(async move {
            let packed = packed_arg(&packed)?;
            let (forward, metadata) = engine.unwrap_forward(&packed).await?;
            pair(
                "forward",
                metadata_to_js(&forward)?,
                "metadata",
                metadata_to_js(&metadata)?,
            )
        })
    }
}
