//! `file://` objects as views over their mapped pages, no copy: the opt-in
//! `S3DLIO_FILE_MMAP=true` (or the per-call `file_mmap` option). A read
//! copies each byte from the page cache once more than the consumer needs;
//! a mapping hands out the page cache's own pages.
//!
//! The mapping is `MAP_PRIVATE` with `PROT_READ | PROT_WRITE`, though every
//! export of a view is read-only: torch ignores the DLPack read-only flag,
//! so a tensor over a view can be written in place. Private, such a write
//! copies that one page (copy-on-write) and stays in this mapping, as it
//! stays in the buffer of a read today; it never reaches the file, and
//! never faults (a `PROT_READ` mapping would kill the process with SIGSEGV).
//! Pages never written are the page cache's, shared with every reader.
//! (So no `MAP_POPULATE`: on a private writable mapping it would break
//! copy-on-write, copying every page.)
//!
//! The mapping's owner lives inside the `Bytes` ([`Bytes::from_owner`]):
//! the pages are unmapped when the last view, slice or export is dropped.
//! It maps the inode opened, so a file replaced by rename keeps its old
//! bytes in the views already made, and a deleted file lives on until
//! then. A file truncated in place while mapped is the one hazard: a page
//! past its new end raises SIGBUS when touched, which ends the process
//! (writers that rename, as s3dlio's own do, never cause it); the process
//! then writes which object and byte it was before it ends
//! ([`mapped_guard`]).
//!
//! Alignment: a mapping starts on a page, a multiple of [`ALIGN`]. A range
//! maps the enclosing pages and slices them, so it keeps the alignment only
//! when it starts on a multiple of [`ALIGN`]; any other range, and any
//! shorter than a page (an empty one cannot be mapped; for a few hundred
//! bytes, such as the tar headers `tar_index` reads, a mapping and its
//! unmapping cost more than the copy), is read as without mapping, into an
//! aligned buffer; so is a file whose filesystem cannot be mapped.

use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::OnceLock;

use bytes::Bytes;

use super::{local, mapped_guard};
use crate::buffer::ALIGN;
use crate::error::{Error, Result};
use crate::exec::Worker;
use crate::meta::ByteRange;

/// Read-write, private (copy-on-write) pages of one file, unmapped on drop.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    /// Its name for a bus error, given up before the unmapping.
    named: Option<mapped_guard::Registration>,
}

// SAFETY: the mapping is plain memory owned by this value alone; shared
// access only reads it (a write through a torch tensor goes to its own
// copy-on-write page, as a write into any shared buffer would).
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `len` bytes are mapped at `ptr` until drop.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        self.named.take();
        // SAFETY: this value owns the whole mapping; nothing refers to it
        // once the last `Bytes` over it is gone.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// The system's page size.
fn page_size() -> u64 {
    static PAGE: OnceLock<u64> = OnceLock::new();
    // SAFETY: sysconf only reads a system constant.
    *PAGE.get_or_init(|| match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as u64,
        _ => 4096,
    })
}

/// `range` of the file at `path` as a view over its mapped pages; a range
/// under a page, or one that starts off [`ALIGN`], read by [`local::read`].
pub(super) fn get(uri: &str, path: &str, range: ByteRange, worker: &Worker) -> Result<Bytes> {
    let (file, meta) = local::open_regular(uri, path)?;
    view(uri, &file, &meta, range, worker)
}

/// [`get`] of a file already open (`file`, of `meta`).
pub(super) fn view(
    uri: &str,
    file: &std::fs::File,
    meta: &std::fs::Metadata,
    range: ByteRange,
    worker: &Worker,
) -> Result<Bytes> {
    let span = range.resolve(uri, meta.len())?;
    if span.end - span.start < page_size() || !span.start.is_multiple_of(ALIGN as u64) {
        return local::read(uri, file, meta, range, worker);
    }
    let start = span.start - span.start % page_size();
    let too_big = || Error::InvalidRange {
        uri: uri.to_owned(),
        reason: "range does not fit in memory".to_owned(),
    };
    let len = usize::try_from(span.end - start).map_err(|_| too_big())?;
    let offset = libc::off_t::try_from(start).map_err(|_| too_big())?;
    // SAFETY: a new mapping of `len` (> 0) bytes of an open regular file
    // at a page-aligned offset; the kernel picks the address.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            offset,
        )
    };
    if ptr == libc::MAP_FAILED {
        let err = std::io::Error::last_os_error();
        return match err.raw_os_error() {
            // A filesystem that cannot map (sysfs, some FUSE): read it.
            Some(libc::ENODEV) => local::read(uri, file, meta, range, worker),
            _ => Err(Error::from_io(uri, err)),
        };
    }
    let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(too_big)?;
    // The descriptor closes here; the mapping keeps the inode.
    let skip = (span.start - start) as usize;
    let named = Some(mapped_guard::register(
        ptr.as_ptr() as usize,
        len,
        start,
        uri,
    ));
    Ok(Bytes::from_owner(Mapping { ptr, len, named }).slice(skip..))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapped_in_this_process(path: &std::path::Path) -> bool {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let path = path.to_str().unwrap();
        maps.lines().any(|l| l.contains(path))
    }

    fn file(len: usize) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mapped-object.bin");
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        (dir, path, data)
    }

    fn get_of(path: &std::path::Path, range: ByteRange) -> Result<Bytes> {
        get("file://m", path.to_str().unwrap(), range, &Worker::alone())
    }

    #[test]
    fn a_whole_file_is_its_mapped_pages_until_the_last_view_goes() {
        let (_dir, path, data) = file(3 * 4096 + 5);
        let bytes = get_of(&path, ByteRange::FULL).unwrap();
        assert_eq!(bytes.as_ref(), data.as_slice());
        assert_eq!(bytes.as_ptr() as u64 % page_size(), 0);
        assert!(mapped_in_this_process(&path));
        let tail = bytes.slice(4096..);
        drop(bytes);
        assert!(mapped_in_this_process(&path), "a slice keeps it mapped");
        assert_eq!(tail.as_ref(), &data[4096..]);
        drop(tail);
        assert!(!mapped_in_this_process(&path));
    }

    #[test]
    fn a_range_maps_its_enclosing_pages_and_keeps_the_alignment() {
        let (_dir, path, data) = file(5 * 4096);
        let at = |offset, length| {
            get_of(
                &path,
                ByteRange {
                    offset,
                    length: Some(length),
                },
            )
            .unwrap()
        };
        let r = at(4096 + 640, 5000);
        assert_eq!(r.as_ref(), &data[4096 + 640..4096 + 640 + 5000]);
        assert_eq!(r.as_ptr() as usize % page_size() as usize, 640);
        assert!(mapped_in_this_process(&path));
        drop(r);
        // Off ALIGN: read into an aligned buffer instead, not mapped.
        let odd = at(100, 5000);
        assert_eq!(odd.as_ref(), &data[100..5100]);
        assert_eq!(odd.as_ptr() as usize % ALIGN, 0);
        assert!(!mapped_in_this_process(&path));
        drop(odd);
        // Under a page (a tar header): read too, a mapping costs more.
        let header = at(512, 512);
        assert_eq!(header.as_ref(), &data[512..1024]);
        assert!(!mapped_in_this_process(&path));
    }

    #[test]
    fn empty_files_and_ranges_map_nothing() {
        let (_dir, path, _) = file(0);
        let bytes = get_of(&path, ByteRange::FULL).unwrap();
        assert!(bytes.is_empty());
        assert!(!mapped_in_this_process(&path));
        let (_dir, path, _) = file(8192);
        let end = ByteRange {
            offset: 8192,
            length: None,
        };
        assert!(get_of(&path, end).unwrap().is_empty());
        assert!(!mapped_in_this_process(&path));
        let past = ByteRange {
            offset: 8193,
            length: None,
        };
        assert!(get_of(&path, past).is_err());
    }

    #[test]
    fn a_file_that_cannot_be_mapped_is_read() {
        // sysfs: 4096 bytes by its size, mmap refused with ENODEV.
        let path = std::path::Path::new("/sys/devices/system/cpu/online");
        if !path.is_file() {
            return;
        }
        let worker = Worker::alone();
        let read = local::get("file://m", path.to_str().unwrap(), ByteRange::FULL, &worker);
        let mapped = get_of(path, ByteRange::FULL);
        assert_eq!(
            mapped.map_err(|e| e.to_string()),
            read.map_err(|e| e.to_string())
        );
    }

    #[test]
    fn a_write_into_the_view_stays_out_of_the_file() {
        let (_dir, path, data) = file(4096);
        let bytes = get_of(&path, ByteRange::FULL).unwrap();
        // SAFETY: as a consumer that ignores the read-only flag (torch)
        // would: the page is private and writable.
        unsafe { *(bytes.as_ptr() as *mut u8) = data[0].wrapping_add(1) };
        assert_eq!(bytes[0], data[0].wrapping_add(1));
        assert_eq!(std::fs::read(&path).unwrap(), data);
        assert_eq!(get_of(&path, ByteRange::FULL).unwrap()[0], data[0]);
    }

    #[test]
    fn a_replaced_or_deleted_file_keeps_its_bytes_in_the_view() {
        let (dir, path, data) = file(10_000);
        let old = get_of(&path, ByteRange::FULL).unwrap();
        let new = dir.path().join("new");
        std::fs::write(&new, b"new bytes").unwrap();
        std::fs::rename(&new, &path).unwrap();
        assert_eq!(old.as_ref(), data.as_slice());
        assert_eq!(
            get_of(&path, ByteRange::FULL).unwrap().as_ref(),
            b"new bytes"
        );
        std::fs::remove_file(&path).unwrap();
        assert_eq!(old.as_ref(), data.as_slice());
    }
}
