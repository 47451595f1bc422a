"""Memory made from a view (arrays, tensors, capsules, slices) keeps it
alive after the view and batch are gone, and is freed with the last one.
`s3dlio.buffer_stats()` counts the live landing buffers."""

import gc

import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import torch

import s3dlio


def _live():
    gc.collect()
    return s3dlio.buffer_stats()["buffers"]


def _fetch(prefix, name, size=64 * 1024):
    uri = f"{prefix}/{name}"
    s3dlio.put(uri, np.full(size, 7, dtype=np.uint8))
    return s3dlio.get(uri)


def test_each_consumer_keeps_the_buffer_alive(file_prefix):
    makers = {
        "numpy": lambda v: np.frombuffer(v, dtype=np.uint8),
        "torch": torch.from_dlpack,
        "jax": jnp.from_dlpack,
        "pyarrow": pa.array,
        "memoryview": memoryview,
        "slice": lambda v: v[10:20],
        "capsule": lambda v: v.__dlpack__(),
    }
    for name, make in makers.items():
        base = _live()
        view = _fetch(file_prefix, name)
        assert _live() == base + 1, name
        consumer = make(view)
        del view
        assert _live() == base + 1, f"{name} must keep the memory alive"
        if name not in ("capsule", "slice", "memoryview"):
            assert int(np.asarray(consumer)[0]) == 7, name
        del consumer
        assert _live() == base, f"{name} must release the memory when it dies"


def test_batch_tensor_outlives_the_batch(file_prefix):
    uris = [f"{file_prefix}/r{i}" for i in range(8)]
    s3dlio.put_many([(u, bytes([i]) * 256) for i, u in enumerate(uris)])
    base = _live()
    batch = s3dlio.get_batch(uris)
    t = torch.from_dlpack(batch)
    row = batch[3]
    del batch
    assert _live() == base + 1
    assert t[3, 0].item() == 3 and bytes(row)[:1] == b"\x03"
    del t
    assert _live() == base + 1
    del row
    assert _live() == base


def test_table_values_outlive_the_table(file_prefix):
    uris = [f"{file_prefix}/t{i}" for i in range(4)]
    s3dlio.put_many([(u, b"x" * 100) for u in uris])
    base = _live()
    table = pa.table(s3dlio.read_table(uris))
    assert _live() == base + 1
    column = table.column("data")
    del table
    assert _live() == base + 1 and column.to_pylist() == [b"x" * 100] * 4
    del column
    assert _live() == base
