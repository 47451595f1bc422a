//! Backends: one file each, behind one [`Target`] that is either a
//! [`LocalTarget`] (`file://`, `direct://`: synchronous calls) or a
//! [`RemoteTarget`] (the clouds: `async fn`s), resolved by a [`Resolver`].

mod aws_profile;
mod azure;
pub(crate) mod cache;
mod clients;
mod direct;
mod endpoints;
mod folder_markers;
mod gcs;
mod gcs_credentials;
mod local;
mod local_target;
mod mapped;
mod mapped_guard;
mod metadata_credentials;
mod network_mounts;
mod object;
mod object_writer;
mod pending_upload;
mod remote_target;
mod resolve;
mod s3;
mod s3_credentials;
mod s3_raw_keys;
mod stale_temporaries;
mod target;

pub use cache::{clear as clear_cache, stats as cache_stats, CacheStats};
pub(crate) use local::Staged;
pub(crate) use local_target::LocalTarget;
pub(crate) use object::Whole;
pub use object_writer::ObjectWriter;
pub(crate) use remote_target::RemoteTarget;
pub(crate) use resolve::Resolver;
pub use stale_temporaries::remove_stale_temporaries;
pub(crate) use target::Target;
