"""S3 keys with an empty segment (`wk/dbl//slash.bin`, as boto3 writes
them): legal in S3, not nameable by object_store. They are listed with
their neighbours, read, described and deleted; writing one is refused."""

from __future__ import annotations

import urllib.request

import pytest

import s3dlio

KEYS = {"wk/a.bin": b"a" * 10, "wk/dbl//slash.bin": b"s" * 300, "wk//top.bin": b"t" * 5}


@pytest.fixture
def raw_prefix(moto_server, s3_bucket) -> str:
    for key, data in KEYS.items():
        headers = {"Content-Type": "application/octet-stream"}
        put = urllib.request.Request(
            f"{moto_server}/{s3_bucket}/{key}", data, headers, method="PUT"
        )
        urllib.request.urlopen(put, timeout=10).close()
    return f"s3://{s3_bucket}/wk"


def test_listing_holds_keys_with_empty_segments(raw_prefix):
    bucket = raw_prefix.removesuffix("/wk")
    assert s3dlio.list(raw_prefix) == sorted(f"{bucket}/{k}" for k in KEYS)
    assert [m.size for m in s3dlio.list_meta(raw_prefix)] == [5, 10, 300]  # "//" sorts first
    assert s3dlio.list(f"{raw_prefix}/dbl/") == [f"{raw_prefix}/dbl//slash.bin"]
    direct = [m.uri for m in s3dlio.list_meta(raw_prefix, recursive=False)]
    assert direct == [f"{raw_prefix}/a.bin"]


def test_keys_with_empty_segments_are_read_described_and_deleted(raw_prefix):
    uri = f"{raw_prefix}/dbl//slash.bin"
    assert bytes(s3dlio.get(uri)) == KEYS["wk/dbl//slash.bin"]
    assert s3dlio.get(uri).address % 64 == 0
    assert bytes(s3dlio.get_range(uri, 10, 5)) == b"s" * 5
    assert s3dlio.stat(uri).size == 300 and s3dlio.exists(uri)
    fetched = s3dlio.get_many(s3dlio.list(raw_prefix))
    assert sorted(len(v) for _, v in fetched) == [5, 10, 300]
    assert len(s3dlio.get_batch([uri, f"{raw_prefix}/a.bin"])[0]) == 300
    assert not s3dlio.exists(f"{raw_prefix}/dbl/slash.bin"), "no segment dropped on the way"
    s3dlio.delete(uri)
    assert not s3dlio.exists(uri)
    with pytest.raises(FileNotFoundError, match=r"slash\.bin"):
        s3dlio.get(uri)


def test_keys_with_empty_segments_are_not_written(s3_bucket):
    with pytest.raises(s3dlio.InvalidUriError, match="empty segment"):
        s3dlio.put(f"s3://{s3_bucket}/x//y.bin", b"y")
    assert s3dlio.list(f"s3://{s3_bucket}") == []


def test_a_directory_listing_holds_keys_with_empty_segments(raw_prefix):
    objects, prefixes = s3dlio.list_dir(f"{raw_prefix}/")
    assert [m.uri for m in objects] == [f"{raw_prefix}/a.bin"]
    # `wk//top.bin` sits under the prefix `wk/` + "" (as S3's own `wk//`).
    assert prefixes == [f"{raw_prefix}/", f"{raw_prefix}/dbl"]
