//! Reads from a cloud store into aligned buffers: a whole object or a
//! range in one buffer (large objects as parallel ranged requests into
//! parts of it), into a batch's row, or into a local file in parts.

use std::sync::Arc;

use bytes::Bytes;
use futures::{stream, StreamExt, TryStreamExt};
use object_store::{GetOptions, GetRange, GetResult, ObjectStore, ObjectStoreExt};

use super::config::PARTS_IN_FLIGHT;
use super::handle::Object;
use crate::buffer::{AlignedBuf, Region, Regions, Span};
use crate::error::{Error, Result};
use crate::http;
use crate::meta::ByteRange;
use crate::metrics;
use crate::runtime;
use crate::stats;

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
fn received_at(result: &GetResult) -> Option<usize> {
    result.extensions.get::<http::ReceivedAt>().map(|at| at.0)
}

/// Hand a response body to `sink` (a buffer or a region of one, which
/// counts a body received in place and copies any other; see [`collect`]
/// for the one that may keep it instead), checking
/// that exactly `expected` bytes arrive: a short or long body is an error,
/// never returned as data. A chunk at `received_at` was received in place
/// (where the connector says, [`received_at`], or where a region was
/// placed for an early answer) and is counted so.
async fn drain(
    result: GetResult,
    uri: &str,
    expected: u64,
    received_at: Option<usize>,
    mut sink: impl FnMut(&Bytes) -> bool,
) -> Result<()> {
    let mut stream = result.into_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| Error::from_store(uri, e))?
    {
        received += chunk.len() as u64;
        stats::count_body(chunk.len());
        if Some(chunk.as_ptr() as usize) == received_at {
            stats::count_body_in_place(chunk.len());
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
/// received into when that happened in place ([`http::ReceivedAt`]), else a
/// new one it is copied into.
async fn collect(result: GetResult, uri: &str, expected: u64) -> Result<Bytes> {
    let len = usize::try_from(expected).map_err(|_| too_big(uri))?;
    if len > 0 && result.extensions.get::<http::Destination>().is_some() {
        // Answered early: the body goes straight into a buffer of its own.
        let (owner, mut regions) = AlignedBuf::for_object(uri, len)?.into_regions(len);
        let region = regions.pop().expect("a non-empty buffer has a region");
        let region = drain_into(result, uri, region).await?;
        return finish(owner, vec![region], uri, expected);
    }
    let received_at = received_at(&result);
    let mut kept: Option<Bytes> = None;
    let mut copied: Option<AlignedBuf> = None;
    let mut refused: Option<Error> = None;
    drain(result, uri, expected, received_at, |chunk| {
        let whole = chunk.len() == len && Some(chunk.as_ptr() as usize) == received_at;
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
pub enum Whole {
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
/// ([`Whole::InParts`]), each received directly into its part of that one
/// buffer, or in one request ([`Whole::InOne`]).
pub(crate) async fn get(object: Object<'_>, range: ByteRange, whole: Whole) -> Result<Bytes> {
    get_versioned(object, range, whole)
        .await
        .map(|(bytes, _)| bytes)
}

/// [`get`], and the size, time and ETag of the version of the object read.
pub(crate) async fn get_versioned(
    object: Object<'_>,
    range: ByteRange,
    whole: Whole,
) -> Result<(Bytes, object_store::ObjectMeta)> {
    let Object {
        store,
        transfer,
        path,
        uri,
    } = object;
    if range.length == Some(0) {
        // Nothing to transfer; still validate the offset.
        let meta = store
            .head(path)
            .await
            .map_err(|e| Error::from_store(uri, e))?;
        range.resolve(uri, meta.size)?;
        return Ok((Bytes::new(), meta));
    }
    let mut options = match (range.offset, range.length) {
        // A whole object: ask for the first part; its answer tells the size.
        (0, None) if whole == Whole::InParts => {
            ranged(GetRange::Bounded(0..transfer.range_part_size))
        }
        (0, None) => GetOptions::default(),
        (offset, None) => ranged(GetRange::Offset(offset)),
        // An end past what an HTTP server parses (i64) asks for the rest:
        // some answer `bytes=7-18446744073709551614` with the whole object.
        (offset, Some(len)) if offset.saturating_add(len) > i64::MAX as u64 => {
            ranged(GetRange::Offset(offset))
        }
        (offset, Some(len)) => ranged(GetRange::Bounded(offset..offset.saturating_add(len))),
    };
    // Mostly this body is the result (see `collect`).
    options.extensions.insert(http::Keep);
    if whole == Whole::InParts && range.is_full() {
        // Answered at its head, which tells the size: the other parts of a
        // large object are requested while the first arrives, straight
        // into its place in the object's buffer.
        options.extensions.insert(http::Early);
    }
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
                        return Ok((Bytes::new(), meta));
                    }
                }
            }
            return Err(err);
        }
    };
    let size = first.meta.size;
    let meta = first.meta.clone();
    let got = first.range.clone();
    if !range.is_full() || got.end >= size {
        return Ok((collect(first, uri, got.end - got.start).await?, meta));
    }
    Ok((get_in_parts(object, first).await?, meta))
}

/// The last `len` bytes of the object (all of it when smaller) and its
/// size, from one suffix request; where the store has none (Azure), a
/// `head` and a ranged read.
pub(crate) async fn get_tail(object: Object<'_>, len: u64) -> Result<(Bytes, u64)> {
    let Object {
        store, path, uri, ..
    } = object;
    if len > 0 {
        let mut options = ranged(GetRange::Suffix(len));
        options.extensions.insert(http::Keep);
        match store.get_opts(path, options).await {
            Ok(result) => {
                let (size, got) = (result.meta.size, result.range.clone());
                if got.end != size {
                    return Err(changed(uri));
                }
                return Ok((collect(result, uri, got.end - got.start).await?, size));
            }
            // No suffix ranges (Azure), or none of an empty object (416).
            Err(err) => {
                let err = Error::from_store(uri, err);
                if err.is_not_found() {
                    return Err(err);
                }
            }
        }
    }
    let size = store
        .head(path)
        .await
        .map_err(|e| Error::from_store(uri, e))?
        .size;
    let offset = size.saturating_sub(len);
    let tail = get(
        object,
        ByteRange {
            offset,
            length: Some(size - offset),
        },
        Whole::InOne,
    )
    .await?;
    Ok((tail, size))
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
async fn get_in_parts(object: Object<'_>, first: GetResult) -> Result<Bytes> {
    let Object {
        store,
        transfer,
        path,
        uri,
    } = object;
    let size = first.meta.size;
    let etag = first.meta.e_tag.clone();
    let part = usize::try_from(transfer.range_part_size).map_err(|_| too_big(uri))?;
    let buf = AlignedBuf::for_object(uri, usize::try_from(size).map_err(|_| too_big(uri))?)?;
    let (owner, mut regions) = buf.into_regions(part);
    let rest = regions.split_off(1);
    let head = regions.pop().expect("a large object has a first part");
    let first_part = drain_into(first, uri, head);
    let other_parts = stream::iter(rest.into_iter().map(|region| {
        let (store, path, uri, etag) = (store.clone(), path.clone(), uri.to_owned(), etag.clone());
        runtime::spawn(metrics::carry(async move {
            let start = region.offset() as u64;
            let span = start..start + region.len() as u64;
            let options = ranged(GetRange::Bounded(span.clone()));
            let (result, mut region) =
                get_into(store.as_ref(), &path, &uri, options, region).await?;
            if result.meta.size != size || result.meta.e_tag != etag || result.range != span {
                return Err(changed(&uri));
            }
            let at = received_at(&result);
            drain(result, &uri, span.end - span.start, at, |chunk| {
                fill(&mut region, chunk)
            })
            .await?;
            Ok(region)
        }))
    }))
    .buffered(PARTS_IN_FLIGHT)
    .try_collect::<Vec<Region>>();
    let (head, rest) = futures::try_join!(first_part, other_parts)?;
    let mut all = Vec::with_capacity(rest.len() + 1);
    all.push(head);
    all.extend(rest);
    finish(owner, all, uri, size)
}

/// The buffer of `regions`, each full, as the object's `expected` bytes.
fn finish(owner: Regions, regions: Vec<Region>, uri: &str, expected: u64) -> Result<Bytes> {
    owner.finish(regions).ok_or_else(|| Error::Truncated {
        uri: uri.to_owned(),
        expected,
        actual: 0,
    })
}

/// `range` of the object written into `file` from its start, in parts of
/// the range part size, [`PARTS_IN_FLIGHT`] at a time: however large the
/// object, at most that many parts are in memory. Every part is asked for
/// with the ETag the object had when the download began (If-Match), so an
/// object replaced meanwhile fails the download instead of mixing
/// versions. Returns the bytes written.
pub(crate) async fn write_to(
    object: Object<'_>,
    range: ByteRange,
    file: std::fs::File,
) -> Result<u64> {
    let meta = object
        .store
        .head(object.path)
        .await
        .map_err(|e| Error::from_store(object.uri, e))?;
    write_version_to(object, &meta, range, file).await
}

/// [`write_to`] of the version `meta` (from a HEAD): a part of any other
/// version is refused, so the file holds that version or the call fails.
pub(crate) async fn write_version_to(
    object: Object<'_>,
    meta: &object_store::ObjectMeta,
    range: ByteRange,
    file: std::fs::File,
) -> Result<u64> {
    let Object {
        store,
        transfer,
        path,
        uri,
    } = object;
    let span = range.resolve(uri, meta.size)?;
    let part = usize::try_from(transfer.range_part_size).unwrap_or(usize::MAX);
    let file = Arc::new(file);
    let parts = (span.start..span.end).step_by(part).map(|start| {
        let part = start..(start + part as u64).min(span.end);
        let (store, path, uri) = (store.clone(), path.clone(), uri.to_owned());
        let (etag, file, at) = (meta.e_tag.clone(), file.clone(), start - span.start);
        runtime::spawn(metrics::carry(async move {
            let bytes = get_part(store.as_ref(), &path, &uri, part, etag).await?;
            runtime::blocking(move || {
                use std::os::unix::fs::FileExt;
                file.write_all_at(&bytes, at)
                    .map(|()| bytes.len() as u64)
                    .map_err(|e| Error::from_io(&uri, e))
            })
            .await
        }))
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
    path: &object_store::path::Path,
    uri: &str,
    span: std::ops::Range<u64>,
    etag: Option<String>,
) -> Result<Bytes> {
    let mut options = GetOptions {
        if_match: etag,
        ..ranged(GetRange::Bounded(span.clone()))
    };
    options.extensions.insert(http::Keep);
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

/// The whole object into `region`, which is sized to it (a part of a
/// batch buffer): one request, its body received in place over plain HTTP,
/// else copied there as it streams. Returns the region, filled.
pub(crate) async fn read_into_place(object: Object<'_>, region: Region) -> Result<Region> {
    read_version_into_place(object, region)
        .await
        .map(|(region, _)| region)
}

/// [`read_into_place`], and the size, time and ETag of the version read.
pub(crate) async fn read_version_into_place(
    object: Object<'_>,
    region: Region,
) -> Result<(Region, object_store::ObjectMeta)> {
    let Object {
        store, path, uri, ..
    } = object;
    let expected = region.len() as u64;
    let (result, mut region) =
        get_into(store.as_ref(), path, uri, GetOptions::default(), region).await?;
    if result.meta.size != expected {
        return Err(Error::Truncated {
            uri: uri.to_owned(),
            expected,
            actual: result.meta.size,
        });
    }
    let at = received_at(&result);
    let meta = result.meta.clone();
    drain(result, uri, expected, at, |chunk| fill(&mut region, chunk)).await?;
    Ok((region, meta))
}

/// GET with `options`, its body received into `region` where it can be
/// (in place: [`http::Destination`]). Returns the answer and the region
/// back, filled when its body was received there, else as it was.
async fn get_into(
    store: &dyn ObjectStore,
    path: &object_store::path::Path,
    uri: &str,
    mut options: GetOptions,
    region: Region,
) -> Result<(GetResult, Region)> {
    let destination = http::Destination::new(region);
    options.extensions.insert(destination.clone());
    let result = store.get_opts(path, options).await;
    // The receive ended with the answer: the region is back.
    let region = destination.take().ok_or_else(|| lost(uri))?;
    let result = result.map_err(|e| Error::from_store(uri, e))?;
    Ok((result, region))
}

/// Drain `result` into `region`: placed for the body to be received there
/// when the answer came at its head ([`http::Early`]), else filled as the
/// body streams. Returns the region, full.
async fn drain_into(result: GetResult, uri: &str, region: Region) -> Result<Region> {
    let expected = region.remaining() as u64;
    let placed = result.extensions.get::<http::Destination>().cloned();
    let (mut back, at) = match &placed {
        Some(to) => {
            // The body is received where the region has still to be filled.
            let at = region.as_ptr() as usize + region.filled();
            to.give(region).map_err(|_| lost(uri))?;
            (None, Some(at))
        }
        None => (Some(region), received_at(&result)),
    };
    drain(result, uri, expected, at, |chunk| {
        if back.is_none() {
            back = placed.as_ref().and_then(http::Destination::take);
        }
        back.as_mut().is_some_and(|region| fill(region, chunk))
    })
    .await?;
    back.or_else(|| placed.as_ref().and_then(http::Destination::take))
        .ok_or_else(|| lost(uri))
}

/// The error of a region that did not come back from its request.
fn lost(uri: &str) -> Error {
    Error::Backend {
        uri: uri.to_owned(),
        source: "the request kept its destination (internal error)".into(),
    }
}

/// Put a body chunk into `target`: one received there in place, which it
/// already counts, is taken as it is; any other is appended.
fn fill(target: &mut Span, chunk: &Bytes) -> bool {
    target.has_filled(chunk) || target.extend_from_slice(chunk)
}

#[cfg(test)]
mod tests {
    use object_store::path::Path;
    use object_store::{Attributes, Extensions, GetResultPayload};

    use super::*;
    use crate::buffer::ALIGN;

    fn answer(chunks: Vec<Bytes>, received_at: Option<usize>) -> GetResult {
        let size = chunks.iter().map(|c| c.len() as u64).sum();
        let mut extensions = Extensions::new();
        if let Some(at) = received_at {
            extensions.insert(http::ReceivedAt(at));
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
            assert_eq!(
                kept.as_ptr() as usize,
                at,
                "the buffer it was received into itself"
            );

            // Unmarked, or in several chunks: copied into a new aligned buffer.
            let chunks = vec![body.slice(..60_000), body.slice(60_000..)];
            for (chunks, received_at) in [(vec![body.clone()], None), (chunks, Some(at))] {
                let copied = collect(answer(chunks, received_at), "s3://b/k", 100_000)
                    .await
                    .unwrap();
                assert_ne!(copied.as_ptr() as usize, at);
                assert_eq!(copied.as_ptr() as usize % ALIGN, 0);
                assert_eq!(copied, data);
            }
        });
    }

    #[test]
    fn a_body_received_in_place_of_the_wrong_length_is_an_error() {
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
