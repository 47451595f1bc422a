"""Large objects: multipart uploads (S3 and Azure) and parallel ranged GETs.

Part sizes are given as options in plain bytes. A multipart upload shows in
S3's ETag ("<md5>-<parts>"); parallel ranged GETs show in the requests a
pass-through proxy records.
"""

from __future__ import annotations

import re
from itertools import pairwise

import numpy as np
import pytest
from fault_proxy import FaultProxy

import s3dlio

MiB = 1024 * 1024
MULTIPART_OPTIONS = {
    "S3DLIO_MULTIPART_THRESHOLD": str(5 * MiB),
    "S3DLIO_MULTIPART_PART_SIZE": str(5 * MiB),
}


def _random(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)


def _assert_same(view, expected: np.ndarray) -> None:
    got = np.frombuffer(view, dtype=np.uint8)
    assert got.shape == expected.shape
    assert np.array_equal(got, expected)


@pytest.mark.timeout(120)
def test_multipart_upload_s3(s3_bucket):
    uri = f"s3://{s3_bucket}/big.bin"
    data = _random(12 * MiB + 7, seed=12)
    s3dlio.put(uri, data, options=MULTIPART_OPTIONS)
    _assert_same(s3dlio.get(uri, options=MULTIPART_OPTIONS), data)
    meta = s3dlio.stat(uri, options=MULTIPART_OPTIONS)
    assert meta.size == data.size
    assert meta.etag is not None and "-" in meta.etag, meta.etag

    small = f"s3://{s3_bucket}/small.bin"
    s3dlio.put(small, b"x" * 1000, options=MULTIPART_OPTIONS)
    etag = s3dlio.stat(small, options=MULTIPART_OPTIONS).etag
    assert etag is not None and "-" not in etag, etag


@pytest.mark.timeout(120)
def test_multipart_upload_azure(az_prefix):
    uri = f"{az_prefix}/big.bin"
    data = _random(12 * MiB + 7, seed=13)
    s3dlio.put(uri, data, options=MULTIPART_OPTIONS)
    _assert_same(s3dlio.get(uri, options=MULTIPART_OPTIONS), data)
    assert s3dlio.stat(uri, options=MULTIPART_OPTIONS).size == data.size


def _byte_range(header: str, size: int) -> tuple[int, int]:
    """(first, last) of a `bytes=first-last` or `bytes=first-` Range header."""
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", header.strip())
    assert match, f"unexpected Range header {header!r}"
    first = int(match[1])
    last = int(match[2]) if match[2] else size - 1
    return first, min(last, size - 1)


@pytest.mark.timeout(120)
def test_parallel_ranged_get(s3_bucket, moto_server):
    key = "ranged.bin"
    uri = f"s3://{s3_bucket}/{key}"
    size = 18 * MiB
    data = _random(size, seed=18)
    s3dlio.put(uri, data)

    with FaultProxy(moto_server) as proxy:
        options = {"AWS_ENDPOINT_URL": proxy.url, "S3DLIO_RANGE_PART_SIZE": str(4 * MiB)}
        view = s3dlio.get(uri, options=options)
        _assert_same(view, data)
        assert view.address % 64 == 0
        gets = proxy.requests_to("GET", f"/{s3_bucket}/{key}")

    assert len(gets) == 5, [r.headers.get("range") for r in gets]
    assert all("range" in r.headers for r in gets), [r.headers for r in gets]
    ranges = sorted(_byte_range(r.headers["range"], size) for r in gets)
    assert ranges[0][0] == 0
    assert ranges[-1][1] == size - 1
    for (_, last), (first, _) in pairwise(ranges):
        assert first == last + 1, ranges  # disjoint, no gaps


@pytest.mark.timeout(120)
def test_get_many_splits_large_objects_only_when_slots_are_free(s3_bucket, moto_server):
    """A batch with at least as many objects as request slots fetches each
    object in one request; a narrower one splits them into ranged parts."""
    size = 9 * MiB
    objects = {f"s3://{s3_bucket}/wide/{i}": _random(size, seed=30 + i) for i in range(3)}
    s3dlio.put_many(list(objects.items()))
    uris = list(objects)

    def requests(max_in_flight: int) -> list[list[str | None]]:
        with FaultProxy(moto_server) as proxy:
            options = {"AWS_ENDPOINT_URL": proxy.url, "S3DLIO_RANGE_PART_SIZE": str(4 * MiB)}
            got = s3dlio.get_many(uris, max_in_flight, options=options)
            for (uri, view), expected in zip(got, objects.values(), strict=True):
                assert uri in objects
                _assert_same(view, expected)
            return [
                [r.headers.get("range") for r in proxy.requests_to("GET", f"/{s3_bucket}/wide/{i}")]
                for i in range(len(uris))
            ]

    assert requests(3) == [[None]] * 3
    for ranges in requests(4):
        assert len(ranges) == 3, ranges
        spans = sorted(_byte_range(r, size) for r in ranges)
        assert spans == [(0, 4 * MiB - 1), (4 * MiB, 8 * MiB - 1), (8 * MiB, size - 1)]
