//! What listings said of each object, so that a dataset made from a
//! listing validates its cached copies with no request at all: the
//! listing already gave every object's size, ETag and time. Kept only
//! while a cache is in use (a listing through a cached call records it),
//! per process and inherited by forked DataLoader workers; a later listing
//! of the same objects replaces what an earlier one said.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::meta::ObjectMeta;

fn listed() -> &'static Mutex<HashMap<String, ObjectMeta>> {
    static LISTED: OnceLock<Mutex<HashMap<String, ObjectMeta>>> = OnceLock::new();
    LISTED.get_or_init(Mutex::default)
}

/// Remember what a listing said of `metas`.
pub(crate) fn record(metas: &[ObjectMeta]) {
    let mut listed = listed().lock().unwrap_or_else(|e| e.into_inner());
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
    let listed = listed().lock().unwrap_or_else(|e| e.into_inner());
    listed.get(uri).cloned()
}
