//! `BytesView`: one object's bytes, shared with Python without a copy.

use std::ffi::{c_int, c_void};

use bytes::Bytes;
use pyo3::exceptions::{PyIndexError, PyOverflowError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView, PySlice, PyTuple};

use crate::errors::invalid_argument;
use crate::export::arrow;
use crate::export::dlpack::{self, Tensor};
use crate::export::tensor::TensorView;

/// Read-only, zero-copy view of bytes held in one Rust allocation.
///
/// Supports the buffer protocol (format "B", 1-D, C-contiguous, read-only),
/// so `numpy.frombuffer(view)` and `memoryview(view)` share its memory.
/// The memory stays valid while any view, slice or buffer made from it is
/// alive.
#[pyclass(frozen, module = "s3dlio", name = "BytesView")]
pub struct BytesView {
    bytes: Bytes,
}

impl BytesView {
    pub fn new(bytes: Bytes) -> Self {
        Self { bytes }
    }

    /// The shared bytes (a reference count, not a copy).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

#[pymethods]
impl BytesView {
    fn __len__(&self) -> usize {
        self.bytes.len()
    }

    /// Export the memory read-only; a writable request raises BufferError.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let bytes = &slf.get().bytes;
        // SAFETY: `view` comes from the interpreter; the exporter (`slf`) is
        // kept alive by the view, and with it the bytes.
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                bytes.as_ptr() as *mut c_void,
                bytes.len() as ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if rc == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}

    /// A read-only `memoryview` over the same memory (no copy).
    fn memoryview<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyMemoryView>> {
        PyMemoryView::from(slf.as_any())
    }

    /// A copy of the bytes as `bytes`.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }

    /// A copy of the bytes as `bytes`.
    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.to_bytes(py)
    }

    /// `view[i]` is an int; `view[a:b]` a zero-copy `BytesView` (step 1 only).
    fn __getitem__<'py>(&self, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = key.py();
        let len = self.bytes.len();
        if let Ok(slice) = key.cast::<PySlice>() {
            let idx = slice.indices(len as isize)?;
            if idx.step != 1 {
                return Err(invalid_argument(format!(
                    "BytesView slices must have step 1 (got {})",
                    idx.step
                )));
            }
            let start = idx.start as usize;
            let stop = (idx.stop as usize).max(start);
            let sub = BytesView::new(self.bytes.slice(start..stop));
            return Ok(Bound::new(py, sub)?.into_any());
        }
        let i = match key.extract::<isize>() {
            Ok(i) => i,
            // An integer too large for any index is out of range, like
            // `b"x"[2**70]`; only a non-integer is a TypeError.
            Err(err) if err.is_instance_of::<PyOverflowError>(py) => {
                return Err(PyIndexError::new_err("BytesView index out of range"))
            }
            Err(_) => {
                return Err(PyTypeError::new_err(
                    "BytesView indices must be integers or slices",
                ))
            }
        };
        let pos = if i < 0 { i + len as isize } else { i };
        if pos < 0 || pos >= len as isize {
            return Err(PyIndexError::new_err("BytesView index out of range"));
        }
        Ok(self.bytes[pos as usize].into_pyobject(py)?.into_any())
    }

    /// Export as a 1-D uint8 DLPack tensor on the CPU sharing this memory
    /// (legacy capsule, or a read-only DLPack 1.x one when the consumer
    /// passes `max_version >= (1, 0)`). Consumers must not write to it.
    #[pyo3(signature = (*, stream = None, max_version = None, dl_device = None, copy = None))]
    fn __dlpack__<'py>(
        &self,
        py: Python<'py>,
        stream: Option<Bound<'py, PyAny>>,
        max_version: Option<(u32, u32)>,
        dl_device: Option<(i32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let shape = vec![self.bytes.len() as i64];
        Tensor::uint8(self.bytes.clone(), shape).export(py, stream, max_version, dl_device, copy)
    }

    /// `(kDLCPU, 0)`: the memory is host memory.
    fn __dlpack_device__(&self) -> (i32, i32) {
        dlpack::DEVICE
    }

    /// The same memory as a tensor of `dtype` and `shape` (default: 1-D),
    /// for `torch.from_dlpack` / `jax.numpy.from_dlpack` with no copy.
    #[pyo3(signature = (dtype = "uint8", shape = None))]
    fn as_tensor(&self, dtype: &str, shape: Option<Vec<i64>>) -> PyResult<TensorView> {
        Tensor::shaped(self.bytes.clone(), dtype, shape).map(TensorView::from)
    }

    /// A uint8 Arrow array over the same memory (no copy).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema; // the natural type (uint8) is always exported
        arrow::array_capsules(py, arrow::uint8_array(self.bytes.clone()).as_ref())
    }

    /// A read-only numpy array over the same memory (no copy), viewed as
    /// `dtype` and reshaped to `shape` if given.
    #[pyo3(signature = (dtype = None, shape = None))]
    fn numpy<'py>(
        slf: &Bound<'py, Self>,
        dtype: Option<&Bound<'py, PyAny>>,
        shape: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let np = py.import("numpy")?;
        let dtype = match dtype {
            Some(dtype) => dtype.clone(),
            None => np.getattr("uint8")?,
        };
        let array = np.call_method1("frombuffer", (slf, dtype))?;
        match shape {
            Some(shape) => array.call_method1("reshape", (shape,)),
            None => Ok(array),
        }
    }

    /// Address of the first byte (for zero-copy checks and interop).
    #[getter]
    fn address(&self) -> usize {
        self.bytes.as_ptr() as usize
    }

    fn __repr__(&self) -> String {
        format!(
            "BytesView(len={}, address=0x{:x})",
            self.bytes.len(),
            self.bytes.as_ptr() as usize
        )
    }
}
