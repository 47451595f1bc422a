//! Writing, describing, listing and deleting objects.

use bytes::Bytes;
use futures::{stream, StreamExt, TryStreamExt};

use crate::error::Result;
use crate::fetch::check_in_flight;
use crate::meta::{ByteRange, ObjectMeta};
use crate::options::Options;
use crate::runtime;
use crate::store::{ObjectWriter, Resolver, Target};

/// Store `data` as the object at `uri` (replacing it). Readers see either
/// the old object or the whole new one, never a part.
pub async fn put(uri: &str, data: Bytes, options: &Options) -> Result<()> {
    Target::resolve_object(uri, options)?.put(data).await
}

/// Store many objects, at most `max_in_flight` at once. Every URI is parsed
/// before any I/O; the first failure cancels the rest and is returned.
pub async fn put_many(
    items: Vec<(String, Bytes)>,
    max_in_flight: usize,
    options: &Options,
) -> Result<()> {
    let max_in_flight = check_in_flight(max_in_flight)?;
    let mut resolver = Resolver::new(options);
    let jobs = items
        .into_iter()
        .map(|(uri, data)| {
            let target = resolver.resolve_object(&uri)?;
            target.require_writable()?;
            Ok((target, data))
        })
        .collect::<Result<Vec<_>>>()?;
    stream::iter(
        jobs.into_iter()
            .map(|(target, data)| runtime::spawn(async move { target.put(data).await })),
    )
    .buffer_unordered(max_in_flight)
    .try_collect::<Vec<()>>()
    .await
    .map(|_| ())
}

/// The local file `src` (a `file://` or `direct://` URI) stored as the
/// object `dst`. A large file goes up as a multipart upload whose parts are
/// read as they are sent, so it is never in memory whole; a local `dst` is
/// a copy by the kernel ([`crate::fetch::get_to_file`]). Readers of `dst` see the
/// old object or the whole new one.
pub async fn put_from_file(src: &str, dst: &str, options: &Options) -> Result<()> {
    let mut resolver = Resolver::new(options);
    let (source, target) = (resolver.resolve_object(src)?, resolver.resolve_object(dst)?);
    let mut source = source.into_local()?;
    // An upload's parts are read, not mapped: no caller holds them, and a
    // file truncated meanwhile must fail the upload, not raise SIGBUS.
    source.mmap = false;
    if let Target::Local(_) = target {
        return crate::fetch::get_to_file(src, ByteRange::FULL, dst, options)
            .await
            .map(|_| ());
    }
    let size = {
        let source = source.clone();
        runtime::blocking(move || source.head()).await?.size
    };
    target.put_from(&source, size).await
}

/// A writer of the object at `uri` that streams what it is given (a
/// multipart upload to a cloud store, a temporary file locally) and
/// publishes the object only on [`ObjectWriter::finish`]; dropped or
/// aborted before that, or failed, it leaves nothing under `uri`.
pub async fn open_writer(uri: &str, options: &Options) -> Result<ObjectWriter> {
    ObjectWriter::new(Target::resolve_object(uri, options)?).await
}

/// Size, modification time and etag of the object at `uri`.
pub async fn stat(uri: &str, options: &Options) -> Result<ObjectMeta> {
    Target::resolve_object(uri, options)?.head().await
}

/// Whether the object exists. Only "not found" gives `false`; any other
/// failure (network, permissions, bad URI) is returned as an error.
pub async fn exists(uri: &str, options: &Options) -> Result<bool> {
    match stat(uri, options).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Metadata of every object under the prefix `uri` (a directory for local
/// schemes), sorted by URI. Only direct children unless `recursive`.
pub async fn list_meta(uri: &str, recursive: bool, options: &Options) -> Result<Vec<ObjectMeta>> {
    let mut metas = Target::resolve(uri, options)?.list(recursive).await?;
    metas.sort_unstable_by(|a, b| a.uri.cmp(&b.uri));
    Ok(metas)
}

/// The direct children of the prefix `uri`: the objects directly under it
/// and the prefixes one level below (local: subdirectories), as URIs
/// without a trailing `/`, both sorted. One delimited listing on a cloud
/// store: a prefix over many objects costs its direct children, not all
/// the objects below it.
pub async fn list_dir(uri: &str, options: &Options) -> Result<(Vec<ObjectMeta>, Vec<String>)> {
    let (mut objects, mut prefixes) = Target::resolve(uri, options)?.list_dir().await?;
    objects.sort_unstable_by(|a, b| a.uri.cmp(&b.uri));
    prefixes.sort_unstable();
    Ok((objects, prefixes))
}

/// The URIs of every object under the prefix `uri`, sorted.
pub async fn list(uri: &str, recursive: bool, options: &Options) -> Result<Vec<String>> {
    Ok(list_meta(uri, recursive, options)
        .await?
        .into_iter()
        .map(|m| m.uri)
        .collect())
}

/// Delete the object at `uri`; a missing object is `Error::NotFound`.
pub async fn delete(uri: &str, options: &Options) -> Result<()> {
    Target::resolve_object(uri, options)?.delete().await
}

/// For a `file://` or `direct://` prefix, remove its directory and all
/// that is left in it (the temporary files of a write that was killed,
/// which listings do not show); `true` if it existed. Other schemes have
/// no folders: nothing to do, `false`.
pub async fn remove_local_folder(uri: &str, options: &Options) -> Result<bool> {
    Target::resolve(uri, options)?.remove_local_folder().await
}
