//! `file://`: the local filesystem, read with positioned reads straight
//! into the final aligned buffer; written to a temporary name and renamed,
//! so a reader never sees half an object.
//!
//! Only regular files are objects. A FIFO, socket or device is refused
//! before anything waits on it (opened non-blocking, then checked), so a
//! `get` of a FIFO with no writer fails at once instead of blocking in
//! `open` where no signal can stop it. Listings skip such files, dangling
//! symlinks and symlinks that loop (a directory already being listed
//! higher up, found by device and inode), silently: a listing is the set of
//! objects a `get` can read.
//!
//! Temporary names are `.s3dlio-tmp.NAME.PID.N`, kept within NAME_MAX
//! (255 bytes) by shortening NAME, and locked (`flock`) by their writer
//! while it writes: a temporary file whose process is gone (killed with
//! SIGKILL) is recognised as stale by [`super::stale_temporaries`].

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::buffer::{AlignedBuf, Span};
use crate::error::{Error, Result};
use crate::exec::{split, Worker};
use crate::meta::{ByteRange, ObjectMeta};
use crate::uri::ObjectUri;

/// Prefix of in-flight temporary files (hidden from listings).
pub(super) const TMP_PREFIX: &str = ".s3dlio-tmp.";

/// Longest part of a destination's name kept in its temporary name: with
/// the prefix, a 10-digit pid and a 20-digit counter that is 212 bytes,
/// within NAME_MAX (255).
const TMP_NAME_PART_MAX: usize = 168;

/// The error for a local path that exists but is no object: a directory,
/// or a file that is not regular (see [`check_object`]).
pub(super) fn not_an_object(uri: &str, meta: &fs::Metadata) -> Error {
    let what = match meta.file_type() {
        t if t.is_dir() => "a directory is not an object",
        t if t.is_fifo() => "a FIFO is not an object (not a regular file)",
        t if t.is_socket() => "a socket is not an object (not a regular file)",
        t if t.is_char_device() || t.is_block_device() => {
            "a device is not an object (not a regular file)"
        }
        _ => "not a regular file",
    };
    Error::NotFound {
        uri: uri.to_owned(),
        source: Some(what.into()),
    }
}

/// `Ok` when `meta` is a regular file's, the only kind of local object.
pub(super) fn check_object(uri: &str, meta: &fs::Metadata) -> Result<()> {
    match meta.is_file() {
        true => Ok(()),
        false => Err(not_an_object(uri, meta)),
    }
}

/// Open the object at `path` for reading with `flags` (e.g. O_DIRECT)
/// added, an I/O error described by `io_error`. Opened non-blocking, so
/// a FIFO without a writer (or a device) does not block `open`, and
/// checked to be a regular file before it is made blocking again.
pub(super) fn open_object(
    uri: &str,
    path: &str,
    flags: libc::c_int,
    io_error: impl Fn(std::io::Error) -> Error,
) -> Result<(File, fs::Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags | libc::O_NONBLOCK)
        .open(path)
        .map_err(&io_error)?;
    let meta = file.metadata().map_err(&io_error)?;
    check_object(uri, &meta)?;
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is an open descriptor owned by `file`; F_GETFL/F_SETFL
    // only read and change its status flags.
    let cleared = unsafe {
        let status = libc::fcntl(fd, libc::F_GETFL);
        status >= 0 && libc::fcntl(fd, libc::F_SETFL, status & !libc::O_NONBLOCK) == 0
    };
    if !cleared {
        return Err(io_error(std::io::Error::last_os_error()));
    }
    Ok((file, meta))
}

/// [`open_object`] without extra flags, every error naming `uri`.
pub(super) fn open_regular(uri: &str, path: &str) -> Result<(File, fs::Metadata)> {
    open_object(uri, path, 0, |e| Error::from_io(uri, e))
}

/// Read `range` of the file at `path`.
pub(super) fn get(uri: &str, path: &str, range: ByteRange, worker: &Worker) -> Result<Bytes> {
    let (file, meta) = open_regular(uri, path)?;
    read(uri, &file, &meta, range, worker)
}

/// Read `range` of `file` (opened by [`open_regular`], of `meta`).
pub(super) fn read(
    uri: &str,
    file: &File,
    meta: &fs::Metadata,
    range: ByteRange,
    worker: &Worker,
) -> Result<Bytes> {
    let span = range.resolve(uri, meta.len())?;
    let want = usize::try_from(span.end - span.start).map_err(|_| Error::InvalidRange {
        uri: uri.to_owned(),
        reason: "range does not fit in memory".to_owned(),
    })?;
    let mut buf = AlignedBuf::for_object(uri, want)?;
    fill(uri, file, span.start, &mut buf, worker)?;
    Ok(buf.freeze())
}

/// Read the whole file at `path` into `target`, which is sized to it.
pub(super) fn read_into_place(
    uri: &str,
    path: &str,
    target: &mut Span,
    worker: &Worker,
) -> Result<()> {
    let (file, meta) = open_regular(uri, path)?;
    if meta.len() != target.len() as u64 {
        return Err(Error::Truncated {
            uri: uri.to_owned(),
            expected: target.len() as u64,
            actual: meta.len(),
        });
    }
    fill(uri, &file, 0, target, worker)
}

/// Fill `target` from `file` at `pos`: with positioned reads on this
/// thread, or, for a large read with cores to spare (a `get` of a big
/// file, a batch of fewer rows than cores), in parts copied from the page
/// cache on as many threads.
pub(super) fn fill(
    uri: &str,
    file: &File,
    pos: u64,
    target: &mut Span,
    worker: &Worker,
) -> Result<()> {
    let want = target.remaining();
    let parts = split::split_for(want, worker.cores());
    if parts > 1 {
        crate::stats::count_split_read();
        let part = want.div_ceil(parts).next_multiple_of(4096);
        // The first part is read on this thread, which holds the worker's
        // CPU permit; the others on helper threads that hold none.
        let helper = worker.helper();
        split::fill_in_parts(target, part, |offset, part: &mut Span| {
            let on = if offset == 0 { worker } else { &helper };
            pread_fill(uri, file, pos + offset as u64, part, on)
        })?;
        return full(uri, target);
    }
    pread_fill(uri, file, pos, target, worker)
}

/// Fill `target` from `file` at `pos` with positioned reads; a file that
/// ends early is an error, never short data. Each read first asks for
/// cached data only; a cache miss is read again, blocking, inside
/// [`Worker::blocking_io`], so the worker's CPU permit serves
/// another read while this one waits for the device.
fn pread_fill(
    uri: &str,
    file: &File,
    mut pos: u64,
    target: &mut Span,
    worker: &Worker,
) -> Result<()> {
    let fd = file.as_raw_fd();
    let mut try_cached = true;
    target.fill_with(|dst, max| loop {
        // SAFETY: `dst` is valid for `max` writable bytes (Span::fill_with).
        let read = || unsafe { libc::pread(fd, dst.cast(), max, pos as libc::off_t) };
        let n = match try_cached {
            true => match cached_read(fd, dst, max, pos) {
                Cached::Read(n) => n,
                Cached::Miss => worker.blocking_io(read),
                Cached::Unsupported => {
                    try_cached = false;
                    continue;
                }
            },
            false => read(),
        };
        if n >= 0 {
            pos += n as u64;
            return Ok(n as usize);
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != ErrorKind::Interrupted {
            return Err(Error::from_io(uri, err));
        }
    })?;
    full(uri, target)
}

/// `Ok` when `target` is full; a file that ended early is an error.
fn full(uri: &str, target: &Span) -> Result<()> {
    if !target.is_full() {
        return Err(Error::Truncated {
            uri: uri.to_owned(),
            expected: target.len() as u64,
            actual: target.filled() as u64,
        });
    }
    Ok(())
}

/// What a read that must not wait for the device gave.
enum Cached {
    /// The `pread` result: bytes read (0 at the end), or -1 with errno set.
    Read(isize),
    /// The data is not in the page cache.
    Miss,
    /// This kernel or filesystem cannot tell; read normally.
    Unsupported,
}

#[cfg(target_os = "linux")]
fn cached_read(fd: libc::c_int, dst: *mut u8, max: usize, pos: u64) -> Cached {
    let iov = libc::iovec {
        iov_base: dst.cast(),
        iov_len: max,
    };
    // SAFETY: `iov` describes `max` writable bytes at `dst` (Span::fill_with).
    let n = unsafe { libc::preadv2(fd, &iov, 1, pos as libc::off_t, libc::RWF_NOWAIT) };
    if n >= 0 {
        return Cached::Read(n);
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EAGAIN) => Cached::Miss,
        Some(libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS) => Cached::Unsupported,
        _ => Cached::Read(n),
    }
}

#[cfg(not(target_os = "linux"))]
fn cached_read(_: libc::c_int, _: *mut u8, _: usize, _: u64) -> Cached {
    Cached::Unsupported
}

/// Write `data` to a temporary file beside `path`, then rename it into place.
pub(super) fn put(uri: &str, path: &str, data: &[u8]) -> Result<()> {
    write_atomically(uri, path, |tmp| {
        File::create(tmp)
            .and_then(|mut f| f.write_all(data))
            .map_err(|e| Error::from_io(uri, e))
    })
}

/// Create `path` through `write(tmp)` on a temporary name in the same
/// directory, renamed into place only if `write` succeeds; on failure the
/// temporary file is removed and nothing appears under `path`.
pub(super) fn write_atomically(
    uri: &str,
    path: &str,
    write: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let staged = Staged::beside(uri, path)?;
    // Created and locked first, held open while `write` opens it again,
    // so the file is known to be in use until it is renamed.
    let _in_use = staged.create()?;
    write(&staged.tmp)?;
    staged.publish()
}

/// A temporary name beside a destination file: [`Staged::publish`] renames
/// it into place; dropped unpublished (a failure, a cancelled call), it is
/// removed, so nothing half-written appears under the destination.
pub(crate) struct Staged {
    uri: String,
    pub(super) tmp: PathBuf,
    dest: PathBuf,
    published: bool,
}

impl Staged {
    /// A temporary name beside `path` (its directory created if missing):
    /// `.s3dlio-tmp.NAME.PID.N`, with NAME shortened to keep the whole
    /// within NAME_MAX.
    pub fn beside(uri: &str, path: &str) -> Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dest = Path::new(path);
        let (Some(dir), Some(name)) = (dest.parent(), dest.file_name()) else {
            return Err(Error::InvalidUri {
                uri: uri.to_owned(),
                reason: "names no file".to_owned(),
            });
        };
        fs::create_dir_all(dir).map_err(|e| Error::from_io(uri, e))?;
        let tmp = dir.join(format!(
            "{TMP_PREFIX}{}.{}.{}",
            tmp_name_part(name.as_bytes()),
            crate::process::process_id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        Ok(Self {
            uri: uri.to_owned(),
            tmp,
            dest: dest.to_path_buf(),
            published: false,
        })
    }

    /// Create (or truncate) the temporary file for writing, locked
    /// (`flock`) for as long as it stays open: the mark of a live writer
    /// that [`super::stale_temporaries`] respects.
    pub fn create(&self) -> Result<File> {
        let file = File::create(&self.tmp).map_err(|e| Error::from_io(&self.uri, e))?;
        // SAFETY: `file` owns the descriptor; flock only takes a lock on it.
        // A filesystem without locks leaves the file unlocked, which the
        // stale-file check treats with more caution.
        let _ = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        Ok(file)
    }

    /// Rename the temporary file onto the destination.
    pub fn publish(mut self) -> Result<()> {
        fs::rename(&self.tmp, &self.dest).map_err(|e| Error::from_io(&self.uri, e))?;
        self.published = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// The part of a destination's name shown in its temporary name: the name
/// itself, or its first [`TMP_NAME_PART_MAX`] bytes (cut at a character
/// boundary) when longer. Uniqueness comes from the pid and counter.
fn tmp_name_part(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    if name.len() <= TMP_NAME_PART_MAX {
        return name.into_owned();
    }
    let mut end = TMP_NAME_PART_MAX;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_owned()
}

/// `range` of the file at `path` copied into `dest` from its start by the
/// kernel (no buffer of ours holds it). Returns the bytes copied.
pub(super) fn copy_range(uri: &str, path: &str, range: ByteRange, dest: &mut File) -> Result<u64> {
    let (mut src, meta) = open_regular(uri, path)?;
    let span = range.resolve(uri, meta.len())?;
    let expected = span.end - span.start;
    src.seek(SeekFrom::Start(span.start))
        .map_err(|e| Error::from_io(uri, e))?;
    let copied =
        std::io::copy(&mut src.take(expected), dest).map_err(|e| Error::from_io(uri, e))?;
    if copied != expected {
        return Err(Error::Truncated {
            uri: uri.to_owned(),
            expected,
            actual: copied,
        });
    }
    Ok(copied)
}

fn meta_of(uri: String, meta: &fs::Metadata) -> ObjectMeta {
    ObjectMeta {
        uri,
        size: meta.len(),
        last_modified: meta.modified().ok(),
        etag: None,
    }
}

/// Metadata of the file at `path`.
pub(super) fn head(uri: &str, path: &str) -> Result<ObjectMeta> {
    let meta = fs::metadata(path).map_err(|e| Error::from_io(uri, e))?;
    check_object(uri, &meta)?;
    Ok(meta_of(uri.to_owned(), &meta))
}

/// Regular files under the directory `prefix.key` (recursively or not).
/// Symlinks are followed, except to a directory already being listed
/// above (a loop); dangling or looping symlinks, FIFOs, sockets, devices,
/// names that are not UTF-8 and temporary files are skipped, silently.
pub(super) fn list(uri: &str, prefix: &ObjectUri, recursive: bool) -> Result<Vec<ObjectMeta>> {
    let root = prefix.key.trim_end_matches('/');
    let root = if root.is_empty() { "/" } else { root };
    let identity = match fs::metadata(root) {
        Ok(meta) if meta.is_dir() => (meta.dev(), meta.ino()),
        Ok(_) => return Ok(Vec::new()),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return Ok(Vec::new())
        }
        Err(e) => return Err(Error::from_io(uri, e)),
    };
    let mut listing = Listing {
        prefix,
        recursive,
        above: vec![identity],
        out: Vec::new(),
    };
    listing.directory(root)?;
    Ok(listing.out)
}

/// The URIs of the directories directly in the directory `prefix` names
/// (none if it is missing or not a directory).
pub(super) fn subdirectories(uri: &str, prefix: &ObjectUri) -> Result<Vec<String>> {
    let root = prefix.key.trim_end_matches('/');
    let root = if root.is_empty() { "/" } else { root };
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return Ok(Vec::new())
        }
        Err(e) => return Err(Error::from_io(uri, e)),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::from_io(uri, e))?;
        if entry.path().is_dir() {
            let path = Path::new(root).join(entry.file_name());
            dirs.push(prefix.sibling(&path.to_string_lossy()));
        }
    }
    Ok(dirs)
}

/// One listing in progress: the objects found so far, and the directories
/// (device, inode) being listed above the current one.
struct Listing<'a> {
    prefix: &'a ObjectUri,
    recursive: bool,
    above: Vec<(u64, u64)>,
    out: Vec<ObjectMeta>,
}

impl Listing<'_> {
    fn directory(&mut self, dir: &str) -> Result<()> {
        let dir_uri = || self.prefix.sibling(dir);
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            // Removed meanwhile.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                return Ok(())
            }
            Err(e) => return Err(Error::from_io(&dir_uri(), e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::from_io(&dir_uri(), e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TMP_PREFIX) {
                continue;
            }
            let child = if dir.ends_with('/') {
                format!("{dir}{name}")
            } else {
                format!("{dir}/{name}")
            };
            self.entry(child)?;
        }
        Ok(())
    }

    fn entry(&mut self, child: String) -> Result<()> {
        let meta = match fs::metadata(&child) {
            Ok(meta) => meta,
            // Removed meanwhile, a dangling symlink, or one that loops.
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(()),
            Err(e) => return Err(Error::from_io(&self.prefix.sibling(&child), e)),
        };
        if meta.is_file() {
            self.out.push(meta_of(self.prefix.sibling(&child), &meta));
            return Ok(());
        }
        let identity = (meta.dev(), meta.ino());
        if !meta.is_dir() || !self.recursive || self.above.contains(&identity) {
            return Ok(());
        }
        self.above.push(identity);
        let listed = self.directory(&child);
        self.above.pop();
        listed
    }
}

/// Remove the folder at `path` with all it holds, temporary files
/// included; `false` when there is none.
pub(super) fn remove_folder(uri: &str, path: &str) -> Result<bool> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::from_io(uri, e)),
    }
}

/// Remove the file at `path`.
pub(super) fn delete(uri: &str, path: &str) -> Result<()> {
    head(uri, path)?;
    fs::remove_file(path).map_err(|e| Error::from_io(uri, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_file_appears_only_when_published() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/out.bin");
        let dest_str = dest.to_str().unwrap();
        let entries = || fs::read_dir(dir.path().join("sub")).unwrap().count();

        let abandoned = Staged::beside("file://x", dest_str).unwrap();
        abandoned.create().unwrap().write_all(b"half").unwrap();
        assert_eq!(entries(), 1, "the temporary file exists meanwhile");
        drop(abandoned);
        assert_eq!(entries(), 0, "dropped unpublished: removed");

        let staged = Staged::beside("file://x", dest_str).unwrap();
        staged.create().unwrap().write_all(b"whole").unwrap();
        assert!(!dest.exists());
        staged.publish().unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"whole");
        assert_eq!(entries(), 1);
    }

    #[test]
    fn temporary_names_stay_within_name_max() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["n".repeat(255), "é".repeat(127), "x".to_owned()] {
            let dest = dir.path().join(&name);
            let staged = Staged::beside("file://x", dest.to_str().unwrap()).unwrap();
            let tmp = staged.tmp.file_name().unwrap().len();
            assert!(tmp <= 255, "{tmp} bytes for a {}-byte name", name.len());
            staged.create().unwrap().write_all(b"w").unwrap();
            staged.publish().unwrap();
            assert_eq!(fs::read(&dest).unwrap(), b"w");
        }
    }

    #[test]
    fn a_file_being_written_is_locked() {
        let dir = tempfile::tempdir().unwrap();
        let staged = Staged::beside("file://x", dir.path().join("f").to_str().unwrap()).unwrap();
        let _writing = staged.create().unwrap();
        let other = File::open(&staged.tmp).unwrap();
        // SAFETY: tries a lock on a descriptor `other` owns.
        let taken = unsafe { libc::flock(other.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(taken, -1, "the writer holds the lock");
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = get(
            "file://p",
            fifo.to_str().unwrap(),
            ByteRange::FULL,
            &Worker::alone(),
        )
        .unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(
            err.full_message().contains("FIFO"),
            "{}",
            err.full_message()
        );
        assert!(head("file://p", fifo.to_str().unwrap()).is_err());
    }
}
