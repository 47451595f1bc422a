//! Sharded, checksummed, atomically published checkpoints on any backend
//! (see [`layout`] for the on-storage layout and the publication protocol).
//!
//! Every rank calls [`CheckpointStore::save`] with its shard. A rank writes
//! its shard, then its shard record (size, CRC32C, user metadata); then it
//! lists the step's records, and whichever rank finds all `world_size` of
//! them (at least the last to finish does) writes the manifest, which is
//! the same whoever writes it, and moves the `latest` marker forward. No
//! coordination between ranks is needed; torch.distributed users add a
//! barrier after `save` when every rank must see the step before going on.

pub mod layout;

use bytes::Bytes;
use futures::{stream, StreamExt, TryStreamExt};
use serde_json::{json, Value};

use crate::checksum::crc32c;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::runtime;
use crate::store::Target;
use layout::{Layout, Manifest, ShardRecord};

/// What `list_checkpoints` reports of one published step.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointInfo {
    pub step: u64,
    pub world_size: u32,
    pub user_meta: Value,
    /// Seconds since the Unix epoch when the step was published.
    pub created: f64,
}

/// Checkpoints under one base URI.
#[derive(Clone, Debug)]
pub struct CheckpointStore {
    layout: Layout,
    options: Options,
    validate: bool,
}

impl CheckpointStore {
    /// A store rooted at `base` (any scheme). With `validate`, every shard
    /// read is checked against the CRC32C in its manifest. A base that no
    /// object could live under (a bad URI, a key with `..`) is refused here,
    /// not at the first save.
    pub fn new(base: &str, options: Options, validate: bool) -> Result<Self> {
        Target::resolve(base, &options)?;
        Ok(Self {
            layout: Layout::new(base),
            options,
            validate,
        })
    }

    /// The base URI.
    pub fn base(&self) -> &str {
        self.layout.base()
    }

    /// Save `rank`'s shard of `step` (see the module docs for when the step
    /// becomes visible). Only rank 0's `user_meta` is kept in the manifest.
    pub async fn save(
        &self,
        step: u64,
        data: Bytes,
        rank: u32,
        world_size: u32,
        user_meta: Value,
    ) -> Result<()> {
        if world_size == 0 || rank >= world_size {
            return Err(Error::InvalidArgument(format!(
                "{}: rank {rank} is not in a world of {world_size}",
                self.base()
            )));
        }
        let checked = data.clone();
        let crc = runtime::blocking(move || crc32c(&checked)).await;
        let record = ShardRecord {
            rank,
            world_size,
            size: data.len() as u64,
            crc32c: crc,
            user_meta,
        };
        let opts = &self.options;
        crate::put(&self.layout.shard(step, rank, world_size), data, opts).await?;
        let record_json = serde_json::to_vec(&record.to_json()).expect("JSON of a record");
        crate::put(&self.layout.record(step, rank), record_json.into(), opts).await?;
        self.publish_if_complete(step, world_size).await
    }

    /// Write the manifest and move `latest` if every shard record of `step` exists.
    async fn publish_if_complete(&self, step: u64, world_size: u32) -> Result<()> {
        let listed = crate::list(&self.layout.step_dir(step), false, &self.options).await?;
        let records: Vec<String> = (0..world_size)
            .map(|rank| self.layout.record(step, rank))
            .filter(|uri| listed.binary_search(uri).is_ok())
            .collect();
        if records.len() < world_size as usize {
            return Ok(());
        }
        let bodies = crate::get_many(&records, 64, &self.options).await?;
        let shards = records
            .iter()
            .zip(&bodies)
            .map(|(uri, body)| {
                let v: Value = serde_json::from_slice(body).map_err(|e| Error::Checkpoint {
                    uri: uri.clone(),
                    reason: e.to_string(),
                })?;
                ShardRecord::from_json(uri, &v)
            })
            .collect::<Result<Vec<_>>>()?;
        if shards.iter().any(|s| s.world_size != world_size) {
            return Err(Error::Checkpoint {
                uri: self.layout.step_dir(step),
                reason: "shards were saved with different world sizes".into(),
            });
        }
        let manifest = Manifest::from_records(step, shards);
        let body = serde_json::to_vec(&manifest.to_json()).expect("JSON of a manifest");
        crate::put(&self.layout.manifest(step), body.into(), &self.options).await?;
        if self.marker().await?.is_none_or(|latest| latest < step) {
            self.set_marker(Some(step)).await?;
        }
        Ok(())
    }

    /// The step the `latest` marker names, if there is a marker.
    async fn marker(&self) -> Result<Option<u64>> {
        let uri = self.layout.latest();
        match crate::get(&uri, &self.options).await {
            Ok(body) => serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("step").and_then(Value::as_u64))
                .map(Some)
                .ok_or_else(|| Error::Checkpoint {
                    uri,
                    reason: "malformed latest marker".into(),
                }),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn set_marker(&self, step: Option<u64>) -> Result<()> {
        let uri = self.layout.latest();
        match step {
            Some(step) => {
                let body = serde_json::to_vec(&json!({ "step": step })).expect("JSON");
                crate::put(&uri, body.into(), &self.options).await
            }
            None => match crate::delete(&uri, &self.options).await {
                Err(e) if !e.is_not_found() => Err(e),
                _ => Ok(()),
            },
        }
    }

    /// Steps whose manifest exists, ascending.
    async fn published_steps(&self) -> Result<Vec<u64>> {
        let mut steps: Vec<u64> = crate::list(self.base(), true, &self.options)
            .await?
            .iter()
            .filter_map(|uri| self.layout.step_of_manifest(uri))
            .collect();
        steps.sort_unstable();
        Ok(steps)
    }

    /// The newest published step, or `None` for an empty store.
    pub async fn latest_step(&self) -> Result<Option<u64>> {
        if let Some(step) = self.marker().await? {
            if crate::exists(&self.layout.manifest(step), &self.options).await? {
                return Ok(Some(step));
            }
        }
        Ok(self.published_steps().await?.last().copied())
    }

    /// The manifest of a published step (`NotFound` if it is not published).
    pub async fn manifest(&self, step: u64) -> Result<Manifest> {
        let uri = self.layout.manifest(step);
        let body = crate::get(&uri, &self.options).await?;
        Manifest::parse(&uri, &body)
    }

    fn check(&self, uri: &str, record: &ShardRecord, data: &Bytes) -> Result<()> {
        if data.len() as u64 != record.size {
            return Err(Error::Truncated {
                uri: uri.to_owned(),
                expected: record.size,
                actual: data.len() as u64,
            });
        }
        if self.validate {
            let actual = crc32c(data);
            if actual != record.crc32c {
                return Err(Error::Checksum {
                    uri: uri.to_owned(),
                    expected: record.crc32c,
                    actual,
                });
            }
        }
        Ok(())
    }

    /// One rank's shard of a published step, checked.
    pub async fn read_shard_by_rank(&self, step: u64, rank: u32) -> Result<Bytes> {
        let manifest = self.manifest(step).await?;
        let record = manifest.shards.get(rank as usize).cloned().ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{}: step {step} has {} shards, no rank {rank}",
                self.base(),
                manifest.world_size
            ))
        })?;
        let uri = self.layout.shard(step, rank, manifest.world_size);
        let data = crate::get(&uri, &self.options).await?;
        let this = self.clone();
        runtime::blocking(move || this.check(&uri, &record, &data).map(|()| data)).await
    }

    /// Every shard of a published step, fetched concurrently, in rank order.
    pub async fn read_all_shards(
        &self,
        step: u64,
        max_in_flight: usize,
    ) -> Result<Vec<(u32, Bytes)>> {
        let manifest = self.manifest(step).await?;
        let uris: Vec<String> = (0..manifest.world_size)
            .map(|rank| self.layout.shard(step, rank, manifest.world_size))
            .collect();
        let shards = crate::get_many(&uris, max_in_flight, &self.options).await?;
        let this = self.clone();
        runtime::blocking(move || {
            uris.iter()
                .zip(&manifest.shards)
                .zip(shards)
                .map(|((uri, record), data)| {
                    this.check(uri, record, &data).map(|()| (record.rank, data))
                })
                .collect()
        })
        .await
    }

    /// Rank `rank`'s shard of the newest published step, or `None` if empty.
    pub async fn load_latest(&self, rank: u32) -> Result<Option<Bytes>> {
        match self.latest_step().await? {
            Some(step) => self.read_shard_by_rank(step, rank).await.map(Some),
            None => Ok(None),
        }
    }

    /// Every published step, ascending.
    pub async fn list_checkpoints(&self) -> Result<Vec<CheckpointInfo>> {
        let steps = self.published_steps().await?;
        let uris: Vec<String> = steps.iter().map(|&s| self.layout.manifest(s)).collect();
        let bodies = crate::get_many(&uris, 64, &self.options).await?;
        uris.iter()
            .zip(bodies)
            .map(|(uri, body)| {
                let m = Manifest::parse(uri, &body)?;
                Ok(CheckpointInfo {
                    step: m.step,
                    world_size: m.world_size,
                    user_meta: m.user_meta,
                    created: m.created,
                })
            })
            .collect()
    }

    /// Remove a published step: its manifest first (so it stops being
    /// visible), then its shards and records; `latest` moves back to the
    /// newest remaining step.
    pub async fn delete(&self, step: u64) -> Result<()> {
        crate::delete(&self.layout.manifest(step), &self.options).await?;
        let pieces = crate::list(&self.layout.step_dir(step), true, &self.options).await?;
        let options = &self.options;
        stream::iter(
            pieces
                .into_iter()
                .map(|uri| async move { crate::delete(&uri, options).await }),
        )
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
        if self.marker().await? == Some(step) {
            let previous = self.published_steps().await?.last().copied();
            self.set_marker(previous).await?;
        }
        Ok(())
    }
}
