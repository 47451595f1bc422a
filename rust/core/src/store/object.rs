//! Operations shared by every `object_store`-backed cloud backend, and the
//! retry/timeout configuration they all use.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{stream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, GetResult, ObjectStore, ObjectStoreExt,
    RetryConfig,
};

use super::folder_markers::without_folder_markers;
use super::landing;
use super::pending_upload::PendingUpload;
use crate::buffer::{self, AlignedBuf, Fill, Region};
use crate::error::{Error, Result};
use crate::meta::{ByteRange, ObjectMeta};
use crate::options::{self, Options};
use crate::runtime;
use crate::uri::{ObjectUri, Scheme};

/// Default retries of a failed request.
pub const DEFAULT_MAX_RETRIES: usize = 10;
/// Default overall retry budget.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(180);
/// Default time to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time for one request, body included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Retries with exponential backoff and jitter (object_store's), configured
/// by `S3DLIO_MAX_RETRIES` and `S3DLIO_RETRY_TIMEOUT`.
pub(super) fn retry_config(options: &Options) -> Result<RetryConfig> {
    Ok(RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: options
            .usize(options::MAX_RETRIES)?
            .unwrap_or(DEFAULT_MAX_RETRIES),
        retry_timeout: options
            .duration(options::RETRY_TIMEOUT)?
            .unwrap_or(DEFAULT_RETRY_TIMEOUT),
    })
}

/// Connect and request timeouts (`S3DLIO_CONNECT_TIMEOUT`, `S3DLIO_REQUEST_TIMEOUT`).
pub(super) fn client_options(options: &Options) -> Result<ClientOptions> {
    let (connect, request) = timeouts(options)?;
    Ok(ClientOptions::new()
        .with_connect_timeout(connect)
        .with_timeout(request))
}

/// The HTTP client of every backend: plain-HTTP GET bodies land in their
/// final buffer (see [`landing`]), under the same timeouts.
pub(super) fn http_connector(options: &Options) -> Result<landing::Connector> {
    let (connect, request) = timeouts(options)?;
    Ok(landing::Connector::new(connect, request))
}

/// True for a configured value object_store reads as `true`.
pub(super) fn config_true(value: Option<String>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "1" | "true" | "on" | "yes" | "y"
        )
    })
}

fn timeouts(options: &Options) -> Result<(Duration, Duration)> {
    Ok((
        options
            .duration(options::CONNECT_TIMEOUT)?
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        options
            .duration(options::REQUEST_TIMEOUT)?
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT),
    ))
}

fn to_meta(uri: String, meta: object_store::ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        uri,
        size: meta.size,
        last_modified: Some(meta.last_modified.into()),
        etag: meta.e_tag,
    }
}

/// Default size from which uploads go in parts.
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 64 << 20;
/// Default upload part size.
pub const DEFAULT_MULTIPART_PART_SIZE: u64 = 16 << 20;
/// Default size of each ranged request of a large download.
pub const DEFAULT_RANGE_PART_SIZE: u64 = 8 << 20;
/// Parts of one object in flight at once (uploads and downloads).
const PARTS_IN_FLIGHT: usize = 8;

/// How large objects are moved: set per client from the options.
#[derive(Clone, Debug)]
pub(crate) struct Transfer {
    multipart_threshold: u64,
    multipart_part_size: usize,
    range_part_size: u64,
}

/// The smallest part S3 (and GCS's XML API, which object_store uses for
/// multipart uploads) accept in a multipart upload, the last part excepted.
pub const MIN_MULTIPART_PART_SIZE: u64 = 5 << 20;

impl Transfer {
    /// The settings for a client of `scheme`. A part size the store would
    /// refuse (S3's `EntityTooSmall`, found only when the upload completes)
    /// is refused here, before any request.
    pub fn from_options(options: &Options, scheme: Scheme) -> Result<Self> {
        let positive = |key: &str, default: u64| -> Result<u64> {
            match options.bytes(key)? {
                Some(0) => Err(Error::InvalidArgument(format!(
                    "option {} must be at least 1 byte",
                    key.to_ascii_uppercase()
                ))),
                Some(n) => Ok(n),
                None => Ok(default),
            }
        };
        let part_size = positive(options::MULTIPART_PART_SIZE, DEFAULT_MULTIPART_PART_SIZE)?;
        if matches!(scheme, Scheme::S3 | Scheme::Gcs) && part_size < MIN_MULTIPART_PART_SIZE {
            return Err(Error::InvalidArgument(format!(
                "option {}={part_size}: {}:// stores refuse multipart parts under \
                 {MIN_MULTIPART_PART_SIZE} bytes (5 MiB)",
                options::MULTIPART_PART_SIZE.to_ascii_uppercase(),
                scheme.as_str(),
            )));
        }
        Ok(Self {
            multipart_threshold: positive(
                options::MULTIPART_THRESHOLD,
                DEFAULT_MULTIPART_THRESHOLD,
            )?,
            multipart_part_size: usize::try_from(part_size).unwrap_or(usize::MAX),
            range_part_size: positive(options::RANGE_PART_SIZE, DEFAULT_RANGE_PART_SIZE)?,
        })
    }
}

/// The error of a read that saw two versions of the object.
fn changed(uri: &str) -> Error {
    Error::Backend {
        uri: uri.to_owned(),
        source: "the object changed while it was being read".into(),
    }
}

fn too_big(uri: &str) -> Error {
    Error::InvalidRange {
        uri: uri.to_owned(),
        reason: "object does not fit in memory".to_owned(),
    }
}

/// Where the connector received this response's body, if in place.
fn landed(result: &GetResult) -> Option<usize> {
    result.extensions.get::<landing::Landed>().map(|at| at.0)
}

/// Hand a response body to `sink` (a buffer or a region of one, which
/// counts a body received in place and copies any other; see [`collect`]
/// for the one that may keep it instead), checking
/// that exactly `expected` bytes arrive: a short or long body is an error,
/// never returned as data.
async fn drain(
    result: GetResult,
    uri: &str,
    expected: u64,
    mut sink: impl FnMut(&Bytes) -> bool,
) -> Result<()> {
    let landed = landed(&result);
    let mut stream = result.into_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| Error::from_store(uri, e))?
    {
        received += chunk.len() as u64;
        buffer::count_body(chunk.len());
        if Some(chunk.as_ptr() as usize) == landed {
            buffer::count_body_in_place(chunk.len());
        }
        if !sink(&chunk) {
            break;
        }
    }
    if received != expected {
        return Err(Error::Truncated {
            uri: uri.to_owned(),
            expected,
            actual: received,
        });
    }
    Ok(())
}

/// A body of `expected` bytes as one aligned buffer: the buffer it was
/// received into when that happened in place ([`landing::Landed`]), else a
/// new one it is copied into.
async fn collect(result: GetResult, uri: &str, expected: u64) -> Result<Bytes> {
    let len = usize::try_from(expected).map_err(|_| too_big(uri))?;
    let landed = landed(&result);
    let mut kept: Option<Bytes> = None;
    let mut copied: Option<AlignedBuf> = None;
    let mut refused: Option<Error> = None;
    drain(result, uri, expected, |chunk| {
        let whole = chunk.len() == len && Some(chunk.as_ptr() as usize) == landed;
        if whole && kept.is_none() && copied.is_none() {
            kept = Some(chunk.clone());
            return true;
        }
        if copied.is_none() {
            match AlignedBuf::for_object(uri, len) {
                Ok(buf) => copied = Some(buf),
                Err(e) => {
                    refused = Some(e);
                    return false;
                }
            }
        }
        copied
            .as_mut()
            .is_some_and(|buf| buf.extend_from_slice(chunk))
    })
    .await
    .map_err(|e| refused.take().unwrap_or(e))?;
    Ok(match (kept, copied) {
        (Some(body), None) => body,
        (_, copied) => copied.map(AlignedBuf::freeze).unwrap_or_default(),
    })
}

/// How a whole object is requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Whole {
    /// One object larger than the range part size comes as parallel ranged
    /// requests, so a single large `get` uses more than one stream.
    InParts,
    /// One request however large: a batch with at least as many objects as
    /// request slots keeps every slot busy without splitting, and each extra
    /// request is paid for by the server (and the bill). 64 x 16 MiB from
    /// moto: 1.55-1.62 GB/s this way, 0.86-1.07 in 8 MiB parts.
    InOne,
}

/// Read `range` of the object into one aligned buffer. A whole object
/// larger than the range part size is fetched as parallel ranged requests
/// ([`Whole::InParts`]), each landing directly in its part of that one
/// buffer, or in one request ([`Whole::InOne`]).
pub(super) async fn get(
    store: &Arc<dyn ObjectStore>,
    transfer: &Transfer,
    path: &Path,
    uri: &str,
    range: ByteRange,
    whole: Whole,
) -> Result<Bytes> {
    if range.length == Some(0) {
        // Nothing to transfer; still validate the offset.
        let size = store
            .head(path)
            .await
            .map_err(|e| Error::from_store(uri, e))?
            .size;
        range.resolve(uri, size)?;
        return Ok(Bytes::new());
    }
    let mut options = match (range.offset, range.length) {
        // A whole object: ask for the first part; its answer tells the size.
        (0, None) if whole == Whole::InParts => {
            ranged(GetRange::Bounded(0..transfer.range_part_size))
        }
        (0, None) => GetOptions::default(),
        (offset, None) => ranged(GetRange::Offset(offset)),
        (offset, Some(len)) => ranged(GetRange::Bounded(offset..offset.saturating_add(len))),
    };
    // Mostly this body is the result (see `collect`).
    options.extensions.insert(landing::Keep);
    let first = match store.get_opts(path, options).await {
        Ok(result) => result,
        Err(err) => {
            let err = Error::from_store(uri, err);
            // A range starting at or past the end is refused by servers
            // (416); apply the documented semantics instead.
            if !err.is_not_found() {
                if let Ok(meta) = store.head(path).await {
                    if range.offset >= meta.size {
                        range.resolve(uri, meta.size)?;
                        return Ok(Bytes::new());
                    }
                }
            }
            return Err(err);
        }
    };
    let size = first.meta.size;
    let got = first.range.clone();
    if !range.is_full() || got.end >= size {
        return collect(first, uri, got.end - got.start).await;
    }
    get_in_parts(store, transfer, path, uri, first).await
}

fn ranged(range: GetRange) -> GetOptions {
    GetOptions {
        range: Some(range),
        ..Default::default()
    }
}

/// The rest of a large object whose first part is `first`: every other
/// part is requested concurrently and written into its own region of one
/// aligned buffer; all parts must come from the same version of the object.
async fn get_in_parts(
    store: &Arc<dyn ObjectStore>,
    transfer: &Transfer,
    path: &Path,
    uri: &str,
    first: GetResult,
) -> Result<Bytes> {
    let size = first.meta.size;
    let etag = first.meta.e_tag.clone();
    let part = usize::try_from(transfer.range_part_size).map_err(|_| too_big(uri))?;
    let buf = AlignedBuf::for_object(uri, usize::try_from(size).map_err(|_| too_big(uri))?)?;
    let (owner, mut regions) = buf.into_regions(part);
    let rest = regions.split_off(1);
    let mut head = regions.pop().expect("a large object has a first part");
    let expected = head.len() as u64;
    let first_part = drain(first, uri, expected, |chunk| head.extend_from_slice(chunk));
    let other_parts = stream::iter(rest.into_iter().map(|mut region| {
        let (store, path, uri, etag) = (store.clone(), path.clone(), uri.to_owned(), etag.clone());
        runtime::spawn(async move {
            let start = region.offset() as u64;
            let span = start..start + region.len() as u64;
            let mut options = ranged(GetRange::Bounded(span.clone()));
            // SAFETY: the region is held, and written by nothing else, until
            // this task has drained (and dropped) the response.
            options
                .extensions
                .insert(unsafe { landing::Destination::of(&mut region) });
            let result = store
                .get_opts(&path, options)
                .await
                .map_err(|e| Error::from_store(&uri, e))?;
            if result.meta.size != size || result.meta.e_tag != etag || result.range != span {
                return Err(changed(&uri));
            }
            drain(result, &uri, span.end - span.start, |chunk| {
                region.extend_from_slice(chunk)
            })
            .await?;
            Ok(region)
        })
    }))
    .buffered(PARTS_IN_FLIGHT)
    .try_collect::<Vec<Region>>();
    let ((), rest) = futures::try_join!(first_part, other_parts)?;
    let mut all = Vec::with_capacity(rest.len() + 1);
    all.push(head);
    all.extend(rest);
    owner.finish(all).ok_or_else(|| Error::Truncated {
        uri: uri.to_owned(),
        expected: size,
        actual: 0,
    })
}

/// `range` of the object written into `file` from its start, in parts of
/// the range part size, [`PARTS_IN_FLIGHT`] at a time: however large the
/// object, at most that many parts are in memory. Every part is asked for
/// with the ETag the object had when the download began (If-Match), so an
/// object replaced meanwhile fails the download instead of mixing
/// versions. Returns the bytes written.
pub(super) async fn write_to(
    store: &Arc<dyn ObjectStore>,
    transfer: &Transfer,
    path: &Path,
    uri: &str,
    range: ByteRange,
    file: std::fs::File,
) -> Result<u64> {
    let meta = store
        .head(path)
        .await
        .map_err(|e| Error::from_store(uri, e))?;
    let span = range.resolve(uri, meta.size)?;
    let part = usize::try_from(transfer.range_part_size).unwrap_or(usize::MAX);
    let file = Arc::new(file);
    let parts = (span.start..span.end).step_by(part).map(|start| {
        let part = start..(start + part as u64).min(span.end);
        let (store, path, uri) = (store.clone(), path.clone(), uri.to_owned());
        let (etag, file, at) = (meta.e_tag.clone(), file.clone(), start - span.start);
        runtime::spawn(async move {
            let bytes = get_part(store.as_ref(), &path, &uri, part, etag).await?;
            runtime::blocking(move || {
                use std::os::unix::fs::FileExt;
                file.write_all_at(&bytes, at)
                    .map(|()| bytes.len() as u64)
                    .map_err(|e| Error::from_io(&uri, e))
            })
            .await
        })
    });
    stream::iter(parts)
        .buffer_unordered(PARTS_IN_FLIGHT)
        .try_fold(0u64, |total, n| async move { Ok(total + n) })
        .await
}

/// Bytes `span` of the object, refused by the server (an error) unless the
/// object still has `etag`.
async fn get_part(
    store: &dyn ObjectStore,
    path: &Path,
    uri: &str,
    span: std::ops::Range<u64>,
    etag: Option<String>,
) -> Result<Bytes> {
    let mut options = GetOptions {
        if_match: etag,
        ..ranged(GetRange::Bounded(span.clone()))
    };
    options.extensions.insert(landing::Keep);
    let result = match store.get_opts(path, options).await {
        Ok(result) => result,
        Err(object_store::Error::Precondition { .. }) => return Err(changed(uri)),
        Err(e) => return Err(Error::from_store(uri, e)),
    };
    if result.range != span {
        return Err(changed(uri));
    }
    collect(result, uri, span.end - span.start).await
}

/// The whole object into `target`, which is sized to it (a part of a
/// batch buffer): one request, its body received in place over plain HTTP,
/// else copied there as it streams.
pub(super) async fn get_into<T: Fill>(
    store: &dyn ObjectStore,
    path: &Path,
    uri: &str,
    target: &mut T,
) -> Result<()> {
    let expected = target.capacity() as u64;
    let mut options = GetOptions::default();
    // SAFETY: `target` is borrowed, and written by nothing else, until this
    // function has drained (and dropped) the response.
    options
        .extensions
        .insert(unsafe { landing::Destination::of(target) });
    let result = store
        .get_opts(path, options)
        .await
        .map_err(|e| Error::from_store(uri, e))?;
    if result.meta.size != expected {
        return Err(Error::Truncated {
            uri: uri.to_owned(),
            expected,
            actual: result.meta.size,
        });
    }
    drain(result, uri, expected, |chunk| target.append(chunk)).await
}

/// Upload the whole object: one request, or a multipart upload (parts sent
/// concurrently, zero-copy slices of `data`) from the configured threshold.
/// Object stores publish either way atomically: all or nothing.
pub(super) async fn put(
    store: &Arc<dyn ObjectStore>,
    transfer: &Transfer,
    path: &Path,
    uri: &str,
    data: Bytes,
) -> Result<()> {
    let slice = |range: ByteRange| {
        let start = range.offset as usize;
        let end = range.length.map_or(data.len(), |len| start + len as usize);
        std::future::ready(Ok(data.slice(start..end)))
    };
    put_from(store, transfer, path, uri, data.len() as u64, slice).await
}

/// `size` bytes (a local file, or data in memory for [`put`]), read a range
/// at a time by `read`, uploaded as the object: below the multipart
/// threshold in one request, else as a multipart upload whose parts are read
/// as they are sent, [`PARTS_IN_FLIGHT`] at a time, so at most that many
/// parts are in memory however large the file. Published atomically either
/// way; a source that comes up short (a file that shrinks) fails the upload
/// and aborts it.
pub(super) async fn put_from<R, F>(
    store: &Arc<dyn ObjectStore>,
    transfer: &Transfer,
    path: &Path,
    uri: &str,
    size: u64,
    read: R,
) -> Result<()>
where
    R: Fn(ByteRange) -> F,
    F: std::future::Future<Output = Result<Bytes>>,
{
    let fail = |e| Error::from_store(uri, e);
    if size < transfer.multipart_threshold {
        let data = read(ByteRange::FULL).await?;
        return store.put(path, data.into()).await.map(|_| ()).map_err(fail);
    }
    let mut upload = PendingUpload::new(store.put_multipart(path).await.map_err(fail)?);
    let part = transfer.multipart_part_size as u64;
    let sent = async {
        let mut in_flight = stream::FuturesUnordered::new();
        for offset in (0..size).step_by(transfer.multipart_part_size) {
            let length = part.min(size - offset);
            let data = read(ByteRange {
                offset,
                length: Some(length),
            })
            .await?;
            if data.len() as u64 != length {
                return Err(Error::Truncated {
                    uri: uri.to_owned(),
                    expected: size,
                    actual: offset + data.len() as u64,
                });
            }
            in_flight.push(upload.put_part(data.into()));
            if in_flight.len() >= PARTS_IN_FLIGHT {
                if let Some(done) = in_flight.next().await {
                    done.map_err(fail)?;
                }
            }
        }
        while let Some(done) = in_flight.next().await {
            done.map_err(fail)?;
        }
        Ok(())
    }
    .await;
    match sent {
        Ok(()) => upload.complete().await.map_err(fail),
        Err(e) => {
            upload.abort().await;
            Err(e)
        }
    }
}

/// Metadata of one object.
pub(super) async fn head(
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
pub(super) async fn list(
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

/// Delete one object; a missing object is `NotFound` (as on every backend).
pub(super) async fn delete(store: &dyn ObjectStore, path: &Path, uri: &str) -> Result<()> {
    store
        .head(path)
        .await
        .map_err(|e| Error::from_store(uri, e))?;
    store
        .delete(path)
        .await
        .map_err(|e| Error::from_store(uri, e))
}

#[cfg(test)]
mod tests {
    use object_store::{Attributes, Extensions, GetResultPayload};

    use super::*;
    use crate::buffer::ALIGN;

    fn answer(chunks: Vec<Bytes>, landed: Option<usize>) -> GetResult {
        let size = chunks.iter().map(|c| c.len() as u64).sum();
        let mut extensions = Extensions::new();
        if let Some(at) = landed {
            extensions.insert(landing::Landed(at));
        }
        GetResult {
            payload: GetResultPayload::Stream(stream::iter(chunks.into_iter().map(Ok)).boxed()),
            meta: object_store::ObjectMeta {
                location: Path::from("key"),
                last_modified: Default::default(),
                size,
                e_tag: None,
                version: None,
            },
            range: 0..size,
            attributes: Attributes::new(),
            extensions,
        }
    }

    fn filled(data: &[u8]) -> Bytes {
        let mut buf = AlignedBuf::new(data.len());
        assert!(buf.extend_from_slice(data));
        buf.freeze()
    }

    #[test]
    fn a_body_received_in_place_is_kept_and_any_other_copied() {
        runtime::block_on(async {
            let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
            let body = filled(&data);
            let at = body.as_ptr() as usize;
            let kept = collect(answer(vec![body.clone()], Some(at)), "s3://b/k", 100_000);
            let kept = kept.await.unwrap();
            assert_eq!(kept.as_ptr() as usize, at, "the landed buffer itself");

            // Unmarked, or in several chunks: copied into a new aligned buffer.
            let chunks = vec![body.slice(..60_000), body.slice(60_000..)];
            for (chunks, landed) in [(vec![body.clone()], None), (chunks, Some(at))] {
                let copied = collect(answer(chunks, landed), "s3://b/k", 100_000)
                    .await
                    .unwrap();
                assert_ne!(copied.as_ptr() as usize, at);
                assert_eq!(copied.as_ptr() as usize % ALIGN, 0);
                assert_eq!(copied, data);
            }
        });
    }

    #[test]
    fn a_landed_body_of_the_wrong_length_is_an_error() {
        runtime::block_on(async {
            let body = filled(&[7; 100]);
            let at = body.as_ptr() as usize;
            let err = collect(answer(vec![body], Some(at)), "s3://b/k", 120)
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Truncated {
                        expected: 120,
                        actual: 100,
                        ..
                    }
                ),
                "{err}"
            );
        });
    }
}
