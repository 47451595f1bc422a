//! The process-wide pool behind every buffer: its budget, idle limit and
//! huge-page advice from the environment, made on first use (again after
//! a fork), and the thread that frees what stayed idle too long.

use std::sync::atomic::AtomicPtr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::allocator::Pool;
use super::system_memory::usable_memory;
use crate::process::{per_process, Stamped};

/// Environment variable: idle bytes the process-wide pool keeps (0 disables it).
pub const POOL_BYTES_ENV: &str = "S3DLIO_POOL_BYTES";
/// The least default for [`POOL_BYTES_ENV`]; the default is an eighth of
/// the memory the process may use when that is more (see [`default_budget`]).
pub const DEFAULT_POOL_BYTES: usize = 256 << 20;
/// Environment variable: milliseconds a slab may stay idle in the
/// process-wide pool before it is freed (0: kept until the budget needs room).
pub const POOL_IDLE_MS_ENV: &str = "S3DLIO_POOL_IDLE_MS";
/// Default for [`POOL_IDLE_MS_ENV`].
pub const DEFAULT_POOL_IDLE_MS: u64 = 10_000;
/// Environment variable: `true` advises slabs of 2 MiB and more for
/// transparent huge pages. Off by default: in a process of its own it
/// makes first-touch of 64 x 16 MiB 1.5x faster (5.1 vs 3.4 GB/s), but
/// right after other processes freed memory it swings between 1.2 and
/// 5.5 GB/s, while 4 KiB pages stay at 3.5.
pub const HUGE_PAGES_ENV: &str = "S3DLIO_HUGE_PAGES";

static GLOBAL: AtomicPtr<Stamped<Arc<Pool>>> = AtomicPtr::new(std::ptr::null_mut());

/// The default idle budget for a process that may use `memory` bytes:
/// an eighth of it, at least [`DEFAULT_POOL_BYTES`].
pub fn default_budget(memory: Option<u64>) -> usize {
    let eighth = memory.map_or(0, |m| usize::try_from(m / 8).unwrap_or(usize::MAX));
    eighth.max(DEFAULT_POOL_BYTES)
}

/// The process-wide pool as the environment configures it, with its
/// expiry thread started.
fn global_from_env() -> Arc<Pool> {
    let env = crate::options::Options::from_env();
    let budget = env
        .bytes(&POOL_BYTES_ENV.to_ascii_lowercase())
        .ok()
        .flatten()
        .map_or_else(
            || default_budget(usable_memory()),
            |b| usize::try_from(b).unwrap_or(usize::MAX),
        );
    let huge = env
        .bool(&HUGE_PAGES_ENV.to_ascii_lowercase())
        .ok()
        .flatten()
        .unwrap_or(false);
    let idle_ms = env
        .usize(&POOL_IDLE_MS_ENV.to_ascii_lowercase())
        .ok()
        .flatten()
        .map_or(DEFAULT_POOL_IDLE_MS, |ms| ms as u64);
    let max_idle = (idle_ms > 0).then(|| Duration::from_millis(idle_ms));
    let pool = Pool::new(budget, false, None)
        .with_huge_pages(huge)
        .with_max_idle(max_idle);
    start_expiry(Arc::downgrade(&pool), max_idle);
    pool
}

/// A thread that frees the pool's expired slabs a few times per idle
/// limit, until the pool is gone (a thread does not outlive a fork: the
/// child's pool starts its own).
fn start_expiry(pool: Weak<Pool>, max_idle: Option<Duration>) {
    let Some(max_idle) = max_idle else {
        return;
    };
    let tick = (max_idle / 4).max(Duration::from_millis(5));
    let spawned = std::thread::Builder::new()
        .name("s3dlio-pool-expiry".into())
        .spawn(move || loop {
            std::thread::sleep(tick);
            let Some(pool) = pool.upgrade() else {
                return;
            };
            pool.expire(Instant::now());
        });
    // Without the thread, idle slabs are still bounded by the budget.
    drop(spawned);
}

/// The process-wide pool behind every payload buffer (made on first use,
/// again after a fork), with [`POOL_BYTES_ENV`] as its budget,
/// [`POOL_IDLE_MS_ENV`] as its idle limit and [`HUGE_PAGES_ENV`] deciding
/// huge-page advice.
pub fn global() -> &'static Arc<Pool> {
    per_process(&GLOBAL, global_from_env, drop)
}
