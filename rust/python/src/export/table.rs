//! `Table`: the Arrow table of a batch (`uri`, `size`, `data`), read by
//! pyarrow, polars or duckdb through the C stream interface with no copy.

use arrow_array::RecordBatch;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use s3dlio_core::Batch as CoreBatch;

use crate::export::arrow;

/// An Arrow table of objects: columns `uri: string`, `size: int64`,
/// `data: binary` (large_binary past 2 GiB), one row per object. Read it
/// with `pyarrow.table(t)` (or polars, duckdb) through
/// `__arrow_c_stream__`; the `data` values are the fetched memory.
#[pyclass(frozen, module = "s3dlio", name = "Table")]
pub struct Table {
    batch: RecordBatch,
}

impl Table {
    pub fn from_batch(batch: &CoreBatch) -> PyResult<Self> {
        Ok(Self {
            batch: arrow::table_batch(&batch.uris, &batch.offsets, batch.data.clone())?,
        })
    }
}

#[pymethods]
impl Table {
    /// Number of rows (objects).
    #[getter]
    fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    fn __len__(&self) -> usize {
        self.batch.num_rows()
    }

    /// Column names.
    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// An Arrow C stream of the table (one record batch).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema; // the natural schema is always exported
        arrow::stream_capsule(py, self.batch.clone())
    }

    fn __repr__(&self) -> String {
        format!(
            "Table(num_rows={}, columns=[uri, size, data])",
            self.batch.num_rows()
        )
    }
}
