//! The exception hierarchy and the one mapping from core errors to it.
//!
//! ```text
//! S3dlioError(Exception)
//! ├── ObjectNotFoundError(FileNotFoundError, S3dlioError)
//! ├── AuthError(PermissionError, S3dlioError)
//! ├── InvalidUriError(ValueError, S3dlioError)
//! ├── InvalidArgumentError(ValueError, S3dlioError)
//! ├── UnsupportedSchemeError(S3dlioError)
//! ├── ChecksumError(S3dlioError)
//! ├── FormatError(S3dlioError)
//! └── OutOfMemoryError(MemoryError, S3dlioError)
//! ```
//!
//! A panic caught at the binding's seam (see `wait.rs`) is an `S3dlioError`
//! naming the call, or `OutOfMemoryError` when a buffer was refused.

use std::any::Any;

use pyo3::exceptions::{
    PyException, PyFileNotFoundError, PyMemoryError, PyPermissionError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use s3dlio_core::buffer::MemoryRefused;
use s3dlio_core::Error;

/// The exception classes, created once when the module is first imported.
pub struct Exceptions {
    pub base: Py<PyType>,
    pub not_found: Py<PyType>,
    pub auth: Py<PyType>,
    pub invalid_uri: Py<PyType>,
    pub invalid_argument: Py<PyType>,
    pub unsupported: Py<PyType>,
    pub checksum: Py<PyType>,
    pub format: Py<PyType>,
    pub memory: Py<PyType>,
}

static EXCEPTIONS: PyOnceLock<Exceptions> = PyOnceLock::new();

fn new_type<'py>(
    py: Python<'py>,
    name: &str,
    bases: &[Bound<'py, PyType>],
    doc: &str,
) -> PyResult<Py<PyType>> {
    let namespace = PyDict::new(py);
    namespace.set_item("__module__", "s3dlio")?;
    namespace.set_item("__doc__", doc)?;
    let bases = PyTuple::new(py, bases)?;
    let ty = py
        .get_type::<PyType>()
        .call1((name, bases, namespace))?
        .cast_into::<PyType>()?;
    Ok(ty.unbind())
}

fn build(py: Python<'_>) -> PyResult<Exceptions> {
    let base = new_type(
        py,
        "S3dlioError",
        &[py.get_type::<PyException>()],
        "Base class of every error raised by s3dlio.",
    )?;
    let b = base.bind(py).clone();
    Ok(Exceptions {
        not_found: new_type(
            py,
            "ObjectNotFoundError",
            &[py.get_type::<PyFileNotFoundError>(), b.clone()],
            "The object (or its bucket) does not exist.",
        )?,
        auth: new_type(
            py,
            "AuthError",
            &[py.get_type::<PyPermissionError>(), b.clone()],
            "Credentials are missing, invalid or not allowed to do this.",
        )?,
        invalid_uri: new_type(
            py,
            "InvalidUriError",
            &[py.get_type::<PyValueError>(), b.clone()],
            "A URI that cannot be parsed or names no object.",
        )?,
        invalid_argument: new_type(
            py,
            "InvalidArgumentError",
            &[py.get_type::<PyValueError>(), b.clone()],
            "A bad argument: a range past the end, a zero concurrency, a bad option value.",
        )?,
        unsupported: new_type(
            py,
            "UnsupportedSchemeError",
            std::slice::from_ref(&b),
            "The URI's scheme is recognised but its backend is not available.",
        )?,
        checksum: new_type(
            py,
            "ChecksumError",
            std::slice::from_ref(&b),
            "Stored data does not match its recorded checksum.",
        )?,
        format: new_type(
            py,
            "FormatError",
            std::slice::from_ref(&b),
            "An object is not valid in the format it is read as (a tar shard \
             with a bad header, or cut short); the message names the URI and \
             the byte offset.",
        )?,
        memory: new_type(
            py,
            "OutOfMemoryError",
            &[py.get_type::<PyMemoryError>(), b],
            "The memory an object or batch needs cannot be had: more than is \
             available, or refused by the system. The process is unharmed.",
        )?,
        base,
    })
}

/// The exception classes of this interpreter.
pub fn exceptions(py: Python<'_>) -> &Exceptions {
    EXCEPTIONS
        .get_or_try_init(py, || build(py))
        .expect("creating s3dlio's exception classes")
}

/// Add the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let e = exceptions(py);
    for ty in [
        &e.base,
        &e.not_found,
        &e.auth,
        &e.invalid_uri,
        &e.invalid_argument,
        &e.unsupported,
        &e.checksum,
        &e.format,
        &e.memory,
    ] {
        let ty = ty.bind(py);
        m.add(ty.name()?, ty)?;
    }
    Ok(())
}

/// The one mapping from a core error to a Python exception.
pub fn to_pyerr(err: Error) -> PyErr {
    Python::attach(|py| {
        let e = exceptions(py);
        let ty = match &err {
            Error::NotFound { .. } => &e.not_found,
            Error::PermissionDenied { .. } => &e.auth,
            Error::InvalidUri { .. } => &e.invalid_uri,
            Error::InvalidRange { .. } | Error::InvalidArgument(_) | Error::SizeMismatch { .. } => {
                &e.invalid_argument
            }
            Error::Unsupported { .. } => &e.unsupported,
            Error::Checksum { .. } => &e.checksum,
            Error::Format { .. } => &e.format,
            Error::Memory { .. } => &e.memory,
            _ => &e.base,
        };
        PyErr::from_type(ty.bind(py).clone(), err.full_message())
    })
}

/// A `ValueError` subclass for a bad argument, naming what it concerns.
pub fn invalid_argument(msg: String) -> PyErr {
    to_pyerr(Error::InvalidArgument(msg))
}

/// The exception for a panic caught while running `what`: the panic's
/// message in an `S3dlioError`, or an `OutOfMemoryError` for a buffer the
/// process could not hold.
pub fn panic_to_pyerr(what: &str, payload: &(dyn Any + Send)) -> PyErr {
    Python::attach(|py| {
        let e = exceptions(py);
        if let Some(MemoryRefused(reason)) = payload.downcast_ref::<MemoryRefused>() {
            let msg = s3dlio_core::options::redact_userinfo(&format!(
                "buffer memory for {what}: {reason}"
            ));
            return PyErr::from_type(e.memory.bind(py).clone(), msg);
        }
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_owned());
        let msg = s3dlio_core::options::redact_userinfo(&format!(
            "internal error in {what}: it panicked: {text} (a bug in s3dlio; please report it)"
        ));
        PyErr::from_type(e.base.bind(py).clone(), msg)
    })
}

/// Keep the panic hook from printing a [`MemoryRefused`] panic: it is not a
/// bug, and it reaches the caller as an `OutOfMemoryError` with the same
/// text. Every other panic is printed as before.
pub fn quiet_memory_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<MemoryRefused>() {
                previous(info);
            }
        }));
    });
}
