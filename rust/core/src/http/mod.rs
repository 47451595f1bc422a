//! GETs over plain HTTP whose bodies land in their final buffer.
//!
//! object_store's HTTP client (reqwest over hyper) reads a response into
//! its own buffer and hands out chunks of it, which `get` then copies into
//! the object's aligned buffer. For 16 MiB objects that copy is a quarter
//! of the client's CPU. This connector answers itself the GETs to `http://`
//! endpoints that say where their body goes: a GET whose body is kept
//! whole ([`Keep`]) is received into one aligned buffer of the
//! Content-Length, taken from the pool; one whose body fills memory the
//! caller holds (a region of a batch or of a split object: [`Destination`])
//! is received into that memory. The response says where its body landed
//! ([`Landed`]), and the caller keeps it there instead of copying it.
//! Connections are kept alive and reused; a kept connection that turns out
//! closed is replaced once.
//!
//! Everything else (HTTPS, proxies, HTTP/2, other methods) goes to
//! object_store's own client.

use std::collections::HashMap;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
    HttpResponseBody, HttpService, ReqwestConnector,
};
use object_store::{ClientConfigKey, ClientOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::buffer::{AlignedBuf, Fill};
use crate::span::Window;

/// The longest response head accepted.
const HEAD_LIMIT: usize = 64 << 10;
/// How much is read at a time while looking for the end of the head.
const HEAD_READ: usize = 16 << 10;
/// Idle connections kept per host.
const IDLE_PER_HOST: usize = 64;
/// How long an idle connection is kept.
const IDLE_FOR: Duration = Duration::from_secs(30);
const USER_AGENT: &str = concat!("s3dlio/", env!("CARGO_PKG_VERSION"));

/// Marks a GET whose body is kept as the buffer it lands in (in the
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
    pub unsafe fn of(target: &mut impl Fill) -> Self {
        let (at, len) = target.unfilled();
        // SAFETY: passed on to the caller.
        unsafe { Self::new(at, len) }
    }
}

/// Marks a response whose body this connector received in place, at this
/// address: object_store passes it on in `GetResult::extensions`, and a
/// chunk at that address is a whole aligned buffer of its own, to keep as
/// it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Landed(pub usize);

/// Builds object_store clients that receive plain-HTTP GET bodies in place.
#[derive(Debug)]
pub struct Connector {
    connect_timeout: Duration,
    timeout: Duration,
}

impl Connector {
    pub fn new(connect_timeout: Duration, timeout: Duration) -> Self {
        Self {
            connect_timeout,
            timeout,
        }
    }
}

impl HttpConnector for Connector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let others = ReqwestConnector::default().connect(options)?;
        let configured = |key| options.get_config_value(&key);
        let on = |key| configured(key).as_deref() == Some("true");
        // Plain HTTP only where the options allow it: otherwise object_store's
        // client refuses the request, as it must.
        let direct = on(ClientConfigKey::AllowHttp)
            && !on(ClientConfigKey::Http2Only)
            && configured(ClientConfigKey::ProxyUrl).is_none();
        Ok(HttpClient::new(Service {
            others,
            direct,
            proxies: EnvProxies::read(),
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            idle: Mutex::new(HashMap::new()),
        }))
    }
}

#[derive(Debug)]
struct Service {
    /// object_store's client, for every request not answered here.
    others: HttpClient,
    /// False unless the options allow plain HTTP without a proxy or HTTP/2.
    direct: bool,
    proxies: EnvProxies,
    connect_timeout: Duration,
    timeout: Duration,
    /// Kept-alive connections by `host:port`, most recent last.
    idle: Mutex<HashMap<String, Vec<(TcpStream, Instant)>>>,
}

#[async_trait]
impl HttpService for Service {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        match self.route(&req) {
            Some(peer) => self.get(&req, &peer).await,
            None => self.others.execute(req).await,
        }
    }
}

/// Where a request answered here goes.
struct Peer {
    /// `host:port` to connect to (brackets removed from IPv6 hosts).
    host: String,
    port: u16,
    /// The Host header, as object_store signed it.
    authority: String,
}

impl Service {
    fn route(&self, req: &HttpRequest) -> Option<Peer> {
        let uri = req.uri();
        if !self.direct
            || req.method() != http::Method::GET
            || !(req.extensions().get::<Keep>().is_some()
                || req.extensions().get::<Destination>().is_some())
            || uri.scheme_str() != Some("http")
            || !req.body().is_empty()
        {
            return None;
        }
        let authority = uri.authority()?;
        let host = authority.host();
        if self.proxies.apply_to(host) {
            return None;
        }
        let port = authority.port_u16().unwrap_or(80);
        let authority = match port {
            80 => host.to_owned(),
            _ => authority.as_str().to_owned(),
        };
        Some(Peer {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            authority,
        })
    }

    async fn get(&self, req: &HttpRequest, peer: &Peer) -> Result<HttpResponse, HttpError> {
        let head = request_head(req, peer);
        let destination = req.extensions().get::<Destination>().copied();
        let deadline = Instant::now() + self.timeout;
        let key = format!("{}:{}", peer.host, peer.port);
        let exchange = async {
            if let Some(conn) = self.checkout(&key) {
                match exchange(conn, &head, destination).await {
                    // The server had closed the kept connection: nothing was
                    // answered, so the request goes again on a new one.
                    Err(Failure::Unanswered(_)) => {}
                    done => return done,
                }
            }
            exchange(self.open(peer).await?, &head, destination).await
        };
        let (response, reusable) = tokio::time::timeout_at(deadline, exchange)
            .await
            .map_err(|_| {
                HttpError::new(
                    HttpErrorKind::Timeout,
                    io::Error::from(io::ErrorKind::TimedOut),
                )
            })?
            .map_err(Failure::into_http)?;
        if let Some(conn) = reusable {
            self.checkin(key, conn);
        }
        Ok(response)
    }

    async fn open(&self, peer: &Peer) -> Result<TcpStream, Failure> {
        let connect = TcpStream::connect((peer.host.as_str(), peer.port));
        let conn = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| Failure::Connect(io::ErrorKind::TimedOut.into()))?
            .map_err(Failure::Connect)?;
        conn.set_nodelay(true).map_err(Failure::Connect)?;
        Ok(conn)
    }

    /// The most recently used idle connection to `key` that is still open.
    fn checkout(&self, key: &str) -> Option<TcpStream> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let conns = idle.get_mut(key)?;
        while let Some((conn, since)) = conns.pop() {
            if since.elapsed() < IDLE_FOR && still_open(&conn) {
                return Some(conn);
            }
        }
        None
    }

    fn checkin(&self, key: String, conn: TcpStream) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let conns = idle.entry(key).or_default();
        conns.retain(|(_, since)| since.elapsed() < IDLE_FOR);
        if conns.len() < IDLE_PER_HOST {
            conns.push((conn, Instant::now()));
        }
    }
}

/// True when nothing (no data, no end of stream) is waiting on an idle
/// connection: a server that closed it, or wrote out of turn, disqualifies it.
fn still_open(conn: &TcpStream) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte peek into a local.
    let n = unsafe {
        libc::recv(
            conn.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
}

/// The request line and headers of a GET, as HTTP/1.1 bytes.
fn request_head(req: &HttpRequest, peer: &Peer) -> Vec<u8> {
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut head = Vec::with_capacity(1024);
    head.extend_from_slice(b"GET ");
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    let headers = req.headers();
    if !headers.contains_key(http::header::HOST) {
        push_header(&mut head, b"host", peer.authority.as_bytes());
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
enum Failure {
    Connect(io::Error),
    /// Nothing of a response arrived: the request may not have been seen.
    Unanswered(io::Error),
    /// The response broke off.
    Interrupted(io::Error),
    /// The response is not HTTP/1.x as we read it.
    Malformed(String),
}

impl Failure {
    fn into_http(self) -> HttpError {
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

fn ended() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the connection closed before the response was complete",
    )
}

/// Send `head` on `conn` and read the whole response, a body for
/// `destination` into it. Returns the response, and the connection when it
/// can carry another request.
async fn exchange(
    mut conn: TcpStream,
    head: &[u8],
    destination: Option<Destination>,
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
    let mut landed = None;
    let body = match framing(&parts)? {
        Framing::Empty => {
            reusable &= early.is_empty();
            Bytes::new()
        }
        Framing::Length(len) => {
            reusable &= early.len() <= len;
            let early = &early[..early.len().min(len)];
            let body = match destination {
                // Only a success goes into the caller's memory.
                Some(to) if to.len == len && parts.status.is_success() => {
                    // SAFETY: the caller holds this memory, written by
                    // nothing else, until the response is dropped (the
                    // contract of `Destination::new`); frozen, the window
                    // is the body, a view of that memory it does not own.
                    let mut body = unsafe { Window::new(to.at as *mut u8, len) };
                    receive(&conn, &mut body, early).await?;
                    Bytes::from_owner(body)
                }
                _ => {
                    let mut body = AlignedBuf::new(len);
                    receive(&conn, &mut body, early).await?;
                    body.freeze()
                }
            };
            landed = Some(Landed(body.as_ptr() as usize));
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
    if let Some(landed) = landed {
        response.extensions_mut().insert(landed);
    }
    Ok((response, reusable.then_some(conn)))
}

/// The response head at the start of `buf`, and its length; None while
/// incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<(http::response::Parts, usize)>, Failure> {
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
fn keeps_alive(parts: &http::response::Parts) -> bool {
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
enum Framing {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

fn framing(parts: &http::response::Parts) -> Result<Framing, Failure> {
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

/// Fill `body`: first with `early` (read with the head), then straight
/// from the socket. A peer that stops sending first interrupts it.
async fn receive(conn: &TcpStream, body: &mut impl Fill, early: &[u8]) -> Result<(), Failure> {
    body.append(early);
    receive_rest(conn, body)
        .await
        .map_err(Failure::Interrupted)?;
    match body.written() == body.capacity() {
        true => Ok(()),
        false => Err(Failure::Interrupted(ended())),
    }
}

/// Receive into the rest of `body` from the socket, until it is full or
/// the peer stops sending.
async fn receive_rest(conn: &TcpStream, body: &mut impl Fill) -> io::Result<()> {
    let fd = conn.as_raw_fd();
    while body.written() < body.capacity() {
        conn.readable().await?;
        let read = conn.try_io(Interest::READABLE, || {
            body.fill_from(|at, max| {
                // SAFETY: `at..at + max` is unfilled memory inside `body`.
                match unsafe { libc::recv(fd, at.cast(), max, 0) } {
                    n if n < 0 => Err(io::Error::last_os_error()),
                    n => Ok(n as usize),
                }
            })
        });
        match read {
            // Full, or the peer closed: the caller checks which.
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A chunked body, starting with the bytes already read in `buf`. Returns
/// it and whether the connection ended cleanly after it.
async fn dechunk(conn: &mut TcpStream, mut buf: Vec<u8>) -> Result<(Bytes, bool), Failure> {
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

/// The proxies set in the environment, which object_store's client
/// follows: requests they apply to are left to it.
#[derive(Debug)]
struct EnvProxies {
    any: bool,
    /// NO_PROXY entries: hosts (and their subdomains) reached directly.
    except: Vec<String>,
}

impl EnvProxies {
    fn read() -> Self {
        let set = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| crate::env::var(n).filter(|v| !v.trim().is_empty()))
        };
        let any = set(&["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]).is_some();
        let except = set(&["no_proxy", "NO_PROXY"])
            .unwrap_or_default()
            .split(',')
            .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        Self { any, except }
    }

    fn apply_to(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.any
            && !self.except.iter().any(|e| {
                e == "*"
                    || host == e
                    || (host.ends_with(e.as_str()) && host[..host.len() - e.len()].ends_with('.'))
            })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use futures::TryStreamExt;
    use object_store::client::HttpRequestBody;
    use tokio::net::TcpListener;

    use super::*;
    use crate::buffer::ALIGN;
    use crate::runtime;

    /// What the scripted server does with the next request.
    enum Answer {
        /// Write these bytes and wait for the next request.
        Reply(Vec<u8>),
        /// Write these bytes and close the connection.
        ReplyAndClose(Vec<u8>),
        /// Say nothing.
        Stall,
    }

    /// A loopback server answering requests in order, whatever the
    /// connection. Returns its port, its count of connections, and the
    /// request heads it saw.
    struct Script {
        port: u16,
        accepted: Arc<AtomicUsize>,
        requests: Arc<Mutex<Vec<String>>>,
        _server: runtime::Task<()>,
    }

    async fn serve(answers: Vec<Answer>) -> Script {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
        let (count, seen) = (accepted.clone(), requests.clone());
        let server = runtime::spawn(async move {
            loop {
                let (mut conn, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let (answers, seen) = (answers.clone(), seen.clone());
                std::mem::forget(runtime::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            if conn.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                                return;
                            }
                        }
                        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        while buf.len() < end + length {
                            conn.read_buf(&mut buf).await.unwrap();
                        }
                        buf.drain(..end + length);
                        seen.lock().unwrap().push(head);
                        let next = answers.lock().unwrap().pop_front();
                        match next {
                            Some(Answer::Reply(bytes)) => conn.write_all(&bytes).await.unwrap(),
                            Some(Answer::ReplyAndClose(bytes)) => {
                                conn.write_all(&bytes).await.unwrap();
                                return;
                            }
                            Some(Answer::Stall) | None => {
                                std::future::pending::<()>().await;
                            }
                        }
                    }
                }));
            }
        });
        Script {
            port,
            accepted,
            requests,
            _server: server,
        }
    }

    fn ok(body: &[u8], headers: &str) -> Vec<u8> {
        let mut bytes = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n{headers}\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }

    fn client(timeout: Duration) -> HttpClient {
        let options = ClientOptions::new().with_allow_http(true);
        Connector::new(Duration::from_secs(5), timeout)
            .connect(&options)
            .unwrap()
    }

    /// A request, marked [`Keep`] when `keep`.
    fn request(method: &str, port: u16, body: &'static [u8], keep: bool) -> HttpRequest {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("http://127.0.0.1:{port}/bucket/key?x=1"))
            .header("range", "bytes=0-")
            .body(HttpRequestBody::from(Bytes::from_static(body)))
            .unwrap();
        if keep {
            request.extensions_mut().insert(Keep);
        }
        request
    }

    /// A GET marked [`Keep`]: see [`fetch`].
    async fn get(
        client: &HttpClient,
        port: u16,
    ) -> Result<(Vec<Bytes>, Option<Landed>), HttpError> {
        fetch(client, request("GET", port, b"", true)).await
    }

    /// The response's body chunks, and where it says its body landed.
    async fn fetch(
        client: &HttpClient,
        request: HttpRequest,
    ) -> Result<(Vec<Bytes>, Option<Landed>), HttpError> {
        let response = client.execute(request).await?;
        let landed = response.extensions().get::<Landed>().copied();
        let chunks = response.into_body().bytes_stream().try_collect().await?;
        Ok((chunks, landed))
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn a_body_lands_whole_in_one_aligned_buffer() {
        runtime::block_on(async {
            let body = pattern(300_000);
            let script = serve(vec![Answer::Reply(ok(&body, ""))]).await;
            let (chunks, landed) = get(&client(Duration::from_secs(5)), script.port)
                .await
                .unwrap();
            assert_eq!(chunks.len(), 1, "one chunk: the whole body");
            assert_eq!(chunks[0], body);
            let at = chunks[0].as_ptr() as usize;
            assert_eq!(
                landed,
                Some(Landed(at)),
                "the response names the body's address"
            );
            assert_eq!(at % ALIGN, 0);
            let head = script.requests.lock().unwrap()[0].clone();
            assert!(
                head.starts_with("GET /bucket/key?x=1 HTTP/1.1\r\n"),
                "{head}"
            );
            let port = script.port;
            assert!(
                head.contains(&format!("host: 127.0.0.1:{port}\r\n")),
                "{head}"
            );
            assert!(head.contains("range: bytes=0-\r\n"), "{head}");
        });
    }

    #[test]
    fn a_body_for_a_destination_is_received_there() {
        runtime::block_on(async {
            let body = pattern(200_000);
            let mut gone = ok(&pattern(200_000), "");
            gone.splice(9..15, b"404 NF".iter().copied());
            let script = serve(vec![
                Answer::Reply(ok(&body, "")),
                Answer::Reply(gone),
                Answer::Reply(ok(&body[..1000], "")),
            ])
            .await;
            let client = client(Duration::from_secs(5));
            let mut memory = vec![0u8; 200_000];
            let at = memory.as_mut_ptr();
            let into = |len| {
                let mut request = request("GET", script.port, b"", false);
                // SAFETY: `memory` outlives every response of this test.
                request
                    .extensions_mut()
                    .insert(unsafe { Destination::new(at, len) });
                request
            };
            let (chunks, landed) = fetch(&client, into(200_000)).await.unwrap();
            assert_eq!(landed, Some(Landed(at as usize)));
            assert_eq!(chunks.len(), 1);
            let body_at = chunks[0].as_ptr();
            assert_eq!(body_at, at.cast_const(), "the body is the caller's memory");
            drop(chunks);
            assert_eq!(memory, body);

            // A failure, or a length other than the memory's, lands elsewhere.
            memory.fill(0);
            for len in [200_000, 200_000 - 1] {
                let (chunks, _) = fetch(&client, into(len)).await.unwrap();
                assert_ne!(chunks[0].as_ptr(), at.cast_const());
            }
            assert!(
                memory.iter().all(|&b| b == 0),
                "nothing written into the caller's memory"
            );
        });
    }

    #[test]
    fn a_kept_connection_carries_the_next_request() {
        runtime::block_on(async {
            let script = serve(
                (0..3)
                    .map(|n| Answer::Reply(ok(&pattern(n * 10), "")))
                    .collect(),
            )
            .await;
            let client = client(Duration::from_secs(5));
            for n in 0..3 {
                let (chunks, _) = get(&client, script.port).await.unwrap();
                assert_eq!(chunks.concat(), pattern(n * 10));
            }
            assert_eq!(script.accepted.load(Ordering::SeqCst), 1);
        });
    }

    #[test]
    fn a_connection_the_server_closed_is_not_reused() {
        runtime::block_on(async {
            let script = serve(vec![
                Answer::ReplyAndClose(ok(b"first", "")),
                Answer::Reply(ok(b"second", "connection: close\r\n")),
                Answer::Reply(ok(b"third", "")),
            ])
            .await;
            let client = client(Duration::from_secs(5));
            for expected in [&b"first"[..], b"second", b"third"] {
                // Let the close arrive before the next request.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let (chunks, _) = get(&client, script.port).await.unwrap();
                assert_eq!(chunks.concat(), expected);
            }
            assert_eq!(script.accepted.load(Ordering::SeqCst), 3);
        });
    }

    #[test]
    fn chunked_and_close_delimited_bodies_are_read_whole() {
        runtime::block_on(async {
            let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\ntrailer: x\r\n\r\n";
            let script = serve(vec![
                Answer::Reply(chunked.to_vec()),
                Answer::ReplyAndClose(b"HTTP/1.1 200 OK\r\n\r\nuntil the end".to_vec()),
            ])
            .await;
            let client = client(Duration::from_secs(5));
            let (chunks, landed) = get(&client, script.port).await.unwrap();
            assert_eq!(chunks.concat(), b"hello world");
            assert_eq!(landed, None, "a chunked body is not received in place");
            let (chunks, _) = get(&client, script.port).await.unwrap();
            assert_eq!(chunks.concat(), b"until the end");
            // The chunked response left its connection clean for the second.
            assert_eq!(script.accepted.load(Ordering::SeqCst), 1);
        });
    }

    #[test]
    fn a_body_cut_short_is_an_interrupted_response() {
        runtime::block_on(async {
            let mut short = ok(&pattern(1000), "");
            short.truncate(short.len() - 990);
            let script = serve(vec![Answer::ReplyAndClose(short)]).await;
            let err = get(&client(Duration::from_secs(5)), script.port)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), HttpErrorKind::Interrupted, "{err}");
        });
    }

    #[test]
    fn a_silent_server_times_out() {
        runtime::block_on(async {
            let script = serve(vec![Answer::Stall]).await;
            let err = get(&client(Duration::from_millis(200)), script.port)
                .await
                .unwrap_err();
            assert_eq!(err.kind(), HttpErrorKind::Timeout, "{err}");
        });
    }

    #[test]
    fn other_requests_go_to_object_stores_client() {
        runtime::block_on(async {
            let script = serve(vec![
                Answer::Reply(ok(b"", "")),
                Answer::Reply(ok(b"streamed", "")),
            ])
            .await;
            let client = client(Duration::from_secs(5));
            for (method, body, keep) in [("PUT", &b"data"[..], true), ("GET", b"", false)] {
                let response = client
                    .execute(request(method, script.port, body, keep))
                    .await
                    .unwrap();
                assert!(response.extensions().get::<Landed>().is_none());
            }
            let heads = script.requests.lock().unwrap().clone();
            assert_eq!(heads.len(), 2);
            for head in heads {
                assert!(
                    !head.contains(USER_AGENT),
                    "sent by reqwest, not here: {head}"
                );
            }
        });
    }

    #[test]
    fn plain_http_is_refused_unless_allowed() {
        runtime::block_on(async {
            let script = serve(vec![Answer::Reply(ok(b"never", ""))]).await;
            let options = ClientOptions::new();
            let client = Connector::new(Duration::from_secs(5), Duration::from_secs(5))
                .connect(&options)
                .unwrap();
            assert!(get(&client, script.port).await.is_err());
            assert!(script.requests.lock().unwrap().is_empty());
        });
    }

    #[test]
    fn proxies_from_the_environment_keep_their_hosts() {
        let proxies = EnvProxies {
            any: true,
            except: vec!["127.0.0.1".into(), "example.com".into()],
        };
        assert!(!proxies.apply_to("127.0.0.1"));
        assert!(!proxies.apply_to("s3.example.com"));
        assert!(proxies.apply_to("badexample.com"));
        assert!(proxies.apply_to("minio.internal"));
        let none = EnvProxies {
            any: false,
            except: vec![],
        };
        assert!(!none.apply_to("minio.internal"));
    }
}
