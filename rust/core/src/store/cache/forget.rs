//! What this process writes or removes is forgotten by the cache: its
//! entry is removed and what a listing said of it dropped, since neither
//! says what the object is now. Without this a copy trusted with
//! `cache_validate=never` (or by a listing made before the write) would be
//! served after `put` replaced the object, or after `delete` removed it.
//!
//! A writer in another process, or a call of this one made without the
//! cache, is not seen: a HEAD (the default) catches those. Nor is a fetch
//! of the object already in flight when the write lands: it may still
//! keep the version it read.

use super::{listed, CacheUse};
use crate::runtime;

impl CacheUse {
    /// Forget the cached copy of `uri`, and what a listing said of it.
    pub async fn forget(&self, uri: &str) {
        let (path, uri) = (self.path_of(uri), uri.to_owned());
        let this = self.clone();
        runtime::blocking(move || {
            // Here, not on a runtime worker: its lock is only tried, with a
            // yield between tries.
            listed::forget(&uri);
            // Removed even while read: a reader keeps what it opened or
            // mapped; only new reads miss.
            let len = std::fs::metadata(&path).map(|m| m.len());
            if let (Ok(len), Ok(())) = (len, std::fs::remove_file(&path)) {
                this.cache.space.forget(len);
            }
        })
        .await
    }
}
