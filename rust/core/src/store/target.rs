//! One URI resolved to its backend, ready for I/O: a [`Target`] is a local
//! file or a cloud object, and the split is in its type. The synchronous
//! reads a blocking worker makes exist only on [`LocalTarget`]; what works
//! on both is an `async fn` here, a local one run on a blocking thread.

use bytes::Bytes;

use super::local_target::LocalTarget;
use super::object::Whole;
use super::remote_target::RemoteTarget;
use crate::error::{Error, Result};
use crate::meta::{ByteRange, ObjectMeta};
use crate::runtime;
use crate::uri::ObjectUri;

/// A resolved URI.
#[derive(Clone)]
pub(crate) enum Target {
    /// `file://` or `direct://`.
    Local(LocalTarget),
    /// `s3://`, `az://` or `gs://`.
    Remote(RemoteTarget),
}

impl Target {
    /// The URI as the caller wrote it (used in messages).
    pub fn uri(&self) -> &str {
        match self {
            Target::Local(t) => &t.uri,
            Target::Remote(t) => &t.uri,
        }
    }

    /// The parsed URI.
    pub fn parsed(&self) -> &ObjectUri {
        match self {
            Target::Local(t) => &t.parsed,
            Target::Remote(t) => &t.parsed,
        }
    }

    /// The local object, or an error naming the URI for a remote one.
    pub fn into_local(self) -> Result<LocalTarget> {
        match self {
            Target::Local(t) => Ok(t),
            Target::Remote(t) => Err(Error::InvalidUri {
                uri: t.uri,
                reason: "not a local file (file:// or direct://)".to_owned(),
            }),
        }
    }

    /// Read `range` of the object into one aligned buffer.
    pub async fn get(&self, range: ByteRange) -> Result<Bytes> {
        match self {
            Target::Local(t) => t.get_detached(range).await,
            Target::Remote(t) => t.get(range, Whole::InParts).await,
        }
    }

    /// The last `len` bytes of the object (all of it when smaller) and its
    /// size: one request to a cloud store that takes suffix ranges.
    pub async fn get_tail(&self, len: u64) -> Result<(Bytes, u64)> {
        match self {
            Target::Local(t) => {
                let size = self.head().await?.size;
                let offset = size.saturating_sub(len);
                let range = ByteRange {
                    offset,
                    length: None,
                };
                Ok((t.get_detached(range).await?, size))
            }
            Target::Remote(t) => t.get_tail(len).await,
        }
    }

    /// `range` of the object written into `file` from its start without
    /// holding the object in memory: a local object is copied by the
    /// kernel, a remote one fetched in ranged parts, a few at a time, all
    /// from the same version of it. Returns the bytes written.
    pub async fn write_to(&self, range: ByteRange, mut file: std::fs::File) -> Result<u64> {
        match self {
            Target::Local(t) => {
                let t = t.clone();
                runtime::blocking(move || t.write_to(range, &mut file)).await
            }
            Target::Remote(t) => t.write_to(range, file).await,
        }
    }

    /// An error naming the URI if objects under it cannot be written (an
    /// S3 key with an empty segment).
    pub fn require_writable(&self) -> Result<()> {
        match self {
            Target::Local(_) => Ok(()),
            Target::Remote(t) => t.require_writable(),
        }
    }

    /// Write the whole object; readers never see a partial object.
    pub async fn put(&self, data: Bytes) -> Result<()> {
        match self {
            Target::Local(t) => {
                let t = t.clone();
                runtime::blocking(move || t.put(&data)).await
            }
            Target::Remote(t) => t.put(data).await,
        }
    }

    /// The local object `source` (`size` bytes) stored as this object
    /// without reading it whole when it is large: a multipart upload whose
    /// parts are read as they are sent (see [`Target::put`] otherwise).
    pub async fn put_from(&self, source: &LocalTarget, size: u64) -> Result<()> {
        match self {
            Target::Local(_) => self.put(source.get_detached(ByteRange::FULL).await?).await,
            Target::Remote(t) => t.put_from(source, size).await,
        }
    }

    /// Size, time and etag of the object.
    pub async fn head(&self) -> Result<ObjectMeta> {
        match self {
            Target::Local(t) => {
                let t = t.clone();
                runtime::blocking(move || t.head()).await
            }
            Target::Remote(t) => t.head().await,
        }
    }

    /// Every object under this prefix (not sorted).
    pub async fn list(&self, recursive: bool) -> Result<Vec<ObjectMeta>> {
        match self {
            Target::Local(t) => {
                let t = t.clone();
                runtime::blocking(move || t.list(recursive)).await
            }
            Target::Remote(t) => t.list(recursive).await,
        }
    }

    /// The objects directly under this prefix and the prefixes (local
    /// directories) one level below it.
    pub async fn list_dir(&self) -> Result<(Vec<ObjectMeta>, Vec<String>)> {
        match self {
            Target::Local(t) => {
                let t = t.clone();
                runtime::blocking(move || t.list_dir()).await
            }
            Target::Remote(t) => t.list_dir().await,
        }
    }

    /// For a local prefix, remove its folder and everything in it (see
    /// `objects::remove_local_folder`); `false` if there was none, and for
    /// every other scheme, which has no folders.
    pub async fn remove_local_folder(&self) -> Result<bool> {
        match self {
            Target::Local(t) => {
                let t = t.clone();
                runtime::blocking(move || t.remove_folder()).await
            }
            Target::Remote(_) => Ok(false),
        }
    }

    /// Remove the object.
    pub async fn delete(&self) -> Result<()> {
        match self {
            Target::Local(t) => {
                let t = t.clone();
                runtime::blocking(move || t.delete()).await
            }
            Target::Remote(t) => t.delete().await,
        }
    }
}
