//! Object metadata and byte ranges, shared by every backend.

use std::ops::Range;
use std::time::SystemTime;

use crate::error::{Error, Result};

/// What `stat` and `list` know about one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's full URI.
    pub uri: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, when the backend reports one.
    pub last_modified: Option<SystemTime>,
    /// Entity tag, when the backend reports one.
    pub etag: Option<String>,
}

/// A requested byte range: `length: None` means "to the end".
///
/// Resolution against the object's size (documented behaviour):
/// `offset == size` gives an empty result, `offset > size` is
/// `Error::InvalidRange`, and a range running past the end is cut at it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ByteRange {
    /// The first byte.
    pub offset: u64,
    /// How many bytes; `None` for the rest of the object.
    pub length: Option<u64>,
}

impl ByteRange {
    /// The whole object.
    pub const FULL: ByteRange = ByteRange {
        offset: 0,
        length: None,
    };

    /// True when this is the whole object.
    pub fn is_full(&self) -> bool {
        self.offset == 0 && self.length.is_none()
    }

    /// The concrete byte range within an object of `size` bytes.
    pub fn resolve(&self, uri: &str, size: u64) -> Result<Range<u64>> {
        if self.offset > size {
            return Err(Error::InvalidRange {
                uri: uri.to_owned(),
                reason: format!("offset {} is past the end ({size} bytes)", self.offset),
            });
        }
        let end = match self.length {
            Some(len) => self.offset.saturating_add(len).min(size),
            None => size,
        };
        Ok(self.offset..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_documented_edges() {
        let r = |offset, length| ByteRange { offset, length }.resolve("u", 100);
        assert_eq!(r(0, None).unwrap(), 0..100);
        assert_eq!(r(10, Some(20)).unwrap(), 10..30);
        assert_eq!(r(90, Some(20)).unwrap(), 90..100);
        assert_eq!(r(100, None).unwrap(), 100..100);
        assert_eq!(r(5, Some(0)).unwrap(), 5..5);
        assert_eq!(r(0, Some(u64::MAX)).unwrap(), 0..100);
        assert!(matches!(r(101, None), Err(Error::InvalidRange { .. })));
    }
}
