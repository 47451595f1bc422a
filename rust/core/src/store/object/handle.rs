//! One object of a cloud store as every operation takes it, instead of the
//! same four arguments repeated.

use std::sync::Arc;

use object_store::path::Path;
use object_store::ObjectStore;

use super::config::Transfer;

/// One object of a cloud store, as every operation here needs it.
#[derive(Clone, Copy)]
pub(crate) struct Object<'a> {
    /// The client.
    pub store: &'a Arc<dyn ObjectStore>,
    /// How large objects are moved with this client.
    pub transfer: &'a Transfer,
    /// The object's path in the store.
    pub path: &'a Path,
    /// The URI as the caller wrote it (in messages).
    pub uri: &'a str,
}
