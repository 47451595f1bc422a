//! The reads through the cache: a whole object (kept after it is
//! fetched), a range or a tail (the object fetched to disk first), and a
//! batch row.

use bytes::Bytes;

use super::{CacheUse, Claim, Open, Origin};
use crate::buffer::Region;
use crate::error::Result;
use crate::exec::Worker;
use crate::meta::ByteRange;
use crate::metrics::cache as counted;
use crate::runtime;
use crate::store::object::Whole;

impl CacheUse {
    /// [`Origin::fetch`] of `range` through the cache.
    pub async fn get(&self, origin: &impl Origin, range: ByteRange, whole: Whole) -> Result<Bytes> {
        let uri = origin.uri();
        if !range.is_full() {
            return match self.stored_or_downloaded(origin).await? {
                Some((open, hit)) => self.read(open, uri, range, hit).await,
                None => origin.fetch(range, whole).await.map(|(bytes, _)| bytes),
            };
        }
        let part = match self.claim(origin).await? {
            Claim::Current(open) => return self.read(*open, uri, range, true).await,
            Claim::Fetch(part) => part,
        };
        counted::miss();
        let (bytes, meta) = origin.fetch(range, whole).await?;
        let (this, uri, data) = (self.clone(), uri.to_owned(), bytes.clone());
        runtime::blocking(move || this.keep(&uri, &data, &meta, part)).await;
        Ok(bytes)
    }

    /// The last `len` bytes of the object and its size, through the cache.
    pub async fn get_tail(&self, origin: &impl Origin, len: u64) -> Result<(Bytes, u64)> {
        let tail = |size: u64| ByteRange {
            offset: size.saturating_sub(len),
            length: None,
        };
        match self.stored_or_downloaded(origin).await? {
            Some((open, hit)) => {
                let size = open.stored.size;
                Ok((self.read(open, origin.uri(), tail(size), hit).await?, size))
            }
            None => {
                let size = origin.head().await?.size;
                let (bytes, _) = origin.fetch(tail(size), Whole::InOne).await?;
                Ok((bytes, size))
            }
        }
    }

    /// The current entry of `origin`'s object, fetched to disk first (the
    /// whole object, in ranged parts, once) when there is none; `None`
    /// when it cannot be kept (read through).
    async fn stored_or_downloaded(&self, origin: &impl Origin) -> Result<Option<(Open, bool)>> {
        let part = match self.claim(origin).await? {
            Claim::Current(open) => return Ok(Some((*open, true))),
            Claim::Fetch(part) => part,
        };
        counted::miss();
        Ok(self.download(origin, part).await?.map(|open| (open, false)))
    }

    /// The whole object into `region` (a batch row sized to it), through
    /// the cache. A copy of another size than the row is stale for this
    /// read: replaced by what is fetched, when that has the row's size.
    pub async fn read_into_place(&self, origin: &impl Origin, region: Region) -> Result<Region> {
        let (uri, len) = (origin.uri(), region.len() as u64);
        let claim = match self.claim(origin).await? {
            Claim::Current(open) if open.stored.size != len => self.claim_over(uri, *open).await?,
            claim => claim,
        };
        let part = match claim {
            Claim::Current(open) if open.stored.size == len => {
                let (this, uri) = (self.clone(), uri.to_owned());
                let fill = move || this.fill_open(*open, &uri, region, &Worker::alone());
                return runtime::blocking(fill).await;
            }
            // Written meanwhile by another process, of that other size:
            // the fetch below says which is right; this read keeps nothing.
            Claim::Current(_) => None,
            Claim::Fetch(part) => Some(part),
        };
        counted::miss();
        let (region, meta) = origin.fetch_into_place(region).await?;
        match part {
            Some(part) => {
                let (this, uri, data) = (self.clone(), uri.to_owned(), region.filled_bytes());
                runtime::blocking(move || this.keep(&uri, &data, &meta, part)).await;
            }
            None => counted::read_through(),
        }
        Ok(region)
    }
}
