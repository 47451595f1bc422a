//! `file://`: the local filesystem, read with positioned reads straight
//! into the final aligned buffer; written to a temporary name and renamed,
//! so a reader never sees half an object.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::buffer::{AlignedBuf, Fill};
use crate::error::{Error, Result};
use crate::local_workers;
use crate::meta::{ByteRange, ObjectMeta};
use crate::runtime;
use crate::uri::ObjectUri;
use crate::window;

/// Prefix of in-flight temporary files (hidden from listings).
const TMP_PREFIX: &str = ".s3dlio-tmp.";

pub(super) fn not_an_object(uri: &str) -> Error {
    Error::NotFound {
        uri: uri.to_owned(),
        source: Some("a directory is not an object".into()),
    }
}

/// Read `range` of the file at `path`.
pub(super) fn get(uri: &str, path: &str, range: ByteRange) -> Result<Bytes> {
    let io = |e| Error::from_io(uri, e);
    let file = File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.is_dir() {
        return Err(not_an_object(uri));
    }
    let span = range.resolve(uri, meta.len())?;
    let want = usize::try_from(span.end - span.start).map_err(|_| Error::InvalidRange {
        uri: uri.to_owned(),
        reason: "range does not fit in memory".to_owned(),
    })?;
    let mut buf = AlignedBuf::new(want);
    fill(uri, &file, span.start, &mut buf)?;
    Ok(buf.freeze())
}

/// Read the whole file at `path` into `target`, which is sized to it.
pub(super) fn get_into<T: Fill>(uri: &str, path: &str, target: &mut T) -> Result<()> {
    let io = |e| Error::from_io(uri, e);
    let file = File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.is_dir() {
        return Err(not_an_object(uri));
    }
    if meta.len() != target.capacity() as u64 {
        return Err(Error::Truncated {
            uri: uri.to_owned(),
            expected: target.capacity() as u64,
            actual: meta.len(),
        });
    }
    fill(uri, &file, 0, target)
}

/// Fill `target` from `file` at `pos`: with positioned reads on this
/// thread, or, for a large read with cores to spare (a `get` of a big
/// file, a batch of fewer rows than cores), in parts copied from the page
/// cache on as many threads.
fn fill<T: Fill>(uri: &str, file: &File, pos: u64, target: &mut T) -> Result<()> {
    let want = target.capacity() - target.written();
    let parts = local_workers::split_for(want);
    if parts > 1 {
        local_workers::count_split_read();
        let part = want.div_ceil(parts).next_multiple_of(4096);
        window::fill_in_parts(target, part, |offset, window| {
            pread_fill(uri, file, pos + offset as u64, window)
        })?;
        return full(uri, target);
    }
    pread_fill(uri, file, pos, target)
}

/// Fill `target` from `file` at `pos` with positioned reads; a file that
/// ends early is an error, never short data. Each read first asks for
/// cached data only; a cache miss is read again, blocking, inside
/// [`local_workers::blocking_io`], so the worker's CPU permit serves
/// another read while this one waits for the device.
fn pread_fill<T: Fill>(uri: &str, file: &File, mut pos: u64, target: &mut T) -> Result<()> {
    let fd = file.as_raw_fd();
    let mut try_cached = true;
    target.fill_from(|dst, max| loop {
        // SAFETY: `dst` is valid for `max` writable bytes (Fill::fill_from).
        let read = || unsafe { libc::pread(fd, dst.cast(), max, pos as libc::off_t) };
        let n = match try_cached {
            true => match cached_read(fd, dst, max, pos) {
                Cached::Read(n) => n,
                Cached::Miss => local_workers::blocking_io(read),
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
fn full(uri: &str, target: &impl Fill) -> Result<()> {
    if target.written() != target.capacity() {
        return Err(Error::Truncated {
            uri: uri.to_owned(),
            expected: target.capacity() as u64,
            actual: target.written() as u64,
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
    // SAFETY: `iov` describes `max` writable bytes at `dst` (Fill::fill_from).
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
    write(&staged.tmp)?;
    staged.publish()
}

/// A temporary name beside a destination file: [`Staged::publish`] renames
/// it into place; dropped unpublished (a failure, a cancelled call), it is
/// removed, so nothing half-written appears under the destination.
pub(crate) struct Staged {
    uri: String,
    tmp: PathBuf,
    dest: PathBuf,
    published: bool,
}

impl Staged {
    /// A temporary name beside `path` (its directory created if missing).
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
            name.to_string_lossy(),
            runtime::process_id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        Ok(Self {
            uri: uri.to_owned(),
            tmp,
            dest: dest.to_path_buf(),
            published: false,
        })
    }

    /// Create (or truncate) the temporary file for writing.
    pub fn create(&self) -> Result<File> {
        File::create(&self.tmp).map_err(|e| Error::from_io(&self.uri, e))
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

/// `range` of the file at `path` copied into `dest` from its start by the
/// kernel (no buffer of ours holds it). Returns the bytes copied.
pub(super) fn copy_range(uri: &str, path: &str, range: ByteRange, dest: &mut File) -> Result<u64> {
    let mut src = File::open(path).map_err(|e| Error::from_io(uri, e))?;
    let meta = src.metadata().map_err(|e| Error::from_io(uri, e))?;
    if meta.is_dir() {
        return Err(not_an_object(uri));
    }
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
    if meta.is_dir() {
        return Err(not_an_object(uri));
    }
    Ok(meta_of(uri.to_owned(), &meta))
}

/// Files under the directory `prefix.key` (recursively or not).
pub(super) fn list(uri: &str, prefix: &ObjectUri, recursive: bool) -> Result<Vec<ObjectMeta>> {
    let mut out = Vec::new();
    let root = prefix.key.trim_end_matches('/');
    let root = if root.is_empty() { "/" } else { root };
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                continue
            }
            Err(e) => return Err(Error::from_io(uri, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::from_io(uri, e))?;
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
            let meta = match fs::metadata(&child) {
                Ok(meta) => meta,
                Err(e) if e.kind() == ErrorKind::NotFound => continue, // removed meanwhile
                Err(e) => return Err(Error::from_io(uri, e)),
            };
            if meta.is_dir() {
                if recursive {
                    dirs.push(child);
                }
            } else {
                out.push(meta_of(prefix.sibling(&child), &meta));
            }
        }
    }
    Ok(out)
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
}
