//! `TensorView`: bytes seen as a typed, shaped tensor for DLPack consumers
//! (`BytesView.as_tensor`, `Batch.as_tensor`), with no copy.

use pyo3::prelude::*;

use crate::export::dlpack::{self, Tensor};

/// Bytes seen as a typed, shaped tensor for DLPack consumers (no copy):
/// made by `BytesView.as_tensor` / `Batch.as_tensor`.
#[pyclass(frozen, module = "s3dlio", name = "TensorView")]
pub struct TensorView {
    tensor: Tensor,
}

impl From<Tensor> for TensorView {
    fn from(tensor: Tensor) -> Self {
        Self { tensor }
    }
}

#[pymethods]
impl TensorView {
    /// The shape (in elements).
    #[getter]
    fn shape(&self) -> Vec<i64> {
        self.tensor.shape().to_vec()
    }

    /// Address of the first byte.
    #[getter]
    fn address(&self) -> usize {
        self.tensor.address()
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
        self.tensor.export(py, stream, max_version, dl_device, copy)
    }

    /// `(kDLCPU, 0)`: the memory is host memory.
    fn __dlpack_device__(&self) -> (i32, i32) {
        dlpack::DEVICE
    }
}
