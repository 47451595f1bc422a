//! `Batch`: many objects in one contiguous buffer, shared with numpy,
//! torch, JAX and pyarrow without a copy.

use pyo3::exceptions::{PyBufferError, PyIndexError, PyOverflowError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use s3dlio_core::Batch as CoreBatch;

use crate::export::arrow;
use crate::export::dlpack::{self, Tensor};
use crate::export::table::Table;
use crate::export::tensor::TensorView;
use crate::export::view::BytesView;

/// Objects fetched into one contiguous, 64-byte-aligned buffer, row `i`
/// being object `i`. `batch[i]` is a zero-copy BytesView of a row;
/// `__arrow_c_array__` a binary array over the buffer; when every object
/// has the same size, `__dlpack__` a 2-D uint8 `[n, size]` tensor over it.
#[pyclass(frozen, module = "s3dlio", name = "Batch")]
pub struct Batch {
    inner: CoreBatch,
    pinned: bool,
}

impl Batch {
    /// `pinned`: the buffer is a registered (page-locked) slab.
    pub fn new(inner: CoreBatch, pinned: bool) -> Self {
        Self { inner, pinned }
    }

    /// The one size of every row (0 for an empty batch), or a BufferError
    /// saying that `method` needs equal sizes.
    fn row_size(&self, method: &str) -> PyResult<u64> {
        match self.inner.uniform_size() {
            Some(size) => Ok(size),
            None if self.inner.is_empty() => Ok(0),
            None => Err(PyBufferError::new_err(format!(
                "Batch.{method} needs objects of one size; index the batch or use Arrow"
            ))),
        }
    }
}

#[pymethods]
impl Batch {
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __getitem__(&self, index: &Bound<'_, PyAny>) -> PyResult<BytesView> {
        let index = match index.extract::<isize>() {
            Ok(index) => index,
            // Too large for any index: out of range, as for a list.
            Err(err) if err.is_instance_of::<PyOverflowError>(index.py()) => {
                return Err(PyIndexError::new_err("Batch index out of range"))
            }
            Err(_) => {
                return Err(PyTypeError::new_err(format!(
                    "Batch indices must be integers, not {}",
                    index.get_type().name()?
                )))
            }
        };
        let n = self.inner.len() as isize;
        let i = if index < 0 { index + n } else { index };
        if i < 0 || i >= n {
            return Err(PyIndexError::new_err("Batch index out of range"));
        }
        Ok(BytesView::new(self.inner.item(i as usize)))
    }

    /// The URIs, in input order.
    #[getter]
    fn uris(&self) -> Vec<String> {
        self.inner.uris.clone()
    }

    /// Each object's size in bytes.
    #[getter]
    fn sizes(&self) -> Vec<u64> {
        self.inner.sizes().collect()
    }

    /// The size every object has, or None when sizes differ (or the batch is empty).
    #[getter]
    fn uniform_size(&self) -> Option<u64> {
        self.inner.uniform_size()
    }

    /// True when the buffer is a slab of a registered `PinnedPool`
    /// (page-locked: device copies from it need no staging copy).
    #[getter]
    fn pinned(&self) -> bool {
        self.pinned
    }

    /// Total bytes held.
    #[getter]
    fn nbytes(&self) -> usize {
        self.inner.data.len()
    }

    /// Address of the buffer's first byte.
    #[getter]
    fn address(&self) -> usize {
        self.inner.data.as_ptr() as usize
    }

    /// The whole buffer as one zero-copy BytesView.
    fn buffer(&self) -> BytesView {
        BytesView::new(self.inner.data.clone())
    }

    /// A binary Arrow array (one value per object) over the batch buffer.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema; // the natural type is always exported
        let array = arrow::binary_array(self.inner.data.clone(), &self.inner.offsets);
        arrow::array_capsules(py, array.as_ref())
    }

    /// A 2-D uint8 `[n, size]` DLPack tensor over the batch buffer; only
    /// when every object has the same size (else BufferError).
    #[pyo3(signature = (*, stream = None, max_version = None, dl_device = None, copy = None))]
    fn __dlpack__<'py>(
        &self,
        py: Python<'py>,
        stream: Option<Bound<'py, PyAny>>,
        max_version: Option<(u32, u32)>,
        dl_device: Option<(i32, i32)>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let size = self.row_size("__dlpack__")?;
        let shape = vec![self.inner.len() as i64, size as i64];
        Tensor::uint8(self.inner.data.clone(), shape).export(
            py,
            stream,
            max_version,
            dl_device,
            copy,
        )
    }

    /// `(kDLCPU, 0)`: the memory is host memory.
    fn __dlpack_device__(&self) -> (i32, i32) {
        dlpack::DEVICE
    }

    /// The whole buffer as a tensor of `dtype` and `shape` (default
    /// `[n, -1]`, which needs equal sizes), with no copy.
    #[pyo3(signature = (dtype = "uint8", shape = None))]
    fn as_tensor(&self, dtype: &str, shape: Option<Vec<i64>>) -> PyResult<TensorView> {
        let shape = shape.unwrap_or_else(|| vec![self.inner.len() as i64, -1]);
        self.row_size("as_tensor")?;
        Tensor::shaped(self.inner.data.clone(), dtype, Some(shape)).map(TensorView::from)
    }

    /// The batch as a `Table` (columns uri, size, data).
    fn to_table(&self) -> PyResult<Table> {
        Table::from_batch(&self.inner)
    }

    fn __repr__(&self) -> String {
        format!(
            "Batch(len={}, nbytes={}, uniform_size={:?})",
            self.inner.len(),
            self.inner.data.len(),
            self.inner.uniform_size()
        )
    }
}
