//! The name of a mapped file in the one way a mapping can fail after it was
//! made: the file truncated in place, a page past its new end touched. The
//! kernel raises SIGBUS for that access, which ends the process; this
//! module's handler first writes which object it was and at which byte, so
//! a DataLoader worker killed by a bus error (which torch reports as a
//! shortage of shared memory) is told apart from one out of `/dev/shm`.
//!
//! Every live [`Mapping`](super::mapped) is registered in a fixed table of
//! atomics (its address range, its file offset and its URI), so the
//! handler reads it without a lock or an allocation. The handler then puts
//! back the action it displaced (torch's worker handler, Python's
//! faulthandler, or the default) and returns: the access faults again and
//! that action ends the process as it would have. The handler is installed
//! with the first mapping of each process, so a forked DataLoader worker,
//! where torch installs its own after the fork, gets it again on top.
//!
//! A table full (more than [`SLOTS`] live mappings) leaves the newest
//! unnamed: the process still ends, with the displaced action's message.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Live mappings that can be named at once.
pub(super) const SLOTS: usize = 1024;

/// One registered mapping; `start == 0` is a free slot.
struct Slot {
    start: AtomicUsize,
    len: AtomicUsize,
    offset: AtomicU64,
    uri: AtomicPtr<u8>,
    uri_len: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)] // the initializer of each slot
const FREE: Slot = Slot {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    offset: AtomicU64::new(0),
    uri: AtomicPtr::new(std::ptr::null_mut()),
    uri_len: AtomicUsize::new(0),
};

static TABLE: [Slot; SLOTS] = [FREE; SLOTS];

/// The process whose handler is installed (0: none yet).
static INSTALLED_IN: AtomicU32 = AtomicU32::new(0);
/// Held while the handler is installed, so two threads install it once.
static INSTALLING: Mutex<()> = Mutex::new(());
/// The action the handler displaced, put back when it runs.
static DISPLACED: AtomicPtr<libc::sigaction> = AtomicPtr::new(std::ptr::null_mut());

/// A mapping named in the table while this lives; its URI's bytes are
/// owned here, so they outlive the slot that points at them.
pub(super) struct Registration {
    slot: Option<usize>,
    _uri: Box<[u8]>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let slot = &TABLE[i];
            slot.uri.store(std::ptr::null_mut(), Ordering::Release);
            slot.len.store(0, Ordering::Release);
            slot.start.store(0, Ordering::Release);
        }
    }
}

/// Name the `len` mapped bytes at `start`, which hold `uri` from byte
/// `offset`, until the registration is dropped (before the unmapping).
pub(super) fn register(start: usize, len: usize, offset: u64, uri: &str) -> Registration {
    install();
    let mut name: Box<[u8]> = uri.as_bytes().into();
    let slot = TABLE.iter().position(|s| {
        s.start
            .compare_exchange(0, start, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    });
    if let Some(i) = slot {
        let s = &TABLE[i];
        s.offset.store(offset, Ordering::Release);
        s.uri_len.store(name.len(), Ordering::Release);
        s.uri.store(name.as_mut_ptr(), Ordering::Release);
        s.len.store(len, Ordering::Release);
    }
    Registration { slot, _uri: name }
}

/// The URI and file offset of the mapped byte at `addr`, if registered.
/// Lock-free and allocation-free: the signal handler calls it.
fn named(addr: usize) -> Option<(&'static [u8], u64)> {
    TABLE.iter().find_map(|s| {
        let start = s.start.load(Ordering::Acquire);
        let len = s.len.load(Ordering::Acquire);
        let uri = s.uri.load(Ordering::Acquire);
        if start == 0 || uri.is_null() || addr < start || addr - start >= len {
            return None;
        }
        let n = s.uri_len.load(Ordering::Acquire);
        let offset = s.offset.load(Ordering::Acquire) + (addr - start) as u64;
        // SAFETY: `uri` points at the `n` bytes a live Registration owns;
        // the mapping that faulted is live, and so is its registration.
        Some((unsafe { std::slice::from_raw_parts(uri, n) }, offset))
    })
}

/// The handler, once in this process (again in a forked child).
fn install() {
    let pid = std::process::id();
    if INSTALLED_IN.load(Ordering::Acquire) == pid {
        return;
    }
    let _one = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if INSTALLED_IN.load(Ordering::Acquire) == pid {
        return;
    }
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value;
    // the handler has the SA_SIGINFO signature.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGBUS, &action, &mut old) != 0 {
            return;
        }
        // Leaked once per process: the handler may run at any time after.
        DISPLACED.store(Box::into_raw(Box::new(old)), Ordering::Release);
    }
    INSTALLED_IN.store(pid, Ordering::Release);
}

/// The text the handler writes for a fault at byte `offset` of `uri`.
fn message(uri: &[u8], offset: u64, out: &mut [u8; 1024]) -> usize {
    let mut at = 0;
    let mut put = |part: &[u8]| {
        let n = part.len().min(out.len() - at);
        out[at..at + n].copy_from_slice(&part[..n]);
        at += n;
    };
    put(b"s3dlio: bus error (SIGBUS) reading the mapped object ");
    put(uri);
    put(b" at byte ");
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = offset;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    put(&digits[i..]);
    put(b": the file was truncated in place while mapped. Replace files that ");
    put(b"are being read (write a new one and rename it), or set ");
    put(b"S3DLIO_FILE_MMAP=false to read them instead of mapping them.\n");
    at
}

extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel hands a valid siginfo to an SA_SIGINFO handler;
    // write(2) and sigaction(2) are async-signal-safe.
    unsafe {
        let addr = (*info).si_addr() as usize;
        if let Some((uri, offset)) = named(addr) {
            let mut out = [0u8; 1024];
            let n = message(uri, offset, &mut out);
            libc::write(libc::STDERR_FILENO, out.as_ptr().cast(), n);
        }
        let displaced = DISPLACED.load(Ordering::Acquire);
        let mut fallback: libc::sigaction = std::mem::zeroed();
        fallback.sa_sigaction = libc::SIG_DFL;
        let restore = if displaced.is_null() {
            &fallback
        } else {
            &*displaced
        };
        // Returning re-runs the access; the restored action takes it.
        libc::sigaction(libc::SIGBUS, restore, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_range_is_named_until_dropped() {
        let at = 0x10_0000usize; // below any mapping the kernel picks
        let r = register(at, 8192, 4096, "file:///data/shard-000.tar");
        let (uri, offset) = named(at + 100).unwrap();
        assert_eq!(uri, b"file:///data/shard-000.tar");
        assert_eq!(offset, 4196);
        assert!(named(at + 8192).is_none());
        assert!(named(at - 1).is_none());
        drop(r);
        assert!(named(at + 100).is_none());
    }

    #[test]
    fn the_message_names_the_object_and_the_byte() {
        let mut out = [0u8; 1024];
        let n = message(b"file:///d/a.tar", 1_234_567, &mut out);
        let text = std::str::from_utf8(&out[..n]).unwrap();
        assert!(text.contains("file:///d/a.tar at byte 1234567:"), "{text}");
        assert!(text.contains("S3DLIO_FILE_MMAP=false"), "{text}");
        assert!(text.ends_with('\n'));
        let long = vec![b'x'; 5000];
        assert_eq!(
            message(&long, 0, &mut out),
            1024,
            "cut, never past the buffer"
        );
    }
}
