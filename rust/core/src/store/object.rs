//! Operations shared by every `object_store`-backed cloud backend, and the
//! retry/timeout configuration they all use.

use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, RetryConfig,
};

use crate::buffer::AlignedBuf;
use crate::error::{Error, Result};
use crate::meta::{ByteRange, ObjectMeta};
use crate::options::{self, Options};
use crate::uri::ObjectUri;

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
    Ok(ClientOptions::new()
        .with_connect_timeout(
            options
                .duration(options::CONNECT_TIMEOUT)?
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        )
        .with_timeout(
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

/// Read `range` of the object, landing the body in one aligned buffer
/// sized from the response's announced length.
pub(super) async fn get(
    store: &dyn ObjectStore,
    path: &Path,
    uri: &str,
    range: ByteRange,
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
    let get_range = match (range.offset, range.length) {
        (0, None) => None,
        (offset, None) => Some(GetRange::Offset(offset)),
        (offset, Some(len)) => Some(GetRange::Bounded(offset..offset.saturating_add(len))),
    };
    let ranged = get_range.is_some();
    let options = GetOptions {
        range: get_range,
        ..Default::default()
    };
    let result = match store.get_opts(path, options).await {
        Ok(result) => result,
        Err(err) => {
            let err = Error::from_store(uri, err);
            // A range starting at or past the end is refused by servers
            // (416); apply the documented semantics instead.
            if ranged && !err.is_not_found() {
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
    let expected = result.range.end - result.range.start;
    let mut buf = AlignedBuf::new(usize::try_from(expected).map_err(|_| Error::InvalidRange {
        uri: uri.to_owned(),
        reason: "object does not fit in memory".to_owned(),
    })?);
    let mut stream = result.into_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| Error::from_store(uri, e))?
    {
        received += chunk.len() as u64;
        if !buf.extend_from_slice(&chunk) {
            return Err(Error::Truncated {
                uri: uri.to_owned(),
                expected,
                actual: received,
            });
        }
    }
    if received != expected {
        return Err(Error::Truncated {
            uri: uri.to_owned(),
            expected,
            actual: received,
        });
    }
    Ok(buf.freeze())
}

/// Upload the whole object in one request (object stores publish atomically).
pub(super) async fn put(
    store: &dyn ObjectStore,
    path: &Path,
    uri: &str,
    data: Bytes,
) -> Result<()> {
    store
        .put(path, data.into())
        .await
        .map(|_| ())
        .map_err(|e| Error::from_store(uri, e))
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
