"""A fault-injecting HTTP/1.1 reverse proxy on 127.0.0.1, for tests.

    with FaultProxy(upstream="http://127.0.0.1:PORT") as proxy:
        proxy.inject([SLOW_DOWN, SLOW_DOWN], method="GET", path="/bucket/key")
        ...  # point the client at proxy.url
        proxy.requests_to("GET", "/bucket/key")  # what the proxy saw

Every request is recorded (method, path, headers, the fault applied). Each
request takes the next fault of the first rule that matches it and still
has faults left; requests no rule claims pass through. Faults:

- SLOW_DOWN: answer 503 with an S3 `SlowDown` error body;
- EXPIRED_TOKEN: answer 403 with an S3 `ExpiredToken` error body;
- INTERNAL_ERROR: answer 500 with an S3 `InternalError` body;
- RESET: close the connection with a TCP reset (SO_LINGER 0) instead of
  answering;
- stall(seconds): wait, then pass through (closing the proxy cuts the wait
  short); delayed(SLOW_DOWN or INTERNAL_ERROR, seconds): wait, then answer so;
- TRUNCATE (or truncate(fraction)): forward the request, answer with the
  upstream's status and headers (its full Content-Length included), send
  only the first half (or `fraction`) of the body, then close the
  connection: a body cut short in transit;
- PASS: forward to the upstream.

With `tls=` (a server-side `ssl.SSLContext`) the proxy speaks HTTPS to
the client (plain HTTP to the upstream) and its `url` is https://...; a
client that rejects the certificate sends no request at all.

Connections from the client are kept alive (HTTP/1.1) as long as the client
wants. Request bodies, with Content-Length or chunked, are read in full and
forwarded with a Content-Length; responses are streamed back, with their
Content-Length when the upstream sent one and chunked otherwise. Each
request opens its own upstream connection. `close()` (or leaving the
`with` block) stops the server, cuts open connections and joins every
thread.
"""

from __future__ import annotations

import contextlib
import fnmatch
import http.client
import socket
import ssl
import struct
import sys
import threading
import urllib.parse
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

CHUNK = 64 * 1024
UPSTREAM_TIMEOUT_S = 60.0
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


def _s3_error(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>fault-proxy</RequestId></Error>"
    ).encode()


@dataclass(frozen=True)
class Fault:
    """What to do with one request: "pass", "503", "500", "reset", "stall"
    or "truncate"."""

    kind: str
    seconds: float = 0.0
    fraction: float = 0.5  # of the body sent by "truncate"


PASS = Fault("pass")
EXPIRED_TOKEN = Fault("403")
SLOW_DOWN = Fault("503")
INTERNAL_ERROR = Fault("500")
RESET = Fault("reset")
TRUNCATE = Fault("truncate")


def stall(seconds: float) -> Fault:
    """Wait `seconds` before passing the request through."""
    return Fault("stall", seconds)


def delayed(fault: Fault, seconds: float) -> Fault:
    """`fault` (an error answer) given only after `seconds`."""
    return Fault(fault.kind, seconds)


def truncate(fraction: float) -> Fault:
    """Pass the request through but send only `fraction` (0 <= f < 1) of the
    response body after announcing all of it, then close the connection."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1): {fraction}")
    return Fault("truncate", fraction=fraction)


_ERROR_RESPONSES = {
    "403": (403, "Forbidden", _s3_error("ExpiredToken", "The provided token has expired.")),
    "503": (503, "Slow Down", _s3_error("SlowDown", "Please reduce your request rate.")),
    "500": (500, "Internal Server Error", _s3_error("InternalError", "Injected failure.")),
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # as sent, query string included
    headers: dict[str, str]  # lower-case names
    fault: Fault

    @property
    def bare_path(self) -> str:
        """The path without its query string, percent-decoded."""
        return urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)


@dataclass
class _Rule:
    method: str | None
    path: str | None
    faults: deque[Fault]

    def matches(self, method: str, bare_path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or path_matches(bare_path, self.path)
        )


def path_matches(bare_path: str, pattern: str) -> bool:
    """`bare_path` is `pattern`, in which `*` stands for any characters."""
    return fnmatch.fnmatchcase(bare_path, pattern) if "*" in pattern else bare_path == pattern


class FaultProxy:
    """A reverse proxy in front of `upstream` (an http://127.0.0.1:PORT URL)."""

    def __init__(
        self, upstream: str, *, tls: ssl.SSLContext | None = None, upstream_host: bool = False
    ):
        parsed = urllib.parse.urlsplit(upstream)
        # Send the upstream's own host:port as Host (a server that routes
        # by Host, as fake-gcs-server does), rather than the client's.
        self.upstream_host_header = upstream_host
        if parsed.scheme != "http" or parsed.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"upstream must be http on the loopback interface: {upstream}")
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port or 80
        self.requests: list[RecordedRequest] = []
        self.errors: list[BaseException] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(self)
        if tls is not None:
            # The handshake happens in the handler's thread (see setup()).
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port = self._server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fault-proxy-{self.port}",
        )
        self._thread.start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.cut_connections()
        self._server.server_close()  # joins the handler threads
        self._thread.join()

    def inject(
        self, faults: Iterable[Fault], *, method: str | None = None, path: str | None = None
    ) -> None:
        """Apply `faults`, one per request, to the next requests that match
        `method` and `path` (the bare, decoded path, where `*` stands for any
        characters; None matches any)."""
        with self._lock:
            self._rules.append(_Rule(method, path, deque(faults)))

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """The recorded requests with this method and bare path (`*` stands
        for any characters), in order."""
        with self._lock:
            return [
                r for r in self.requests if r.method == method and path_matches(r.bare_path, path)
            ]

    def _next_fault(self, method: str, path: str, headers: dict[str, str]) -> Fault:
        bare = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
        with self._lock:
            fault = PASS
            for rule in self._rules:
                if rule.faults and rule.matches(method, bare):
                    fault = rule.faults.popleft()
                    break
            self.requests.append(RecordedRequest(method, path, headers, fault))
            return fault


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # so that server_close() joins them
    block_on_close = True

    def __init__(self, proxy: FaultProxy):
        self.proxy = proxy
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def track(self, sock: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(sock)

    def cut_connections(self) -> None:
        """Wake every handler blocked on a kept-alive connection."""
        with self._connections_lock:
            connections = list(self._connections)
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address) -> None:
        self.proxy.errors.append(sys.exc_info()[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120  # an idle kept-alive connection is dropped after this
    server: _Server

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()  # a client refusing the certificate ends here
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format, *args) -> None:
        pass

    def _handle(self) -> None:
        body = self._read_body()
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        fault = self.server.proxy._next_fault(self.command, self.path, headers)
        waits = fault.kind == "stall" or fault.kind in _ERROR_RESPONSES
        if waits and fault.seconds and self.server.proxy._stopping.wait(fault.seconds):
            self._reset()
            return
        if fault.kind == "reset":
            self._reset()
        elif fault.kind in _ERROR_RESPONSES:
            self._answer(*_ERROR_RESPONSES[fault.kind])
        else:
            self._forward(body, fault)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _handle

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)  # the CRLF after the chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reset(self) -> None:
        """Close the connection with a TCP RST, without answering."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()

    def _answer(self, status: int, reason: str, body: bytes) -> None:
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, body: bytes, fault: Fault) -> None:
        proxy = self.server.proxy
        upstream = http.client.HTTPConnection(
            proxy.upstream_host, proxy.upstream_port, timeout=UPSTREAM_TIMEOUT_S
        )
        try:
            try:
                upstream.putrequest(
                    self.command, self.path, skip_host=True, skip_accept_encoding=True
                )
                for name, value in self.headers.items():
                    if name.lower() == "host" and proxy.upstream_host_header:
                        value = f"{proxy.upstream_host}:{proxy.upstream_port}"
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        upstream.putheader(name, value)
                if body or self.command in ("PUT", "POST", "PATCH"):
                    upstream.putheader("Content-Length", str(len(body)))
                upstream.endheaders(body or None)
                response = upstream.getresponse()
            except OSError as exc:
                self._answer(502, "Bad Gateway", f"upstream failed: {exc}".encode())
                return
            if fault.kind == "truncate":
                self._relay_truncated(response, fault.fraction)
            else:
                self._relay(response)
        except OSError:
            # The client went away (it timed out, or gave up): drop the connection.
            self.close_connection = True
        finally:
            upstream.close()

    def _relay(self, response: http.client.HTTPResponse) -> None:
        has_body = self.command != "HEAD" and response.status >= 200
        has_body = has_body and response.status not in (204, 304)
        length = response.getheader("Content-Length")
        chunked = has_body and length is None
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if not has_body:
            return
        while chunk := response.read(CHUNK):
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                self.wfile.write(chunk)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _relay_truncated(self, response: http.client.HTTPResponse, fraction: float) -> None:
        """The upstream's status and headers with the full Content-Length,
        then only part of the body, then the connection is closed."""
        body = response.read()
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body[: int(len(body) * fraction)])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)
