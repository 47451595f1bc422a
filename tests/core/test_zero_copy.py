"""Zero copies into numpy, torch, JAX and pyarrow: every consumer's address
is the view's address (the Rust allocation the object landed in)."""

import ctypes

import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pytest
import torch

import s3dlio

MiB = 1024 * 1024


@pytest.fixture
def view(prefix):
    """A fetched 1 MiB object, on file:// and s3://."""
    uri = f"{prefix}/one-mib.bin"
    data = np.random.default_rng(1).integers(0, 256, MiB, dtype=np.uint8)
    s3dlio.put(uri, data)
    v = s3dlio.get(uri)
    assert v.address % 64 == 0
    return v, data


def test_numpy_shares_the_view(view):
    v, data = view
    arr = np.frombuffer(v, dtype=np.uint8)
    assert arr.ctypes.data == v.address
    assert not arr.flags.writeable
    via_method = v.numpy()
    assert via_method.ctypes.data == v.address and not via_method.flags.writeable
    words = v.numpy("uint32", (256, -1))
    assert words.shape == (256, 1024) and words.ctypes.data == v.address
    assert np.array_equal(arr, data)


def test_torch_from_dlpack_shares_the_view(view):
    v, data = view
    t = torch.from_dlpack(v)
    assert t.dtype == torch.uint8 and t.shape == (MiB,)
    assert t.data_ptr() == v.address
    assert np.array_equal(t.numpy(), data)


def test_jax_from_dlpack_shares_the_view(view):
    v, data = view
    j = jnp.from_dlpack(v)
    assert j.dtype == jnp.uint8 and j.shape == (MiB,)
    assert j.unsafe_buffer_pointer() == v.address
    assert np.array_equal(np.asarray(j), data)


def test_pyarrow_shares_the_view(view):
    v, data = view
    arr = pa.array(v)
    assert arr.type == pa.uint8() and len(arr) == MiB
    assert arr.buffers()[1].address == v.address
    buf = pa.py_buffer(v)
    assert buf.address == v.address and buf.size == MiB
    assert np.array_equal(arr.to_numpy(), data)


def test_slices_share_too(view):
    v, _ = view
    part = v[4096:8192]
    assert torch.from_dlpack(part).data_ptr() == v.address + 4096
    assert pa.array(part).buffers()[1].address == v.address + 4096


def test_dlpack_capsules_both_versions(view):
    v, _ = view
    assert v.__dlpack_device__() == (1, 0)
    assert type(v.__dlpack__()).__name__ == "PyCapsule"
    assert type(v.__dlpack__(max_version=(1, 0))).__name__ == "PyCapsule"
    with pytest.raises(BufferError):
        v.__dlpack__(dl_device=(2, 0))


def test_dlpack_copy_true_copies(view):
    v, data = view
    t = torch.utils.dlpack.from_dlpack(v.__dlpack__(copy=True))
    assert t.data_ptr() != v.address
    assert np.array_equal(t.numpy(), data)


def test_writing_is_refused(view):
    v, _ = view
    with pytest.raises(ValueError):
        np.frombuffer(v, dtype=np.uint8)[0] = 1
    with pytest.raises(TypeError):
        memoryview(v)[0] = 1


@pytest.mark.parametrize("scheme", ["s3", "az", "gs"])
def test_a_remote_body_lands_in_the_buffer_it_is_returned_in(request, scheme, seed):
    """Over plain HTTP each body is received straight into the buffer the
    caller gets (its own, or its row of a batch), not into the HTTP
    client's buffer and then copied."""
    prefix = request.getfixturevalue(f"{scheme}_prefix")
    uris = [f"{prefix}/landed-{i}.bin" for i in range(4)]
    data = [np.random.default_rng(i).bytes(MiB + i) for i in range(4)]
    for uri, payload in zip(uris, data, strict=True):
        seed(uri, payload)

    def body_bytes() -> tuple[int, int]:
        stats = s3dlio.buffer_stats()
        return stats["body_bytes"], stats["body_bytes_in_place"]

    before = body_bytes()
    one = s3dlio.get(uris[1])
    many = s3dlio.get_many(uris)
    batch = s3dlio.get_batch(uris)
    taken, in_place = (now - then for now, then in zip(body_bytes(), before, strict=True))
    assert taken == len(data[1]) + 2 * sum(map(len, data))
    assert in_place == taken
    assert bytes(one) == data[1]
    assert [bytes(v) for _, v in many] == data
    assert all(v.address % 64 == 0 for _, v in many)
    assert [bytes(batch[i]) for i in range(len(batch))] == data


# --- the read-only flag, and what each consumer does with it ---------------------------

DLPACK_FLAG_BITMASK_READ_ONLY = 1 << 0


def _versioned_header(capsule) -> tuple[tuple[int, int], int]:
    """(version, flags) of a `dltensor_versioned` capsule's
    DLManagedTensorVersioned: {u32 major, u32 minor, ctx*, deleter*, u64 flags, ...}."""
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.py_object, ctypes.c_char_p]
    ptr = get(capsule, b"dltensor_versioned")
    major, minor = (ctypes.c_uint32 * 2).from_address(ptr)
    flags = ctypes.c_uint64.from_address(ptr + 8 + 2 * ctypes.sizeof(ctypes.c_void_p)).value
    return (major, minor), flags


class _Recording:
    """Passes `__dlpack__` through to `inner`, recording the consumer's keywords."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def __dlpack__(self, **kwargs):
        self.calls.append(kwargs)
        return self.inner.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.inner.__dlpack_device__()


def test_versioned_capsules_are_flagged_read_only(view):
    v, _ = view
    batch = s3dlio.get_batch([])
    for exporter in (v, v[64:128], v.as_tensor("uint32"), batch):
        capsule = exporter.__dlpack__(max_version=(1, 0))
        (major, _), flags = _versioned_header(capsule)
        assert major == 1
        assert flags & DLPACK_FLAG_BITMASK_READ_ONLY, (exporter, flags)
    assert type(v.__dlpack__()).__name__ == "PyCapsule"  # legacy: no flags field


def test_numpy_honours_the_read_only_flag(view):
    v, _ = view
    rec = _Recording(v)
    arr = np.from_dlpack(rec)
    assert rec.calls[0]["max_version"][0] >= 1  # asks for a versioned capsule
    assert arr.ctypes.data == v.address  # zero-copy
    assert not arr.flags.writeable
    with pytest.raises(ValueError):
        arr[0] = 1


def test_torch_ignores_the_read_only_flag(view):
    """torch asks for a versioned capsule, keeps zero-copy, and ignores the
    flag: the tensor is writable and writes land in the shared memory. If
    this starts failing, torch changed: update the README paragraph."""
    v, _ = view
    rec = _Recording(v)
    t = torch.from_dlpack(rec)
    assert rec.calls[0]["max_version"][0] >= 1
    assert t.data_ptr() == v.address
    before = v[0]
    t[0] = (before + 1) % 256  # refused by nothing
    try:
        assert v[0] == (before + 1) % 256, "the write went to the view's memory"
    finally:
        t[0] = before


def test_jax_asks_for_a_legacy_capsule_and_cannot_write(view):
    """JAX does not pass max_version, so it gets the unversioned capsule
    (which has no flags); its arrays are immutable anyway."""
    v, data = view
    rec = _Recording(v)
    j = jnp.from_dlpack(rec)
    assert "max_version" not in rec.calls[0] or rec.calls[0]["max_version"] is None
    assert j.unsafe_buffer_pointer() == v.address
    with pytest.raises(TypeError):
        j[0] = 1
    assert int(j.at[0].set(7)[0]) == 7 and v[0] == data[0]  # .at[] copies
