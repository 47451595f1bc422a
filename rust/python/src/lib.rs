//! `s3dlio._core`: the Python face of s3dlio-core. Glue only: argument
//! extraction, the GIL-free wait, zero-copy views and error mapping.

mod aio;
mod api;
mod arrow;
mod batch;
mod checkpoint;
mod dlpack;
mod errors;
mod input;
mod meta;
mod pinned;
mod view;
mod wait;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    errors::quiet_memory_panics();
    // The environment is read with the GIL held: Python changes it only so.
    s3dlio_core::env::set_guard(|read| Python::attach(|_| read()));
    // A malformed process-wide variable fails the import, naming it,
    // rather than being ignored.
    s3dlio_core::check_env().map_err(errors::to_pyerr)?;
    m.add_class::<view::BytesView>()?;
    m.add_class::<meta::ObjectMeta>()?;
    m.add_class::<view::TensorView>()?;
    m.add_class::<batch::Batch>()?;
    m.add_class::<batch::Table>()?;
    m.add_class::<pinned::PinnedPool>()?;
    m.add_class::<checkpoint::CheckpointStore>()?;
    m.add_class::<checkpoint::CheckpointInfo>()?;
    m.add_function(wrap_pyfunction!(api::get_batch, m)?)?;
    m.add_function(wrap_pyfunction!(api::buffer_stats, m)?)?;
    m.add_function(wrap_pyfunction!(api::cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(api::read_table, m)?)?;
    m.add_function(wrap_pyfunction!(api::get, m)?)?;
    m.add_function(wrap_pyfunction!(api::get_range, m)?)?;
    m.add_function(wrap_pyfunction!(api::get_object, m)?)?;
    m.add_function(wrap_pyfunction!(api::get_many, m)?)?;
    m.add_function(wrap_pyfunction!(api::put, m)?)?;
    m.add_function(wrap_pyfunction!(api::put_many, m)?)?;
    m.add_function(wrap_pyfunction!(api::stat, m)?)?;
    m.add_function(wrap_pyfunction!(api::exists, m)?)?;
    m.add_function(wrap_pyfunction!(api::list_objects, m)?)?;
    m.add_function(wrap_pyfunction!(api::list_meta, m)?)?;
    m.add_function(wrap_pyfunction!(api::delete, m)?)?;
    m.add_function(wrap_pyfunction!(aio::get_async, m)?)?;
    m.add_function(wrap_pyfunction!(aio::get_many_async, m)?)?;
    Ok(())
}
