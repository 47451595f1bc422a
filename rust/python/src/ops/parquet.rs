//! `read_parquet`, `parquet_info` and `take_rows`: the columns and row
//! groups of Parquet files as a `Table` of Arrow record batches decoded in
//! Rust, a file's footer alone as a `ParquetInfo`, and rows gathered from
//! tables into one batch (a shuffled batch of a loader).

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use pyo3_arrow::ffi::to_schema_pycapsule;
use s3dlio_core::{Error, ParquetRead};

use crate::errors::{invalid_argument, to_pyerr};
use crate::export::table::Table;
use crate::input::{in_flight, options, saturating, PyOptions, Uri};
use crate::ops::batch::UrisOrPrefix;
use crate::wait::wait_for;

/// What a Parquet file's footer says: `.num_rows`, `.row_groups` (rows and
/// compressed bytes of each), `.schema` (Arrow; `pyarrow.schema(info.schema)`).
#[pyclass(frozen, module = "s3dlio", name = "ParquetInfo")]
pub struct ParquetInfo {
    /// Rows in the file.
    #[pyo3(get)]
    num_rows: u64,
    /// `(rows, compressed bytes)` of each row group.
    #[pyo3(get)]
    row_groups: Vec<(u64, u64)>,
    schema: SchemaRef,
}

#[pymethods]
impl ParquetInfo {
    /// The Arrow schema (an object with `__arrow_c_schema__`).
    #[getter]
    fn schema(&self) -> ArrowSchema {
        ArrowSchema(self.schema.clone())
    }

    /// The top-level column names.
    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "ParquetInfo(num_rows={}, row_groups={}, columns={:?})",
            self.num_rows,
            self.row_groups.len(),
            self.column_names()
        )
    }
}

/// An Arrow schema, read through `__arrow_c_schema__` (`pyarrow.schema(s)`).
#[pyclass(frozen, module = "s3dlio", name = "ArrowSchema")]
pub struct ArrowSchema(SchemaRef);

#[pymethods]
impl ArrowSchema {
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        Ok(to_schema_pycapsule(py, self.0.as_ref())?)
    }

    fn __repr__(&self) -> String {
        format!("ArrowSchema({})", self.0)
    }
}

/// The footer of the Parquet file at `uri`, read alone (one ranged read of
/// its end for most files).
#[pyfunction]
#[pyo3(signature = (uri, *, options = None))]
pub fn parquet_info(py: Python<'_>, uri: Uri, options: PyOptions) -> PyResult<ParquetInfo> {
    let (Uri(uri), opts) = (uri, self::options(options));
    let what = uri.clone();
    let info = wait_for(py, &what, async move {
        s3dlio_core::parquet_info(&uri, &opts).await
    })?;
    Ok(ParquetInfo {
        num_rows: info.num_rows,
        row_groups: info.row_groups,
        schema: info.schema,
    })
}

/// The chosen columns (all when None) and row groups (of every file; all
/// when None) of the Parquet files `uris` (a list, or a prefix string
/// ending in `/` whose `.parquet` objects are read in name order), as one
/// Table, rows in file order; a batch is a row group, or `batch_size` rows.
#[pyfunction]
#[pyo3(signature = (uris, *, columns = None, row_groups = None, batch_size = None,
                    max_in_flight = 64, options = None))]
#[allow(clippy::too_many_arguments)]
pub fn read_parquet(
    py: Python<'_>,
    uris: UrisOrPrefix,
    columns: Option<Vec<String>>,
    row_groups: Option<Vec<usize>>,
    batch_size: Option<usize>,
    #[pyo3(from_py_with = saturating)] max_in_flight: i64,
    options: PyOptions,
) -> PyResult<Table> {
    let max_in_flight = in_flight(max_in_flight)?;
    let opts = self::options(options);
    let read = ParquetRead {
        columns,
        row_groups,
        batch_size,
    };
    let what = match &uris {
        UrisOrPrefix::Prefix(p) => p.clone(),
        UrisOrPrefix::Uris(u) if u.len() == 1 => u[0].clone(),
        UrisOrPrefix::Uris(u) => format!("{} Parquet files", u.len()),
    };
    let table = wait_for(py, &what, async move {
        let uris = match uris {
            UrisOrPrefix::Uris(uris) => uris,
            UrisOrPrefix::Prefix(p) if p.ends_with('/') => {
                let mut found = s3dlio_core::list(&p, true, &opts).await?;
                found.retain(|u| u.ends_with(".parquet"));
                found.sort();
                found
            }
            UrisOrPrefix::Prefix(uri) => vec![uri],
        };
        s3dlio_core::read_parquet(&uris, &read, max_in_flight, &opts).await
    })?;
    Ok(Table::new(table.schema, table.batches, what))
}

/// Rows gathered from `tables` into one table of one batch: `rows` are
/// `(table, row)` pairs, every table of one batch and of one schema.
#[pyfunction]
pub fn take_rows(tables: Vec<PyRef<'_, Table>>, rows: Vec<(usize, usize)>) -> PyResult<Table> {
    let mut batches: Vec<RecordBatch> = Vec::with_capacity(tables.len());
    for table in &tables {
        match table.batches() {
            [batch] => batches.push(batch.clone()),
            other => {
                return Err(invalid_argument(format!(
                    "{}: take_rows needs tables of one record batch, not {}",
                    table.origin(),
                    other.len()
                )))
            }
        }
    }
    let Some(first) = batches.first() else {
        return Err(invalid_argument(
            "take_rows needs at least one table".to_owned(),
        ));
    };
    let schema = first.schema();
    // interleave_record_batch indexes every batch's columns by the first
    // one's and panics on a batch of fewer: check the columns here (their
    // fields; schema metadata may differ between files).
    let names = |b: &RecordBatch| -> Vec<String> {
        b.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    };
    if let Some(t) = batches
        .iter()
        .position(|b| b.schema().fields() != schema.fields())
    {
        return Err(invalid_argument(format!(
            "take_rows: table {t} ({}) has columns {:?} of other types or names than table 0's {:?}",
            tables[t].origin(),
            names(&batches[t]),
            names(first)
        )));
    }
    for (t, r) in &rows {
        if batches.get(*t).is_none_or(|b| *r >= b.num_rows()) {
            return Err(invalid_argument(format!(
                "take_rows: no row {r} in table {t} of {}",
                batches.len()
            )));
        }
    }
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    let taken = arrow_select::interleave::interleave_record_batch(&refs, &rows)
        .map_err(|e| to_pyerr(Error::InvalidArgument(format!("take_rows: {e}"))))?;
    let origin = tables[0].origin().to_owned();
    Ok(Table::new(Arc::clone(&schema), vec![taken], origin))
}
