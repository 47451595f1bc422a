//! A `file://` or `direct://` object: every operation is a synchronous
//! call on the calling thread (a blocking worker, or the caller itself for
//! the per-call fast path), so a read's [`Worker`] is passed in, never
//! looked up. The async forms live on `Target` (the store's module).

use bytes::Bytes;

use super::{direct, local, mapped, network_mounts};
use crate::buffer::{Region, Span};
use crate::error::{Error, Result};
use crate::exec::Worker;
use crate::meta::{ByteRange, ObjectMeta};
use crate::metrics::{self, Op};
use crate::runtime;
use crate::uri::ObjectUri;

/// A local object, resolved.
#[derive(Clone, Debug)]
pub(crate) struct LocalTarget {
    /// The URI as the caller wrote it (used in messages).
    pub uri: String,
    /// The parsed URI; its key is the path.
    pub parsed: ObjectUri,
    /// O_DIRECT (`direct://`) rather than buffered (`file://`).
    pub direct: bool,
    /// `direct://` only: fall back to buffered I/O where O_DIRECT is refused.
    pub fallback: bool,
    /// `file://` only: a read is a view over the file's mapped pages (see
    /// [`mapped`]); batch rows are filled by reads all the same.
    pub mmap: bool,
}

impl LocalTarget {
    /// The file's path.
    pub fn path(&self) -> &str {
        &self.parsed.key
    }

    /// Read `range` into one aligned buffer (or map it: [`mapped`]), on
    /// this thread.
    pub fn get(&self, range: ByteRange, worker: &Worker) -> Result<Bytes> {
        let (uri, path) = (&self.uri, self.path());
        let read = || match (self.direct, self.mmap) {
            (true, _) => direct::get(uri, path, range, self.fallback, worker),
            (false, true) => mapped::get(uri, path, range, worker),
            (false, false) => local::get(uri, path, range, worker),
        };
        metrics::local(Op::read(range), uri, read, |b| (b.len() as u64, 1))
    }

    /// [`LocalTarget::get`] on a blocking thread of the runtime.
    pub async fn get_detached(&self, range: ByteRange) -> Result<Bytes> {
        let target = self.clone();
        runtime::blocking(move || target.get(range, &Worker::alone())).await
    }

    /// The whole file into `region` of a batch buffer, which is sized to
    /// it (a size mismatch is an error), on this thread.
    pub fn read_into_place(&self, mut region: Region, worker: &Worker) -> Result<Region> {
        let (uri, path) = (&self.uri, self.path());
        let len = region.len() as u64;
        let read = || {
            if self.direct {
                // O_DIRECT needs 4096-aligned destinations; a batch row is
                // not, so read aligned and place it.
                direct::get(uri, path, ByteRange::FULL, self.fallback, worker)
                    .and_then(|bytes| place(uri, &bytes, &mut region))
            } else {
                local::read_into_place(uri, path, &mut region, worker)
            }
        };
        metrics::local(Op::Get, uri, read, |()| (len, 1)).map(|()| region)
    }

    /// Size and time of the file.
    pub fn head(&self) -> Result<ObjectMeta> {
        let head = || local::head(&self.uri, self.path());
        metrics::local(Op::Head, &self.uri, head, |_| (0, 1))
    }

    /// True for a file on a network filesystem (NFS, SMB, FUSE), where a
    /// read can block beyond any signal's reach: such objects skip the
    /// caller's-thread fast path (see [`network_mounts`]).
    pub fn may_stall(&self) -> bool {
        network_mounts::may_stall(self.path())
    }

    /// Write the whole file; readers never see a partial one.
    pub fn put(&self, data: &[u8]) -> Result<()> {
        let put = || match self.direct {
            true => direct::put(&self.uri, self.path(), data, self.fallback),
            false => local::put(&self.uri, self.path(), data),
        };
        metrics::local(Op::Put, &self.uri, put, |()| (data.len() as u64, 1))
    }

    /// `range` copied into `file` from its start by the kernel.
    pub fn write_to(&self, range: ByteRange, file: &mut std::fs::File) -> Result<u64> {
        let copy = || local::copy_range(&self.uri, self.path(), range, file);
        metrics::local(Op::read(range), &self.uri, copy, |n| (*n, 1))
    }

    /// Every file under this directory (not sorted).
    pub fn list(&self, recursive: bool) -> Result<Vec<ObjectMeta>> {
        let list = || local::list(&self.uri, &self.parsed, recursive);
        metrics::local(Op::List, &self.uri, list, |l| (0, l.len() as u64))
    }

    /// The files directly in this directory and its subdirectories (as URIs).
    pub fn list_dir(&self) -> Result<(Vec<ObjectMeta>, Vec<String>)> {
        let files = local::list(&self.uri, &self.parsed, false)?;
        let dirs = local::subdirectories(&self.uri, &self.parsed)?;
        Ok((files, dirs))
    }

    /// Remove the folder and all it holds; `false` if there was none.
    pub fn remove_folder(&self) -> Result<bool> {
        local::remove_folder(&self.uri, self.path())
    }

    /// Remove the file.
    pub fn delete(&self) -> Result<()> {
        let delete = || local::delete(&self.uri, self.path());
        metrics::local(Op::Delete, &self.uri, delete, |()| (0, 1))
    }
}

/// A whole object read elsewhere copied into the `region` sized for it; a
/// size that does not match is a truncated transfer of `uri`.
pub(crate) fn place(uri: &str, bytes: &[u8], region: &mut Span) -> Result<()> {
    if bytes.len() != region.len() || !region.extend_from_slice(bytes) {
        return Err(Error::Truncated {
            uri: uri.to_owned(),
            expected: region.len() as u64,
            actual: bytes.len() as u64,
        });
    }
    Ok(())
}
