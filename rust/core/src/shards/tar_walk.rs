//! Walking a tar archive header to header, over windows of its bytes: the
//! walk says which member each header describes, or which bytes it needs
//! next, so one walk serves both a whole shard in memory (`read_tar`) and
//! ranged reads that skip the members' data (`tar_index`).
//!
//! Extensions apply to the next entry only: a GNU long name (`'L'`), long
//! link (`'K'`, read and dropped: links are not members) and PAX records
//! (`'x'`: `path` and `size`); PAX global records (`'g'`) are read past.
//! Links, directories, devices and FIFOs are skipped; a sparse file, whose
//! data is not one run of bytes, is an error rather than wrong data.

use super::tar_header::{self, padded, Kind, BLOCK};
use crate::error::{Error, Result};

/// The most bytes an extension (a long name, PAX records) may have: a name
/// is at most a few KiB, so more means a corrupt header, not a member.
const MAX_EXTENSION: u64 = 1 << 20;

/// One regular file of a tar archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TarMember {
    /// Its path in the archive (a PAX `path` or GNU long name if given).
    pub name: String,
    /// The offset of its data in the archive.
    pub offset: u64,
    /// The size of its data, in bytes.
    pub size: u64,
}

/// Some consecutive bytes of an archive.
pub(crate) struct Window<'a> {
    /// The offset of `bytes[0]` in the archive.
    pub start: u64,
    /// The bytes.
    pub bytes: &'a [u8],
    /// True when the archive ends where `bytes` do.
    pub at_end: bool,
}

impl<'a> Window<'a> {
    fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    /// `len` bytes at `offset`, if the window holds them.
    fn get(&self, offset: u64, len: u64) -> Option<&'a [u8]> {
        let from = usize::try_from(offset.checked_sub(self.start)?).ok()?;
        let to = from.checked_add(usize::try_from(len).ok()?)?;
        self.bytes.get(from..to)
    }
}

/// What the walk found next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// A member.
    Member(TarMember),
    /// The walk needs at least `len` bytes from `offset` (a header there,
    /// with the extension data behind it) in its next window.
    Need {
        /// Where the next window must start.
        offset: u64,
        /// How many bytes it must hold, at least.
        len: u64,
    },
    /// The end of the archive.
    End,
}

/// The error for the tar shard at `uri`, at the header at `offset`.
fn format_error(uri: &str, offset: u64, reason: String) -> Error {
    Error::Format {
        uri: uri.to_owned(),
        format: "tar",
        offset,
        reason,
    }
}

/// Where a walk is: the next header's offset and the extensions read for
/// the entry it describes.
pub(crate) struct Walk<'u> {
    uri: &'u str,
    next: u64,
    /// The offset of the last header read (of an entry or an extension).
    last: u64,
    /// Where the data of the last header read ends.
    data_end: u64,
    long_name: Option<String>,
    pax_path: Option<String>,
    pax_size: Option<u64>,
}

impl<'u> Walk<'u> {
    /// A walk from the start of the archive at `uri` (named in errors).
    pub fn new(uri: &'u str) -> Self {
        Walk {
            uri,
            next: 0,
            last: 0,
            data_end: 0,
            long_name: None,
            pax_path: None,
            pax_size: None,
        }
    }

    /// The error at the header at `offset`.
    pub fn error(&self, offset: u64, reason: impl Into<String>) -> Error {
        format_error(self.uri, offset, reason.into())
    }

    fn pending(&self) -> bool {
        self.long_name.is_some() || self.pax_path.is_some() || self.pax_size.is_some()
    }

    /// `len` bytes at `offset` from `window`, or what to do without them:
    /// fail when the archive ends first, else ask for `want` bytes from
    /// the header at `header`.
    fn take<'w>(
        &self,
        window: &Window<'w>,
        header: u64,
        (offset, len): (u64, u64),
        want: u64,
    ) -> Result<std::result::Result<&'w [u8], Step>> {
        if let Some(bytes) = window.get(offset, len) {
            return Ok(Ok(bytes));
        }
        if window.at_end {
            return Err(self.error(
                header,
                format!(
                    "truncated: {len} bytes needed at byte {offset}, the shard ends at byte {}",
                    window.end()
                ),
            ));
        }
        Ok(Err(Step::Need {
            offset: header,
            len: want,
        }))
    }

    /// The next member, the bytes needed to find it, or the end.
    pub fn step(&mut self, window: &Window<'_>) -> Result<Step> {
        loop {
            let at = self.next;
            if window.at_end && at >= window.end() {
                // No end-of-archive blocks (or their padding): `tarfile`
                // ends here too.
                if self.pending() {
                    return Err(self.error(self.last, "an extended header ends the shard"));
                }
                if self.data_end > window.end() {
                    return Err(self.truncated(self.data_end, window.end()));
                }
                return Ok(Step::End);
            }
            let block = match self.take(window, at, (at, BLOCK), BLOCK)? {
                Ok(block) => block,
                Err(need) => return Ok(need),
            };
            let header = tar_header::parse(block).map_err(|reason| self.error(at, reason))?;
            let Some(header) = header else {
                return Ok(Step::End);
            };
            self.last = at;
            let data = at + BLOCK;
            let size = match header.kind {
                Kind::File => self.pax_size.take().unwrap_or(header.size),
                _ => header.size,
            };
            let (Some(data_end), Some(after)) = (
                data.checked_add(size),
                padded(size).and_then(|s| data.checked_add(s)),
            ) else {
                return Err(self.error(at, format!("size {size} runs past any shard")));
            };
            self.data_end = data_end;
            match header.kind {
                Kind::File => {
                    if window.at_end && data_end > window.end() {
                        return Err(self.truncated(data_end, window.end()));
                    }
                    let name = self.pax_path.take().or(self.long_name.take());
                    self.long_name = None;
                    self.next = after;
                    return Ok(Step::Member(TarMember {
                        name: name.unwrap_or(header.name),
                        offset: data,
                        size,
                    }));
                }
                Kind::NoData | Kind::Other => {
                    self.long_name = None;
                    self.pax_path = None;
                    self.pax_size = None;
                    self.data_end = data;
                    self.next = match header.kind {
                        Kind::NoData => data,
                        _ => after,
                    };
                }
                Kind::Sparse => {
                    return Err(self.error(at, "GNU sparse files are not supported"));
                }
                Kind::LongName | Kind::LongLink | Kind::Pax | Kind::PaxGlobal => {
                    if size > MAX_EXTENSION {
                        return Err(self.error(
                            at,
                            format!("an extended header of {size} bytes (at most {MAX_EXTENSION})"),
                        ));
                    }
                    // Ask for the entry's header too, so one window holds both.
                    let bytes = match self.take(window, at, (data, size), after - at + BLOCK)? {
                        Ok(bytes) => bytes,
                        Err(need) => return Ok(need),
                    };
                    match header.kind {
                        Kind::LongName => self.long_name = Some(tar_header::text(bytes)),
                        Kind::Pax => self.pax(bytes, at)?,
                        _ => {}
                    }
                    self.next = after;
                }
            }
        }
    }

    /// The error for data of the last entry that runs to `data_end`, past
    /// the end of the shard at `end`.
    fn truncated(&self, data_end: u64, end: u64) -> Error {
        self.error(
            self.last,
            format!(
                "truncated: the entry's data runs to byte {data_end}, the shard ends at byte {end}"
            ),
        )
    }

    /// Take `path` and `size` from PAX records (`"<len> <key>=<value>\n"`).
    fn pax(&mut self, records: &[u8], at: u64) -> Result<()> {
        let uri = self.uri;
        let bad = |what: &str| format_error(uri, at, format!("bad PAX record: {what}"));
        let mut rest = records;
        while let Some(&first) = rest.first() {
            if first == 0 {
                break; // padding
            }
            let space = rest
                .iter()
                .position(|&b| b == b' ')
                .ok_or_else(|| bad("no length"))?;
            let len: usize = std::str::from_utf8(&rest[..space])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("length is not a number"))?;
            if len <= space + 1 || len > rest.len() || rest[len - 1] != b'\n' {
                return Err(bad("length does not fit the record"));
            }
            let record = &rest[space + 1..len - 1];
            let eq = record
                .iter()
                .position(|&b| b == b'=')
                .ok_or_else(|| bad("no '='"))?;
            let (key, value) = (&record[..eq], &record[eq + 1..]);
            match key {
                b"path" if !value.is_empty() => {
                    self.pax_path = Some(String::from_utf8_lossy(value).into_owned());
                }
                b"size" if !value.is_empty() => {
                    let size = std::str::from_utf8(value)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| bad("size is not a number"))?;
                    self.pax_size = Some(size);
                }
                k if k.starts_with(b"GNU.sparse.") => {
                    return Err(self.error(at, "GNU sparse files are not supported"));
                }
                _ => {}
            }
            rest = &rest[len..];
        }
        Ok(())
    }
}
