//! `PinnedPool`: a best-fit buffer pool whose slabs are registered with a
//! device runtime (CUDA's `cudaHostRegister`) once, when made, and
//! unregistered once, when freed. The registration functions are Python
//! callables, so nothing here links against CUDA; `s3dlio._pinned` finds
//! them at run time.

use std::collections::HashMap;
use std::sync::Arc;

use pyo3::prelude::*;
use s3dlio_core::pool::{Pool, SlabHooks};

/// Calls `register(address, nbytes)` for a new slab and
/// `unregister(address)` before one is freed.
struct PyHooks {
    register: Py<PyAny>,
    unregister: Py<PyAny>,
}

impl SlabHooks for PyHooks {
    fn made(&self, ptr: *mut u8, len: usize) -> Result<(), String> {
        Python::attach(|py| {
            self.register
                .call1(py, (ptr as usize, len))
                .map(drop)
                .map_err(|e| format!("registering {len} bytes failed: {e}"))
        })
    }

    fn freeing(&self, ptr: *mut u8, _len: usize) {
        // SAFETY: a plain query of interpreter state.
        if unsafe { pyo3::ffi::Py_IsInitialized() } == 0 {
            return; // interpreter gone: the process (and its device context) is ending
        }
        Python::attach(|py| {
            if let Err(e) = self.unregister.call1(py, (ptr as usize,)) {
                e.write_unraisable(py, Some(self.unregister.bind(py)));
            }
        });
    }
}

/// A pool of host memory for batches bound for a device. With
/// `register`/`unregister` (callables taking an address and size, and an
/// address) every slab is registered once when made and unregistered once
/// when freed (`trim()`, or the pool's end); without them it is a plain
/// best-fit pool. Slabs return to the pool when the last view, array or
/// tensor of their batch is gone, and are reused for the next batch that
/// fits. `budget` bounds the idle bytes kept (default: no bound).
#[pyclass(frozen, module = "s3dlio", name = "PinnedPool")]
pub struct PinnedPool {
    pool: Arc<Pool>,
}

impl PinnedPool {
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }
}

#[pymethods]
impl PinnedPool {
    #[new]
    #[pyo3(signature = (register = None, unregister = None, *, budget = None))]
    fn new(
        register: Option<Py<PyAny>>,
        unregister: Option<Py<PyAny>>,
        budget: Option<usize>,
    ) -> PyResult<Self> {
        let hooks: Option<Box<dyn SlabHooks>> = match (register, unregister) {
            (Some(register), Some(unregister)) => Some(Box::new(PyHooks {
                register,
                unregister,
            })),
            (None, None) => None,
            _ => {
                return Err(crate::errors::invalid_argument(
                    "PinnedPool needs both register and unregister, or neither".into(),
                ))
            }
        };
        let pool = Pool::new(budget.unwrap_or(usize::MAX), true, hooks);
        Ok(Self { pool })
    }

    /// True when slabs are registered (there are hooks).
    #[getter]
    fn registered(&self) -> bool {
        self.pool.has_hooks()
    }

    /// Free (and unregister) every idle slab.
    fn trim(&self, py: Python<'_>) {
        let pool = self.pool.clone();
        py.detach(move || pool.trim());
    }

    /// `{"pool_made", "pool_reused", "pool_freed", "pool_idle",
    /// "pool_idle_bytes", "pool_budget"}`.
    fn stats(&self) -> HashMap<&'static str, usize> {
        crate::stats::pool_stats(&self.pool).into_iter().collect()
    }

    fn __repr__(&self) -> String {
        let s = self.pool.stats();
        format!(
            "PinnedPool(registered={}, made={}, reused={}, idle={})",
            if self.pool.has_hooks() {
                "True"
            } else {
                "False"
            },
            s.made,
            s.reused,
            s.idle
        )
    }
}
