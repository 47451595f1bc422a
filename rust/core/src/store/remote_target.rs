//! A cloud object (`s3://`, `az://`, `gs://`): every operation is an
//! `async fn` on the runtime, through object_store, or through
//! [`super::s3_raw_keys`] for an S3 key object_store cannot name.

use bytes::Bytes;
use object_store::path::Path;

use super::cache::{self, CacheUse};
use super::clients::{raw, Client};
use super::local_target::{place, LocalTarget};
use super::object::{listing, read, write, Object, Whole};
use super::s3_raw_keys;
use crate::buffer::Region;
use crate::error::{Error, Result};
use crate::exec::Worker;
use crate::meta::{ByteRange, ObjectMeta};
use crate::metrics::{self, Op};
use crate::runtime;
use crate::uri::ObjectUri;

/// How a cloud object is reached.
#[derive(Clone)]
pub(crate) enum Reach {
    /// Through object_store, at this path.
    Object(Client, Path),
    /// An S3 key object_store cannot name (see [`s3_raw_keys`]).
    RawKey(Client, String),
}

/// A cloud object, resolved.
#[derive(Clone)]
pub(crate) struct RemoteTarget {
    /// The URI as the caller wrote it (used in messages).
    pub uri: String,
    /// The parsed URI.
    pub parsed: ObjectUri,
    /// Its client and path.
    pub reach: Reach,
    /// The local cache its reads go through, when one is set.
    pub cache: Option<CacheUse>,
}

impl RemoteTarget {
    fn client(&self) -> &Client {
        match &self.reach {
            Reach::Object(client, _) | Reach::RawKey(client, _) => client,
        }
    }

    /// The object as object_store's operations take it.
    fn object<'a>(&'a self, client: &'a Client, path: &'a Path) -> Object<'a> {
        Object {
            store: &client.store,
            transfer: &client.transfer,
            path,
            uri: &self.uri,
        }
    }

    /// Its client and path, for the versioned reads only an object that
    /// object_store reaches has (the cache's, see [`RemoteTarget::cached`]).
    fn object_reach(&self) -> (&Client, &Path) {
        match &self.reach {
            Reach::Object(client, path) => (client, path),
            Reach::RawKey(..) => unreachable!("cached reads are of objects object_store reaches"),
        }
    }

    /// The cache this object's reads go through: set, and the object
    /// reached through object_store (the versioned reads it needs).
    fn cached(&self) -> Option<&CacheUse> {
        match (&self.cache, &self.reach) {
            (Some(cache), Reach::Object(..)) => Some(cache),
            _ => None,
        }
    }

    /// Whether reads of it may be served by the cache on a blocking
    /// worker ([`RemoteTarget::cached_now`]).
    pub fn has_cache(&self) -> bool {
        self.cached().is_some()
    }

    /// `range` of the object from the cache, read on this thread (a
    /// blocking worker's), when its copy needs no request to be trusted;
    /// `None` when the async read must handle it.
    pub fn cached_now(&self, range: ByteRange, worker: &Worker) -> Option<Result<Bytes>> {
        self.cached()?.read_now(&self.uri, range, worker)
    }

    /// [`RemoteTarget::cached_now`] of the whole object into `region`; the
    /// region back unfilled when the async read must handle it.
    pub fn fill_cached_now(
        &self,
        region: Region,
        worker: &Worker,
    ) -> Result<std::result::Result<Region, Region>> {
        match self.cached() {
            Some(cache) => cache.fill_now(&self.uri, region, worker),
            None => Ok(Err(region)),
        }
    }

    /// Read `range` of the object into one aligned buffer, a whole one
    /// requested as `whole` says (through the cache when one is set).
    pub async fn get(&self, range: ByteRange, whole: Whole) -> Result<Bytes> {
        match self.cached() {
            Some(cache) => cache.get(self, range, whole).await,
            None => self.get_uncached(range, whole).await,
        }
    }

    async fn get_uncached(&self, range: ByteRange, whole: Whole) -> Result<Bytes> {
        let client = self.client();
        let got = async {
            match &self.reach {
                Reach::Object(client, path) => {
                    read::get(self.object(client, path), range, whole).await
                }
                Reach::RawKey(client, key) => raw(client).get(&self.uri, key, range).await,
            }
            .map_err(|e| client.redact(e))
        };
        metrics::remote(Op::read(range), &self.uri, got, |b| (b.len() as u64, 1)).await
    }

    /// The last `len` bytes of the object (all of it when smaller) and its size.
    pub async fn get_tail(&self, len: u64) -> Result<(Bytes, u64)> {
        if let Some(cache) = self.cached() {
            return cache.get_tail(self, len).await;
        }
        let client = self.client();
        let got = match &self.reach {
            Reach::Object(client, path) => {
                let tail = read::get_tail(self.object(client, path), len);
                metrics::remote(Op::GetRange, &self.uri, tail, |(b, _)| (b.len() as u64, 1)).await
            }
            Reach::RawKey(..) => {
                async {
                    let size = self.head().await?.size;
                    let offset = size.saturating_sub(len);
                    let range = ByteRange {
                        offset,
                        length: None,
                    };
                    Ok((self.get(range, Whole::InOne).await?, size))
                }
                .await
            }
        };
        got.map_err(|e| client.redact(e))
    }

    /// `range` written into `file` from its start in ranged parts.
    pub async fn write_to(&self, range: ByteRange, mut file: std::fs::File) -> Result<u64> {
        match &self.reach {
            Reach::Object(client, path) => {
                let written = read::write_to(self.object(client, path), range, file);
                metrics::remote(Op::read(range), &self.uri, written, |n| (*n, 1))
                    .await
                    .map_err(|e| client.redact(e))
            }
            Reach::RawKey(..) => {
                let data = self.get(range, Whole::InParts).await?;
                let uri = self.uri.clone();
                runtime::blocking(move || {
                    use std::io::Write;
                    file.write_all(&data)
                        .map(|()| data.len() as u64)
                        .map_err(|e| Error::from_io(&uri, e))
                })
                .await
            }
        }
    }

    /// The whole object into `region` of a batch buffer, which is sized to
    /// it (a size mismatch is an error). Returns the filled region.
    pub async fn read_into_place(&self, mut region: Region) -> Result<Region> {
        if let Some(cache) = self.cached() {
            return cache.read_into_place(self, region).await;
        }
        match &self.reach {
            Reach::Object(client, path) => {
                let len = region.len() as u64;
                let read = read::read_into_place(self.object(client, path), region);
                metrics::remote(Op::Get, &self.uri, read, |_| (len, 1))
                    .await
                    .map_err(|e| client.redact(e))
            }
            Reach::RawKey(..) => {
                let data = self.get(ByteRange::FULL, Whole::InParts).await?;
                place(&self.uri, &data, &mut region).map(|()| region)
            }
        }
    }

    /// An error naming the URI if the object cannot be written (an S3 key
    /// with an empty segment, see [`s3_raw_keys`]).
    pub fn require_writable(&self) -> Result<()> {
        match self.reach {
            Reach::RawKey(..) => Err(s3_raw_keys::not_writable(&self.uri)),
            Reach::Object(..) => Ok(()),
        }
    }

    /// Write the whole object; readers never see a partial object.
    pub async fn put(&self, data: Bytes) -> Result<()> {
        match &self.reach {
            Reach::Object(client, path) => {
                let len = data.len() as u64;
                let put = write::put(self.object(client, path), data);
                let put = metrics::remote(Op::Put, &self.uri, put, |()| (len, 1)).await;
                self.forget_cached().await;
                put.map_err(|e| client.redact(e))
            }
            Reach::RawKey(..) => Err(s3_raw_keys::not_writable(&self.uri)),
        }
    }

    /// The local file `source` (`size` bytes) stored as this object, its
    /// parts read as they are sent.
    pub async fn put_from(&self, source: &LocalTarget, size: u64) -> Result<()> {
        match &self.reach {
            Reach::Object(client, path) => {
                let read = |range| source.get_detached(range);
                let put = write::put_from(self.object(client, path), size, read);
                let put = metrics::remote(Op::Put, &self.uri, put, |()| (size, 1)).await;
                self.forget_cached().await;
                put.map_err(|e| client.redact(e))
            }
            Reach::RawKey(..) => Err(s3_raw_keys::not_writable(&self.uri)),
        }
    }

    /// Size, time and etag of the object.
    pub async fn head(&self) -> Result<ObjectMeta> {
        let head = self.head_uncounted();
        metrics::remote(Op::Head, &self.uri, head, |_| (0, 1)).await
    }

    async fn head_uncounted(&self) -> Result<ObjectMeta> {
        match &self.reach {
            Reach::Object(client, path) => {
                listing::head(client.store.as_ref(), path, &self.uri, &self.parsed)
                    .await
                    .map_err(|e| client.redact(e))
            }
            Reach::RawKey(client, key) => raw(client)
                .head(&self.uri, key)
                .await
                .map(|meta| self.raw_meta(meta))
                .map_err(|e| client.redact(e)),
        }
    }

    /// Every object under this prefix (not sorted).
    pub async fn list(&self, recursive: bool) -> Result<Vec<ObjectMeta>> {
        let list = self.list_uncounted(recursive);
        let listed = metrics::remote(Op::List, &self.uri, list, |l| (0, l.len() as u64)).await?;
        if self.cache.is_some() {
            // What the listing says validates cached copies (no HEAD).
            cache::listed::record(&listed);
        }
        Ok(listed)
    }

    async fn list_uncounted(&self, recursive: bool) -> Result<Vec<ObjectMeta>> {
        match &self.reach {
            Reach::Object(client, path) => {
                let listed = listing::list(
                    client.store.as_ref(),
                    path,
                    &self.uri,
                    &self.parsed,
                    recursive,
                )
                .await;
                match listed {
                    // A key object_store cannot name fails its listing whole.
                    Err(Error::InvalidUri { .. }) if client.raw_keys.is_some() => {
                        self.list_raw(client, recursive).await
                    }
                    listed => listed.map_err(|e| client.redact(e)),
                }
            }
            Reach::RawKey(client, _) => self.list_raw(client, recursive).await,
        }
    }

    /// The objects directly under this prefix and the prefixes one level
    /// below it (one delimited listing; through a whole listing for keys
    /// object_store cannot name).
    pub async fn list_dir(&self) -> Result<(Vec<ObjectMeta>, Vec<String>)> {
        if let Reach::Object(client, path) = &self.reach {
            let listed =
                listing::list_dir(client.store.as_ref(), path, &self.uri, &self.parsed).await;
            match listed {
                Err(Error::InvalidUri { .. }) if client.raw_keys.is_some() => {}
                listed => return listed.map_err(|e| client.redact(e)),
            }
        }
        let all = self.list_raw(self.client(), true).await?;
        Ok(split_children(&self.parsed, all))
    }

    /// [`RemoteTarget::list`] through [`s3_raw_keys`].
    async fn list_raw(&self, client: &Client, recursive: bool) -> Result<Vec<ObjectMeta>> {
        let key = &self.parsed.key;
        let prefix = match key.is_empty() || key.ends_with('/') {
            true => key.clone(),
            false => format!("{key}/"),
        };
        let listed = raw(client)
            .list(&self.uri, &prefix, recursive)
            .await
            .map_err(|e| client.redact(e))?;
        Ok(listed.into_iter().map(|m| self.raw_meta(m)).collect())
    }

    fn raw_meta(&self, meta: s3_raw_keys::RawMeta) -> ObjectMeta {
        ObjectMeta {
            uri: self.parsed.sibling(&meta.key),
            size: meta.size,
            last_modified: meta.last_modified,
            etag: meta.etag,
        }
    }

    /// Remove the object.
    pub async fn delete(&self) -> Result<()> {
        let delete = self.delete_uncounted();
        let deleted = metrics::remote(Op::Delete, &self.uri, delete, |()| (0, 1)).await;
        self.forget_cached().await;
        deleted
    }

    /// After a write or a removal of the object, whether it failed or not
    /// (a failed one may still have taken effect): its cached copy, if
    /// any, no longer says what it is.
    async fn forget_cached(&self) {
        if let Some(cache) = &self.cache {
            cache.forget(&self.uri).await;
        }
    }

    async fn delete_uncounted(&self) -> Result<()> {
        match &self.reach {
            Reach::Object(client, path) => listing::delete(client.store.as_ref(), path, &self.uri)
                .await
                .map_err(|e| client.redact(e)),
            Reach::RawKey(client, key) => raw(client)
                .delete(&self.uri, key)
                .await
                .map_err(|e| client.redact(e)),
        }
    }
}

/// The objects of a recursive listing under `prefix` split into those
/// directly under it and the prefixes one level below (as URIs).
fn split_children(prefix: &ObjectUri, all: Vec<ObjectMeta>) -> (Vec<ObjectMeta>, Vec<String>) {
    let key = prefix.key.trim_end_matches('/');
    let base = match key.is_empty() {
        true => String::new(),
        false => format!("{key}/"),
    };
    let (mut objects, mut prefixes) = (Vec::new(), std::collections::BTreeSet::new());
    let under = prefix.sibling(&base);
    for meta in all {
        let rest = meta.uri.strip_prefix(&under).unwrap_or(&meta.uri);
        match rest.split_once('/') {
            Some((dir, _)) => {
                prefixes.insert(prefix.sibling(&format!("{base}{dir}")));
            }
            None => objects.push(meta),
        }
    }
    (objects, prefixes.into_iter().collect())
}

/// The versioned reads the cache makes (only of objects object_store
/// reaches: [`RemoteTarget::cached`]).
impl cache::Origin for RemoteTarget {
    fn uri(&self) -> &str {
        &self.uri
    }

    async fn head(&self) -> Result<ObjectMeta> {
        RemoteTarget::head(self).await
    }

    async fn fetch(&self, range: ByteRange, whole: Whole) -> Result<(Bytes, ObjectMeta)> {
        let (client, path) = self.object_reach();
        let got = async {
            read::get_versioned(self.object(client, path), range, whole)
                .await
                .map_err(|e| client.redact(e))
        };
        let (bytes, meta) = metrics::remote(Op::read(range), &self.uri, got, |(b, _)| {
            (b.len() as u64, 1)
        })
        .await?;
        Ok((bytes, listing::to_meta(self.uri.clone(), meta)))
    }

    async fn fetch_into_place(&self, region: Region) -> Result<(Region, ObjectMeta)> {
        let (client, path) = self.object_reach();
        let len = region.len() as u64;
        let read = read::read_version_into_place(self.object(client, path), region);
        let (region, meta) = metrics::remote(Op::Get, &self.uri, read, |_| (len, 1))
            .await
            .map_err(|e| client.redact(e))?;
        Ok((region, listing::to_meta(self.uri.clone(), meta)))
    }

    async fn download(&self, version: &ObjectMeta, file: std::fs::File) -> Result<u64> {
        let (client, path) = self.object_reach();
        let meta = object_store::ObjectMeta {
            location: path.clone(),
            last_modified: version.last_modified.map(Into::into).unwrap_or_default(),
            size: version.size,
            e_tag: version.etag.clone(),
            version: None,
        };
        let written =
            read::write_version_to(self.object(client, path), &meta, ByteRange::FULL, file);
        metrics::remote(Op::Get, &self.uri, written, |n| (*n, 1))
            .await
            .map_err(|e| client.redact(e))
    }
}
