//! The recycling allocator: slabs rounded up to a size class, kept idle
//! up to a byte budget and handed out again (see the pool's module docs).

use std::alloc::{alloc, dealloc, Layout};
use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::system_memory::{available_memory, check_room, human};
use crate::process;

/// With huge-page advice on, slabs this large are 2 MiB aligned and advised.
pub const HUGE_PAGE: usize = 2 << 20;

/// New slabs at least this large are checked against the memory available
/// before they are allocated (reading `/proc/meminfo` costs ~20 us, under
/// 1% of filling 64 MiB).
pub const ROOM_CHECKED: usize = 64 << 20;

/// Called when a pool makes or frees a slab.
pub trait SlabHooks: Send + Sync {
    /// A new slab, before its first use; an error refuses it (it is freed).
    fn made(&self, ptr: *mut u8, len: usize) -> Result<(), String>;
    /// A slab about to be freed.
    fn freeing(&self, ptr: *mut u8, len: usize);
}

/// One allocation owned by (or on loan from) a pool.
pub struct Slab {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: a Slab is the only owner of its allocation.
unsafe impl Send for Slab {}

impl Slab {
    /// Start of the allocation.
    pub fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Usable size (the size class, at least what was asked for).
    pub fn capacity(&self) -> usize {
        self.layout.size()
    }

    /// The allocation's alignment.
    pub fn align(&self) -> usize {
        self.layout.align()
    }
}

/// What a pool has done: counts since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Slabs allocated (a miss).
    pub made: usize,
    /// Requests served by an idle slab (a hit).
    pub reused: usize,
    /// Slabs freed (over budget, trimmed, or the pool dropped).
    pub freed: usize,
    /// Idle slabs now.
    pub idle: usize,
    /// Bytes in idle slabs now.
    pub idle_bytes: usize,
}

/// An idle slab and when it went idle.
struct Parked {
    slab: Slab,
    since: Instant,
}

#[derive(Default)]
struct Idle {
    by_size: BTreeMap<usize, Vec<Parked>>,
    slabs: usize,
    bytes: usize,
}

/// A recycling allocator for buffers (see the module docs).
pub struct Pool {
    pid: u32,
    budget: usize,
    best_fit: bool,
    huge_pages: bool,
    max_idle: Option<Duration>,
    hooks: Option<Box<dyn SlabHooks>>,
    idle: Mutex<Idle>,
    made: AtomicUsize,
    reused: AtomicUsize,
    freed: AtomicUsize,
}

/// The size class of a request: powers of two up to 4 KiB, then four
/// classes per doubling (16 KiB, 20 KiB, 24 KiB, 28 KiB, 32 KiB, ...).
pub fn size_class(len: usize) -> usize {
    let len = len.max(64);
    if len <= 4096 {
        return len.next_power_of_two();
    }
    let top = usize::BITS - 1 - (len - 1).leading_zeros();
    let step = 1usize << (top - 2);
    // Saturates near usize::MAX, where no layout (and no memory) exists.
    len.div_ceil(step).saturating_mul(step)
}

impl Pool {
    /// A pool keeping at most `budget` idle bytes. `best_fit` hands out any
    /// idle slab big enough (smallest first) instead of only the same class.
    pub fn new(budget: usize, best_fit: bool, hooks: Option<Box<dyn SlabHooks>>) -> Arc<Pool> {
        Arc::new(Pool {
            pid: process::process_id(),
            budget,
            best_fit,
            huge_pages: false,
            max_idle: None,
            hooks,
            idle: Mutex::new(Idle::default()),
            made: AtomicUsize::new(0),
            reused: AtomicUsize::new(0),
            freed: AtomicUsize::new(0),
        })
    }

    fn own_process(&self) -> bool {
        self.pid == process::process_id()
    }

    /// A slab of at least `len` bytes aligned to `align`: an idle one when
    /// there is one that fits, else a new one (its hooks called once).
    pub fn take(&self, len: usize, align: usize) -> Result<Slab, String> {
        let class = size_class(len);
        if self.own_process() {
            if let Some(slab) = self.take_idle(class, align) {
                self.reused.fetch_add(1, Ordering::Relaxed);
                return Ok(slab);
            }
        }
        let huge = self.huge_pages && class >= HUGE_PAGE;
        let align = if huge { align.max(HUGE_PAGE) } else { align };
        let layout = Layout::from_size_align(class, align).map_err(|_| {
            format!("{len} bytes cannot be allocated (too large for any address space)")
        })?;
        let ptr = self.allocate(layout, len)?;
        if huge {
            // SAFETY: advice only, on memory this slab owns.
            unsafe { libc::madvise(ptr.as_ptr().cast(), class, libc::MADV_HUGEPAGE) };
        }
        let slab = Slab { ptr, layout };
        if let Some(hooks) = &self.hooks {
            if let Err(e) = hooks.made(ptr.as_ptr(), class) {
                // SAFETY: allocated just above with this layout.
                unsafe { dealloc(ptr.as_ptr(), layout) };
                return Err(e);
            }
        }
        self.made.fetch_add(1, Ordering::Relaxed);
        Ok(slab)
    }

    /// Fresh memory for `layout` (asked for as `len` bytes), or why the
    /// process cannot hold it. A refusal first gives this pool's idle slabs
    /// back and tries once more.
    fn allocate(&self, layout: Layout, len: usize) -> Result<NonNull<u8>, String> {
        let attempt = || -> Result<NonNull<u8>, String> {
            if layout.size() >= ROOM_CHECKED {
                check_room(layout.size(), len, available_memory())?;
            }
            // SAFETY: layout has non-zero size (a class is at least 64).
            NonNull::new(unsafe { alloc(layout) }).ok_or_else(|| {
                format!(
                    "cannot allocate {} for {len} bytes: the system refused the memory \
                     (address-space limit or overcommit)",
                    human(layout.size() as u64)
                )
            })
        };
        attempt().or_else(|first| {
            if self.stats().idle == 0 {
                return Err(first);
            }
            self.trim();
            attempt()
        })
    }

    fn take_idle(&self, class: usize, align: usize) -> Option<Slab> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let upper = if self.best_fit { usize::MAX } else { class };
        let key = idle
            .by_size
            .range(class..=upper)
            .find(|(_, slabs)| slabs.iter().any(|p| p.slab.align() >= align))
            .map(|(&k, _)| k)?;
        let slabs = idle.by_size.get_mut(&key)?;
        // The most recently parked: its pages are the likeliest to be in
        // cache, and the oldest are left to expire.
        let at = slabs.iter().rposition(|p| p.slab.align() >= align)?;
        let slab = slabs.swap_remove(at).slab;
        if slabs.is_empty() {
            idle.by_size.remove(&key);
        }
        idle.slabs -= 1;
        idle.bytes -= slab.capacity();
        Some(slab)
    }

    /// Return a slab: kept while the idle budget allows, else freed.
    pub fn give(&self, slab: Slab) {
        if !self.own_process() {
            // A parent's pool in a forked child: never lock it, never call
            // its hooks (their registration belonged to the parent).
            // SAFETY: the slab was allocated with this layout.
            unsafe { dealloc(slab.ptr.as_ptr(), slab.layout) };
            return;
        }
        let slab = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.bytes + slab.capacity() <= self.budget {
                idle.slabs += 1;
                idle.bytes += slab.capacity();
                let since = Instant::now();
                idle.by_size
                    .entry(slab.capacity())
                    .or_default()
                    .push(Parked { slab, since });
                return;
            }
            slab
        };
        self.free(slab);
    }

    fn free(&self, slab: Slab) {
        if let Some(hooks) = &self.hooks {
            hooks.freeing(slab.ptr.as_ptr(), slab.capacity());
        }
        self.freed.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the slab was allocated with this layout.
        unsafe { dealloc(slab.ptr.as_ptr(), slab.layout) };
    }

    /// Free every idle slab.
    pub fn trim(&self) {
        if !self.own_process() {
            return;
        }
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        for parked in idle.by_size.into_values().flatten() {
            self.free(parked.slab);
        }
    }

    /// Free the slabs idle since before `now` minus the pool's idle limit
    /// (none without one); returns how many were freed.
    pub fn expire(&self, now: Instant) -> usize {
        let Some(max_idle) = self.max_idle else {
            return 0;
        };
        if !self.own_process() {
            return 0;
        }
        let mut expired = Vec::new();
        {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let idle = &mut *idle;
            idle.by_size.retain(|_, slabs| {
                let mut i = 0;
                while i < slabs.len() {
                    if now.saturating_duration_since(slabs[i].since) >= max_idle {
                        expired.push(slabs.swap_remove(i).slab);
                    } else {
                        i += 1;
                    }
                }
                !slabs.is_empty()
            });
            idle.slabs -= expired.len();
            idle.bytes -= expired.iter().map(Slab::capacity).sum::<usize>();
        }
        let count = expired.len();
        for slab in expired {
            self.free(slab);
        }
        count
    }

    /// Counts so far.
    pub fn stats(&self) -> PoolStats {
        let (idle, idle_bytes) = if self.own_process() {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            (idle.slabs, idle.bytes)
        } else {
            (0, 0)
        };
        PoolStats {
            made: self.made.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
            freed: self.freed.load(Ordering::Relaxed),
            idle,
            idle_bytes,
        }
    }

    /// Advise new large slabs for huge pages (or stop).
    pub fn with_huge_pages(mut self: Arc<Self>, on: bool) -> Arc<Self> {
        if let Some(pool) = Arc::get_mut(&mut self) {
            pool.huge_pages = on;
        }
        self
    }

    /// Let slabs stay idle for at most `max_idle` (see [`Pool::expire`]).
    pub fn with_max_idle(mut self: Arc<Self>, max_idle: Option<Duration>) -> Arc<Self> {
        if let Some(pool) = Arc::get_mut(&mut self) {
            pool.max_idle = max_idle;
        }
        self
    }

    /// The idle limit, if any.
    pub fn max_idle(&self) -> Option<Duration> {
        self.max_idle
    }

    /// True when the pool calls hooks for its slabs (e.g. registers them).
    pub fn has_hooks(&self) -> bool {
        self.hooks.is_some()
    }

    /// The idle budget in bytes.
    pub fn budget(&self) -> usize {
        self.budget
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.trim();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::global::{default_budget, DEFAULT_POOL_BYTES};
    use crate::pool::system_memory::{meminfo_available, usable_memory};
    use std::sync::Mutex as StdMutex;

    #[test]
    fn classes_waste_at_most_a_quarter() {
        assert_eq!(size_class(0), 64);
        assert_eq!(size_class(65), 128);
        assert_eq!(size_class(4096), 4096);
        assert_eq!(size_class(4097), 5120);
        assert_eq!(size_class(256 << 10), 256 << 10);
        assert_eq!(size_class(16 << 20), 16 << 20);
        for len in (4097..3 << 20).step_by(7919) {
            let c = size_class(len);
            assert!(c >= len && (c - len) * 4 <= len, "{len} -> {c}");
        }
    }

    #[test]
    fn a_given_slab_is_handed_out_again() {
        let pool = Pool::new(1 << 20, false, None);
        let a = pool.take(1000, 64).unwrap();
        let addr = a.ptr();
        pool.give(a);
        assert_eq!(pool.stats().idle, 1);
        let b = pool.take(1024, 64).unwrap();
        assert_eq!(b.ptr(), addr, "same class reuses the slab");
        let c = pool.take(5000, 64).unwrap();
        assert_ne!(c.ptr(), addr);
        let s = pool.stats();
        assert_eq!((s.made, s.reused, s.idle), (2, 1, 0));
        pool.give(b);
        pool.give(c);
    }

    #[test]
    fn exact_pools_keep_classes_apart_best_fit_pools_do_not() {
        for (best_fit, reuses) in [(false, false), (true, true)] {
            let pool = Pool::new(1 << 20, best_fit, None);
            let big = pool.take(64 << 10, 64).unwrap();
            let addr = big.ptr();
            pool.give(big);
            let small = pool.take(10 << 10, 64).unwrap();
            assert_eq!(small.ptr() == addr, reuses);
            pool.give(small);
        }
    }

    #[test]
    fn alignment_is_honoured_on_reuse() {
        let pool = Pool::new(1 << 20, false, None);
        pool.give(pool.take(8192, 64).unwrap());
        let s = pool.take(8192, 4096).unwrap();
        assert_eq!(s.ptr().as_ptr() as usize % 4096, 0);
        pool.give(s);
    }

    #[test]
    fn large_slabs_are_huge_page_aligned() {
        let pool = Pool::new(0, false, None).with_huge_pages(true);
        let s = pool.take(3 << 20, 64).unwrap();
        assert_eq!(s.ptr().as_ptr() as usize % HUGE_PAGE, 0);
        pool.give(s);
        let plain = Pool::new(0, false, None);
        let s = plain.take(3 << 20, 64).unwrap();
        assert_eq!(s.align(), 64);
        plain.give(s);
    }

    #[test]
    fn over_budget_slabs_are_freed() {
        let pool = Pool::new(4096, false, None);
        let a = pool.take(4096, 64).unwrap();
        let b = pool.take(4096, 64).unwrap();
        pool.give(a);
        pool.give(b);
        let s = pool.stats();
        assert_eq!((s.idle, s.idle_bytes, s.freed), (1, 4096, 1));
        let off = Pool::new(0, false, None);
        off.give(off.take(100, 64).unwrap());
        assert_eq!(off.stats().idle, 0);
    }

    #[test]
    fn slabs_idle_past_the_limit_are_freed_and_the_newest_is_reused() {
        let pool = Pool::new(1 << 20, false, None).with_max_idle(Some(Duration::from_secs(10)));
        let (a, b) = (pool.take(4096, 64).unwrap(), pool.take(4096, 64).unwrap());
        let (old, new) = (a.ptr(), b.ptr());
        pool.give(a);
        let between = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        pool.give(b);
        let newest = pool.take(4096, 64).unwrap();
        assert_eq!(newest.ptr(), new, "the most recently parked slab first");
        pool.give(newest);
        assert_eq!(pool.expire(Instant::now()), 0, "nothing is 10 s old");
        // `old` went idle before `between`; the newer one after it.
        assert_eq!(pool.expire(between + Duration::from_secs(10)), 1);
        let s = pool.stats();
        assert_eq!((s.idle, s.idle_bytes, s.freed), (1, 4096, 1));
        let left = pool.take(4096, 64).unwrap();
        assert_ne!(left.ptr(), old);
        pool.give(left);
        let keep = Pool::new(1 << 20, false, None);
        keep.give(keep.take(4096, 64).unwrap());
        assert_eq!(keep.expire(Instant::now() + Duration::from_secs(3600)), 0);
    }

    #[test]
    fn the_default_budget_is_an_eighth_of_memory_at_least_256_mib() {
        assert_eq!(default_budget(None), DEFAULT_POOL_BYTES);
        assert_eq!(default_budget(Some(1 << 30)), DEFAULT_POOL_BYTES);
        assert_eq!(default_budget(Some(24 << 30)), 3 << 30);
        assert!(usable_memory().is_some_and(|m| m > 0));
    }

    #[test]
    fn a_slab_larger_than_the_memory_available_is_refused() {
        let text = "MemTotal: 24683652 kB\nMemAvailable:   1048576 kB\nSwapFree: 1024 kB\n";
        assert_eq!(meminfo_available(text), Some((1 << 30) + (1 << 20)));
        assert_eq!(meminfo_available("MemTotal: 1 kB\n"), None);
        assert!(check_room(1 << 30, 1 << 30, Some(2 << 30)).is_ok());
        assert!(check_room(1 << 30, 1 << 30, None).is_ok());
        let why = check_room(64 << 30, (64 << 30) - 1, Some(22 << 30)).unwrap_err();
        assert!(
            why.contains("64.0 GiB") && why.contains("22.0 GiB"),
            "{why}"
        );
        let pool = Pool::new(0, false, None);
        let why = pool.take(usize::MAX - 10, 64).err().unwrap();
        assert!(why.contains("cannot be allocated"), "{why}");
        let huge = usize::try_from(available_memory().unwrap() * 2).unwrap();
        assert!(pool.take(huge, 64).err().unwrap().contains("available"));
        assert_eq!(pool.stats().made, 0);
    }

    #[derive(Default)]
    struct Recorder(StdMutex<Vec<(&'static str, usize, usize)>>);

    impl SlabHooks for Arc<Recorder> {
        fn made(&self, ptr: *mut u8, len: usize) -> Result<(), String> {
            self.0.lock().unwrap().push(("made", ptr as usize, len));
            Ok(())
        }
        fn freeing(&self, ptr: *mut u8, len: usize) {
            self.0.lock().unwrap().push(("freeing", ptr as usize, len));
        }
    }

    #[test]
    fn hooks_run_once_per_slab() {
        let rec = Arc::new(Recorder::default());
        let pool = Pool::new(64 << 20, true, Some(Box::new(rec.clone())));
        for _ in 0..5 {
            let s = pool.take(3 << 20, 4096).unwrap();
            pool.give(s);
        }
        assert_eq!(rec.0.lock().unwrap().len(), 1);
        drop(pool);
        let log = rec.0.lock().unwrap().clone();
        assert_eq!(log.len(), 2);
        assert_eq!((log[0].0, log[1].0), ("made", "freeing"));
        assert_eq!((log[0].1, log[0].2), (log[1].1, log[1].2));
    }

    struct Refuse;

    impl SlabHooks for Refuse {
        fn made(&self, _: *mut u8, _: usize) -> Result<(), String> {
            Err("no".into())
        }
        fn freeing(&self, _: *mut u8, _: usize) {
            unreachable!("a refused slab is never freed through the hooks")
        }
    }

    #[test]
    fn a_refused_slab_is_an_error() {
        let pool = Pool::new(1 << 20, true, Some(Box::new(Refuse)));
        assert_eq!(pool.take(100, 64).err().as_deref(), Some("no"));
        assert_eq!(pool.stats().made, 0);
    }
}
