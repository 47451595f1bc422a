"""Plain HTTP requests to the loopback emulators, outside s3dlio: probes
while a server starts, and seeding objects where the library cannot write
(fake-gcs-server refuses object_store's uploads)."""

from __future__ import annotations

import http.client
import urllib.parse


def http_request(
    port: int,
    method: str,
    path: str,
    timeout: float = 2.0,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
):
    """Send one request to 127.0.0.1:port; return (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        all_headers = {"Content-Length": str(len(body)), **(headers or {})}
        conn.request(method, path, body=body, headers=all_headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def gcs_upload(endpoint: str, bucket: str, key: str, data) -> None:
    """Write an object with fake-gcs-server's JSON upload API (not through s3dlio)."""
    query = urllib.parse.urlencode({"uploadType": "media", "name": key})
    status, body = http_request(
        port_of(endpoint),
        "POST",
        f"/upload/storage/v1/b/{bucket}/o?{query}",
        timeout=30.0,
        headers={"Content-Type": "application/octet-stream"},
        body=bytes(data),
    )
    assert status == 200, f"uploading gs://{bucket}/{key} failed: {status} {body[:500]!r}"
