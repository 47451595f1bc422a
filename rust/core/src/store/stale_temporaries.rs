//! Temporary files that killed writers left behind.
//!
//! A local write goes to `.s3dlio-tmp.NAME.PID.N` beside its destination
//! and is renamed into place; its writer holds an `flock` on the file
//! while it writes (see [`super::local`]). SIGKILL or a power cut leaves
//! the file. One is stale, and removed here, only when the process its name
//! carries no longer runs on this machine, the file belongs to this user,
//! and nobody holds its lock (a writer in another PID namespace, or on
//! another machine sharing the folder, would).

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::local::TMP_PREFIX;
use crate::error::{Error, Result};

/// The process id in a temporary name `.s3dlio-tmp.NAME.PID.N`.
fn writer_pid(file_name: &[u8]) -> Option<libc::pid_t> {
    let rest = file_name.strip_prefix(TMP_PREFIX.as_bytes())?;
    let mut fields = rest.rsplitn(3, |&b| b == b'.');
    let (counter, pid, _name) = (fields.next()?, fields.next()?, fields.next()?);
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    if !digits(counter) || !digits(pid) {
        return None;
    }
    std::str::from_utf8(pid).ok()?.parse().ok()
}

/// True when no process `pid` runs on this machine.
fn process_is_gone(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    let status = unsafe { libc::kill(pid, 0) };
    status != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// How long an unlockable temporary file (a filesystem without `flock`)
/// of a gone process must have been left untouched to count as stale: a
/// writer on another machine sharing the directory could own it.
const STALE_UNLOCKED_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Is the temporary file at `path`, named for the gone process, stale?
/// Only when it is a regular file of this user and no one holds its lock
/// (a writer on another machine sharing the directory would); where the
/// filesystem has no locks, when untouched for [`STALE_UNLOCKED_AFTER`].
fn is_stale(path: &Path) -> bool {
    let Ok(file) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    else {
        return false;
    };
    let Ok(meta) = file.metadata() else {
        return false;
    };
    // SAFETY: geteuid has no preconditions.
    if !meta.is_file() || meta.uid() != unsafe { libc::geteuid() } {
        return false;
    }
    // SAFETY: `file` owns the descriptor; the lock is dropped with it.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return true;
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return false;
    }
    meta.modified()
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age >= STALE_UNLOCKED_AFTER)
}

/// Remove the temporary files in `dir` that writers killed with SIGKILL
/// (or a power cut) left: named `.s3dlio-tmp.NAME.PID.N` by a process that
/// no longer runs here, owned by this user, and not locked by a live
/// writer (see [`is_stale`]). Returns how many were removed; a missing
/// directory has none.
pub fn remove_stale_temporaries(dir: &Path) -> Result<usize> {
    let uri = format!("file://{}", dir.display());
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::from_io(&uri, e)),
    };
    let own = std::process::id();
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| Error::from_io(&uri, e))?;
        let Some(pid) = writer_pid(entry.file_name().as_bytes()) else {
            continue;
        };
        let path = entry.path();
        if pid as u32 != own && process_is_gone(pid) && is_stale(&path) {
            match fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(Error::from_io(&uri, e)),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use super::super::local::Staged;
    use super::*;

    #[test]
    fn the_writer_of_a_temporary_name_is_read_back() {
        let staged = Staged::beside("file://x", "/tmp/a.b.c").unwrap();
        let name = staged.tmp.file_name().unwrap().as_bytes().to_owned();
        assert_eq!(writer_pid(&name), Some(std::process::id() as libc::pid_t));
        assert_eq!(writer_pid(b".s3dlio-tmp.x.12.3"), Some(12));
        assert_eq!(writer_pid(b".s3dlio-tmp.12.3"), None, "no name part");
        assert_eq!(writer_pid(b".s3dlio-tmp.x.1a.3"), None);
        assert_eq!(writer_pid(b"x.12.3"), None);
    }

    /// A process id that no longer runs (a child that has exited).
    fn gone_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    #[test]
    fn only_unlocked_temporaries_of_gone_processes_are_stale() {
        let dir = tempfile::tempdir().unwrap();
        let gone = gone_pid();
        let path = |name: String| dir.path().join(name);
        let stale = path(format!("{TMP_PREFIX}a.bin.{gone}.0"));
        let locked = path(format!("{TMP_PREFIX}b.bin.{gone}.1"));
        let live = path(format!("{TMP_PREFIX}c.bin.{}.2", std::process::id()));
        let other = path("d.bin.1.2".to_owned());
        for p in [&stale, &locked, &live, &other] {
            fs::write(p, b"partial").unwrap();
        }
        let holder = File::open(&locked).unwrap();
        // SAFETY: takes a lock on a descriptor `holder` owns.
        assert_eq!(unsafe { libc::flock(holder.as_raw_fd(), libc::LOCK_EX) }, 0);

        assert_eq!(remove_stale_temporaries(dir.path()).unwrap(), 1);
        assert!(!stale.exists());
        assert!(locked.exists() && live.exists() && other.exists());
        drop(holder);
        assert_eq!(remove_stale_temporaries(dir.path()).unwrap(), 1);
        assert!(!locked.exists());
        let missing = dir.path().join("missing");
        assert_eq!(remove_stale_temporaries(&missing).unwrap(), 0);
    }
}
