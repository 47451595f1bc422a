//! The HTTP/1.1 wire format of one GET: the request head, the response
//! head (through `httparse`), how a body is delimited (RFC 9112, section
//! 6.3), chunked bodies, and how an exchange fails (which decides whether
//! object_store retries).

use std::io;

use bytes::Bytes;
use object_store::client::{HttpError, HttpErrorKind, HttpRequest};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The longest response head accepted.
pub(crate) const HEAD_LIMIT: usize = 64 << 10;
/// How much is read at a time while looking for the end of the head.
pub(crate) const HEAD_READ: usize = 16 << 10;
/// The User-Agent of requests sent here.
pub(crate) const USER_AGENT: &str = concat!("s3dlio/", env!("CARGO_PKG_VERSION"));

/// The request line and headers of a GET, as HTTP/1.1 bytes.
pub(crate) fn request_head(req: &HttpRequest, authority: &str) -> Vec<u8> {
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut head = Vec::with_capacity(1024);
    head.extend_from_slice(b"GET ");
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    let headers = req.headers();
    if !headers.contains_key(http::header::HOST) {
        push_header(&mut head, b"host", authority.as_bytes());
    }
    if !headers.contains_key(http::header::USER_AGENT) {
        push_header(&mut head, b"user-agent", USER_AGENT.as_bytes());
    }
    for (name, value) in headers {
        push_header(&mut head, name.as_str().as_bytes(), value.as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head
}

fn push_header(head: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    head.extend_from_slice(name);
    head.extend_from_slice(b": ");
    head.extend_from_slice(value);
    head.extend_from_slice(b"\r\n");
}

/// How an exchange failed, which decides whether object_store retries.
#[derive(Debug)]
pub(crate) enum Failure {
    Connect(io::Error),
    /// Nothing of a response arrived: the request may not have been seen.
    Unanswered(io::Error),
    /// The response broke off.
    Interrupted(io::Error),
    /// The response is not HTTP/1.x as we read it.
    Malformed(String),
}

impl Failure {
    pub(crate) fn into_http(self) -> HttpError {
        match self {
            Self::Connect(e) => HttpError::new(HttpErrorKind::Connect, e),
            Self::Unanswered(e) => HttpError::new(HttpErrorKind::Request, e),
            Self::Interrupted(e) => HttpError::new(HttpErrorKind::Interrupted, e),
            Self::Malformed(why) => HttpError::new(
                HttpErrorKind::Decode,
                io::Error::new(io::ErrorKind::InvalidData, why),
            ),
        }
    }
}

/// The error of a request that ran out of its time.
pub(crate) fn timed_out() -> HttpError {
    HttpError::new(
        HttpErrorKind::Timeout,
        io::Error::from(io::ErrorKind::TimedOut),
    )
}

pub(crate) fn ended() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the connection closed before the response was complete",
    )
}

/// The response head at the start of `buf`, and its length; None while
/// incomplete.
pub(crate) fn parse_head(buf: &[u8]) -> Result<Option<(http::response::Parts, usize)>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Response::new(&mut headers);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Failure::Malformed(format!("bad response head: {e}"))),
    };
    let malformed = |what: &str| Failure::Malformed(format!("bad response {what}"));
    let mut builder = http::Response::builder()
        .status(parsed.code.ok_or_else(|| malformed("status"))?)
        .version(match parsed.version {
            Some(0) => http::Version::HTTP_10,
            _ => http::Version::HTTP_11,
        });
    for header in parsed.headers.iter() {
        builder = builder.header(header.name, header.value);
    }
    let (parts, ()) = builder
        .body(())
        .map_err(|e| Failure::Malformed(format!("bad response header: {e}")))?
        .into_parts();
    Ok(Some((parts, len)))
}

/// Whether the connection may carry another request after this response.
pub(crate) fn keeps_alive(parts: &http::response::Parts) -> bool {
    let has = |token: &str| {
        parts
            .headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    match parts.version {
        http::Version::HTTP_10 => has("keep-alive"),
        _ => !has("close"),
    }
}

/// How the body of a response is delimited (RFC 9112, section 6.3).
pub(crate) enum Framing {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

pub(crate) fn framing(parts: &http::response::Parts) -> Result<Framing, Failure> {
    let status = parts.status;
    if status == http::StatusCode::NO_CONTENT || status == http::StatusCode::NOT_MODIFIED {
        return Ok(Framing::Empty);
    }
    if let Some(codings) = parts.headers.get(http::header::TRANSFER_ENCODING) {
        let last = codings
            .to_str()
            .unwrap_or("")
            .rsplit(',')
            .next()
            .unwrap_or("");
        return Ok(match last.trim().eq_ignore_ascii_case("chunked") {
            true => Framing::Chunked,
            false => Framing::UntilClose,
        });
    }
    let mut lengths = parts.headers.get_all(http::header::CONTENT_LENGTH).iter();
    match (lengths.next(), lengths.next()) {
        (None, _) => Ok(Framing::UntilClose),
        (Some(len), None) => len
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map(|len| match len {
                0 => Framing::Empty,
                len => Framing::Length(len),
            })
            .ok_or_else(|| Failure::Malformed("bad content-length".into())),
        _ => Err(Failure::Malformed("more than one content-length".into())),
    }
}

/// A chunked body, starting with the bytes already read in `buf`. Returns
/// it and whether the connection ended cleanly after it.
pub(crate) async fn dechunk(
    conn: &mut TcpStream,
    mut buf: Vec<u8>,
) -> Result<(Bytes, bool), Failure> {
    let mut body = Vec::new();
    let mut at = 0;
    // Read more into `buf` until `need` bytes are there from `at`.
    async fn fill(conn: &mut TcpStream, buf: &mut Vec<u8>, need: usize) -> Result<(), Failure> {
        while buf.len() < need {
            buf.reserve(HEAD_READ.max(need - buf.len()));
            if conn.read_buf(buf).await.map_err(Failure::Interrupted)? == 0 {
                return Err(Failure::Interrupted(ended()));
            }
        }
        Ok(())
    }
    async fn line(conn: &mut TcpStream, buf: &mut Vec<u8>, at: usize) -> Result<usize, Failure> {
        loop {
            if let Some(end) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                return Ok(at + end);
            }
            if buf.len() - at > HEAD_LIMIT {
                return Err(Failure::Malformed("chunk header too long".into()));
            }
            let need = buf.len() + 1;
            fill(conn, buf, need).await?;
        }
    }
    loop {
        let end = line(conn, &mut buf, at).await?;
        let size = std::str::from_utf8(&buf[at..end])
            .ok()
            .map(|l| l.split(';').next().unwrap_or("").trim())
            .and_then(|hex| usize::from_str_radix(hex, 16).ok())
            .ok_or_else(|| Failure::Malformed("bad chunk size".into()))?;
        at = end + 2;
        if size == 0 {
            // Trailers, up to an empty line.
            loop {
                let end = line(conn, &mut buf, at).await?;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return Ok((Bytes::from(body), at == buf.len()));
                }
            }
        }
        fill(conn, &mut buf, at + size + 2).await?;
        body.extend_from_slice(&buf[at..at + size]);
        if &buf[at + size..at + size + 2] != b"\r\n" {
            return Err(Failure::Malformed("chunk not followed by CRLF".into()));
        }
        at += size + 2;
    }
}
