//! Python arguments turned into core values before the GIL is released:
//! buffers (kept alive and shared, never copied) and `options` dicts.

use std::collections::HashMap;
use std::mem::MaybeUninit;

use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use s3dlio_core::Options;

use crate::errors::invalid_argument;
use crate::view::BytesView;

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

/// The environment's configuration with the call's `options` on top.
pub fn options(overrides: Option<HashMap<String, String>>) -> Options {
    Options::from_env_with(overrides.unwrap_or_default())
}

/// A non-negative integer argument.
pub fn non_negative(name: &str, value: i64, uri: &str) -> PyResult<u64> {
    u64::try_from(value)
        .map_err(|_| invalid_argument(format!("{uri}: {name} must be >= 0, got {value}")))
}

/// A concurrency bound: at least 1.
pub fn in_flight(value: i64) -> PyResult<usize> {
    match usize::try_from(value) {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(invalid_argument(format!(
            "max_in_flight must be at least 1, got {value}"
        ))),
    }
}
