//! s3dlio-core: fetch objects from `file://`, `direct://`, `s3://`, `az://`
//! and `gs://` into aligned buffers, in parallel, with no Python involved.
//!
//! Every function is a plain `async fn` returning [`Result`]; run them on
//! [`runtime::runtime()`] (fork-safe, one per process) or with
//! [`runtime::block_on`].

//!
//! Modules form layers, bottom up; each uses only those below it
//! (`tests/layers.rs` checks it):
//!
//! - L0 what things are: [`error`], `redact`, [`uri`], [`meta`], [`options`], [`env`]
//! - L1 the process: `process`, [`runtime`], `stats`, [`metrics`], [`oplog`]
//! - L2 memory: `span`, [`pool`], [`buffer`]
//! - L3 running work and talking HTTP: `exec`, [`checksum`], `http`
//! - L4 backends: `store`
//! - L5 operations: [`fetch`], [`batch`], [`objects`], [`shards`], [`checkpoint`]
//! - L6 this façade

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod batch;
pub mod buffer;
pub mod checkpoint;
pub mod checksum;
pub mod env;
pub mod error;
mod exec;
pub mod fetch;
mod http;
pub mod meta;
pub mod metrics;
pub mod objects;
pub mod oplog;
pub mod options;
pub mod pool;
mod process;
mod redact;
pub mod runtime;
pub mod shards;
mod span;
mod stats;
mod store;
pub mod uri;

pub use batch::{get_batch, get_batch_in, Batch, BatchMemory};
pub use checkpoint::{CheckpointInfo, CheckpointStore};
pub use error::{Error, Result};
pub use fetch::{get, get_local_now, get_many, get_range, get_ranges, get_to_file};
pub use http::lanes::{
    prometheus_text as lane_prometheus_text, snapshot as lane_metrics, LaneMetrics,
};
pub use http::LimiterState;
pub use meta::{ByteRange, ObjectMeta};
pub use objects::{
    delete, exists, list, list_dir, list_meta, open_writer, put, put_from_file, put_many, stat,
};
pub use options::Options;
pub use shards::{
    parquet_info, read_parquet, read_tar, tar_index, tar_listing, tar_members, ParquetInfo,
    ParquetRead, ParquetTable, TarIndex, TarMember,
};
#[doc(hidden)]
pub use stats::split_reads;
pub use store::{cache_stats, clear_cache, remove_stale_temporaries, CacheStats, ObjectWriter};
pub use uri::{ObjectUri, Scheme};

/// Check the process-wide variables, which are read where no call can
/// report them (the runtime, the pool): each one that is set must parse,
/// else an `InvalidArgument` error names it. Empty values count as unset.
pub fn check_env() -> Result<()> {
    use crate::pool::{HUGE_PAGES_ENV, POOL_BYTES_ENV, POOL_IDLE_MS_ENV};
    let env = Options::from_env();
    runtime::check_env(&env)?;
    let set = |key: &str| {
        let key = key.to_ascii_lowercase();
        env.get(&key)
            .is_some_and(|v| !v.trim().is_empty())
            .then_some(key)
    };
    if let Some(key) = set(POOL_BYTES_ENV) {
        env.bytes(&key)?;
    }
    if let Some(key) = set(POOL_IDLE_MS_ENV) {
        env.usize(&key)?;
    }
    if let Some(key) = set(HUGE_PAGES_ENV) {
        env.bool(&key)?;
    }
    if let Some(key) = set(oplog::QUEUE_ENV) {
        if env.usize(&key)? == Some(0) {
            return Err(Error::InvalidArgument(format!(
                "{}=0: the operation log's queue needs room for a line at least",
                oplog::QUEUE_ENV
            )));
        }
    }
    Ok(())
}
