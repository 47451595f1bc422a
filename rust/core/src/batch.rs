//! Batches: many objects fetched in parallel into one contiguous aligned
//! allocation, each written straight into its row (no collate copy).

use std::sync::Arc;

use bytes::Bytes;

use crate::buffer::AlignedBuf;
use crate::error::{Error, Result};
use crate::fetch::check_in_flight;
use crate::local_workers;
use crate::options::Options;
use crate::pool::{self, Pool};
use crate::store::{Resolver, Target};

/// Objects laid out back to back in one buffer: object `i` is
/// `data[offsets[i]..offsets[i + 1]]`.
#[derive(Clone, Debug)]
pub struct Batch {
    /// The URIs, in input order.
    pub uris: Vec<String>,
    /// `len() + 1` offsets into `data`, starting at 0.
    pub offsets: Vec<u64>,
    /// Every object's bytes, contiguous; starts 64-byte aligned.
    pub data: Bytes,
}

impl Batch {
    /// Number of objects.
    pub fn len(&self) -> usize {
        self.uris.len()
    }

    /// True when the batch has no objects.
    pub fn is_empty(&self) -> bool {
        self.uris.is_empty()
    }

    /// Object `i`, sharing the batch's memory.
    pub fn item(&self, i: usize) -> Bytes {
        self.data
            .slice(self.offsets[i] as usize..self.offsets[i + 1] as usize)
    }

    /// Size of each object.
    pub fn sizes(&self) -> impl Iterator<Item = u64> + '_ {
        self.offsets.windows(2).map(|w| w[1] - w[0])
    }

    /// The common size when every object has the same size.
    pub fn uniform_size(&self) -> Option<u64> {
        let mut sizes = self.sizes();
        let first = sizes.next()?;
        sizes.all(|s| s == first).then_some(first)
    }
}

/// Fetch `uris` into one contiguous buffer, at most `max_in_flight` at once.
/// Sizes come from `sizes` when the caller knows them (e.g. from a listing),
/// else from a concurrent `stat` of every object; an object whose size
/// differs from that is an error. The first failure cancels the rest.
pub async fn get_batch<S: AsRef<str>>(
    uris: &[S],
    sizes: Option<&[u64]>,
    max_in_flight: usize,
    options: &Options,
) -> Result<Batch> {
    get_batch_in(
        uris,
        sizes,
        max_in_flight,
        options,
        Landing::Pool(pool::global()),
    )
    .await
}

/// Where a batch lands.
pub enum Landing<'a> {
    /// A buffer from this pool (e.g. of pinned slabs), given back when the
    /// last view of the batch is gone.
    Pool(&'a Arc<Pool>),
    /// This buffer, whose length must be the objects' total size.
    Into(AlignedBuf),
}

/// [`get_batch`] into the memory `landing` says.
pub async fn get_batch_in<S: AsRef<str>>(
    uris: &[S],
    sizes: Option<&[u64]>,
    max_in_flight: usize,
    options: &Options,
    landing: Landing<'_>,
) -> Result<Batch> {
    let max_in_flight = check_in_flight(max_in_flight)?;
    let mut resolver = Resolver::new(options);
    let targets = uris
        .iter()
        .map(|u| resolver.resolve_object(u.as_ref()))
        .collect::<Result<Vec<Target>>>()?;
    let sizes = match sizes {
        Some(sizes) if sizes.len() != targets.len() => {
            return Err(Error::InvalidArgument(format!(
                "get_batch: {} sizes given for {} URIs",
                sizes.len(),
                targets.len()
            )))
        }
        Some(sizes) => sizes.to_vec(),
        None => stat_all(&targets, max_in_flight).await?,
    };
    let mut offsets = Vec::with_capacity(sizes.len() + 1);
    offsets.push(0u64);
    for size in &sizes {
        offsets.push(offsets.last().copied().unwrap_or(0) + size);
    }
    let total = usize::try_from(*offsets.last().unwrap_or(&0))
        .map_err(|_| Error::InvalidArgument("get_batch: batch does not fit in memory".into()))?;
    let uris: Vec<String> = targets.iter().map(|t| t.uri.clone()).collect();
    let buf = match landing {
        Landing::Pool(pool) => {
            AlignedBuf::in_pool(total, crate::buffer::ALIGN, pool).map_err(|reason| {
                Error::Memory {
                    uri: uris.first().cloned().unwrap_or_default(),
                    reason,
                }
            })?
        }
        Landing::Into(buf) if buf.len() == total => buf,
        Landing::Into(buf) => {
            return Err(Error::InvalidArgument(format!(
                "get_batch: the output buffer holds {} bytes but the objects {total}",
                buf.len()
            )))
        }
    };
    let (owner, regions) = buf.into_regions_sized(sizes.iter().map(|&s| s as usize));
    let filled = local_workers::run_targets(
        targets.into_iter().zip(regions).collect(),
        |(target, _)| target,
        max_in_flight,
        |(target, region)| target.get_into_here(region).expect("local target"),
        |(target, region)| async move { target.get_into(region).await },
    )
    .await?;
    let data = owner.finish(filled).ok_or_else(|| {
        Error::InvalidArgument("get_batch: a row was not filled (internal error)".into())
    })?;
    Ok(Batch {
        uris,
        offsets,
        data,
    })
}

/// The size of every target, in order: local ones on [`local_workers`],
/// remote ones as concurrent requests.
async fn stat_all(targets: &[Target], max_in_flight: usize) -> Result<Vec<u64>> {
    let stats = local_workers::run_targets(
        targets.iter().cloned().enumerate().collect(),
        |(_, target)| target,
        max_in_flight,
        |(i, target)| Ok((i, target.head_here().expect("local target")?.size)),
        |(i, target)| async move { Ok((i, target.head().await?.size)) },
    )
    .await?;
    let mut sizes = vec![0; targets.len()];
    for (i, size) in stats {
        sizes[i] = size;
    }
    Ok(sizes)
}
