//! `s3dlio._core`: the Python face of s3dlio-core. Glue only: argument
//! extraction, the GIL-free wait, zero-copy views and error mapping.
//!
//! Modules, bottom up (a module uses only those above it in this list):
//! `errors`; `export` (views, DLPack, Arrow), `meta`, `stats`, `metrics`,
//! `pinned`;
//! `input`, `wait`; `ops` (one file per kind of operation), `checkpoint`,
//! `cli`.

mod checkpoint;
mod cli;
mod errors;
mod export;
mod input;
mod meta;
mod metrics;
mod ops;
mod pinned;
mod stats;
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
    // S3DLIO_OPLOG is read now, so the processes this one spawns know
    // whose log is the file itself.
    s3dlio_core::oplog::init_from_env();
    m.add_class::<export::view::BytesView>()?;
    m.add_class::<meta::ObjectMeta>()?;
    m.add_class::<export::tensor::TensorView>()?;
    m.add_class::<export::batch::Batch>()?;
    m.add_class::<export::table::Table>()?;
    m.add_class::<pinned::PinnedPool>()?;
    m.add_class::<checkpoint::CheckpointStore>()?;
    m.add_class::<checkpoint::CheckpointInfo>()?;
    m.add_class::<ops::tar::TarMember>()?;
    m.add_class::<ops::parquet::ParquetInfo>()?;
    m.add_class::<ops::parquet::ArrowSchema>()?;
    m.add_class::<export::column::Column>()?;
    m.add_class::<ops::writer::ObjectWriter>()?;
    m.add_function(wrap_pyfunction!(ops::files::get_to_file, m)?)?;
    m.add_function(wrap_pyfunction!(ops::files::put_from_file, m)?)?;
    m.add_function(wrap_pyfunction!(ops::batch::get_batch, m)?)?;
    m.add_function(wrap_pyfunction!(stats::buffer_stats, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::metrics, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::metrics_prometheus, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::start_oplog, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::stop_oplog, m)?)?;
    m.add_function(wrap_pyfunction!(cli::cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(ops::batch::read_table, m)?)?;
    m.add_function(wrap_pyfunction!(ops::get::get, m)?)?;
    m.add_function(wrap_pyfunction!(ops::get::get_range, m)?)?;
    m.add_function(wrap_pyfunction!(ops::get::get_object, m)?)?;
    m.add_function(wrap_pyfunction!(ops::get::get_many, m)?)?;
    m.add_function(wrap_pyfunction!(ops::get::get_ranges, m)?)?;
    m.add_function(wrap_pyfunction!(ops::put::put, m)?)?;
    m.add_function(wrap_pyfunction!(ops::put::put_many, m)?)?;
    m.add_function(wrap_pyfunction!(ops::objects::stat, m)?)?;
    m.add_function(wrap_pyfunction!(ops::objects::exists, m)?)?;
    m.add_function(wrap_pyfunction!(ops::objects::list_objects, m)?)?;
    m.add_function(wrap_pyfunction!(ops::objects::list_meta, m)?)?;
    m.add_function(wrap_pyfunction!(ops::objects::list_dir, m)?)?;
    m.add_function(wrap_pyfunction!(ops::objects::delete, m)?)?;
    m.add_function(wrap_pyfunction!(ops::tar::read_tar, m)?)?;
    m.add_function(wrap_pyfunction!(ops::tar::tar_index, m)?)?;
    m.add_function(wrap_pyfunction!(ops::checksum::crc32c, m)?)?;
    m.add_function(wrap_pyfunction!(ops::tar::tar_listing, m)?)?;
    m.add_function(wrap_pyfunction!(ops::parquet::read_parquet, m)?)?;
    m.add_function(wrap_pyfunction!(ops::parquet::parquet_info, m)?)?;
    m.add_function(wrap_pyfunction!(ops::parquet::take_rows, m)?)?;
    m.add_function(wrap_pyfunction!(ops::aio::get_async, m)?)?;
    m.add_function(wrap_pyfunction!(ops::aio::get_many_async, m)?)?;
    Ok(())
}
