//! `TensorView`: bytes seen as a typed, shaped tensor for DLPack consumers
//! (`BytesView.as_tensor`, `Batch.as_tensor`), with no copy.

use bytes::Bytes;
use pyo3::prelude::*;

use crate::errors::invalid_argument;
use crate::export::dlpack;

/// Bytes seen as a typed, shaped tensor for DLPack consumers (no copy):
/// made by `BytesView.as_tensor` / `Batch.as_tensor`.
#[pyclass(frozen, module = "s3dlio", name = "TensorView")]
pub struct TensorView {
    bytes: Bytes,
    dtype: dlpack::DType,
    shape: Vec<i64>,
}

impl TensorView {
    /// Check that `shape` (one dimension may be -1) of `dtype` covers exactly `bytes`.
    pub fn new(bytes: Bytes, dtype: &str, shape: Option<Vec<i64>>) -> PyResult<Self> {
        let Some(dt) = dlpack::DType::parse(dtype) else {
            return Err(invalid_argument(format!("unsupported dtype {dtype:?}")));
        };
        let itemsize = dt.itemsize();
        if !bytes.len().is_multiple_of(itemsize)
            || !(bytes.as_ptr() as usize).is_multiple_of(itemsize)
        {
            return Err(invalid_argument(format!(
                "{} bytes at 0x{:x} cannot be viewed as {dtype}",
                bytes.len(),
                bytes.as_ptr() as usize
            )));
        }
        let count = (bytes.len() / itemsize) as i64;
        let mut shape = shape.unwrap_or_else(|| vec![count]);
        let unknown: Vec<usize> = (0..shape.len()).filter(|&i| shape[i] == -1).collect();
        let known: i64 = shape.iter().filter(|&&d| d != -1).product();
        if unknown.len() > 1 || shape.iter().any(|&d| d < -1) {
            return Err(invalid_argument(format!("invalid shape {shape:?}")));
        }
        if let [i] = unknown[..] {
            if known == 0 || count % known != 0 {
                return Err(invalid_argument(format!(
                    "shape {shape:?} does not fit {count} elements of {dtype}"
                )));
            }
            shape[i] = count / known;
        }
        if shape.iter().product::<i64>() != count {
            return Err(invalid_argument(format!(
                "shape {shape:?} does not cover {count} elements of {dtype}"
            )));
        }
        Ok(Self {
            bytes,
            dtype: dt,
            shape,
        })
    }
}

#[pymethods]
impl TensorView {
    /// The shape (in elements).
    #[getter]
    fn shape(&self) -> Vec<i64> {
        self.shape.clone()
    }

    /// Address of the first byte.
    #[getter]
    fn address(&self) -> usize {
        self.bytes.as_ptr() as usize
    }

    /// A DLPack capsule of this dtype and shape over the shared memory.
    #[pyo3(signature = (*, stream = None, max_version = None, dl_device = None, copy = None))]
    fn __dlpack__<'py>(
        &self,
        py: Python<'py>,
        stream: Option<Bound<'py, PyAny>>,
        max_version: Option<(u32, u32)>,
        dl_device: Option<(i32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = stream; // host memory: no stream to synchronise with
        let bytes = self.bytes.clone();
        dlpack::export(
            py,
            bytes,
            self.dtype,
            &self.shape,
            max_version,
            dl_device,
            copy,
        )
    }

    /// `(kDLCPU, 0)`: the memory is host memory.
    fn __dlpack_device__(&self) -> (i32, i32) {
        (dlpack::DEVICE_CPU, 0)
    }
}
