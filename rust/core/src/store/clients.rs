//! Cloud clients, built once per (scheme, bucket, configuration) and kept
//! for the process, so connections are pooled: a [`Client`] is the store,
//! its transfer settings and the credential values its errors must not
//! show. The cache is per process (rebuilt after a fork, as the runtime
//! whose connection pools its clients hold).

use std::collections::HashMap;
use std::sync::atomic::AtomicPtr;
use std::sync::{Arc, Mutex};

use object_store::ObjectStore;

use super::object;
use super::s3_raw_keys;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::process::{per_process, Stamped};
use crate::uri::{ObjectUri, Scheme};

static CLIENTS: AtomicPtr<Stamped<StoreCache>> = AtomicPtr::new(std::ptr::null_mut());

/// This process's client cache.
pub(crate) fn cache() -> &'static StoreCache {
    per_process(&CLIENTS, StoreCache::default, drop)
}

/// Cloud clients, built once per (scheme, bucket, configuration) and
/// reused so connections are pooled ([`cache`] is this process's).
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
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) transfer: object::Transfer,
    pub(crate) secrets: Arc<[String]>,
    /// S3 only: requests for keys object_store cannot name.
    pub(crate) raw_keys: Option<Arc<s3_raw_keys::RawKeys>>,
}

impl Client {
    /// `err` without any of this client's credentials in its text.
    pub(crate) fn redact(&self, err: Error) -> Error {
        if self.secrets.is_empty() {
            return err;
        }
        err.redact(&self.secrets)
    }
}

/// What makes two clients interchangeable.
type StoreKey = (Scheme, String, Options);

impl StoreCache {
    pub(crate) fn get_or_build(
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

/// The raw-key requests of a client that has them (S3's).
pub(crate) fn raw(client: &Client) -> &s3_raw_keys::RawKeys {
    client
        .raw_keys
        .as_deref()
        .expect("raw keys resolve only for clients that have them")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Options;

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
