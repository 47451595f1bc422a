"""Short-lived AWS keys on loopback, for tests of credential refresh.

    with CredentialServer(lifetime_s=6) as creds, KeyCheckingProxy(moto, creds) as s3:
        # AWS_CONTAINER_CREDENTIALS_FULL_URI=creds.url (plus a token file),
        # AWS_ENDPOINT_URL=s3.url: every request must be signed with a key
        # that has not expired, or it is refused with 403 ExpiredToken.

`CredentialServer` answers a GET as an EKS Pod Identity / ECS container
credentials endpoint does: JSON with `AccessKeyId`, `SecretAccessKey`,
`Token` and `Expiration`; and a POST of `Action=AssumeRoleWithWebIdentity`
(in the query, as object_store sends it) as STS does, recording the role
and token it was given (with `tls=`, over HTTPS: object_store asks STS over
HTTPS only). It hands out the same key until half its lifetime is gone,
then a new one. `KeyCheckingProxy` is a fault proxy in front of
the S3 server that reads the key id out of each request's SigV4
`Authorization` header and refuses a request whose key it did not issue or
whose key has expired (it does not check the signature itself: moto does
not either without authentication on).
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from fault_proxy import EXPIRED_TOKEN, Fault, FaultProxy

KEY_ID = re.compile(r"Credential=([^/,\s]+)/")


class CredentialServer:
    """A container credentials endpoint on 127.0.0.1 issuing keys that
    expire `lifetime_s` after they are issued."""

    def __init__(self, lifetime_s: float, *, tls: ssl.SSLContext | None = None) -> None:
        self.lifetime_s = lifetime_s
        self._lock = threading.Lock()
        self.issued: dict[str, float] = {}  # key id -> expiry (time.time())
        self.fetches = 0
        self.exchanged: list[dict[str, str]] = []  # the STS requests' parameters
        self._current: tuple[str, float] | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                key_id, expiry = server._key()
                body = json.dumps(
                    {
                        "AccessKeyId": key_id,
                        "SecretAccessKey": f"secret-{key_id}",
                        "Token": f"token-{key_id}",
                        "Expiration": datetime.fromtimestamp(expiry, UTC).isoformat(),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                params = {k: v[0] for k, v in query.items()}
                if params.get("Action") != "AssumeRoleWithWebIdentity":
                    self.send_error(400, "not an AssumeRoleWithWebIdentity request")
                    return
                with server._lock:
                    server.exchanged.append(params)
                key_id, expiry = server._key()
                when = datetime.fromtimestamp(expiry, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                body = (
                    '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/'
                    '2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials>'
                    f"<AccessKeyId>{key_id}</AccessKeyId>"
                    f"<SecretAccessKey>secret-{key_id}</SecretAccessKey>"
                    f"<SessionToken>token-{key_id}</SessionToken>"
                    f"<Expiration>{when}</Expiration>"
                    "</Credentials></AssumeRoleWithWebIdentityResult>"
                    "</AssumeRoleWithWebIdentityResponse>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}/v1/credentials"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _key(self) -> tuple[str, float]:
        now = time.time()
        with self._lock:
            self.fetches += 1
            if self._current is None or self._current[1] - now < self.lifetime_s / 2:
                key_id = f"ASIATEST{len(self.issued):08d}"
                self._current = (key_id, now + self.lifetime_s)
                self.issued[key_id] = self._current[1]
            return self._current

    def valid(self, key_id: str | None, at: float | None = None) -> bool:
        with self._lock:
            expiry = self.issued.get(key_id or "")
        return expiry is not None and (at or time.time()) < expiry

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def key_id(headers: dict[str, str]) -> str | None:
    """The access key id a SigV4-signed request names."""
    found = KEY_ID.search(headers.get("authorization", ""))
    return found.group(1) if found else None


class KeyCheckingProxy(FaultProxy):
    """A proxy to `upstream` that refuses a request signed with a key
    `credentials` did not issue or that has expired."""

    def __init__(self, upstream: str, credentials: CredentialServer) -> None:
        self.credentials = credentials
        self.refused: list[str | None] = []
        super().__init__(upstream)

    def _next_fault(self, method: str, path: str, headers: dict[str, str]) -> Fault:
        fault = super()._next_fault(method, path, headers)
        used = key_id(headers)
        if not self.credentials.valid(used):
            self.refused.append(used)
            return EXPIRED_TOKEN
        return fault

    def keys_used(self) -> list[str]:
        """Key ids of the requests it let through, in order, each once."""
        seen: dict[str, None] = {}
        for r in self.requests:
            used = key_id(r.headers)
            if used is not None and used not in self.refused:
                seen.setdefault(used)
        return list(seen)
