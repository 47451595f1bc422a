//! `get_batch` and `read_table`: many objects fetched straight into the
//! rows of one contiguous buffer, handed out as a `Batch` or an Arrow `Table`.

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyString;
use s3dlio_core::buffer::AlignedBuf;
use s3dlio_core::BatchMemory;

use crate::errors::invalid_argument;
use crate::export::batch::Batch;
use crate::export::table::Table;
use crate::input::{in_flight, options, saturating, uri_list, PyOptions, Uri};
use crate::pinned::PinnedPool;
use crate::wait::wait_for;

/// Sizes for `get_batch`: one per URI, or one for all.
#[derive(FromPyObject)]
pub enum Sizes {
    All(u64),
    Each(Vec<u64>),
}

/// Fetch objects into one contiguous buffer as a `Batch` (row i = object i):
/// a slab of `pinned` (a `PinnedPool`) when given, else `out` when given,
/// else a buffer of the process-wide pool. `s3dlio.get_batch` resolves
/// `pinned=True` to the default pool before calling this (in Python).
#[pyfunction]
#[pyo3(signature = (uris, max_in_flight = 64, *, sizes = None, options = None, pinned = None, out = None))]
#[allow(clippy::too_many_arguments)] // the Python signature
pub fn get_batch(
    py: Python<'_>,
    #[pyo3(from_py_with = uri_list)] uris: Vec<String>,
    #[pyo3(from_py_with = saturating)] max_in_flight: i64,
    sizes: Option<Sizes>,
    options: PyOptions,
    pinned: Option<PyRef<'_, PinnedPool>>,
    out: Option<Bound<'_, PyAny>>,
) -> PyResult<Batch> {
    let max_in_flight = in_flight(max_in_flight)?;
    let sizes = sizes.map(|s| match s {
        Sizes::All(size) => vec![size; uris.len()],
        Sizes::Each(sizes) => sizes,
    });
    let opts = self::options(options);
    let (landing, registered) = match (&pinned, out) {
        (Some(_), Some(_)) => {
            return Err(invalid_argument(
                "get_batch: give pinned or out, not both".into(),
            ))
        }
        (None, Some(out)) => (BatchMemory::Into(output_buffer(&out)?), false),
        (Some(pool), None) => (BatchMemory::Pool(pool.pool()), pool.pool().has_hooks()),
        (None, None) => (BatchMemory::Pool(s3dlio_core::pool::global()), false),
    };
    let what = format!("get_batch of {} URIs", uris.len());
    let batch = wait_for(
        py,
        &what,
        s3dlio_core::get_batch_in(&uris, sizes.as_deref(), max_in_flight, &opts, landing),
    )?;
    Ok(Batch::new(batch, registered))
}

/// A writable, C-contiguous, 64-byte-aligned buffer-protocol object as the
/// memory a batch is written into (kept alive as long as the batch).
fn output_buffer(out: &Bound<'_, PyAny>) -> PyResult<AlignedBuf> {
    let buffer = PyBuffer::<u8>::get(out)
        .map_err(|e| invalid_argument(format!("get_batch: out must be a uint8 buffer: {e}")))?;
    if buffer.readonly() || !buffer.is_c_contiguous() {
        return Err(invalid_argument(
            "get_batch: out must be writable and C-contiguous".into(),
        ));
    }
    let ptr = std::ptr::NonNull::new(buffer.buf_ptr().cast::<u8>())
        .unwrap_or(std::ptr::NonNull::dangling());
    let len = buffer.len_bytes();
    // SAFETY: the exporter keeps `len` writable bytes at `ptr` while the
    // PyBuffer (moved into the AlignedBuf) lives; the caller hands the
    // memory over for the fill.
    unsafe { AlignedBuf::borrowed(ptr, len, Box::new(buffer)) }
        .map_err(|e| invalid_argument(format!("get_batch: out: {e}")))
}

/// Fetch objects (a list of URIs, or a prefix to list) as an Arrow `Table`.
#[pyfunction]
#[pyo3(signature = (uris, max_in_flight = 64, *, options = None))]
pub fn read_table(
    py: Python<'_>,
    uris: UrisOrPrefix,
    #[pyo3(from_py_with = saturating)] max_in_flight: i64,
    options: PyOptions,
) -> PyResult<Table> {
    let max_in_flight = in_flight(max_in_flight)?;
    let opts = self::options(options);
    let batch = wait_for(py, "read_table", async move {
        let (uris, sizes) = match uris {
            UrisOrPrefix::Prefix(prefix) => {
                let metas = s3dlio_core::list_meta(&prefix, true, &opts).await?;
                metas.into_iter().map(|m| (m.uri, m.size)).unzip()
            }
            UrisOrPrefix::Uris(uris) => (uris, Vec::new()),
        };
        let sizes = (!sizes.is_empty() || uris.is_empty()).then_some(sizes);
        s3dlio_core::get_batch(&uris, sizes.as_deref(), max_in_flight, &opts).await
    })?;
    Table::from_batch(&batch)
}

/// A list of URIs, or one string: a prefix to list.
pub enum UrisOrPrefix {
    Prefix(String),
    Uris(Vec<String>),
}

impl FromPyObject<'_, '_> for UrisOrPrefix {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        if obj.is_instance_of::<PyString>() {
            return Ok(Self::Prefix(obj.extract::<Uri>()?.0));
        }
        Ok(Self::Uris(uri_list(&obj)?))
    }
}
