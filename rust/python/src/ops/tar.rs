//! `read_tar` and `tar_index`: a tar shard's members as zero-copy views of
//! the one buffer it is fetched into, and its index from header reads
//! alone (`TarMember`s, pickleable so an index can be saved).

use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};

use crate::errors::to_pyerr;
use crate::export::view::BytesView;
use crate::input::{buffer_bytes, options, PyOptions, Uri};
use crate::wait::{detached, wait_for};

/// One regular file of a tar shard: `.name`, `.offset` (of its data in the
/// shard) and `.size` (of its data, in bytes).
#[pyclass(frozen, eq, hash, module = "s3dlio", name = "TarMember")]
#[derive(PartialEq, Eq, Hash)]
pub struct TarMember {
    /// Its path in the archive.
    #[pyo3(get)]
    name: String,
    /// The offset of its data in the shard.
    #[pyo3(get)]
    offset: u64,
    /// The size of its data, in bytes.
    #[pyo3(get)]
    size: u64,
}

#[pymethods]
impl TarMember {
    #[new]
    fn new(name: String, offset: u64, size: u64) -> Self {
        Self { name, offset, size }
    }

    /// Pickled as the call that makes it again.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyType>, (String, u64, u64))> {
        let m = slf.get();
        Ok((slf.get_type(), (m.name.clone(), m.offset, m.size)))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let name = PyString::new(py, &self.name).repr()?;
        Ok(format!(
            "TarMember(name={name}, offset={}, size={})",
            self.offset, self.size
        ))
    }
}

/// The regular files of the tar shard at `uri`, fetched once: `[(name,
/// BytesView)]` in archive order, every view a slice of the one buffer.
#[pyfunction]
#[pyo3(signature = (uri, *, options = None))]
pub fn read_tar(
    py: Python<'_>,
    uri: Uri,
    options: PyOptions,
) -> PyResult<Vec<(String, BytesView)>> {
    let (Uri(uri), opts) = (uri, self::options(options));
    let what = uri.clone();
    let members = wait_for(py, &what, async move {
        s3dlio_core::read_tar(&uri, &opts).await
    })?;
    Ok(members
        .into_iter()
        .map(|(name, bytes)| (name, BytesView::new(bytes)))
        .collect())
}

/// The regular files of the tar shard at `uri` as `TarMember`s, found by
/// ranged reads of its headers that skip the members' data.
#[pyfunction]
#[pyo3(signature = (uri, *, options = None))]
pub fn tar_index(py: Python<'_>, uri: Uri, options: PyOptions) -> PyResult<Vec<TarMember>> {
    let (Uri(uri), opts) = (uri, self::options(options));
    let what = uri.clone();
    let index = wait_for(py, &what, async move {
        s3dlio_core::tar_index(&uri, &opts).await
    })?;
    Ok(index
        .members
        .into_iter()
        .map(|m| TarMember::new(m.name, m.offset, m.size))
        .collect())
}

/// The regular files of a tar shard already in memory (`shard`, any
/// buffer: the object at `uri` as `get` returned it) as `TarMember`s:
/// offsets into `shard`, so that its members can be sliced out of it.
#[pyfunction]
pub fn tar_listing(py: Python<'_>, shard: &Bound<'_, PyAny>, uri: Uri) -> PyResult<Vec<TarMember>> {
    let Uri(uri) = uri;
    let bytes = buffer_bytes(shard, &uri)?;
    let members = detached(py, &uri, || {
        s3dlio_core::tar_listing(&uri, &bytes).map_err(to_pyerr)
    })?;
    Ok(members
        .into_iter()
        .map(|m| TarMember::new(m.name, m.offset, m.size))
        .collect())
}
