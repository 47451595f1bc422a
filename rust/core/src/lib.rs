//! s3dlio-core: fetch objects from `file://`, `direct://`, `s3://`, `az://`
//! and `gs://` into aligned buffers, in parallel, with no Python involved.
//!
//! Every function is a plain `async fn` returning [`Result`]; run them on
//! [`runtime::runtime()`] (fork-safe, one per process) or with
//! [`runtime::block_on`].

pub mod batch;
pub mod buffer;
pub mod checkpoint;
pub mod checksum;
pub mod env;
pub mod error;
pub mod fetch;
mod local_workers;
pub mod meta;
pub mod objects;
pub mod options;
pub mod pool;
pub mod runtime;
mod store;
pub mod uri;
mod window;

pub use batch::{get_batch, get_batch_in, Batch, Landing};
pub use checkpoint::{CheckpointInfo, CheckpointStore};
pub use error::{Error, Result};
pub use fetch::{get, get_local_now, get_many, get_range, get_to_file};
#[doc(hidden)]
pub use local_workers::split_reads;
pub use meta::{ByteRange, ObjectMeta};
pub use objects::{delete, exists, list, list_meta, put, put_from_file, put_many, stat};
pub use options::Options;
pub use store::remove_stale_temporaries;
pub use uri::{ObjectUri, Scheme};
