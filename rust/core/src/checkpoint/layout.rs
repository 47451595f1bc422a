//! Where a checkpoint's pieces live and what its manifest says.
//!
//! ```text
//! BASE/latest                                   {"step": N}: written last
//! BASE/step-000000000042/shard-00003-of-00004.bin   one object per (step, rank)
//! BASE/step-000000000042/shard-00003.json           that shard's record (size, crc32c, ...)
//! BASE/step-000000000042/manifest.json              all shards' records: the step is visible
//! ```
//!
//! A step exists for readers only once its manifest does, and the manifest
//! is written only after every shard and shard record; the `latest` marker
//! is moved after that. A crash at any point leaves the previous latest
//! step complete and loadable.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// Manifest format version.
pub const FORMAT: u64 = 1;

/// URIs of a checkpoint's pieces under one base URI.
#[derive(Clone, Debug)]
pub struct Layout {
    base: String,
}

impl Layout {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn latest(&self) -> String {
        format!("{}/latest", self.base)
    }

    pub fn step_dir(&self, step: u64) -> String {
        format!("{}/step-{step:012}", self.base)
    }

    pub fn shard(&self, step: u64, rank: u32, world_size: u32) -> String {
        format!(
            "{}/shard-{rank:05}-of-{world_size:05}.bin",
            self.step_dir(step)
        )
    }

    pub fn record(&self, step: u64, rank: u32) -> String {
        format!("{}/shard-{rank:05}.json", self.step_dir(step))
    }

    pub fn manifest(&self, step: u64) -> String {
        format!("{}/manifest.json", self.step_dir(step))
    }

    /// The step of a manifest URI listed under the base, if it is one.
    pub fn step_of_manifest(&self, uri: &str) -> Option<u64> {
        let rest = uri.strip_prefix(&self.base)?.strip_prefix("/step-")?;
        let (digits, tail) = rest.split_once('/')?;
        (tail == "manifest.json").then(|| digits.parse().ok())?
    }
}

/// What one rank wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardRecord {
    pub rank: u32,
    pub world_size: u32,
    pub size: u64,
    pub crc32c: u32,
    pub user_meta: Value,
}

impl ShardRecord {
    pub fn to_json(&self) -> Value {
        json!({
            "rank": self.rank,
            "world_size": self.world_size,
            "size": self.size,
            "crc32c": self.crc32c,
            "user_meta": self.user_meta,
        })
    }

    pub fn from_json(uri: &str, v: &Value) -> Result<Self> {
        let bad = |what: &str| Error::Checkpoint {
            uri: uri.to_owned(),
            reason: format!("shard record lacks {what}"),
        };
        let num = |key: &str| v.get(key).and_then(Value::as_u64).ok_or_else(|| bad(key));
        Ok(Self {
            rank: u32::try_from(num("rank")?).map_err(|_| bad("a valid rank"))?,
            world_size: u32::try_from(num("world_size")?).map_err(|_| bad("a valid world_size"))?,
            size: num("size")?,
            crc32c: u32::try_from(num("crc32c")?).map_err(|_| bad("a valid crc32c"))?,
            user_meta: v.get("user_meta").cloned().unwrap_or(Value::Null),
        })
    }
}

/// A published step: every shard's record, plus when and with what metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub step: u64,
    pub world_size: u32,
    pub shards: Vec<ShardRecord>,
    /// Rank 0's user metadata.
    pub user_meta: Value,
    /// Seconds since the Unix epoch.
    pub created: f64,
}

impl Manifest {
    /// The manifest of `step` from all of its shard records (any order).
    pub fn from_records(step: u64, mut shards: Vec<ShardRecord>) -> Self {
        shards.sort_by_key(|r| r.rank);
        let world_size = shards.len() as u32;
        let user_meta = shards
            .first()
            .map(|r| r.user_meta.clone())
            .unwrap_or(Value::Null);
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Self {
            step,
            world_size,
            shards,
            user_meta,
            created,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "format": FORMAT,
            "step": self.step,
            "world_size": self.world_size,
            "created": self.created,
            "user_meta": self.user_meta,
            "shards": self.shards.iter().map(ShardRecord::to_json).collect::<Vec<_>>(),
        })
    }

    pub fn parse(uri: &str, bytes: &[u8]) -> Result<Self> {
        let bad = |reason: String| Error::Checkpoint {
            uri: uri.to_owned(),
            reason,
        };
        let v: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let step = v
            .get("step")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("no step".into()))?;
        let shards = v
            .get("shards")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no shards".into()))?
            .iter()
            .map(|s| ShardRecord::from_json(uri, s))
            .collect::<Result<Vec<_>>>()?;
        let world_size = v
            .get("world_size")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("no world_size".into()))? as u32;
        if shards.len() != world_size as usize
            || shards.iter().enumerate().any(|(i, s)| s.rank as usize != i)
        {
            return Err(bad("shards do not match world_size".into()));
        }
        Ok(Self {
            step,
            world_size,
            shards,
            user_meta: v.get("user_meta").cloned().unwrap_or(Value::Null),
            created: v.get("created").and_then(Value::as_f64).unwrap_or(0.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_manifest_round_trip() {
        let l = Layout::new("s3://b/ckpt/");
        assert_eq!(
            l.shard(42, 3, 4),
            "s3://b/ckpt/step-000000000042/shard-00003-of-00004.bin"
        );
        assert_eq!(l.step_of_manifest(&l.manifest(42)), Some(42));
        assert_eq!(l.step_of_manifest(&l.record(42, 0)), None);
        let records = (0..2)
            .rev()
            .map(|rank| ShardRecord {
                rank,
                world_size: 2,
                size: 10,
                crc32c: 7,
                user_meta: json!({"rank": rank}),
            })
            .collect();
        let m = Manifest::from_records(42, records);
        assert_eq!(m.user_meta, json!({"rank": 0}));
        let text = serde_json::to_vec(&m.to_json()).unwrap();
        assert_eq!(Manifest::parse("u", &text).unwrap(), m);
    }
}
