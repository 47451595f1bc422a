//! One cached object on disk: where it lives, and the trailer that says
//! which object and version its bytes are.
//!
//! An entry is one file, `objects/HH/HHHHHHHHHHHHHHHH` (a 64-bit FNV-1a
//! hash of the URI, the first two digits its folder), holding the object's
//! bytes from offset 0, so a hit is read (or mapped) exactly as a `file://`
//! object is, then a trailer: the JSON of [`Stored`], its length (u32 LE)
//! and the magic `S3DLIOC1`. Bytes and version travel in one file renamed
//! into place whole, so no reader ever pairs the bytes of one version with
//! the description of another, and a writer killed midway leaves only a
//! temporary file (never an entry). The trailer's URI is checked on every
//! read, so two URIs with one hash are two misses, never a wrong answer.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::meta::ObjectMeta;

/// The last eight bytes of every entry.
const MAGIC: &[u8; 8] = b"S3DLIOC1";

/// Longest trailer read in one go; a longer one (a very long URI or ETag)
/// takes a second read.
const TAIL_READ: usize = 4096;

/// The folder of the entries, under the cache directory.
pub(super) const OBJECTS: &str = "objects";

/// Which object and version an entry's bytes are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stored {
    /// The object's URI.
    pub uri: String,
    /// Its size: the entry's bytes before the trailer.
    pub size: u64,
    /// Its ETag, when the store gave one.
    pub etag: Option<String>,
    /// Its last-modified time in nanoseconds since the epoch, when given.
    pub modified_ns: Option<u64>,
}

impl Stored {
    /// The version `meta` describes, of the object `uri`.
    pub fn of(uri: &str, meta: &ObjectMeta) -> Self {
        Self {
            uri: uri.to_owned(),
            size: meta.size,
            etag: meta.etag.clone(),
            modified_ns: meta.last_modified.and_then(nanos),
        }
    }

    /// True when `current` (a HEAD's or a listing's answer) is this
    /// version: same size, and the same ETag where both have one, else the
    /// same last-modified time.
    pub fn is_version(&self, current: &ObjectMeta) -> bool {
        if self.size != current.size {
            return false;
        }
        match (&self.etag, &current.etag) {
            (Some(a), Some(b)) => a == b,
            _ => match (self.modified_ns, current.last_modified.and_then(nanos)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        }
    }

    /// The trailer that follows the bytes.
    pub fn trailer(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).expect("plain fields serialise");
        let len = u32::try_from(out.len()).expect("a trailer under 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(MAGIC);
        out
    }

    /// The entry's trailer, read from `file` of `file_len` bytes; `None`
    /// for anything that is not a whole entry.
    pub fn read(file: &File, file_len: u64) -> Option<Self> {
        let want = file_len.min(TAIL_READ as u64) as usize;
        let mut tail = vec![0u8; want];
        file.read_exact_at(&mut tail, file_len - want as u64).ok()?;
        let (rest, magic) = tail.split_at(want.checked_sub(MAGIC.len())?);
        if magic != MAGIC {
            return None;
        }
        let (rest, len) = rest.split_at(rest.len().checked_sub(4)?);
        let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
        let json_end = file_len - 12;
        let json = match rest.len().checked_sub(len) {
            Some(start) => rest[start..].to_vec(),
            None => {
                let mut json = vec![0u8; len];
                file.read_exact_at(&mut json, json_end.checked_sub(len as u64)?)
                    .ok()?;
                json
            }
        };
        let stored: Stored = serde_json::from_slice(&json).ok()?;
        (stored.size + len as u64 + 12 == file_len).then_some(stored)
    }
}

fn nanos(t: SystemTime) -> Option<u64> {
    t.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_nanos()).ok())
}

/// FNV-1a, 64 bits: stable across builds and releases (the std hasher is
/// not), so every process of every version finds the same entry.
fn hash(uri: &str) -> u64 {
    uri.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Where the entry of `uri` lives under the cache directory `dir`.
pub(super) fn path_of(dir: &Path, uri: &str) -> PathBuf {
    let name = format!("{:016x}", hash(uri));
    dir.join(OBJECTS).join(&name[..2]).join(name)
}

/// True for the name of an entry (16 lowercase hex digits).
pub(super) fn is_entry_name(name: &str) -> bool {
    name.len() == 16 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The `.part` file the entry at `entry` is written to (see [`super::part`]).
pub(super) fn part_path(entry: &Path) -> PathBuf {
    let mut name = entry.file_name().expect("an entry has a name").to_owned();
    name.push(".part");
    entry.with_file_name(name)
}

/// True for the name of an entry's `.part` file.
pub(super) fn is_part_name(name: &str) -> bool {
    name.strip_suffix(".part").is_some_and(is_entry_name)
}

/// `data` and its `trailer` ([`Stored::trailer`]) written to `file` from
/// its start.
pub(super) fn write(file: &File, data: &[u8], trailer: &[u8]) -> std::io::Result<()> {
    file.write_all_at(data, 0)?;
    file.write_all_at(trailer, data.len() as u64)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn meta(size: u64, etag: Option<&str>, secs: u64) -> ObjectMeta {
        ObjectMeta {
            uri: "s3://b/k".into(),
            size,
            last_modified: Some(UNIX_EPOCH + Duration::from_secs(secs)),
            etag: etag.map(str::to_owned),
        }
    }

    #[test]
    fn a_trailer_reads_back_and_anything_else_is_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let stored = Stored::of("s3://b/k", &meta(5, Some("\"e1\""), 7));
        let path = dir.path().join("e");
        let file = File::create(&path).unwrap();
        write(&file, b"hello", &stored.trailer()).unwrap();
        let file = File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        assert_eq!(Stored::read(&file, len), Some(stored.clone()));
        // Cut anywhere: not an entry.
        for cut in [0, 1, 5, len - 1] {
            let short = dir.path().join(format!("short{cut}"));
            std::fs::write(&short, &std::fs::read(&path).unwrap()[..cut as usize]).unwrap();
            let f = File::open(&short).unwrap();
            assert_eq!(Stored::read(&f, cut), None, "cut at {cut}");
        }
        // A long trailer takes a second read.
        let long = Stored {
            uri: format!("s3://b/{}", "k".repeat(5000)),
            ..stored
        };
        let path = dir.path().join("long");
        write(&File::create(&path).unwrap(), b"hello", &long.trailer()).unwrap();
        let file = File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        assert_eq!(Stored::read(&file, len), Some(long));
    }

    #[test]
    fn a_version_is_its_etag_and_size_else_its_time_and_size() {
        let stored = Stored::of("s3://b/k", &meta(5, Some("a"), 7));
        assert!(stored.is_version(&meta(5, Some("a"), 9)));
        assert!(!stored.is_version(&meta(5, Some("b"), 7)));
        assert!(!stored.is_version(&meta(6, Some("a"), 7)));
        let untagged = Stored::of("s3://b/k", &meta(5, None, 7));
        assert!(untagged.is_version(&meta(5, Some("a"), 7)));
        assert!(!untagged.is_version(&meta(5, None, 8)));
    }

    #[test]
    fn entries_are_named_by_a_stable_hash() {
        let p = path_of(Path::new("/c"), "s3://bucket/key");
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(p, Path::new("/c/objects").join(&name[..2]).join(name));
        assert!(is_entry_name(name));
        assert!(is_part_name(&format!("{name}.part")));
        assert!(!is_entry_name("not-an-entry"));
        // FNV-1a of "a" is fixed by its definition.
        assert_eq!(hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
