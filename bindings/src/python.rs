//! The CPython extension of the Python package (feature `python`; maturin builds it into the
//! same library as the UniFFI scaffolding, and the package imports that library a second time
//! as the extension module `_fastpath`). It is the package's hot path: pack, unpack and route
//! with Python objects in and out. A `dict` message becomes the core's JSON value without JSON
//! text in between (and a received message a `dict` the same way), results are the generated
//! module's record classes, failures its `DidCommError` subclasses. Conversions only: every rule
//! is the core's, reached as the UniFFI methods reach it.
//!
//! An engine crosses from UniFFI to here once, by number: `DidComm.python_handoff()` (a UniFFI
//! method that exists only in this build) parks the engine and `Engine(number)` takes it.
//!
//! Each operation comes twice. `x` runs on the calling thread with the GIL released (the
//! package's `*_blocking` methods). `x_start(loop, ...)` serves the coroutines of an engine
//! without Python host objects: it runs the operation on the calling thread (the loop's) as far
//! as it goes without waiting, which is all of it once documents are cached; when it must wait
//! (a did:web fetch) or the input is larger than [`INLINE_LIMIT`], it finishes on a thread of
//! the bindings' runtime and returns an asyncio future that `loop` settles.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::{intern, IntoPyObjectExt};
use serde_json::{Map, Number, Value};

use crate::engine::{
    ops, parse_message, DidComm, PackEncryptedOptions, PackedEncrypted, PackedSigned,
    UnpackMetadata, UnpackOptions,
};
use crate::error::{DidCommError, Result};
use crate::routing::{self, RouteOptions, Routed};
use crate::runtime::{block_on, finish_off_thread, poll_once};

/// Inputs longer than this many bytes never run on the event loop's thread: at the core's
/// speed (about 1 GB/s for the symmetric part) 64 KiB stays well under a millisecond.
pub const INLINE_LIMIT: usize = 64 * 1024;

/// Nesting deeper than this is left to `json.dumps` and the core's parser, which refuse it as
/// they always did (serde_json's own limit is 128).
const MAX_DEPTH: usize = 128;

static HANDOFF: Mutex<BTreeMap<u64, Arc<didcomm_edge::DidComm>>> = Mutex::new(BTreeMap::new());
static NEXT_HANDOFF: AtomicU64 = AtomicU64::new(1);

#[uniffi::export]
impl DidComm {
    /// The Python package's hand-over of this engine to its CPython extension: a number that
    /// `Engine(number)` of `_fastpath` takes, once. Only in the Python package's library.
    pub fn python_handoff(&self) -> u64 {
        let number = NEXT_HANDOFF.fetch_add(1, Ordering::Relaxed);
        HANDOFF
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(number, Arc::clone(&self.inner));
        number
    }
}

// -- errors ------------------------------------------------------------------------------------

/// `DidCommError.<Variant>(...)` of the generated module, as a Python exception.
fn py_error(py: Python<'_>, error: DidCommError) -> PyErr {
    match build_error(py, &error) {
        Ok(err) => err,
        Err(failed) => failed,
    }
}

fn build_error(py: Python<'_>, error: &DidCommError) -> PyResult<PyErr> {
    // The variant classes are named after the kinds: decryption_failed -> DecryptionFailed.
    let variant: String = error
        .name()
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    let class = classes(py)?.error.bind(py).getattr(variant.as_str())?;
    let instance = match error {
        DidCommError::Refused {
            reason,
            problem_code,
            http_status,
        } => class.call1((reason, problem_code, http_status))?,
        other => class.call1((other.reason(),))?,
    };
    Ok(PyErr::from_value(instance))
}

// -- the classes results are made of -----------------------------------------------------------

struct Classes {
    error: Py<PyAny>,
    unpacked: Py<PyAny>,
    unpack_metadata: Py<PyAny>,
    from_prior: Py<PyAny>,
    packed_encrypted: Py<PyAny>,
    pack_encrypted_metadata: Py<PyAny>,
    packed_signed: Py<PyAny>,
    pack_signed_metadata: Py<PyAny>,
    routed: Py<PyAny>,
    json_dumps: Py<PyAny>,
    object_new: Py<PyAny>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let generated = py.import("didcomm_edge._native.didcomm_edge")?;
        let engine = py.import("didcomm_edge._engine")?;
        let class = |name: &str| generated.getattr(name).map(Bound::unbind);
        Ok(Classes {
            error: class("DidCommError")?,
            unpacked: engine.getattr("Unpacked")?.unbind(),
            unpack_metadata: class("UnpackMetadata")?,
            from_prior: class("FromPrior")?,
            packed_encrypted: class("PackedEncrypted")?,
            pack_encrypted_metadata: class("PackEncryptedMetadata")?,
            packed_signed: class("PackedSigned")?,
            pack_signed_metadata: class("PackSignedMetadata")?,
            routed: class("Routed")?,
            json_dumps: py.import("json")?.getattr("dumps")?.unbind(),
            object_new: py
                .import("builtins")?
                .getattr("object")?
                .getattr("__new__")?
                .unbind(),
        })
    })
}

/// An instance of `class` with the `(name, value)` pairs as its attributes: `object.__new__`
/// and the instance's `__dict__` filled in, which is all the records' `__init__` does (UniFFI's
/// records assign their keyword arguments; `Unpacked` is a frozen dataclass). Skipping the
/// keyword dict and the Python `__init__` frame saves about a microsecond per result;
/// tests/test_json_forms.py holds these instances equal to what the constructors make.
fn record<'py>(
    py: Python<'py>,
    class: &Py<PyAny>,
    fields: &[(&Bound<'py, PyString>, Bound<'py, PyAny>)],
) -> PyResult<Bound<'py, PyAny>> {
    let object = classes(py)?.object_new.bind(py).call1((class.bind(py),))?;
    let attributes = object
        .getattr(intern!(py, "__dict__"))?
        .cast_into::<PyDict>()?;
    for (name, value) in fields {
        attributes.set_item(name, value)?;
    }
    Ok(object)
}

fn any<'py, T: IntoPyObjectExt<'py>>(py: Python<'py>, value: T) -> PyResult<Bound<'py, PyAny>> {
    value.into_bound_py_any(py)
}

// -- JSON values <-> Python objects ------------------------------------------------------------

/// The JSON value of a Python object made of plain JSON types (exactly `dict` with `str` keys,
/// `list`, `tuple`, `str`, `int`, `float`, `bool`, `None`), as `json.dumps` would write it;
/// `None` for anything else (a subclass, another type, NaN, an integer beyond 64 bits, deep
/// nesting), which the caller leaves to `json.dumps`, so results and errors stay what they were.
/// `size` adds up the bytes of the strings met, for [`INLINE_LIMIT`].
fn json_of(object: &Bound<'_, PyAny>, depth: usize, size: &mut usize) -> PyResult<Option<Value>> {
    if depth > MAX_DEPTH {
        return Ok(None);
    }
    *size = size.saturating_add(8);
    if object.is_none() {
        return Ok(Some(Value::Null));
    }
    if let Ok(text) = object.cast_exact::<PyString>() {
        let Ok(text) = text.to_cow() else {
            return Ok(None);
        };
        *size = size.saturating_add(text.len());
        return Ok(Some(Value::String(text.into_owned())));
    }
    if object.is_exact_instance_of::<PyBool>() {
        return Ok(Some(Value::Bool(object.is_truthy()?)));
    }
    if object.is_exact_instance_of::<PyInt>() {
        if let Ok(number) = object.extract::<i64>() {
            return Ok(Some(Value::Number(number.into())));
        }
        return Ok(object
            .extract::<u64>()
            .ok()
            .map(|n| Value::Number(n.into())));
    }
    if object.is_exact_instance_of::<PyFloat>() {
        let number: f64 = object.extract()?;
        return Ok(Number::from_f64(number).map(Value::Number));
    }
    if let Ok(dict) = object.cast_exact::<PyDict>() {
        let mut map = Map::new();
        for (key, value) in dict.iter() {
            let Ok(key) = key.cast_exact::<PyString>() else {
                return Ok(None);
            };
            let Ok(key) = key.to_cow() else {
                return Ok(None);
            };
            *size = size.saturating_add(key.len());
            let Some(value) = json_of(&value, depth + 1, size)? else {
                return Ok(None);
            };
            map.insert(key.into_owned(), value);
        }
        return Ok(Some(Value::Object(map)));
    }
    let items = if let Ok(list) = object.cast_exact::<PyList>() {
        list.iter().collect::<Vec<_>>()
    } else if let Ok(tuple) = object.cast_exact::<PyTuple>() {
        tuple.iter().collect::<Vec<_>>()
    } else {
        return Ok(None);
    };
    let mut array = Vec::with_capacity(items.len());
    for item in &items {
        let Some(value) = json_of(item, depth + 1, size)? else {
            return Ok(None);
        };
        array.push(value);
    }
    Ok(Some(Value::Array(array)))
}

/// The Python object of a JSON value (`dict`, `list`, `str`, `int`, `float`, `bool`, `None`),
/// as `json.loads` makes it. The values come from the core's parser, whose nesting limit bounds
/// the recursion.
fn py_of<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        Value::Number(number) => {
            if let Some(n) = number.as_i64() {
                any(py, n)?
            } else if let Some(n) = number.as_u64() {
                any(py, n)?
            } else {
                any(py, number.as_f64().unwrap_or(f64::NAN))?
            }
        }
        Value::String(text) => PyString::new(py, text).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(py_of(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, py_of(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// A message argument: JSON text as it is, a `dict` converted; anything else refused as the
/// package always refused it.
enum MessageArg {
    Text(String),
    Value(Value),
}

impl MessageArg {
    fn size(&self, value_size: usize) -> usize {
        match self {
            MessageArg::Text(text) => text.len(),
            MessageArg::Value(_) => value_size,
        }
    }
}

fn message_arg(
    py: Python<'_>,
    object: &Bound<'_, PyAny>,
    what: &str,
    size: &mut usize,
) -> PyResult<MessageArg> {
    if let Ok(text) = object.cast::<PyString>() {
        let text = text.to_cow()?.into_owned();
        *size = text.len();
        return Ok(MessageArg::Text(text));
    }
    if !object.is_instance_of::<PyDict>() {
        return Err(py_error(
            py,
            DidCommError::illegal(format!("{what} must be a dict or JSON text")),
        ));
    }
    if let Some(value) = json_of(object, 0, size)? {
        return Ok(MessageArg::Value(value));
    }
    // Something json.dumps writes its own way (or refuses): its text, as before.
    let text: String = classes(py)?
        .json_dumps
        .bind(py)
        .call1((object,))?
        .extract()?;
    *size = text.len();
    Ok(MessageArg::Text(text))
}

/// Text arguments that may also be given as a `dict` (a packed message).
fn text_arg(py: Python<'_>, object: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    let mut size = 0;
    match message_arg(py, object, what, &mut size)? {
        MessageArg::Text(text) => Ok(text),
        MessageArg::Value(value) => Ok(value.to_string()),
    }
}

fn parse(message: MessageArg) -> Result<didcomm_edge::Message> {
    match message {
        MessageArg::Text(text) => parse_message(&text),
        MessageArg::Value(value) => Ok(didcomm_edge::Message::from_value(
            value,
            didcomm_edge::message::ParseOptions::default(),
        )?),
    }
}

fn content_encryption(name: Option<&str>) -> Result<Option<crate::engine::ContentEncryption>> {
    use crate::engine::ContentEncryption;
    Ok(match name {
        None => None,
        Some("A256CBC-HS512") => Some(ContentEncryption::A256CbcHs512),
        Some("A256GCM") => Some(ContentEncryption::A256Gcm),
        Some("XC20P") => Some(ContentEncryption::Xc20p),
        Some(_) => return Err(DidCommError::illegal("unknown content encryption")),
    })
}

// -- results -----------------------------------------------------------------------------------

/// What an operation returns, made into the package's Python objects.
trait Output: Send + 'static {
    fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>>;
}

struct UnpackOutput(didcomm_edge::Message, didcomm_edge::UnpackMetadata);

fn optional_strings<'py>(
    py: Python<'py>,
    values: &Option<Vec<String>>,
) -> PyResult<Bound<'py, PyAny>> {
    match values {
        None => Ok(py.None().into_bound(py)),
        Some(values) => any(py, values),
    }
}

fn metadata_py<'py>(py: Python<'py>, m: &UnpackMetadata) -> PyResult<Bound<'py, PyAny>> {
    let c = classes(py)?;
    let from_prior = match &m.from_prior {
        None => py.None().into_bound(py),
        Some(claims) => record(
            py,
            &c.from_prior,
            &[
                (intern!(py, "iss"), any(py, &claims.iss)?),
                (intern!(py, "sub"), any(py, &claims.sub)?),
                (intern!(py, "aud"), any(py, &claims.aud)?),
                (intern!(py, "exp"), any(py, claims.exp)?),
                (intern!(py, "nbf"), any(py, claims.nbf)?),
                (intern!(py, "iat"), any(py, claims.iat)?),
                (intern!(py, "jti"), any(py, &claims.jti)?),
            ],
        )?,
    };
    record(
        py,
        &c.unpack_metadata,
        &[
            (intern!(py, "encrypted"), any(py, m.encrypted)?),
            (intern!(py, "authenticated"), any(py, m.authenticated)?),
            (intern!(py, "non_repudiation"), any(py, m.non_repudiation)?),
            (
                intern!(py, "anonymous_sender"),
                any(py, m.anonymous_sender)?,
            ),
            (
                intern!(py, "re_wrapped_in_forward"),
                any(py, m.re_wrapped_in_forward)?,
            ),
            (intern!(py, "expired"), any(py, m.expired)?),
            (
                intern!(py, "encrypted_from_kid"),
                any(py, &m.encrypted_from_kid)?,
            ),
            (
                intern!(py, "encrypted_to_kids"),
                optional_strings(py, &m.encrypted_to_kids)?,
            ),
            (intern!(py, "sign_from"), any(py, &m.sign_from)?),
            (
                intern!(py, "from_prior_issuer_kid"),
                any(py, &m.from_prior_issuer_kid)?,
            ),
            (intern!(py, "enc_alg_auth"), any(py, &m.enc_alg_auth)?),
            (intern!(py, "enc_alg_anon"), any(py, &m.enc_alg_anon)?),
            (intern!(py, "sign_alg"), any(py, &m.sign_alg)?),
            (intern!(py, "signed_message"), any(py, &m.signed_message)?),
            (intern!(py, "from_prior"), from_prior),
        ],
    )
}

impl Output for UnpackOutput {
    fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let UnpackOutput(message, metadata) = self;
        let message = message.to_value().map_err(|e| py_error(py, e.into()))?;
        let metadata = metadata_py(py, &UnpackMetadata::from(&metadata))?;
        let unpacked = record(
            py,
            &classes(py)?.unpacked,
            &[
                (intern!(py, "message"), py_of(py, &message)?),
                (intern!(py, "metadata"), metadata),
            ],
        )?;
        Ok(unpacked.unbind())
    }
}

/// A `Packed*` record: the packed text and its metadata record.
fn packed_record<'py>(
    py: Python<'py>,
    class: &Py<PyAny>,
    packed: &str,
    metadata: Bound<'py, PyAny>,
) -> PyResult<Py<PyAny>> {
    let packed = record(
        py,
        class,
        &[
            (intern!(py, "packed"), any(py, packed)?),
            (intern!(py, "metadata"), metadata),
        ],
    )?;
    Ok(packed.unbind())
}

impl Output for PackedEncrypted {
    fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let c = classes(py)?;
        let m = &self.metadata;
        let metadata = record(
            py,
            &c.pack_encrypted_metadata,
            &[
                (intern!(py, "from_kid"), any(py, &m.from_kid)?),
                (intern!(py, "to_kids"), any(py, &m.to_kids)?),
                (intern!(py, "sign_by_kid"), any(py, &m.sign_by_kid)?),
            ],
        )?;
        packed_record(py, &c.packed_encrypted, &self.packed, metadata)
    }
}

impl Output for PackedSigned {
    fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let c = classes(py)?;
        let m = &self.metadata;
        let metadata = record(
            py,
            &c.pack_signed_metadata,
            &[
                (intern!(py, "sign_by_kid"), any(py, &m.sign_by_kid)?),
                (intern!(py, "sign_alg"), any(py, &m.sign_alg)?),
            ],
        )?;
        packed_record(py, &c.packed_signed, &self.packed, metadata)
    }
}

impl Output for Routed {
    fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let routed = record(
            py,
            &classes(py)?.routed,
            &[
                (intern!(py, "message"), any(py, &self.message)?),
                (intern!(py, "uri"), any(py, &self.uri)?),
                (intern!(py, "service_id"), any(py, &self.service_id)?),
                (intern!(py, "accept"), any(py, &self.accept)?),
                (intern!(py, "hops"), any(py, &self.hops)?),
            ],
        )?;
        Ok(routed.unbind())
    }
}

// -- where operations run ----------------------------------------------------------------------

/// Run `op` on this thread with the GIL released.
fn run<T: Output>(
    py: Python<'_>,
    op: impl Future<Output = Result<T>> + Send,
) -> PyResult<Py<PyAny>> {
    match py.detach(|| block_on(op)) {
        Ok(Ok(output)) => output.into_py(py),
        Ok(Err(error)) | Err(error) => Err(py_error(py, error)),
    }
}

/// Run `op` for a coroutine on `event_loop`'s thread (see the module documentation): its result
/// when it finished here, otherwise an asyncio future of `event_loop` that its end settles.
fn start<T: Output>(
    py: Python<'_>,
    event_loop: &Bound<'_, PyAny>,
    op: impl Future<Output = Result<T>> + Send + 'static,
    inline: bool,
) -> PyResult<Py<PyAny>> {
    let mut op = Box::pin(op);
    if inline {
        match py.detach(|| poll_once(&mut op)) {
            Ok(Poll::Ready(Ok(output))) => return output.into_py(py),
            Ok(Poll::Ready(Err(error))) | Err(error) => return Err(py_error(py, error)),
            Ok(Poll::Pending) => {}
        }
    }
    let future = event_loop.call_method0(intern!(py, "create_future"))?;
    let target = (event_loop.clone().unbind(), future.clone().unbind());
    finish_off_thread(op, move |output| {
        Python::attach(|py| settle(py, target, output))
    })
    .map_err(|error| py_error(py, error))?;
    Ok(future.unbind())
}

/// Hand an operation's end to its event loop (from a runtime thread).
fn settle<T: Output>(
    py: Python<'_>,
    (event_loop, future): (Py<PyAny>, Py<PyAny>),
    output: Result<Result<T>>,
) {
    let (error, value) = match output.and_then(|r| r) {
        Ok(output) => match output.into_py(py) {
            Ok(value) => (py.None(), value),
            Err(err) => (err.into_value(py).into_any(), py.None()),
        },
        Err(error) => (py_error(py, error).into_value(py).into_any(), py.None()),
    };
    let Ok(settle) = settle_function(py) else {
        return;
    };
    // A closed loop has nobody waiting any more: nothing to tell.
    let _ = event_loop.bind(py).call_method1(
        intern!(py, "call_soon_threadsafe"),
        (settle, future, error, value),
    );
}

/// `future.set_exception(error)` or `future.set_result(value)` unless it was cancelled.
#[pyfunction]
fn _settle(
    future: &Bound<'_, PyAny>,
    error: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let py = future.py();
    if future.call_method0(intern!(py, "done"))?.is_truthy()? {
        return Ok(());
    }
    if error.is_none() {
        future.call_method1(intern!(py, "set_result"), (value,))?;
    } else {
        future.call_method1(intern!(py, "set_exception"), (error,))?;
    }
    Ok(())
}

static SETTLE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn settle_function(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    SETTLE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(wrap_pyfunction!(_settle, py)?.into_any().unbind())
        })
        .map(|f| f.bind(py))
}

// -- the engine --------------------------------------------------------------------------------

/// The package's engine: a core engine handed over by `DidComm.python_handoff()`.
#[pyclass(frozen, module = "didcomm_edge._native", name = "Engine")]
struct Engine {
    inner: Arc<didcomm_edge::DidComm>,
}

impl Engine {
    fn unpack_op(
        &self,
        packed: String,
        options: UnpackOptions,
    ) -> impl Future<Output = Result<UnpackOutput>> + Send + 'static {
        let dc = Arc::clone(&self.inner);
        async move {
            let (message, metadata) = dc.unpack(&packed, &(&options).into()).await?;
            Ok(UnpackOutput(message, metadata))
        }
    }

    fn pack_encrypted_op(
        &self,
        message: MessageArg,
        to: String,
        options: PackEncryptedOptions,
    ) -> impl Future<Output = Result<PackedEncrypted>> + Send + 'static {
        let dc = Arc::clone(&self.inner);
        async move {
            let message = parse(message)?;
            ops::pack_encrypted_message(&dc, &message, &to, &options).await
        }
    }

    fn pack_signed_op(
        &self,
        message: MessageArg,
        sign_by: String,
    ) -> impl Future<Output = Result<PackedSigned>> + Send + 'static {
        let dc = Arc::clone(&self.inner);
        async move {
            let message = parse(message)?;
            ops::pack_signed_message(&dc, &message, &sign_by).await
        }
    }

    fn route_op(
        &self,
        packed: String,
        to: String,
        options: RouteOptions,
    ) -> impl Future<Output = Result<Routed>> + Send + 'static {
        let dc = Arc::clone(&self.inner);
        async move { routing::ops::route(&dc, &packed, &to, &options).await }
    }
}

#[allow(clippy::too_many_arguments)]
fn unpack_options(
    expect_decrypt_by_all_keys: &Bound<'_, PyAny>,
    unwrap_re_wrapping_forward: &Bound<'_, PyAny>,
    require_body: &Bound<'_, PyAny>,
    check_recipient_in_to: &Bound<'_, PyAny>,
    reject_expired: &Bound<'_, PyAny>,
    now: Option<u64>,
    check_from_prior_times: &Bound<'_, PyAny>,
) -> PyResult<UnpackOptions> {
    Ok(UnpackOptions {
        expect_decrypt_by_all_keys: expect_decrypt_by_all_keys.is_truthy()?,
        unwrap_re_wrapping_forward: unwrap_re_wrapping_forward.is_truthy()?,
        require_body: require_body.is_truthy()?,
        check_recipient_in_to: check_recipient_in_to.is_truthy()?,
        reject_expired: reject_expired.is_truthy()?,
        now,
        check_from_prior_times: check_from_prior_times.is_truthy()?,
    })
}

fn pack_options(
    py: Python<'_>,
    from: Option<String>,
    sign_by: Option<String>,
    protect_sender: &Bound<'_, PyAny>,
    enc_alg_anon: Option<&str>,
    to_kids: Option<Vec<String>>,
) -> PyResult<PackEncryptedOptions> {
    Ok(PackEncryptedOptions {
        from,
        sign_by,
        protect_sender: protect_sender.is_truthy()?,
        enc_alg_anon: content_encryption(enc_alg_anon).map_err(|e| py_error(py, e))?,
        to_kids: to_kids.unwrap_or_default(),
    })
}

fn route_options(
    py: Python<'_>,
    enc_alg_anon: Option<&str>,
    service_id: Option<String>,
    expires_time: Option<u64>,
    delay_milli: Option<i64>,
    forward_headers: Option<String>,
) -> PyResult<RouteOptions> {
    Ok(RouteOptions {
        enc_alg_anon: content_encryption(enc_alg_anon).map_err(|e| py_error(py, e))?,
        service_id,
        expires_time,
        delay_milli,
        forward_headers,
    })
}

#[pymethods]
impl Engine {
    /// Take the engine handed over under `number`.
    #[new]
    fn new(py: Python<'_>, number: u64) -> PyResult<Self> {
        let inner = HANDOFF
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&number);
        inner.map(|inner| Engine { inner }).ok_or_else(|| {
            py_error(
                py,
                DidCommError::illegal("no engine was handed over under this number"),
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn unpack(
        &self,
        py: Python<'_>,
        packed: &Bound<'_, PyAny>,
        expect_decrypt_by_all_keys: &Bound<'_, PyAny>,
        unwrap_re_wrapping_forward: &Bound<'_, PyAny>,
        require_body: &Bound<'_, PyAny>,
        check_recipient_in_to: &Bound<'_, PyAny>,
        reject_expired: &Bound<'_, PyAny>,
        now: Option<u64>,
        check_from_prior_times: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let options = unpack_options(
            expect_decrypt_by_all_keys,
            unwrap_re_wrapping_forward,
            require_body,
            check_recipient_in_to,
            reject_expired,
            now,
            check_from_prior_times,
        )?;
        let packed = text_arg(py, packed, "the packed message")?;
        run(py, self.unpack_op(packed, options))
    }

    #[allow(clippy::too_many_arguments)]
    fn unpack_start(
        &self,
        py: Python<'_>,
        event_loop: &Bound<'_, PyAny>,
        packed: &Bound<'_, PyAny>,
        expect_decrypt_by_all_keys: &Bound<'_, PyAny>,
        unwrap_re_wrapping_forward: &Bound<'_, PyAny>,
        require_body: &Bound<'_, PyAny>,
        check_recipient_in_to: &Bound<'_, PyAny>,
        reject_expired: &Bound<'_, PyAny>,
        now: Option<u64>,
        check_from_prior_times: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let options = unpack_options(
            expect_decrypt_by_all_keys,
            unwrap_re_wrapping_forward,
            require_body,
            check_recipient_in_to,
            reject_expired,
            now,
            check_from_prior_times,
        )?;
        let packed = text_arg(py, packed, "the packed message")?;
        let inline = packed.len() <= INLINE_LIMIT;
        start(py, event_loop, self.unpack_op(packed, options), inline)
    }

    #[allow(clippy::too_many_arguments)]
    fn pack_encrypted(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyAny>,
        to: String,
        from_: Option<String>,
        sign_by: Option<String>,
        protect_sender: &Bound<'_, PyAny>,
        enc_alg_anon: Option<&str>,
        to_kids: Option<Vec<String>>,
    ) -> PyResult<Py<PyAny>> {
        let mut size = 0;
        let message = message_arg(py, message, "the message", &mut size)?;
        let options = pack_options(py, from_, sign_by, protect_sender, enc_alg_anon, to_kids)?;
        run(py, self.pack_encrypted_op(message, to, options))
    }

    #[allow(clippy::too_many_arguments)]
    fn pack_encrypted_start(
        &self,
        py: Python<'_>,
        event_loop: &Bound<'_, PyAny>,
        message: &Bound<'_, PyAny>,
        to: String,
        from_: Option<String>,
        sign_by: Option<String>,
        protect_sender: &Bound<'_, PyAny>,
        enc_alg_anon: Option<&str>,
        to_kids: Option<Vec<String>>,
    ) -> PyResult<Py<PyAny>> {
        let mut size = 0;
        let message = message_arg(py, message, "the message", &mut size)?;
        let inline = message.size(size) <= INLINE_LIMIT;
        let options = pack_options(py, from_, sign_by, protect_sender, enc_alg_anon, to_kids)?;
        start(
            py,
            event_loop,
            self.pack_encrypted_op(message, to, options),
            inline,
        )
    }

    fn pack_signed(
        &self,
        py: Python<'_>,
        message: &Bound<'_, PyAny>,
        sign_by: String,
    ) -> PyResult<Py<PyAny>> {
        let mut size = 0;
        let message = message_arg(py, message, "the message", &mut size)?;
        run(py, self.pack_signed_op(message, sign_by))
    }

    fn pack_signed_start(
        &self,
        py: Python<'_>,
        event_loop: &Bound<'_, PyAny>,
        message: &Bound<'_, PyAny>,
        sign_by: String,
    ) -> PyResult<Py<PyAny>> {
        let mut size = 0;
        let message = message_arg(py, message, "the message", &mut size)?;
        let inline = message.size(size) <= INLINE_LIMIT;
        start(
            py,
            event_loop,
            self.pack_signed_op(message, sign_by),
            inline,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn route(
        &self,
        py: Python<'_>,
        packed: String,
        to: String,
        enc_alg_anon: Option<&str>,
        service_id: Option<String>,
        expires_time: Option<u64>,
        delay_milli: Option<i64>,
        forward_headers: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let options = route_options(
            py,
            enc_alg_anon,
            service_id,
            expires_time,
            delay_milli,
            forward_headers,
        )?;
        run(py, self.route_op(packed, to, options))
    }

    #[allow(clippy::too_many_arguments)]
    fn route_start(
        &self,
        py: Python<'_>,
        event_loop: &Bound<'_, PyAny>,
        packed: String,
        to: String,
        enc_alg_anon: Option<&str>,
        service_id: Option<String>,
        expires_time: Option<u64>,
        delay_milli: Option<i64>,
        forward_headers: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let inline = packed.len() <= INLINE_LIMIT;
        let options = route_options(
            py,
            enc_alg_anon,
            service_id,
            expires_time,
            delay_milli,
            forward_headers,
        )?;
        start(py, event_loop, self.route_op(packed, to, options), inline)
    }
}

#[pymodule]
#[pyo3(name = "_fastpath")]
fn fastpath(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Engine>()?;
    module.add("INLINE_LIMIT", INLINE_LIMIT)?;
    Ok(())
}
