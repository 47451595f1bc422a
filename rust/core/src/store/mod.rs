//! Backends: one file each, behind one dispatching [`Target`].

mod azure;
mod direct;
mod folder_markers;
mod gcs;
mod gcs_credentials;
mod landing;
mod local;
mod metadata_credentials;
mod network_mounts;
mod object;
mod pending_upload;
mod s3;
mod s3_credentials;
mod s3_raw_keys;
mod stale_temporaries;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use object_store::path::Path;
use object_store::ObjectStore;

use crate::buffer::Region;
use crate::error::{Error, Result};
use crate::meta::{ByteRange, ObjectMeta};
use crate::options::{self, Options};
use crate::runtime;
use crate::uri::{ObjectUri, Scheme};

pub(crate) use local::Staged;
pub(crate) use object::Whole;
pub use stale_temporaries::remove_stale_temporaries;

/// Cloud clients, built once per (scheme, bucket, configuration) and
/// reused so connections are pooled. Lives in the per-process state.
/// Holds at most [`MAX_CLIENTS`]; the least recently used goes first, so a
/// job that passes fresh credentials as options (each set a client of its
/// own) does not keep every old client and its connections.
#[derive(Default)]
pub(crate) struct StoreCache {
    stores: Mutex<Clients>,
}

/// Most clients a process keeps.
pub(crate) const MAX_CLIENTS: usize = 64;

/// The cached clients, each with the tick of its last use.
#[derive(Default)]
struct Clients {
    by_key: HashMap<StoreKey, (Client, u64)>,
    tick: u64,
}

impl Clients {
    /// Advance the tick; the client for `key`, if cached, marked as just used.
    fn touch(&mut self, key: &StoreKey) -> Option<Client> {
        self.tick += 1;
        let (client, used) = self.by_key.get_mut(key)?;
        *used = self.tick;
        Some(client.clone())
    }
}

/// A cloud client, the transfer settings it was configured with, and the
/// credential values its errors must not show.
#[derive(Clone)]
pub(crate) struct Client {
    store: Arc<dyn ObjectStore>,
    transfer: object::Transfer,
    secrets: Arc<[String]>,
    /// S3 only: requests for keys object_store cannot name.
    raw_keys: Option<Arc<s3_raw_keys::RawKeys>>,
}

impl Client {
    /// `err` without any of this client's credentials in its text.
    fn redact(&self, err: Error) -> Error {
        if self.secrets.is_empty() {
            return err;
        }
        err.redact(&self.secrets)
    }
}

/// What makes two clients interchangeable.
type StoreKey = (Scheme, String, Options);

impl StoreCache {
    fn get_or_build(
        &self,
        uri: &ObjectUri,
        options: &Options,
        build: impl FnOnce() -> Result<Client>,
    ) -> Result<Client> {
        let key = (uri.scheme, uri.bucket.clone(), options.clone());
        if let Some(client) = self.lock().touch(&key) {
            return Ok(client);
        }
        // Built with the cache unlocked: building reads the environment
        // under its guard (the GIL), which a thread holding the GIL while
        // it waits for this lock would otherwise never let go.
        let client = crate::env::guarded(build)?;
        let mut clients = self.lock();
        if let Some(built_meanwhile) = clients.touch(&key) {
            return Ok(built_meanwhile); // by another thread: share it
        }
        let tick = clients.tick;
        if clients.by_key.len() >= MAX_CLIENTS {
            // A scan of at most MAX_CLIENTS, only when a client is built.
            let oldest = clients
                .by_key
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                clients.by_key.remove(&oldest);
            }
        }
        clients.by_key.insert(key, (client.clone(), tick));
        Ok(client)
    }

    /// The cache, locked (a panic while it was held leaves it usable).
    fn lock(&self) -> std::sync::MutexGuard<'_, Clients> {
        self.stores.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Clients cached now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().by_key.len()
    }
}

/// A whole object read elsewhere copied into the `region` sized for it; a
/// size that does not match is a truncated transfer of `uri`.
fn place(uri: &str, bytes: &[u8], region: &mut Region) -> Result<()> {
    if bytes.len() != region.len() || !region.extend_from_slice(bytes) {
        return Err(Error::Truncated {
            uri: uri.to_owned(),
            expected: region.len() as u64,
            actual: bytes.len() as u64,
        });
    }
    Ok(())
}

/// The raw-key requests of a client that has them (S3's).
fn raw(client: &Client) -> &s3_raw_keys::RawKeys {
    client
        .raw_keys
        .as_deref()
        .expect("raw keys resolve only for clients that have them")
}

#[derive(Clone)]
enum Backend {
    /// `file://` (buffered) or `direct://` (O_DIRECT, maybe with fallback).
    Local {
        direct: bool,
        fallback: bool,
    },
    Object(Client, Path),
    /// An S3 key object_store cannot name (see [`s3_raw_keys`]).
    RawKey(Client, String),
}

/// One URI resolved to its backend, ready for I/O.
#[derive(Clone)]
pub(crate) struct Target {
    /// The URI as the caller wrote it (used in messages).
    pub uri: String,
    pub parsed: ObjectUri,
    backend: Backend,
}

/// Resolves many URIs with one configuration, looking each bucket's
/// client up once per call rather than once per URI.
pub(crate) struct Resolver<'a> {
    options: &'a Options,
    clients: HashMap<(Scheme, String), Client>,
}

impl<'a> Resolver<'a> {
    /// A resolver for calls configured by `options`.
    pub fn new(options: &'a Options) -> Self {
        Self {
            options,
            clients: HashMap::new(),
        }
    }

    fn client(&mut self, uri: &str, parsed: &ObjectUri) -> Result<Client> {
        let key = (parsed.scheme, parsed.bucket.clone());
        if let Some(client) = self.clients.get(&key) {
            return Ok(client.clone());
        }
        let options = self.options;
        let client = runtime::state().stores.get_or_build(parsed, options, || {
            let bucket = &parsed.bucket;
            let (store, raw_keys) = match parsed.scheme {
                Scheme::S3 => {
                    let (store, raw) = s3::build(uri, bucket, options)?;
                    (store, Some(Arc::new(raw)))
                }
                Scheme::Azure => (azure::build(uri, bucket, options)?, None),
                Scheme::Gcs => (gcs::build(uri, bucket, options)?, None),
                scheme => {
                    return Err(Error::Unsupported {
                        uri: uri.to_owned(),
                        scheme: scheme.as_str(),
                    })
                }
            };
            Ok(Client {
                store,
                transfer: object::Transfer::from_options(options, parsed.scheme)?,
                secrets: options.secret_values().into(),
                raw_keys,
            })
        })?;
        self.clients.insert(key, client.clone());
        Ok(client)
    }

    /// Parse `uri` and find (or build) its backend client.
    pub fn resolve(&mut self, uri: &str) -> Result<Target> {
        let parsed = ObjectUri::parse(uri)?;
        let backend = match parsed.scheme {
            Scheme::File => Backend::Local {
                direct: false,
                fallback: false,
            },
            Scheme::Direct => Backend::Local {
                direct: true,
                fallback: self
                    .options
                    .bool(options::DIRECT_FALLBACK)?
                    .unwrap_or(false),
            },
            Scheme::S3 | Scheme::Azure | Scheme::Gcs => {
                let client = self.client(uri, &parsed)?;
                match Path::parse(parsed.key.trim_end_matches('/')) {
                    Ok(path) => Backend::Object(client, path),
                    Err(_) if client.raw_keys.is_some() && s3_raw_keys::is_raw(&parsed.key) => {
                        Backend::RawKey(client, parsed.key.clone())
                    }
                    Err(e) => {
                        return Err(Error::InvalidUri {
                            uri: uri.to_owned(),
                            reason: e.to_string(),
                        })
                    }
                }
            }
        };
        Ok(Target {
            uri: uri.to_owned(),
            parsed,
            backend,
        })
    }

    /// Resolve a URI that must name an object.
    pub fn resolve_object(&mut self, uri: &str) -> Result<Target> {
        let target = self.resolve(uri)?;
        target.parsed.require_object(uri)?;
        Ok(target)
    }
}

impl Target {
    /// Resolve one URI (see [`Resolver::resolve`]).
    pub fn resolve(uri: &str, options: &Options) -> Result<Self> {
        Resolver::new(options).resolve(uri)
    }

    /// Resolve one URI that must name an object.
    pub fn resolve_object(uri: &str, options: &Options) -> Result<Self> {
        Resolver::new(options).resolve_object(uri)
    }

    /// Read `range` of the object into one aligned buffer.
    pub async fn get(&self, range: ByteRange) -> Result<Bytes> {
        self.get_as(range, Whole::InParts).await
    }

    /// Read the whole object into one aligned buffer, a remote one
    /// requested as `whole` says (local reads split by their own rule).
    pub async fn get_whole(&self, whole: Whole) -> Result<Bytes> {
        self.get_as(ByteRange::FULL, whole).await
    }

    async fn get_as(&self, range: ByteRange, whole: Whole) -> Result<Bytes> {
        match &self.backend {
            &Backend::Local { direct, fallback } => {
                let (uri, path) = (self.uri.clone(), self.parsed.key.clone());
                runtime::blocking(move || match direct {
                    true => direct::get(&uri, &path, range, fallback),
                    false => local::get(&uri, &path, range),
                })
                .await
            }
            Backend::Object(client, path) => object::get(
                &client.store,
                &client.transfer,
                path,
                &self.uri,
                range,
                whole,
            )
            .await
            .map_err(|e| client.redact(e)),
            Backend::RawKey(client, key) => raw(client)
                .get(&self.uri, key, range)
                .await
                .map_err(|e| client.redact(e)),
        }
    }

    /// `range` of the object written into `file` from its start without
    /// holding the object in memory: a local object is copied by the
    /// kernel, a remote one fetched in ranged parts, a few at a time, all
    /// from the same version of it. Returns the bytes written.
    pub async fn write_to(&self, range: ByteRange, mut file: std::fs::File) -> Result<u64> {
        match &self.backend {
            Backend::Local { .. } => {
                let (uri, path) = (self.uri.clone(), self.parsed.key.clone());
                runtime::blocking(move || local::copy_range(&uri, &path, range, &mut file)).await
            }
            Backend::Object(client, path) => object::write_to(
                &client.store,
                &client.transfer,
                path,
                &self.uri,
                range,
                file,
            )
            .await
            .map_err(|e| client.redact(e)),
            Backend::RawKey(..) => {
                let data = self.get(range).await?;
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

    /// An error naming the URI if objects under it cannot be written (an
    /// S3 key with an empty segment, see [`s3_raw_keys`]).
    pub fn require_writable(&self) -> Result<()> {
        match self.backend {
            Backend::RawKey(..) => Err(s3_raw_keys::not_writable(&self.uri)),
            _ => Ok(()),
        }
    }

    /// True for `file://` and `direct://` objects.
    pub fn is_local(&self) -> bool {
        matches!(self.backend, Backend::Local { .. })
    }

    /// An error naming the URI unless this is a `file://` or `direct://` object.
    pub fn require_local(&self) -> Result<()> {
        match self.is_local() {
            true => Ok(()),
            false => Err(Error::InvalidUri {
                uri: self.uri.clone(),
                reason: "not a local file (file:// or direct://)".to_owned(),
            }),
        }
    }

    /// Read `range` right here on the calling thread when the object is
    /// local (no hop to the runtime: the per-call fast path); `None` for
    /// remote objects, which need the runtime.
    pub fn get_here(&self, range: ByteRange) -> Option<Result<Bytes>> {
        match self.backend {
            Backend::Local {
                direct: true,
                fallback,
            } => Some(direct::get(&self.uri, &self.parsed.key, range, fallback)),
            Backend::Local { direct: false, .. } => {
                Some(local::get(&self.uri, &self.parsed.key, range))
            }
            Backend::Object(..) | Backend::RawKey(..) => None,
        }
    }

    /// True for a local object on a network filesystem (NFS, SMB, FUSE),
    /// where a read can block beyond any signal's reach: such objects skip
    /// the caller's-thread fast path (see [`network_mounts`]).
    pub fn may_stall(&self) -> bool {
        self.is_local() && network_mounts::may_stall(&self.parsed.key)
    }

    /// True for `direct://` (O_DIRECT) objects.
    pub fn is_direct(&self) -> bool {
        matches!(self.backend, Backend::Local { direct: true, .. })
    }

    /// The whole object into `region` of a batch buffer, which is sized to
    /// it (a size mismatch is an error). Returns the filled region.
    pub async fn get_into(&self, region: Region) -> Result<Region> {
        match &self.backend {
            Backend::Local { .. } => {
                let target = self.clone();
                runtime::blocking(move || target.get_into_here(region).expect("local target")).await
            }
            Backend::Object(client, path) => {
                let mut region = region;
                object::get_into(client.store.as_ref(), path, &self.uri, &mut region)
                    .await
                    .map_err(|e| client.redact(e))?;
                Ok(region)
            }
            Backend::RawKey(..) => {
                let data = self.get(ByteRange::FULL).await?;
                let mut region = region;
                place(&self.uri, &data, &mut region).map(|()| region)
            }
        }
    }

    /// [`Target::get_into`] right here on the calling thread for a local
    /// object; `None` for remote ones.
    pub fn get_into_here(&self, mut region: Region) -> Option<Result<Region>> {
        let Backend::Local { direct, fallback } = self.backend else {
            return None;
        };
        let (uri, path) = (&self.uri, &self.parsed.key);
        let filled = if direct {
            // O_DIRECT needs 4096-aligned destinations; a batch row is
            // not, so read aligned and place it.
            direct::get(uri, path, ByteRange::FULL, fallback)
                .and_then(|bytes| place(uri, &bytes, &mut region))
        } else {
            local::get_into(uri, path, &mut region)
        };
        Some(filled.map(|()| region))
    }

    /// Write the whole object; readers never see a partial object.
    pub async fn put(&self, data: Bytes) -> Result<()> {
        match &self.backend {
            &Backend::Local { direct, fallback } => {
                let (uri, path) = (self.uri.clone(), self.parsed.key.clone());
                runtime::blocking(move || match direct {
                    true => direct::put(&uri, &path, &data, fallback),
                    false => local::put(&uri, &path, &data),
                })
                .await
            }
            Backend::Object(client, path) => {
                object::put(&client.store, &client.transfer, path, &self.uri, data)
                    .await
                    .map_err(|e| client.redact(e))
            }
            Backend::RawKey(..) => Err(s3_raw_keys::not_writable(&self.uri)),
        }
    }

    /// The local object `source` (`size` bytes) stored as this object
    /// without reading it whole when it is large: a multipart upload whose
    /// parts are read as they are sent (see [`Target::put`] otherwise).
    pub async fn put_from(&self, source: &Target, size: u64) -> Result<()> {
        match &self.backend {
            Backend::Local { .. } => self.put(source.get(ByteRange::FULL).await?).await,
            Backend::Object(client, path) => {
                let read = |range| source.get(range);
                object::put_from(&client.store, &client.transfer, path, &self.uri, size, read)
                    .await
                    .map_err(|e| client.redact(e))
            }
            Backend::RawKey(..) => Err(s3_raw_keys::not_writable(&self.uri)),
        }
    }

    /// Size, time and etag of the object.
    pub async fn head(&self) -> Result<ObjectMeta> {
        match &self.backend {
            Backend::Local { .. } => {
                let target = self.clone();
                runtime::blocking(move || target.head_here().expect("local target")).await
            }
            Backend::Object(client, path) => {
                object::head(client.store.as_ref(), path, &self.uri, &self.parsed)
                    .await
                    .map_err(|e| client.redact(e))
            }
            Backend::RawKey(client, key) => raw(client)
                .head(&self.uri, key)
                .await
                .map(|meta| self.raw_meta(meta))
                .map_err(|e| client.redact(e)),
        }
    }

    /// [`Target::head`] right here on the calling thread for a local
    /// object; `None` for remote ones.
    pub fn head_here(&self) -> Option<Result<ObjectMeta>> {
        match self.backend {
            Backend::Local { .. } => Some(local::head(&self.uri, &self.parsed.key)),
            Backend::Object(..) | Backend::RawKey(..) => None,
        }
    }

    /// Every object under this prefix (not sorted).
    pub async fn list(&self, recursive: bool) -> Result<Vec<ObjectMeta>> {
        match &self.backend {
            Backend::Local { .. } => {
                let (uri, parsed) = (self.uri.clone(), self.parsed.clone());
                runtime::blocking(move || local::list(&uri, &parsed, recursive)).await
            }
            Backend::Object(client, path) => {
                let listed = object::list(
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
            Backend::RawKey(client, _) => self.list_raw(client, recursive).await,
        }
    }

    /// [`Target::list`] through [`s3_raw_keys`].
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

    /// For a local prefix, remove its folder and everything in it (see
    /// [`crate::objects::remove_local_folder`]); `false` if there was none,
    /// and for every other scheme, which has no folders.
    pub async fn remove_local_folder(&self) -> Result<bool> {
        if !self.is_local() {
            return Ok(false);
        }
        let (uri, path) = (self.uri.clone(), self.parsed.key.clone());
        runtime::blocking(move || local::remove_folder(&uri, &path)).await
    }

    /// Remove the object.
    pub async fn delete(&self) -> Result<()> {
        match &self.backend {
            Backend::Local { .. } => {
                let (uri, path) = (self.uri.clone(), self.parsed.key.clone());
                runtime::blocking(move || local::delete(&uri, &path)).await
            }
            Backend::Object(client, path) => object::delete(client.store.as_ref(), path, &self.uri)
                .await
                .map_err(|e| client.redact(e)),
            Backend::RawKey(client, key) => raw(client)
                .delete(&self.uri, key)
                .await
                .map_err(|e| client.redact(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(n: usize) -> Options {
        Options::from_env_with([("aws_region", format!("region-{n}"))])
    }

    fn in_memory() -> Result<Client> {
        Ok(Client {
            store: Arc::new(object_store::memory::InMemory::new()),
            transfer: object::Transfer::from_options(&Options::empty(), Scheme::S3)?,
            secrets: Arc::from([]),
            raw_keys: None,
        })
    }

    #[test]
    fn the_client_cache_keeps_the_most_recently_used() {
        let cache = StoreCache::default();
        let uri = ObjectUri::parse("s3://bucket/key").unwrap();
        let first = cache.get_or_build(&uri, &options(0), in_memory).unwrap();
        let same = |a: &Client, b: &Client| Arc::ptr_eq(&a.store, &b.store);
        for n in 1..3 * MAX_CLIENTS {
            cache.get_or_build(&uri, &options(n), in_memory).unwrap();
            // The first stays in use, so it is never the one dropped.
            let again = cache.get_or_build(&uri, &options(0), in_memory).unwrap();
            assert!(same(&first, &again), "client 0 rebuilt after {n} others");
        }
        assert_eq!(cache.len(), MAX_CLIENTS);
        // Client 1 was dropped long ago: built again, then cached again.
        let rebuilt = cache.get_or_build(&uri, &options(1), in_memory).unwrap();
        let cached = cache.get_or_build(&uri, &options(1), in_memory).unwrap();
        assert!(same(&rebuilt, &cached), "a rebuilt client is cached again");
        assert_eq!(cache.len(), MAX_CLIENTS);
    }
}
