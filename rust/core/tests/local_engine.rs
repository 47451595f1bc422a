//! The fetch engine end to end on file:// (no server needed).

use s3dlio_core::runtime::block_on;
use s3dlio_core::{buffer::ALIGN, Error, Options};

fn uri(dir: &tempfile::TempDir, name: &str) -> String {
    format!("file://{}/{name}", dir.path().display())
}

#[test]
fn put_get_round_trip_is_aligned() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::empty();
    for size in [0usize, 1, 4097, 1 << 20] {
        let u = uri(&dir, &format!("obj-{size}"));
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        block_on(s3dlio_core::put(&u, data.clone().into(), &opts)).unwrap();
        let got = block_on(s3dlio_core::get(&u, &opts)).unwrap();
        assert_eq!(got.as_ref(), &data[..]);
        if size > 0 {
            assert_eq!(got.as_ptr() as usize % ALIGN, 0);
        }
    }
}

#[test]
fn get_many_keeps_order_dedupes_and_handles_empty() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::empty();
    let items: Vec<(String, bytes::Bytes)> = (0..1000)
        .map(|i| (uri(&dir, &format!("d/{i:04}")), format!("obj-{i}").into()))
        .collect();
    block_on(s3dlio_core::put_many(items.clone(), 16, &opts)).unwrap();
    let mut uris: Vec<String> = items.iter().rev().map(|(u, _)| u.clone()).collect();
    uris.push(uris[3].clone());
    let got = block_on(s3dlio_core::get_many(&uris, 64, &opts)).unwrap();
    assert_eq!(got.len(), uris.len());
    for (u, b) in uris.iter().zip(&got) {
        let i: usize = u.rsplit('/').next().unwrap().parse().unwrap();
        assert_eq!(b.as_ref(), format!("obj-{i}").as_bytes());
    }
    // A duplicate shares the one fetched allocation.
    assert_eq!(got[3].as_ptr(), got[1000].as_ptr());
    let none: Vec<String> = Vec::new();
    assert!(block_on(s3dlio_core::get_many(&none, 4, &opts))
        .unwrap()
        .is_empty());
}

#[test]
fn get_many_names_the_missing_uri_and_rejects_bad_ones_before_io() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::empty();
    let good = uri(&dir, "good");
    block_on(s3dlio_core::put(&good, "x".into(), &opts)).unwrap();
    let missing = uri(&dir, "missing");
    let err = block_on(s3dlio_core::get_many(
        &[good.clone(), missing.clone()],
        8,
        &opts,
    ))
    .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    assert!(err.to_string().contains(&missing));
    let err = block_on(s3dlio_core::get_many(&[good, "ftp://x/y".into()], 8, &opts)).unwrap_err();
    assert!(matches!(err, Error::InvalidUri { .. }));
    let err = block_on(s3dlio_core::get_many(&["file:///x"], 0, &opts)).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)));
}

#[test]
fn ranges_follow_the_documented_rules() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::empty();
    let u = uri(&dir, "r");
    block_on(s3dlio_core::put(
        &u,
        (0u8..100).collect::<Vec<_>>().into(),
        &opts,
    ))
    .unwrap();
    let range = |o, l| block_on(s3dlio_core::get_range(&u, o, l, &opts));
    assert_eq!(range(10, Some(5)).unwrap().as_ref(), &[10, 11, 12, 13, 14]);
    assert_eq!(range(95, Some(50)).unwrap().len(), 5);
    assert_eq!(range(100, None).unwrap().len(), 0);
    assert!(matches!(range(101, None), Err(Error::InvalidRange { .. })));
}

#[test]
fn list_stat_exists_delete() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::empty();
    for name in ["a/1", "a/b/2", "c"] {
        block_on(s3dlio_core::put(&uri(&dir, name), "x".into(), &opts)).unwrap();
    }
    let root = format!("file://{}", dir.path().display());
    let all = block_on(s3dlio_core::list(&root, true, &opts)).unwrap();
    assert_eq!(
        all,
        vec![uri(&dir, "a/1"), uri(&dir, "a/b/2"), uri(&dir, "c")]
    );
    let top = block_on(s3dlio_core::list(&root, false, &opts)).unwrap();
    assert_eq!(top, vec![uri(&dir, "c")]);
    assert_eq!(
        block_on(s3dlio_core::stat(&uri(&dir, "c"), &opts))
            .unwrap()
            .size,
        1
    );
    assert!(block_on(s3dlio_core::exists(&uri(&dir, "c"), &opts)).unwrap());
    block_on(s3dlio_core::delete(&uri(&dir, "c"), &opts)).unwrap();
    assert!(!block_on(s3dlio_core::exists(&uri(&dir, "c"), &opts)).unwrap());
    let err = block_on(s3dlio_core::delete(&uri(&dir, "c"), &opts)).unwrap_err();
    assert!(err.is_not_found());
}

#[test]
fn large_reads_split_across_threads_arrive_whole_and_in_order() {
    // Sizes around the split part (8 MiB) with odd tails, read whole, as a
    // range, through get, get_local_now, and get_many and get_batch of one
    // (which split too: a run with fewer jobs than cores).
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::empty();
    for size in [(16 << 20) + 12_345, 40 << 20, (8 << 20) - 1] {
        let u = uri(&dir, &format!("large-{size}"));
        let data: Vec<u8> = (0..size)
            .map(|i| (i % 251) as u8 ^ (i >> 20) as u8)
            .collect();
        std::fs::write(u.trim_start_matches("file://"), &data).unwrap();
        let splits = s3dlio_core::split_reads();
        let got = block_on(s3dlio_core::get(&u, &opts)).unwrap();
        assert!(got.as_ref() == &data[..], "get of {size}");
        let cores = s3dlio_core::runtime::cpu_threads();
        let split = cores > 1 && size >= 16 << 20;
        assert_eq!(s3dlio_core::split_reads() > splits, split, "split {size}");
        assert_eq!(got.as_ptr() as usize % ALIGN, 0);
        let now = s3dlio_core::fetch::get_local_now(&u, s3dlio_core::ByteRange::FULL, &opts)
            .unwrap()
            .unwrap();
        assert!(now.as_ref() == &data[..], "get_local_now of {size}");
        let (offset, length) = (4097u64, (size as u64) - 10_000);
        let part = block_on(s3dlio_core::get_range(&u, offset, Some(length), &opts)).unwrap();
        let want = &data[offset as usize..(offset + length) as usize];
        assert!(part.as_ref() == want, "range of {size}");
        let many = block_on(s3dlio_core::get_many(std::slice::from_ref(&u), 8, &opts)).unwrap();
        assert!(many[0].as_ref() == &data[..], "get_many of {size}");
        // A batch row is split the same way when the batch has fewer rows
        // than cores (a pinned batch of a few large objects).
        let splits = s3dlio_core::split_reads();
        let one = std::slice::from_ref(&u);
        let batch = block_on(s3dlio_core::get_batch(one, None, 8, &opts)).unwrap();
        assert!(batch.item(0).as_ref() == &data[..], "get_batch of {size}");
        assert_eq!(
            s3dlio_core::split_reads() > splits,
            split,
            "batch split {size}"
        );
    }
    let gone = uri(&dir, "gone");
    let err = block_on(s3dlio_core::get(&gone, &opts)).unwrap_err();
    assert!(err.to_string().contains(&gone), "{err}");
}
