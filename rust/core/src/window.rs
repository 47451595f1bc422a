//! Filling memory that something else owns: a [`Window`] is a stretch of a
//! caller's buffer (a response body received in place, one part of a large
//! read), and [`fill_in_parts`] fills what a [`Fill`] target still lacks
//! as several windows at once, on threads of their own.

use crate::buffer::{append_raw, fill_raw, Fill};

/// `len` bytes at `at` that belong to someone else, filled front to back.
pub(crate) struct Window {
    at: *mut u8,
    len: usize,
    filled: usize,
}

// SAFETY: the memory is valid and written by nothing else while the window
// lives (the contract of `Window::new`).
unsafe impl Send for Window {}

impl Window {
    /// # Safety
    /// The `len` bytes at `at` must stay valid, and be written by nothing
    /// else, for as long as the window (or anything made of it) lives.
    pub(crate) unsafe fn new(at: *mut u8, len: usize) -> Self {
        Self { at, len, filled: 0 }
    }

    /// Whether every byte has been written.
    pub(crate) fn is_full(&self) -> bool {
        self.filled == self.len
    }
}

impl Fill for Window {
    fn capacity(&self) -> usize {
        self.len
    }
    fn written(&self) -> usize {
        self.filled
    }
    fn append(&mut self, data: &[u8]) -> bool {
        append_raw(self.at, self.len, &mut self.filled, data)
    }
    fn unfilled(&mut self) -> (*mut u8, usize) {
        // SAFETY: `filled <= len`: at most one past the end.
        (unsafe { self.at.add(self.filled) }, self.len - self.filled)
    }
    fn fill_from<E>(
        &mut self,
        read: impl FnMut(*mut u8, usize) -> Result<usize, E>,
    ) -> Result<usize, E> {
        fill_raw(self.at, self.len, &mut self.filled, read)
    }
}

impl AsRef<[u8]> for Window {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the first `filled` bytes were written.
        unsafe { std::slice::from_raw_parts(self.at, self.filled) }
    }
}

/// Fill what `target` still lacks as consecutive windows of at most `part`
/// bytes, each through `fill(offset, window)` (the offset from where the
/// unfilled bytes start) on a scoped thread of its own, the first on the
/// caller's: nothing outlives the call, and no pool is inherited across a
/// fork. The first error is returned once every thread has finished. Only
/// when every window came back full does `target` count the bytes as
/// written (in place, without a copy); otherwise it is left as it was.
pub(crate) fn fill_in_parts<T: Fill, E: Send>(
    target: &mut T,
    part: usize,
    fill: impl Fn(usize, &mut Window) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let (at, len) = target.unfilled();
    let part = part.max(1);
    let mut windows: Vec<(usize, Window)> = (0..len)
        .step_by(part)
        // SAFETY: the windows are disjoint stretches of `target`'s unfilled
        // memory, which the `&mut` borrow keeps valid, and written by no one
        // else, until every thread has been joined below.
        .map(|offset| {
            (offset, unsafe {
                Window::new(at.add(offset), part.min(len - offset))
            })
        })
        .collect();
    let Some(((first_at, first), rest)) = windows.split_first_mut() else {
        return Ok(());
    };
    let fill = &fill;
    std::thread::scope(|scope| {
        let others: Vec<_> = rest
            .iter_mut()
            .map(|(offset, window)| scope.spawn(move || fill(*offset, window)))
            .collect();
        let mine = fill(*first_at, first);
        others
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .fold(mine, Result::and)
    })?;
    if windows.iter().all(|(_, window)| window.is_full()) {
        // SAFETY: every one of the `len` bytes at `at` was written above.
        let whole = unsafe { std::slice::from_raw_parts(at, len) };
        let counted = target.append(whole);
        debug_assert!(counted, "the parts cover exactly the unfilled bytes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::AlignedBuf;

    fn pattern(offset: usize, window: &mut Window) -> Result<(), String> {
        let data: Vec<u8> = (offset..offset + window.capacity())
            .map(|i| (i % 251) as u8)
            .collect();
        window
            .append(&data)
            .then_some(())
            .ok_or_else(|| "too long".to_owned())
    }

    #[test]
    fn parts_fill_the_rest_in_place_on_threads() {
        let len = 10_000;
        let mut buf = AlignedBuf::new(len);
        assert!(buf.append(&[7u8; 100]));
        let base = buf.as_ref().as_ptr() as usize;
        let threads = std::sync::Mutex::new(std::collections::HashSet::new());
        fill_in_parts(&mut buf, 4096, |offset, window| {
            threads.lock().unwrap().insert(std::thread::current().id());
            pattern(offset, window)
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
        let failed = fill_in_parts(&mut buf, 4096, |offset, window| match offset {
            4096 => Err("part 2 failed".to_owned()),
            _ => pattern(offset, window),
        });
        assert_eq!(failed, Err("part 2 failed".to_owned()));
        assert_eq!(buf.written(), 0);
        fill_in_parts(&mut buf, 4096, |offset, window| match offset {
            0 => Ok(()), // says it succeeded but wrote nothing
            _ => pattern(offset, window),
        })
        .unwrap();
        assert_eq!(buf.written(), 0, "never counts bytes no one wrote");
    }
}
