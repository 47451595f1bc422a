//! `ObjectMeta`: what `stat` returns.

use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::prelude::*;

/// Metadata of one object: `.uri`, `.size`, `.last_modified`, `.etag`.
#[pyclass(frozen, module = "s3dlio", name = "ObjectMeta")]
pub struct ObjectMeta {
    /// The object's full URI.
    #[pyo3(get)]
    uri: String,
    /// Size in bytes.
    #[pyo3(get)]
    size: u64,
    modified: Option<SystemTime>,
    /// Entity tag, where the backend has one.
    #[pyo3(get)]
    etag: Option<String>,
}

impl From<s3dlio_core::ObjectMeta> for ObjectMeta {
    fn from(m: s3dlio_core::ObjectMeta) -> Self {
        Self {
            uri: m.uri,
            size: m.size,
            modified: m.last_modified,
            etag: m.etag,
        }
    }
}

#[pymethods]
impl ObjectMeta {
    /// Last modification time as an aware UTC `datetime`, or None.
    #[getter]
    fn last_modified<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(t) = self.modified else {
            return Ok(None);
        };
        let secs = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        };
        let datetime = py.import("datetime")?;
        let utc = datetime.getattr("timezone")?.getattr("utc")?;
        datetime
            .getattr("datetime")?
            .call_method1("fromtimestamp", (secs, utc))
            .map(Some)
    }

    fn __repr__(&self) -> String {
        format!("ObjectMeta(uri={:?}, size={})", self.uri, self.size)
    }
}
