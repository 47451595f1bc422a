//! From a URI to a [`Target`]: parse it, and find (or build) the client of
//! its bucket, once per call and bucket rather than once per URI.

use std::collections::HashMap;
use std::sync::Arc;

use object_store::path::Path;

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
                Target::Local(LocalTarget {
                    uri: uri.to_owned(),
                    parsed,
                    direct,
                    fallback,
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
