//! One 512-byte tar header block, decoded: its kind, name and size, with
//! its checksum verified. Pure: bytes in, fields out.
//!
//! The rules follow POSIX ustar and what Python's `tarfile` (the reader
//! WebDataset uses) accepts: numbers in octal (NUL- or space-terminated)
//! or GNU base-256 (first byte `0x80`); the checksum as the unsigned or the
//! historic signed sum of the block with its own field read as spaces; the
//! ustar `prefix` joined to the name only in POSIX headers (`ustar\0`:
//! GNU headers keep times there); an old-style `'\0'` entry whose name
//! ends in `/` is a directory.

/// The size of a header and the unit data is padded to.
pub(crate) const BLOCK: u64 = 512;

/// `n` rounded up to a whole number of blocks.
pub(crate) fn padded(n: u64) -> Option<u64> {
    n.checked_add(BLOCK - 1).map(|n| n / BLOCK * BLOCK)
}

/// What a header introduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A regular file (`'0'`, `'\0'`, `'7'`): a member.
    File,
    /// GNU `'L'`: its data is the name of the next entry.
    LongName,
    /// GNU `'K'`: its data is the link target of the next entry.
    LongLink,
    /// PAX `'x'` (and Solaris `'X'`): `key=value` records for the next entry.
    Pax,
    /// PAX `'g'`: records for every later entry (none of them is used).
    PaxGlobal,
    /// GNU `'S'`: a sparse file, whose data is not laid out as one run.
    Sparse,
    /// A link, device, directory or FIFO (`'1'`..`'6'`): no data follows.
    NoData,
    /// Any other type: skipped with its data, as `tarfile` does.
    Other,
}

/// A decoded header.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// What it introduces.
    pub kind: Kind,
    /// The name in the header (prefix joined), before any extension.
    pub name: String,
    /// The size of the data that follows, in bytes.
    pub size: u64,
}

/// The header in `block` (512 bytes): `Ok(None)` for an all-zero block
/// (the end of the archive), `Err` with the reason for a bad one.
pub(crate) fn parse(block: &[u8]) -> Result<Option<Header>, String> {
    debug_assert_eq!(block.len() as u64, BLOCK);
    if block.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let recorded = number(&block[148..156]).map_err(|e| format!("checksum field: {e}"))?;
    let (unsigned, signed) = sums(block);
    if recorded != unsigned && i64::try_from(recorded) != Ok(signed) {
        return Err(format!(
            "bad header checksum: recorded {recorded}, computed {unsigned}"
        ));
    }
    let size = number(&block[124..136]).map_err(|e| format!("size field: {e}"))?;
    let mut name = text(&block[0..100]);
    let posix = &block[257..263] == b"ustar\0";
    let prefix = text(&block[345..500]);
    if posix && !prefix.is_empty() {
        name = format!("{prefix}/{name}");
    }
    let kind = match block[156] {
        b'\0' if name.ends_with('/') => Kind::NoData,
        b'0' | b'\0' | b'7' => Kind::File,
        b'1'..=b'6' => Kind::NoData,
        b'L' => Kind::LongName,
        b'K' => Kind::LongLink,
        b'x' | b'X' => Kind::Pax,
        b'g' => Kind::PaxGlobal,
        b'S' => Kind::Sparse,
        _ => Kind::Other,
    };
    Ok(Some(Header { kind, name, size }))
}

/// The unsigned and the signed sum of `block` with the checksum field
/// (bytes 148..156) counted as spaces.
fn sums(block: &[u8]) -> (u64, i64) {
    let mut unsigned = 0u64;
    let mut signed = 0i64;
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    (unsigned, signed)
}

/// A numeric field: octal text up to the first NUL (surrounding spaces
/// allowed, empty is 0), or base-256 when the first byte is `0x80`.
pub(crate) fn number(field: &[u8]) -> Result<u64, String> {
    match field.first() {
        Some(0x80) => {
            let digits = &field[1..];
            let significant = digits.iter().skip_while(|&&b| b == 0).count();
            if significant > 8 {
                return Err("base-256 number over 64 bits".to_owned());
            }
            Ok(digits.iter().fold(0u64, |n, &b| (n << 8) | u64::from(b)))
        }
        Some(0xff) => Err("negative base-256 number".to_owned()),
        _ => {
            let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
            let digits = field[..end].trim_ascii();
            digits.iter().try_fold(0u64, |n, &b| match b {
                b'0'..=b'7' => n
                    .checked_mul(8)
                    .map(|n| n + u64::from(b - b'0'))
                    .ok_or_else(|| "octal number over 64 bits".to_owned()),
                _ => Err(format!(
                    "not an octal number: {:?}",
                    String::from_utf8_lossy(&field[..end])
                )),
            })
        }
    }
}

/// A text field up to its first NUL, as UTF-8 (invalid bytes replaced).
pub(crate) fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header block of `kind` for `name` with `size` bytes of data, its
    /// checksum filled in (`posix` writes the ustar magic, else GNU's).
    pub(crate) fn block(kind: u8, name: &str, size: u64, posix: bool) -> Vec<u8> {
        let mut b = vec![0u8; BLOCK as usize];
        b[..name.len()].copy_from_slice(name.as_bytes());
        b[100..107].copy_from_slice(b"0000644");
        b[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        b[156] = kind;
        let magic: &[u8] = if posix { b"ustar\x0000" } else { b"ustar  \0" };
        b[257..265].copy_from_slice(magic);
        seal(&mut b);
        b
    }

    /// Write the checksum of `b` into its field.
    pub(crate) fn seal(b: &mut [u8]) {
        let (sum, _) = sums(b);
        b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }

    #[test]
    fn reads_a_ustar_header_and_checks_its_sum() {
        let mut b = block(b'0', "a/b.jpg", 1234, true);
        let h = parse(&b).unwrap().unwrap();
        assert_eq!(h.kind, Kind::File);
        assert_eq!(h.name, "a/b.jpg");
        assert_eq!(h.size, 1234);
        b[10] ^= 1;
        assert!(parse(&b).unwrap_err().contains("checksum"));
    }

    #[test]
    fn an_all_zero_block_ends_the_archive() {
        assert_eq!(parse(&[0u8; 512]).unwrap(), None);
    }

    #[test]
    fn joins_the_prefix_only_in_posix_headers() {
        let mut b = block(b'0', "name.txt", 0, true);
        b[345..351].copy_from_slice(b"folder");
        seal(&mut b);
        assert_eq!(parse(&b).unwrap().unwrap().name, "folder/name.txt");
        let mut gnu = block(b'0', "name.txt", 0, false);
        gnu[345..351].copy_from_slice(b"012345");
        seal(&mut gnu);
        assert_eq!(parse(&gnu).unwrap().unwrap().name, "name.txt");
    }

    #[test]
    fn decodes_octal_and_base_256_numbers() {
        assert_eq!(number(b"00000001750\0"), Ok(1000));
        assert_eq!(number(b"   1750 \0"), Ok(1000));
        assert_eq!(number(b"\0\0\0\0"), Ok(0));
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[7..].copy_from_slice(&[0x02, 0, 0, 0, 0x05]);
        assert_eq!(number(&big), Ok((2 << 32) + 5));
        assert!(number(&[0xff; 12]).unwrap_err().contains("negative"));
        assert!(number(b"12a4\0").unwrap_err().contains("octal"));
        let mut wide = [0xffu8; 12];
        wide[0] = 0x80;
        assert!(number(&wide).unwrap_err().contains("64 bits"));
    }

    #[test]
    fn types_map_to_kinds() {
        let kind = |t: u8, name: &str| parse(&block(t, name, 0, true)).unwrap().unwrap().kind;
        assert_eq!(kind(b'\0', "f"), Kind::File);
        assert_eq!(kind(b'7', "f"), Kind::File);
        assert_eq!(kind(b'\0', "dir/"), Kind::NoData);
        assert_eq!(kind(b'5', "dir"), Kind::NoData);
        assert_eq!(kind(b'2', "link"), Kind::NoData);
        assert_eq!(kind(b'L', "././@LongLink"), Kind::LongName);
        assert_eq!(kind(b'K', "././@LongLink"), Kind::LongLink);
        assert_eq!(kind(b'x', "PaxHeader"), Kind::Pax);
        assert_eq!(kind(b'g', "GlobalHead"), Kind::PaxGlobal);
        assert_eq!(kind(b'S', "sparse"), Kind::Sparse);
        assert_eq!(kind(b'V', "volume"), Kind::Other);
    }

    #[test]
    fn the_signed_sum_of_old_writers_is_accepted() {
        let mut b = block(b'0', "caf\u{e9}", 0, true);
        let (_, signed) = sums(&b);
        b[148..156].copy_from_slice(format!("{signed:06o}\0 ").as_bytes());
        assert!(parse(&b).unwrap().is_some());
    }
}
