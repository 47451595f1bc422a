//! The blocking object functions of `import s3dlio`. Arguments are
//! extracted first, then the GIL is released for the whole I/O.

use std::collections::HashMap;

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyString;
use s3dlio_core::buffer::AlignedBuf;
use s3dlio_core::Landing;
use s3dlio_core::{ByteRange, Error, Options};

use crate::batch::{Batch, Table};
use crate::errors::{invalid_argument, to_pyerr};
use crate::input::{
    buffer_bytes, in_flight, non_negative, options, saturating, saturating_opt, uri_list, Uri,
};
use crate::meta::ObjectMeta;
use crate::pinned::PinnedPool;
use crate::view::BytesView;
use crate::wait::{detached, wait, wait_for};

type PyOptions = Option<HashMap<String, String>>;

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

/// Sizes for `get_batch`: one per URI, or one for all.
#[derive(FromPyObject)]
pub enum Sizes {
    All(u64),
    Each(Vec<u64>),
}

/// Fetch objects into one contiguous buffer as a `Batch` (row i = object i).
#[pyfunction]
#[pyo3(signature = (uris, max_in_flight = 64, *, sizes = None, options = None, pinned = None, out = None))]
#[allow(clippy::too_many_arguments)] // the Python signature
pub fn get_batch(
    py: Python<'_>,
    #[pyo3(from_py_with = uri_list)] uris: Vec<String>,
    #[pyo3(from_py_with = saturating)] max_in_flight: i64,
    sizes: Option<Sizes>,
    options: PyOptions,
    pinned: Option<Bound<'_, PyAny>>,
    out: Option<Bound<'_, PyAny>>,
) -> PyResult<Batch> {
    let max_in_flight = in_flight(max_in_flight)?;
    let sizes = sizes.map(|s| match s {
        Sizes::All(size) => vec![size; uris.len()],
        Sizes::Each(sizes) => sizes,
    });
    let opts = self::options(options);
    let pinned_choice;
    let (landing, registered) = match out {
        Some(out) => {
            if pinned
                .as_ref()
                .is_some_and(|p| p.is_truthy().unwrap_or(true))
            {
                return Err(invalid_argument(
                    "get_batch: give pinned or out, not both".into(),
                ));
            }
            (Landing::Into(output_buffer(&out)?), false)
        }
        None => {
            pinned_choice = pinned_pool(py, pinned)?;
            match &pinned_choice {
                Some(pinned) => (Landing::Pool(pinned.pool()), pinned.pool().has_hooks()),
                None => (Landing::Pool(s3dlio_core::pool::global()), false),
            }
        }
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

/// The pool `get_batch(pinned=...)` asks for: a `PinnedPool` as given;
/// `True` for the process's default one (`s3dlio._pinned.default_pool()`,
/// None where no device runtime is usable); None or False for none.
fn pinned_pool<'py>(
    py: Python<'py>,
    pinned: Option<Bound<'py, PyAny>>,
) -> PyResult<Option<PyRef<'py, PinnedPool>>> {
    let Some(pinned) = pinned else {
        return Ok(None);
    };
    if let Ok(pool) = pinned.cast::<PinnedPool>() {
        return Ok(Some(pool.borrow()));
    }
    if !pinned.is_truthy()? {
        return Ok(None);
    }
    let default = py.import("s3dlio._pinned")?.call_method0("default_pool")?;
    if default.is_none() {
        return Ok(None);
    }
    Ok(Some(default.cast_into::<PinnedPool>()?.borrow()))
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

/// Landing buffers alive in this process (`buffers`, `bytes`), remote body
/// bytes taken in (`body_bytes`) and how many of them were received straight
/// into the buffer handed out (`body_bytes_in_place`), and what the
/// process-wide recycling pool has done (`pool_*`). A buffer lives until
/// the last view, array, tensor or capsule sharing it is gone.
#[pyfunction]
pub fn buffer_stats() -> HashMap<&'static str, usize> {
    let (buffers, bytes) = s3dlio_core::buffer::live_buffers();
    let (body_bytes, in_place) = s3dlio_core::buffer::body_bytes();
    let mut stats = HashMap::from([
        ("buffers", buffers),
        ("bytes", bytes),
        ("body_bytes", body_bytes),
        ("body_bytes_in_place", in_place),
    ]);
    stats.extend(pool_stats(s3dlio_core::pool::global()));
    stats
}

/// A pool's counters as `pool_*` entries.
pub fn pool_stats(pool: &s3dlio_core::pool::Pool) -> [(&'static str, usize); 6] {
    let s = pool.stats();
    [
        ("pool_made", s.made),
        ("pool_reused", s.reused),
        ("pool_freed", s.freed),
        ("pool_idle", s.idle),
        ("pool_idle_bytes", s.idle_bytes),
        ("pool_budget", pool.budget()),
    ]
}

/// Run the `s3dlio` command line with `argv` (program name first); returns
/// the exit status. The GIL is released while it runs.
#[pyfunction]
pub fn cli_main(py: Python<'_>, argv: Vec<String>) -> PyResult<i32> {
    detached(py, "the s3dlio command", || Ok(s3dlio_cli::run(argv)))
}
