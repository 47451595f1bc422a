//! The operations of `import s3dlio`, one file per kind: fetch (`get`),
//! batches (`batch`), writes (`put`), metadata and listings (`objects`),
//! tar shards (`tar`), Parquet (`parquet`), checksums (`checksum`), local
//! files (`files`), streamed writes (`writer`), and their awaitable
//! variants (`aio`). Each extracts its arguments, then releases the GIL for
//! the whole I/O (`crate::wait`).

pub mod aio;
pub mod batch;
pub mod checksum;
pub mod files;
pub mod get;
pub mod objects;
pub mod parquet;
pub mod put;
pub mod tar;
pub mod writer;
