//! `async` variants: the I/O runs on the s3dlio runtime and completes an
//! asyncio future on the caller's event loop. Cancelling the asyncio
//! future aborts the I/O. A panic in the I/O fails the future with an
//! exception (as in `wait.rs`) rather than leaving it pending forever.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Mutex;

use futures::FutureExt;

use pyo3::prelude::*;
use s3dlio_core::runtime::{self, Task};

use crate::errors::{panic_to_pyerr, to_pyerr};
use crate::export::view::BytesView;
use crate::input::{in_flight, options, saturating, uri_list, PyOptions, Uri};

/// Done-callback of the asyncio future: drops (aborts) the I/O task.
#[pyclass]
struct AbortOnDone {
    task: Mutex<Option<Task<()>>>,
}

#[pymethods]
impl AbortOnDone {
    fn __call__(&self, _future: &Bound<'_, PyAny>) {
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(task);
    }
}

/// Set the future's outcome unless it was cancelled meanwhile.
#[pyfunction]
fn _complete(future: &Bound<'_, PyAny>, ok: bool, value: &Bound<'_, PyAny>) -> PyResult<()> {
    if future.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    let method = if ok { "set_result" } else { "set_exception" };
    future.call_method1(method, (value,)).map(|_| ())
}

type Start = Box<dyn FnOnce(Python<'_>) -> PyResult<Bound<'_, PyAny>> + Send>;

/// An awaitable that starts its I/O when first awaited (like a coroutine),
/// on the event loop running at that moment.
#[pyclass(name = "PendingIO", module = "s3dlio")]
struct PendingIo {
    start: Mutex<Option<Start>>,
}

#[pymethods]
impl PendingIo {
    fn __await__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let start = self.start.lock().unwrap_or_else(|e| e.into_inner()).take();
        let start = start.ok_or_else(|| {
            pyo3::exceptions::PyRuntimeError::new_err("s3dlio awaitable was already awaited")
        })?;
        start(py)?.call_method0("__await__")
    }
}

/// An awaitable that, once awaited, runs `fut` on the runtime and resolves
/// to `convert(result)`.
fn awaitable<'py, T, F>(
    py: Python<'py>,
    what: String,
    fut: F,
    convert: fn(Python<'_>, T) -> PyResult<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>>
where
    T: Send + 'static,
    F: Future<Output = s3dlio_core::Result<T>> + Send + 'static,
{
    let start: Start = Box::new(move |py| start_io(py, what, fut, convert));
    Ok(Bound::new(
        py,
        PendingIo {
            start: Mutex::new(Some(start)),
        },
    )?
    .into_any())
}

/// Spawn `fut` and return an asyncio future (of the running loop) for it.
fn start_io<T, F>(
    py: Python<'_>,
    what: String,
    fut: F,
    convert: fn(Python<'_>, T) -> PyResult<Py<PyAny>>,
) -> PyResult<Bound<'_, PyAny>>
where
    T: Send + 'static,
    F: Future<Output = s3dlio_core::Result<T>> + Send + 'static,
{
    let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
    let future = event_loop.call_method0("create_future")?;
    let complete = wrap_pyfunction!(_complete, py)?.unbind();
    let (loop_ref, future_ref) = (event_loop.unbind(), future.clone().unbind());
    let task = runtime::spawn(async move {
        // Nothing the future leaves half-changed is used after a panic.
        let result = match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(result) => result.map_err(to_pyerr),
            Err(panic) => Err(panic_to_pyerr(&what, panic.as_ref())),
        };
        Python::attach(|py| {
            let (ok, value) = match result.and_then(|v| convert(py, v)) {
                Ok(value) => (true, value),
                Err(err) => (false, err.into_value(py).into_any()),
            };
            // A closed loop cannot take the result; nobody awaits it then.
            let _ = loop_ref
                .bind(py)
                .call_method1("call_soon_threadsafe", (complete, future_ref, ok, value));
        });
    });
    let on_done = Bound::new(
        py,
        AbortOnDone {
            task: Mutex::new(Some(task)),
        },
    )?;
    future.call_method1("add_done_callback", (on_done,))?;
    Ok(future)
}

/// Awaitable `get`.
#[pyfunction]
#[pyo3(signature = (uri, *, options = None))]
pub fn get_async<'py>(
    py: Python<'py>,
    uri: Uri,
    options: PyOptions,
) -> PyResult<Bound<'py, PyAny>> {
    let Uri(uri) = uri;
    let opts = self::options(options);
    awaitable(
        py,
        uri.clone(),
        async move { s3dlio_core::get(&uri, &opts).await },
        |py, bytes| Ok(Py::new(py, BytesView::new(bytes))?.into_any()),
    )
}

/// Awaitable `get_many`.
#[pyfunction]
#[pyo3(signature = (uris, max_in_flight = 64, *, options = None))]
pub fn get_many_async<'py>(
    py: Python<'py>,
    #[pyo3(from_py_with = uri_list)] uris: Vec<String>,
    #[pyo3(from_py_with = saturating)] max_in_flight: i64,
    options: PyOptions,
) -> PyResult<Bound<'py, PyAny>> {
    let max_in_flight = in_flight(max_in_flight)?;
    let opts = self::options(options);
    awaitable(
        py,
        format!("get_many_async of {} URIs", uris.len()),
        async move {
            let payloads = s3dlio_core::get_many(&uris, max_in_flight, &opts).await?;
            Ok(uris.into_iter().zip(payloads).collect::<Vec<_>>())
        },
        |py, pairs| {
            let items = pairs
                .into_iter()
                .map(|(uri, bytes)| (uri, BytesView::new(bytes)))
                .collect::<Vec<_>>();
            Ok(items.into_pyobject(py)?.into_any().unbind())
        },
    )
}
