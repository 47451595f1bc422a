//! `read_tar` and `tar_index`: a tar shard's members as zero-copy slices of
//! the one buffer it is fetched into, or its index (name, data offset,
//! size) from ranged reads of its headers alone.
//!
//! The index reads 64 KiB first (many small members come in one request),
//! then jumps from header to header. While the members so far average at
//! most 16 KiB each it reads 64 KiB at a time (the next few members with
//! it). Else each read past a large member's data is sized by the one
//! before it ([`Jumps`]): when what lay between that jump and the next
//! large member's header fitted in 1.5 KiB (a label, PAX records, a long
//! name), one read takes all of it again; when it did not, the index reads
//! headers alone, one request each, rather than the small members' data.
//! For 256 samples of a 100 KiB image and a label that is one request and
//! 1.5 KiB per sample (1.7% of the shard with the first read); with a JSON
//! member as well, three requests of one header each (1.7%, where reading
//! 1.5 KiB at each jump cost two requests and 3.2%).

use bytes::Bytes;

use super::tar_walk::{Step, TarMember, Walk, Window};
use crate::error::{Error, Result};
use crate::fetch;
use crate::meta::ByteRange;
use crate::options::Options;
use crate::store::Target;

/// The first read of an index: the headers of many small members at once.
const FIRST_READ: u64 = 64 << 10;
/// Members averaging up to this size are read through, not jumped over.
const SMALL_MEMBER: u64 = 16 << 10;
/// The most a read at a jump over a member's data takes: three blocks.
const JUMP_READ: u64 = 1536;
/// A tar block: a header alone.
const HEADER: u64 = 512;

/// The reads at jumps over large members' data, each sized by what the
/// jump before found: `ahead` is the bytes from a jump to the end of the
/// next large member's header when that fitted in [`JUMP_READ`], else a
/// header alone.
struct Jumps {
    /// Where the last jump over a large member's data landed.
    start: Option<u64>,
    /// What the next jump reads at least.
    ahead: u64,
}

impl Jumps {
    fn new() -> Self {
        Jumps {
            start: None,
            ahead: JUMP_READ,
        }
    }

    /// The bytes to read for the walk's need of `len` at `offset`, the last
    /// member found being `last`.
    fn read_for(&mut self, offset: u64, len: u64, last: Option<&TarMember>) -> u64 {
        let Some(m) = last.filter(|m| m.size > JUMP_READ && offset >= m.offset + m.size) else {
            return len; // a header among small members, or an extension's rest
        };
        if let Some(start) = self.start.filter(|&s| m.offset > s) {
            let span = m.offset - start; // up to the end of `m`'s header
            self.ahead = if span <= JUMP_READ { span } else { HEADER };
        }
        self.start = Some(offset);
        len.max(self.ahead)
    }
}

/// The members of the tar shard at `uri`, fetched once (through [`fetch::get`],
/// so any backend): each one's name and its data, a slice of that one buffer.
/// A `file://` shard is mapped unless `options` say otherwise
/// ([`Options::mapping_unless_told`]).
pub async fn read_tar(uri: &str, options: &Options) -> Result<Vec<(String, Bytes)>> {
    let shard = fetch::get(uri, &options.mapping_unless_told()).await?;
    tar_members(uri, &shard)
}

/// The members of the tar shard `shard` (the bytes of the object at `uri`,
/// which errors name): each one's name and its data, a slice of `shard`.
pub fn tar_members(uri: &str, shard: &Bytes) -> Result<Vec<(String, Bytes)>> {
    Ok(tar_listing(uri, shard)?
        .into_iter()
        .map(|m| {
            // In the shard: the walk checks that a member's data fits.
            let (start, end) = (m.offset as usize, (m.offset + m.size) as usize);
            (m.name, shard.slice(start..end))
        })
        .collect())
}

/// The members of the tar shard `shard` (the bytes of the object at `uri`,
/// which errors name), in memory already: names, data offsets and sizes.
pub fn tar_listing(uri: &str, shard: &[u8]) -> Result<Vec<TarMember>> {
    let window = Window {
        start: 0,
        bytes: shard,
        at_end: true,
    };
    let mut walk = Walk::new(uri);
    let mut members = Vec::new();
    loop {
        match walk.step(&window)? {
            Step::Member(m) => members.push(m),
            Step::End => return Ok(members),
            Step::Need { offset, .. } => {
                return Err(walk.error(offset, "the walk asked past a whole shard (a bug)"));
            }
        }
    }
}

/// A tar shard's index, and what reading it cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TarIndex {
    /// The members in archive order.
    pub members: Vec<TarMember>,
    /// Bytes of the shard read to find them.
    pub bytes_read: u64,
    /// Ranged reads made.
    pub requests: u64,
}

/// The members of the tar shard at `uri` (name, data offset and size),
/// found by ranged reads of its headers that skip the members' data.
pub async fn tar_index(uri: &str, options: &Options) -> Result<TarIndex> {
    let target = Target::resolve_object(uri, options)?;
    let mut walk = Walk::new(uri);
    let mut index = TarIndex {
        members: Vec::new(),
        bytes_read: 0,
        requests: 0,
    };
    let (mut start, mut bytes) = (0, Bytes::new());
    let mut at_end = false;
    let mut want = FIRST_READ;
    let mut read = true;
    let mut jumps = Jumps::new();
    loop {
        if read {
            index.requests += 1;
            let range = ByteRange {
                offset: start,
                length: Some(want),
            };
            (bytes, at_end) = match target.get(range).await {
                Ok(got) => {
                    let short = (got.len() as u64) < want;
                    (got, short)
                }
                // A jump past the end: the last entry's data is cut short
                // (the walk says so, knowing where the shard ends).
                Err(Error::InvalidRange { .. }) => {
                    start = target.head().await?.size;
                    (Bytes::new(), true)
                }
                Err(e) => return Err(e),
            };
            index.bytes_read += bytes.len() as u64;
            read = false;
        }
        let window = Window {
            start,
            bytes: &bytes,
            at_end,
        };
        match walk.step(&window)? {
            Step::Member(m) => index.members.push(m),
            Step::End => return Ok(index),
            Step::Need { offset, len } => {
                let count = index.members.len() as u64;
                let small = count > 0 && offset / count <= SMALL_MEMBER;
                want = if small {
                    len.max(FIRST_READ)
                } else {
                    jumps.read_for(offset, len, index.members.last())
                };
                (start, read) = (offset, true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shards::tar_header::tests::{block, seal};
    use crate::shards::tar_header::{padded, BLOCK};

    /// A tar archive written entry by entry.
    #[derive(Default)]
    struct Archive(Vec<u8>);

    impl Archive {
        /// An entry of type `kind` with `data` behind its header.
        fn entry(mut self, kind: u8, name: &str, data: &[u8]) -> Self {
            self.0.extend(block(kind, name, data.len() as u64, true));
            self.0.extend(data);
            self.0
                .resize(padded(self.0.len() as u64).unwrap() as usize, 0);
            self
        }
        fn file(self, name: &str, data: &[u8]) -> Self {
            self.entry(b'0', name, data)
        }
        /// PAX records (`'x'`, or `'g'` for global ones).
        fn pax(self, kind: u8, records: &[(&str, &str)]) -> Self {
            let mut text = Vec::new();
            for (k, v) in records {
                let body = format!(" {k}={v}\n");
                let mut len = body.len() + 1;
                while len != body.len() + len.to_string().len() {
                    len = body.len() + len.to_string().len();
                }
                text.extend(format!("{len}{body}").bytes());
            }
            self.entry(kind, "././@PaxHeader", &text)
        }
        fn end(mut self) -> Bytes {
            self.0.extend([0u8; 1024]);
            Bytes::from(self.0)
        }
    }

    fn names(members: &[(String, Bytes)]) -> Vec<&str> {
        members.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The offset in `error`, which must be a tar format error naming `uri`.
    fn offset_of(error: Error, uri: &str) -> u64 {
        let text = error.full_message();
        match error {
            Error::Format { offset, .. } => {
                assert!(text.contains(uri), "{text}");
                offset
            }
            other => panic!("not a format error: {other:?}"),
        }
    }

    #[test]
    fn members_are_slices_of_the_shard_and_other_entries_are_skipped() {
        let shard = Archive::default()
            .file("a/0.jpg", b"jpeg bytes")
            .file("a/0.cls", b"")
            .entry(b'5', "a/dir", b"")
            .entry(b'2', "a/link", b"")
            .file("a/1.jpg", &[7u8; 600])
            .end();
        let members = tar_members("mem://s", &shard).unwrap();
        assert_eq!(names(&members), ["a/0.jpg", "a/0.cls", "a/1.jpg"]);
        assert_eq!(&members[0].1[..], b"jpeg bytes");
        assert_eq!(members[1].1.len(), 0);
        assert_eq!(&members[2].1[..], &[7u8; 600][..]);
        // Offsets: headers at 0, 1024, 1536 (dir), 2048 (link), 2560.
        let at = |i: usize| members[i].1.as_ptr() as usize - shard.as_ptr() as usize;
        assert_eq!((at(0), at(2)), (512, 2560 + 512));
    }

    #[test]
    fn long_names_and_pax_records_name_the_next_member() {
        let long = "d/".repeat(80) + "sample.txt";
        let mut name = long.clone().into_bytes();
        name.push(0);
        let shard = Archive::default()
            .entry(b'L', "././@LongLink", &name)
            .file(&long[..99], b"one")
            .entry(b'K', "././@LongLink", b"target\0")
            .file("after-link", b"two")
            .pax(b'g', &[("comment", "ignored"), ("path", "not/a/name")])
            .pax(b'x', &[("path", "caf\u{e9}/\u{1f600}.txt")])
            .file("short", b"three")
            .file("plain", b"four")
            .end();
        let members = tar_members("mem://s", &shard).unwrap();
        assert_eq!(
            names(&members),
            [
                long.as_str(),
                "after-link",
                "caf\u{e9}/\u{1f600}.txt",
                "plain"
            ]
        );
        assert_eq!(&members[2].1[..], b"three");
    }

    #[test]
    fn a_pax_size_overrides_the_header() {
        let mut shard = Archive::default().pax(b'x', &[("size", "5")]).0;
        shard.extend(block(b'0', "big", 0, true));
        shard.extend(b"hello");
        shard.resize(padded(shard.len() as u64).unwrap() as usize, 0);
        let shard = Archive(shard).end();
        let members = tar_members("mem://s", &shard).unwrap();
        assert_eq!(&members[0].1[..], b"hello");
    }

    #[test]
    fn an_empty_shard_and_one_without_end_blocks_are_fine() {
        assert!(tar_members("mem://s", &Bytes::new()).unwrap().is_empty());
        assert!(tar_members("mem://s", &Archive::default().end())
            .unwrap()
            .is_empty());
        let bare = Bytes::from(Archive::default().file("x.txt", b"abc").0);
        assert_eq!(names(&tar_members("mem://s", &bare).unwrap()), ["x.txt"]);
    }

    #[test]
    fn truncation_and_bad_checksums_name_the_uri_and_the_header() {
        let shard = Archive::default()
            .file("a.bin", &[1u8; 100])
            .file("b.bin", &[2u8; 2000])
            .end();
        let second = 1024u64;
        let cut = |n: u64| tar_members("mem://cut", &shard.slice(..n as usize)).unwrap_err();
        // In the middle of the second header, and of its data.
        assert_eq!(offset_of(cut(second + 100), "mem://cut"), second);
        assert_eq!(offset_of(cut(second + BLOCK + 1000), "mem://cut"), second);
        let mut bad = shard.to_vec();
        bad[second as usize + 5] ^= 0x20;
        let err = tar_members("mem://bad", &Bytes::from(bad)).unwrap_err();
        assert!(err.full_message().contains("checksum"), "{err}");
        assert_eq!(offset_of(err, "mem://bad"), second);
    }

    #[test]
    fn sparse_files_and_garbage_are_errors() {
        let sparse = Archive::default().entry(b'S', "s", b"").end();
        let err = tar_members("mem://s", &sparse).unwrap_err();
        assert!(err.full_message().contains("sparse"), "{err}");
        let mut text = vec![b'x'; 4096];
        seal(&mut text[..512]);
        text[148] = b'9';
        assert_eq!(
            offset_of(
                tar_members("mem://t", &Bytes::from(text)).unwrap_err(),
                "mem://t"
            ),
            0
        );
    }

    /// A shard saved as a file, and its URI.
    fn saved(dir: &tempfile::TempDir, shard: &Bytes) -> String {
        let path = dir.path().join("shard.tar");
        std::fs::write(&path, shard).unwrap();
        format!("file://{}", path.display())
    }

    /// The index of `shard` (saved as a file), checked against its
    /// members read whole: `members` of them, the same names, offsets and
    /// sizes, found reading under 2% of the shard.
    fn index_matching(shard: &Bytes, members: usize) -> TarIndex {
        let dir = tempfile::tempdir().unwrap();
        let uri = saved(&dir, shard);
        let index = crate::runtime::block_on(tar_index(&uri, &Options::empty())).unwrap();
        let read = tar_members(&uri, shard).unwrap();
        assert_eq!(index.members.len(), members);
        for (m, (name, data)) in index.members.iter().zip(&read) {
            assert_eq!(&m.name, name);
            assert_eq!(m.offset, data.as_ptr() as u64 - shard.as_ptr() as u64);
            assert_eq!(m.size, data.len() as u64);
        }
        let share = index.bytes_read as f64 / shard.len() as f64;
        assert!(
            share < 0.02,
            "read {} of {} bytes",
            index.bytes_read,
            shard.len()
        );
        index
    }

    #[test]
    fn the_index_reads_headers_only_and_matches_the_members() {
        let mut archive = Archive::default();
        // 256 samples of a ~100 KiB image and a label.
        for i in 0..256 {
            archive = archive
                .file(&format!("{i:06}.jpg"), &vec![i as u8; 100_000 + i])
                .file(&format!("{i:06}.cls"), i.to_string().as_bytes());
        }
        let index = index_matching(&archive.end(), 512);
        assert_eq!(index.requests, 257, "the first read, then one per sample");
    }

    #[test]
    fn the_index_reads_headers_alone_when_small_members_do_not_fit_one_read() {
        let mut archive = Archive::default();
        // 256 samples of a ~100 KiB image, a label and a JSON record: the
        // two small members and their data take 2 KiB between two images.
        for i in 0..256 {
            archive = archive
                .file(&format!("{i:06}.jpg"), &vec![i as u8; 100_000 + i])
                .file(&format!("{i:06}.cls"), i.to_string().as_bytes())
                .file(
                    &format!("{i:06}.json"),
                    format!("{{\"i\": {i}}}").as_bytes(),
                );
        }
        let index = index_matching(&archive.end(), 768);
        // The first read, one of 1.5 KiB that showed the small members do
        // not fit one, then a header per member.
        assert_eq!(index.requests, 1 + 2 + 3 * 255);
    }

    #[test]
    fn the_index_reads_small_members_in_few_requests_and_sees_truncation() {
        let mut archive = Archive::default();
        for i in 0..200 {
            archive = archive.file(&format!("{i}.cls"), i.to_string().as_bytes());
        }
        let shard = archive.end();
        let dir = tempfile::tempdir().unwrap();
        let index = |shard: &Bytes| {
            crate::runtime::block_on(tar_index(&saved(&dir, shard), &Options::empty()))
        };
        let all = index(&shard).unwrap();
        assert_eq!(all.members.len(), 200);
        assert_eq!(all.requests, 4, "200 KiB in 64 KiB reads");
        assert!(index(&Bytes::new()).unwrap().members.is_empty());
        let mut big = Archive::default().file("a", &[0u8; 300_000]).0;
        big.extend(block(b'0', "b", 300_000, true));
        big.extend([0u8; 1000]);
        let err = index(&Bytes::from(big)).unwrap_err();
        assert_eq!(offset_of(err, "shard.tar"), 300_000 + 512 + 32);
    }

    #[test]
    fn the_index_reads_extensions_that_run_past_a_jump() {
        let mut archive = Archive::default();
        for i in 0..20 {
            let long = format!("{i}/{}.bin", "n".repeat(700));
            let mut name = long.clone().into_bytes();
            name.push(0);
            archive = archive
                .entry(b'L', "././@LongLink", &name)
                .file(&long[..99], &[1u8; 40_000]);
        }
        let shard = archive.end();
        let dir = tempfile::tempdir().unwrap();
        let uri = saved(&dir, &shard);
        let index = crate::runtime::block_on(tar_index(&uri, &Options::empty())).unwrap();
        let read = tar_members(&uri, &shard).unwrap();
        let names: Vec<&str> = index.members.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, super::tests::names(&read));
        assert!(names[19].starts_with("19/nnn") && names[19].len() == 707);
    }
}
