//! Recycling of payload-buffer memory.
//!
//! Fresh memory costs a page fault and a zeroed page on first touch, which
//! is slower than the copy that fills it. A [`Pool`] keeps the allocations
//! of dropped buffers (up to a byte budget) and hands them out again, so a
//! loader that drops batch n before fetching batch n + 2 fills memory that
//! is already mapped.
//!
//! Sizes are rounded up to a class (powers of two up to 4 KiB, then four
//! classes per doubling, at most 25% slack). The process-wide pool reuses
//! a slab only for its own class; a best-fit pool (the pinned pool) hands
//! out the smallest idle slab that is big enough, because registering a new
//! slab costs far more than the slack. A pool with [`SlabHooks`] calls them
//! once when a slab is made and once when it is freed (CUDA registration).
//!
//! The process-wide pool keeps up to an eighth of the machine's memory (or
//! of the cgroup's limit), at least 256 MiB, so a loader that holds a
//! large working set and loads it again fills memory it already mapped.
//! What it keeps is not kept for long: a thread frees slabs that stayed
//! idle for [`POOL_IDLE_MS_ENV`] (10 s by default), as jemalloc's decay
//! does, so a process that stops loading gives the memory back.
//!
//! A slab that the process cannot hold is refused, never allocated: the
//! allocator's null (an address-space limit, `RLIMIT_AS`, or more than the
//! kernel's overcommit heuristic allows) and, for a slab of at least
//! [`ROOM_CHECKED`] bytes, a size over the memory available now (the
//! machine's `MemAvailable` plus free swap, or the cgroup's headroom) both
//! fail the request with a reason, after idle slabs were given back and the
//! check tried again. With overcommit the kernel would otherwise grant a
//! 20 GiB slab on a 24 GiB machine that already uses 10 and kill the
//! process when the fill touches it.
//!
//! Pools are stamped with the PID that made them. In a forked child the
//! process-wide pool is replaced (the parent's idle slabs are leaked, never
//! locked), and a slab that comes back to a parent's pool is freed at once
//! without calling its hooks.

//!
//! One concern per file: [`allocator`] (the [`Pool`] and its slabs),
//! `system_memory` (what the machine and the cgroup let the process take)
//! and [`global`] (the process-wide pool, its settings and expiry thread).

pub mod allocator;
pub mod global;
mod system_memory;

pub use allocator::{size_class, Pool, PoolStats, Slab, SlabHooks, HUGE_PAGE, ROOM_CHECKED};
pub use global::{
    default_budget, global, DEFAULT_POOL_BYTES, DEFAULT_POOL_IDLE_MS, HUGE_PAGES_ENV,
    POOL_BYTES_ENV, POOL_IDLE_MS_ENV,
};
