//! The object_store HTTP connector: GETs to plain-`http://` endpoints that
//! carry a receive-in-place mark are answered here, on kept-alive
//! connections; every other request goes to object_store's own client.
//! Every attempt, either way, is counted in its [`lanes`] lane and, unless
//! told otherwise, waits for a place in flight from the lane's adaptive
//! [`super::limiter`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
    HttpResponseBody, HttpService, ReqwestConnector,
};
use object_store::{ClientConfigKey, ClientOptions};
use tokio::time::Instant;

use crate::metrics;

use super::connections::{open, Idle};
use super::exchange::{exchange, AnswerEarly};
use super::lanes::{self, Lane};
use super::later::Early;
use super::limiter::Permit;
use super::place::{Destination, Keep, ReceivedAt};
use super::proxies::EnvProxies;
use super::unreachable::Unreachable;
use super::wire::{request_head, timed_out, Failure};

/// Builds object_store clients that receive plain-HTTP GET bodies in place.
#[derive(Debug)]
pub struct Connector {
    connect_timeout: Duration,
    timeout: Duration,
    bucket: String,
    adaptive: bool,
    fail_fast: bool,
}

impl Connector {
    pub fn new(connect_timeout: Duration, timeout: Duration) -> Self {
        Self {
            connect_timeout,
            timeout,
            bucket: String::new(),
            adaptive: true,
            fail_fast: false,
        }
    }

    /// The bucket (or container) its client's requests are for: with the
    /// endpoint, their lane.
    pub fn for_bucket(mut self, bucket: &str) -> Self {
        self.bucket = bucket.to_owned();
        self
    }

    /// Whether attempts wait for a place from the lane's limiter (on unless
    /// told otherwise).
    pub fn adaptive(mut self, on: bool) -> Self {
        self.adaptive = on;
        self
    }

    /// A failed connect answered at once as [`Unreachable`], which
    /// object_store does not retry: for a client whose caller has other
    /// endpoints to send the request to.
    pub fn failing_fast(mut self, on: bool) -> Self {
        self.fail_fast = on;
        self
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
            idle: Arc::default(),
            bucket: self.bucket.clone(),
            adaptive: self.adaptive,
            fail_fast: self.fail_fast,
            lanes: Default::default(),
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
    /// Kept-alive connections by `host:port`.
    idle: Arc<Idle>,
    bucket: String,
    adaptive: bool,
    fail_fast: bool,
    /// The lanes this client's requests went to: (scheme, authority, lane).
    lanes: std::sync::Mutex<Vec<(String, String, Arc<Lane>)>>,
}

#[async_trait]
impl HttpService for Service {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        // Every attempt passes here, object_store's retries included.
        let seen = metrics::attempt(attempt_key(&req), || endpoint(&req));
        let lane = self.lane(&req);
        lane.attempted();
        let permit = match self.adaptive {
            true => Some(lane.limiter.acquire().await),
            false => None,
        };
        let answer = match self.route(&req) {
            Some(peer) => self.get(&req, &peer).await,
            None => self.others.execute(req).await,
        };
        let status = answer.as_ref().ok().map(|a| a.status().as_u16());
        if let Some(seen) = seen {
            metrics::answered(&seen, status);
        }
        self.count(&lane, permit, answer)
    }
}

impl Service {
    /// The lane of `req`: found among this client's without formatting its
    /// endpoint (a client has one or a few).
    fn lane(&self, req: &HttpRequest) -> Arc<Lane> {
        let uri = req.uri();
        let scheme = uri.scheme_str().unwrap_or("http");
        let authority = uri.authority().map_or("", |a| a.as_str());
        let mut known = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let found = known.iter().find(|(s, a, _)| s == scheme && a == authority);
        if let Some((_, _, lane)) = found {
            return lane.clone();
        }
        let lane = lanes::lane(format!("{scheme}://{authority}"), &self.bucket);
        known.push((scheme.to_owned(), authority.to_owned(), lane.clone()));
        lane
    }

    /// `answer` counted in its lane, and its place in flight kept until its
    /// body has been read (or dropped).
    fn count(
        &self,
        lane: &Lane,
        permit: Option<Permit>,
        answer: Result<HttpResponse, HttpError>,
    ) -> Result<HttpResponse, HttpError> {
        let response = match answer {
            Ok(response) => response,
            Err(e) if e.kind() == HttpErrorKind::Connect => {
                lane.unreachable();
                return Err(match self.fail_fast {
                    true => HttpError::new(
                        HttpErrorKind::Unknown,
                        Unreachable {
                            endpoint: lane.endpoint().to_owned(),
                            source: e,
                        },
                    ),
                    false => e,
                });
            }
            Err(e) => return Err(e),
        };
        let status = response.status().as_u16();
        if matches!(status, 503 | 429) {
            lane.throttled();
        }
        let Some(permit) = permit else {
            return Ok(response);
        };
        permit.answered(status);
        if response.extensions().get::<ReceivedAt>().is_some() {
            return Ok(response); // its body is in place already: the place is free
        }
        let (parts, body) = response.into_parts();
        Ok(HttpResponse::from_parts(
            parts,
            HttpResponseBody::new(Holding { body, permit }),
        ))
    }
}

/// A response body that holds its request's place in flight.
struct Holding {
    body: HttpResponseBody,
    #[allow(dead_code)] // held, given back when the body is dropped
    permit: Permit,
}

impl http_body::Body for Holding {
    type Data = bytes::Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// What tells one HTTP request of an operation from its others (its
/// method, path, query and range): an attempt with the key of one made
/// before is a retry.
fn attempt_key(req: &HttpRequest) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    req.method().hash(&mut h);
    req.uri().path_and_query().map(|p| p.as_str()).hash(&mut h);
    req.headers()
        .get(http::header::RANGE)
        .map(|r| r.as_bytes())
        .hash(&mut h);
    h.finish()
}

/// `scheme://host:port` of the request.
fn endpoint(req: &HttpRequest) -> String {
    let uri = req.uri();
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map_or("", |a| a.as_str())
    )
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
        let head = request_head(req, &peer.authority);
        let destination = req.extensions().get::<Destination>();
        let deadline = Instant::now() + self.timeout;
        let key = format!("{}:{}", peer.host, peer.port);
        let early = req.extensions().get::<Early>().is_some();
        let answer_early = || {
            early.then(|| {
                let (idle, key) = (self.idle.clone(), key.clone());
                AnswerEarly {
                    deadline,
                    home: Box::new(move |conn| idle.checkin(key, conn)),
                }
            })
        };
        let exchange = async {
            if let Some(conn) = self.idle.checkout(&key) {
                match exchange(conn, &head, destination, answer_early()).await {
                    // The server had closed the kept connection: nothing was
                    // answered, so the request goes again on a new one.
                    Err(Failure::Unanswered(_)) => {}
                    done => return done,
                }
            }
            let conn = open(&peer.host, peer.port, self.connect_timeout).await?;
            exchange(conn, &head, destination, answer_early()).await
        };
        let (response, reusable) = tokio::time::timeout_at(deadline, exchange)
            .await
            .map_err(|_| timed_out())?
            .map_err(Failure::into_http)?;
        if let Some(conn) = reusable {
            self.idle.checkin(key, conn);
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use futures::TryStreamExt;
    use object_store::client::{HttpErrorKind, HttpRequestBody};
    use tokio::net::TcpListener;

    use super::*;
    use std::sync::Mutex;

    use bytes::Bytes;

    use crate::buffer::{watched, AlignedBuf, ALIGN};
    use crate::http::place::ReceivedAt;
    use crate::http::wire::USER_AGENT;
    use crate::runtime;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    ) -> Result<(Vec<Bytes>, Option<ReceivedAt>), HttpError> {
        fetch(client, request("GET", port, b"", true)).await
    }

    /// The response's body chunks, and where it says its body was received.
    async fn fetch(
        client: &HttpClient,
        request: HttpRequest,
    ) -> Result<(Vec<Bytes>, Option<ReceivedAt>), HttpError> {
        let response = client.execute(request).await?;
        let received_at = response.extensions().get::<ReceivedAt>().copied();
        let chunks = response.into_body().bytes_stream().try_collect().await?;
        Ok((chunks, received_at))
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn a_body_lands_whole_in_one_aligned_buffer() {
        runtime::block_on(async {
            let body = pattern(300_000);
            let script = serve(vec![Answer::Reply(ok(&body, ""))]).await;
            let (chunks, received_at) = get(&client(Duration::from_secs(5)), script.port)
                .await
                .unwrap();
            assert_eq!(chunks.len(), 1, "one chunk: the whole body");
            assert_eq!(chunks[0], body);
            let at = chunks[0].as_ptr() as usize;
            assert_eq!(
                received_at,
                Some(ReceivedAt(at)),
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
    fn an_early_answer_receives_its_body_where_the_caller_places_it() {
        runtime::block_on(async {
            let body = pattern(300_000);
            let script = serve(vec![
                Answer::Reply(ok(&body, "")),
                Answer::Reply(ok(&body, "")),
            ])
            .await;
            let client = client(Duration::from_secs(5));
            let early = || {
                let mut request = request("GET", script.port, b"", true);
                request.extensions_mut().insert(Early);
                request
            };
            // Answered at its head: the region is placed only after that,
            // and the body is received into it.
            let response = client.execute(early()).await.unwrap();
            let to = response.extensions().get::<Destination>().cloned();
            let to = to.expect("an early answer carries a destination");
            let (owner, mut regions) = AlignedBuf::new(300_000).into_regions(300_000);
            let region = regions.pop().unwrap();
            let at = region.as_ptr() as usize;
            assert!(to.give(region).is_ok());
            let chunks: Vec<Bytes> = response
                .into_body()
                .bytes_stream()
                .try_collect()
                .await
                .unwrap();
            assert_eq!(chunks.len(), 1);
            assert_eq!(
                chunks[0].as_ptr() as usize,
                at,
                "received where it was placed"
            );
            drop(chunks);
            let region = to.take().expect("the region comes back");
            assert!(region.is_full());
            assert_eq!(owner.finish(vec![region]).unwrap(), body);

            // Nothing placed: the body lands whole in an aligned buffer of its own.
            let response = client.execute(early()).await.unwrap();
            assert!(response.extensions().get::<Destination>().is_some());
            let chunks: Vec<Bytes> = response
                .into_body()
                .bytes_stream()
                .try_collect()
                .await
                .unwrap();
            assert_eq!(chunks.len(), 1);
            assert_eq!(chunks[0], body);
            assert_eq!(chunks[0].as_ptr() as usize % ALIGN, 0);
            // Both answers came on one kept-alive connection.
            assert_eq!(script.accepted.load(Ordering::SeqCst), 1);
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
            let (buf, memory_gone) = watched(600_000 - 1);
            let (owner, regions) = buf.into_regions_sized([200_000, 200_000, 200_000 - 1]);
            let into = |region| {
                let destination = Destination::new(region);
                let mut request = request("GET", script.port, b"", false);
                request.extensions_mut().insert(destination.clone());
                (request, destination)
            };
            let mut regions = regions.into_iter();
            let region = regions.next().unwrap();
            let at = region.as_ptr();
            let (request, destination) = into(region);
            let (chunks, received_at) = fetch(&client, request).await.unwrap();
            assert_eq!(received_at, Some(ReceivedAt(at as usize)));
            assert_eq!(chunks.len(), 1);
            assert_eq!(
                chunks[0].as_ptr(),
                at.cast_const(),
                "the body is the region"
            );
            let mut first = destination.take().expect("the region comes back");
            assert!(first.is_full(), "filled by the body");
            assert_eq!(first.as_ref(), &body[..]);
            assert!(first.has_filled(&chunks[0]), "counted, not copied");

            // A failure, or a length other than the region's, lands elsewhere;
            // the region comes back as it was, for the body to be copied into.
            let mut rest = Vec::new();
            for region in regions {
                let len = region.len();
                let (request, destination) = into(region);
                let (chunks, _) = fetch(&client, request).await.unwrap();
                assert_ne!(chunks[0].as_ptr(), at.cast_const());
                let mut region = destination.take().unwrap();
                assert_eq!(region.filled(), 0, "nothing received into the region");
                assert!(region.extend_from_slice(&pattern(len)));
                rest.push(region);
            }

            // The body outlives every other handle on the memory.
            assert!(!first.extend_from_slice(b"x"), "full: it writes no more");
            drop((first, rest, owner));
            assert!(!memory_gone.load(Ordering::SeqCst), "the body keeps it");
            assert_eq!(chunks[0], body);
            drop(chunks);
            assert!(memory_gone.load(Ordering::SeqCst), "and only the body");
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
            let (chunks, received_at) = get(&client, script.port).await.unwrap();
            assert_eq!(chunks.concat(), b"hello world");
            assert_eq!(received_at, None, "a chunked body is not received in place");
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
            let script = serve(vec![
                Answer::ReplyAndClose(short.clone()),
                Answer::ReplyAndClose(short),
            ])
            .await;
            let client = client(Duration::from_secs(5));
            let err = get(&client, script.port).await.unwrap_err();
            assert_eq!(err.kind(), HttpErrorKind::Interrupted, "{err}");

            // Cut short in a destination's region: it comes back as it was.
            let (_owner, mut regions) = AlignedBuf::new(1000).into_regions(1000);
            let destination = Destination::new(regions.pop().unwrap());
            let mut request = request("GET", script.port, b"", false);
            request.extensions_mut().insert(destination.clone());
            let err = fetch(&client, request).await.unwrap_err();
            assert_eq!(err.kind(), HttpErrorKind::Interrupted, "{err}");
            let region = destination.take().expect("the region comes back");
            assert_eq!(region.filled(), 0, "nothing counted of a cut body");
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
                assert!(response.extensions().get::<ReceivedAt>().is_none());
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
}
