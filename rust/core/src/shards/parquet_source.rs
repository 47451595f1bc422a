//! A Parquet file as the `parquet` crate's async reader reads it: ranged
//! reads of our own [`Target`] (any scheme, into aligned buffers, counted
//! like every other read), so a projection fetches only its column chunks.
//!
//! The footer comes from one read of the file's last [`TAIL`] bytes (a
//! suffix request on S3 and GCS, which also tells the size), and reads
//! inside that tail are served from it. The column chunks a row group
//! needs are asked for together ([`AsyncFileReader::get_byte_ranges`]):
//! ranges closer than [`COALESCE_GAP`] are merged, and the merged ones are
//! fetched in parallel. The gap is small on purpose: the chunks of the
//! columns not chosen lie between the chosen ones, and fetching them is
//! what projection saves (a 1 MiB gap, object_store's default, would read
//! most of a table of small chunks).

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{stream, FutureExt, StreamExt, TryStreamExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::{ParquetError, Result as ParquetResult};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use crate::error::{Error, Result};
use crate::meta::ByteRange;
use crate::store::Target;

/// The bytes read from a file's end for its footer: most footers fit, so
/// the metadata costs one request.
pub(crate) const TAIL: u64 = 64 << 10;
/// Ranges closer than this are fetched as one.
pub(crate) const COALESCE_GAP: u64 = 16 << 10;

/// One Parquet file, readable by the `parquet` crate.
#[derive(Clone)]
pub(crate) struct ParquetSource {
    target: Target,
    /// The file's size.
    pub size: u64,
    /// Its last bytes, from `size - tail.len()`.
    tail: Bytes,
    /// Ranged reads in flight at once for one call.
    in_flight: usize,
}

impl ParquetSource {
    /// Open the file at `target`: read its tail (and so its size).
    pub async fn open(target: Target, in_flight: usize) -> Result<Self> {
        let (tail, size) = target.get_tail(TAIL).await?;
        Ok(Self {
            target,
            size,
            tail,
            in_flight: in_flight.max(1),
        })
    }

    pub fn uri(&self) -> &str {
        self.target.uri()
    }

    /// `range` from the tail, when it lies there.
    fn in_tail(&self, range: &Range<u64>) -> Option<Bytes> {
        let start = self.size - self.tail.len() as u64;
        (range.start >= start && range.end <= self.size).then(|| {
            self.tail
                .slice((range.start - start) as usize..(range.end - start) as usize)
        })
    }

    /// Every range, in order: from the tail, or read with nearby ones
    /// merged and the merged reads in flight together.
    pub async fn read(&self, ranges: Vec<Range<u64>>) -> Result<Vec<Bytes>> {
        // The ranges come from the footer: one past the file's end means a
        // file cut short (or a corrupt footer), a format error, not a bad
        // argument of the caller's or a truncated transfer.
        if let Some(r) = ranges.iter().find(|r| r.end > self.size) {
            return Err(Error::Format {
                uri: self.uri().to_owned(),
                format: "parquet",
                offset: r.start,
                reason: format!(
                    "its footer points at bytes {}..{}, past the file's end ({} bytes): \
                     the file is cut short or its footer is corrupt",
                    r.start, r.end, self.size
                ),
            });
        }
        let mut out: Vec<Option<Bytes>> = ranges.iter().map(|r| self.in_tail(r)).collect();
        let mut wanted: Vec<usize> = (0..ranges.len()).filter(|&i| out[i].is_none()).collect();
        wanted.sort_by_key(|&i| ranges[i].start);
        let mut merged: Vec<(Range<u64>, Vec<usize>)> = Vec::new();
        for i in wanted {
            let r = &ranges[i];
            match merged.last_mut() {
                Some((m, members)) if r.start <= m.end.saturating_add(COALESCE_GAP) => {
                    m.end = m.end.max(r.end);
                    members.push(i);
                }
                _ => merged.push((r.clone(), vec![i])),
            }
        }
        let target = &self.target;
        let fetched: Vec<(Range<u64>, Vec<usize>, Bytes)> = stream::iter(merged)
            .map(|(m, members)| async move {
                let range = ByteRange {
                    offset: m.start,
                    length: Some(m.end - m.start),
                };
                let bytes = target.get(range).await?;
                if (bytes.len() as u64) < m.end - m.start {
                    return Err(Error::Truncated {
                        uri: target.uri().to_owned(),
                        expected: m.end - m.start,
                        actual: bytes.len() as u64,
                    });
                }
                Ok((m, members, bytes))
            })
            .buffer_unordered(self.in_flight)
            .try_collect()
            .await?;
        for (m, members, bytes) in fetched {
            for i in members {
                let r = &ranges[i];
                out[i] =
                    Some(bytes.slice((r.start - m.start) as usize..(r.end - m.start) as usize));
            }
        }
        Ok(out
            .into_iter()
            .map(|b| b.expect("every range was read"))
            .collect())
    }

    /// The file's metadata, from the tail (and one more read when the
    /// footer is larger than it).
    pub async fn metadata(&mut self) -> ParquetResult<ParquetMetaData> {
        let hint = self.tail.len();
        let size = self.size;
        ParquetMetaDataReader::new()
            .with_prefetch_hint(Some(hint))
            .load_and_finish(self, size)
            .await
    }
}

/// Our error carried through the `parquet` crate's.
fn external(error: Error) -> ParquetError {
    ParquetError::External(Box::new(error))
}

/// A `parquet` crate error as ours: one of our reads' errors as it was,
/// anything else a [`Error::Format`] naming `uri`.
pub(crate) fn from_parquet(uri: &str, error: ParquetError) -> Error {
    match error {
        ParquetError::External(inner) => match inner.downcast::<Error>() {
            Ok(ours) => *ours,
            Err(other) => format_error(uri, other.to_string()),
        },
        other => format_error(uri, other.to_string()),
    }
}

/// A file that is not (valid) Parquet.
pub(crate) fn format_error(uri: &str, reason: String) -> Error {
    Error::Format {
        uri: uri.to_owned(),
        format: "parquet",
        offset: 0,
        reason,
    }
}

impl AsyncFileReader for ParquetSource {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, ParquetResult<Bytes>> {
        async move {
            let mut got = self.read(vec![range]).await.map_err(external)?;
            Ok(got.pop().expect("one range, one result"))
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, ParquetResult<Vec<Bytes>>> {
        async move { self.read(ranges).await.map_err(external) }.boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, ParquetResult<Arc<ParquetMetaData>>> {
        async move { self.metadata().await.map(Arc::new) }.boxed()
    }
}
