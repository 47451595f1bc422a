//! `ObjectWriter`: one object written in pieces (what `s3dlio.fsspec`
//! opens for `"wb"`), streamed as a multipart upload or a temporary file
//! and published only by `close()`. Each `write` copies the caller's bytes
//! once, into the part being filled, with the GIL released; a writer that
//! fails, is aborted, or is collected unclosed leaves nothing behind.

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::input::{buffer_bytes, options, PyOptions, Uri};
use crate::wait::wait_for;

/// A writer of the object at `uri`; see the module docs.
#[pyclass(frozen, module = "s3dlio", name = "ObjectWriter")]
pub struct ObjectWriter {
    uri: String,
    /// `None` once closed, aborted or failed (and while a call uses it).
    inner: Mutex<Option<s3dlio_core::ObjectWriter>>,
    written: Mutex<u64>,
}

impl ObjectWriter {
    fn take(&self) -> PyResult<s3dlio_core::ObjectWriter> {
        let taken = self.inner.lock().expect("writer lock").take();
        taken.ok_or_else(|| {
            crate::errors::to_pyerr(s3dlio_core::Error::InvalidArgument(format!(
                "{}: the writer is closed (closed, aborted or failed), \
                 or in use by another thread",
                self.uri
            )))
        })
    }
}

#[pymethods]
impl ObjectWriter {
    #[new]
    #[pyo3(signature = (uri, *, options = None))]
    fn new(py: Python<'_>, uri: Uri, options: PyOptions) -> PyResult<Self> {
        let Uri(uri) = uri;
        let opts = self::options(options);
        let writer = wait_for(py, &uri, s3dlio_core::open_writer(&uri, &opts))?;
        Ok(Self {
            uri,
            inner: Mutex::new(Some(writer)),
            written: Mutex::new(0),
        })
    }

    /// Append the bytes of any buffer-protocol object; returns how many.
    /// A failure aborts the object and closes the writer.
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let bytes = buffer_bytes(data, &self.uri)?;
        let len = bytes.len();
        let mut writer = self.take()?;
        // On failure the writer is dropped inside the call: aborted.
        let writer = wait_for(py, &self.uri, async move {
            writer.write(bytes).await.map(|()| writer)
        })?;
        *self.written.lock().expect("writer lock") = writer.written();
        *self.inner.lock().expect("writer lock") = Some(writer);
        Ok(len)
    }

    /// Publish the object (everything written, at once). Closing a closed,
    /// aborted or failed writer does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let Some(mut writer) = self.inner.lock().expect("writer lock").take() else {
            return Ok(());
        };
        wait_for(py, &self.uri, async move { writer.finish().await })
    }

    /// Discard everything written: nothing appears under the URI.
    fn abort(&self, py: Python<'_>) -> PyResult<()> {
        let Some(mut writer) = self.inner.lock().expect("writer lock").take() else {
            return Ok(());
        };
        wait_for(py, &self.uri, async move {
            writer.abort().await;
            Ok(())
        })
    }

    /// The URI being written.
    #[getter]
    fn uri(&self) -> &str {
        &self.uri
    }

    /// Bytes written so far.
    #[getter]
    fn written(&self) -> u64 {
        *self.written.lock().expect("writer lock")
    }

    /// Whether the writer is closed, aborted or failed.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.lock().expect("writer lock").is_none()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Close on a clean exit; abort when the block raised.
    #[pyo3(signature = (exc_type, _exc = None, _tb = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<Bound<'_, PyType>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        match exc_type {
            Some(_) => self.abort(py)?,
            None => self.close(py)?,
        }
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("ObjectWriter({:?}, written={})", self.uri, self.written())
    }
}
