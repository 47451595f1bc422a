//! Where a checkpoint's pieces live and what its manifest says.
//!
//! ```text
//! BASE/published/step-000000000042                      index entry, written last: published
//! BASE/step-000000000042/manifest.json                  the attempt that completed, all its records
//! BASE/step-000000000042/attempt-A/rank-00003-of-00004.json        rank 3's record in attempt A
//! BASE/step-000000000042/attempt-A/rank-00003-of-00004.<nonce>.bin its shard, a new name per save
//! ```
//!
//! An *attempt* is one run of the job (a restart is a new attempt): only
//! records of one attempt and one world size are ever combined into a
//! manifest, so shards a crashed attempt left behind never join the next
//! attempt's step. Shard objects get a fresh name on every save and are
//! never overwritten, so a published manifest always names data that is
//! still there, whatever a later save of the same step does or where it
//! dies. The index holds one empty object per published step; the newest
//! entry is the latest step. Unlike a single marker rewritten by every
//! publisher, it cannot move backwards when saves overlap, and needs no
//! conditional write.
//!
//! Format 1 stores (one `latest` marker, `step-N/shard-R-of-W.bin`) are
//! still read: a manifest without an attempt names its shards that way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// Manifest format version written.
pub const FORMAT: u64 = 2;

/// Longest attempt id kept in object names.
const MAX_ATTEMPT_LEN: usize = 64;

/// URIs of a checkpoint's pieces under one base URI.
#[derive(Clone, Debug)]
pub struct Layout {
    base: String,
}

impl Layout {
    /// The layout under `base` (a trailing `/` is ignored).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// The base URI, without a trailing `/`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The folder of index entries, one per published step.
    pub fn index(&self) -> String {
        format!("{}/published", self.base)
    }

    /// The index entry that publishes `step`.
    pub fn index_entry(&self, step: u64) -> String {
        format!("{}/step-{step:012}", self.index())
    }

    /// The step of an index entry listed under [`Layout::index`].
    pub fn step_of_index_entry(&self, uri: &str) -> Option<u64> {
        let rest = uri.strip_prefix(&self.index())?.strip_prefix("/step-")?;
        digits(rest)
    }

    /// The folder of everything saved for `step`.
    pub fn step_dir(&self, step: u64) -> String {
        format!("{}/step-{step:012}", self.base)
    }

    /// The folder of `attempt`'s records and shards of `step`.
    pub fn attempt_dir(&self, step: u64, attempt: &str) -> String {
        format!("{}/attempt-{attempt}", self.step_dir(step))
    }

    /// The record (JSON) of `rank`'s shard of `step` in `attempt`.
    pub fn record(&self, step: u64, attempt: &str, rank: u32, world_size: u32) -> String {
        format!(
            "{}/{}.json",
            self.attempt_dir(step, attempt),
            rank_name(rank, world_size)
        )
    }

    /// A fresh name for rank's shard data in `attempt`: never one that
    /// exists, so no save overwrites data a manifest may name.
    pub fn new_shard_object(rank: u32, world_size: u32) -> String {
        format!("{}.{}.bin", rank_name(rank, world_size), nonce())
    }

    /// Where the shard a manifest's record describes lives.
    pub fn shard(&self, manifest: &Manifest, record: &ShardRecord) -> String {
        match (&manifest.attempt, &record.object) {
            (Some(attempt), Some(object)) => {
                format!("{}/{object}", self.attempt_dir(manifest.step, attempt))
            }
            _ => format!(
                "{}/shard-{:05}-of-{:05}.bin",
                self.step_dir(manifest.step),
                record.rank,
                manifest.world_size
            ),
        }
    }

    /// The manifest of `step`.
    pub fn manifest(&self, step: u64) -> String {
        format!("{}/manifest.json", self.step_dir(step))
    }

    /// The step of a manifest URI listed under the base, if it is one.
    pub fn step_of_manifest(&self, uri: &str) -> Option<u64> {
        let rest = uri.strip_prefix(&self.base)?.strip_prefix("/step-")?;
        let (step, tail) = rest.split_once('/')?;
        (tail == "manifest.json").then(|| digits(step))?
    }
}

fn digits(text: &str) -> Option<u64> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

fn rank_name(rank: u32, world_size: u32) -> String {
    format!("rank-{rank:05}-of-{world_size:05}")
}

/// 16 hex digits that no other save (in this or another process) picks.
fn nonce() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mixed =
        nanos ^ (u64::from(std::process::id()) << 40) ^ count.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{mixed:016x}")
}

/// The characters an attempt id may hold: safe in any store's keys.
fn safe_in_attempt(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// An attempt id given by the caller: kept only if it is safe in a key.
pub fn checked_attempt(base: &str, attempt: &str) -> Result<String> {
    let safe = attempt.chars().all(safe_in_attempt);
    if attempt.is_empty() || attempt.len() > MAX_ATTEMPT_LEN || !safe {
        return Err(Error::InvalidArgument(format!(
            "{base}: checkpoint attempt {attempt:?} must be 1 to {MAX_ATTEMPT_LEN} \
             characters of A-Z, a-z, 0-9, '.', '_' or '-'"
        )));
    }
    Ok(attempt.to_owned())
}

/// `text` with every character unsafe in a key replaced by `_`, cut to length.
pub fn sanitized_attempt(text: &str) -> String {
    let mut clean: String = text
        .chars()
        .map(|c| if safe_in_attempt(c) { c } else { '_' })
        .collect();
    clean.truncate(MAX_ATTEMPT_LEN);
    if clean.is_empty() {
        "0".into()
    } else {
        clean
    }
}

/// What one rank wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardRecord {
    /// The rank that wrote the shard.
    pub rank: u32,
    /// How many ranks the attempt had.
    pub world_size: u32,
    /// The shard's size in bytes.
    pub size: u64,
    /// The crc32c of the shard's bytes.
    pub crc32c: u32,
    /// The rank's metadata, as given to the save.
    pub user_meta: Value,
    /// The shard's object name in its attempt's folder (format 2).
    pub object: Option<String>,
}

impl ShardRecord {
    /// The record as stored (a JSON object).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "rank": self.rank,
            "world_size": self.world_size,
            "size": self.size,
            "crc32c": self.crc32c,
            "user_meta": self.user_meta,
        });
        if let Some(object) = &self.object {
            v["object"] = json!(object);
        }
        v
    }

    /// The record stored as `v`; a [`Error::Checkpoint`] naming `uri`
    /// when a field is missing or invalid.
    pub fn from_json(uri: &str, v: &Value) -> Result<Self> {
        let bad = |what: &str| Error::Checkpoint {
            uri: uri.to_owned(),
            reason: format!("shard record lacks {what}"),
        };
        let num = |key: &str| v.get(key).and_then(Value::as_u64).ok_or_else(|| bad(key));
        let object = match v.get("object") {
            None => None,
            Some(o) => Some(
                o.as_str()
                    .filter(|o| !o.is_empty() && !o.contains('/') && !o.starts_with('.'))
                    .ok_or_else(|| bad("a valid object name"))?
                    .to_owned(),
            ),
        };
        Ok(Self {
            rank: u32::try_from(num("rank")?).map_err(|_| bad("a valid rank"))?,
            world_size: u32::try_from(num("world_size")?).map_err(|_| bad("a valid world_size"))?,
            size: num("size")?,
            crc32c: u32::try_from(num("crc32c")?).map_err(|_| bad("a valid crc32c"))?,
            user_meta: v.get("user_meta").cloned().unwrap_or(Value::Null),
            object,
        })
    }
}

/// A published step: every shard's record, plus when and with what metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The training step.
    pub step: u64,
    /// How many ranks (and shards) the step has.
    pub world_size: u32,
    /// The attempt whose shards these are (`None`: format 1).
    pub attempt: Option<String>,
    /// Every rank's record, by rank.
    pub shards: Vec<ShardRecord>,
    /// Rank 0's user metadata.
    pub user_meta: Value,
    /// Seconds since the Unix epoch.
    pub created: f64,
}

impl Manifest {
    /// The manifest of `step` from all of one attempt's shard records (any order).
    pub fn from_records(step: u64, attempt: &str, mut shards: Vec<ShardRecord>) -> Self {
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
            attempt: Some(attempt.to_owned()),
            shards,
            user_meta,
            created,
        }
    }

    /// The manifest as stored (a JSON object).
    pub fn to_json(&self) -> Value {
        json!({
            "format": FORMAT,
            "step": self.step,
            "world_size": self.world_size,
            "attempt": self.attempt,
            "created": self.created,
            "user_meta": self.user_meta,
            "shards": self.shards.iter().map(ShardRecord::to_json).collect::<Vec<_>>(),
        })
    }

    /// The manifest stored at `uri` as `bytes` (format 1 or 2); a
    /// [`Error::Checkpoint`] when it is malformed.
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
        let attempt = match v.get("attempt") {
            None | Some(Value::Null) => None,
            Some(a) => Some(
                a.as_str()
                    .and_then(|a| checked_attempt(uri, a).ok())
                    .ok_or_else(|| bad("malformed attempt".into()))?,
            ),
        };
        if attempt.is_some() && shards.iter().any(|s| s.object.is_none()) {
            return Err(bad("a shard record names no object".into()));
        }
        Ok(Self {
            step,
            world_size,
            attempt,
            shards,
            user_meta: v.get("user_meta").cloned().unwrap_or(Value::Null),
            created: v.get("created").and_then(Value::as_f64).unwrap_or(0.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(rank: u32) -> ShardRecord {
        ShardRecord {
            rank,
            world_size: 2,
            size: 10,
            crc32c: 7,
            user_meta: json!({"rank": rank}),
            object: Some(Layout::new_shard_object(rank, 2)),
        }
    }

    #[test]
    fn names_and_manifest_round_trip() {
        let l = Layout::new("s3://b/ckpt/");
        assert_eq!(
            l.record(42, "a1", 3, 4),
            "s3://b/ckpt/step-000000000042/attempt-a1/rank-00003-of-00004.json"
        );
        assert_eq!(l.step_of_manifest(&l.manifest(42)), Some(42));
        assert_eq!(l.step_of_manifest(&l.record(42, "a1", 0, 1)), None);
        assert_eq!(l.step_of_index_entry(&l.index_entry(42)), Some(42));
        assert_eq!(l.step_of_index_entry(&l.manifest(42)), None);
        let m = Manifest::from_records(42, "a1", (0..2).rev().map(record).collect());
        assert_eq!(m.user_meta, json!({"rank": 0}));
        let shard = l.shard(&m, &m.shards[1]);
        assert!(shard.starts_with("s3://b/ckpt/step-000000000042/attempt-a1/rank-00001-of-00002."));
        let text = serde_json::to_vec(&m.to_json()).unwrap();
        assert_eq!(Manifest::parse("u", &text).unwrap(), m);
    }

    #[test]
    fn shard_objects_never_repeat_a_name() {
        let names: std::collections::HashSet<_> =
            (0..1000).map(|_| Layout::new_shard_object(0, 1)).collect();
        assert_eq!(names.len(), 1000);
    }

    #[test]
    fn format_1_manifests_name_their_shards_the_old_way() {
        let text = br#"{"format":1,"step":7,"world_size":1,"created":1.0,"user_meta":null,
            "shards":[{"rank":0,"world_size":1,"size":3,"crc32c":1,"user_meta":null}]}"#;
        let m = Manifest::parse("u", text).unwrap();
        assert_eq!(m.attempt, None);
        assert_eq!(
            Layout::new("file:///c").shard(&m, &m.shards[0]),
            "file:///c/step-000000000007/shard-00000-of-00001.bin"
        );
    }

    #[test]
    fn attempts_are_checked_or_sanitized() {
        assert!(checked_attempt("b", "run-7.r2").is_ok());
        for bad in ["", "a/b", "..x/", &"x".repeat(65), "é"] {
            assert!(checked_attempt("b", bad).is_err(), "{bad:?}");
        }
        assert_eq!(sanitized_attempt("a/b:c"), "a_b_c");
        assert_eq!(sanitized_attempt(""), "0");
    }
}
