//! The one type behind every in-place fill: a [`Span`] is `len` bytes of
//! memory filled front to back, and only its filled prefix is ever read.
//! A whole aligned buffer, a region of one, a response body received into
//! a caller's memory and one part of a large read are each a span (the
//! buffer and the region own their memory and lend it as one), so the
//! logic that appends, reads into and counts is written once, here.
//!
//! Data that already lies where it would go (received there in place) is
//! counted, not copied: that is how a body received straight into a
//! buffer, or parts filled on other threads, become its filled bytes
//! without a copy.
//!
//! A span's filled count only grows, except inside an [`Attempt`]: a fill
//! that may fail (a body cut short) is made through one and counted only
//! when kept, so that a failed fill leaves the span as it was. That is
//! what lets a view of the filled bytes (see `Region::filled_bytes`)
//! live on beside the span: the span writes only past them.

/// `len` bytes at `at`, written front to back by whoever holds the span:
/// the first [`Span::filled`] bytes hold data, the rest is still to be
/// written.
pub struct Span {
    at: *mut u8,
    len: usize,
    filled: usize,
}

// SAFETY: the holder of a span is the only writer of its memory, which
// stays valid while the span lives (the contract of `Span::new`), so it
// may be handed to another thread like the `&mut [u8]` it stands for.
unsafe impl Send for Span {}

impl Span {
    /// An empty span over the `len` bytes at `at`.
    ///
    /// # Safety
    /// The `len` bytes at `at` must stay valid, and be written by nothing
    /// else, for as long as the span (or anything made of it) lives.
    #[inline]
    pub unsafe fn new(at: *mut u8, len: usize) -> Self {
        Self { at, len, filled: 0 }
    }

    /// Where the span starts.
    #[inline]
    pub fn as_ptr(&self) -> *mut u8 {
        self.at
    }

    /// The span's size: the bytes it holds when full.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-size span.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes written so far.
    #[inline]
    pub fn filled(&self) -> usize {
        self.filled
    }

    /// Bytes still to be written.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.len - self.filled
    }

    /// Whether every byte has been written.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.filled == self.len
    }

    /// Where the bytes still to be written start, and how many there are.
    /// Bytes written there are counted by [`Span::extend_from_slice`] of
    /// that memory (in place, without a copy).
    #[inline]
    pub fn unfilled(&mut self) -> (*mut u8, usize) {
        // SAFETY: `filled <= len`, so the pointer is inside (or one past)
        // the memory.
        (unsafe { self.at.add(self.filled) }, self.remaining())
    }

    /// Append `data`; false (and nothing written) when it does not fit.
    /// Data that already lies where it would go (received there in place)
    /// is counted, not copied.
    #[inline]
    pub fn extend_from_slice(&mut self, data: &[u8]) -> bool {
        if data.len() > self.remaining() {
            return false;
        }
        let (dst, _) = self.unfilled();
        if !std::ptr::eq(data.as_ptr(), dst) {
            // SAFETY: the destination lies inside the memory, which only
            // this span writes; `data` is elsewhere or exactly in place.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
        }
        self.filled += data.len();
        true
    }

    /// Fill the rest of the span with `read(ptr, max)`, which writes at
    /// most `max` bytes at `ptr` and returns how many it wrote (0 = end).
    /// Returns the number of bytes filled; stops early at end of input.
    pub fn fill_with<E>(
        &mut self,
        mut read: impl FnMut(*mut u8, usize) -> Result<usize, E>,
    ) -> Result<usize, E> {
        let start = self.filled;
        while self.filled < self.len {
            let (dst, max) = self.unfilled();
            let n = read(dst, max)?;
            if n == 0 {
                break;
            }
            assert!(n <= max, "reader wrote past the span");
            self.filled += n;
        }
        Ok(self.filled - start)
    }

    /// A fill that counts only if kept ([`Attempt::keep`]): dropped
    /// without that, the span is as it was before the attempt.
    pub fn attempt(&mut self) -> Attempt<'_> {
        let start = self.filled;
        Attempt { span: self, start }
    }

    /// Whether `data` is this span's own memory, ending where its filled
    /// bytes end: data received in place that the span already counts.
    #[inline]
    pub fn has_filled(&self, data: &[u8]) -> bool {
        let (at, end) = (self.at as usize, self.at as usize + self.filled);
        let start = data.as_ptr() as usize;
        start >= at && start + data.len() == end
    }

    /// Count the first `filled` bytes as written.
    ///
    /// # Safety
    /// Those bytes must have been written (they are read as data).
    #[inline]
    pub(crate) unsafe fn set_filled(&mut self, filled: usize) {
        assert!(filled <= self.len, "filled past the span");
        self.filled = filled;
    }
}

/// A span being filled tentatively (see [`Span::attempt`]): it
/// dereferences to the span, and unless kept, its drop counts the bytes
/// filled since it began as never written.
pub struct Attempt<'a> {
    span: &'a mut Span,
    start: usize,
}

impl Attempt<'_> {
    /// Count what the attempt filled.
    pub fn keep(mut self) {
        self.start = self.span.filled;
    }
}

impl std::ops::Deref for Attempt<'_> {
    type Target = Span;
    fn deref(&self) -> &Span {
        self.span
    }
}

impl std::ops::DerefMut for Attempt<'_> {
    fn deref_mut(&mut self) -> &mut Span {
        self.span
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        // SAFETY: `start` was the fill when the attempt began and fills
        // only grow, so it is at most the fill now and its bytes were
        // written; the bytes after it were written during the attempt,
        // which borrowed the span throughout, so nothing outside it holds
        // them.
        unsafe { self.span.set_filled(self.start) };
    }
}

impl AsRef<[u8]> for Span {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the first `filled` bytes were written, and stay valid
        // while the span lives.
        unsafe { std::slice::from_raw_parts(self.at, self.filled) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_in_place_is_counted_not_copied() {
        let mut memory = vec![0u8; 8];
        // SAFETY: `memory` outlives the span and nothing else touches it.
        let mut span = unsafe { Span::new(memory.as_mut_ptr(), 8) };
        assert!(span.extend_from_slice(&[1, 2, 3]));
        let (at, max) = span.unfilled();
        // SAFETY: `at..at + max` is the span's unfilled memory.
        let rest = unsafe {
            std::ptr::write_bytes(at, 9, max);
            std::slice::from_raw_parts(at, max)
        };
        assert!(span.extend_from_slice(rest));
        assert!(span.is_full() && !span.extend_from_slice(&[0]));
        assert_eq!(span.as_ref(), &[1, 2, 3, 9, 9, 9, 9, 9]);
        assert!(span.has_filled(&span.as_ref()[3..]) && span.has_filled(span.as_ref()));
        assert!(!span.has_filled(&span.as_ref()[..7]) && !span.has_filled(&[9; 5]));
    }

    #[test]
    fn an_attempt_counts_only_if_kept() {
        let mut memory = vec![0u8; 8];
        // SAFETY: `memory` outlives the span and nothing else touches it.
        let mut span = unsafe { Span::new(memory.as_mut_ptr(), 8) };
        assert!(span.extend_from_slice(&[1, 2]));
        let mut failed = span.attempt();
        assert!(failed.extend_from_slice(&[3, 4, 5]));
        assert_eq!(failed.filled(), 5);
        drop(failed);
        assert_eq!(span.as_ref(), &[1, 2], "a dropped attempt is not counted");
        let mut kept = span.attempt();
        assert!(kept.extend_from_slice(&[6, 7]));
        kept.keep();
        assert_eq!(span.as_ref(), &[1, 2, 6, 7]);
    }
}
