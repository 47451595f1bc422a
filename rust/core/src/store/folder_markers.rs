//! Folder markers are not objects.
//!
//! The S3 and GCS consoles' "Create folder" writes a zero-byte key ending
//! in `/`; object_store's listing returns it as an object named without the
//! slash, which then does not exist.

use futures::{stream, StreamExt, TryStreamExt};
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::{Error, Result};

/// `metas` without folder markers. Keys ending in `/` (the "folders" the
/// S3 and GCS consoles create, `dm/` and `dm/sub/`) reach us from
/// object_store's listing as zero-byte objects named without the slash,
/// which then do not exist: every get, dataset and download over the
/// listing would fail on them. A zero-byte entry is kept only if an object
/// of that very name answers a HEAD; datasets rarely hold zero-byte
/// objects, so the HEADs cost nothing where it matters.
pub(super) async fn without_folder_markers(
    store: &dyn ObjectStore,
    mut metas: Vec<object_store::ObjectMeta>,
    uri: &str,
) -> Result<Vec<object_store::ObjectMeta>> {
    metas.sort_unstable_by(|a, b| a.location.cmp(&b.location));
    metas.dedup_by(|a, b| a.location == b.location); // `x` and the marker `x/`
    let is_object = |meta: &object_store::ObjectMeta| {
        let empty = meta.size == 0;
        let location = meta.location.clone();
        async move {
            if !empty {
                return Ok(true);
            }
            match store.head(&location).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(Error::from_store(uri, e)),
            }
        }
    };
    let kept: Vec<bool> = stream::iter(metas.iter().map(is_object))
        .buffered(16)
        .try_collect()
        .await?;
    Ok(metas
        .into_iter()
        .zip(kept)
        .filter_map(|(meta, keep)| keep.then_some(meta))
        .collect())
}
