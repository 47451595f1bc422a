"""Errors: the exception hierarchy, not-found, bad URIs, unreachable endpoints.

Every error message names the URI it is about.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import s3dlio

# --- hierarchy -----------------------------------------------------------------


def test_exception_hierarchy():
    assert issubclass(s3dlio.S3dlioError, Exception)
    assert issubclass(s3dlio.ObjectNotFoundError, FileNotFoundError)
    assert issubclass(s3dlio.ObjectNotFoundError, s3dlio.S3dlioError)
    assert issubclass(s3dlio.InvalidUriError, ValueError)
    assert issubclass(s3dlio.InvalidUriError, s3dlio.S3dlioError)
    assert issubclass(s3dlio.ChecksumError, s3dlio.S3dlioError)


# --- not found --------------------------------------------------------------------

NOT_FOUND_OPS = {
    "get": lambda uri: s3dlio.get(uri),
    "get_range": lambda uri: s3dlio.get_range(uri, 0, 10),
    "get_range_to_end": lambda uri: s3dlio.get_range(uri, 5),
    "stat": lambda uri: s3dlio.stat(uri),
    "delete": lambda uri: s3dlio.delete(uri),
    "get_many": lambda uri: s3dlio.get_many([uri]),
}


@pytest.mark.parametrize("op", list(NOT_FOUND_OPS))
def test_missing_object_raises_not_found(prefix, op):
    s3dlio.put(f"{prefix}/present", b"something else is here")
    uri = f"{prefix}/missing/object.bin"
    with pytest.raises(FileNotFoundError) as excinfo:
        NOT_FOUND_OPS[op](uri)
    exc = excinfo.value
    assert isinstance(exc, s3dlio.ObjectNotFoundError)
    assert isinstance(exc, s3dlio.S3dlioError)
    assert uri in str(exc)


def test_exists_is_false_for_missing(prefix):
    assert s3dlio.exists(f"{prefix}/missing") is False


@pytest.mark.timeout(60)
def test_get_many_with_one_missing_names_it(prefix):
    items = [(f"{prefix}/ok/{i}", f"obj-{i}".encode()) for i in range(50)]
    s3dlio.put_many(items)
    missing = f"{prefix}/ok/this-one-is-missing"
    uris = [u for u, _ in items]
    uris.insert(25, missing)
    with pytest.raises(FileNotFoundError) as excinfo:
        s3dlio.get_many(uris, max_in_flight=8)
    assert isinstance(excinfo.value, s3dlio.S3dlioError)
    assert missing in str(excinfo.value)
    # The library is still usable afterwards.
    assert bytes(s3dlio.get(uris[0])) == b"obj-0"


@pytest.mark.timeout(60)
def test_get_many_mixed_schemes_with_missing_s3_object(file_prefix, s3_prefix):
    s3dlio.put(f"{file_prefix}/f", b"file")
    s3dlio.put(f"{s3_prefix}/s", b"s3")
    missing = f"{s3_prefix}/nope"
    with pytest.raises(FileNotFoundError) as excinfo:
        s3dlio.get_many([f"{file_prefix}/f", missing, f"{s3_prefix}/s"])
    assert missing in str(excinfo.value)


# --- bad URIs ----------------------------------------------------------------------

BAD_URIS = ["", "nota-uri", "ftp://x/y", "s3://", "s3:///key", "file://relative/path"]

URI_OPS = {
    "get": lambda uri: s3dlio.get(uri),
    "get_range": lambda uri: s3dlio.get_range(uri, 0, 1),
    "get_many": lambda uri: s3dlio.get_many([uri]),
    "put": lambda uri: s3dlio.put(uri, b"x"),
    "put_many": lambda uri: s3dlio.put_many([(uri, b"x")]),
    "stat": lambda uri: s3dlio.stat(uri),
    "exists": lambda uri: s3dlio.exists(uri),
    "list": lambda uri: s3dlio.list(uri),
    "delete": lambda uri: s3dlio.delete(uri),
}


@pytest.mark.parametrize("op", list(URI_OPS))
@pytest.mark.parametrize("uri", BAD_URIS, ids=lambda u: repr(u))
def test_bad_uri_is_value_error(tmp_path, monkeypatch, op, uri):
    """Unparseable URIs, unknown schemes, missing buckets and relative file
    paths (file URIs must be absolute: file:///...) raise InvalidUriError."""
    monkeypatch.chdir(tmp_path)  # a mis-parsed relative path cannot land in the repo
    with pytest.raises(ValueError) as excinfo:
        URI_OPS[op](uri)
    exc = excinfo.value
    assert isinstance(exc, s3dlio.InvalidUriError)
    assert isinstance(exc, s3dlio.S3dlioError)
    assert uri in str(exc)
    assert list(tmp_path.iterdir()) == []


def test_get_object_with_empty_bucket_is_value_error():
    with pytest.raises(ValueError):
        s3dlio.get_object("", "key")


@pytest.mark.parametrize("uri", ["gs://", "az://"])
def test_other_cloud_uri_without_bucket_is_an_error(uri):
    with pytest.raises(s3dlio.S3dlioError):
        s3dlio.get(uri)


def test_direct_uri_errors_name_the_uri(tmp_path):
    uri = f"direct://{tmp_path.resolve()}/missing.bin"
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        s3dlio.get(uri)
    assert uri in str(excinfo.value)


# --- non-not-found failures are raised, not hidden --------------------------------


@pytest.mark.timeout(60)
def test_exists_raises_when_endpoint_unreachable(unreachable_s3_options):
    """exists() is False only for "not found": a refused connection raises."""
    uri = "s3://some-bucket/some/key"
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        s3dlio.exists(uri, options=unreachable_s3_options)
    assert not isinstance(excinfo.value, FileNotFoundError)
    assert uri in str(excinfo.value)


@pytest.mark.timeout(60)
def test_get_raises_when_endpoint_unreachable(unreachable_s3_options):
    uri = "s3://some-bucket/some/key"
    with pytest.raises(s3dlio.S3dlioError) as excinfo:
        s3dlio.get(uri, options=unreachable_s3_options)
    assert not isinstance(excinfo.value, FileNotFoundError)
    assert uri in str(excinfo.value)


@pytest.mark.timeout(60)
def test_option_keys_are_case_insensitive_and_win_over_env(s3_bucket, closed_port):
    """The environment points at moto, where the object exists; lower-case
    option keys pointing at a closed port must take precedence."""
    uri = f"s3://{s3_bucket}/present"
    s3dlio.put(uri, b"here")
    assert s3dlio.exists(uri) is True
    options = {
        "aws_endpoint_url": f"http://127.0.0.1:{closed_port}",
        "s3dlio_max_retries": "0",
        "s3dlio_connect_timeout": "2",
    }
    with pytest.raises(s3dlio.S3dlioError):
        s3dlio.exists(uri, options=options)


def test_options_pointing_at_the_server_work(s3_bucket, moto_server):
    uri = f"s3://{s3_bucket}/via-options"
    opts = {"AWS_ENDPOINT_URL": moto_server}
    s3dlio.put(uri, b"ok", options=opts)
    assert bytes(s3dlio.get(uri, options=opts)) == b"ok"
    assert s3dlio.stat(uri, options=opts).size == 2
    assert s3dlio.list(f"s3://{s3_bucket}", options=opts) == [uri]


# --- the right type for a missing bucket and for missing credentials -------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("scheme", ["s3", "az"])
def test_listing_a_missing_bucket_is_not_found(request, scheme):
    """list/list_meta of a bucket (container) that does not exist raise
    ObjectNotFoundError naming the URI, as get/stat of it do."""
    request.getfixturevalue({"s3": "moto_server", "az": "azurite"}[scheme])
    uri = f"{scheme}://no-such-bucket-{uuid.uuid4().hex[:8]}/x"
    for call in (s3dlio.list, s3dlio.list_meta, s3dlio.stat, s3dlio.get):
        with pytest.raises(s3dlio.ObjectNotFoundError) as excinfo:
            call(uri)
        assert isinstance(excinfo.value, FileNotFoundError)
        assert uri in str(excinfo.value), (call.__name__, str(excinfo.value))
    assert s3dlio.exists(uri) is False


GS_CHILD = r"""
import sys, time
import s3dlio

uri = sys.argv[1]
for name, call in [("get", s3dlio.get), ("stat", s3dlio.stat), ("list", s3dlio.list)]:
    start = time.monotonic()
    try:
        call(uri, options={"S3DLIO_MAX_RETRIES": "3"})
    except s3dlio.S3dlioError as e:
        took = f"{time.monotonic() - start:.2f}"
        print(name, type(e).__name__, isinstance(e, PermissionError), took, e)
    else:
        print(name, "no error")
"""


def _gs_env(metadata: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOOGLE_", "STORAGE_EMULATOR_HOST", "GCE_METADATA"))
    }
    env.update(GCE_METADATA_HOST=metadata, GCE_METADATA_IP=metadata, HOME="/nonexistent")
    return env


@pytest.mark.timeout(60)
def test_gs_without_credentials_is_an_auth_error_at_once(tmp_path):
    """No GOOGLE_* credentials, no emulator, and no metadata server where
    GCE_METADATA_HOST points (a closed port): AuthError naming the URI,
    without retrying the metadata server for 11 s."""
    uri = "gs://some-bucket/some/key"
    out = subprocess.run(
        [sys.executable, "-c", GS_CHILD, uri],
        cwd=tmp_path,
        env=_gs_env("127.0.0.1:1"),
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert len(lines) == 3, out.stdout
    for line in lines:
        _name, kind, is_permission, seconds, message = line.split(" ", 4)
        assert (kind, is_permission) == ("AuthError", "True"), line
        assert float(seconds) < 3, line
        assert uri in message and "GOOGLE_APPLICATION_CREDENTIALS" in message, line


@pytest.mark.timeout(60)
def test_gs_with_a_metadata_server_asks_it(tmp_path):
    """Where a metadata server answers (as on GCE), it is asked for the
    token: the error is the server's answer, not "no credentials"."""
    asked = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            asked.append(self.path)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        out = subprocess.run(
            [sys.executable, "-c", GS_CHILD, "gs://some-bucket/key"],
            cwd=tmp_path,
            env=_gs_env(f"127.0.0.1:{server.server_address[1]}"),
            capture_output=True,
            text=True,
            timeout=50,
            check=False,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert out.returncode == 0, out.stderr[-3000:]
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in out.stdout, out.stdout
    assert any("/computeMetadata/" in p for p in asked), asked
