//! The receive-in-place contract, as types. A request carries one mark
//! in its extensions: [`Keep`] (receive the body into a fresh aligned
//! buffer, kept as the result) or [`Destination`] (receive it into memory
//! the caller holds). A response received in place says where
//! ([`ReceivedAt`]). The one promise the caller makes, that a destination's
//! memory stays valid and unwritten until the response is dropped, is made
//! once, by the `unsafe` constructor of [`Destination`]; the receiving
//! side gets the memory only through [`Destination::span`], safely.

use crate::span::Span;

/// Marks a GET whose body is kept as the buffer it is received into (in the
/// request's extensions, through `GetOptions::extensions`).
#[derive(Clone, Copy, Debug)]
pub struct Keep;

/// Marks a GET whose body goes into `len` bytes of memory at `at` that its
/// caller holds: a successful answer of exactly that length is received
/// there. A GET without a mark stays with object_store's client, which
/// holds a little of each body at a time, rather than all of a body in a
/// buffer of its own before it is copied into place.
#[derive(Clone, Copy, Debug)]
pub struct Destination {
    at: usize,
    len: usize,
}

impl Destination {
    /// # Safety
    /// The `len` bytes at `at` must stay valid, and be written by nothing
    /// else, until the response to the request carrying this mark, and its
    /// body, are dropped.
    pub unsafe fn new(at: *mut u8, len: usize) -> Self {
        Self {
            at: at as usize,
            len,
        }
    }

    /// The memory `target` still has to fill.
    ///
    /// # Safety
    /// As for [`Destination::new`]: `target` must be held, and written by
    /// nothing else, until the response is dropped.
    pub unsafe fn of(target: &mut Span) -> Self {
        let (at, len) = target.unfilled();
        // SAFETY: passed on to the caller.
        unsafe { Self::new(at, len) }
    }

    /// The destination's memory as a span to receive a body of `len`
    /// bytes into: `None` unless the body is exactly that long.
    pub(crate) fn span(self, len: usize) -> Option<Span> {
        // SAFETY: the memory is valid, and written by nothing else, until
        // the response carrying the body is dropped: the promise made to
        // construct this destination ([`Destination::new`]).
        (len == self.len).then(|| unsafe { Span::new(self.at as *mut u8, len) })
    }
}

/// Marks a response whose body this connector received in place, at this
/// address: object_store passes it on in `GetResult::extensions`, and a
/// chunk at that address is a whole aligned buffer of its own, to keep as
/// it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedAt(pub usize);
