//! A forked child that uses the library after its parent did must work:
//! it builds its own runtime instead of waiting on the parent's threads,
//! and its own buffer pool instead of locking the parent's.

use std::time::{Duration, Instant};

use s3dlio_core::runtime::block_on;
use s3dlio_core::Options;

#[test]
fn forked_child_can_fetch_after_parent_did() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("file://{}/x", dir.path().display());
    let opts = Options::empty();
    block_on(s3dlio_core::put(&uri, "payload".into(), &opts)).unwrap();
    assert_eq!(
        block_on(s3dlio_core::get(&uri, &opts)).unwrap().as_ref(),
        b"payload"
    );

    // The parent's pool has an idle slab, and a buffer on loan.
    drop(block_on(s3dlio_core::get(&uri, &opts)).unwrap());
    let held = block_on(s3dlio_core::get(&uri, &opts)).unwrap();
    assert!(s3dlio_core::pool::global().stats().reused >= 1);

    // SAFETY: the child only runs the library and exits without unwinding.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(move || {
            // The parent's buffer is freed, not given to the child's pool.
            drop(held);
            let fresh = s3dlio_core::pool::global().stats();
            if (fresh.made, fresh.reused, fresh.idle) != (0, 0, 0) {
                return false;
            }
            let opts = Options::empty();
            let got = block_on(s3dlio_core::get_many(
                &[uri.as_str(), uri.as_str()],
                4,
                &opts,
            ));
            matches!(got, Ok(v) if v.iter().all(|b| b.as_ref() == b"payload"))
        })
        .unwrap_or(false);
        // SAFETY: terminate the child immediately, skipping the test harness.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    drop(held);
    expect_clean_exit(pid, Duration::from_secs(60), "forked child hung");
}

#[test]
fn forked_child_can_checksum_after_parent_did() {
    // A checksum of a large buffer runs on several threads; a child forked
    // after the parent did one must not wait on threads it does not have.
    let data: Vec<u8> = (0..(40usize << 20)).map(|i| (i % 253) as u8).collect();
    let crc = s3dlio_core::checksum::crc32c(&data);
    // SAFETY: the child only computes and exits without unwinding.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = s3dlio_core::checksum::crc32c(&data) == crc;
        // SAFETY: terminate the child immediately, skipping the test harness.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    expect_clean_exit(
        pid,
        Duration::from_secs(30),
        "forked child hung in the checksum",
    );
}

/// Wait for child `pid` to exit with status 0; past `limit`, kill it and
/// fail with `hung`.
fn expect_clean_exit(pid: libc::pid_t, limit: Duration, hung: &str) {
    let deadline = Instant::now() + limit;
    let mut status = 0;
    loop {
        // SAFETY: plain waitpid on our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if Instant::now() > deadline {
            // SAFETY: kill our own hung child before failing.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{hung}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: {status}"
    );
}
