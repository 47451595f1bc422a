//! `stat`, `exists`, `list`, `list_meta`, `list_dir` and `delete`: one object's
//! metadata, a prefix's listing, a removal.

use pyo3::prelude::*;

use crate::input::{options, PyOptions, Uri};
use crate::meta::ObjectMeta;
use crate::wait::wait_for;

/// Size, modification time and etag of one object.
#[pyfunction]
#[pyo3(signature = (uri, *, options = None))]
pub fn stat(py: Python<'_>, uri: Uri, options: PyOptions) -> PyResult<ObjectMeta> {
    let Uri(uri) = uri;
    let opts = self::options(options);
    Ok(wait_for(py, &uri, s3dlio_core::stat(&uri, &opts))?.into())
}

/// True if the object exists, False if not found; other errors raise.
#[pyfunction]
#[pyo3(signature = (uri, *, options = None))]
pub fn exists(py: Python<'_>, uri: Uri, options: PyOptions) -> PyResult<bool> {
    let Uri(uri) = uri;
    let opts = self::options(options);
    wait_for(py, &uri, s3dlio_core::exists(&uri, &opts))
}

/// Full URIs of the objects under a prefix, sorted.
#[pyfunction(name = "list")]
#[pyo3(signature = (uri, recursive = true, *, options = None))]
pub fn list_objects(
    py: Python<'_>,
    uri: Uri,
    recursive: bool,
    options: PyOptions,
) -> PyResult<Vec<String>> {
    let Uri(uri) = uri;
    let opts = self::options(options);
    wait_for(py, &uri, s3dlio_core::list(&uri, recursive, &opts))
}

/// Metadata (uri, size, ...) of the objects under a prefix, sorted by URI.
#[pyfunction]
#[pyo3(signature = (uri, recursive = true, *, options = None))]
pub fn list_meta(
    py: Python<'_>,
    uri: Uri,
    recursive: bool,
    options: PyOptions,
) -> PyResult<Vec<ObjectMeta>> {
    let Uri(uri) = uri;
    let opts = self::options(options);
    let metas = wait_for(py, &uri, s3dlio_core::list_meta(&uri, recursive, &opts))?;
    Ok(metas.into_iter().map(ObjectMeta::from).collect())
}

/// Delete one object (FileNotFoundError if it does not exist).
#[pyfunction]
#[pyo3(signature = (uri, *, options = None))]
pub fn delete(py: Python<'_>, uri: Uri, options: PyOptions) -> PyResult<()> {
    let Uri(uri) = uri;
    let opts = self::options(options);
    wait_for(py, &uri, s3dlio_core::delete(&uri, &opts))
}

/// The direct children of a prefix: its objects' metadata and the
/// prefixes one level below (directories), each sorted; one delimited
/// listing on a cloud store.
#[pyfunction]
#[pyo3(signature = (uri, *, options = None))]
pub fn list_dir(
    py: Python<'_>,
    uri: Uri,
    options: PyOptions,
) -> PyResult<(Vec<ObjectMeta>, Vec<String>)> {
    let Uri(uri) = uri;
    let opts = self::options(options);
    let (objects, prefixes) = wait_for(py, &uri, s3dlio_core::list_dir(&uri, &opts))?;
    Ok((objects.into_iter().map(Into::into).collect(), prefixes))
}
