//! The receive-in-place contract, as types. A request carries one mark
//! in its extensions: [`Keep`] (receive the body into a fresh aligned
//! buffer, kept as the result) or [`Destination`] (receive it into a
//! [`Region`] the caller gives up for the request). A response received in
//! place says where ([`ReceivedAt`]).
//!
//! No promise is asked of the caller, and no `unsafe`: a destination
//! *holds* its region, so the caller cannot touch the memory while the
//! request may receive into it, and gets the region back
//! ([`Destination::take`]) once the request is answered, filled when the
//! body was received into it, else as it was given (to copy the body into
//! as it streams). One receiver at a time can hold the region
//! ([`Destination::lend`]); a receive that fails leaves it as it was. The
//! body of a response received in place is the region's filled bytes
//! ([`Region::filled_bytes`]): it keeps the buffer's memory alive however
//! long it lives, and the region, full, writes no more.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::buffer::{Region, Span};
use crate::span::Attempt;

/// Marks a GET whose body is kept as the buffer it is received into (in the
/// request's extensions, through `GetOptions::extensions`).
#[derive(Clone, Copy, Debug)]
pub struct Keep;

/// Marks a GET whose body goes into a region of a buffer that the
/// destination holds: a successful answer of exactly the length the region
/// still has to fill is received there. A GET without a mark stays with
/// object_store's client, which holds a little of each body at a time,
/// rather than all of a body in a buffer of its own before it is copied
/// into place.
///
/// Clones (http's extensions are cloned with their request) share the one
/// region.
#[derive(Clone)]
pub struct Destination {
    slot: Arc<Mutex<Option<Region>>>,
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.lock().as_ref().map(|r| (r.offset(), r.remaining()));
        f.debug_struct("Destination").field("held", &held).finish()
    }
}

impl Destination {
    /// A destination holding `region`, to receive a body into what it
    /// still has to fill.
    pub fn new(region: Region) -> Self {
        Self {
            slot: Arc::new(Mutex::new(Some(region))),
        }
    }

    /// A destination with no region yet: the one an early answer carries
    /// ([`super::Early`]), for the caller to [`Destination::give`] one to.
    pub(crate) fn empty() -> Self {
        Self {
            slot: Arc::new(Mutex::new(None)),
        }
    }

    /// Place `region` here, to receive the body into (a region already
    /// placed is given back instead, unchanged).
    pub fn give(&self, region: Region) -> Result<(), Region> {
        let mut slot = self.lock();
        match slot.is_none() {
            true => {
                *slot = Some(region);
                Ok(())
            }
            false => Err(region),
        }
    }

    /// The region back: filled when a body was received into it, else as
    /// it was given. `None` once taken, and while a receive holds it (never
    /// once the request that carried the destination is answered: the
    /// receive ends with the response head and body).
    pub fn take(&self) -> Option<Region> {
        self.lock().take()
    }

    /// The region, lent to receive a body of `len` bytes: `None` unless it
    /// is here (not taken, nor lent) and has exactly `len` bytes to fill.
    pub(crate) fn lend(&self, len: usize) -> Option<Lent> {
        let mut slot = self.lock();
        if slot.as_ref()?.remaining() != len {
            return None;
        }
        let region = slot.take()?;
        Some(Lent {
            start: region.filled(),
            region: Some(region),
            home: self.slot.clone(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Option<Region>> {
        // A panic while the lock was held left the slot whole: a region
        // or none.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A destination's region while a body is received into it; back in the
/// destination when dropped, filled as [`Lent::attempt`] kept.
pub(crate) struct Lent {
    region: Option<Region>,
    /// The region's fill when lent: the body starts there.
    start: usize,
    home: Arc<Mutex<Option<Region>>>,
}

impl Lent {
    /// The region's memory to receive into: counted only if the attempt is
    /// kept.
    pub(crate) fn attempt(&mut self) -> Attempt<'_> {
        let span: &mut Span = self.region.as_mut().expect("lent until dropped");
        span.attempt()
    }

    /// What was received, as the response body: the bytes filled since the
    /// region was lent, over its memory, kept alive by the body itself.
    /// The region goes home.
    pub(crate) fn received(self) -> Bytes {
        let region = self.region.as_ref().expect("lent until dropped");
        region.filled_bytes().slice(self.start..)
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let region = self.region.take();
        *self.home.lock().unwrap_or_else(PoisonError::into_inner) = region;
    }
}

/// Marks a response whose body this connector received in place, at this
/// address: object_store passes it on in `GetResult::extensions`, and a
/// chunk at that address is a whole aligned buffer of its own, to keep as
/// it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedAt(pub usize);

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::buffer::watched;

    #[test]
    fn one_receiver_holds_the_region_and_gives_it_back() {
        let (buf, _) = watched(100);
        let (_owner, mut regions) = buf.into_regions(100);
        let destination = Destination::new(regions.pop().unwrap());
        let copy = destination.clone();
        assert!(destination.lend(99).is_none(), "only a body of its size");
        let lent = destination.lend(100).unwrap();
        assert!(copy.lend(100).is_none(), "one receiver at a time");
        assert!(copy.take().is_none(), "not the caller's while lent");
        drop(lent);
        let region = copy.take().expect("home again");
        assert_eq!(region.filled(), 0);
        assert!(destination.take().is_none(), "taken once");
        assert!(destination.lend(100).is_none());
    }

    #[test]
    fn a_failed_receive_leaves_the_region_as_it_was() {
        let (buf, _) = watched(100);
        let (_owner, mut regions) = buf.into_regions(100);
        let mut region = regions.pop().unwrap();
        assert!(region.extend_from_slice(&[1; 10]));
        let destination = Destination::new(region);
        let mut lent = destination.lend(90).unwrap();
        assert!(lent.attempt().extend_from_slice(&[2; 50]), "cut short");
        drop(lent);
        let region = destination.take().unwrap();
        assert_eq!(region.as_ref(), &[1; 10]);
    }

    #[test]
    fn a_received_body_keeps_the_memory_and_the_region_comes_back_full() {
        let (buf, gone) = watched(100);
        let (owner, mut regions) = buf.into_regions(100);
        let at = regions[0].as_ptr().cast_const();
        let destination = Destination::new(regions.pop().unwrap());
        let mut lent = destination.lend(100).unwrap();
        let mut into = lent.attempt();
        assert!(into.extend_from_slice(&[3; 100]));
        into.keep();
        let body = lent.received();
        assert_eq!(body.as_ptr(), at, "the body is the region's memory");
        let mut region = destination.take().unwrap();
        assert!(region.is_full() && region.has_filled(&body));
        assert!(!region.extend_from_slice(&[9]), "full, it writes no more");
        drop((region, owner, destination));
        assert!(!gone.load(Ordering::SeqCst), "the body keeps the memory");
        assert_eq!(body.as_ref(), &[3; 100]);
        drop(body);
        assert!(gone.load(Ordering::SeqCst));
    }
}
