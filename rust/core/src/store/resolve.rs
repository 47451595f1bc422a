//! From a URI to a [`Target`]: parse it, and find (or build) the client of
//! its bucket, once per call and bucket rather than once per URI.

use std::collections::HashMap;
use std::sync::Arc;

use object_store::path::Path;

use super::cache::{self, CacheUse};
use super::clients::{self, Client};
use super::local_target::LocalTarget;
use super::object;
use super::remote_target::{Reach, RemoteTarget};
use super::target::Target;
use super::{azure, gcs, s3, s3_raw_keys};
use crate::error::{Error, Result};
use crate::options::{self, Options};
use crate::uri::{ObjectUri, Scheme};

/// Resolves many URIs with one configuration, looking each bucket's
/// client up once per call rather than once per URI.
pub(crate) struct Resolver<'a> {
    options: &'a Options,
    clients: HashMap<(Scheme, String), Client>,
    /// The cache of remote reads, once looked up.
    cache: Option<Option<CacheUse>>,
}

impl<'a> Resolver<'a> {
    /// A resolver for calls configured by `options`.
    pub fn new(options: &'a Options) -> Self {
        Self {
            options,
            clients: HashMap::new(),
            cache: None,
        }
    }

    /// The cache remote reads go through, if one is set (looked up once).
    fn cache(&mut self, uri: &str) -> Result<Option<CacheUse>> {
        if let Some(cache) = &self.cache {
            return Ok(cache.clone());
        }
        let mmap = self.file_mmap(uri)?;
        let cache = cache::for_options(self.options, mmap)?;
        self.cache = Some(cache.clone());
        Ok(cache)
    }

    fn client(&mut self, uri: &str, parsed: &ObjectUri) -> Result<Client> {
        let key = (parsed.scheme, parsed.bucket.clone());
        if let Some(client) = self.clients.get(&key) {
            return Ok(client.clone());
        }
        let options = self.options;
        let client = clients::cache().get_or_build(parsed, options, || {
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

    /// Whether `file://` objects are mapped ([`options::FILE_MMAP_OPTION`],
    /// else [`options::FILE_MMAP`]); a value that is no boolean is an
    /// error naming it and `uri`.
    fn file_mmap(&self, uri: &str) -> Result<bool> {
        let key = self
            .options
            .key_set(&[options::FILE_MMAP_OPTION, options::FILE_MMAP]);
        match self.options.bool(key) {
            Ok(on) => Ok(on.unwrap_or(false)),
            Err(Error::InvalidArgument(reason)) => {
                Err(Error::InvalidArgument(format!("{uri}: {reason}")))
            }
            Err(e) => Err(e),
        }
    }

    /// Parse `uri` and find (or build) its backend client.
    pub fn resolve(&mut self, uri: &str) -> Result<Target> {
        let parsed = ObjectUri::parse(uri)?;
        Ok(match parsed.scheme {
            Scheme::File | Scheme::Direct => {
                let direct = parsed.scheme == Scheme::Direct;
                let fallback = direct
                    && self
                        .options
                        .bool(options::DIRECT_FALLBACK)?
                        .unwrap_or(false);
                let mmap = !direct && self.file_mmap(uri)?;
                Target::Local(LocalTarget {
                    uri: uri.to_owned(),
                    parsed,
                    direct,
                    fallback,
                    mmap,
                })
            }
            Scheme::S3 | Scheme::Azure | Scheme::Gcs => {
                let client = self.client(uri, &parsed)?;
                let reach = match Path::parse(parsed.key.trim_end_matches('/')) {
                    Ok(path) => Reach::Object(client, path),
                    Err(_) if client.raw_keys.is_some() && s3_raw_keys::is_raw(&parsed.key) => {
                        Reach::RawKey(client, parsed.key.clone())
                    }
                    Err(e) => {
                        return Err(Error::InvalidUri {
                            uri: uri.to_owned(),
                            reason: e.to_string(),
                        })
                    }
                };
                Target::Remote(RemoteTarget {
                    uri: uri.to_owned(),
                    parsed,
                    reach,
                    cache: self.cache(uri)?,
                })
            }
        })
    }

    /// Resolve a URI that must name an object.
    pub fn resolve_object(&mut self, uri: &str) -> Result<Target> {
        let target = self.resolve(uri)?;
        target.parsed().require_object(uri)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mmap_of(uri: &str, value: &str) -> Result<bool> {
        let mut options = Options::empty();
        options.extend([("S3DLIO_FILE_MMAP", value)]);
        mmap_with(uri, &options)
    }

    fn mmap_with(uri: &str, options: &Options) -> Result<bool> {
        match Target::resolve(uri, options)? {
            Target::Local(local) => Ok(local.mmap),
            Target::Remote(_) => unreachable!("a local URI"),
        }
    }

    #[test]
    fn file_mmap_is_a_boolean_for_file_uris_only() {
        assert!(mmap_of("file:///tmp/x", "true").unwrap());
        assert!(!mmap_of("file:///tmp/x", "0").unwrap());
        assert!(
            !mmap_of("direct:///tmp/x", "true").unwrap(),
            "O_DIRECT unaffected"
        );
        let err = mmap_of("file:///tmp/x", "maybe").unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("file:///tmp/x") && message.contains("S3DLIO_FILE_MMAP=\"maybe\""),
            "{message}"
        );
    }

    #[test]
    fn the_per_call_name_wins_over_the_variable() {
        let mut options = Options::empty();
        options.extend([("S3DLIO_FILE_MMAP", "true"), ("file_mmap", "false")]);
        assert!(!mmap_with("file:///tmp/x", &options).unwrap());
        options.extend([("file_mmap", "on")]);
        assert!(mmap_with("file:///tmp/x", &options).unwrap());
        options.extend([("S3DLIO_FILE_MMAP", "bad"), ("file_mmap", "nope")]);
        let message = mmap_with("file:///tmp/x", &options)
            .unwrap_err()
            .to_string();
        assert!(message.contains("FILE_MMAP=\"nope\""), "{message}");
    }
}
