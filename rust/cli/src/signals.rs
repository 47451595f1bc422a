//! SIGTERM and SIGHUP (what `timeout`, Kubernetes and a closed terminal
//! send) stop a command the way Ctrl-C does: the command's future is
//! dropped, which removes every temporary file in flight, and the exit
//! status is 128 + the signal's number.
//!
//! The handlers are installed for the length of one command only and the
//! previous ones put back after it: the command also runs inside a Python
//! process (`s3dlio.cli_main`), which must die of SIGTERM again afterwards.
//! A handler only records the signal in an atomic; the command's select
//! looks at it every [`POLL`] (a handler can do nothing more, safely).

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The signals caught during a command.
const CAUGHT: [libc::c_int; 2] = [libc::SIGTERM, libc::SIGHUP];

/// How often a running command checks for a caught signal.
const POLL: Duration = Duration::from_millis(20);

/// The last signal caught (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// The handlers in place before the first running command installed its
/// own, and how many commands are running (`cli_main` may run in threads).
static INSTALLED: Mutex<(usize, Vec<(libc::c_int, libc::sigaction)>)> = Mutex::new((0, Vec::new()));

extern "C" fn record(signal: libc::c_int) {
    RECEIVED.store(signal, Ordering::SeqCst);
}

/// Catches [`CAUGHT`] while it lives; dropping it puts the previous
/// handlers back once no other command runs.
pub struct Termination(());

impl Termination {
    /// Install the handlers (or join the running commands' ones).
    pub fn catch() -> Self {
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        if installed.0 == 0 {
            RECEIVED.store(0, Ordering::SeqCst);
            installed.1 = CAUGHT.iter().map(|&s| (s, swap_handler(s))).collect();
        }
        installed.0 += 1;
        Self(())
    }

    /// Resolves with the signal's number once one is caught.
    pub async fn received(&self) -> i32 {
        loop {
            match RECEIVED.load(Ordering::SeqCst) {
                0 => tokio::time::sleep(POLL).await,
                signal => return signal,
            }
        }
    }
}

impl Drop for Termination {
    fn drop(&mut self) {
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        installed.0 -= 1;
        if installed.0 == 0 {
            for (signal, previous) in installed.1.drain(..) {
                // SAFETY: `previous` is the action sigaction returned for
                // `signal`; putting it back is what it was made for.
                unsafe { libc::sigaction(signal, &previous, std::ptr::null_mut()) };
            }
        }
    }
}

/// Install [`record`] for `signal`; returns the action it replaces.
fn swap_handler(signal: libc::c_int) -> libc::sigaction {
    // SAFETY: sigaction is plain data; all zeroes is a valid value that
    // the calls below fill in.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = record as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action.sa_mask` is a valid sigset_t to empty; `record` is
    // async-signal-safe (one atomic store); both pointers are valid.
    unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, &mut previous);
    }
    previous
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_signal_is_reported_and_the_old_handler_restored() {
        // SAFETY: reading the current action only.
        let current = || unsafe {
            let mut now: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut now);
            now.sa_sigaction
        };
        let before = current();
        let caught = Termination::catch();
        assert_ne!(current(), before);
        // SAFETY: sends SIGHUP to this process, which `record` handles.
        unsafe { libc::raise(libc::SIGHUP) };
        let signal = s3dlio_core::runtime::block_on(caught.received());
        assert_eq!(signal, libc::SIGHUP);
        drop(caught);
        assert_eq!(current(), before);
    }
}
