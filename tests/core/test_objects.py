"""Object contract on both backends: put/get round trips, ranges, batches,
stat/exists/list/delete. Each test runs on file:// and s3:// (moto)."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pytest

import s3dlio

MiB = 1024 * 1024


def _pattern(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def test_version_is_a_string():
    assert isinstance(s3dlio.__version__, str)
    assert s3dlio.__version__


# --- round trips -------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, MiB], ids=["0B", "1B", "1MiB"])
def test_put_get_round_trip(prefix, size):
    uri = f"{prefix}/obj-{size}"
    data = _pattern(size, seed=size)
    assert s3dlio.put(uri, data) is None
    view = s3dlio.get(uri)
    assert isinstance(view, s3dlio.BytesView)
    assert len(view) == size
    assert bytes(view) == data


@pytest.mark.timeout(120)
def test_put_get_round_trip_64mib(prefix):
    """64 MiB of random bytes; compared as arrays to keep time and memory low."""
    size = 64 * MiB
    arr = np.random.default_rng(64).integers(0, 256, size, dtype=np.uint8)
    uri = f"{prefix}/big.bin"
    s3dlio.put(uri, arr)
    view = s3dlio.get(uri)
    assert len(view) == size
    got = np.frombuffer(view, dtype=np.uint8)
    assert got.shape == (size,)
    assert np.array_equal(got, arr)


def _sources(data: bytes):
    return {
        "bytes": lambda: data,
        "bytearray": lambda: bytearray(data),
        "memoryview": lambda: memoryview(data),
        "memoryview-slice": lambda: memoryview(b"<<" + data + b">>")[2:-2],
        "numpy-uint8": lambda: np.frombuffer(data, dtype=np.uint8).copy(),
        "numpy-uint8-2d": lambda: np.frombuffer(data, dtype=np.uint8).copy().reshape(8, -1),
        "numpy-float32": lambda: np.frombuffer(data, dtype=np.float32).copy(),
    }


@pytest.mark.parametrize("kind", list(_sources(b"")))
def test_put_accepts_buffer_protocol_objects(prefix, kind):
    """`put` takes any C-contiguous buffer and stores its raw bytes."""
    data = _pattern(4096, seed=7)
    source = _sources(data)[kind]()
    uri = f"{prefix}/from-{kind}"
    s3dlio.put(uri, source)
    assert bytes(s3dlio.get(uri)) == data


def test_put_accepts_bytesview(prefix):
    data = _pattern(10_000, seed=3)
    src = f"{prefix}/src"
    s3dlio.put(src, data)
    view = s3dlio.get(src)

    s3dlio.put(f"{prefix}/copy", view)
    assert bytes(s3dlio.get(f"{prefix}/copy")) == data

    s3dlio.put(f"{prefix}/copy-slice", view[100:200])
    assert bytes(s3dlio.get(f"{prefix}/copy-slice")) == data[100:200]


def test_put_overwrites(prefix):
    uri = f"{prefix}/over"
    s3dlio.put(uri, b"first version")
    s3dlio.put(uri, b"second")
    assert bytes(s3dlio.get(uri)) == b"second"


def test_put_accepts_options_keyword(prefix):
    uri = f"{prefix}/with-options"
    s3dlio.put(uri, b"abc", options={})
    assert bytes(s3dlio.get(uri, options=None)) == b"abc"


# --- file:// maps to the real filesystem -------------------------------------


def test_file_uri_is_the_local_path(tmp_path):
    root = tmp_path.resolve()
    s3dlio.put(f"file://{root}/nested/dir/a.bin", b"written by s3dlio")
    assert (root / "nested" / "dir" / "a.bin").read_bytes() == b"written by s3dlio"

    (root / "plain.bin").write_bytes(b"written by python")
    assert bytes(s3dlio.get(f"file://{root}/plain.bin")) == b"written by python"


# --- get_range ------------------------------------------------------------------

RANGE_DATA = bytes(range(100))


@pytest.fixture
def range_uri(prefix):
    uri = f"{prefix}/range.bin"
    s3dlio.put(uri, RANGE_DATA)
    return uri


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        (0, None, RANGE_DATA),
        (10, None, RANGE_DATA[10:]),
        (10, 20, RANGE_DATA[10:30]),
        (0, 100, RANGE_DATA),
        (99, 1, RANGE_DATA[99:]),
        (90, 50, RANGE_DATA[90:]),  # past EOF: truncated to the end
        (0, 1000, RANGE_DATA),
        (100, None, b""),  # offset == size: empty
        (100, 5, b""),
        (5, 0, b""),  # length 0: empty
        (0, 0, b""),
    ],
)
def test_get_range(range_uri, offset, length, expected):
    """get_range(uri, offset, length=None).

    length=None reads to the end; a range past EOF is truncated to the end;
    offset == size and length == 0 give an empty view.
    """
    if length is None:
        view = s3dlio.get_range(range_uri, offset)
    else:
        view = s3dlio.get_range(range_uri, offset, length)
    assert isinstance(view, s3dlio.BytesView)
    assert len(view) == len(expected)
    assert bytes(view) == expected


def test_get_range_keyword_length(range_uri):
    assert bytes(s3dlio.get_range(range_uri, 3, length=4)) == RANGE_DATA[3:7]
    assert bytes(s3dlio.get_range(range_uri, 95, length=None)) == RANGE_DATA[95:]


def test_get_range_offset_past_end_is_value_error(range_uri):
    """offset > size raises ValueError naming the URI."""
    with pytest.raises(ValueError) as excinfo:
        s3dlio.get_range(range_uri, 101)
    assert range_uri in str(excinfo.value)
    with pytest.raises(ValueError):
        s3dlio.get_range(range_uri, 1000, 10)


@pytest.mark.parametrize(("offset", "length"), [(-1, None), (-1, 5), (0, -1), (10, -10)])
def test_get_range_negative_is_value_error(range_uri, offset, length):
    """Negative offsets and lengths are rejected with ValueError."""
    with pytest.raises(ValueError):
        s3dlio.get_range(range_uri, offset, length)


def test_get_range_of_empty_object(prefix):
    uri = f"{prefix}/empty"
    s3dlio.put(uri, b"")
    assert bytes(s3dlio.get_range(uri, 0)) == b""
    assert bytes(s3dlio.get_range(uri, 0, 10)) == b""
    with pytest.raises(ValueError):
        s3dlio.get_range(uri, 1)


# --- get_many / put_many --------------------------------------------------------


@pytest.mark.timeout(120)
def test_get_many_keeps_input_order_across_schemes(file_prefix, s3_prefix):
    """1,000 URIs, file:// and s3:// interleaved, come back in input order."""
    n = 500
    file_items = [(f"{file_prefix}/many/{i:04d}", f"obj-{i}".encode()) for i in range(n)]
    s3_items = [(f"{s3_prefix}/many/{i:04d}", f"obj-{n + i}".encode()) for i in range(n)]
    assert s3dlio.put_many(file_items) is None
    assert s3dlio.put_many(s3_items, max_in_flight=32) is None

    items = []
    for f_item, s_item in zip(file_items, s3_items, strict=True):
        items.extend([f_item, s_item])
    # Not sorted by URI either way: reverse half of the list.
    items = items[:500] + items[500:][::-1]
    uris = [u for u, _ in items]

    result = s3dlio.get_many(uris)
    assert isinstance(result, list)
    assert len(result) == len(uris)
    assert [u for u, _ in result] == uris
    for (uri, expected), pair in zip(items, result, strict=True):
        assert isinstance(pair, tuple) and len(pair) == 2
        got_uri, view = pair
        assert got_uri == uri
        assert isinstance(view, s3dlio.BytesView)
        assert bytes(view) == expected, uri


def test_get_many_small_max_in_flight(prefix):
    items = [(f"{prefix}/k{i}", f"value-{i}".encode() * (i + 1)) for i in range(20)]
    s3dlio.put_many(items)
    uris = [u for u, _ in items][::-1]
    result = s3dlio.get_many(uris, max_in_flight=1)
    assert [u for u, _ in result] == uris
    assert [bytes(v) for _, v in result] == [d for _, d in items][::-1]


def test_get_many_duplicates(prefix):
    """A URI listed several times comes back, with its content, at every position."""
    s3dlio.put_many([(f"{prefix}/a", b"AAA"), (f"{prefix}/b", b"B"), (f"{prefix}/c", b"")])
    uris = [f"{prefix}/{k}" for k in ["a", "b", "a", "a", "c", "b", "c"]]
    result = s3dlio.get_many(uris)
    assert [u for u, _ in result] == uris
    assert [bytes(v) for _, v in result] == [b"AAA", b"B", b"AAA", b"AAA", b"", b"B", b""]


def test_get_many_empty():
    assert s3dlio.get_many([]) == []


def test_put_many_empty():
    assert s3dlio.put_many([]) is None


def test_get_many_accepts_tuple(prefix):
    s3dlio.put(f"{prefix}/x", b"x")
    s3dlio.put(f"{prefix}/y", b"yy")
    uris = (f"{prefix}/y", f"{prefix}/x")
    result = s3dlio.get_many(uris)
    assert [(u, bytes(v)) for u, v in result] == [(uris[0], b"yy"), (uris[1], b"x")]


# --- stat / exists / delete / get_object --------------------------------------------


def test_stat(prefix):
    uri = f"{prefix}/dir/stat.bin"
    s3dlio.put(uri, b"z" * 1234)
    meta = s3dlio.stat(uri)
    assert meta.uri == uri
    assert meta.size == 1234
    assert isinstance(meta.size, int)
    assert meta.last_modified is None or isinstance(meta.last_modified, datetime.datetime)
    assert meta.etag is None or isinstance(meta.etag, str)


def test_stat_empty_object(prefix):
    uri = f"{prefix}/empty"
    s3dlio.put(uri, b"")
    assert s3dlio.stat(uri).size == 0


def test_exists(prefix):
    uri = f"{prefix}/here"
    assert s3dlio.exists(uri) is False
    s3dlio.put(uri, b"1")
    assert s3dlio.exists(uri) is True
    assert s3dlio.exists(f"{prefix}/not-here") is False


def test_delete(prefix):
    uri = f"{prefix}/gone"
    s3dlio.put(uri, b"bye")
    assert s3dlio.exists(uri) is True
    assert s3dlio.delete(uri) is None
    assert s3dlio.exists(uri) is False
    with pytest.raises(FileNotFoundError):
        s3dlio.get(uri)


def test_delete_file_removes_the_file(tmp_path):
    root = tmp_path.resolve()
    path = root / "victim.bin"
    path.write_bytes(b"x")
    s3dlio.delete(f"file://{root}/victim.bin")
    assert not path.exists()


def test_get_object_equals_get(s3_bucket):
    key = "dir/sub/obj.bin"
    data = _pattern(3000, seed=11)
    s3dlio.put(f"s3://{s3_bucket}/{key}", data)
    via_object = s3dlio.get_object(s3_bucket, key)
    via_uri = s3dlio.get(f"s3://{s3_bucket}/{key}")
    assert isinstance(via_object, s3dlio.BytesView)
    assert bytes(via_object) == bytes(via_uri) == data


# --- list --------------------------------------------------------------------------


def _make_tree(prefix: str) -> str:
    base = f"{prefix}/tree"
    for key in ["a/1", "a/b/2", "c"]:
        s3dlio.put(f"{base}/{key}", key.encode())
    # A sibling whose name starts with the same characters: not under `tree/`.
    s3dlio.put(f"{prefix}/treetop/x", b"x")
    return base


def test_list_recursive(prefix):
    base = _make_tree(prefix)
    expected = [f"{base}/a/1", f"{base}/a/b/2", f"{base}/c"]
    assert s3dlio.list(base) == expected
    assert s3dlio.list(base, recursive=True) == expected
    assert s3dlio.list(f"{base}/a") == [f"{base}/a/1", f"{base}/a/b/2"]


def test_list_non_recursive(prefix):
    """recursive=False returns only the objects directly below the prefix."""
    base = _make_tree(prefix)
    assert s3dlio.list(base, recursive=False) == [f"{base}/c"]
    assert s3dlio.list(f"{base}/a", recursive=False) == [f"{base}/a/1"]
    assert s3dlio.list(f"{base}/a/b", recursive=False) == [f"{base}/a/b/2"]


def test_list_is_sorted(prefix):
    base = f"{prefix}/sorted"
    names = ["b", "a", "c10", "c2", "A", "_"]
    s3dlio.put_many([(f"{base}/{n}", n.encode()) for n in names])
    listed = s3dlio.list(base)
    assert listed == sorted(listed)
    assert listed == sorted(f"{base}/{n}" for n in names)


def test_list_empty_prefix(prefix):
    assert s3dlio.list(f"{prefix}/nothing-here") == []
    assert s3dlio.list(f"{prefix}/nothing-here", recursive=False) == []


def test_list_file_directory_with_trailing_slash(file_prefix):
    base = _make_tree(file_prefix)
    expected = [f"{base}/a/1", f"{base}/a/b/2", f"{base}/c"]
    assert s3dlio.list(base + "/") == expected
    assert s3dlio.list(base + "/", recursive=False) == [f"{base}/c"]


def test_list_file_sees_files_written_by_python(tmp_path):
    root = tmp_path.resolve()
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "one").write_bytes(b"1")
    (root / "d" / "e" / "two").write_bytes(b"2")
    listed = s3dlio.list(f"file://{root}/d")
    assert listed == [f"file://{root}/d/e/two", f"file://{root}/d/one"]
    assert [Path(u[len("file://") :]).read_bytes() for u in listed] == [b"2", b"1"]
