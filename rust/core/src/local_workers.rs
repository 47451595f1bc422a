//! Local reads (`file://`, `direct://`) on a few blocking workers that pull
//! jobs from one queue: no task and no thread hop per object.
//!
//! How many workers depends on what a read waits for. A `file://` read
//! served from the page cache is CPU work (a copy, and first-touch faults
//! of the fresh landing pages), so it gets one worker per core: more only
//! contend for the same cores and for the kernel's memory locks (4000 x
//! 256 KiB held, on 2 cores: 1.8 GB/s with 8 workers, 3.0 GB/s with 2). An
//! O_DIRECT read waits on the device, so `direct://` keeps the deeper
//! blocking pool, which is what gives a drive its queue depth.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::runtime;

/// Workers for `jobs` local reads, at most `max_in_flight` at once, where
/// `direct` says whether any of them is an O_DIRECT read.
pub(crate) fn workers_for(direct: bool, jobs: usize, max_in_flight: usize) -> usize {
    let depth = match direct {
        true => runtime::blocking_threads(),
        false => runtime::worker_threads(),
    };
    depth.min(max_in_flight).min(jobs).max(1)
}

/// Run `work` on every job on `workers` blocking workers; results come back
/// in no particular order (a job carries its own index when that matters).
/// The first error stops every worker after the job it is on and is
/// returned; so does dropping the future (Ctrl-C, an error elsewhere).
pub(crate) async fn run<J, T, F>(jobs: Vec<J>, workers: usize, work: F) -> Result<Vec<T>>
where
    J: Send + 'static,
    T: Send + 'static,
    F: Fn(J) -> Result<T> + Send + Sync + 'static,
{
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let queue = Arc::new(Mutex::new(jobs.into_iter()));
    let work = Arc::new(work);
    let failed = Arc::new(AtomicBool::new(false));
    let _stop = StopOnDrop(failed.clone());
    let workers = (0..workers.max(1)).map(|_| {
        let (queue, work, failed) = (queue.clone(), work.clone(), failed.clone());
        runtime::blocking(move || {
            let mut out = Vec::new();
            while !failed.load(Ordering::Relaxed) {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some(job) = next else { break };
                match work(job) {
                    Ok(value) => out.push(value),
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
            Ok(out)
        })
    });
    let parts = futures::future::try_join_all(workers).await?;
    Ok(parts.into_iter().flatten().collect())
}

/// Raises a stop flag when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn every_job_runs_once() {
        let out = runtime::block_on(run((0..1000).collect(), 3, |i: u32| Ok(i))).unwrap();
        let mut out = out;
        out.sort_unstable();
        assert_eq!(out, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn the_first_error_stops_the_rest() {
        use std::sync::atomic::AtomicUsize;
        let ran = Arc::new(AtomicUsize::new(0));
        let seen = ran.clone();
        let result = runtime::block_on(run((0..10_000).collect(), 2, move |i: u32| {
            seen.fetch_add(1, Ordering::Relaxed);
            match i {
                10 => Err(Error::InvalidArgument("job 10".into())),
                _ => Ok(i),
            }
        }));
        assert!(matches!(result, Err(Error::InvalidArgument(m)) if m == "job 10"));
        assert!(
            ran.load(Ordering::Relaxed) < 10_000,
            "workers stopped early"
        );
    }

    #[test]
    fn page_cache_reads_get_a_worker_per_core_direct_reads_the_deep_pool() {
        let cores = runtime::worker_threads();
        assert_eq!(workers_for(false, 10_000, 64), cores.min(64));
        assert_eq!(
            workers_for(true, 10_000, 64),
            runtime::blocking_threads().min(64)
        );
        assert_eq!(workers_for(true, 3, 64), 3);
        assert_eq!(workers_for(false, 10_000, 1), 1);
    }
}
