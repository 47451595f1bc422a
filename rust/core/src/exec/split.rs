//! One large read filled in parts on threads of its own: how many parts a
//! read may take ([`split_for`]), and [`fill_in_parts`], which fills what a
//! [`Span`] still lacks as several spans at once.

use crate::span::Span;

/// Smallest part a large `file://` read is split into.
pub(crate) const SPLIT_PART: usize = 8 << 20;

/// How many threads one `file://` read of `len` bytes may copy with: one
/// per [`SPLIT_PART`], up to the cores its caller leaves free (all of them
/// outside a run; in a run with fewer jobs than CPU permits, the permits
/// per worker). Copying from the page cache runs at about 4.6 GB/s per
/// core here, so a single 1 GiB read on one thread leaves the rest idle.
pub(crate) fn split_for(len: usize, cores: usize) -> usize {
    if len < 2 * SPLIT_PART {
        return 1;
    }
    cores.min(len / SPLIT_PART).max(1)
}

/// Fill what `target` still lacks as consecutive spans of at most `part`
/// bytes, each through `fill(offset, part)` (the offset from where the
/// unfilled bytes start) on a scoped thread of its own, the first on the
/// caller's: nothing outlives the call, and no pool is inherited across a
/// fork. The first error is returned once every thread has finished. Only
/// when every part came back full does `target` count the bytes as
/// written (in place, without a copy); otherwise it is left as it was.
pub(crate) fn fill_in_parts<E: Send>(
    target: &mut Span,
    part: usize,
    fill: impl Fn(usize, &mut Span) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let (at, len) = target.unfilled();
    let part = part.max(1);
    let mut parts: Vec<(usize, Span)> = (0..len)
        .step_by(part)
        .map(|offset| {
            // SAFETY: the parts are disjoint stretches of `target`'s
            // unfilled memory, which the `&mut` borrow keeps valid, and
            // written by no one else, until every thread has been joined
            // below.
            let span = unsafe { Span::new(at.add(offset), part.min(len - offset)) };
            (offset, span)
        })
        .collect();
    let Some(((first_at, first), rest)) = parts.split_first_mut() else {
        return Ok(());
    };
    let fill = &fill;
    std::thread::scope(|scope| {
        let others: Vec<_> = rest
            .iter_mut()
            .map(|(offset, span)| scope.spawn(move || fill(*offset, span)))
            .collect();
        let mine = fill(*first_at, first);
        others
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .fold(mine, Result::and)
    })?;
    if parts.iter().all(|(_, span)| span.is_full()) {
        // SAFETY: every one of the `len` bytes at `at` was written above.
        let whole = unsafe { std::slice::from_raw_parts(at, len) };
        let counted = target.extend_from_slice(whole);
        debug_assert!(counted, "the parts cover exactly the unfilled bytes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::AlignedBuf;
    use crate::exec::workers::{depth_for, run, Worker};
    use crate::runtime;

    fn pattern(offset: usize, part: &mut Span) -> Result<(), String> {
        let data: Vec<u8> = (offset..offset + part.len())
            .map(|i| (i % 251) as u8)
            .collect();
        part.extend_from_slice(&data)
            .then_some(())
            .ok_or_else(|| "too long".to_owned())
    }

    #[test]
    fn parts_fill_the_rest_in_place_on_threads() {
        let len = 10_000;
        let mut buf = AlignedBuf::new(len);
        assert!(buf.extend_from_slice(&[7u8; 100]));
        let base = buf.as_ref().as_ptr() as usize;
        let threads = std::sync::Mutex::new(std::collections::HashSet::new());
        fill_in_parts(&mut buf, 4096, |offset, part| {
            threads.lock().unwrap().insert(std::thread::current().id());
            pattern(offset, part)
        })
        .unwrap();
        assert_eq!(threads.into_inner().unwrap().len(), 3, "4096 + 4096 + 1708");
        let bytes = buf.freeze();
        assert_eq!(bytes.as_ptr() as usize, base, "filled where it lies");
        assert_eq!(&bytes[..100], &[7u8; 100]);
        let rest: Vec<u8> = (0..len - 100).map(|i| (i % 251) as u8).collect();
        assert_eq!(&bytes[100..], &rest[..]);
    }

    #[test]
    fn a_failed_or_short_part_leaves_the_target_unfilled() {
        let mut buf = AlignedBuf::new(3 * 4096);
        let failed = fill_in_parts(&mut buf, 4096, |offset, part| match offset {
            4096 => Err("part 2 failed".to_owned()),
            _ => pattern(offset, part),
        });
        assert_eq!(failed, Err("part 2 failed".to_owned()));
        assert_eq!(buf.filled(), 0);
        fill_in_parts(&mut buf, 4096, |offset, part| match offset {
            0 => Ok(()), // says it succeeded but wrote nothing
            _ => pattern(offset, part),
        })
        .unwrap();
        assert_eq!(buf.filled(), 0, "never counts bytes no one wrote");
    }

    #[test]
    fn large_reads_split_only_onto_spare_cores() {
        let cores = runtime::cpu_threads();
        assert_eq!(
            split_for(SPLIT_PART - 1, cores),
            1,
            "small reads stay whole"
        );
        assert_eq!(
            split_for(64 * SPLIT_PART, Worker::alone().cores()),
            cores,
            "outside a run: every core"
        );
        assert_eq!(split_for(2 * SPLIT_PART, cores), cores.min(2));
        // Inside a file:// run: the cores each job may use.
        let seen = |jobs: u32, direct: bool| {
            let depth = depth_for(direct, jobs as usize, 64);
            let mut got =
                runtime::block_on(run((0..jobs).collect(), depth, |_, worker: &Worker| {
                    Ok(split_for(64 * SPLIT_PART, worker.cores()))
                }))
                .unwrap();
            got.dedup();
            got
        };
        assert_eq!(seen(1, false), vec![cores]);
        assert_eq!(seen(64, false), vec![1]);
        assert_eq!(seen(1, true), vec![1], "direct:// never splits");
        assert_eq!(
            split_for(64 * SPLIT_PART, Worker::alone().cores()),
            cores,
            "reset after the run"
        );
    }
}
