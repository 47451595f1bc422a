//! Locks of one cached object, shared by every process on the machine
//! (released by the kernel when their holder dies, so a killed fetcher
//! never blocks the others).
//!
//! - Fetching: an exclusive open-file-description lock (`fcntl`
//!   `F_OFD_SETLK`) on the entry's `.part` file (see [`super::part`]), held
//!   from "not cached" to the entry's rename, so processes (DataLoader
//!   workers, ranks on one node) that miss the same object at once fetch it
//!   once: the others wait (polling, off any thread), then find it cached.
//! - Reading: a shared `flock` on the entry itself while it is read, only
//!   tried (see [`super::open_entry`]); eviction takes an exclusive one
//!   without waiting, and skips an entry it cannot lock, so an object being
//!   read is never evicted. A mapping of the entry keeps the open file, and
//!   with it the lock, for as long as it lives: a mapped view (tar shards,
//!   `file_mmap`) keeps its entry in use.
//!
//! The two kinds never meet: `flock` and `fcntl` locks are apart in the
//! kernel. That matters because the `.part`, still locked, is renamed onto
//! the entry: as one kind, a reader looking at that moment saw the entry
//! locked and fetched it again, and a child forked while the fetch was in
//! flight (which holds a copy of every descriptor, and so of the lock)
//! kept every reader of the entry waiting until it exited.
//!
//! A fetcher that got the lock of a file renamed or removed meanwhile (its
//! inode no longer at the path) opens it again, so two fetchers never hold
//! two different locks. No lock is ever waited for on a thread
//! ([`fetching`]).

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// `flock(operation)` on `file`: true when taken.
pub(super) fn flock(file: &File, operation: libc::c_int) -> bool {
    // SAFETY: `file` owns an open descriptor; flock only locks it.
    retried(|| unsafe { libc::flock(file.as_raw_fd(), operation) })
}

/// Whether `call` (a libc call returning 0 on success) succeeded, made
/// again while a signal interrupts it. Only libc calls: safe in a forked
/// child.
fn retried(call: impl Fn() -> libc::c_int) -> bool {
    loop {
        if call() == 0 {
            return true;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return false;
        }
    }
}

/// The exclusive fetch lock of the entry whose lock file is `path`, if no
/// other writer holds it now (`None`: one does; call this again later).
/// Never waited for on a thread: the runtime's blocking threads are few,
/// and a thread waiting for another process's fetch could be the one this
/// process needs to finish a fetch that process waits for. Released when
/// dropped.
pub(super) fn fetching(path: &Path) -> std::io::Result<Option<File>> {
    loop {
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path);
        let file = match opened {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let dir = path.parent().ok_or(e)?;
                std::fs::create_dir_all(dir)?;
                continue;
            }
            Err(e) => return Err(e),
        };
        if !write_lock(file.as_raw_fd(), libc::F_OFD_SETLK) {
            let err = std::io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(None),
                _ => Err(err),
            };
        }
        let held = file.metadata()?;
        match std::fs::metadata(path) {
            Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => return Ok(Some(file)),
            // Removed (or renamed onto its entry) before we locked it: lock
            // the file there now.
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
}

/// An exclusive lock on the entry `file` if nobody reads it now.
pub(super) fn unused(file: &File) -> bool {
    flock(file, libc::LOCK_EX | libc::LOCK_NB)
}

/// Whether no writer holds the fetch lock of the `.part` `file` (opened
/// only for reading) now: a shared lock of the same kind, taken while
/// `file` is open.
pub(super) fn unwritten(file: &File) -> bool {
    fcntl_lock(file.as_raw_fd(), libc::F_OFD_SETLK, libc::F_RDLCK)
}

/// An exclusive `fcntl` lock of kind `command` (`F_OFD_SETLK`: of the open
/// file; `F_SETLK`: of the process) on all of `fd` (open for writing), if
/// free now.
fn write_lock(fd: libc::c_int, command: libc::c_int) -> bool {
    fcntl_lock(fd, command, libc::F_WRLCK)
}

/// A `fcntl` lock of type `kind` on all of `fd`, if free now. Only libc
/// calls: safe in a forked child.
fn fcntl_lock(fd: libc::c_int, command: libc::c_int, kind: libc::c_int) -> bool {
    // SAFETY: all-zero is a valid `flock` struct (a whole-file range, and
    // the zero pid that an open-file lock requires).
    let mut range: libc::flock = unsafe { std::mem::zeroed() };
    range.l_type = kind as libc::c_short;
    range.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: `fd` is an open descriptor; the command only locks it.
    retried(|| unsafe { libc::fcntl(fd, command, &range) })
}

/// An exclusive record lock (`fcntl`) on all of `fd`, if no other process
/// holds one now. Unlike `flock`, a record lock belongs to the process,
/// not to the open file: a child forked while it is held does not hold it,
/// so a DataLoader worker forked midway through an eviction cannot keep
/// every other process from evicting for as long as it lives. The process
/// loses it when it closes any descriptor of the file, so only one thread
/// of a process may use the file at a time ([`super::space`] sees to it).
pub(super) fn process_lock(fd: libc::c_int) -> bool {
    write_lock(fd, libc::F_SETLK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fetch_lock_excludes_another_and_a_reader_blocks_eviction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("x.lock");
        let held = fetching(&path).unwrap().expect("free");
        assert!(
            fetching(&path).unwrap().is_none(),
            "a second fetcher is told to wait"
        );
        let other = File::open(&path).unwrap();
        assert!(!unwritten(&other), "held by the fetcher");
        assert!(unused(&other), "a fetch lock is no reader's");
        drop(held);
        assert!(unwritten(&other));
        drop(other);

        let entry = dir.path().join("entry");
        std::fs::write(&entry, b"x").unwrap();
        let reader = File::open(&entry).unwrap();
        assert!(flock(&reader, libc::LOCK_SH));
        assert!(!unused(&File::open(&entry).unwrap()), "read now");
        drop(reader);
        assert!(unused(&File::open(&entry).unwrap()));
    }

    #[test]
    fn an_entry_renamed_from_a_held_part_is_readable_at_once() {
        // Its fetcher renames the `.part` onto the entry still holding the
        // fetch lock (as does a child forked meanwhile, for its lifetime):
        // a reader's lock must not meet it.
        let dir = tempfile::tempdir().unwrap();
        let (part, entry) = (dir.path().join("x.part"), dir.path().join("x"));
        let held = fetching(&part).unwrap().expect("free");
        std::fs::rename(&part, &entry).unwrap();
        let reader = File::open(&entry).unwrap();
        assert!(
            flock(&reader, libc::LOCK_SH | libc::LOCK_NB),
            "read at once"
        );
        drop(reader);
        assert!(unused(&File::open(&entry).unwrap()), "and evictable");
        drop(held);
    }

    #[test]
    fn a_lock_file_removed_or_renamed_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.part");
        let held = fetching(&path).unwrap().expect("free");
        // Its holder renames it onto the entry and lets go.
        std::fs::rename(&path, dir.path().join("x")).unwrap();
        drop(held);
        let got = fetching(&path).unwrap().expect("a new one");
        let at_path = std::fs::metadata(&path).unwrap();
        assert_eq!(got.metadata().unwrap().ino(), at_path.ino());
    }
}
