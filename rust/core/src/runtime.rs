//! The one tokio runtime of the process, and the per-process state that
//! must not cross a `fork()`.
//!
//! The runtime (like the cached storage clients, whose connection pools
//! belong to it, see `store`) is stamped with the PID that built it. A
//! forked child sees a different PID and builds fresh ones on first use;
//! the parent's are leaked, never dropped and never touched, because their
//! threads do not exist in the child (see [`crate::process`]). No lock is
//! taken on the fast path, so a lock held by another thread at fork time
//! cannot hang the child.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::process::{per_process, Stamped};

/// Environment variable: number of runtime worker threads.
pub const THREADS_ENV: &str = "S3DLIO_THREADS";
/// Environment variable: most threads doing blocking local file I/O at once.
pub const BLOCKING_THREADS_ENV: &str = "S3DLIO_BLOCKING_THREADS";

/// How long a blocking call waits, after its own work, for the clean-up
/// work it left (see [`spawn_cleanup`]).
const CLEANUP_WAIT: Duration = Duration::from_secs(10);

/// What one process owns: its runtime and the clean-up work still running.
pub(crate) struct ProcessState {
    pub(crate) runtime: Runtime,
    cleanups: Cleanups,
}

/// Work that must finish even when the call that started it was abandoned:
/// clean-up tasks, and abandoned tasks until they are really gone (their
/// futures dropped, so the clean-up their drop starts is counted too).
#[derive(Default)]
struct Cleanups {
    running: AtomicUsize,
    done: tokio::sync::Notify,
}

impl Cleanups {
    fn started(&self) {
        self.running.fetch_add(1, Ordering::AcqRel);
    }

    fn finished(&self) {
        self.running.fetch_sub(1, Ordering::AcqRel);
        self.done.notify_waiters();
    }
}

static CURRENT: AtomicPtr<Stamped<ProcessState>> = AtomicPtr::new(std::ptr::null_mut());

/// The variable `name` when set to a positive integer.
fn positive_env(name: &str) -> Option<usize> {
    crate::env::var(name)
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
}

/// The cores this process may run on (at least 1).
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Thread counts from `S3DLIO_THREADS` (`set`) and the `cores`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Threads {
    workers: usize,
    cpu: usize,
}

impl Threads {
    /// Both counts are `set` when it is; by default, the runtime has a
    /// worker per core but one and CPU-bound work a thread per core.
    ///
    /// The caller's own thread (a training loop, a DataLoader worker's
    /// collate) needs a core too, and an extra worker mostly costs CPU:
    /// with requests in flight, tokio wakes a parked worker to share each
    /// batch of ready ones, a futex wake and two context switches for
    /// little work. On 2 cores against S3 (1000 x 256 KiB), 1 worker takes
    /// 20% less client CPU than 2 at the same throughput; at about 0.46 s
    /// of CPU per GB received, one worker keeps up with some 2 GB/s, more
    /// than the network of a machine that size.
    fn new(set: Option<usize>, cores: usize) -> Self {
        match set {
            Some(n) => Self { workers: n, cpu: n },
            None => Self {
                workers: cores.saturating_sub(1).max(1),
                cpu: cores.max(1),
            },
        }
    }

    /// This process's counts, worked out once: finding the cores reads
    /// cgroup files (about 5 us), too slow for every 4 KiB `get`.
    fn now() -> Self {
        static THREADS: OnceLock<Threads> = OnceLock::new();
        *THREADS.get_or_init(|| Self::new(positive_env(THREADS_ENV), cores()))
    }
}

/// Runtime worker threads, which drive network requests: `S3DLIO_THREADS`,
/// else one fewer than the cores (at least 1).
pub fn worker_threads() -> usize {
    Threads::now().workers
}

/// Threads for CPU-bound work at once (`file://` copies from the page
/// cache, checksums): `S3DLIO_THREADS`, else the cores.
pub fn cpu_threads() -> usize {
    Threads::now().cpu
}

/// Blocking-pool threads (local file I/O): `S3DLIO_BLOCKING_THREADS`, else
/// four per core (at least 8): enough queue depth for NVMe without a
/// thread per object.
pub fn blocking_threads() -> usize {
    positive_env(BLOCKING_THREADS_ENV).unwrap_or_else(|| (4 * cpu_threads()).max(8))
}

/// Check this module's variables ([`THREADS_ENV`], [`BLOCKING_THREADS_ENV`]):
/// each one that is set must be a positive integer, else an
/// `InvalidArgument` error names it. Empty values count as unset.
pub(crate) fn check_env(env: &crate::options::Options) -> crate::error::Result<()> {
    for name in [THREADS_ENV, BLOCKING_THREADS_ENV] {
        let key = name.to_ascii_lowercase();
        if env.get(&key).is_some_and(|v| !v.trim().is_empty()) && env.usize(&key)? == Some(0) {
            return Err(crate::error::Error::InvalidArgument(format!(
                "option {name}=\"0\": expected at least 1"
            )));
        }
    }
    Ok(())
}

#[allow(clippy::disallowed_methods)] // the one place a runtime is built
fn build_state() -> ProcessState {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads())
        .max_blocking_threads(blocking_threads())
        .thread_name("s3dlio-io")
        .enable_all()
        .build()
        .expect("failed to build the s3dlio tokio runtime");
    ProcessState {
        runtime,
        cleanups: Cleanups::default(),
    }
}

/// This process's state, built on first use (again after a fork).
pub(crate) fn state() -> &'static ProcessState {
    // A state that lost the race never ran a task.
    per_process(&CURRENT, build_state, |unused| {
        unused.runtime.shutdown_background()
    })
}

/// The process's runtime.
pub fn runtime() -> &'static Runtime {
    &state().runtime
}

/// Run `fut` to completion on the runtime, blocking this (non-runtime)
/// thread; then wait (up to [`CLEANUP_WAIT`]) for the clean-up work it
/// left, so that a call cancelled by Ctrl-C, or a command line about to
/// exit, does not leave a multipart upload behind.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let state = state();
    let out = state.runtime.block_on(fut);
    if state.cleanups.running.load(Ordering::Acquire) > 0 {
        state.runtime.block_on(cleanups_done(&state.cleanups));
    }
    out
}

/// Run `fut` to completion even if whoever started it is gone (aborting a
/// multipart upload whose future was dropped). [`block_on`] waits for it.
#[allow(clippy::disallowed_methods)] // detached on purpose: it must outlive its caller
pub fn spawn_cleanup<F>(fut: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    /// Counts one running clean-up, even if its task is cancelled.
    struct Running(&'static Cleanups);
    impl Drop for Running {
        fn drop(&mut self) {
            self.0.finished();
        }
    }
    let state = state();
    state.cleanups.started();
    let running = Running(&state.cleanups);
    drop(state.runtime.spawn(async move {
        let _running = running;
        fut.await;
    }));
}

async fn cleanups_done(cleanups: &Cleanups) {
    let deadline = tokio::time::Instant::now() + CLEANUP_WAIT;
    loop {
        let done = cleanups.done.notified();
        if cleanups.running.load(Ordering::Acquire) == 0 {
            return;
        }
        if tokio::time::timeout_at(deadline, done).await.is_err() {
            return;
        }
    }
}

/// Spawn `fut` on the runtime; the task is aborted when the returned
/// handle is dropped, so abandoning a call cancels its I/O. [`block_on`]
/// waits until an aborted task is gone: aborting only asks the runtime to
/// drop the future, and what that drop starts (aborting a multipart
/// upload) must be counted before the call returns.
#[allow(clippy::disallowed_methods)] // the one place tasks are spawned
pub fn spawn<F>(fut: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let state = state();
    let life = Arc::new(TaskLife {
        stage: AtomicU8::new(RUNNING),
        cleanups: &state.cleanups,
    });
    let handle = state.runtime.spawn(Tracked {
        fut,
        _ends: Ended(life.clone()),
    });
    Task { handle, life }
}

/// A task's future and the mark of its end, dropped in that order (fields
/// drop in declaration order): whatever the future's drop starts (a
/// clean-up) is counted before the task stops counting.
struct Tracked<F> {
    fut: F,
    _ends: Ended,
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is structurally pinned: it is never moved out of
        // `Tracked` nor used unpinned, and `Tracked` has no `Unpin` impl or
        // `Drop` impl that could move it.
        unsafe { self.map_unchecked_mut(|t| &mut t.fut) }.poll(cx)
    }
}

const RUNNING: u8 = 0;
const ABANDONED: u8 = 1;
const ENDED: u8 = 2;

/// Where a spawned task is: running, abandoned by its handle (and counted
/// among the clean-ups until its future is dropped), or ended.
struct TaskLife {
    stage: AtomicU8,
    cleanups: &'static Cleanups,
}

/// Dropped with the task's future, however it ends.
struct Ended(Arc<TaskLife>);

impl Drop for Ended {
    fn drop(&mut self) {
        if self.0.stage.swap(ENDED, Ordering::AcqRel) == ABANDONED {
            self.0.cleanups.finished();
        }
    }
}

/// A spawned task that is aborted when dropped.
pub struct Task<T> {
    handle: JoinHandle<T>,
    life: Arc<TaskLife>,
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.handle).poll(cx) {
            Poll::Ready(Ok(v)) => Poll::Ready(v),
            Poll::Ready(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Poll::Ready(Err(e)) => panic!("s3dlio task cancelled unexpectedly: {e}"),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        let life = &self.life;
        if life.stage.load(Ordering::Acquire) == ENDED {
            return; // the usual case: awaited to the end
        }
        life.cleanups.started();
        let abandoned = life
            .stage
            .compare_exchange(RUNNING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        match abandoned {
            true => self.handle.abort(),
            false => life.cleanups.finished(), // it had ended: nothing to wait for
        }
    }
}

/// Run blocking work (local file I/O) on the runtime's blocking pool.
pub async fn blocking<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match runtime().spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("s3dlio blocking task cancelled unexpectedly: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_waits_for_what_an_abandoned_task_cleans_up() {
        use std::sync::atomic::AtomicBool;
        /// Starts a slow clean-up when the task's future is dropped.
        struct OnDrop(Arc<AtomicBool>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                let done = self.0.clone();
                spawn_cleanup(async move {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    done.store(true, Ordering::Release);
                });
            }
        }
        for _ in 0..20 {
            let done = Arc::new(AtomicBool::new(false));
            let guard = OnDrop(done.clone());
            block_on(async move {
                let task = spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                });
                tokio::task::yield_now().await;
                drop(task); // abandoned mid-flight, as by a failing sibling
            });
            assert!(
                done.load(Ordering::Acquire),
                "returned before the clean-up ran"
            );
        }
    }

    #[test]
    fn one_worker_per_core_but_one_unless_set() {
        let t = |workers, cpu| Threads { workers, cpu };
        assert_eq!(Threads::new(None, 1), t(1, 1));
        assert_eq!(Threads::new(None, 2), t(1, 2));
        assert_eq!(Threads::new(None, 16), t(15, 16));
        assert_eq!(Threads::new(Some(3), 2), t(3, 3));
        assert_eq!(Threads::new(Some(1), 16), t(1, 1));
        assert_eq!(runtime().metrics().num_workers(), worker_threads());
    }

    #[test]
    fn one_runtime_per_process() {
        let a = runtime() as *const Runtime;
        let b = runtime() as *const Runtime;
        assert_eq!(a, b);
        assert_eq!(block_on(async { spawn(async { 41 + 1 }).await }), 42);
    }
}
