//! The `s3dlio` command line (grows into ls/get/download/upload/cp/rm).

/// The version printed by `s3dlio --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
