//! `put` and `put_many`: buffers handed to the store without a copy (the
//! Python objects stay alive, their buffers held open, until written).
//! `put_many` also takes Arrow input, whose values are written from the
//! producer's own buffers (`crate::input::arrow`).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::input::arrow::{is_arrow, put_items, put_payloads};
use crate::input::{buffer_bytes, in_flight, options, saturating, uri_list, PyOptions, Uri};
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

/// Store many objects in parallel: `(uri, buffer)` pairs; an Arrow table or
/// record batch with columns `uri` and `data`; or URIs with `data=` an
/// Arrow binary array of their contents, in order. No payload is copied.
#[pyfunction]
#[pyo3(signature = (items, max_in_flight = 64, *, data = None, options = None))]
pub fn put_many(
    py: Python<'_>,
    items: &Bound<'_, PyAny>,
    #[pyo3(from_py_with = saturating)] max_in_flight: i64,
    data: Option<Bound<'_, PyAny>>,
    options: PyOptions,
) -> PyResult<()> {
    let pairs = match data.is_none() && !is_arrow(items)? {
        true => Some(pairs(items)?),
        false => None,
    };
    let max_in_flight = in_flight(max_in_flight)?;
    let items = match (pairs, data) {
        (Some(pairs), _) => pairs
            .into_iter()
            .map(|(Uri(uri), data)| buffer_bytes(&data, &uri).map(|bytes| (uri, bytes)))
            .collect::<PyResult<Vec<_>>>()?,
        (None, Some(data)) => put_payloads(uri_list(items)?, &data)?,
        (None, None) => put_items(items)?,
    };
    let opts = self::options(options);
    wait(py, s3dlio_core::put_many(items, max_in_flight, &opts))
}

/// `items` as `(uri, buffer)` pairs; a TypeError names the argument, as
/// for any argument the signature extracts.
fn pairs<'py>(items: &Bound<'py, PyAny>) -> PyResult<Vec<(Uri, Bound<'py, PyAny>)>> {
    items.extract().map_err(|err: PyErr| {
        let py = items.py();
        if !err.is_instance_of::<PyTypeError>(py) {
            return err;
        }
        let named = PyTypeError::new_err(format!("argument 'items': {}", err.value(py)));
        named.set_cause(py, err.cause(py));
        named
    })
}
