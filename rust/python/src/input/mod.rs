//! Python arguments turned into core values before the GIL is released:
//! URIs, integers of any size, buffers (kept alive and shared, never
//! copied), Arrow input (`arrow`, the same) and `options` dicts.

pub mod arrow;

use std::collections::HashMap;
use std::mem::MaybeUninit;

use bytes::Bytes;
use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};
use s3dlio_core::{ByteRange, Error, Options};

use crate::errors::{invalid_argument, to_pyerr};
use crate::export::view::BytesView;

/// A Python buffer held open for as long as Rust uses its memory.
struct HeldBuffer {
    view: Box<ffi::Py_buffer>,
}

// SAFETY: the exporter is kept alive by the held view and the memory is
// only read; releasing it takes the GIL (see Drop).
unsafe impl Send for HeldBuffer {}
// SAFETY: as above, shared access only reads.
unsafe impl Sync for HeldBuffer {}

impl AsRef<[u8]> for HeldBuffer {
    fn as_ref(&self) -> &[u8] {
        if self.view.len == 0 {
            return &[];
        }
        // SAFETY: a PyBUF_SIMPLE view is `len` contiguous bytes at `buf`.
        unsafe { std::slice::from_raw_parts(self.view.buf as *const u8, self.view.len as usize) }
    }
}

impl Drop for HeldBuffer {
    fn drop(&mut self) {
        // SAFETY: the view was filled by PyObject_GetBuffer and is released once.
        Python::attach(|_| unsafe { ffi::PyBuffer_Release(&mut *self.view) });
    }
}

/// The bytes of any contiguous buffer-protocol object, shared without a
/// copy (a `BytesView` shares its own allocation directly).
pub fn buffer_bytes(data: &Bound<'_, PyAny>, uri: &str) -> PyResult<Bytes> {
    if let Ok(view) = data.cast::<BytesView>() {
        return Ok(view.get().bytes().clone());
    }
    let mut view = Box::new(MaybeUninit::<ffi::Py_buffer>::zeroed());
    // SAFETY: `view` is writable storage for a Py_buffer.
    let rc =
        unsafe { ffi::PyObject_GetBuffer(data.as_ptr(), view.as_mut_ptr(), ffi::PyBUF_SIMPLE) };
    if rc == -1 {
        let cause = PyErr::fetch(data.py());
        let err = PyTypeError::new_err(format!(
            "{uri}: data must be a contiguous buffer-protocol object \
             (bytes, bytearray, memoryview, numpy array, BytesView), got {}",
            data.get_type().name()?
        ));
        err.set_cause(data.py(), Some(cause));
        return Err(err);
    }
    // SAFETY: PyObject_GetBuffer succeeded, so the view is initialised.
    let view = unsafe { Box::from_raw(Box::into_raw(view).cast::<ffi::Py_buffer>()) };
    Ok(Bytes::from_owner(HeldBuffer { view }))
}

/// The `options` keyword argument of every I/O call.
pub type PyOptions = Option<HashMap<String, String>>;

/// The environment's configuration with the call's `options` on top.
pub fn options(overrides: PyOptions) -> Options {
    Options::from_env_with(overrides.unwrap_or_default())
}

/// A URI argument: a `str`. One that has no UTF-8 form (lone surrogates,
/// as `os.fsdecode` makes of undecodable bytes) is an `InvalidUriError`
/// naming it, like any other unusable URI; a non-`str` is a `TypeError`.
pub struct Uri(pub String);

impl FromPyObject<'_, '_> for Uri {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        let Ok(text) = obj.cast::<PyString>() else {
            return obj.extract::<String>().map(Uri); // the usual TypeError
        };
        match text.to_str() {
            Ok(s) => Ok(Uri(s.to_owned())),
            Err(_) => {
                let escaped = text
                    .call_method1("encode", ("utf-8", "backslashreplace"))?
                    .extract::<Vec<u8>>()?;
                Err(to_pyerr(Error::InvalidUri {
                    uri: String::from_utf8_lossy(&escaped).into_owned(),
                    reason: "not valid UTF-8 (lone surrogates): decode the path first".to_owned(),
                }))
            }
        }
    }
}

/// A sequence of URI arguments (list, tuple, ...) of `str`. A lone `str`,
/// `bytes` or `bytearray` is a `TypeError` naming it, not a sequence of
/// characters or byte values.
pub fn uri_list(obj: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if obj.is_instance_of::<PyString>()
        || obj.is_instance_of::<PyBytes>()
        || obj.is_instance_of::<PyByteArray>()
    {
        let mut shown = obj.repr()?.to_string();
        if shown.len() > 200 {
            let cut = (0..=200).rev().find(|&i| shown.is_char_boundary(i));
            shown.truncate(cut.unwrap_or(0));
            shown.push_str("...");
        }
        return Err(PyTypeError::new_err(format!(
            "expected a sequence of URI strings, got {} {shown}",
            obj.get_type().name()?
        )));
    }
    let uris: Vec<Uri> = obj.extract()?;
    Ok(uris.into_iter().map(|Uri(u)| u).collect())
}

/// `get_ranges` requests: a sequence of `(uri, offset)` or `(uri, offset,
/// length)` tuples (or lists); `length` None reads to the end. A negative
/// number is an `InvalidArgumentError` naming its URI.
pub fn range_requests(obj: &Bound<'_, PyAny>) -> PyResult<Vec<(String, ByteRange)>> {
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "expected a sequence of (uri, offset, length) tuples, got a str",
        ));
    }
    let mut requests = Vec::with_capacity(obj.len().unwrap_or(0));
    for item in obj.try_iter()? {
        let item = item?;
        let fields: Vec<Bound<'_, PyAny>> =
            match item.is_instance_of::<PyTuple>() || item.is_instance_of::<PyList>() {
                true => item.extract()?,
                false => Vec::new(),
            };
        if !(2..=3).contains(&fields.len()) {
            return Err(PyTypeError::new_err(format!(
                "expected a (uri, offset) or (uri, offset, length) tuple, got {}",
                item.repr()?
            )));
        }
        let Uri(uri) = fields[0].extract()?;
        let offset = non_negative("offset", saturating(&fields[1])?, &uri)?;
        let length = match fields.get(2) {
            Some(length) => saturating_opt(length)?
                .map(|l| non_negative("length", l, &uri))
                .transpose()?,
            None => None,
        };
        requests.push((uri, ByteRange { offset, length }));
    }
    Ok(requests)
}

/// An integer argument of any size for a count or a byte position: a
/// Python int beyond 64 bits saturates (`max_in_flight=10**30` means "no
/// limit"; an offset of `2**70` is past the end of any object).
pub fn saturating(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    match obj.extract::<i64>() {
        Err(err) if err.is_instance_of::<PyOverflowError>(obj.py()) => {
            Ok(if obj.lt(0)? { i64::MIN } else { i64::MAX })
        }
        other => other,
    }
}

/// [`saturating`], or `None`.
pub fn saturating_opt(obj: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
    (!obj.is_none()).then(|| saturating(obj)).transpose()
}

/// An integer argument that must be exact (a step, a rank): one beyond 64
/// bits is an `InvalidArgumentError` naming it.
pub fn exact(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    match obj.extract::<i64>() {
        Err(err) if err.is_instance_of::<PyOverflowError>(obj.py()) => Err(invalid_argument(
            format!("{} is out of range (at most 64 bits)", obj.str()?),
        )),
        other => other,
    }
}

/// A non-negative integer argument.
pub fn non_negative(name: &str, value: i64, uri: &str) -> PyResult<u64> {
    u64::try_from(value)
        .map_err(|_| invalid_argument(format!("{uri}: {name} must be >= 0, got {value}")))
}

/// A concurrency bound: at least 1 (any larger value works; beyond the
/// number of objects it makes no difference).
pub fn in_flight(value: i64) -> PyResult<usize> {
    match usize::try_from(value) {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(invalid_argument(format!(
            "max_in_flight must be at least 1, got {value}"
        ))),
    }
}
