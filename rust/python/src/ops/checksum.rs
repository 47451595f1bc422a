//! `crc32c`: the checksum the checkpoints and the DCP storage record, of
//! any buffer, computed with the GIL released (hardware CRC32C where the
//! CPU has it).

use pyo3::prelude::*;

use crate::input::buffer_bytes;
use crate::wait::detached;

/// The CRC32C of `data` (any buffer), as an unsigned 32-bit int.
#[pyfunction]
pub fn crc32c(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<u32> {
    let bytes = buffer_bytes(data, "crc32c")?;
    detached(py, "crc32c", || Ok(s3dlio_core::checksum::crc32c(&bytes)))
}
