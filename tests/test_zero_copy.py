"""Zero copies into numpy, torch, JAX and pyarrow: every consumer's address
is the view's address (the Rust allocation the object landed in)."""

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
