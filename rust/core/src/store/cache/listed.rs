//! What listings said of each object, so that a dataset made from a
//! listing validates its cached copies with no request at all: the
//! listing already gave every object's size, ETag and time. Kept only
//! while a cache is in use (a listing through a cached call records it),
//! per process and inherited by forked DataLoader workers; a later listing
//! of the same objects replaces what an earlier one said.
//!
//! The map crosses a fork with its lock, which another thread may have
//! held at that moment and which no thread of the child will ever release.
//! So the lock is only ever tried: a lookup that cannot take it answers
//! "not listed" (the copy is then checked by a HEAD), and a listing that
//! cannot record after many tries records nothing. Never a hang.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};

use crate::meta::ObjectMeta;

/// Tries to take the lock before giving up (each after yielding).
const TRIES: usize = 1000;

fn listed() -> Option<MutexGuard<'static, HashMap<String, ObjectMeta>>> {
    static LISTED: OnceLock<Mutex<HashMap<String, ObjectMeta>>> = OnceLock::new();
    let listed = LISTED.get_or_init(Mutex::default);
    for _ in 0..TRIES {
        match listed.try_lock() {
            Ok(guard) => return Some(guard),
            Err(TryLockError::Poisoned(e)) => return Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => std::thread::yield_now(),
        }
    }
    None
}

/// Remember what a listing said of `metas`.
pub(crate) fn record(metas: &[ObjectMeta]) {
    let Some(mut listed) = listed() else { return };
    for meta in metas {
        let version = ObjectMeta {
            uri: String::new(),
            ..meta.clone()
        };
        listed.insert(meta.uri.clone(), version);
    }
}

/// What the latest listing said of `uri`, if one did.
pub(super) fn version(uri: &str) -> Option<ObjectMeta> {
    listed()?.get(uri).cloned()
}

/// Drop what a listing said of `uri` (this process wrote or removed it).
pub(super) fn forget(uri: &str) {
    if let Some(mut listed) = listed() {
        listed.remove(uri);
    }
}
