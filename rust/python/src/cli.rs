//! `cli_main`: the `s3dlio` command line (written in Rust) run from the
//! Python entry point.

use pyo3::prelude::*;

use crate::wait::detached;

/// Run the `s3dlio` command line with `argv` (program name first); returns
/// the exit status. The GIL is released while it runs.
#[pyfunction]
pub fn cli_main(py: Python<'_>, argv: Vec<String>) -> PyResult<i32> {
    detached(py, "the s3dlio command", || Ok(s3dlio_cli::run(argv)))
}
