//! Batches: many objects fetched in parallel into one contiguous aligned
//! allocation, each written straight into its row (no collate copy).

use std::sync::Arc;

use bytes::Bytes;

use crate::buffer::AlignedBuf;
use crate::error::{Error, Result};
use crate::exec;
use crate::fetch::{cached_first, check_in_flight, split_by_kind};
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
        BatchMemory::Pool(pool::global()),
    )
    .await
}

/// The memory a batch is fetched into.
pub enum BatchMemory<'a> {
    /// A buffer from this pool (e.g. of pinned slabs), given back when the
    /// last view of the batch is gone.
    Pool(&'a Arc<Pool>),
    /// This buffer, whose length must be the objects' total size.
    Into(AlignedBuf),
}

/// [`get_batch`] into the memory `memory` says.
pub async fn get_batch_in<S: AsRef<str>>(
    uris: &[S],
    sizes: Option<&[u64]>,
    max_in_flight: usize,
    options: &Options,
    memory: BatchMemory<'_>,
) -> Result<Batch> {
    let max_in_flight = check_in_flight(max_in_flight)?;
    let mut resolver = Resolver::new(options);
    let targets = uris
        .iter()
        .map(|u| resolver.resolve_object(u.as_ref()))
        .collect::<Result<Vec<Target>>>()?;
    let given = sizes.is_some();
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
    let offsets = offsets_of(&targets, &sizes)?;
    let total = offsets.last().copied().unwrap_or(0) as usize; // fits: checked by offsets_of
    let uris: Vec<String> = targets.iter().map(|t| t.uri().to_owned()).collect();
    let buf = match memory {
        BatchMemory::Pool(pool) => {
            AlignedBuf::in_pool(total, crate::buffer::ALIGN, pool).map_err(|reason| {
                let first = uris.first().cloned().unwrap_or_default();
                Error::Memory {
                    uri: match uris.len() {
                        0 | 1 => first,
                        n => format!("{first} and {} more", n - 1),
                    },
                    reason: format!("a batch of {total} bytes: {reason}"),
                }
            })?
        }
        BatchMemory::Into(buf) if buf.len() == total => buf,
        BatchMemory::Into(buf) => {
            return Err(Error::InvalidArgument(format!(
                "get_batch: the output buffer holds {} bytes but the objects {total}",
                buf.len()
            )))
        }
    };
    let (owner, regions) = buf.into_regions_sized(sizes.iter().map(|&s| s as usize));
    let (local, remote) = split_by_kind(regions.into_iter().zip(targets.iter().cloned()));
    let direct = local.iter().any(|(_, t)| t.direct);
    let (hits, remote) = cached_first(remote, max_in_flight, |region, t, worker| {
        t.fill_cached_now(region, worker)
    })
    .await?;
    let filled = exec::run_split(
        local,
        direct,
        remote,
        max_in_flight,
        |(region, target), worker| target.read_into_place(region, worker),
        |(region, target)| async move { target.read_into_place(region).await },
    )
    .await;
    let filled = match filled {
        Err(Error::Truncated {
            uri,
            expected,
            actual,
        }) => return Err(size_error(&targets, uri, expected, actual, given).await),
        other => other?,
    };
    let mut filled = filled;
    filled.extend(hits);
    let data = owner.finish(filled).ok_or_else(|| {
        Error::InvalidArgument("get_batch: a row was not filled (internal error)".into())
    })?;
    Ok(Batch {
        uris,
        offsets,
        data,
    })
}

/// The `len + 1` offsets of rows of `sizes`, or an error naming the first
/// object at which the total no longer fits in memory's address range.
fn offsets_of(targets: &[Target], sizes: &[u64]) -> Result<Vec<u64>> {
    let limit = isize::MAX as u64; // the most any allocation can hold
    let mut offsets = Vec::with_capacity(sizes.len() + 1);
    let mut end = 0u64;
    offsets.push(end);
    for (target, &size) in targets.iter().zip(sizes) {
        end = end
            .checked_add(size)
            .filter(|&end| end <= limit)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "get_batch: {}: a size of {size} bytes takes the batch past {limit} bytes, \
                     more than any buffer can hold",
                    target.uri()
                ))
            })?;
        offsets.push(end);
    }
    Ok(offsets)
}

/// The error for a row that `uri` did not fill as `expected`: when the
/// object's size is not the row's (a size given, or stat'd before the object
/// changed), say so, with both sizes; else it is a truncated transfer.
async fn size_error(
    targets: &[Target],
    uri: String,
    expected: u64,
    actual: u64,
    given: bool,
) -> Error {
    let size = match targets.iter().find(|t| t.uri() == uri) {
        Some(target) => target.head().await.map(|meta| meta.size).ok(),
        None => None,
    };
    match size {
        Some(size) if size != expected => Error::SizeMismatch {
            uri,
            expected,
            actual: size,
            why: if given {
                "the size given for it"
            } else {
                "its size when the batch started; it changed since"
            },
        },
        _ => Error::Truncated {
            uri,
            expected,
            actual,
        },
    }
}

/// The size of every target, in order: local ones on [`exec`]'s workers,
/// remote ones as concurrent requests.
async fn stat_all(targets: &[Target], max_in_flight: usize) -> Result<Vec<u64>> {
    let (local, remote) = split_by_kind(targets.iter().cloned().enumerate());
    let direct = local.iter().any(|(_, t)| t.direct);
    let stats = exec::run_split(
        local,
        direct,
        remote,
        max_in_flight,
        |(i, target), _| Ok((i, target.head()?.size)),
        |(i, target)| async move { Ok((i, target.head().await?.size)) },
    )
    .await?;
    let mut sizes = vec![0; targets.len()];
    for (i, size) in stats {
        sizes[i] = size;
    }
    Ok(sizes)
}
