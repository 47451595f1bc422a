//! CRC32C of large buffers, computed in parallel chunks (rayon) and
//! combined, so checksumming a multi-GiB shard uses every core. The rayon
//! pool is the process's own (rebuilt after a fork): rayon's global pool
//! would leave a forked child waiting forever on its parent's threads.

use std::sync::atomic::AtomicPtr;

use rayon::prelude::*;
use rayon::ThreadPool;

use crate::process::{per_process, Stamped};
use crate::runtime::cpu_threads;

static POOL: AtomicPtr<Stamped<ThreadPool>> = AtomicPtr::new(std::ptr::null_mut());

/// This process's rayon pool, one thread per core.
fn pool() -> &'static ThreadPool {
    per_process(
        &POOL,
        || {
            rayon::ThreadPoolBuilder::new()
                .num_threads(cpu_threads())
                .thread_name(|i| format!("s3dlio-crc-{i}"))
                .build()
                .expect("a rayon pool")
        },
        drop,
    )
}

/// Chunk size below which one core does the whole buffer.
const CHUNK: usize = 8 << 20;

/// CRC32C (Castagnoli) of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    if data.len() <= CHUNK {
        return crc32c::crc32c(data);
    }
    pool()
        .install(|| {
            data.par_chunks(CHUNK)
                .map(|chunk| (crc32c::crc32c(chunk), chunk.len()))
                .collect::<Vec<_>>()
        })
        .into_iter()
        .fold(None, |acc: Option<u32>, (crc, len)| {
            Some(match acc {
                None => crc,
                Some(prev) => crc32c::crc32c_combine(prev, crc, len),
            })
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_equals_serial() {
        let data: Vec<u8> = (0..(3 * CHUNK + 12345))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        assert_eq!(crc32c(&data), crc32c::crc32c(&data));
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }
}
