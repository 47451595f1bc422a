//! Filling memory that something else owns: a [`Window`] is a stretch of a
//! caller's buffer (a response body received in place, one part of a large
//! read), filled front to back like any [`Fill`] target.

use crate::buffer::{append_raw, fill_raw, Fill};

/// `len` bytes at `at` that belong to someone else, filled front to back.
pub struct Window {
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
    pub unsafe fn new(at: *mut u8, len: usize) -> Self {
        Self { at, len, filled: 0 }
    }

    /// Whether every byte has been written.
    pub fn is_full(&self) -> bool {
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
