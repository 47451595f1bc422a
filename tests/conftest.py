"""Shared fixtures: a moto S3 server on 127.0.0.1, per-test buckets and prefixes.

The environment guards below are applied at import time, before any test
(or the library under test) can read credentials or endpoints: they keep
every credential chain away from metadata servers and all traffic on the
loopback interface.
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

_GUARD_ENV = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "GCE_METADATA_HOST": "127.0.0.1:1",
    "GCE_METADATA_IP": "127.0.0.1:1",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    # Until the moto server is up, any S3 endpoint points at a closed
    # loopback port, never at a real cloud.
    "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
}
for _name, _value in _GUARD_ENV.items():
    os.environ[_name] = _value
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
    os.environ.pop(_name, None)

MOTO_START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _moto_executable() -> str:
    candidate = Path(sys.executable).parent / "moto_server"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("moto_server")
    if found:
        return found
    pytest.fail(
        "moto_server executable not found next to "
        f"{sys.executable} or on PATH; install requirements-test.txt"
    )


def _log_tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError as exc:
        return f"<could not read {path}: {exc}>"


def _http_request(port: int, method: str, path: str, timeout: float = 2.0):
    """Send one request to 127.0.0.1:port; return (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, headers={"Content-Length": "0"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="session", autouse=True)
def moto_server(tmp_path_factory):
    """Start `moto_server` on a free loopback port for the whole session.

    Sets AWS_ENDPOINT_URL for the library (and for child processes) and
    yields the endpoint URL. It is autouse so that the endpoint in the
    environment is the same for every test, whatever the order. A server
    that does not start fails the tests that depend on it; nothing skips.
    """
    exe = _moto_executable()
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto_server.log"
    endpoint = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )
    try:
        deadline = time.monotonic() + MOTO_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"moto_server exited with status {proc.returncode} "
                    f"before answering on {endpoint}:\n{_log_tail(log_path)}"
                )
            try:
                _http_request(port, "GET", "/", timeout=1.0)
                break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"moto_server did not answer on {endpoint} within "
                    f"{MOTO_START_TIMEOUT_S:.0f} s:\n{_log_tail(log_path)}"
                )
            time.sleep(0.1)

        previous = os.environ.get("AWS_ENDPOINT_URL")
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        try:
            yield endpoint
        finally:
            if previous is None:
                os.environ.pop("AWS_ENDPOINT_URL", None)
            else:
                os.environ["AWS_ENDPOINT_URL"] = previous
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def moto_port(moto_server) -> int:
    """The TCP port of the session's moto server."""
    return int(moto_server.rsplit(":", 1)[1])


@pytest.fixture
def s3_bucket(moto_server, moto_port) -> str:
    """A fresh, empty bucket on the moto server (unique per test)."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    status, body = _http_request(moto_port, "PUT", f"/{name}", timeout=10.0)
    assert status == 200, f"creating bucket {name} failed: {status} {body[:500]!r}"
    return name


@pytest.fixture
def s3_prefix(s3_bucket) -> str:
    """An s3:// prefix (no trailing slash) inside a fresh bucket."""
    return f"s3://{s3_bucket}/p"


@pytest.fixture
def file_prefix(tmp_path) -> str:
    """A file:// prefix for a fresh directory: file:///abs/path (no trailing slash)."""
    return "file://" + str(tmp_path.resolve())


@pytest.fixture(params=["file", "s3"])
def prefix(request) -> str:
    """The same contract test on both backends: a fresh file:// or s3:// prefix."""
    if request.param == "file":
        return request.getfixturevalue("file_prefix")
    return request.getfixturevalue("s3_prefix")


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nothing listening on it (bound, then closed)."""
    return free_port()


@pytest.fixture
def unreachable_s3_options(closed_port) -> dict[str, str]:
    """Options that point S3 at a closed loopback port, with no retries."""
    return {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}",
        "S3DLIO_MAX_RETRIES": "0",
        "S3DLIO_CONNECT_TIMEOUT": "2",
    }
