//! Uploads to a cloud store: one request, or a multipart upload whose
//! parts are read as they are sent; published atomically either way.

use bytes::Bytes;
use futures::{stream, StreamExt};
use object_store::ObjectStoreExt;

use super::config::PARTS_IN_FLIGHT;
use super::handle::Object;
use crate::error::{Error, Result};
use crate::meta::ByteRange;
use crate::metrics::{self, Op};
use crate::store::pending_upload::PendingUpload;

/// Upload the whole object: one request, or a multipart upload (parts sent
/// concurrently, zero-copy slices of `data`) from the configured threshold.
/// Object stores publish either way atomically: all or nothing.
pub(crate) async fn put(object: Object<'_>, data: Bytes) -> Result<()> {
    let slice = |range: ByteRange| {
        let start = range.offset as usize;
        let end = range.length.map_or(data.len(), |len| start + len as usize);
        std::future::ready(Ok(data.slice(start..end)))
    };
    put_from(object, data.len() as u64, slice).await
}

/// `size` bytes (a local file, or data in memory for [`put`]), read a range
/// at a time by `read`, uploaded as the object: below the multipart
/// threshold in one request, else as a multipart upload whose parts are read
/// as they are sent, [`PARTS_IN_FLIGHT`] at a time, so at most that many
/// parts are in memory however large the file. Published atomically either
/// way; a source that comes up short (a file that shrinks) fails the upload
/// and aborts it.
pub(crate) async fn put_from<R, F>(object: Object<'_>, size: u64, read: R) -> Result<()>
where
    R: Fn(ByteRange) -> F,
    F: std::future::Future<Output = Result<Bytes>>,
{
    let Object {
        store,
        transfer,
        path,
        uri,
    } = object;
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
            let part = upload.put_part(data.into());
            let sent = async move { part.await.map_err(fail) };
            in_flight.push(metrics::remote(Op::PutPart, uri, sent, move |()| {
                (length, 1)
            }));
            if in_flight.len() >= PARTS_IN_FLIGHT {
                if let Some(done) = in_flight.next().await {
                    done?;
                }
            }
        }
        while let Some(done) = in_flight.next().await {
            done?;
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
