//! The contract: one function per promise, each run on every backend (as
//! object_store's `integration.rs` is). A check takes a [`Backend`] set up
//! with a fresh prefix; where a backend is known to differ, the check asks
//! the backend (`library_writes`, `whole_alignment`, ...) instead of
//! loosening what it asserts for the others.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use s3dlio_core::{ByteRange, Error};

use super::backend::{Backend, MissingContainerListing};

const MIB: usize = 1 << 20;
/// A key with spaces, accented letters and a symbol (U+2713), under a
/// "directory" with a space.
const ODD_KEY: &str = "dir with space/naïve ünïcode ✓.bin";
/// Characters that URLs, query strings and signatures treat specially.
const RESERVED_KEY: &str = "reserved/a+b=c&d;e,f@g$h!'(i)*~.bin";

/// `Err` of the given variant whose message names `uri`.
macro_rules! assert_error {
    ($result:expr, $variant:pat, $uri:expr) => {{
        let uri: &str = $uri;
        match $result {
            Ok(_) => panic!("expected {} naming {uri}, got Ok", stringify!($variant)),
            Err(e) => {
                assert!(
                    matches!(e, $variant),
                    "expected {} for {uri}, got {e:?}",
                    stringify!($variant)
                );
                assert!(
                    e.to_string().contains(uri),
                    "the error does not name {uri}: {e}"
                );
            }
        }
    }};
}

/// `size` bytes of a pattern that differs between seeds and positions.
fn pattern(size: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn hundred() -> Vec<u8> {
    (0u8..100).collect()
}

fn ok<T>(result: s3dlio_core::Result<T>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("{what}: {}", e.full_message()))
}

fn address(bytes: &Bytes) -> usize {
    bytes.as_ptr() as usize
}

// --- get / put ---------------------------------------------------------------

/// Objects of 0, 1, 4097 and 1 MiB + 3 bytes read back whole, the same
/// bytes, in a buffer aligned as the backend promises, and `stat` agrees.
pub fn get_round_trip(b: &Backend) {
    for size in [0, 1, 4097, MIB + 3] {
        let uri = b.uri(&format!("obj-{size}"));
        let data = pattern(size, size as u64);
        b.seed(&uri, data.clone());
        let got = ok(b.get(&uri), &uri);
        assert_eq!(got.len(), size, "{uri}");
        assert!(got == data, "{uri}: other bytes came back");
        if size > 0 {
            assert_eq!(address(&got) % b.whole_alignment(), 0, "{uri} alignment");
        }
        assert_eq!(ok(b.stat(&uri), &uri).size, size as u64, "{uri}");
    }
}

/// `put` through s3dlio, read back. Where the backend takes no writes from
/// s3dlio (fake-gcs-server), the write is refused as a typed error naming
/// the URI, and nothing is left behind.
pub fn put_round_trip(b: &Backend) {
    let uri = b.uri(&format!("put/{ODD_KEY}"));
    let data = pattern(70_000, 9);
    if !b.library_writes() {
        assert_error!(b.put(&uri, data), Error::Backend { .. }, &uri);
        assert!(
            !ok(b.exists(&uri), &uri),
            "{uri}: a refused put left an object"
        );
        return;
    }
    ok(b.put(&uri, data.clone()), &uri);
    assert!(ok(b.get(&uri), &uri) == data);
    assert_eq!(ok(b.stat(&uri), &uri).size, data.len() as u64);
}

/// `put_many` stores every object (read back with `get_many` in another
/// order); refused as a whole, naming a URI, where writes are refused.
pub fn put_many_round_trip(b: &Backend) {
    let items: Vec<(String, Bytes)> = (0..12)
        .map(|i| {
            (
                b.uri(&format!("many/{i:02}")),
                pattern(100 + i, i as u64).into(),
            )
        })
        .collect();
    if !b.library_writes() {
        let err = b
            .put_many(items.clone(), 4)
            .expect_err("put_many is refused");
        assert!(matches!(err, Error::Backend { .. }), "{err:?}");
        assert!(
            items
                .iter()
                .any(|(u, _)| err.to_string().contains(u.as_str())),
            "{err}"
        );
        return;
    }
    ok(b.put_many(items.clone(), 4), "put_many");
    let uris: Vec<&str> = items.iter().rev().map(|(u, _)| u.as_str()).collect();
    let got = ok(b.get_many(&uris, 4), "get_many");
    for ((_, data), bytes) in items.iter().rev().zip(&got) {
        assert_eq!(bytes, data);
    }
    assert_eq!(ok(b.list(&b.uri("many"), true), "list").len(), items.len());
}

/// Writing an existing object replaces it whole, longer or shorter.
pub fn overwrite_replaces(b: &Backend) {
    let uri = b.uri("overwrite.bin");
    for (size, seed) in [(5000, 1), (17, 2), (9000, 3)] {
        let data = pattern(size, seed);
        b.seed(&uri, data.clone());
        assert!(
            ok(b.get(&uri), &uri) == data,
            "{uri} after writing {size} bytes"
        );
        assert_eq!(ok(b.stat(&uri), &uri).size, size as u64);
    }
    assert_eq!(ok(b.list(b.prefix(), true), "list"), [uri]);
}

/// A zero-byte object is an object: read, ranged, described, listed.
pub fn zero_byte_object(b: &Backend) {
    let uri = b.uri("empty");
    b.seed(&uri, Vec::new());
    assert!(ok(b.get(&uri), &uri).is_empty());
    assert!(ok(b.get_range(&uri, 0, None), &uri).is_empty());
    assert!(ok(b.get_range(&uri, 0, Some(10)), &uri).is_empty());
    assert_error!(b.get_range(&uri, 1, None), Error::InvalidRange { .. }, &uri);
    assert_eq!(ok(b.stat(&uri), &uri).size, 0);
    assert!(ok(b.exists(&uri), &uri));
    let metas = ok(b.list_meta(b.prefix(), true), "list_meta");
    assert_eq!(metas.len(), 1);
    assert_eq!((metas[0].uri.as_str(), metas[0].size), (uri.as_str(), 0));
}

// --- ranges --------------------------------------------------------------------

/// The documented range rules: `None` runs to the end, a range past the
/// end is cut at it, `offset == size` (or length 0) is empty, and an
/// offset past the end is `InvalidRange` naming the URI. Ranged buffers
/// start on a 64-byte boundary, whatever the offset.
pub fn range_edges(b: &Backend) {
    let uri = b.uri("range.bin");
    let data = hundred();
    b.seed(&uri, data.clone());
    let cases: [(u64, Option<u64>, &[u8]); 9] = [
        (0, None, &data),
        (37, None, &data[37..]),
        (10, Some(20), &data[10..30]),
        (90, Some(50), &data[90..]),
        (0, Some(1000), &data),
        (3, Some(i64::MAX as u64 - 3), &data[3..]), // the last byte position is i64::MAX - 1
        (100, None, b""),
        (100, Some(5), b""),
        (5, Some(0), b""),
    ];
    for (offset, length, expected) in cases {
        let asked = format!("{uri} offset {offset} length {length:?}");
        let got = ok(b.get_range(&uri, offset, length), &asked);
        assert_eq!(&got[..], expected, "{asked}");
        if !got.is_empty() {
            assert_eq!(address(&got) % 64, 0, "{uri} range at {offset} alignment");
        }
    }
    let huge = b.get_range(&uri, 7, Some(u64::MAX));
    assert_eq!(&ok(huge, &uri)[..], &data[7..], "{uri} length u64::MAX");
    for offset in [101, 1 << 40] {
        assert_error!(
            b.get_range(&uri, offset, None),
            Error::InvalidRange { .. },
            &uri
        );
        assert_error!(
            b.get_range(&uri, offset, Some(1)),
            Error::InvalidRange { .. },
            &uri
        );
    }
}

/// An object larger than the multipart and ranged-read thresholds (set
/// low here: 5 MiB parts, the smallest S3 and GCS take, 1 MiB reads): it is
/// written in parts, read whole in parts, by `get_many`, and as a range
/// that crosses part boundaries, and always the same bytes.
pub fn large_object_in_parts(b: &Backend) {
    let big = b.with_options(&[
        ("S3DLIO_MULTIPART_THRESHOLD", "5242880"),
        ("S3DLIO_MULTIPART_PART_SIZE", "5242880"),
        ("S3DLIO_RANGE_PART_SIZE", "1048576"),
    ]);
    let uri = b.uri("large.bin");
    let size = 11 * MIB + 5;
    let data = pattern(size, 11);
    big.seed(&uri, data.clone());
    let got = ok(big.get(&uri), &uri);
    assert!(got == data, "{uri}: get");
    assert_eq!(address(&got) % b.whole_alignment(), 0);
    let many = ok(big.get_many(&[&uri], 8), &uri);
    assert!(many[0] == data, "{uri}: get_many");
    let (offset, length) = (MIB - 3, 2 * MIB + 7);
    let part = ok(
        big.get_range(&uri, offset as u64, Some(length as u64)),
        &uri,
    );
    assert!(part == data[offset..offset + length], "{uri}: range");
    assert_eq!(ok(big.stat(&uri), &uri).size, size as u64);
}

// --- get_many ------------------------------------------------------------------

/// Payloads come back in input order, a URI given twice is fetched once
/// and shared, an empty request is an empty answer, and
/// `max_in_flight = 0` is refused before any I/O.
pub fn get_many_order_and_duplicates(b: &Backend) {
    for name in ["a", "b", "c"] {
        b.seed(&b.uri(name), name.repeat(3).into_bytes());
    }
    let names = ["c", "a", "b", "a", "c", "c"];
    let uris: Vec<String> = names.iter().map(|n| b.uri(n)).collect();
    for max_in_flight in [1, 64] {
        let got = ok(b.get_many(&uris, max_in_flight), "get_many");
        assert_eq!(got.len(), uris.len());
        for (name, bytes) in names.iter().zip(&got) {
            assert_eq!(&bytes[..], name.repeat(3).as_bytes());
        }
        assert_eq!(
            address(&got[0]),
            address(&got[4]),
            "duplicates share one buffer"
        );
        assert_eq!(
            address(&got[1]),
            address(&got[3]),
            "duplicates share one buffer"
        );
    }
    assert!(ok(b.get_many::<&str>(&[], 4), "empty get_many").is_empty());
    let err = b.get_many(&uris, 0).expect_err("max_in_flight 0");
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
}

/// One missing URI among present ones fails the call as `NotFound` naming
/// that URI (not a neighbour).
pub fn get_many_names_the_missing_uri(b: &Backend) {
    let good = b.uri("good");
    b.seed(&good, b"x".to_vec());
    let missing = b.uri("missing");
    let result = b.get_many(&[good.as_str(), missing.as_str(), good.as_str()], 8);
    assert_error!(result, Error::NotFound { .. }, &missing);
}

/// `get_ranges`: each range as `get_range` reads it (cut at the end, empty
/// at it), in input order, many from one object and from several; a
/// repeated request is read once and shared; a range past the end or of a
/// missing object fails the call naming that URI.
pub fn get_ranges_order_edges_and_errors(b: &Backend) {
    let (a, c) = (b.uri("a"), b.uri("c"));
    let data: Vec<u8> = (0..=255u8).collect();
    b.seed(&a, data.clone());
    b.seed(&c, b"ccc".to_vec());
    let r = |offset, length| ByteRange { offset, length };
    let requests = [
        (a.as_str(), r(10, Some(5))),
        (c.as_str(), ByteRange::FULL),
        (a.as_str(), r(10, Some(5))),
        (a.as_str(), r(250, Some(100))),
        (a.as_str(), r(256, None)),
        (c.as_str(), r(1, Some(1))),
        (a.as_str(), r(0, None)),
    ];
    let expected: [&[u8]; 7] = [
        &data[10..15],
        b"ccc",
        &data[10..15],
        &data[250..],
        b"",
        b"c",
        &data,
    ];
    for max_in_flight in [1, 64] {
        let got = ok(b.get_ranges(&requests, max_in_flight), "get_ranges");
        assert_eq!(got.len(), requests.len());
        for ((want, bytes), (uri, range)) in expected.iter().zip(&got).zip(&requests) {
            assert_eq!(&bytes[..], *want, "{uri} {range:?}");
        }
        assert_eq!(
            address(&got[0]),
            address(&got[2]),
            "repeats share one buffer"
        );
    }
    assert!(ok(b.get_ranges::<&str>(&[], 4), "empty get_ranges").is_empty());
    let err = b.get_ranges(&requests, 0).expect_err("max_in_flight 0");
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    let past = [(c.as_str(), ByteRange::FULL), (a.as_str(), r(257, Some(1)))];
    assert_error!(b.get_ranges(&past, 8), Error::InvalidRange { .. }, &a);
    let missing = b.uri("missing");
    let absent = [
        (a.as_str(), r(0, Some(1))),
        (missing.as_str(), r(0, Some(1))),
    ];
    assert_error!(b.get_ranges(&absent, 8), Error::NotFound { .. }, &missing);
}

// --- list / stat / exists / delete ---------------------------------------------

/// Listing a prefix: sorted URIs of the objects under it as a directory
/// (`tree/` holds `tree/a/1`, not `treetop/x`), all depths by default,
/// direct children only when not recursive, nothing for an absent prefix;
/// `list_meta` gives the same URIs with their sizes.
pub fn list_prefixes_and_nested_keys(b: &Backend) {
    let base = b.uri("tree");
    let keys = ["c", "a/b/2", "a/1", "a/b/c/d/deep.bin"];
    for key in keys {
        b.seed(&format!("{base}/{key}"), key.as_bytes().to_vec());
    }
    b.seed(&b.uri("treetop/x"), b"x".to_vec()); // same leading letters, not under tree/
    let all: Vec<String> = ["a/1", "a/b/2", "a/b/c/d/deep.bin", "c"]
        .iter()
        .map(|k| format!("{base}/{k}"))
        .collect();
    assert_eq!(ok(b.list(&base, true), "recursive"), all);
    assert_eq!(ok(b.list(&format!("{base}/"), true), "trailing slash"), all);
    assert_eq!(
        ok(b.list(&base, false), "direct children"),
        [format!("{base}/c")]
    );
    assert_eq!(
        ok(b.list(&format!("{base}/a"), false), "a/"),
        [format!("{base}/a/1")]
    );
    assert_eq!(
        ok(
            b.list(&format!("{base}/a/b/c"), false),
            "no objects at that level"
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        ok(b.list(&b.uri("nothing-here"), true), "absent prefix"),
        Vec::<String>::new()
    );
    // Each object holds its own key, so its size is the key's length.
    let metas = ok(b.list_meta(&base, true), "list_meta");
    let listed: Vec<(String, u64)> = metas.into_iter().map(|m| (m.uri, m.size)).collect();
    let expected: Vec<(String, u64)> = all
        .iter()
        .map(|u| (u.clone(), (u.len() - base.len() - "/".len()) as u64))
        .collect();
    assert_eq!(listed, expected);
}

/// Listings are sorted by URI (byte order), not by the backend's order.
pub fn list_is_sorted(b: &Backend) {
    let names = ["b", "a", "c10", "c2", "A", "_", "a-b", "a.b"];
    for name in names {
        b.seed(&b.uri(&format!("s/{name}")), name.as_bytes().to_vec());
    }
    let mut expected: Vec<String> = names.iter().map(|n| b.uri(&format!("s/{n}"))).collect();
    expected.sort();
    assert_eq!(ok(b.list(&b.uri("s"), true), "list"), expected);
    let metas = ok(b.list_meta(&b.uri("s"), false), "list_meta");
    assert_eq!(
        metas.into_iter().map(|m| m.uri).collect::<Vec<_>>(),
        expected
    );
}

/// `stat` gives the URI as asked and the size; a missing object is
/// `NotFound` naming it, for `stat`, `get` and `get_range` alike.
pub fn stat_and_missing_objects(b: &Backend) {
    let uri = b.uri("stat.bin");
    b.seed(&uri, vec![b'z'; 1234]);
    let meta = ok(b.stat(&uri), &uri);
    assert_eq!((meta.uri.as_str(), meta.size), (uri.as_str(), 1234));
    let missing = b.uri("not-here.bin");
    assert_error!(b.stat(&missing), Error::NotFound { .. }, &missing);
    assert_error!(b.get(&missing), Error::NotFound { .. }, &missing);
    assert_error!(
        b.get_range(&missing, 0, Some(1)),
        Error::NotFound { .. },
        &missing
    );
}

/// `stat` and `list_meta` describe an object alike: the same URI, size,
/// modification time (set, and about now) and entity tag, except for the
/// quotes around the tag where a backend is known to differ
/// ([`Backend::etag_quoted_by_stat_only`]).
pub fn stat_agrees_with_list_meta(b: &Backend) {
    let uri = b.uri("meta.bin");
    let before = SystemTime::now();
    b.seed(&uri, vec![b'm'; 321]);
    let stat = ok(b.stat(&uri), &uri);
    let listed = ok(b.list_meta(b.prefix(), true), "list_meta");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let listed = &listed[0];
    assert_eq!((&listed.uri, listed.size), (&stat.uri, stat.size));
    assert_eq!(listed.last_modified, stat.last_modified, "{uri}");
    let modified = stat.last_modified.expect("a modification time");
    let slack = Duration::from_secs(60); // clouds give whole seconds
    assert!(
        modified + slack > before && modified < SystemTime::now() + slack,
        "{uri}: modified at {modified:?}, written at {before:?}"
    );
    match (b.etag_quoted_by_stat_only(), &stat.etag, &listed.etag) {
        (false, stat_tag, listed_tag) => assert_eq!(stat_tag, listed_tag, "{uri}"),
        (true, Some(stat_tag), Some(listed_tag)) => {
            assert_eq!(stat_tag, &format!("\"{listed_tag}\""), "{uri}")
        }
        (true, stat_tag, listed_tag) => panic!("{uri}: etags {stat_tag:?}, {listed_tag:?}"),
    }
}

/// `exists` is true only for an object: false before it is written, for
/// another name, and for a prefix that only holds objects.
pub fn exists_true_and_false(b: &Backend) {
    let uri = b.uri("dir/here");
    assert!(!ok(b.exists(&uri), &uri));
    b.seed(&uri, b"1".to_vec());
    assert!(ok(b.exists(&uri), &uri));
    assert!(!ok(b.exists(&b.uri("dir/not-here")), "another name"));
    assert!(!ok(b.exists(&b.uri("dir/her")), "a shorter name"));
    assert!(!ok(b.exists(&b.uri("dir")), "a prefix"));
}

/// A prefix (a local directory) is not an object: reading or describing
/// it is `NotFound`; a URI ending in `/` names no object (`InvalidUri`,
/// for writes too); an object's URI taken as a prefix lists nothing.
pub fn prefix_is_not_an_object(b: &Backend) {
    b.seed(&b.uri("folder/inside.bin"), b"in".to_vec());
    let folder = b.uri("folder");
    assert_error!(b.get(&folder), Error::NotFound { .. }, &folder);
    assert_error!(b.stat(&folder), Error::NotFound { .. }, &folder);
    let slash = b.uri("folder/");
    assert_error!(b.get(&slash), Error::InvalidUri { .. }, &slash);
    assert_error!(b.stat(&slash), Error::InvalidUri { .. }, &slash);
    assert_error!(b.delete(&slash), Error::InvalidUri { .. }, &slash);
    assert_error!(b.exists(&slash), Error::InvalidUri { .. }, &slash);
    if b.library_writes() {
        assert_error!(
            b.put(&slash, b"x".to_vec()),
            Error::InvalidUri { .. },
            &slash
        );
    }
    let object = b.uri("folder/inside.bin");
    // An object's own URI, taken as a prefix, holds nothing.
    assert_eq!(ok(b.list(&object, true), &object), Vec::<String>::new());
}

/// `delete` removes the object (gone for `exists`, `get` and listings)
/// and leaves its neighbours; deleting a missing object is `NotFound`
/// naming it.
pub fn delete_and_delete_missing(b: &Backend) {
    let uri = b.uri("gone");
    let neighbour = b.uri("gone2");
    b.seed(&uri, b"bye".to_vec());
    b.seed(&neighbour, b"stay".to_vec());
    ok(b.delete(&uri), &uri);
    assert!(!ok(b.exists(&uri), &uri));
    assert_error!(b.get(&uri), Error::NotFound { .. }, &uri);
    assert_eq!(ok(b.list(b.prefix(), true), "list"), [neighbour.as_str()]);
    assert_error!(b.delete(&uri), Error::NotFound { .. }, &uri);
    let never = b.uri("never-was");
    assert_error!(b.delete(&never), Error::NotFound { .. }, &never);
    assert!(ok(b.get(&neighbour), &neighbour) == b"stay"[..]);
}

/// A bucket/container that does not exist: reads, `stat` and `delete` are
/// `NotFound` naming the URI, `exists` is false. Listing it is `NotFound`
/// on S3 and Azure, empty on the local schemes (no buckets there), and a
/// backend error on fake-gcs-server ([`Backend::missing_container_listing`]).
pub fn missing_container(b: &Backend) {
    let uri = b.in_missing_container("k.bin");
    assert_error!(b.get(&uri), Error::NotFound { .. }, &uri);
    assert_error!(b.get_range(&uri, 0, Some(4)), Error::NotFound { .. }, &uri);
    assert_error!(b.stat(&uri), Error::NotFound { .. }, &uri);
    assert_error!(b.delete(&uri), Error::NotFound { .. }, &uri);
    assert!(!ok(b.exists(&uri), &uri));
    let prefix = uri.trim_end_matches("/k.bin");
    // No retries: an emulator's 500 would be retried for seconds.
    let listed = b
        .with_options(&[("S3DLIO_MAX_RETRIES", "0")])
        .list(prefix, true);
    match b.missing_container_listing() {
        MissingContainerListing::Empty => assert_eq!(ok(listed, prefix), Vec::<String>::new()),
        MissingContainerListing::NotFound => assert_error!(listed, Error::NotFound { .. }, prefix),
        MissingContainerListing::ServerError => {
            assert_error!(listed, Error::Backend { .. }, prefix)
        }
    }
}

// --- awkward keys ----------------------------------------------------------------

/// Keys with spaces and non-ASCII letters, and keys with characters that
/// URLs treat specially, are read, ranged, described, listed (under their
/// own "directory" too) and deleted by the names they were written with.
pub fn awkward_keys(b: &Backend) {
    for (n, key) in [ODD_KEY, RESERVED_KEY].into_iter().enumerate() {
        let uri = b.uri(&format!("k{n}/{key}"));
        let data = format!("odd name {n}").into_bytes();
        b.seed(&uri, data.clone());
        assert!(ok(b.get(&uri), &uri) == data, "{uri}");
        assert_eq!(&ok(b.get_range(&uri, 4, Some(4)), &uri)[..], b"name");
        assert_eq!(ok(b.stat(&uri), &uri).size, data.len() as u64);
        assert!(ok(b.exists(&uri), &uri));
        let dir = uri
            .rsplit_once('/')
            .map(|(d, _)| d.to_owned())
            .unwrap_or_default();
        assert_eq!(
            ok(b.list(&b.uri(&format!("k{n}")), true), "list"),
            [uri.as_str()]
        );
        assert_eq!(
            ok(b.list(&dir, false), "list its directory"),
            [uri.as_str()]
        );
        let got = ok(b.get_many(&[uri.as_str()], 4), &uri);
        assert!(got[0] == data, "{uri}: get_many");
        ok(b.delete(&uri), &uri);
        assert!(!ok(b.exists(&uri), &uri), "{uri} after delete");
    }
}
