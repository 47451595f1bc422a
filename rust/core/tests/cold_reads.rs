//! file:// reads of data that is not in the page cache: the cached-only
//! read reports a miss, the data is read again blocking (with the worker's
//! CPU permit handed on meanwhile), and every byte arrives.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;

use s3dlio_core::runtime::block_on;
use s3dlio_core::Options;

const SIZE: usize = 256 << 10;

fn content(i: usize) -> Vec<u8> {
    (0..SIZE).map(|j| ((i * 31 + j * 7) % 251) as u8).collect()
}

/// Drop the file's clean pages from the page cache.
fn evict(path: &Path) {
    let file = File::open(path).unwrap();
    // SAFETY: plain advice on an open descriptor.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0);
}

/// Whether a cached-only read of `path` reports a miss.
fn misses(path: &Path) -> bool {
    let file = File::open(path).unwrap();
    let mut byte = [0u8; 1];
    let iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: `iov` describes one writable byte.
    let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, 0, libc::RWF_NOWAIT) };
    n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN)
}

#[test]
fn evicted_files_are_read_whole_through_the_miss_path() {
    // On disk (not a tmpfs /tmp), so that eviction is real.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let paths: Vec<_> = (0..64)
        .map(|i| dir.path().join(format!("{i:03}")))
        .collect();
    for (i, path) in paths.iter().enumerate() {
        let mut f = File::create(path).unwrap();
        f.write_all(&content(i)).unwrap();
        f.sync_all().unwrap();
    }
    // Eviction can leave a page that another CPU still holds for a moment
    // (seen about one run in three): evict again until the miss shows.
    let evicted = (0..20).any(|_| {
        paths.iter().for_each(|p| evict(p));
        misses(&paths[0]) || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            false
        }
    });
    assert!(
        evicted,
        "this filesystem kept the pages or cannot tell a cache miss; the test needs both"
    );
    let uris: Vec<String> = paths
        .iter()
        .map(|p| format!("file://{}", p.display()))
        .collect();
    let got = block_on(s3dlio_core::get_many(&uris, 64, &Options::empty())).unwrap();
    for (i, bytes) in got.iter().enumerate() {
        assert_eq!(bytes.as_ref(), &content(i)[..], "object {i}");
    }
    for path in &paths {
        evict(path);
    }
    let batch = block_on(s3dlio_core::get_batch(&uris, None, 64, &Options::empty())).unwrap();
    for i in 0..paths.len() {
        assert_eq!(batch.item(i).as_ref(), &content(i)[..], "row {i}");
    }
}
