//! Aligned, exactly-sized landing buffers. Every payload is written once
//! into one of these and then frozen into `bytes::Bytes` without a copy.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;

use bytes::Bytes;

/// Alignment of every buffer: JAX/XLA copy anything less aligned.
pub const ALIGN: usize = 64;

/// A fixed-size heap allocation aligned to at least [`ALIGN`] bytes, filled
/// front to back. Only the filled prefix is ever exposed.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
    len: usize,
    filled: usize,
}

// SAFETY: AlignedBuf owns its allocation exclusively, like a Vec<u8>.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access only reads the filled prefix.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// An empty buffer of capacity `len`, aligned to [`ALIGN`].
    pub fn new(len: usize) -> Self {
        Self::with_alignment(len, ALIGN)
    }

    /// An empty buffer of capacity `len`, aligned to `align` (a power of two >= ALIGN).
    pub fn with_alignment(len: usize, align: usize) -> Self {
        let align = align.max(ALIGN);
        let layout = Layout::from_size_align(len.max(1), align).expect("valid buffer layout");
        // SAFETY: layout has non-zero size.
        let ptr = unsafe { alloc(layout) };
        let ptr = NonNull::new(ptr).unwrap_or_else(|| handle_alloc_error(layout));
        Self {
            ptr,
            layout,
            len,
            filled: 0,
        }
    }

    /// The capacity the buffer was sized for.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the capacity is zero.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes written so far.
    pub fn filled(&self) -> usize {
        self.filled
    }

    /// Bytes still to be written.
    pub fn remaining(&self) -> usize {
        self.len - self.filled
    }

    /// Append `data`; false (and nothing written) when it does not fit.
    pub fn extend_from_slice(&mut self, data: &[u8]) -> bool {
        if data.len() > self.remaining() {
            return false;
        }
        // SAFETY: the destination range lies inside the allocation and
        // cannot overlap `data`, which is borrowed from elsewhere.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.ptr.as_ptr().add(self.filled),
                data.len(),
            );
        }
        self.filled += data.len();
        true
    }

    /// Fill the rest of the buffer with `read(ptr, max)`, which writes at
    /// most `max` bytes at `ptr` and returns how many it wrote (0 = end).
    /// Returns the number of bytes filled; stops early at end of input.
    pub fn fill_with<E>(
        &mut self,
        mut read: impl FnMut(*mut u8, usize) -> Result<usize, E>,
    ) -> Result<usize, E> {
        let start = self.filled;
        while self.filled < self.len {
            // SAFETY: `filled < len`, so the pointer is inside the allocation.
            let dst = unsafe { self.ptr.as_ptr().add(self.filled) };
            let n = read(dst, self.remaining())?;
            if n == 0 {
                break;
            }
            assert!(n <= self.remaining(), "reader wrote past the buffer");
            self.filled += n;
        }
        Ok(self.filled - start)
    }

    /// Freeze into `Bytes` sharing this allocation (no copy). Only the
    /// filled prefix is visible.
    pub fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the first `filled` bytes were written.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.filled) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `with_alignment` with this layout.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_frozen_without_copy() {
        for len in [0usize, 1, 63, 4097, 1 << 20] {
            let mut b = AlignedBuf::new(len);
            let ptr = b.ptr.as_ptr() as usize;
            assert_eq!(ptr % ALIGN, 0);
            assert!(b.extend_from_slice(&vec![7u8; len]));
            assert!(!b.extend_from_slice(b"x"));
            let bytes = b.freeze();
            assert_eq!(bytes.len(), len);
            if len > 0 {
                assert_eq!(bytes.as_ptr() as usize, ptr);
            }
        }
    }

    #[test]
    fn fill_with_stops_at_end_of_input() {
        let mut b = AlignedBuf::with_alignment(10, 4096);
        assert_eq!(b.ptr.as_ptr() as usize % 4096, 0);
        let mut calls = 0;
        let n = b
            .fill_with(|dst, max| {
                calls += 1;
                let n = if calls == 1 { max.min(4) } else { 0 };
                // SAFETY: dst is valid for `max` bytes.
                unsafe { std::ptr::write_bytes(dst, 1, n) };
                Ok::<_, ()>(n)
            })
            .unwrap();
        assert_eq!((n, b.filled()), (4, 4));
        assert_eq!(b.freeze().as_ref(), &[1, 1, 1, 1]);
    }
}
