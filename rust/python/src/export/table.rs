//! `Table`: Arrow record batches of one schema (a batch of objects as
//! `uri`, `size`, `data`; the columns read from Parquet files), read by
//! pyarrow, polars or duckdb through the C stream interface with no copy,
//! and its columns as tensors or Arrow arrays over the same buffers.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use s3dlio_core::Batch as CoreBatch;

use crate::errors::invalid_argument;
use crate::export::arrow;
use crate::export::column::{column_tensor, has_tensor_form, Column};
use crate::export::tensor::TensorView;

/// Arrow record batches of one schema. Read it with `pyarrow.table(t)`
/// (or polars, duckdb) through `__arrow_c_stream__`, with no copy; a
/// column of one batch is a tensor (`tensor`) or an Arrow array
/// (`column`) over the same memory.
#[pyclass(frozen, module = "s3dlio", name = "Table")]
pub struct Table {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    /// Where the rows come from, for messages (a URI, or a count of files).
    origin: String,
}

impl Table {
    pub fn from_batch(batch: &CoreBatch) -> PyResult<Self> {
        let batch = arrow::table_batch(&batch.uris, &batch.offsets, batch.data.clone())?;
        Ok(Self::new(
            batch.schema(),
            vec![batch],
            "the batch".to_owned(),
        ))
    }

    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>, origin: String) -> Self {
        Self {
            schema,
            batches,
            origin,
        }
    }

    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The table's only batch; an error naming `what` asks for `batches()`.
    fn single(&self, what: &str) -> PyResult<RecordBatch> {
        match &self.batches[..] {
            [batch] => Ok(batch.clone()),
            [] => Ok(RecordBatch::new_empty(self.schema.clone())),
            many => Err(invalid_argument(format!(
                "{}: {what} needs a table of one record batch, this one has {} (use batches())",
                self.origin,
                many.len()
            ))),
        }
    }

    fn column_of(&self, name: &str, what: &str) -> PyResult<arrow_array::ArrayRef> {
        let batch = self.single(what)?;
        batch.column_by_name(name).cloned().ok_or_else(|| {
            invalid_argument(format!(
                "{}: no column {name:?} (it has {:?})",
                self.origin,
                self.column_names()
            ))
        })
    }
}

#[pymethods]
impl Table {
    /// Number of rows.
    #[getter]
    fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    fn __len__(&self) -> usize {
        self.num_rows()
    }

    /// Column names.
    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// The columns whose type has a tensor form (`tensor`): fixed-width
    /// numbers, and fixed-size lists of them.
    #[getter]
    fn tensor_columns(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .filter(|f| has_tensor_form(f.data_type()))
            .map(|f| f.name().clone())
            .collect()
    }

    /// Number of record batches.
    #[getter]
    fn num_batches(&self) -> usize {
        self.batches.len()
    }

    /// Each record batch as a table of its own (no copy).
    #[pyo3(name = "batches")]
    fn py_batches(&self) -> Vec<Table> {
        self.batches
            .iter()
            .map(|b| Table::new(self.schema.clone(), vec![b.clone()], self.origin.clone()))
            .collect()
    }

    /// Rows `offset..offset + length` (no copy).
    fn slice(&self, offset: usize, length: usize) -> PyResult<Table> {
        let batch = self.single("slice")?;
        if offset.saturating_add(length) > batch.num_rows() {
            return Err(invalid_argument(format!(
                "{}: rows {offset}..{} past the table's {}",
                self.origin,
                offset.saturating_add(length),
                batch.num_rows()
            )));
        }
        Ok(Table::new(
            self.schema.clone(),
            vec![batch.slice(offset, length)],
            self.origin.clone(),
        ))
    }

    /// Column `name` of a one-batch table as a tensor over its Arrow
    /// buffer (no copy): fixed-width numbers 1-D, fixed-size lists of
    /// them 2-D. Nulls, and other types, are an InvalidArgumentError
    /// naming the column (read those with `column`).
    fn tensor(&self, name: &str) -> PyResult<TensorView> {
        let array = self.column_of(name, "tensor")?;
        column_tensor(&self.origin, name, &array).map(TensorView::from)
    }

    /// Column `name` of a one-batch table as an Arrow array (no copy).
    fn column(&self, name: &str) -> PyResult<Column> {
        let array = self.column_of(name, "column")?;
        Ok(Column::new(name.to_owned(), array))
    }

    /// An Arrow C stream of the table's batches.
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema; // the natural schema is always exported
        arrow::stream_capsule(py, self.schema.clone(), self.batches.clone())
    }

    fn __repr__(&self) -> String {
        format!(
            "Table(num_rows={}, columns={:?})",
            self.num_rows(),
            self.column_names()
        )
    }
}
