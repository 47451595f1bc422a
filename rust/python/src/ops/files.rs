//! `get_to_file` and `put_from_file`: an object saved as a local file, and
//! a local file stored as an object, streamed (the CLI's `download` and
//! `upload`): a large object is never in memory whole, and the
//! destination appears whole or not at all.

use pyo3::prelude::*;
use s3dlio_core::ByteRange;

use crate::input::{options, PyOptions, Uri};
use crate::wait::wait_for;

/// `length` bytes of the object at `uri` from `offset` (all of it by
/// default) saved as the local file `dest` (a `file://` or `direct://`
/// URI), fetched in ranged parts; returns the bytes written.
#[pyfunction]
#[pyo3(signature = (uri, dest, *, offset = 0, length = None, options = None))]
pub fn get_to_file(
    py: Python<'_>,
    uri: Uri,
    dest: Uri,
    offset: u64,
    length: Option<u64>,
    options: PyOptions,
) -> PyResult<u64> {
    let (Uri(uri), Uri(dest)) = (uri, dest);
    let opts = self::options(options);
    let range = ByteRange { offset, length };
    wait_for(
        py,
        &uri,
        s3dlio_core::get_to_file(&uri, range, &dest, &opts),
    )
}

/// The local file `src` (a `file://` or `direct://` URI) stored as the
/// object `uri`: a large file goes up as a multipart upload whose parts
/// are read as they are sent.
#[pyfunction]
#[pyo3(signature = (src, uri, *, options = None))]
pub fn put_from_file(py: Python<'_>, src: Uri, uri: Uri, options: PyOptions) -> PyResult<()> {
    let (Uri(src), Uri(uri)) = (src, uri);
    let opts = self::options(options);
    wait_for(py, &uri, s3dlio_core::put_from_file(&src, &uri, &opts))
}
