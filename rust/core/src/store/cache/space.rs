//! The cache directory: who owns it, how full it is, and eviction.
//!
//! - **Ownership.** s3dlio uses a directory it made, marked by the file
//!   `.s3dlio-cache`, or an empty one it then marks; a directory holding
//!   anything else is refused with an error naming it, and nothing but
//!   entries and their abandoned `.part` files under `objects/` is ever
//!   removed, by eviction or by `s3dlio cache clear`.
//! - **Fullness.** The marker's last eight bytes are the bytes held, a
//!   counter every process on the machine adds to through one shared
//!   mapping of the file (an atomic add per entry, no scan). A scan, at
//!   each eviction, sets it back to what the entries really hold (a process
//!   killed between a rename and its add leaves it short).
//! - **Eviction.** When an entry would take the cache over its budget, the
//!   least recently used entries (by access time, which every hit sets) are
//!   removed down to 90% of the budget, under one lock so that processes do
//!   not evict together (a record lock, which a forked child does not
//!   inherit; see [`lock::process_lock`]). One that finds it taken does
//!   not wait: it keeps its entry if that leaves the cache within 5% over
//!   the budget, else reads through. An entry being read or mapped (see
//!   [`super::lock`]) is skipped.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

use super::entry::{self, OBJECTS};
use super::lock;
use crate::error::{Error, Result};
use crate::metrics;

/// The marker of a directory s3dlio owns.
pub(crate) const MARKER: &str = ".s3dlio-cache";

/// What the marker says to a person who opens it.
const MARKER_TEXT: &[u8] = b"s3dlio cache v1: s3dlio made this directory and owns all it holds; \
`s3dlio cache clear DIR` empties it.\n";

/// The marker's size: one page, its last eight bytes the counter.
const MARKER_LEN: usize = 4096;

/// Where the counter of bytes held is in the marker.
const COUNTER_AT: usize = MARKER_LEN - 8;

/// The lock one eviction at a time holds.
const EVICTING: &str = ".evict.lock";

/// The cache directory of one process, its counter mapped.
pub(crate) struct Space {
    /// The directory.
    pub dir: PathBuf,
    /// The most bytes its entries may hold.
    pub budget: u64,
    counter: NonNull<AtomicU64>,
    /// A thread of this process is evicting (the record lock cannot tell
    /// two threads of one process apart). Two `Space`s of one directory in
    /// a process (two budgets) may evict at once: harmless, only wasteful.
    evicting: AtomicBool,
}

// SAFETY: the counter is an atomic on a shared mapping that lives as long
// as this value; every access goes through the atomic.
unsafe impl Send for Space {}
// SAFETY: as above.
unsafe impl Sync for Space {}

impl Drop for Space {
    fn drop(&mut self) {
        let page = self.counter.as_ptr().cast::<u8>().wrapping_sub(COUNTER_AT);
        // SAFETY: the mapping of MARKER_LEN bytes made in `map_counter`,
        // which nothing uses once this value is gone.
        unsafe { libc::munmap(page.cast(), MARKER_LEN) };
    }
}

/// Why a cache directory cannot be used.
pub(crate) enum Refused {
    /// It holds files s3dlio did not write: an error for the caller.
    Foreign(Error),
    /// The disk failed (full, read-only, no permission): read through.
    Failing(std::io::Error),
}

/// The error for a directory that is not the cache's.
fn foreign(dir: &Path, what: &str) -> Refused {
    Refused::Foreign(Error::InvalidArgument(format!(
        "S3DLIO_CACHE_DIR={}: {what}; s3dlio keeps its cache only in a directory it made \
         (marked by {MARKER}) or an empty one, so that it never removes files it did not write",
        dir.display()
    )))
}

impl Space {
    /// The cache in `dir` (made if missing) with `budget` bytes, or, when
    /// `None`, 80% of what the disk has free plus what the cache holds.
    pub fn open(dir: &Path, budget: Option<u64>) -> std::result::Result<Self, Refused> {
        fs::create_dir_all(dir).map_err(Refused::Failing)?;
        let marker = dir.join(MARKER);
        if !marker.exists() {
            let stray = fs::read_dir(dir)
                .map_err(Refused::Failing)?
                .filter_map(|e| e.ok())
                // A marker another process is making (`.s3dlio-cache.PID`).
                .find(|e| !e.file_name().to_string_lossy().starts_with(MARKER));
            if let Some(stray) = stray {
                let what = format!(
                    "it holds {:?} and no {MARKER}",
                    stray.file_name().to_string_lossy()
                );
                return Err(foreign(dir, &what));
            }
            make_marker(dir, &marker).map_err(Refused::Failing)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&marker)
            .map_err(Refused::Failing)?;
        let len = file.metadata().map_err(Refused::Failing)?.len();
        if len != MARKER_LEN as u64 {
            return Err(foreign(dir, &format!("its {MARKER} is not s3dlio's")));
        }
        let counter = map_counter(&file).map_err(Refused::Failing)?;
        let mut space = Self {
            dir: dir.to_path_buf(),
            budget: 0,
            counter,
            evicting: AtomicBool::new(false),
        };
        space.budget = match budget {
            Some(budget) => budget,
            None => free_bytes(dir).map_err(Refused::Failing)? / 5 * 4 + space.used() / 5 * 4,
        };
        Ok(space)
    }

    fn counter(&self) -> &AtomicU64 {
        // SAFETY: the counter lies in the shared mapping this value owns.
        unsafe { self.counter.as_ref() }
    }

    /// The bytes the entries hold, as counted.
    pub fn used(&self) -> u64 {
        self.counter().load(Ordering::Relaxed)
    }

    /// Count `bytes` more (an entry renamed into place) or fewer.
    pub fn add(&self, bytes: u64) {
        self.counter().fetch_add(bytes, Ordering::Relaxed);
    }

    fn sub(&self, bytes: u64) {
        let _ = self
            .counter()
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(bytes))
            });
    }

    /// Count an entry of `bytes` replaced or removed by this process.
    pub fn forget(&self, bytes: u64) {
        self.sub(bytes);
    }

    /// Room for `incoming` more bytes within the budget, evicting the
    /// least recently used entries not in use if needed (call it on a
    /// blocking thread). False when even that leaves no room.
    pub fn make_room(&self, incoming: u64) -> bool {
        if self.used().saturating_add(incoming) <= self.budget {
            return true;
        }
        let Some(_evicting) = self.evict_lock() else {
            // Another process or thread is evicting: never wait for it (a
            // scan of a large cache takes a while); within 5% over, keep
            // this one.
            return self.used().saturating_add(incoming) <= self.budget + self.budget / 20;
        };
        let low = (self.budget / 10 * 9).saturating_sub(incoming);
        let (mut held, entries) = scan(&self.dir);
        let mut oldest: Vec<Found> = entries;
        oldest.sort_by_key(|f| f.used_at);
        for found in oldest {
            if held <= low {
                break;
            }
            if remove_unused(&found.path) {
                held = held.saturating_sub(found.size);
                metrics::cache::evicted(found.size);
            }
        }
        self.counter().store(held, Ordering::Relaxed);
        held.saturating_add(incoming) <= self.budget
    }

    /// The lock one eviction at a time holds, on machine and in process,
    /// if free now; released when dropped. `None` also when the lock file
    /// cannot be made (no eviction then, as when another holds it).
    fn evict_lock(&self) -> Option<EvictLock<'_>> {
        if self.evicting.swap(true, Ordering::Acquire) {
            return None;
        }
        // Lowers the flag again on every way out.
        let mut held = EvictLock {
            file: None,
            evicting: &self.evicting,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.dir.join(EVICTING))
            .ok()?;
        if !lock::process_lock(file.as_raw_fd()) {
            return None;
        }
        held.file = Some(file);
        Some(held)
    }
}

/// The eviction lock, held: this process's record lock on the lock file
/// (dropped with the file) and its own flag.
struct EvictLock<'a> {
    file: Option<File>,
    evicting: &'a AtomicBool,
}

impl Drop for EvictLock<'_> {
    fn drop(&mut self) {
        drop(self.file.take()); // closed (unlocked) before the flag falls
        self.evicting.store(false, Ordering::Release);
    }
}

/// The marker written under a temporary name and linked into place, so
/// two processes making it at once end up sharing one.
fn make_marker(dir: &Path, marker: &Path) -> std::io::Result<()> {
    let tmp = dir.join(format!("{MARKER}.{}", std::process::id()));
    let mut page = vec![0u8; MARKER_LEN];
    page[..MARKER_TEXT.len()].copy_from_slice(MARKER_TEXT);
    File::create(&tmp)?.write_all(&page)?;
    let linked = fs::hard_link(&tmp, marker);
    let _ = fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// The counter of the marker `file`, mapped shared.
fn map_counter(file: &File) -> std::io::Result<NonNull<AtomicU64>> {
    // SAFETY: a new shared mapping of the marker's one page; the kernel
    // picks the address.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            MARKER_LEN,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if page == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let at = page
        .cast::<u8>()
        .wrapping_add(COUNTER_AT)
        .cast::<AtomicU64>();
    NonNull::new(at).ok_or_else(|| std::io::Error::other("mapped at null"))
}

/// Bytes free to an unprivileged writer on the filesystem of `dir`.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: statvfs fills the zeroed struct for a NUL-terminated path.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
}

/// One entry found by a scan.
pub(crate) struct Found {
    /// Its file.
    pub path: PathBuf,
    /// Its size on disk (bytes and trailer).
    pub size: u64,
    /// When it was last read or written.
    pub used_at: SystemTime,
}

/// Every entry under `dir`, and the bytes they hold; stale temporary files
/// of killed writers are removed on the way.
pub(crate) fn scan(dir: &Path) -> (u64, Vec<Found>) {
    let mut found = Vec::new();
    let Ok(folders) = fs::read_dir(dir.join(OBJECTS)) else {
        return (0, found);
    };
    for folder in folders.filter_map(|f| f.ok()) {
        let Ok(files) = fs::read_dir(folder.path()) else {
            continue;
        };
        for file in files.filter_map(|f| f.ok()) {
            let name = file.file_name();
            if name.to_str().is_some_and(entry::is_part_name) {
                remove_abandoned(&file.path());
                continue;
            }
            if !name.to_str().is_some_and(entry::is_entry_name) {
                continue;
            }
            let Ok(meta) = file.metadata() else { continue };
            let used_at = SystemTime::UNIX_EPOCH
                + std::time::Duration::new(meta.atime().max(0) as u64, meta.atime_nsec() as u32);
            found.push(Found {
                path: file.path(),
                size: meta.len(),
                used_at,
            });
        }
    }
    (found.iter().map(|f| f.size).sum(), found)
}

/// Remove the entry at `path` unless a reader holds it (or a mapping).
pub(crate) fn remove_unused(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    lock::unused(&file) && fs::remove_file(path).is_ok()
}

/// Remove the `.part` file at `path` if no writer holds it (one killed
/// midway left it).
fn remove_abandoned(path: &Path) {
    // Held open (and so locked) until it is removed: no writer can take
    // it over in between.
    if let Ok(file) = File::open(path) {
        if lock::unwritten(&file) {
            let _ = fs::remove_file(path);
        }
    }
}

/// What `s3dlio cache stats` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries (cached objects).
    pub entries: u64,
    /// Bytes they take on disk.
    pub bytes: u64,
    /// The oldest last use of one, and the newest.
    pub oldest: Option<SystemTime>,
    /// The newest last use.
    pub newest: Option<SystemTime>,
}

/// The error for a directory that is no s3dlio cache.
fn not_a_cache(dir: &Path) -> Error {
    Error::InvalidArgument(format!(
        "{}: not an s3dlio cache (no {MARKER}); nothing was read or removed",
        dir.display()
    ))
}

/// What the cache in `dir` holds; an error for a directory without the
/// marker.
pub fn stats(dir: &Path) -> Result<CacheStats> {
    if !dir.join(MARKER).is_file() {
        return Err(not_a_cache(dir));
    }
    let (bytes, found) = scan(dir);
    Ok(CacheStats {
        entries: found.len() as u64,
        bytes,
        oldest: found.iter().map(|f| f.used_at).min(),
        newest: found.iter().map(|f| f.used_at).max(),
    })
}

/// Remove every entry of the cache in `dir` not being read now, and the
/// lock files; the marker stays. Returns what was removed. An error for a
/// directory without the marker, which is left untouched.
pub fn clear(dir: &Path) -> Result<CacheStats> {
    let before = stats(dir)?;
    let (_, found) = scan(dir);
    let mut removed = CacheStats::default();
    for f in found {
        if remove_unused(&f.path) {
            removed.entries += 1;
            removed.bytes += f.size;
        }
    }
    removed.oldest = before.oldest;
    removed.newest = before.newest;
    // The counter: what is left.
    if let Ok(file) = OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join(MARKER))
    {
        if let Ok(counter) = map_counter(&file) {
            let space = Space {
                dir: dir.to_path_buf(),
                budget: 0,
                counter,
                evicting: AtomicBool::new(false),
            };
            space.counter().store(scan(dir).0, Ordering::Relaxed);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    /// An entry of `len` bytes under `dir`, last used `age` seconds ago.
    fn entry(dir: &Path, name: &str, len: usize, used_at_s: u64) -> PathBuf {
        let folder = dir.join(OBJECTS).join(&name[..2]);
        fs::create_dir_all(&folder).unwrap();
        let path = folder.join(name);
        fs::write(&path, vec![1u8; len]).unwrap();
        let t = libc::timespec {
            tv_sec: used_at_s as libc::time_t,
            tv_nsec: 0,
        };
        let file = File::open(&path).unwrap();
        // SAFETY: an open descriptor; futimens only sets its times.
        unsafe { libc::futimens(file.as_raw_fd(), [t, t].as_ptr()) };
        path
    }

    #[test]
    fn eviction_removes_the_least_recently_used_unread_entries_below_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let space = Space::open(dir.path(), Some(1000)).unwrap_or_else(|_| panic!("opens"));
        let names = ["aa00000000000001", "bb00000000000002", "cc00000000000003"];
        let paths: Vec<PathBuf> = names
            .iter()
            .enumerate()
            .map(|(i, n)| entry(dir.path(), n, 300, 1000 + i as u64))
            .collect();
        space.add(900);
        assert!(space.make_room(100), "fits without evicting");
        assert!(paths.iter().all(|p| p.exists()));
        // The oldest is being read: the next oldest goes instead.
        let reader = File::open(&paths[0]).unwrap();
        assert!(lock::flock(&reader, libc::LOCK_SH));
        assert!(space.make_room(200));
        assert!(paths[0].exists() && !paths[1].exists() && paths[2].exists());
        assert_eq!(space.used(), 600, "the counter is what the scan found");
        drop(reader);
        assert!(space.make_room(500));
        assert!(!paths[0].exists(), "unread now, it goes");
        assert!(paths[2].exists(), "down to 90% of the budget, no further");
        assert_eq!(space.used(), 300);
        let stats = stats(dir.path()).unwrap();
        assert_eq!(stats.entries, 1);
        assert_eq!(stats.oldest, Some(UNIX_EPOCH + Duration::from_secs(1002)));
    }

    #[test]
    fn a_child_forked_while_evicting_does_not_hold_the_eviction_lock() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let space = Space::open(dir.path(), Some(1000)).unwrap_or_else(|_| panic!("opens"));
        let path = dir.path().join(EVICTING);
        let path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
        let held = space.evict_lock().expect("free");
        assert!(
            space.evict_lock().is_none(),
            "one thread of a process at a time"
        );
        // SAFETY: each child calls only async-signal-safe libc functions.
        let sleeper = unsafe { libc::fork() };
        if sleeper == 0 {
            // SAFETY: the child sleeps and exits, touching nothing else.
            unsafe {
                libc::sleep(30);
                libc::_exit(0)
            }
        }
        drop(held);
        // Another process tries the lock, as its eviction would.
        // SAFETY: as above.
        let other = unsafe { libc::fork() };
        if other == 0 {
            // SAFETY: a C string made before the fork; open only opens.
            let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR) };
            let got = fd >= 0 && lock::process_lock(fd);
            // SAFETY: the child ends here, running no destructor.
            unsafe { libc::_exit(i32::from(!got)) }
        }
        let mut status = 0;
        // SAFETY: waiting for and killing this test's own children.
        unsafe {
            libc::waitpid(other, &mut status, 0);
            libc::kill(sleeper, libc::SIGKILL);
            libc::waitpid(sleeper, std::ptr::null_mut(), 0);
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the child forked while the lock was held still holds it"
        );
        assert!(space.evict_lock().is_some(), "free again in this process");
    }

    #[test]
    fn the_default_budget_is_four_fifths_of_the_free_space() {
        // The disk is shared (other tests, other processes write to it at
        // the same time): its free space is read on both sides of the
        // open, and the budget held to 4/5 of it within 2% of the disk's
        // free space (not 1/2 of it, not all of it).
        let dir = tempfile::tempdir().unwrap();
        let before = free_bytes(dir.path()).unwrap();
        let space = Space::open(dir.path(), None).unwrap_or_else(|_| panic!("opens"));
        let after = free_bytes(dir.path()).unwrap();
        let (low, high) = (before.min(after), before.max(after));
        let slack = high / 50;
        assert!(space.budget > 0);
        assert!(
            space.budget <= high / 5 * 4 + slack && space.budget >= low / 5 * 4 - slack,
            "{} of {before}..{after}",
            space.budget
        );
    }

    #[test]
    fn a_directory_with_files_of_its_own_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("mine.txt"), b"keep").unwrap();
        match Space::open(dir.path(), Some(10)) {
            Err(Refused::Foreign(e)) => assert!(e.to_string().contains("mine.txt"), "{e}"),
            _ => panic!("refused"),
        }
        assert!(stats(dir.path()).is_err() && clear(dir.path()).is_err());
        assert_eq!(fs::read(dir.path().join("mine.txt")).unwrap(), b"keep");
        assert!(!dir.path().join(MARKER).exists());

        // Its own directory opens again, sharing one counter.
        let own = tempfile::tempdir().unwrap();
        let a = Space::open(own.path(), Some(10)).unwrap_or_else(|_| panic!("opens"));
        let b = Space::open(own.path(), Some(10)).unwrap_or_else(|_| panic!("opens again"));
        a.add(7);
        assert_eq!(b.used(), 7);
        entry(own.path(), "dd00000000000004", 5, 1);
        assert_eq!(clear(own.path()).unwrap().entries, 1);
        assert_eq!(a.used(), 0);
    }
}
