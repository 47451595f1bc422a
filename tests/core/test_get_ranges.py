"""get_ranges: many byte ranges of any objects in one call, in input order.

The core's behaviour on all five backends is in the Rust contract check
``get_ranges_order_edges_and_errors``; these tests cover what the binding
adds: the request forms it takes, typed errors naming the URI, and the
views it returns.
"""

import numpy as np
import pytest

import s3dlio

DATA = bytes(range(256)) * 4  # 1 KiB


def address(view) -> int:
    return np.frombuffer(view, np.uint8).ctypes.data


@pytest.fixture
def two_objects(backend_prefix, seed):
    a, b = f"{backend_prefix}/a.bin", f"{backend_prefix}/b.bin"
    seed(a, DATA)
    seed(b, b"bbb")
    return a, b


def test_ranges_of_several_objects_in_input_order(two_objects):
    a, b = two_objects
    requests = [(a, 1000, 100), (b, 0), (a, 3, 4), [b, 1, None], (a, 1024, 7), (a, 3, 4)]
    views = s3dlio.get_ranges(requests, max_in_flight=2)
    assert [bytes(v) for v in views] == [DATA[1000:], b"bbb", DATA[3:7], b"bb", b"", DATA[3:7]]
    assert all(isinstance(v, s3dlio.BytesView) for v in views)
    assert address(views[2]) == address(views[5]), "a repeated request is read once"
    assert s3dlio.get_ranges([]) == []


def test_ranges_across_schemes(file_prefix, s3_prefix, seed):
    uris = [f"{file_prefix}/x", f"{s3_prefix}/x", file_prefix.replace("file", "direct", 1) + "/y"]
    for i, uri in enumerate(uris):
        seed(uri, bytes([i]) * 10_000)
    views = s3dlio.get_ranges([(u, 4096, 8) for u in reversed(uris)])
    assert [bytes(v) for v in views] == [bytes([i]) * 8 for i in (2, 1, 0)]


def test_a_missing_object_names_its_uri(two_objects):
    a, _ = two_objects
    missing = a.rsplit("/", 1)[0] + "/missing.bin"
    with pytest.raises(s3dlio.ObjectNotFoundError, match=missing):
        s3dlio.get_ranges([(a, 0, 1), (missing, 0, 1)])


def test_an_offset_past_the_end_names_its_uri(two_objects):
    a, b = two_objects
    with pytest.raises(ValueError, match=b):
        s3dlio.get_ranges([(a, 0, 1), (b, 4, 1)])


@pytest.mark.parametrize(
    "request_",
    [("file:///x", -1, 1), ("file:///x", 0, -1)],
)
def test_negative_numbers_are_refused_naming_the_uri(request_):
    with pytest.raises(s3dlio.InvalidArgumentError, match="file:///x"):
        s3dlio.get_ranges([request_])


@pytest.mark.parametrize(
    "requests",
    ["file:///x", ["file:///x"], [("file:///x",)], [("file:///x", 0, 1, 2)], [{"file:///x": 0}]],
)
def test_malformed_requests_are_type_errors(requests):
    with pytest.raises(TypeError):
        s3dlio.get_ranges(requests)


def test_max_in_flight_must_be_positive(two_objects):
    with pytest.raises(s3dlio.InvalidArgumentError, match="max_in_flight"):
        s3dlio.get_ranges([(two_objects[0], 0, 1)], max_in_flight=0)
