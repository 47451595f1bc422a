//! One exchange on a connection: send a GET's head, read the response
//! head, and receive the body, a `Content-Length` body straight from the
//! socket into its final memory (a fresh aligned buffer, or the caller's
//! [`Destination`]).

use std::os::fd::AsRawFd;

use bytes::Bytes;
use object_store::client::{HttpResponse, HttpResponseBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use super::place::{Destination, ReceivedAt};
use super::wire::{
    dechunk, ended, framing, keeps_alive, parse_head, Failure, Framing, HEAD_LIMIT, HEAD_READ,
};
use crate::buffer::{AlignedBuf, Span};

/// Send `head` on `conn` and read the whole response, a body for
/// `destination` into its region. Returns the response, and the connection when it
/// can carry another request.
pub(crate) async fn exchange(
    mut conn: TcpStream,
    head: &[u8],
    destination: Option<&Destination>,
) -> Result<(HttpResponse, Option<TcpStream>), Failure> {
    conn.write_all(head).await.map_err(Failure::Unanswered)?;
    let mut buf = Vec::with_capacity(HEAD_READ);
    let (parts, head_len) = loop {
        if let Some((parts, len)) = parse_head(&buf)? {
            if !parts.status.is_informational() {
                break (parts, len);
            }
            buf.drain(..len);
            continue;
        }
        if buf.len() >= HEAD_LIMIT {
            return Err(Failure::Malformed("response head too long".into()));
        }
        let before = buf.len();
        buf.reserve(HEAD_READ);
        let n = conn.read_buf(&mut buf).await.map_err(|e| match before {
            0 => Failure::Unanswered(e),
            _ => Failure::Interrupted(e),
        })?;
        if n == 0 {
            return Err(match before {
                0 => Failure::Unanswered(ended()),
                _ => Failure::Interrupted(ended()),
            });
        }
    };
    let early = &buf[head_len..];
    let mut reusable = keeps_alive(&parts);
    let mut received_at = None;
    let body = match framing(&parts)? {
        Framing::Empty => {
            reusable &= early.is_empty();
            Bytes::new()
        }
        Framing::Length(len) => {
            reusable &= early.len() <= len;
            let early = &early[..early.len().min(len)];
            // Only a success goes into the destination's region.
            let into = destination
                .filter(|_| parts.status.is_success())
                .and_then(|to| to.lend(len));
            let body = match into {
                Some(mut lent) => {
                    // Cut short, the region goes back as it was.
                    let mut body = lent.attempt();
                    receive(&conn, &mut body, early).await?;
                    body.keep();
                    // A view of the region's memory that keeps it alive;
                    // the region, full, goes back to the destination.
                    lent.received()
                }
                None => {
                    let mut body = AlignedBuf::new(len);
                    receive(&conn, &mut body, early).await?;
                    body.freeze()
                }
            };
            received_at = Some(ReceivedAt(body.as_ptr() as usize));
            body
        }
        Framing::Chunked => {
            let (body, clean) = dechunk(&mut conn, early.to_vec()).await?;
            reusable &= clean;
            body
        }
        Framing::UntilClose => {
            reusable = false;
            let mut body = early.to_vec();
            conn.read_to_end(&mut body)
                .await
                .map_err(Failure::Interrupted)?;
            Bytes::from(body)
        }
    };
    let mut response = http::Response::from_parts(parts, HttpResponseBody::from(body));
    if let Some(received_at) = received_at {
        response.extensions_mut().insert(received_at);
    }
    Ok((response, reusable.then_some(conn)))
}

/// Fill `body`: first with `early` (read with the head), then straight
/// from the socket. A peer that stops sending first interrupts it.
async fn receive(conn: &TcpStream, body: &mut Span, early: &[u8]) -> Result<(), Failure> {
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
