//! Aligned, exactly-sized payload buffers. Every payload is written once
//! into one of these and then frozen into `bytes::Bytes` without a copy.
//! A buffer, and each [`Region`] of one, is filled as the one [`Span`] of
//! its memory (it dereferences to it): the fill logic lives in the span.
//!
//! A payload's buffer is sized from the object, which can be larger than
//! the memory of the machine: [`AlignedBuf::for_object`] fails with
//! [`Error::Memory`] naming the object instead of aborting the process
//! (see the pool for how a size the process cannot hold is told apart).

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::pool::{self, Pool, Slab};
pub use crate::span::Span;

/// Alignment of every buffer: JAX/XLA copy anything less aligned.
pub const ALIGN: usize = 64;

pub use crate::stats::{body_bytes, live_buffers};
use crate::stats::{LIVE_BUFFERS, LIVE_BYTES};

/// The panic payload of [`AlignedBuf::new`] when the process cannot hold
/// the buffer: why (sizes and the memory available).
#[derive(Debug)]
pub struct MemoryRefused(pub String);

/// A fixed-size buffer aligned to at least [`ALIGN`] bytes, filled front to
/// back as the [`Span`] it dereferences to. Only the filled prefix is ever
/// exposed. Its memory is a slab of a [`Pool`] (the process-wide one unless
/// given), returned to it on drop.
pub struct AlignedBuf {
    span: Span,
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
            // SAFETY: the slab is `len` bytes or more, owned by this buffer
            // alone until it is given back on drop.
            span: unsafe { Span::new(slab.ptr().as_ptr(), len) },
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
            // SAFETY: the caller's promise: valid, and written by nothing
            // else, while `owner` (dropped with the buffer) lives.
            span: unsafe { Span::new(ptr.as_ptr(), len) },
            memory: Memory::Borrowed(owner),
        })
    }

    /// Freeze into `Bytes` sharing this allocation (no copy). Only the
    /// filled prefix is visible.
    pub fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }

    /// Keep only the filled bytes `from..from + len`, moved to the front (an
    /// in-place memmove), so that they start on the buffer's alignment.
    pub fn keep_range(&mut self, from: usize, len: usize) {
        assert!(
            from + len <= self.filled(),
            "range outside the filled bytes"
        );
        let base = self.as_ptr();
        // SAFETY: both ranges lie inside the filled part; `copy` handles
        // overlap; the first `len` bytes are then written.
        unsafe {
            std::ptr::copy(base.add(from), base, len);
            self.span.set_filled(len);
        }
    }

    /// The first `len` bytes as scratch space (zeroed on first use), for
    /// buffers used as reusable staging rather than as a payload.
    pub fn scratch(&mut self, len: usize) -> &mut [u8] {
        assert!(len <= self.len(), "scratch larger than the buffer");
        if self.filled() < len {
            let (at, _) = self.span.unfilled();
            // SAFETY: initialise the bytes not yet written, inside the buffer.
            unsafe {
                std::ptr::write_bytes(at, 0, len - self.filled());
                self.span.set_filled(len);
            }
        }
        // SAFETY: the first `filled >= len` bytes are initialised.
        unsafe { std::slice::from_raw_parts_mut(self.as_ptr(), len) }
    }

    /// Split the whole (empty) buffer into consecutive regions of `part`
    /// bytes (the last may be shorter) that can be filled concurrently,
    /// e.g. one per ranged request. [`Regions::finish`] freezes the buffer
    /// once every region is full.
    pub fn into_regions(self, part: usize) -> (Regions, Vec<Region>) {
        let part = part.max(1);
        let len = self.len();
        self.into_regions_sized((0..len).step_by(part).map(|offset| part.min(len - offset)))
    }

    /// Split the whole (empty) buffer into consecutive regions of the given
    /// sizes, which must add up to the buffer's length.
    pub fn into_regions_sized(
        self,
        sizes: impl IntoIterator<Item = usize>,
    ) -> (Regions, Vec<Region>) {
        assert_eq!(self.filled(), 0, "into_regions needs an empty buffer");
        let len = self.len();
        let base = self.as_ptr();
        let shared = Arc::new(Shared(UnsafeCell::new(self)));
        let mut offset = 0usize;
        let regions: Vec<Region> = sizes
            .into_iter()
            .map(|size| {
                assert!(size <= len - offset, "region sizes exceed the buffer");
                let region = Region {
                    _owner: shared.clone(),
                    // SAFETY: `offset + size <= len`: inside the allocation,
                    // which `_owner` keeps alive; the regions are disjoint,
                    // so each is the only writer of its bytes.
                    span: unsafe { Span::new(base.add(offset), size) },
                    offset,
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

impl Deref for AlignedBuf {
    type Target = Span;
    fn deref(&self) -> &Span {
        &self.span
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut Span {
        &mut self.span
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
        if regions.len() != self.count || regions.iter().any(|r| !r.is_full()) {
            return None;
        }
        drop(regions);
        let shared = Arc::try_unwrap(self.shared).ok()?;
        let mut buf = shared.0.into_inner();
        let len = buf.len();
        // SAFETY: every region, together covering the buffer, was full.
        unsafe { buf.span.set_filled(len) };
        Some(buf.freeze())
    }
}

/// A disjoint part of a buffer being filled concurrently, as the [`Span`]
/// it dereferences to; the whole buffer's memory is kept alive by it.
pub struct Region {
    _owner: Arc<Shared>,
    span: Span,
    offset: usize,
}

impl Region {
    /// Where this region starts in the whole buffer.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The bytes filled so far, as `Bytes` over this memory (no copy) that
    /// keep the whole buffer's memory alive however long they live: the
    /// region writes only past its filled bytes, so the two can live side
    /// by side. [`Regions::finish`] waits for none: while such a view
    /// lives, it returns `None`.
    pub fn filled_bytes(&self) -> Bytes {
        Bytes::from_owner(Filled {
            _owner: self._owner.clone(),
            at: self.as_ptr(),
            len: self.filled(),
        })
    }
}

/// The filled bytes of a region, frozen: see [`Region::filled_bytes`].
struct Filled {
    _owner: Arc<Shared>,
    at: *const u8,
    len: usize,
}

// SAFETY: only reads bytes that no one writes again (a region's filled
// bytes), in memory `_owner` keeps alive.
unsafe impl Send for Filled {}
// SAFETY: as above.
unsafe impl Sync for Filled {}

impl AsRef<[u8]> for Filled {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the `len` bytes at `at` were a region's filled bytes: written,
        // never written again (a span writes only past its filled bytes,
        // and a region's fill never shrinks outside an `Attempt` that
        // borrows it), and kept alive by `_owner`.
        unsafe { std::slice::from_raw_parts(self.at, self.len) }
    }
}

impl Deref for Region {
    type Target = Span;
    fn deref(&self) -> &Span {
        &self.span
    }
}

impl DerefMut for Region {
    fn deref_mut(&mut self) -> &mut Span {
        &mut self.span
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self.span.as_ref()
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        LIVE_BUFFERS.fetch_sub(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(self.len(), Ordering::Relaxed);
        if let Memory::Pooled(slab, home) = &mut self.memory {
            if let Some(slab) = slab.take() {
                home.give(slab);
            }
        }
    }
}

/// Sets its flag when dropped: when a borrowed buffer's memory goes.
#[cfg(test)]
struct Gone(Arc<std::sync::atomic::AtomicBool>);

#[cfg(test)]
impl Drop for Gone {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A buffer over `len` bytes of memory (from `ALIGN` bytes into a
/// Vec) that sets the returned flag when that memory is let go.
#[cfg(test)]
pub(crate) fn watched(len: usize) -> (AlignedBuf, Arc<std::sync::atomic::AtomicBool>) {
    let gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut memory = vec![0u8; len + ALIGN];
    let skip = (ALIGN - memory.as_ptr() as usize % ALIGN) % ALIGN;
    // SAFETY: in bounds: `skip < ALIGN`.
    let at = unsafe { memory.as_mut_ptr().add(skip) };
    let owner = Box::new((memory, Gone(gone.clone())));
    // SAFETY: the Vec's heap memory moves into `owner`, which keeps it
    // until the buffer is gone, and nothing else touches it.
    let buf = unsafe { AlignedBuf::borrowed(NonNull::new(at).unwrap(), len, owner) };
    (buf.unwrap(), gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_frozen_without_copy() {
        for len in [0usize, 1, 63, 4097, 1 << 20] {
            let mut b = AlignedBuf::new(len);
            let ptr = b.as_ptr() as usize;
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
        let base = buf.as_ptr() as usize;
        let (owner, regions) = buf.into_regions(4096);
        assert_eq!(
            regions.iter().map(|r| r.len()).collect::<Vec<_>>(),
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
    fn a_regions_filled_bytes_keep_its_memory() {
        let (buf, gone) = watched(100);
        let (owner, mut regions) = buf.into_regions(60);
        assert!(regions[1].extend_from_slice(&[7; 30]));
        let view = regions[1].filled_bytes();
        assert_eq!(view.as_ptr(), regions[1].as_ptr().cast_const(), "no copy");
        assert!(
            regions[1].extend_from_slice(&[8; 10]),
            "the region fills on"
        );
        assert_eq!(view.as_ref(), &[7; 30], "the view sees what it saw");
        assert!(
            owner.finish(regions).is_none(),
            "not finished while a view lives"
        );
        assert!(!gone.load(Ordering::SeqCst), "the view keeps the memory");
        assert_eq!(view.as_ref(), &[7; 30]);
        drop(view);
        assert!(gone.load(Ordering::SeqCst), "the memory goes with the view");
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
        assert_eq!(b.as_ptr() as usize % 4096, 0);
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
