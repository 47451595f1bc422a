//! `put` and `put_many`: buffers handed to the store without a copy (the
//! Python objects stay alive, their buffers held open, until written).

use pyo3::prelude::*;

use crate::input::{buffer_bytes, in_flight, options, saturating, PyOptions, Uri};
use crate::wait::{wait, wait_for};

/// Store any buffer-protocol object at `uri` (no copy of the data).
#[pyfunction]
#[pyo3(signature = (uri, data, *, options = None))]
pub fn put(py: Python<'_>, uri: Uri, data: &Bound<'_, PyAny>, options: PyOptions) -> PyResult<()> {
    let Uri(uri) = uri;
    let bytes = buffer_bytes(data, &uri)?;
    let opts = self::options(options);
    wait_for(py, &uri, s3dlio_core::put(&uri, bytes, &opts))
}

/// Store many `(uri, buffer)` pairs in parallel.
#[pyfunction]
#[pyo3(signature = (items, max_in_flight = 64, *, options = None))]
pub fn put_many(
    py: Python<'_>,
    items: Vec<(Uri, Bound<'_, PyAny>)>,
    #[pyo3(from_py_with = saturating)] max_in_flight: i64,
    options: PyOptions,
) -> PyResult<()> {
    let max_in_flight = in_flight(max_in_flight)?;
    let items = items
        .into_iter()
        .map(|(Uri(uri), data)| {
            let bytes = buffer_bytes(&data, &uri)?;
            Ok((uri, bytes))
        })
        .collect::<PyResult<Vec<_>>>()?;
    let opts = self::options(options);
    wait(py, s3dlio_core::put_many(items, max_in_flight, &opts))
}
