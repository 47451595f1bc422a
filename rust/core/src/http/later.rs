//! A response handed back as soon as its head is read ([`Early`]), whose
//! body is received when it is first polled: by then the caller has read
//! the head (the object's size, in `Content-Range`) and may have placed a
//! region to receive it into ([`Destination::give`]). The first part of a
//! large object is answered this way, so the other parts are requested
//! while it arrives, and it is received straight into its place in the
//! object's buffer rather than into a buffer of its own and copied.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use object_store::client::HttpError;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::place::Destination;
use super::receive::receive_body;
use super::wire::{timed_out, Failure};

/// Marks a GET (beside [`super::Keep`]) that may be answered as soon as
/// its head is read: a success with a `Content-Length` body then carries
/// an empty [`Destination`] in its extensions, where the caller may place
/// the region the body goes into before it reads the body. Unplaced, the
/// body is received into a fresh aligned buffer, as for [`super::Keep`].
#[derive(Clone, Copy, Debug)]
pub struct Early;

/// Where a connection goes once its body is received: back to the kept
/// connections, when the response allows another request on it.
pub(crate) type Home = Box<dyn FnOnce(TcpStream) + Send + Sync>;

type Receiving = Pin<Box<dyn Future<Output = Result<Bytes, HttpError>> + Send>>;

/// The body of an early answer: one frame, received when first polled.
pub(crate) struct Later {
    receiving: Mutex<Option<Receiving>>,
    len: usize,
}

impl Later {
    /// The body of `len` bytes still on `conn` (`early` of them already read
    /// with the head), into the region placed in `to` by the time it is
    /// polled, before `deadline`; then `conn` goes `home`, if any.
    pub(crate) fn new(
        conn: TcpStream,
        early: Vec<u8>,
        len: usize,
        to: Destination,
        deadline: Instant,
        home: Option<Home>,
    ) -> Self {
        let receiving = async move {
            let received =
                tokio::time::timeout_at(deadline, receive_body(&conn, &early, len, Some(&to)))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(Failure::into_http)?;
            if let Some(home) = home {
                home(conn);
            }
            Ok(received)
        };
        Self {
            receiving: Mutex::new(Some(Box::pin(receiving))),
            len,
        }
    }
}

impl Body for Later {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let slot = self
            .get_mut()
            .receiving
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(receiving) = slot.as_mut() else {
            return Poll::Ready(None);
        };
        match receiving.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(done) => {
                *slot = None;
                Poll::Ready(Some(done.map(Frame::data)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.receiving
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len as u64)
    }
}
