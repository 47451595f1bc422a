//! Shards: archives of many samples read as one object. A tar shard
//! (WebDataset's format) is fetched once and its members handed out as
//! slices of that one buffer ([`read_tar`]), or indexed from its headers
//! alone with ranged reads that skip the members' data ([`tar_index`]).
//!
//! A Parquet shard is read with the arrow-rs `parquet` crate over our
//! ranged reads: only the chosen columns' chunks ([`read_parquet`]), or
//! its footer alone ([`parquet_info`]).
//!
//! The tar format is decoded here rather than with the `tar` crate: that
//! crate reads through `std::io::Read`, copying every member out of the
//! stream, and cannot jump from header to header over a ranged store;
//! what a shard needs (ustar, GNU long names, PAX `path`/`size`,
//! base-256 sizes, checksums) is a few hundred lines over a byte slice.

mod parquet;
mod parquet_align;
mod parquet_chunks;
mod parquet_flat_list;
mod parquet_flat_pages;
mod parquet_source;
mod tar;
mod tar_header;
mod tar_walk;

pub use parquet::{parquet_info, read_parquet, ParquetInfo, ParquetRead, ParquetTable};
pub use tar::{read_tar, tar_index, tar_listing, tar_members, TarIndex};
pub use tar_walk::TarMember;
