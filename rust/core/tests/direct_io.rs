//! `direct://`: O_DIRECT reads and writes, unaligned sizes and ranges, and
//! a clear refusal (or opted-in fallback) where the filesystem has no O_DIRECT.

use s3dlio_core::runtime::block_on;
use s3dlio_core::{Error, Options};

#[test]
fn round_trips_unaligned_sizes_and_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::empty();
    for size in [0usize, 1, 4095, 4096, 4097, (1 << 20) + 1] {
        let uri = format!("direct://{}/obj-{size}", dir.path().display());
        let data: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        block_on(s3dlio_core::put(&uri, data.clone().into(), &opts)).unwrap();
        let got = block_on(s3dlio_core::get(&uri, &opts)).unwrap();
        assert_eq!(got.as_ref(), &data[..], "size {size}");
        if size > 0 {
            assert_eq!(
                got.as_ptr() as usize % 4096,
                0,
                "full reads are 4096-aligned"
            );
        }
        if size > 5000 {
            let part = block_on(s3dlio_core::get_range(&uri, 4097, Some(700), &opts)).unwrap();
            assert_eq!(part.as_ref(), &data[4097..4797]);
        }
    }
}

#[test]
fn refusal_is_clear_unless_fallback_is_asked_for_reads() {
    // procfs has no O_DIRECT on any kernel (tmpfs gained it in Linux 6.6).
    let uri = "direct:///proc/version";
    let err = block_on(s3dlio_core::get(uri, &Options::empty())).unwrap_err();
    assert!(matches!(err, Error::DirectIoUnsupported { .. }), "{err}");
    assert!(err.to_string().contains(uri) && err.to_string().contains("O_DIRECT"));
    let mut fallback = Options::empty();
    fallback.extend([("S3DLIO_DIRECT_FALLBACK", "true")]);
    let buffered = block_on(s3dlio_core::get("file:///proc/version", &fallback)).unwrap();
    assert_eq!(
        block_on(s3dlio_core::get(uri, &fallback)).unwrap(),
        buffered
    );
}

/// A ramfs (no O_DIRECT) mounted for the test, where the test may mount.
struct Ramfs(tempfile::TempDir);

impl Ramfs {
    fn mount() -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "ramfs", "s3dlio-test"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(Ramfs(dir))
    }
}

impl Drop for Ramfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn refusal_is_clear_unless_fallback_is_asked_for_writes() {
    let Some(ramfs) = Ramfs::mount() else {
        eprintln!("skipped: cannot mount a ramfs here (needs root)");
        return;
    };
    let uri = format!("direct://{}/x", ramfs.0.path().display());
    let err = block_on(s3dlio_core::put(&uri, "data".into(), &Options::empty())).unwrap_err();
    assert!(matches!(err, Error::DirectIoUnsupported { .. }), "{err}");
    assert!(err.to_string().contains(&uri) && err.to_string().contains("O_DIRECT"));
    assert!(
        std::fs::read_dir(ramfs.0.path()).unwrap().next().is_none(),
        "nothing left behind"
    );
    let mut fallback = Options::empty();
    fallback.extend([("S3DLIO_DIRECT_FALLBACK", "true")]);
    block_on(s3dlio_core::put(&uri, "data".into(), &fallback)).unwrap();
    assert_eq!(
        block_on(s3dlio_core::get(&uri, &fallback))
            .unwrap()
            .as_ref(),
        b"data"
    );
}
