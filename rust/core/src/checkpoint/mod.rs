//! Sharded, checksummed, atomically published checkpoints on any backend
//! (see [`layout`] for the on-storage layout and the publication protocol).
//!
//! Every rank calls [`CheckpointStore::save`] with its shard. A rank writes
//! its shard under a fresh name, then its shard record (size, CRC32C, the
//! shard's name, user metadata) in its attempt's folder; then it lists that
//! folder, and whichever rank finds all `world_size` records of the attempt
//! (at least the last to finish does) writes the manifest, which is the
//! same whoever writes it, and then the step's index entry. No coordination
//! between ranks is needed beyond agreeing on the attempt id (see
//! [`CheckpointStore::attempt`]); torch.distributed users add a barrier
//! after `save` when every rank must see the step before going on.

pub mod layout;

use bytes::Bytes;
use futures::{stream, StreamExt, TryStreamExt};
use serde_json::Value;

use crate::checksum::crc32c;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::runtime;
use crate::store::Target;
use layout::{Layout, Manifest, ShardRecord};

/// Option (and `S3DLIO_` variable) naming the attempt ranks save under.
pub const ATTEMPT: &str = "s3dlio_checkpoint_attempt";
/// torchrun's variables: the job's id and how often its workers restarted.
const TORCHELASTIC_RUN_ID: &str = "torchelastic_run_id";
const TORCHELASTIC_RESTART_COUNT: &str = "torchelastic_restart_count";

/// What `list_checkpoints` reports of one published step.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointInfo {
    /// The training step the checkpoint was saved at.
    pub step: u64,
    /// How many ranks wrote it (one shard each).
    pub world_size: u32,
    /// The caller's metadata, as saved with the step.
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
    /// object could be written under (a bad URI, a key with `..` or `//`) is refused here,
    /// not at the first save.
    pub fn new(base: &str, options: Options, validate: bool) -> Result<Self> {
        Target::resolve(base, &options)?.require_writable()?;
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

    /// The attempt a save joins: `given`, else the `S3DLIO_CHECKPOINT_ATTEMPT`
    /// option, else torchrun's run id and restart count (every rank of one
    /// torchrun attempt sees the same, and a restart changes it), else `0`.
    /// Ranks restarted by other launchers must pass an attempt id that
    /// changes with each restart, or a crashed attempt's shards can complete
    /// the next attempt's step.
    pub fn attempt(&self, given: Option<&str>) -> Result<String> {
        if let Some(given) = given.or_else(|| self.options.get(ATTEMPT)) {
            return layout::checked_attempt(self.base(), given);
        }
        Ok(match self.options.get(TORCHELASTIC_RESTART_COUNT) {
            Some(count) => {
                let run = self.options.get(TORCHELASTIC_RUN_ID).unwrap_or("run");
                layout::sanitized_attempt(&format!("{run}.r{count}"))
            }
            None => "0".into(),
        })
    }

    /// Save `rank`'s shard of `step` in `attempt` (see [`Self::attempt`]
    /// for `None`, and the module docs for when the step becomes visible).
    /// Only rank 0's `user_meta` is kept in the manifest.
    pub async fn save(
        &self,
        step: u64,
        data: Bytes,
        rank: u32,
        world_size: u32,
        user_meta: Value,
        attempt: Option<&str>,
    ) -> Result<()> {
        if world_size == 0 || rank >= world_size {
            return Err(Error::InvalidArgument(format!(
                "{}: rank {rank} is not in a world of {world_size}",
                self.base()
            )));
        }
        let attempt = self.attempt(attempt)?;
        let checked = data.clone();
        let crc = runtime::blocking(move || crc32c(&checked)).await;
        let object = Layout::new_shard_object(rank, world_size);
        let record = ShardRecord {
            rank,
            world_size,
            size: data.len() as u64,
            crc32c: crc,
            user_meta,
            object: Some(object.clone()),
        };
        let opts = &self.options;
        let shard = format!("{}/{object}", self.layout.attempt_dir(step, &attempt));
        crate::objects::put(&shard, data, opts).await?;
        let record_json = serde_json::to_vec(&record.to_json()).expect("JSON of a record");
        let record_uri = self.layout.record(step, &attempt, rank, world_size);
        crate::objects::put(&record_uri, record_json.into(), opts).await?;
        self.publish_if_complete(step, &attempt, world_size).await
    }

    /// Write the manifest and the index entry if every rank's record of
    /// `step` in `attempt` (at `world_size`) exists.
    async fn publish_if_complete(&self, step: u64, attempt: &str, world_size: u32) -> Result<()> {
        let dir = self.layout.attempt_dir(step, attempt);
        let listed = crate::objects::list(&dir, false, &self.options).await?;
        let records: Vec<String> = (0..world_size)
            .map(|rank| self.layout.record(step, attempt, rank, world_size))
            .filter(|uri| listed.binary_search(uri).is_ok())
            .collect();
        if records.len() < world_size as usize {
            return Ok(());
        }
        let bodies = crate::fetch::get_many(&records, 64, &self.options).await?;
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
        let manifest = Manifest::from_records(step, attempt, shards);
        let body = serde_json::to_vec(&manifest.to_json()).expect("JSON of a manifest");
        crate::objects::put(&self.layout.manifest(step), body.into(), &self.options).await?;
        let entry = self.layout.index_entry(step);
        crate::objects::put(&entry, Bytes::new(), &self.options).await
    }

    /// Steps with an index entry, ascending; for a format 1 store (no
    /// index), the steps whose manifest exists.
    async fn published_steps(&self) -> Result<Vec<u64>> {
        let index = crate::objects::list(&self.layout.index(), false, &self.options).await?;
        let mut steps: Vec<u64> = index
            .iter()
            .filter_map(|uri| self.layout.step_of_index_entry(uri))
            .collect();
        if steps.is_empty() {
            steps = crate::objects::list(self.base(), true, &self.options)
                .await?
                .iter()
                .filter_map(|uri| self.layout.step_of_manifest(uri))
                .collect();
        }
        steps.sort_unstable();
        Ok(steps)
    }

    /// The newest published step, or `None` for an empty store. A step
    /// being deleted (index entry still there, manifest gone) is passed over.
    pub async fn latest_step(&self) -> Result<Option<u64>> {
        for step in self.published_steps().await?.into_iter().rev() {
            if crate::objects::exists(&self.layout.manifest(step), &self.options).await? {
                return Ok(Some(step));
            }
        }
        Ok(None)
    }

    /// The manifest of a published step (`NotFound` if it is not published).
    pub async fn manifest(&self, step: u64) -> Result<Manifest> {
        let uri = self.layout.manifest(step);
        let body = crate::fetch::get(&uri, &self.options).await?;
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
        let uri = self.layout.shard(&manifest, &record);
        let data = crate::fetch::get(&uri, &self.options).await?;
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
        let uris: Vec<String> = manifest
            .shards
            .iter()
            .map(|record| self.layout.shard(&manifest, record))
            .collect();
        let shards = crate::fetch::get_many(&uris, max_in_flight, &self.options).await?;
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
        let bodies = crate::fetch::get_many(&uris, 64, &self.options).await?;
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

    /// Remove a step, published or not: its index entry first (so it stops
    /// being the latest), then its manifest, then every piece any attempt
    /// left (shards, records, and on local filesystems the temporary files
    /// of a save that was killed). `NotFound` only when nothing of the step
    /// exists.
    pub async fn delete(&self, step: u64) -> Result<()> {
        let opts = &self.options;
        let first = [self.layout.index_entry(step), self.layout.manifest(step)];
        let mut found = false;
        for uri in &first {
            match crate::objects::delete(uri, opts).await {
                Ok(()) => found = true,
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        let step_dir = self.layout.step_dir(step);
        // A local step is one folder, whatever it holds; elsewhere every
        // listed piece goes.
        if crate::objects::remove_local_folder(&step_dir, opts).await? {
            found = true;
        } else {
            let pieces = crate::objects::list(&step_dir, true, opts).await?;
            found |= !pieces.is_empty();
            stream::iter(pieces.into_iter().map(|uri| async move {
                match crate::objects::delete(&uri, opts).await {
                    Err(e) if !e.is_not_found() => Err(e),
                    _ => Ok(()),
                }
            }))
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await?;
        }
        match found {
            true => Ok(()),
            false => Err(Error::NotFound {
                uri: step_dir,
                source: Some(format!("no checkpoint step {step} under {}", self.base()).into()),
            }),
        }
    }
}
