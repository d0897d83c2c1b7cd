//! The core's `DidResolver` and `SecretsResolver` over JS objects.
//!
//! A resolver is any object with `resolve(did)`; a secrets store any object with
//! `getSecret(kid)` and `findSecrets(kids)` (the snake_case names of `didcomm-node`,
//! `get_secret` / `find_secrets`, are accepted too, easing migration). Methods may return values
//! or Promises. Returning `null`/`undefined` means "not found"; throwing (or rejecting) becomes an
//! error of kind `resolver_failure`.

use async_trait::async_trait;
use didcomm_edge::{DidDocument, DidResolver, Error, ErrorKind, Result, Secret, SecretsResolver};
use js_sys::{Array, Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::convert::{json_category, stringify_object};
use crate::error::{illegal, js_message};

/// A method of a host object, bound to it.
struct Method {
    target: JsValue,
    function: Function,
    name: &'static str,
}

impl Method {
    /// The first of `names` that `target` has as a function.
    fn find(target: &JsValue, names: &[&'static str], what: &str) -> Result<Method> {
        if !target.is_object() && !target.is_function() {
            return Err(illegal(format!("the {what} must be an object")));
        }
        for name in names {
            let value = Reflect::get(target, &JsValue::from_str(name))
                .map_err(|e| illegal(format!("reading {what}.{name}: {}", js_message(&e))))?;
            if let Ok(function) = value.dyn_into::<Function>() {
                return Ok(Method {
                    target: target.clone(),
                    function,
                    name,
                });
            }
        }
        Err(illegal(format!(
            "the {what} has no method {}",
            names.join(" or ")
        )))
    }

    /// Call with one argument; await the result when it is a Promise (or any thenable).
    async fn call(&self, arg: &JsValue) -> Result<JsValue> {
        let returned = self
            .function
            .call1(&self.target, arg)
            .map_err(|e| self.failure(&e))?;
        if !is_thenable(&returned) {
            return Ok(returned);
        }
        JsFuture::from(Promise::resolve(&returned))
            .await
            .map_err(|e| self.failure(&e))
    }

    fn failure(&self, thrown: &JsValue) -> Error {
        Error::new(
            ErrorKind::ResolverFailure,
            format!("{}() failed: {}", self.name, js_message(thrown)),
        )
    }

    fn malformed(&self, what: impl std::fmt::Display) -> Error {
        Error::new(
            ErrorKind::Malformed,
            format!("{}() returned {what}", self.name),
        )
    }
}

fn is_thenable(value: &JsValue) -> bool {
    if value.is_instance_of::<Promise>() {
        return true;
    }
    value.is_object()
        && Reflect::get(value, &JsValue::from_str("then")).is_ok_and(|then| then.is_function())
}

/// A DID resolver implemented by a JS object.
pub(crate) struct JsDidResolver {
    resolve: Method,
}

impl JsDidResolver {
    pub(crate) fn new(target: &JsValue) -> Result<Self> {
        Ok(JsDidResolver {
            resolve: Method::find(target, &["resolve"], "DID resolver")?,
        })
    }
}

#[async_trait(?Send)]
impl DidResolver for JsDidResolver {
    async fn resolve(&self, did: &str) -> Result<Option<DidDocument>> {
        let value = self.resolve.call(&JsValue::from_str(did)).await?;
        if value.is_null() || value.is_undefined() {
            return Ok(None);
        }
        let text = stringify_object(&value, "the DID document").map_err(|_| {
            self.resolve
                .malformed("something other than a DID document")
        })?;
        serde_json::from_str(&text).map_err(|e| {
            self.resolve.malformed(format_args!(
                "a malformed DID document for {did} ({})",
                json_category(&e)
            ))
        })
    }
}

/// A secrets store implemented by a JS object.
pub(crate) struct JsSecretsResolver {
    get_secret: Method,
    find_secrets: Method,
}

impl JsSecretsResolver {
    pub(crate) fn new(target: &JsValue) -> Result<Self> {
        Ok(JsSecretsResolver {
            get_secret: Method::find(target, &["getSecret", "get_secret"], "secrets store")?,
            find_secrets: Method::find(target, &["findSecrets", "find_secrets"], "secrets store")?,
        })
    }
}

#[async_trait(?Send)]
impl SecretsResolver for JsSecretsResolver {
    async fn get_secret(&self, kid: &str) -> Result<Option<Secret>> {
        let value = self.get_secret.call(&JsValue::from_str(kid)).await?;
        if value.is_null() || value.is_undefined() {
            return Ok(None);
        }
        let text = stringify_object(&value, "the secret")
            .map_err(|_| self.get_secret.malformed("something other than a secret"))?;
        // The error names the position only: the text holds key material.
        serde_json::from_str(&text).map(Some).map_err(|e| {
            self.get_secret.malformed(format_args!(
                "a malformed secret for {kid} ({})",
                json_category(&e)
            ))
        })
    }

    async fn find_secrets(&self, kids: &[String]) -> Result<Vec<String>> {
        let asked: Array = kids.iter().map(|k| JsValue::from_str(k)).collect();
        let value = self.find_secrets.call(&asked).await?;
        let Some(found) = value.dyn_ref::<Array>() else {
            return Err(self.find_secrets.malformed("something other than an array"));
        };
        let found: Vec<String> = found
            .iter()
            .map(|kid| {
                kid.as_string()
                    .ok_or_else(|| self.find_secrets.malformed("an array holding a non-string"))
            })
            .collect::<Result<_>>()?;
        // Keep the order asked for and nothing that was not asked for.
        Ok(kids.iter().filter(|k| found.contains(k)).cloned().collect())
    }
}
