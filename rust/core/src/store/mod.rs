//! Backends: one file each, behind one dispatching [`Target`].

mod local;
mod object;
mod s3;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use object_store::path::Path;
use object_store::ObjectStore;

use crate::error::{Error, Result};
use crate::meta::{ByteRange, ObjectMeta};
use crate::options::Options;
use crate::runtime;
use crate::uri::{ObjectUri, Scheme};

/// Cloud clients, built once per (scheme, bucket, configuration) and
/// reused so connections are pooled. Lives in the per-process state.
#[derive(Default)]
pub(crate) struct StoreCache {
    stores: Mutex<HashMap<StoreKey, Arc<dyn ObjectStore>>>,
}

/// What makes two clients interchangeable.
type StoreKey = (Scheme, String, Options);

impl StoreCache {
    fn get_or_build(
        &self,
        uri: &ObjectUri,
        options: &Options,
        build: impl FnOnce() -> Result<Arc<dyn ObjectStore>>,
    ) -> Result<Arc<dyn ObjectStore>> {
        let key = (uri.scheme, uri.bucket.clone(), options.clone());
        let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(store) = stores.get(&key) {
            return Ok(store.clone());
        }
        let store = build()?;
        stores.insert(key, store.clone());
        Ok(store)
    }
}

#[derive(Clone)]
enum Backend {
    Local,
    Object(Arc<dyn ObjectStore>, Path),
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
    clients: HashMap<(Scheme, String), Arc<dyn ObjectStore>>,
}

impl<'a> Resolver<'a> {
    /// A resolver for calls configured by `options`.
    pub fn new(options: &'a Options) -> Self {
        Self {
            options,
            clients: HashMap::new(),
        }
    }

    fn client(&mut self, uri: &str, parsed: &ObjectUri) -> Result<Arc<dyn ObjectStore>> {
        let key = (parsed.scheme, parsed.bucket.clone());
        if let Some(client) = self.clients.get(&key) {
            return Ok(client.clone());
        }
        let options = self.options;
        let client =
            runtime::state()
                .stores
                .get_or_build(parsed, options, || match parsed.scheme {
                    Scheme::S3 => s3::build(uri, &parsed.bucket, options),
                    scheme => Err(Error::Unsupported {
                        uri: uri.to_owned(),
                        scheme: scheme.as_str(),
                    }),
                })?;
        self.clients.insert(key, client.clone());
        Ok(client)
    }

    /// Parse `uri` and find (or build) its backend client.
    pub fn resolve(&mut self, uri: &str) -> Result<Target> {
        let parsed = ObjectUri::parse(uri)?;
        let backend = match parsed.scheme {
            Scheme::File => Backend::Local,
            Scheme::S3 => {
                let store = self.client(uri, &parsed)?;
                let path = Path::parse(parsed.key.trim_end_matches('/')).map_err(|e| {
                    Error::InvalidUri {
                        uri: uri.to_owned(),
                        reason: e.to_string(),
                    }
                })?;
                Backend::Object(store, path)
            }
            scheme @ (Scheme::Direct | Scheme::Azure | Scheme::Gcs) => {
                return Err(Error::Unsupported {
                    uri: uri.to_owned(),
                    scheme: scheme.as_str(),
                })
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
        match &self.backend {
            Backend::Local => {
                let (uri, path) = (self.uri.clone(), self.parsed.key.clone());
                runtime::blocking(move || local::get(&uri, &path, range)).await
            }
            Backend::Object(store, path) => {
                object::get(store.as_ref(), path, &self.uri, range).await
            }
        }
    }

    /// Write the whole object; readers never see a partial object.
    pub async fn put(&self, data: Bytes) -> Result<()> {
        match &self.backend {
            Backend::Local => {
                let (uri, path) = (self.uri.clone(), self.parsed.key.clone());
                runtime::blocking(move || local::put(&uri, &path, &data)).await
            }
            Backend::Object(store, path) => {
                object::put(store.as_ref(), path, &self.uri, data).await
            }
        }
    }

    /// Size, time and etag of the object.
    pub async fn head(&self) -> Result<ObjectMeta> {
        match &self.backend {
            Backend::Local => {
                let (uri, path) = (self.uri.clone(), self.parsed.key.clone());
                runtime::blocking(move || local::head(&uri, &path)).await
            }
            Backend::Object(store, path) => {
                object::head(store.as_ref(), path, &self.uri, &self.parsed).await
            }
        }
    }

    /// Every object under this prefix (not sorted).
    pub async fn list(&self, recursive: bool) -> Result<Vec<ObjectMeta>> {
        match &self.backend {
            Backend::Local => {
                let (uri, parsed) = (self.uri.clone(), self.parsed.clone());
                runtime::blocking(move || local::list(&uri, &parsed, recursive)).await
            }
            Backend::Object(store, path) => {
                object::list(store.as_ref(), path, &self.uri, &self.parsed, recursive).await
            }
        }
    }

    /// Remove the object.
    pub async fn delete(&self) -> Result<()> {
        match &self.backend {
            Backend::Local => {
                let (uri, path) = (self.uri.clone(), self.parsed.key.clone());
                runtime::blocking(move || local::delete(&uri, &path)).await
            }
            Backend::Object(store, path) => object::delete(store.as_ref(), path, &self.uri).await,
        }
    }
}
