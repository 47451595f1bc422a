//! A local cache of remote objects (`S3DLIO_CACHE_DIR`, `S3DLIO_CACHE_BYTES`,
//! `S3DLIO_CACHE_VALIDATE`, or the options `cache_dir`, `cache_bytes`,
//! `cache_validate`): an object read from `s3://`, `az://` or `gs://` is
//! kept on local disk, and later reads of it (the second epoch and on) are
//! served from there while it is unchanged.
//!
//! Every remote read passes here when a cache is set: `get`, `get_range`,
//! `get_many`, `get_ranges`, `get_batch`, and through them the datasets and
//! the shard readers. A whole read is fetched as without a cache (into
//! memory, parallel parts and all) and then written to disk; a ranged read
//! of an object not yet cached (a Parquet column, a tar header) fetches the
//! whole object to disk in ranged parts, once, and is then served from it.
//!
//! - **Validated**, by default, against the store: by what a listing said
//!   of the object ([`listed`]), else one HEAD (ETag and size, else
//!   last-modified and size). `cache_validate=never` trusts the copy (for
//!   datasets that never change in place).
//! - **Fetched once** by all the processes on the machine ([`lock`]), and
//!   **written once**: bytes and version in one file renamed into place
//!   ([`entry`]).
//! - **Bounded**: least recently used entries are evicted past the budget,
//!   never one being read, never a file s3dlio did not write ([`space`]).
//! - **Never an error or a stall of its own**: an object larger than the
//!   whole budget, a full or failing disk, is read through, uncached, with
//!   a line on stderr the first time. The one error is a cache directory
//!   holding files s3dlio did not write.
//! - **Zero-copy as `file://`**: a hit is read into an aligned buffer, or
//!   mapped where `file_mmap` is on (as for tar shards).
//!
//! Counted in `metrics()["cache"]` ([`crate::metrics::cache_snapshot`]).
//!
//! One concern per file: [`entry`] (an entry's name and trailer), `part`
//! (what an object is written to), `lock`, `space` (the directory, its
//! budget, eviction), [`listed`], `keep` (a fetched object becoming an
//! entry), `forget` (what this process writes or removes), `reads` (the
//! reads through the cache); here, the configuration and the look-up every
//! read starts with (`claim`).

pub(crate) mod entry;
mod forget;
mod keep;
pub(crate) mod listed;
mod lock;
mod part;
mod reads;
mod space;

use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicPtr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::local;
use super::mapped;
use super::object::Whole;
use crate::buffer::Region;
use crate::error::{Error, Result};
use crate::exec::Worker;
use crate::meta::{ByteRange, ObjectMeta};
use crate::metrics::cache as counted;
use crate::options::{self, Options};
use crate::process::{per_process, Stamped};
use crate::runtime;
use entry::Stored;
use part::Part;
pub use space::{clear, stats, CacheStats};
use space::{Refused, Space};

/// A remote object as the cache reads it.
pub(crate) trait Origin: Sync {
    /// Its URI.
    fn uri(&self) -> &str;
    /// Its size, time and ETag now.
    fn head(&self) -> impl Future<Output = Result<ObjectMeta>> + Send;
    /// `range` of it, and the version read.
    fn fetch(
        &self,
        range: ByteRange,
        whole: Whole,
    ) -> impl Future<Output = Result<(Bytes, ObjectMeta)>> + Send;
    /// All of it into `region`, and the version read.
    fn fetch_into_place(
        &self,
        region: Region,
    ) -> impl Future<Output = Result<(Region, ObjectMeta)>> + Send;
    /// All of version `version` of it written into `file`, in ranged parts.
    fn download(
        &self,
        version: &ObjectMeta,
        file: File,
    ) -> impl Future<Output = Result<u64>> + Send;
}

/// How a cached copy is checked before it is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Validate {
    /// Against the store: a listing's answer, else a HEAD.
    Etag,
    /// Not at all.
    Never,
}

/// One cache directory, shared by every call of this process using it.
struct Cache {
    space: Space,
    warned_large: AtomicBool,
    warned_failing: AtomicBool,
}

/// The cache as one call uses it.
#[derive(Clone)]
pub(crate) struct CacheUse {
    cache: Arc<Cache>,
    validate: Validate,
    /// Hits are views over the entry's mapped pages (`file_mmap`).
    mmap: bool,
}

/// The caches opened by this process, by directory and budget; `None` for
/// one whose disk failed (read through, said once).
type Opened = Mutex<HashMap<(PathBuf, Option<u64>), Option<Arc<Cache>>>>;

/// Per process (a forked DataLoader worker opens its own: a lock another
/// thread held at the fork cannot hang it).
fn opened() -> &'static Opened {
    static OPENED: AtomicPtr<Stamped<Opened>> = AtomicPtr::new(std::ptr::null_mut());
    per_process(&OPENED, Opened::default, drop)
}

/// The cache `options` set, if any, its hits mapped when `mmap`. An error
/// for a bad value, or a directory holding files s3dlio did not write.
pub(crate) fn for_options(options: &Options, mmap: bool) -> Result<Option<CacheUse>> {
    let Some(dir) = options.first_of(&[options::CACHE_DIR_OPTION, options::CACHE_DIR]) else {
        return Ok(None);
    };
    if dir.is_empty() {
        return Ok(None);
    }
    let budget =
        options.bytes(options.key_set(&[options::CACHE_BYTES_OPTION, options::CACHE_BYTES]))?;
    let validate = match options
        .first_of(&[options::CACHE_VALIDATE_OPTION, options::CACHE_VALIDATE])
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("etag") | Some("") => Validate::Etag,
        Some("never") => Validate::Never,
        Some(other) => {
            return Err(Error::InvalidArgument(format!(
                "cache_validate={other:?}: expected \"etag\" or \"never\""
            )))
        }
    };
    let dir = PathBuf::from(dir);
    let mut caches = opened().lock().unwrap_or_else(|e| e.into_inner());
    let cache = match caches.get(&(dir.clone(), budget)) {
        Some(cache) => cache.clone(),
        None => {
            let cache = match Space::open(&dir, budget) {
                Ok(space) => Some(Arc::new(Cache {
                    space,
                    warned_large: AtomicBool::new(false),
                    warned_failing: AtomicBool::new(false),
                })),
                Err(Refused::Foreign(e)) => return Err(e),
                Err(Refused::Failing(e)) => {
                    eprintln!(
                        "s3dlio: the cache directory {} cannot be used ({e}); remote objects \
                         are read through, uncached",
                        dir.display()
                    );
                    None
                }
            };
            caches.insert((dir, budget), cache.clone());
            cache
        }
    };
    Ok(cache.map(|cache| CacheUse {
        cache,
        validate,
        mmap,
    }))
}

/// What a lookup that found no current entry saw: a stale copy's version,
/// or nothing.
type Seen = Option<Stored>;

/// What [`CacheUse::claim`] gives.
enum Claim {
    /// A current entry: read it.
    Current(Box<Open>),
    /// None: fetch the object, writing it to this `.part`, whose lock it
    /// holds (`None` where the disk refused one: the object is read
    /// through).
    Fetch(Option<Part>),
}

/// What the first look of a claim found.
enum Found {
    /// A current entry, or what taking the fetch lock gave.
    Claimed(std::result::Result<Claim, Seen>),
    /// A copy only a HEAD can check.
    Unchecked(Box<Open>),
}

/// Whether `open` is current by what needs no request: `never` trusts it,
/// a listing's answer decides; `None` when only a HEAD can tell.
fn trusted(validate: Validate, open: &Open, uri: &str) -> Option<bool> {
    match validate {
        Validate::Never => Some(true),
        Validate::Etag => listed::version(uri).map(|v| open.stored.is_version(&v)),
    }
}

/// The fetch lock of the entry at `path`, waited for, then the entry if
/// another process wrote it meanwhile (not the `seen` one): as fresh as a
/// fetch of ours would be, so served without another check.
///
/// `Err(seen)` while another process holds the lock: look again later.
fn claim_after(path: &Path, uri: &str, seen: Seen) -> std::result::Result<Claim, Seen> {
    let part = match Part::claim(path) {
        Ok(None) => None,
        Ok(Some(part)) => Some(Some(part)),
        Err(_) => Some(None),
    };
    match (open_entry(path, uri), part) {
        (Some(open), _) if Some(&open.stored) != seen.as_ref() => {
            Ok(Claim::Current(Box::new(open)))
        }
        (_, None) => Err(seen),
        (_, Some(part)) => Ok(Claim::Fetch(part)),
    }
}

/// The longest pause between two looks while another process fetches.
const BUSY_PAUSE_MAX: std::time::Duration = std::time::Duration::from_millis(20);

/// An entry opened for a read, locked shared while it is read.
struct Open {
    file: File,
    meta: std::fs::Metadata,
    stored: Stored,
}

/// The entry at `path` if it is a whole one of `uri` (call it on a
/// blocking thread); `None` for no entry, a foreign or broken one, one
/// locked exclusively, or a disk error (all misses).
///
/// The shared lock is only tried: an exclusive one on an entry is an
/// eviction removing it (or one a child forked meanwhile inherited, which
/// it holds until it exits), and no thread waits for another process.
fn open_entry(path: &Path, uri: &str) -> Option<Open> {
    let file = File::open(path).ok()?;
    if !lock::flock(&file, libc::LOCK_SH | libc::LOCK_NB) {
        return None;
    }
    let meta = file.metadata().ok()?;
    let stored = Stored::read(&file, meta.len())?;
    (stored.uri == uri).then_some(Open { file, meta, stored })
}

/// Mark the entry `file` used now (its access time, which eviction orders by).
fn touch(file: &File) {
    let times = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
    ];
    // SAFETY: `file` owns an open descriptor; futimens only sets its times.
    unsafe { libc::futimens(file.as_raw_fd(), times.as_ptr()) };
}

impl CacheUse {
    fn path_of(&self, uri: &str) -> PathBuf {
        entry::path_of(&self.cache.space.dir, uri)
    }

    /// The current entry of `origin`'s object, or, when there is none or
    /// it is stale, the fetch lock, taken (and then a last look for an entry
    /// another process wrote while this one waited). One blocking call
    /// unless a HEAD has to check the copy.
    async fn claim(&self, origin: &impl Origin) -> Result<Claim> {
        let uri = origin.uri().to_owned();
        let path = self.path_of(&uri);
        let validate = self.validate;
        let found = runtime::blocking(move || match open_entry(&path, &uri) {
            None => Found::Claimed(claim_after(&path, &uri, None)),
            Some(open) => match trusted(validate, &open, &uri) {
                Some(true) => Found::Claimed(Ok(Claim::Current(Box::new(open)))),
                Some(false) => {
                    let seen = Some(open.stored.clone());
                    drop(open);
                    Found::Claimed(claim_after(&path, &uri, seen))
                }
                None => Found::Unchecked(Box::new(open)),
            },
        })
        .await;
        match found {
            Found::Claimed(claim) => self.unless_busy(origin.uri(), claim).await,
            Found::Unchecked(open) => {
                let now = origin.head().await?;
                let stale = !open.stored.is_version(&now);
                counted::validated(stale);
                match stale {
                    false => Ok(Claim::Current(open)),
                    true => self.claim_over(origin.uri(), *open).await,
                }
            }
        }
    }

    /// The fetch lock of `uri`'s entry, to replace the stale copy `open`
    /// (or the entry another process wrote meanwhile).
    async fn claim_over(&self, uri: &str, open: Open) -> Result<Claim> {
        let (seen, owned, path) = (Some(open.stored.clone()), uri.to_owned(), self.path_of(uri));
        drop(open);
        let claim = runtime::blocking(move || claim_after(&path, &owned, seen)).await;
        self.unless_busy(uri, claim).await
    }

    /// `claim`, or, while another process fetches the object, what a
    /// later look finds: its entry once written, or the fetch lock if that
    /// process gave up. Waits on the runtime's timer, holding no thread.
    async fn unless_busy(
        &self,
        uri: &str,
        mut claim: std::result::Result<Claim, Seen>,
    ) -> Result<Claim> {
        let mut pause = std::time::Duration::from_millis(1);
        loop {
            let seen = match claim {
                Ok(claim) => return Ok(claim),
                Err(seen) => seen,
            };
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(BUSY_PAUSE_MAX);
            let (path, uri) = (self.path_of(uri), uri.to_owned());
            claim = runtime::blocking(move || claim_after(&path, &uri, seen)).await;
        }
    }

    /// `range` of the cached `open` entry: read, or mapped with `mmap`;
    /// counted a hit unless the entry was fetched for this read (`hit`).
    async fn read(&self, open: Open, uri: &str, range: ByteRange, hit: bool) -> Result<Bytes> {
        let (this, uri) = (self.clone(), uri.to_owned());
        runtime::blocking(move || this.read_open(open, &uri, range, hit, &Worker::alone())).await
    }

    /// [`CacheUse::read`] on this thread.
    fn read_open(
        &self,
        open: Open,
        uri: &str,
        range: ByteRange,
        hit: bool,
        worker: &Worker,
    ) -> Result<Bytes> {
        let span = range.resolve(uri, open.stored.size)?;
        let range = ByteRange {
            offset: span.start,
            length: Some(span.end - span.start),
        };
        let bytes = match self.mmap && span.end > span.start {
            true => mapped::view(uri, &open.file, &open.meta, range, worker)?,
            false => local::read(uri, &open.file, &open.meta, range, worker)?,
        };
        touch(&open.file);
        if hit {
            counted::hit(bytes.len() as u64);
        }
        Ok(bytes)
    }

    /// `range` of `uri` read from its entry on this thread (a blocking
    /// worker's), when the entry is current by what needs no request
    /// (`never`, or a listing's answer); `None` otherwise: a miss, or a copy
    /// only a HEAD can check, which the async read then handles. This is
    /// how a batch of hits is read as `file://` objects are, by a few
    /// workers object after object, with no task per object.
    pub fn read_now(&self, uri: &str, range: ByteRange, worker: &Worker) -> Option<Result<Bytes>> {
        let open = open_entry(&self.path_of(uri), uri)?;
        if trusted(self.validate, &open, uri) != Some(true) {
            return None;
        }
        Some(self.read_open(open, uri, range, true, worker))
    }

    /// The whole object `uri` into `region` from its entry, on this thread,
    /// as [`CacheUse::read_now`]; the region back unfilled otherwise.
    pub fn fill_now(
        &self,
        uri: &str,
        region: Region,
        worker: &Worker,
    ) -> Result<std::result::Result<Region, Region>> {
        let Some(open) = open_entry(&self.path_of(uri), uri) else {
            return Ok(Err(region));
        };
        let current = trusted(self.validate, &open, uri) == Some(true);
        if !current || open.stored.size != region.len() as u64 {
            return Ok(Err(region));
        }
        self.fill_open(open, uri, region, worker).map(Ok)
    }

    /// The whole cached `open` entry into `region` (sized to it), on this
    /// thread; counted a hit.
    fn fill_open(
        &self,
        open: Open,
        uri: &str,
        mut region: Region,
        worker: &Worker,
    ) -> Result<Region> {
        local::fill(uri, &open.file, 0, &mut region, worker)?;
        touch(&open.file);
        counted::hit(region.len() as u64);
        Ok(region)
    }
}
