//! `CheckpointStore` and `CheckpointInfo` for Python: glue over the core's
//! checkpoint store (user metadata crosses as JSON).

use std::collections::HashMap;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyAny;
use s3dlio_core::checkpoint::CheckpointStore as CoreStore;

use crate::errors::invalid_argument;
use crate::export::view::BytesView;
use crate::input::{buffer_bytes, exact, in_flight, options, saturating, Uri};
use crate::wait::wait;

fn to_json(py: Python<'_>, value: Option<&Bound<'_, PyAny>>) -> PyResult<serde_json::Value> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(serde_json::Value::Null);
    };
    let text: String = py
        .import("json")?
        .call_method1("dumps", (value,))?
        .extract()?;
    serde_json::from_str(&text).map_err(|e| invalid_argument(format!("user_meta: {e}")))
}

fn from_json<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?
        .call_method1("loads", (value.to_string(),))
}

fn step_arg(step: i64) -> PyResult<u64> {
    u64::try_from(step).map_err(|_| invalid_argument(format!("step must be >= 0, got {step}")))
}

fn rank_arg(name: &str, value: i64) -> PyResult<u32> {
    u32::try_from(value).map_err(|_| {
        invalid_argument(format!(
            "{name} must be between 0 and {}, got {value}",
            u32::MAX
        ))
    })
}

/// What `list_checkpoints` reports of one published step.
#[pyclass(frozen, module = "s3dlio", name = "CheckpointInfo")]
pub struct CheckpointInfo {
    /// The step number.
    #[pyo3(get)]
    step: u64,
    /// How many shards the step has.
    #[pyo3(get)]
    world_size: u32,
    meta: serde_json::Value,
    created: f64,
}

#[pymethods]
impl CheckpointInfo {
    /// Rank 0's `user_meta` as saved (None when none was given).
    #[getter]
    fn user_meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        from_json(py, &self.meta)
    }

    /// When the step was published (aware UTC datetime).
    #[getter]
    fn created<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let datetime = py.import("datetime")?;
        let utc = datetime.getattr("timezone")?.getattr("utc")?;
        datetime
            .getattr("datetime")?
            .call_method1("fromtimestamp", (self.created, utc))
    }

    fn __repr__(&self) -> String {
        format!(
            "CheckpointInfo(step={}, world_size={})",
            self.step, self.world_size
        )
    }
}

/// Sharded, checksummed, atomically published checkpoints under a base URI
/// (any scheme). A step becomes visible only once all `world_size` shards
/// and its manifest are written; a crash mid-save leaves the previous step
/// loadable. With `validate`, reads check each shard's CRC32C and raise
/// `ChecksumError` naming the shard.
#[pyclass(frozen, module = "s3dlio", name = "CheckpointStore")]
pub struct CheckpointStore {
    inner: Arc<CoreStore>,
}

#[pymethods]
impl CheckpointStore {
    #[new]
    #[pyo3(signature = (uri, *, validate = true, options = None))]
    fn new(uri: Uri, validate: bool, options: Option<HashMap<String, String>>) -> PyResult<Self> {
        let store = CoreStore::new(&uri.0, self::options(options), validate)
            .map_err(crate::errors::to_pyerr)?;
        Ok(Self {
            inner: Arc::new(store),
        })
    }

    /// The base URI.
    #[getter]
    fn uri(&self) -> String {
        self.inner.base().to_owned()
    }

    /// Save this rank's shard of `step` from any buffer (no copy in Python).
    /// `attempt` names this run of the job (see the stubs).
    #[pyo3(signature = (step, data, *, rank = 0, world_size = 1, user_meta = None, attempt = None))]
    #[allow(clippy::too_many_arguments)] // one per Python argument
    fn save(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = exact)] step: i64,
        data: &Bound<'_, PyAny>,
        #[pyo3(from_py_with = exact)] rank: i64,
        #[pyo3(from_py_with = exact)] world_size: i64,
        user_meta: Option<&Bound<'_, PyAny>>,
        attempt: Option<String>,
    ) -> PyResult<()> {
        let step = step_arg(step)?;
        let (rank, world_size) = (rank_arg("rank", rank)?, rank_arg("world_size", world_size)?);
        let meta = to_json(py, user_meta)?;
        let bytes = buffer_bytes(data, self.inner.base())?;
        let store = self.inner.clone();
        wait(py, async move {
            store
                .save(step, bytes, rank, world_size, meta, attempt.as_deref())
                .await
        })
    }

    /// This rank's shard of the newest published step, or None if there is none.
    #[pyo3(signature = (rank = 0))]
    fn load_latest(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = exact)] rank: i64,
    ) -> PyResult<Option<BytesView>> {
        let rank = rank_arg("rank", rank)?;
        let store = self.inner.clone();
        Ok(wait(py, async move { store.load_latest(rank).await })?.map(BytesView::new))
    }

    /// One rank's shard of a published step.
    fn read_shard_by_rank(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = exact)] step: i64,
        #[pyo3(from_py_with = exact)] rank: i64,
    ) -> PyResult<BytesView> {
        let (step, rank) = (step_arg(step)?, rank_arg("rank", rank)?);
        let store = self.inner.clone();
        Ok(BytesView::new(wait(py, async move {
            store.read_shard_by_rank(step, rank).await
        })?))
    }

    /// Every shard of a published step, fetched concurrently, in rank order.
    #[pyo3(signature = (step, max_in_flight = 64))]
    fn read_all_shards(
        &self,
        py: Python<'_>,
        #[pyo3(from_py_with = exact)] step: i64,
        #[pyo3(from_py_with = saturating)] max_in_flight: i64,
    ) -> PyResult<Vec<(u32, BytesView)>> {
        let (step, max_in_flight) = (step_arg(step)?, in_flight(max_in_flight)?);
        let store = self.inner.clone();
        let shards = wait(py, async move {
            store.read_all_shards(step, max_in_flight).await
        })?;
        Ok(shards
            .into_iter()
            .map(|(rank, bytes)| (rank, BytesView::new(bytes)))
            .collect())
    }

    /// The newest published step, or None for an empty store.
    fn latest_step(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        let store = self.inner.clone();
        wait(py, async move { store.latest_step().await })
    }

    /// Every published step, ascending.
    fn list_checkpoints(&self, py: Python<'_>) -> PyResult<Vec<CheckpointInfo>> {
        let store = self.inner.clone();
        let infos = wait(py, async move { store.list_checkpoints().await })?;
        Ok(infos
            .into_iter()
            .map(|i| CheckpointInfo {
                step: i.step,
                world_size: i.world_size,
                meta: i.user_meta,
                created: i.created,
            })
            .collect())
    }

    /// Delete a step, published or not, and everything any attempt left of it.
    fn delete(&self, py: Python<'_>, #[pyo3(from_py_with = exact)] step: i64) -> PyResult<()> {
        let step = step_arg(step)?;
        let store = self.inner.clone();
        wait(py, async move { store.delete(step).await })
    }

    fn __repr__(&self) -> String {
        format!("CheckpointStore({:?})", self.inner.base())
    }
}
