//! One exchange on a connection: send a GET's head, read the response
//! head, and receive the body, a `Content-Length` body straight from the
//! socket into its final memory (a fresh aligned buffer, or the caller's
//! [`Destination`]).

use bytes::Bytes;
use object_store::client::{HttpResponse, HttpResponseBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::later::{Home, Later};
use super::place::{Destination, ReceivedAt};
use super::receive::receive_body;
use super::wire::{
    dechunk, ended, framing, keeps_alive, parse_head, Failure, Framing, HEAD_LIMIT, HEAD_READ,
};

/// An answer allowed to come back at its head ([`super::Early`]): until
/// `deadline`, the connection then going `home`.
pub(crate) struct AnswerEarly {
    pub(crate) deadline: tokio::time::Instant,
    pub(crate) home: Home,
}

/// Send `head` on `conn` and read the whole response, a body for
/// `destination` into its region. Returns the response, and the connection when it
/// can carry another request. With `answer_early`, a success with a
/// `Content-Length` body is returned at its head, its body received as it
/// is read ([`Later`]), into the region placed in the [`Destination`] of its
/// extensions by then.
pub(crate) async fn exchange(
    mut conn: TcpStream,
    head: &[u8],
    destination: Option<&Destination>,
    answer_early: Option<AnswerEarly>,
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
            let early_bytes = &early[..early.len().min(len)];
            if let Some(answer) = answer_early.filter(|_| parts.status.is_success() && len > 0) {
                let to = Destination::empty();
                let home = reusable.then_some(answer.home);
                let body = Later::new(
                    conn,
                    early_bytes.to_vec(),
                    len,
                    to.clone(),
                    answer.deadline,
                    home,
                );
                let mut response = http::Response::from_parts(parts, HttpResponseBody::new(body));
                response.extensions_mut().insert(to);
                return Ok((response, None));
            }
            // Only a success goes into the destination's region.
            let into = destination.filter(|_| parts.status.is_success());
            let body = receive_body(&conn, early_bytes, len, into).await?;
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
