"""get_batch: objects fetched straight into the rows of one contiguous
buffer, shared as one torch/JAX batch tensor or an Arrow binary array."""

import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pytest
import torch

import s3dlio


def _objects(prefix, count, size_of):
    rng = np.random.default_rng(7)
    items = [
        (f"{prefix}/b/{i:03d}.bin", rng.integers(0, 256, size_of(i), dtype=np.uint8))
        for i in range(count)
    ]
    s3dlio.put_many(items)
    return [u for u, _ in items], [d.tobytes() for _, d in items]


def test_equal_sizes_form_one_batch_tensor(prefix):
    size = 4096 + 64
    uris, data = _objects(prefix, 64, lambda i: size)
    batch = s3dlio.get_batch(uris)
    assert len(batch) == 64 and batch.sizes == [size] * 64 and batch.uris == uris
    assert batch.address % 64 == 0 and batch.nbytes == 64 * size
    t = torch.from_dlpack(batch)
    assert t.shape == (64, size) and t.dtype == torch.uint8
    assert t.data_ptr() == batch.address
    for i in range(64):
        assert t[i].numpy().tobytes() == data[i]
        assert batch[i].address == batch.address + i * size
    j = jnp.from_dlpack(batch)
    assert j.shape == (64, size) and j.unsafe_buffer_pointer() == batch.address


def test_mixed_sizes_export_arrow_not_dlpack(prefix):
    uris, data = _objects(prefix, 10, lambda i: 100 * i + 1)
    batch = s3dlio.get_batch(uris)
    assert [bytes(batch[i]) for i in range(10)] == data
    assert bytes(batch[-1]) == data[-1]
    arr = pa.array(batch)
    assert arr.type in (pa.binary(), pa.large_binary())
    assert arr.buffers()[2].address == batch.address
    assert arr.to_pylist() == data
    with pytest.raises(BufferError):
        torch.from_dlpack(batch)
    with pytest.raises(IndexError):
        batch[10]


def test_known_sizes_skip_the_stat(prefix):
    uris, data = _objects(prefix, 5, lambda i: 333)
    assert [bytes(b) for b in s3dlio.get_batch(uris, sizes=333)] == data
    assert [bytes(b) for b in s3dlio.get_batch(uris, sizes=[333] * 5)] == data
    with pytest.raises(s3dlio.S3dlioError, match="expected 334 bytes"):
        s3dlio.get_batch(uris, sizes=334)
    with pytest.raises(ValueError):
        s3dlio.get_batch(uris, sizes=[333] * 4)


def test_missing_object_is_named(prefix):
    uris, _ = _objects(prefix, 3, lambda i: 10)
    missing = f"{prefix}/b/missing.bin"
    with pytest.raises(FileNotFoundError, match=r"missing\.bin"):
        s3dlio.get_batch([*uris, missing])


def test_empty_batch(prefix):
    batch = s3dlio.get_batch([])
    assert len(batch) == 0 and batch.sizes == []
    assert torch.from_dlpack(batch).shape == (0, 0)
