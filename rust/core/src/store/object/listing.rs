//! Describing, listing and deleting objects of a cloud store.

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::{Error, Result};
use crate::meta::ObjectMeta;
use crate::store::folder_markers::without_folder_markers;
use crate::uri::ObjectUri;

pub(crate) fn to_meta(uri: String, meta: object_store::ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        uri,
        size: meta.size,
        last_modified: Some(meta.last_modified.into()),
        etag: meta.e_tag,
    }
}

/// Metadata of one object.
pub(crate) async fn head(
    store: &dyn ObjectStore,
    path: &Path,
    uri: &str,
    parsed: &ObjectUri,
) -> Result<ObjectMeta> {
    let meta = store
        .head(path)
        .await
        .map_err(|e| Error::from_store(uri, e))?;
    Ok(to_meta(parsed.sibling(meta.location.as_ref()), meta))
}

/// Objects under `prefix`; only direct children unless `recursive`.
pub(crate) async fn list(
    store: &dyn ObjectStore,
    prefix: &Path,
    uri: &str,
    parsed: &ObjectUri,
    recursive: bool,
) -> Result<Vec<ObjectMeta>> {
    let prefix = (!prefix.as_ref().is_empty()).then_some(prefix);
    let metas = if recursive {
        store
            .list(prefix)
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| Error::from_store(uri, e))?
    } else {
        store
            .list_with_delimiter(prefix)
            .await
            .map_err(|e| Error::from_store(uri, e))?
            .objects
    };
    let metas = without_folder_markers(store, metas, uri).await?;
    Ok(metas
        .into_iter()
        .map(|m| to_meta(parsed.sibling(m.location.as_ref()), m))
        .collect())
}

/// The direct children of `prefix`: its objects and the prefixes one
/// level below it (as URIs, without the trailing `/`), from one delimited
/// listing.
pub(crate) async fn list_dir(
    store: &dyn ObjectStore,
    prefix: &Path,
    uri: &str,
    parsed: &ObjectUri,
) -> Result<(Vec<ObjectMeta>, Vec<String>)> {
    let prefix = (!prefix.as_ref().is_empty()).then_some(prefix);
    let listed = store
        .list_with_delimiter(prefix)
        .await
        .map_err(|e| Error::from_store(uri, e))?;
    let metas = without_folder_markers(store, listed.objects, uri).await?;
    let objects = metas
        .into_iter()
        .map(|m| to_meta(parsed.sibling(m.location.as_ref()), m))
        .collect();
    let prefixes = listed
        .common_prefixes
        .iter()
        .map(|p| parsed.sibling(p.as_ref().trim_end_matches('/')))
        .collect();
    Ok((objects, prefixes))
}

/// Delete one object; a missing object is `NotFound` (as on every backend).
pub(crate) async fn delete(store: &dyn ObjectStore, path: &Path, uri: &str) -> Result<()> {
    store
        .head(path)
        .await
        .map_err(|e| Error::from_store(uri, e))?;
    store
        .delete(path)
        .await
        .map_err(|e| Error::from_store(uri, e))
}
