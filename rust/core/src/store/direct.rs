//! `direct://`: local files read and written with O_DIRECT, bypassing the
//! page cache. Buffers, offsets and lengths are 4096-aligned; an unaligned
//! range is read as the enclosing aligned span and returned as a zero-copy
//! slice of it when that slice starts 64-byte aligned, else moved to the
//! front of the buffer in place (the 64-byte alignment promise holds). Where the filesystem refuses O_DIRECT (tmpfs, some
//! overlays) the call fails with `Error::DirectIoUnsupported`, unless the
//! caller opted into buffered fallback (`S3DLIO_DIRECT_FALLBACK`).
//! Listing, stat and delete are plain filesystem calls, and only regular
//! files are objects, refused before anything blocks (see `local`).

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use bytes::Bytes;

use super::local;
use crate::buffer::{AlignedBuf, ALIGN};
use crate::error::{Error, Result};
use crate::exec::Worker;
use crate::meta::ByteRange;

/// Alignment of O_DIRECT buffers, offsets and lengths.
pub const DIRECT_ALIGN: usize = 4096;

/// Bounce buffer for writing data that is not itself 4096-aligned.
const BOUNCE: usize = 8 << 20;

fn round_down(n: u64) -> u64 {
    n / DIRECT_ALIGN as u64 * DIRECT_ALIGN as u64
}

fn round_up(n: u64) -> u64 {
    n.div_ceil(DIRECT_ALIGN as u64) * DIRECT_ALIGN as u64
}

/// Did the kernel refuse O_DIRECT (rather than fail for another reason)?
fn refused(err: &std::io::Error) -> bool {
    err.raw_os_error() == Some(libc::EINVAL)
}

fn unsupported(uri: &str, source: std::io::Error) -> Error {
    Error::DirectIoUnsupported {
        uri: uri.to_owned(),
        source,
    }
}

/// Read `range` of the file at `path` with O_DIRECT.
pub(super) fn get(
    uri: &str,
    path: &str,
    range: ByteRange,
    fallback: bool,
    worker: &Worker,
) -> Result<Bytes> {
    let opened = local::open_object(uri, path, libc::O_DIRECT, |e| {
        if !refused(&e) {
            return Error::from_io(uri, e);
        }
        // A FIFO or a device refuses O_DIRECT too: say what it is instead.
        match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() => local::not_an_object(uri, &meta),
            _ => unsupported(uri, e),
        }
    });
    let read = opened.and_then(|(file, meta)| read_direct(uri, &file, &meta, range));
    match read {
        Err(Error::DirectIoUnsupported { .. }) if fallback => local::get(uri, path, range, worker),
        other => other,
    }
}

fn read_direct(
    uri: &str,
    file: &File,
    meta: &std::fs::Metadata,
    range: ByteRange,
) -> Result<Bytes> {
    let span = range.resolve(uri, meta.len())?;
    if span.is_empty() {
        return Ok(Bytes::new());
    }
    let (start, end) = (round_down(span.start), round_up(span.end));
    let too_big = || Error::InvalidRange {
        uri: uri.to_owned(),
        reason: "range does not fit in memory".to_owned(),
    };
    let mut buf = AlignedBuf::for_object_aligned(
        uri,
        usize::try_from(end - start).map_err(|_| too_big())?,
        DIRECT_ALIGN,
    )?;
    let fd = file.as_raw_fd();
    let mut pos = start;
    let mut at_eof = false;
    buf.fill_with(|dst, max| loop {
        if at_eof {
            return Ok(0);
        }
        // SAFETY: `dst` is valid for `max` writable bytes; both it and `pos`
        // stay 4096-aligned because every read before EOF is whole blocks.
        let n = unsafe { libc::pread(fd, dst.cast(), max, pos as libc::off_t) };
        if n >= 0 {
            let n = n as usize;
            at_eof = !n.is_multiple_of(DIRECT_ALIGN) || n == 0;
            pos += n as u64;
            return Ok(n);
        }
        let err = std::io::Error::last_os_error();
        match err.kind() {
            ErrorKind::Interrupted => continue,
            _ if refused(&err) => return Err(unsupported(uri, err)),
            _ => return Err(Error::from_io(uri, err)),
        }
    })?;
    let want_end = (span.end - start) as usize;
    if buf.filled() < want_end {
        return Err(Error::Truncated {
            uri: uri.to_owned(),
            expected: span.end - span.start,
            actual: (buf.filled() as u64).saturating_sub(span.start - start),
        });
    }
    let skip = (span.start - start) as usize;
    if skip.is_multiple_of(ALIGN) {
        // Still 64-byte aligned: a zero-copy slice of the aligned read.
        return Ok(buf.freeze().slice(skip..want_end));
    }
    // Unaligned offset: move the range to the front so it starts aligned.
    buf.keep_range(skip, want_end - skip);
    Ok(buf.freeze())
}

/// Write `data` with O_DIRECT to a temporary file, then rename it into place.
pub(super) fn put(uri: &str, path: &str, data: &[u8], fallback: bool) -> Result<()> {
    let direct = local::write_atomically(uri, path, |tmp| {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .custom_flags(libc::O_DIRECT)
            .open(tmp)
            .map_err(|e| {
                if refused(&e) {
                    unsupported(uri, e)
                } else {
                    Error::from_io(uri, e)
                }
            })?;
        write_direct(uri, &file, data)
    });
    match direct {
        Err(Error::DirectIoUnsupported { .. }) if fallback => local::put(uri, path, data),
        other => other,
    }
}

fn write_direct(uri: &str, file: &File, data: &[u8]) -> Result<()> {
    let fd = file.as_raw_fd();
    let write_all = |mut block: &[u8], mut pos: u64| -> Result<()> {
        while !block.is_empty() {
            // SAFETY: `block` is readable for its length.
            let n =
                unsafe { libc::pwrite(fd, block.as_ptr().cast(), block.len(), pos as libc::off_t) };
            if n < 0 {
                let err = std::io::Error::last_os_error();
                match err.kind() {
                    ErrorKind::Interrupted => continue,
                    _ if refused(&err) => return Err(unsupported(uri, err)),
                    _ => return Err(Error::from_io(uri, err)),
                }
            }
            block = &block[n as usize..];
            pos += n as u64;
        }
        Ok(())
    };
    // Whole blocks straight from the caller's memory when it is aligned.
    let mut done = 0usize;
    if (data.as_ptr() as usize).is_multiple_of(DIRECT_ALIGN) {
        done = round_down(data.len() as u64) as usize;
        write_all(&data[..done], 0)?;
    }
    // The rest through an aligned bounce buffer, the last block zero-padded.
    let mut bounce: Option<AlignedBuf> = None;
    while done < data.len() {
        let chunk = (data.len() - done).min(BOUNCE);
        let padded = round_up(chunk as u64) as usize;
        let buf = bounce.get_or_insert_with(|| AlignedBuf::with_alignment(BOUNCE, DIRECT_ALIGN));
        let block = buf.scratch(padded);
        block[..chunk].copy_from_slice(&data[done..done + chunk]);
        block[chunk..].fill(0);
        write_all(block, done as u64)?;
        done += chunk;
    }
    file.set_len(data.len() as u64)
        .map_err(|e| Error::from_io(uri, e))
}
