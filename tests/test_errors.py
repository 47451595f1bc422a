"""Errors: the exception hierarchy, not-found, bad URIs, unreachable endpoints.

Every error message names the URI it is about.
"""

from __future__ import annotations

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
