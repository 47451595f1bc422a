//! A row group's fetched column chunks as the `parquet` crate's
//! synchronous reader reads a file ([`ChunkReader`]): the async reader
//! decodes on the runtime worker that polls it, one core, while the
//! synchronous one can be run on a blocking thread per row group, every
//! core decoding. The chunks are fetched first (all of a row group's
//! together, see [`super::parquet_source`]); a read outside them is a bug
//! of the caller's ranges, reported as an error, never a fetch.

use std::ops::Range;

use bytes::{Buf, Bytes};
use parquet::errors::{ParquetError, Result as ParquetResult};
use parquet::file::reader::{ChunkReader, Length};

/// Byte ranges of one file, fetched (a clone shares the bytes).
#[derive(Clone)]
pub(crate) struct FetchedChunks {
    /// The file's size.
    size: u64,
    /// `(start, bytes)`, sorted by start.
    parts: Vec<(u64, Bytes)>,
}

impl FetchedChunks {
    pub fn new(size: u64, ranges: &[Range<u64>], bytes: Vec<Bytes>) -> Self {
        let mut parts: Vec<(u64, Bytes)> = ranges.iter().map(|r| r.start).zip(bytes).collect();
        parts.sort_by_key(|(start, _)| *start);
        Self { size, parts }
    }

    /// `length` bytes from `start`, out of the part that holds them.
    fn slice(&self, start: u64, length: usize) -> ParquetResult<Bytes> {
        let at = self.parts.partition_point(|(s, _)| *s <= start);
        if at > 0 {
            let (s, bytes) = &self.parts[at - 1];
            let from = (start - s) as usize;
            if from.saturating_add(length) <= bytes.len() {
                return Ok(bytes.slice(from..from + length));
            }
        }
        Err(ParquetError::General(format!(
            "bytes {start}..{} were not fetched for this row group",
            start + length as u64
        )))
    }
}

impl Length for FetchedChunks {
    fn len(&self) -> u64 {
        self.size
    }
}

impl ChunkReader for FetchedChunks {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> ParquetResult<Self::T> {
        let at = self.parts.partition_point(|(s, _)| *s <= start);
        match at.checked_sub(1).map(|i| &self.parts[i]) {
            Some((s, bytes)) if start - s <= bytes.len() as u64 => {
                Ok(bytes.slice((start - s) as usize..).reader())
            }
            _ => Err(ParquetError::General(format!(
                "byte {start} was not fetched for this row group"
            ))),
        }
    }

    fn get_bytes(&self, start: u64, length: usize) -> ParquetResult<Bytes> {
        self.slice(start, length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inside_the_fetched_parts_only() {
        let chunks = FetchedChunks::new(
            100,
            &[50..60, 10..20],
            vec![
                Bytes::from_static(b"abcdefghij"),
                Bytes::from_static(b"0123456789"),
            ],
        );
        assert_eq!(chunks.len(), 100);
        assert_eq!(&chunks.get_bytes(12, 3).unwrap()[..], b"234");
        assert_eq!(&chunks.get_bytes(50, 10).unwrap()[..], b"abcdefghij");
        assert!(chunks.get_bytes(18, 5).is_err(), "runs past a part");
        assert!(chunks.get_bytes(30, 1).is_err(), "between parts");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut chunks.get_read(57).unwrap(), &mut rest).unwrap();
        assert_eq!(rest, "hij");
        assert!(chunks.get_read(5).is_err());
    }
}
