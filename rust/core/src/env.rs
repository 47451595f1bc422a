//! Reads of the process environment, made where nothing can change it.
//!
//! `getenv` is not safe against a concurrent `setenv`/`unsetenv`: the
//! array it walks can be moved and freed under it. Rust's own lock does not
//! help when the writer is not Rust: Python's `os.environ` calls `putenv`
//! and `unsetenv` with the GIL held, and the prefetch thread of a loader or
//! `torch.distributed`'s set-up do that while s3dlio builds a client with
//! the GIL released (a segfault seen about one run in eight under stress).
//! So every read here, and every construction that reads the environment
//! on its own (object_store's builders, reqwest's system proxies), runs
//! inside [`guarded`], which an embedding installs with [`set_guard`]: the
//! Python binding's guard holds the GIL. Without one, reads are direct
//! (the command line has no other writer).

use std::sync::OnceLock;

/// Runs the read it is given while writers of the environment are held off.
pub type Guard = fn(&mut dyn FnMut());

static GUARD: OnceLock<Guard> = OnceLock::new();

/// Install the guard of this process (the first one set stays).
pub fn set_guard(guard: Guard) {
    let _ = GUARD.set(guard);
}

/// `read()`, run under the installed guard. It must not wait on anything
/// the guard's holders may wait on (a lock held while holding the GIL).
pub fn guarded<T>(read: impl FnOnce() -> T) -> T {
    let Some(guard) = GUARD.get() else {
        return read();
    };
    let mut read = Some(read);
    let mut out = None;
    guard(&mut || out = read.take().map(|read| read()));
    out.expect("the environment guard ran the read")
}

/// The variable `name`, if set to valid UTF-8.
pub fn var(name: &str) -> Option<String> {
    guarded(|| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_return_what_the_read_returns() {
        assert_eq!(guarded(|| 7), 7);
        assert_eq!(var("S3DLIO_SURELY_UNSET_VARIABLE"), None);
    }
}
