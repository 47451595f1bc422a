//! What belongs to one process and must not cross a `fork()`: its id,
//! cached without a system call, and cells holding a value per process.
//!
//! A value in a [`per_process`] cell is stamped with the PID that made it.
//! A forked child sees a different PID and makes a fresh one on first use;
//! the parent's is leaked, never dropped and never touched, because the
//! threads and locks it may refer to do not exist in the child. No lock is
//! taken, so a lock held by another thread at fork time cannot hang the
//! child.

use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::sync::Once;

/// A value made by one process, stamped with its PID.
pub type Stamped<T> = (u32, T);

static PID: AtomicU32 = AtomicU32::new(0);

/// Forgets the cached PID; registered to run in every forked child.
extern "C" fn forget_pid() {
    PID.store(0, Ordering::Relaxed);
}

/// This process's ID without a system call after the first (glibc no
/// longer caches it, and a `get` asked three times: about 0.3 us of its
/// 3.6). A forked child forgets the parent's value before anything of it
/// runs, through a `pthread_atfork` handler registered before the first
/// value is cached.
pub fn process_id() -> u32 {
    let cached = PID.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    static FORGET_IN_CHILD: Once = Once::new();
    // SAFETY: registers a handler that only stores to an atomic.
    FORGET_IN_CHILD.call_once(|| unsafe {
        libc::pthread_atfork(None, None, Some(forget_pid));
    });
    let pid = std::process::id();
    PID.store(pid, Ordering::Relaxed);
    pid
}

/// The value in `cell` if this process made it, else a fresh one from
/// `make`, published in its place without taking a lock (the old value,
/// a parent's, is leaked: never dropped, never touched). A fresh value that
/// loses a race to another thread is handed to `discard`.
pub fn per_process<T>(
    cell: &AtomicPtr<Stamped<T>>,
    make: impl Fn() -> T,
    discard: impl Fn(T),
) -> &'static T {
    let pid = process_id();
    loop {
        let current = cell.load(Ordering::Acquire);
        // SAFETY: published values are leaked, never freed.
        if let Some((owner, value)) = unsafe { current.as_ref() } {
            if *owner == pid {
                return value;
            }
        }
        let fresh = Box::into_raw(Box::new((pid, make())));
        match cell.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: just published, never freed.
            Ok(_) => return unsafe { &(*fresh).1 },
            // SAFETY: `fresh` was never shared.
            Err(_) => discard(unsafe { Box::from_raw(fresh) }.1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_child_sees_its_own_process_id() {
        let parent = process_id();
        assert_eq!(parent, std::process::id());
        // SAFETY: the child only compares two numbers and exits.
        let child = unsafe { libc::fork() };
        assert!(child >= 0, "fork failed");
        if child == 0 {
            let own = process_id() == std::process::id() && process_id() != parent;
            // SAFETY: terminate the child at once, skipping the test harness.
            unsafe { libc::_exit(if own { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the child saw its parent's process id"
        );
        assert_eq!(process_id(), parent);
    }
}
