"""BytesView: zero-copy, read-only, 64-byte aligned views over fetched bytes.

Zero-copy is shown by addresses (`v.address` against numpy's data pointer),
not by values alone.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import s3dlio

MiB = 1024 * 1024
DATA = bytes((i * 7 + 3) % 256 for i in range(1000))


def _addr(obj) -> int:
    """Address of the first byte of any buffer, as numpy sees it."""
    return np.frombuffer(obj, dtype=np.uint8).ctypes.data


@pytest.fixture
def view(prefix):
    uri = f"{prefix}/view.bin"
    s3dlio.put(uri, DATA)
    return s3dlio.get(uri)


def test_len_and_copies(view):
    assert len(view) == len(DATA)
    assert type(view.to_bytes()) is bytes
    assert view.to_bytes() == DATA
    assert type(bytes(view)) is bytes
    assert bytes(view) == DATA


def test_buffer_protocol_is_readonly_bytes(view):
    mv = memoryview(view)
    try:
        assert mv.readonly is True
        assert mv.format == "B"
        assert mv.itemsize == 1
        assert mv.ndim == 1
        assert mv.shape == (len(DATA),)
        assert mv.c_contiguous
        assert mv.nbytes == len(DATA)
        assert mv.tobytes() == DATA
        with pytest.raises(TypeError):
            mv[0] = 1
    finally:
        mv.release()


def test_memoryview_method_is_zero_copy(view):
    mv = view.memoryview()
    assert isinstance(mv, memoryview)
    assert mv.readonly is True
    assert mv.tobytes() == DATA
    assert _addr(mv) == view.address
    assert _addr(memoryview(view)) == view.address


def test_numpy_frombuffer_is_zero_copy_and_readonly(view):
    arr = np.frombuffer(view, dtype=np.uint8)
    assert arr.ctypes.data == view.address
    assert arr.shape == (len(DATA),)
    assert arr.tobytes() == DATA
    assert not arr.flags.writeable
    with pytest.raises(ValueError):
        arr[0] = 1
    with pytest.raises(ValueError):
        arr.setflags(write=True)
    assert bytes(view) == DATA


def test_address_is_an_int(view):
    assert isinstance(view.address, int)
    assert view.address > 0


def test_slice_is_zero_copy_view(view):
    sub = view[10:20]
    assert isinstance(sub, s3dlio.BytesView)
    assert len(sub) == 10
    assert bytes(sub) == DATA[10:20]
    assert sub.address == view.address + 10
    assert _addr(sub) == view.address + 10

    subsub = sub[2:5]
    assert isinstance(subsub, s3dlio.BytesView)
    assert bytes(subsub) == DATA[12:15]
    assert subsub.address == view.address + 12


def test_slice_python_semantics(view):
    n = len(DATA)
    assert bytes(view[:]) == DATA
    assert view[:].address == view.address
    assert bytes(view[0:10:1]) == DATA[0:10]
    assert bytes(view[-10:]) == DATA[-10:]
    assert view[-10:].address == view.address + n - 10
    assert bytes(view[990:5000]) == DATA[990:]
    assert len(view[500:400]) == 0
    assert len(view[n:]) == 0


def test_integer_index(view):
    assert view[0] == DATA[0]
    assert view[10] == DATA[10]
    assert view[-1] == DATA[-1]
    with pytest.raises(IndexError):
        _ = view[len(DATA)]


@pytest.mark.parametrize("step", [2, -1, 3])
def test_slice_with_step_is_value_error(view, step):
    with pytest.raises(ValueError):
        _ = view[::step]


def _churn_allocator():
    # Reuse freed memory, so that a dangling view would show other bytes.
    junk = [bytearray(b"\xff" * size) for size in (1000, 4096, 64 * 1024, MiB)]
    return sum(len(j) for j in junk)


def test_slice_keeps_memory_alive(prefix):
    uri = f"{prefix}/alive.bin"
    data = np.random.default_rng(1).integers(0, 256, MiB, dtype=np.uint8).tobytes()
    s3dlio.put(uri, data)
    parent = s3dlio.get(uri)
    sub = parent[1000:2000]
    address = sub.address
    del parent
    gc.collect()
    _churn_allocator()
    assert sub.address == address
    assert bytes(sub) == data[1000:2000]


def test_numpy_array_and_memoryview_keep_memory_alive(prefix):
    uri = f"{prefix}/alive2.bin"
    data = np.random.default_rng(2).integers(0, 256, MiB, dtype=np.uint8).tobytes()
    s3dlio.put(uri, data)
    v = s3dlio.get(uri)
    arr = np.frombuffer(v, dtype=np.uint8)
    mv = v.memoryview()
    del v
    gc.collect()
    _churn_allocator()
    assert arr.tobytes() == data
    assert mv.tobytes() == data


def test_empty_object_view(prefix):
    uri = f"{prefix}/empty"
    s3dlio.put(uri, b"")
    v = s3dlio.get(uri)
    assert len(v) == 0
    assert bytes(v) == b""
    assert v.to_bytes() == b""
    assert memoryview(v).nbytes == 0
    assert np.frombuffer(v, dtype=np.uint8).shape == (0,)
    assert len(v[0:0]) == 0


@pytest.mark.parametrize("size", [1, 4097, MiB], ids=["1B", "4097B", "1MiB"])
def test_fetched_objects_are_64_byte_aligned(prefix, size):
    uri = f"{prefix}/aligned-{size}"
    s3dlio.put(uri, b"\x5a" * size)
    v = s3dlio.get(uri)
    assert len(v) == size
    assert v.address % 64 == 0
    assert _addr(v) == v.address


def test_get_many_results_are_64_byte_aligned(prefix):
    sizes = [1, 3, 63, 65, 4097, 100_000]
    items = [(f"{prefix}/al/{i}", bytes([i]) * s) for i, s in enumerate(sizes)]
    s3dlio.put_many(items)
    result = s3dlio.get_many([u for u, _ in items])
    for (uri, data), (_, v) in zip(items, result, strict=True):
        assert bytes(v) == data, uri
        assert v.address % 64 == 0, (uri, v.address)
