//! Receiving a `Content-Length` body from the socket straight into its
//! final memory (a [`Span`]): `recv` into the span's unfilled bytes, with
//! what was read with the head first.

use std::os::fd::AsRawFd;

use bytes::Bytes;
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::place::{Destination, Lent};
use super::wire::{ended, Failure};
use crate::buffer::AlignedBuf;
use crate::span::Span;

/// Receive a body of `len` bytes (`early` of them read with the head): into
/// the region lent by `into` when it has exactly that much to fill, else
/// into a fresh aligned buffer. Returns the body, over the memory it was
/// received into.
pub(super) async fn receive_body(
    conn: &TcpStream,
    early: &[u8],
    len: usize,
    into: Option<&Destination>,
) -> Result<Bytes, Failure> {
    match into.and_then(|to| to.lend(len)) {
        Some(lent) => receive_lent(conn, early, lent).await,
        None => {
            let mut body = AlignedBuf::new(len);
            receive(conn, &mut body, early).await?;
            Ok(body.freeze())
        }
    }
}

async fn receive_lent(conn: &TcpStream, early: &[u8], mut lent: Lent) -> Result<Bytes, Failure> {
    // Cut short, the region goes back as it was.
    let mut body = lent.attempt();
    receive(conn, &mut body, early).await?;
    body.keep();
    // A view of the region's memory that keeps it alive; the region, full,
    // goes back to the destination.
    Ok(lent.received())
}

/// Fill `body`: first with `early` (read with the head), then straight
/// from the socket. A peer that stops sending first interrupts it.
pub(super) async fn receive(
    conn: &TcpStream,
    body: &mut Span,
    early: &[u8],
) -> Result<(), Failure> {
    body.extend_from_slice(early);
    receive_rest(conn, body)
        .await
        .map_err(Failure::Interrupted)?;
    match body.is_full() {
        true => Ok(()),
        false => Err(Failure::Interrupted(ended())),
    }
}

/// Receive into the rest of `body` from the socket, until it is full or
/// the peer stops sending.
async fn receive_rest(conn: &TcpStream, body: &mut Span) -> std::io::Result<()> {
    let fd = conn.as_raw_fd();
    while !body.is_full() {
        conn.readable().await?;
        let read = conn.try_io(Interest::READABLE, || {
            body.fill_with(|at, max| {
                // SAFETY: `at..at + max` is unfilled memory inside `body`.
                match unsafe { libc::recv(fd, at.cast(), max, 0) } {
                    n if n < 0 => Err(std::io::Error::last_os_error()),
                    n => Ok(n as usize),
                }
            })
        });
        match read {
            // Full, or the peer closed: the caller checks which.
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
