//! Core errors as JS `DidCommError` instances.
//!
//! The class is defined in JavaScript (so `instanceof` works and users can subclass or catch it)
//! and handed to us once by the package's entry module through `__setErrorClass`.

use std::cell::RefCell;

use didcomm_edge::{Error, ErrorKind};
use js_sys::{Array, Function, Reflect};
use wasm_bindgen::prelude::*;

thread_local! {
    static ERROR_CLASS: RefCell<Option<Function>> = const { RefCell::new(None) };
}

/// Register the JS class that errors are created with: `new Class(kind, reason)`.
/// Internal; called once by the package's entry module.
#[wasm_bindgen(js_name = "__setErrorClass")]
pub fn set_error_class(class: Function) {
    ERROR_CLASS.with(|slot| *slot.borrow_mut() = Some(class));
}

/// The JS value to throw (or reject with) for a core error.
pub(crate) fn to_js(err: &Error) -> JsValue {
    let kind = JsValue::from_str(err.kind().as_str());
    let reason = JsValue::from_str(err.reason());
    let class = ERROR_CLASS.with(|slot| slot.borrow().clone());
    if let Some(class) = class {
        if let Ok(made) = Reflect::construct(&class, &Array::of2(&kind, &reason)) {
            return made;
        }
    }
    // Without a registered class (the raw module used directly): a plain Error with the same
    // fields, so callers can still read `kind`.
    let plain = js_sys::Error::new(&err.to_string());
    plain.set_name("DidCommError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&plain, &"kind".into(), &kind);
    let _ = Reflect::set(&plain, &"reason".into(), &reason);
    plain.into()
}

/// Shorthand for results crossing into JS.
pub(crate) fn js_err(err: Error) -> JsValue {
    to_js(&err)
}

/// An `illegal_argument` error (a caller passed something of the wrong shape).
pub(crate) fn illegal(reason: impl Into<String>) -> Error {
    Error::new(ErrorKind::IllegalArgument, reason)
}

/// The message text of a thrown JS value, shortened, for reasons of `resolver_failure` errors.
pub(crate) fn js_message(value: &JsValue) -> String {
    let text = if let Some(err) = value.dyn_ref::<js_sys::Error>() {
        String::from(err.message())
    } else if let Some(s) = value.as_string() {
        s
    } else {
        Reflect::get(value, &"message".into())
            .ok()
            .and_then(|m| m.as_string())
            .unwrap_or_else(|| "a non-Error value was thrown".to_owned())
    };
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", text.get(..cut).unwrap_or_default()),
        None => text,
    }
}
