"""Credentials stay secret and transport security is on by default.

- No error message or repr shows a credential: not when the endpoint is
  unreachable, and not when a server echoes the access key id back (as S3
  does in ``InvalidAccessKeyId`` / ``SignatureDoesNotMatch`` answers).
- TLS certificates are verified: a self-signed HTTPS endpoint fails unless
  ``AWS_ALLOW_INVALID_CERTIFICATES=true`` is given explicitly.
- Plain HTTP is used only for an explicit ``http://`` endpoint of the
  scheme it was given for.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from fault_proxy import FaultProxy
from loopback_http import LoopbackServer

import s3dlio

SECRET = "SECRETSECRET"
ACCESS_KEY_ID = "AKIDSECRET"
EXE = shutil.which("s3dlio", path=str(Path(sys.executable).parent)) or "s3dlio"


def _texts(exc: BaseException) -> str:
    """Everything a user could see of an exception and its chain."""
    seen, parts = set(), []
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts += [str(exc), repr(exc), *getattr(exc, "__notes__", [])]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def _assert_no_secret(text: str) -> None:
    assert SECRET not in text and ACCESS_KEY_ID not in text, text


def _calls(bucket: str) -> dict[str, Callable[[dict[str, str]], Any]]:
    """Every public function that talks to storage, on s3://bucket/..."""
    uri = f"s3://{bucket}/key.bin"

    def store(options):
        return s3dlio.CheckpointStore(f"s3://{bucket}/ckpt", options=options)

    return {
        "get": lambda o: s3dlio.get(uri, options=o),
        "get_range": lambda o: s3dlio.get_range(uri, 0, 10, options=o),
        "get_object": lambda o: s3dlio.get_object(bucket, "key.bin", options=o),
        "get_many": lambda o: s3dlio.get_many([uri, uri + "2"], options=o),
        "get_batch": lambda o: s3dlio.get_batch([uri], options=o),
        "get_batch_sized": lambda o: s3dlio.get_batch([uri], sizes=[4], options=o),
        "read_table": lambda o: s3dlio.read_table([uri], options=o),
        "read_table_prefix": lambda o: s3dlio.read_table(f"s3://{bucket}/p", options=o),
        "put": lambda o: s3dlio.put(uri, b"data", options=o),
        "put_many": lambda o: s3dlio.put_many([(uri, b"data")], options=o),
        "stat": lambda o: s3dlio.stat(uri, options=o),
        "exists": lambda o: s3dlio.exists(uri, options=o),
        "list": lambda o: s3dlio.list(f"s3://{bucket}/p", options=o),
        "list_meta": lambda o: s3dlio.list_meta(f"s3://{bucket}/p", options=o),
        "delete": lambda o: s3dlio.delete(uri, options=o),
        "get_async": lambda o: asyncio.run(s3dlio.get_async(uri, options=o)),
        "get_many_async": lambda o: asyncio.run(s3dlio.get_many_async([uri], options=o)),
        "ckpt.save": lambda o: store(o).save(1, b"shard"),
        "ckpt.load_latest": lambda o: store(o).load_latest(),
        "ckpt.latest_step": lambda o: store(o).latest_step(),
        "ckpt.read_shard_by_rank": lambda o: store(o).read_shard_by_rank(1, 0),
        "ckpt.read_all_shards": lambda o: store(o).read_all_shards(1),
        "ckpt.list_checkpoints": lambda o: store(o).list_checkpoints(),
        "ckpt.delete": lambda o: store(o).delete(1),
    }


CALLS = list(_calls("b"))


def _secret_options(endpoint: str) -> dict[str, str]:
    return {
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_ENDPOINT_URL": endpoint,
        "S3DLIO_MAX_RETRIES": "0",
        "S3DLIO_CONNECT_TIMEOUT": "2",
    }


class _EchoingServer(LoopbackServer):
    """Answers every request 403 with an S3 error body that echoes the
    access key id of its Authorization header, as S3 itself does."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                auth = self.headers.get("Authorization", "")
                key = re.search(r"Credential=([^/,]*)", auth)
                body = (
                    "<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id "
                    "you provided does not exist in our records.</Message><AWSAccessKeyId>"
                    f"{key.group(1) if key else ''}</AWSAccessKeyId><Authorization>{auth}"
                    "</Authorization></Error>"
                ).encode()
                self.send_response(403)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _answer

        super().__init__(Handler)


@pytest.fixture
def echoing_server():
    with _EchoingServer() as server:
        yield server


@pytest.mark.timeout(60)
@pytest.mark.parametrize("call", CALLS)
def test_no_secret_in_errors_when_unreachable(closed_port, call):
    options = _secret_options(f"http://127.0.0.1:{closed_port}")
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        _calls("bucket")[call](options)
    assert not isinstance(excinfo.value, FileNotFoundError)
    _assert_no_secret(_texts(excinfo.value))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("call", CALLS)
def test_no_secret_in_errors_when_the_server_echoes_the_key(echoing_server, call):
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        _calls("bucket")[call](_secret_options(echoing_server.url))
    text = _texts(excinfo.value)
    _assert_no_secret(text)
    if "InvalidAccessKeyId" in text:
        assert "<redacted>" in text, "the echoed key id was replaced, the rest kept"


def test_checkpoint_store_repr_has_no_secret(closed_port):
    store = s3dlio.CheckpointStore(
        "s3://bucket/ckpt", options=_secret_options(f"http://127.0.0.1:{closed_port}")
    )
    _assert_no_secret(repr(store) + str(store))
    assert "s3://bucket/ckpt" in repr(store)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("server", ["closed", "echoing"])
def test_cli_stderr_has_no_secret(tmp_path, closed_port, echoing_server, server):
    endpoint = echoing_server.url if server == "echoing" else f"http://127.0.0.1:{closed_port}"
    env = {
        **os.environ,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "S3DLIO_MAX_RETRIES": "0",
        "S3DLIO_CONNECT_TIMEOUT": "2",
    }
    for args in (
        ["get", "s3://bucket/key.bin"],
        ["stat", "s3://bucket/key.bin"],
        ["ls", "s3://bucket/p", "-r"],
        ["download", "s3://bucket/key.bin", str(tmp_path / "dl")],
        ["cp", "s3://bucket/key.bin", f"file://{tmp_path}/x.bin"],
        ["rm", "s3://bucket/key.bin"],
    ):
        _assert_no_secret(_failed_cli(["--endpoint-url", endpoint, *args], tmp_path, env))


def _failed_cli(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run the CLI, which must fail (exit 1); what it printed."""
    out = subprocess.run(
        [EXE, *args], cwd=cwd, env=env, capture_output=True, timeout=60, check=False
    )
    assert out.returncode == 1, (args, out.stderr)
    return out.stderr.decode() + out.stdout.decode(errors="replace")


# --- TLS ----------------------------------------------------------------------------------


def _self_signed(tmp_path: Path):
    """A server-side SSLContext with a fresh self-signed certificate for 127.0.0.1."""
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


@pytest.fixture
def https_proxy(moto_server, tmp_path):
    """moto behind an HTTPS endpoint with a self-signed certificate."""
    with FaultProxy(moto_server, tls=_self_signed(tmp_path)) as proxy:
        yield proxy


@pytest.mark.timeout(60)
def test_self_signed_https_endpoint_fails_by_default(https_proxy, s3_bucket):
    uri = f"s3://{s3_bucket}/tls.bin"
    s3dlio.put(uri, b"over tls")  # straight to moto
    options = {"AWS_ENDPOINT_URL": https_proxy.url, "S3DLIO_MAX_RETRIES": "0"}
    for call in (
        lambda: s3dlio.get(uri, options=options),
        lambda: s3dlio.put(uri, b"replaced", options=options),
        lambda: s3dlio.list(f"s3://{s3_bucket}", options=options),
    ):
        with pytest.raises(s3dlio.S3dlioError) as excinfo:
            call()
        assert not isinstance(excinfo.value, FileNotFoundError)
        assert "certificate" in str(excinfo.value).lower() or "tls" in str(excinfo.value).lower()
    assert https_proxy.requests == [], "no request was sent over an unverified connection"
    assert bytes(s3dlio.get(uri)) == b"over tls"


@pytest.mark.timeout(60)
def test_self_signed_https_endpoint_works_when_explicitly_allowed(https_proxy, s3_bucket):
    uri = f"s3://{s3_bucket}/tls.bin"
    options = {
        "AWS_ENDPOINT_URL": https_proxy.url,
        "AWS_ALLOW_INVALID_CERTIFICATES": "true",
        "S3DLIO_MAX_RETRIES": "0",
    }
    s3dlio.put(uri, b"through https", options=options)
    assert bytes(s3dlio.get(uri, options=options)) == b"through https"
    assert s3dlio.list(f"s3://{s3_bucket}", options=options) == [uri]
    assert {r.method for r in https_proxy.requests} >= {"PUT", "GET"}


# --- plain http only where it is explicit ----------------------------------------------------

HTTP_CHILD = r"""
import json, sys
import s3dlio

recorder = sys.argv[1]
results = {}

def attempt(name, call):
    try:
        call()
        results[name] = "ok"
    except s3dlio.S3dlioError as e:
        results[name] = type(e).__name__ + ": " + str(e)

azure = {
    "AZURE_STORAGE_ACCOUNT_NAME": "account",
    "AZURE_STORAGE_ACCOUNT_KEY": "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
    "AZURE_STORAGE_ENDPOINT": recorder,
    "S3DLIO_MAX_RETRIES": "0",
}
attempt("az_implicit", lambda: s3dlio.get("az://container/blob", options=azure))
attempt("s3_explicit", lambda: s3dlio.get("s3://bucket/key", options={"S3DLIO_MAX_RETRIES": "0"}))
attempt(
    "az_explicit",
    lambda: s3dlio.get("az://container/blob", options={**azure, "AZURE_ALLOW_HTTP": "true"}),
)
print(json.dumps(results))
"""


class _Recorder(LoopbackServer):
    """A plain-HTTP server that records request paths and answers 404."""

    def __init__(self):
        self.paths: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self):
                recorder.paths.append(self.path)
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = do_PUT = _answer

        super().__init__(Handler)


@pytest.mark.timeout(60)
def test_plain_http_is_used_only_where_it_is_explicit(tmp_path):
    """AWS_ENDPOINT_URL=http://... allows plain HTTP for s3:// only; an
    az:// endpoint given as http:// is refused until AZURE_ALLOW_HTTP=true."""
    with _Recorder() as recorder:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AZURE_", "AZURITE_", "STORAGE_EMULATOR"))
        }
        env["AWS_ENDPOINT_URL"] = recorder.url
        out = subprocess.run(
            [sys.executable, "-c", HTTP_CHILD, recorder.url],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=50,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        results = json.loads(out.stdout)
        paths = list(recorder.paths)
    assert results["az_implicit"].startswith("S3dlioError"), results
    assert "http" in results["az_implicit"].lower()
    assert results["s3_explicit"].startswith("ObjectNotFoundError"), results
    assert results["az_explicit"].startswith("ObjectNotFoundError"), results
    s3_paths = [p for p in paths if p.startswith("/bucket/")]
    az_paths = [p for p in paths if "container" in p]
    assert s3_paths and len(az_paths) == 1, paths  # the implicit az:// request never left


# --- a user and password in an endpoint URL --------------------------------------------

USER, PASSWORD = "endpointuser", "pw"  # a password too short to search for by value


def _userinfo_endpoint(port: int, password: str = PASSWORD) -> str:
    return f"http://{USER}:{password}@127.0.0.1:{port}"


def _assert_no_userinfo(text: str, password: str = PASSWORD) -> None:
    assert USER not in text and f":{password}@" not in text, text


@pytest.mark.timeout(60)
@pytest.mark.parametrize("call", CALLS)
def test_no_userinfo_of_the_endpoint_in_errors(closed_port, call):
    """AWS_ENDPOINT_URL=http://user:pw@host: every error shows the URL as
    http://<redacted>@host, in its text, repr, notes and chain."""
    options = {
        "AWS_ENDPOINT_URL": _userinfo_endpoint(closed_port),
        "S3DLIO_MAX_RETRIES": "0",
        "S3DLIO_CONNECT_TIMEOUT": "2",
    }
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        _calls("bucket")[call](options)
    text = _texts(excinfo.value)
    _assert_no_userinfo(text)
    if f"127.0.0.1:{closed_port}" in text:
        assert f"<redacted>@127.0.0.1:{closed_port}" in text, text


@pytest.mark.timeout(60)
def test_a_long_endpoint_password_is_hidden_wherever_it_appears(echoing_server):
    """A password long enough to search for is also removed where a
    server echoes it on its own (the echoing server returns the
    Authorization header; the endpoint's userinfo is sent as Basic auth
    or not at all, never in clear)."""
    password = "longendpointpassword"
    port = echoing_server.url.rsplit(":", 1)[1]
    options = {
        "AWS_ENDPOINT_URL": _userinfo_endpoint(int(port), password),
        "S3DLIO_MAX_RETRIES": "0",
    }
    for call in ("get", "list", "put", "stat"):
        with pytest.raises(s3dlio.S3dlioError) as excinfo:
            _calls("bucket")[call](options)
        text = _texts(excinfo.value)
        _assert_no_userinfo(text, password)
        assert password not in text, text


def test_checkpoint_store_repr_has_no_userinfo(closed_port):
    store = s3dlio.CheckpointStore(
        "s3://bucket/ckpt", options={"AWS_ENDPOINT_URL": _userinfo_endpoint(closed_port)}
    )
    _assert_no_userinfo(repr(store) + str(store))


@pytest.mark.timeout(90)
@pytest.mark.parametrize("via", ["flag", "env"])
def test_cli_stderr_has_no_userinfo(tmp_path, closed_port, via):
    endpoint = _userinfo_endpoint(closed_port)
    env = {**os.environ, "S3DLIO_MAX_RETRIES": "0", "S3DLIO_CONNECT_TIMEOUT": "2"}
    flag = ["--endpoint-url", endpoint] if via == "flag" else []
    if via == "env":
        env["AWS_ENDPOINT_URL"] = endpoint
    for args in (
        ["get", "s3://bucket/key.bin"],
        ["stat", "s3://bucket/key.bin"],
        ["ls", "s3://bucket/p", "-r"],
        ["download", "s3://bucket/key.bin", str(tmp_path / "dl")],
        ["rm", "s3://bucket/key.bin"],
    ):
        shown = _failed_cli([*flag, *args], tmp_path, env)
        _assert_no_userinfo(shown)
        assert "<redacted>@127.0.0.1" in shown, shown
