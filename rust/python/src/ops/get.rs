//! `get`, `get_range`, `get_object` and `get_many`: objects fetched into
//! aligned Rust memory and handed out as zero-copy `BytesView`s. Arguments
//! are extracted first, then the GIL is released for the whole I/O.

use pyo3::prelude::*;
use s3dlio_core::{ByteRange, Error, Options};

use crate::errors::to_pyerr;
use crate::export::view::BytesView;
use crate::input::{
    in_flight, non_negative, options, saturating, saturating_opt, uri_list, PyOptions, Uri,
};
use crate::wait::{detached, wait_for};

/// The whole object at `uri`, as a zero-copy BytesView.
#[pyfunction]
#[pyo3(signature = (uri, *, options = None))]
pub fn get(py: Python<'_>, uri: Uri, options: PyOptions) -> PyResult<BytesView> {
    fetch_one(py, uri.0, ByteRange::FULL, options)
}

/// One object or range: local ones read right on this thread (GIL
/// released), remote ones through the runtime.
fn fetch_one(
    py: Python<'_>,
    uri: String,
    range: ByteRange,
    options: PyOptions,
) -> PyResult<BytesView> {
    let opts = local_options(&uri, options);
    let local = detached(py, &uri, || {
        Ok(s3dlio_core::get_local_now(&uri, range, &opts))
    })?;
    if let Some(result) = local {
        return result.map(BytesView::new).map_err(to_pyerr);
    }
    let opts = self::options(Some(
        opts.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    ));
    let what = uri.clone();
    let bytes = wait_for(py, &what, async move {
        match range.is_full() {
            true => s3dlio_core::get(&uri, &opts).await,
            false => s3dlio_core::get_range(&uri, range.offset, range.length, &opts).await,
        }
    })?;
    Ok(BytesView::new(bytes))
}

/// Options for a call that may stay local: `file://` needs none (so the
/// environment is not even read); anything else gets the full set.
fn local_options(uri: &str, options: PyOptions) -> Options {
    match (uri.starts_with("file://"), options) {
        (true, None) => Options::empty(),
        (_, options) => self::options(options),
    }
}

/// `length` bytes of the object from `offset` (to the end when None). A
/// range running past the end is cut at it; `offset == size` gives an
/// empty view; `offset > size` raises ValueError.
#[pyfunction]
#[pyo3(signature = (uri, offset, length = None, *, options = None))]
pub fn get_range(
    py: Python<'_>,
    uri: Uri,
    #[pyo3(from_py_with = saturating)] offset: i64,
    #[pyo3(from_py_with = saturating_opt)] length: Option<i64>,
    options: PyOptions,
) -> PyResult<BytesView> {
    let Uri(uri) = uri;
    let offset = non_negative("offset", offset, &uri)?;
    let length = length
        .map(|l| non_negative("length", l, &uri))
        .transpose()?;
    let opts = self::options(options);
    let bytes = wait_for(
        py,
        &uri,
        s3dlio_core::get_range(&uri, offset, length, &opts),
    )?;
    Ok(BytesView::new(bytes))
}

/// `get(f"s3://{bucket}/{key}")`; a bucket name with a `/` in it is refused
/// (it would silently move part of it into the key).
#[pyfunction]
#[pyo3(signature = (bucket, key, *, options = None))]
pub fn get_object(
    py: Python<'_>,
    bucket: Uri,
    key: Uri,
    options: PyOptions,
) -> PyResult<BytesView> {
    let uri = format!("s3://{}/{}", bucket.0, key.0);
    if bucket.0.contains('/') {
        return Err(to_pyerr(Error::InvalidUri {
            uri,
            reason: format!("bucket name {:?} contains '/'", bucket.0),
        }));
    }
    fetch_one(py, uri, ByteRange::FULL, options)
}

/// Fetch many objects in parallel; `[(uri, BytesView)]` in input order.
#[pyfunction]
#[pyo3(signature = (uris, max_in_flight = 64, *, options = None))]
pub fn get_many(
    py: Python<'_>,
    #[pyo3(from_py_with = uri_list)] uris: Vec<String>,
    #[pyo3(from_py_with = saturating)] max_in_flight: i64,
    options: PyOptions,
) -> PyResult<Vec<(String, BytesView)>> {
    let max_in_flight = in_flight(max_in_flight)?;
    let opts = self::options(options);
    let what = format!("get_many of {} URIs", uris.len());
    let payloads = wait_for(
        py,
        &what,
        s3dlio_core::get_many(&uris, max_in_flight, &opts),
    )?;
    Ok(uris
        .into_iter()
        .zip(payloads)
        .map(|(uri, bytes)| (uri, BytesView::new(bytes)))
        .collect())
}
