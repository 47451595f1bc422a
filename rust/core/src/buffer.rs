//! Aligned, exactly-sized landing buffers. Every payload is written once
//! into one of these and then frozen into `bytes::Bytes` without a copy.
//!
//! A payload's buffer is sized from the object, which can be larger than
//! the memory of the machine: [`AlignedBuf::for_object`] fails with
//! [`Error::Memory`] naming the object instead of aborting the process
//! (see the pool for how a size the process cannot hold is told apart).

use std::cell::UnsafeCell;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::pool::{self, Pool, Slab};

/// Alignment of every buffer: JAX/XLA copy anything less aligned.
pub const ALIGN: usize = 64;

pub use crate::stats::{body_bytes, live_buffers};
use crate::stats::{LIVE_BUFFERS, LIVE_BYTES};

/// The panic payload of [`AlignedBuf::new`] when the process cannot hold
/// the buffer: why (sizes and the memory available).
#[derive(Debug)]
pub struct MemoryRefused(pub String);

/// A fixed-size buffer aligned to at least [`ALIGN`] bytes, filled front to
/// back. Only the filled prefix is ever exposed. Its memory is a slab of a
/// [`Pool`] (the process-wide one unless given), returned to it on drop.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
    filled: usize,
    memory: Memory,
}

/// Whose memory a buffer fills.
enum Memory {
    /// A slab on loan from a pool, given back on drop.
    Pooled(Option<Slab>, Arc<Pool>),
    /// Someone else's memory, kept alive by its owner until the drop.
    Borrowed(#[allow(dead_code)] Box<dyn Send + Sync>),
}

// SAFETY: AlignedBuf owns its allocation exclusively, like a Vec<u8>.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access only reads the filled prefix.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// An empty buffer of capacity `len`, aligned to [`ALIGN`]. When the
    /// memory cannot be had it panics with a [`MemoryRefused`] payload (an
    /// unwind, not an abort: the Python binding raises `MemoryError` for
    /// it); [`AlignedBuf::for_object`] returns the error instead.
    pub fn new(len: usize) -> Self {
        Self::with_alignment(len, ALIGN)
    }

    /// [`AlignedBuf::new`] aligned to `align` (a power of two >= ALIGN).
    pub fn with_alignment(len: usize, align: usize) -> Self {
        Self::in_pool(len, align, pool::global())
            .unwrap_or_else(|reason| std::panic::panic_any(MemoryRefused(reason)))
    }

    /// An empty buffer of capacity `len`, aligned to [`ALIGN`], for the
    /// object at `uri`; [`Error::Memory`] naming it when the process cannot
    /// hold `len` bytes.
    pub fn for_object(uri: &str, len: usize) -> Result<Self> {
        Self::for_object_aligned(uri, len, ALIGN)
    }

    /// [`AlignedBuf::for_object`] aligned to `align` (a power of two >= ALIGN).
    pub fn for_object_aligned(uri: &str, len: usize, align: usize) -> Result<Self> {
        Self::in_pool(len, align, pool::global()).map_err(|reason| Error::Memory {
            uri: uri.to_owned(),
            reason,
        })
    }

    /// An empty buffer of capacity `len`, aligned to `align`, whose memory
    /// comes from (and goes back to) `pool`; fails only when the pool's
    /// hooks refuse a new slab.
    pub fn in_pool(len: usize, align: usize, pool: &Arc<Pool>) -> Result<Self, String> {
        let slab = pool.take(len, align.max(ALIGN))?;
        LIVE_BUFFERS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(len, Ordering::Relaxed);
        Ok(Self {
            ptr: slab.ptr(),
            len,
            filled: 0,
            memory: Memory::Pooled(Some(slab), pool.clone()),
        })
    }

    /// An empty buffer over `len` bytes of someone else's memory at `ptr`
    /// (e.g. a shared-memory segment that must be filled in place), kept
    /// alive by `owner` until the buffer and everything frozen from it are
    /// gone. Fails unless `ptr` is [`ALIGN`]-aligned.
    ///
    /// # Safety
    /// `ptr..ptr + len` must stay valid and writable while `owner` lives,
    /// and nothing else may access it until the buffer is filled.
    pub unsafe fn borrowed(
        ptr: NonNull<u8>,
        len: usize,
        owner: Box<dyn Send + Sync>,
    ) -> Result<Self, String> {
        if !(ptr.as_ptr() as usize).is_multiple_of(ALIGN) {
            return Err(format!("the memory at {ptr:p} is not {ALIGN}-byte aligned"));
        }
        LIVE_BUFFERS.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(len, Ordering::Relaxed);
        Ok(Self {
            ptr,
            len,
            filled: 0,
            memory: Memory::Borrowed(owner),
        })
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
    /// Data that already lies where it would go (received there in place)
    /// is counted, not copied.
    pub fn extend_from_slice(&mut self, data: &[u8]) -> bool {
        append_raw(self.ptr.as_ptr(), self.len, &mut self.filled, data)
    }

    /// Fill the rest of the buffer with `read(ptr, max)`, which writes at
    /// most `max` bytes at `ptr` and returns how many it wrote (0 = end).
    /// Returns the number of bytes filled; stops early at end of input.
    pub fn fill_with<E>(
        &mut self,
        read: impl FnMut(*mut u8, usize) -> Result<usize, E>,
    ) -> Result<usize, E> {
        fill_raw(self.ptr.as_ptr(), self.len, &mut self.filled, read)
    }

    /// Freeze into `Bytes` sharing this allocation (no copy). Only the
    /// filled prefix is visible.
    pub fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }

    /// Keep only the filled bytes `from..from + len`, moved to the front (an
    /// in-place memmove), so that they start on the buffer's alignment.
    pub fn keep_range(&mut self, from: usize, len: usize) {
        assert!(from + len <= self.filled, "range outside the filled bytes");
        // SAFETY: both ranges lie inside the filled part; `copy` handles overlap.
        unsafe { std::ptr::copy(self.ptr.as_ptr().add(from), self.ptr.as_ptr(), len) };
        self.filled = len;
    }

    /// The first `len` bytes as scratch space (zeroed on first use), for
    /// buffers used as reusable staging rather than as a payload.
    pub fn scratch(&mut self, len: usize) -> &mut [u8] {
        assert!(len <= self.len, "scratch larger than the buffer");
        if self.filled < len {
            // SAFETY: initialise the bytes not yet written.
            unsafe {
                std::ptr::write_bytes(self.ptr.as_ptr().add(self.filled), 0, len - self.filled)
            };
            self.filled = len;
        }
        // SAFETY: the first `filled >= len` bytes are initialised.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), len) }
    }

    /// Split the whole (empty) buffer into consecutive regions of `part`
    /// bytes (the last may be shorter) that can be filled concurrently,
    /// e.g. one per ranged request. [`Regions::finish`] freezes the buffer
    /// once every region is full.
    pub fn into_regions(self, part: usize) -> (Regions, Vec<Region>) {
        let part = part.max(1);
        let len = self.len;
        self.into_regions_sized((0..len).step_by(part).map(|offset| part.min(len - offset)))
    }

    /// Split the whole (empty) buffer into consecutive regions of the given
    /// sizes, which must add up to the buffer's length.
    pub fn into_regions_sized(
        self,
        sizes: impl IntoIterator<Item = usize>,
    ) -> (Regions, Vec<Region>) {
        assert_eq!(self.filled, 0, "into_regions needs an empty buffer");
        let len = self.len;
        let base = self.ptr.as_ptr();
        let shared = Arc::new(Shared(UnsafeCell::new(self)));
        let mut offset = 0usize;
        let regions: Vec<Region> = sizes
            .into_iter()
            .map(|size| {
                assert!(size <= len - offset, "region sizes exceed the buffer");
                let region = Region {
                    _owner: shared.clone(),
                    // SAFETY: offset <= len, inside (or one past) the allocation.
                    ptr: unsafe { base.add(offset) },
                    offset,
                    len: size,
                    filled: 0,
                };
                offset += size;
                region
            })
            .collect();
        assert_eq!(offset, len, "region sizes must cover the buffer");
        let count = regions.len();
        (Regions { shared, count }, regions)
    }
}

/// Append `data` at `base[*filled..len]`; false (and nothing written) when
/// it does not fit. Data that already lies there (received in place) is
/// counted, not copied. `base[..len]` must be memory its caller alone
/// writes, with `*filled <= len`.
pub(crate) fn append_raw(base: *mut u8, len: usize, filled: &mut usize, data: &[u8]) -> bool {
    if data.len() > len - *filled {
        return false;
    }
    // SAFETY: `filled <= len`, so the pointer is inside (or one past) the memory.
    let dst = unsafe { base.add(*filled) };
    if !std::ptr::eq(data.as_ptr(), dst) {
        // SAFETY: the destination lies inside the memory, which only the
        // caller writes; `data` is elsewhere or exactly in place.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
    }
    *filled += data.len();
    true
}

/// Fill `base[*filled..len]` through `read` until it is full or `read`
/// reports the end of input (0).
pub(crate) fn fill_raw<E>(
    base: *mut u8,
    len: usize,
    filled: &mut usize,
    mut read: impl FnMut(*mut u8, usize) -> Result<usize, E>,
) -> Result<usize, E> {
    let start = *filled;
    while *filled < len {
        // SAFETY: `filled < len`, so the pointer is inside the allocation.
        let dst = unsafe { base.add(*filled) };
        let n = read(dst, len - *filled)?;
        if n == 0 {
            break;
        }
        assert!(n <= len - *filled, "reader wrote past the buffer");
        *filled += n;
    }
    Ok(*filled - start)
}

/// Something a reader fills front to back: a whole buffer or a region.
pub trait Fill {
    /// Capacity in bytes.
    fn capacity(&self) -> usize;
    /// Bytes written so far.
    fn written(&self) -> usize;
    /// Append `data`; false (and nothing written) when it does not fit.
    /// Data already in place is counted without a copy.
    fn append(&mut self, data: &[u8]) -> bool;
    /// Where the bytes still to be written start, and how many there are.
    fn unfilled(&mut self) -> (*mut u8, usize);
    /// Fill the rest through `read(ptr, max)` (see [`AlignedBuf::fill_with`]).
    fn fill_from<E>(
        &mut self,
        read: impl FnMut(*mut u8, usize) -> Result<usize, E>,
    ) -> Result<usize, E>;
}

impl Fill for AlignedBuf {
    fn capacity(&self) -> usize {
        self.len
    }
    fn written(&self) -> usize {
        self.filled
    }
    fn append(&mut self, data: &[u8]) -> bool {
        self.extend_from_slice(data)
    }
    fn unfilled(&mut self) -> (*mut u8, usize) {
        // SAFETY: `filled <= len`: at most one past the end.
        (
            unsafe { self.ptr.as_ptr().add(self.filled) },
            self.remaining(),
        )
    }
    fn fill_from<E>(
        &mut self,
        read: impl FnMut(*mut u8, usize) -> Result<usize, E>,
    ) -> Result<usize, E> {
        self.fill_with(read)
    }
}

impl Fill for Region {
    fn capacity(&self) -> usize {
        self.len
    }
    fn written(&self) -> usize {
        self.filled
    }
    fn append(&mut self, data: &[u8]) -> bool {
        self.extend_from_slice(data)
    }
    fn unfilled(&mut self) -> (*mut u8, usize) {
        // SAFETY: `filled <= len`: at most one past the end.
        (unsafe { self.ptr.add(self.filled) }, self.len - self.filled)
    }
    fn fill_from<E>(
        &mut self,
        read: impl FnMut(*mut u8, usize) -> Result<usize, E>,
    ) -> Result<usize, E> {
        fill_raw(self.ptr, self.len, &mut self.filled, read)
    }
}

struct Shared(UnsafeCell<AlignedBuf>);

// SAFETY: the buffer behind `Shared` is only written through disjoint
// `Region`s and only read back after every region has been returned.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

/// The owner side of a buffer split into [`Region`]s. The memory lives until
/// both this and every region are dropped, so an abandoned fill (an aborted
/// task still holding its region) can never write into freed memory.
pub struct Regions {
    shared: Arc<Shared>,
    count: usize,
}

impl Regions {
    /// Freeze the buffer once `regions` (all of them, each full) are handed
    /// back; `None` if any is missing or not full.
    pub fn finish(self, regions: Vec<Region>) -> Option<Bytes> {
        if regions.len() != self.count || regions.iter().any(|r| r.filled != r.len) {
            return None;
        }
        drop(regions);
        let shared = Arc::try_unwrap(self.shared).ok()?;
        let mut buf = shared.0.into_inner();
        buf.filled = buf.len;
        Some(buf.freeze())
    }
}

/// A disjoint part of a buffer being filled concurrently.
pub struct Region {
    _owner: Arc<Shared>,
    ptr: *mut u8,
    offset: usize,
    len: usize,
    filled: usize,
}

// SAFETY: a Region is the only writer of its bytes; the allocation is kept
// alive by `_owner`.
unsafe impl Send for Region {}

impl Region {
    /// Where this region starts in the whole buffer.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The region's size.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-size region.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes written so far.
    pub fn filled(&self) -> usize {
        self.filled
    }

    /// Append `data`; false (and nothing written) when it does not fit.
    /// Data that already lies where it would go (received there in place)
    /// is counted, not copied.
    pub fn extend_from_slice(&mut self, data: &[u8]) -> bool {
        append_raw(self.ptr, self.len, &mut self.filled, data)
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
        LIVE_BUFFERS.fetch_sub(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(self.len, Ordering::Relaxed);
        if let Memory::Pooled(slab, home) = &mut self.memory {
            if let Some(slab) = slab.take() {
                home.give(slab);
            }
        }
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
    fn regions_fill_one_buffer_concurrently() {
        let len = 10_000;
        let buf = AlignedBuf::new(len);
        let base = buf.ptr.as_ptr() as usize;
        let (owner, regions) = buf.into_regions(4096);
        assert_eq!(
            regions.iter().map(Region::len).collect::<Vec<_>>(),
            [4096, 4096, 1808]
        );
        let regions: Vec<Region> = std::thread::scope(|s| {
            let handles: Vec<_> = regions
                .into_iter()
                .map(|mut r| {
                    s.spawn(move || {
                        let data: Vec<u8> = (r.offset()..r.offset() + r.len())
                            .map(|i| i as u8)
                            .collect();
                        assert!(r.extend_from_slice(&data));
                        r
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let bytes = owner.finish(regions).unwrap();
        assert_eq!(bytes.as_ptr() as usize, base);
        assert!(bytes.iter().enumerate().all(|(i, &b)| b == i as u8));
    }

    #[test]
    fn borrowed_memory_is_filled_in_place_and_kept_alive() {
        let owner = vec![0u64; 16]; // 8-byte aligned at least; find a 64-byte aligned start
        let base = owner.as_ptr() as usize;
        let skip = (ALIGN - base % ALIGN) % ALIGN;
        let len = 128 - skip;
        let (ptr, owner) = (base + skip, Box::new(owner));
        // SAFETY: the Vec's heap memory lives in `owner`, untouched elsewhere.
        let mut b =
            unsafe { AlignedBuf::borrowed(NonNull::new(ptr as *mut u8).unwrap(), len, owner) }
                .unwrap();
        assert!(b.extend_from_slice(&vec![5u8; len]));
        let bytes = b.freeze();
        assert_eq!(bytes.as_ptr() as usize, ptr);
        assert!(bytes.iter().all(|&x| x == 5));
        let odd = NonNull::new((ptr + 1) as *mut u8).unwrap();
        // SAFETY: refused before any access.
        assert!(unsafe { AlignedBuf::borrowed(odd, 1, Box::new(())) }.is_err());
    }

    #[test]
    fn regions_refuse_to_finish_incomplete() {
        let (owner, mut regions) = AlignedBuf::new(100).into_regions(60);
        assert!(regions[0].extend_from_slice(&[1; 60]));
        regions.pop();
        assert!(owner.finish(regions).is_none());
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
