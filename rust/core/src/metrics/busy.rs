//! Storage-busy time: how long this process had at least one request in
//! flight, and the same summed over it and the processes forked from it
//! (DataLoader workers), so that a loader's report can tell the time its
//! workers spent on storage from the time they spent on anything else.
//!
//! One word holds the requests in flight (16 bits) and when the count last
//! rose from zero (48 bits of microseconds since the process's clock base:
//! nine years); entering and leaving are a compare-and-swap on it, and a
//! busy stretch that ends adds its length to this process's total and to a
//! shared page. That page is mapped `MAP_SHARED | MAP_ANONYMOUS` the first
//! time anything here is used, so the processes forked after that add to
//! the same word; a spawned process (or one forked before) has a page of
//! its own. A forked child starts with nothing in flight and a process
//! total of zero.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::Relaxed};
use std::sync::{Once, OnceLock};
use std::time::Instant;

const COUNT_SHIFT: u32 = 48;
const START_MASK: u64 = (1 << COUNT_SHIFT) - 1;

/// Requests in flight (high bits) and when the current stretch began (low).
static STATE: AtomicU64 = AtomicU64::new(0);
/// Microseconds of finished busy stretches in this process.
static PROCESS_US: AtomicU64 = AtomicU64::new(0);
/// The word shared with forked children (null until mapped, or where
/// mapping failed: then only this process's total is kept).
static TREE: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn now_us() -> u64 {
    (base().elapsed().as_micros() as u64) & START_MASK
}

extern "C" fn clear_in_child() {
    STATE.store(0, Relaxed);
    PROCESS_US.store(0, Relaxed);
}

/// A fresh page shared with the processes forked from here (null where
/// it cannot be mapped).
fn shared_page() -> *mut AtomicU64 {
    // SAFETY: a fresh anonymous mapping of one page, never unmapped; its
    // first 8 bytes (zeroed by the kernel) are used as an atomic.
    let page = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    match page == libc::MAP_FAILED {
        true => std::ptr::null_mut(),
        false => page.cast(),
    }
}

/// Map the shared word and register the fork handler (once per process
/// image: a forked child keeps both).
fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        base();
        TREE.store(shared_page(), Relaxed);
        // SAFETY: registers a handler that only stores to atomics.
        unsafe { libc::pthread_atfork(None, None, Some(clear_in_child)) };
    });
}

fn tree() -> Option<&'static AtomicU64> {
    // SAFETY: the page is mapped once and never unmapped.
    unsafe { TREE.load(Relaxed).as_ref() }
}

/// A request begins.
pub(crate) fn enter() {
    setup();
    let _ = STATE.fetch_update(Relaxed, Relaxed, |s| {
        Some(match s >> COUNT_SHIFT {
            0 => (1 << COUNT_SHIFT) | now_us(),
            n if n < u64::from(u16::MAX) => s + (1 << COUNT_SHIFT),
            _ => s, // saturated: 65535 requests at once (counted as busy anyway)
        })
    });
}

/// A request ends; the last one in flight ends a busy stretch.
pub(crate) fn leave() {
    let Ok(before) = STATE.fetch_update(Relaxed, Relaxed, |s| match s >> COUNT_SHIFT {
        0 => None, // began before a fork: not this process's
        1 => Some(0),
        _ => Some(s - (1 << COUNT_SHIFT)),
    }) else {
        return;
    };
    if before >> COUNT_SHIFT == 1 {
        let us = now_us().wrapping_sub(before & START_MASK) & START_MASK;
        PROCESS_US.fetch_add(us, Relaxed);
        if let Some(tree) = tree() {
            tree.fetch_add(us, Relaxed);
        }
    }
}

/// The stretch under way now, in microseconds (0 when idle).
fn open_us() -> u64 {
    let s = STATE.load(Relaxed);
    match s >> COUNT_SHIFT {
        0 => 0,
        _ => now_us().wrapping_sub(s & START_MASK) & START_MASK,
    }
}

/// Seconds this process had a request in flight (the stretch under way
/// included); `reset` starts the count again.
pub fn process_busy_s(reset: bool) -> f64 {
    setup();
    let done = if reset {
        PROCESS_US.swap(0, Relaxed)
    } else {
        PROCESS_US.load(Relaxed)
    };
    (done + open_us()) as f64 / 1e6
}

/// Seconds this process and the processes forked from it since it first
/// used this module had requests in flight, each process's stretches added
/// (a stretch still under way in a child is not counted until it ends).
/// Never reset: take differences.
pub fn tree_busy_s() -> f64 {
    setup();
    let shared = tree().map_or_else(|| PROCESS_US.load(Relaxed), |t| t.load(Relaxed));
    (shared + open_us()) as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread::sleep;
    use std::time::Duration;

    /// Run `check` in a forked child (no other thread there counts
    /// requests) with a shared page of its own; true when it passed.
    fn in_a_child(check: fn() -> bool) -> bool {
        setup();
        // SAFETY: the child only maps a page, counts, sleeps, forks and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            TREE.store(shared_page(), Relaxed);
            let code = i32::from(!check());
            // SAFETY: ends the child without running the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waiting for the child forked above.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        status == 0
    }

    fn ms(s: f64) -> u64 {
        (s * 1000.0).round() as u64
    }

    #[test]
    fn overlapping_requests_count_once_and_forked_children_add_to_the_tree() {
        assert!(in_a_child(|| {
            let fresh = process_busy_s(false) == 0.0 && tree_busy_s() == 0.0;
            let t0 = Instant::now();
            enter();
            enter();
            sleep(Duration::from_millis(30));
            leave();
            sleep(Duration::from_millis(30));
            leave();
            let span = ms(t0.elapsed().as_secs_f64());
            let busy = process_busy_s(false);
            sleep(Duration::from_millis(20)); // idle: not busy
            let (idle_busy, tree) = (process_busy_s(false), tree_busy_s());
            // SAFETY: the grandchild only counts, sleeps and exits.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let fresh = process_busy_s(false) == 0.0;
                enter();
                sleep(Duration::from_millis(40));
                leave();
                // SAFETY: ends the grandchild without running exit handlers.
                unsafe { libc::_exit(i32::from(!fresh)) };
            }
            let t1 = Instant::now();
            let mut status = 0;
            // SAFETY: waiting for the grandchild forked above.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            let child_span = ms(t1.elapsed().as_secs_f64());
            let added = ms(tree_busy_s() - tree);
            // Overlapping requests: the 60 ms from the first in to the last
            // out, once (their own 30 + 60 would be more than the span).
            fresh
                && (60..=span).contains(&ms(busy))
                && idle_busy == busy
                && ms(tree) == ms(busy)
                && status == 0
                && (40..=child_span).contains(&added)
                && process_busy_s(true) == busy
                && process_busy_s(false) == 0.0
        }));
    }
}
