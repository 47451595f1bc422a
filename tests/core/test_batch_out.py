"""``get_batch(..., out=buffer)`` writes the objects straight into memory the
caller owns (shared memory, a tensor from another allocator): the batch's
rows are that memory (asserted by address), which it keeps alive, and a
buffer that cannot take the batch is refused by name."""

import gc

import numpy as np
import pytest
import torch

import s3dlio

SIZE = 4096


@pytest.fixture
def uris(prefix):
    items = [(f"{prefix}/o{i}", bytes([i]) * SIZE) for i in range(6)]
    s3dlio.put_many(items)
    return [u for u, _ in items]


def aligned(nbytes, offset=0):
    """A writable uint8 array of ``nbytes`` starting ``offset`` past a 64-byte boundary."""
    raw = np.zeros(nbytes + 128, dtype=np.uint8)
    start = (-raw.ctypes.data) % 64 + offset
    return raw[start : start + nbytes]


def test_rows_are_the_callers_memory(uris):
    out = torch.zeros(len(uris), SIZE, dtype=torch.uint8)
    batch = s3dlio.get_batch(uris, sizes=SIZE, out=out.numpy())
    assert batch.address == out.data_ptr()
    assert batch[3].address == out[3].data_ptr()
    assert [int(row[0]) for row in out] == list(range(6))
    assert not batch.pinned


def test_the_batch_keeps_the_memory_alive(uris):
    window = aligned(len(uris) * SIZE)
    batch = s3dlio.get_batch(uris, out=window)  # sizes from a stat
    del window
    gc.collect()
    assert bytes(batch[5]) == bytes([5]) * SIZE


def test_unusable_buffers_are_refused(uris):
    too_small = aligned(SIZE)
    with pytest.raises(s3dlio.InvalidArgumentError, match="holds 4096 bytes"):
        s3dlio.get_batch(uris, sizes=SIZE, out=too_small)
    with pytest.raises(s3dlio.InvalidArgumentError, match="writable"):
        s3dlio.get_batch(uris, sizes=SIZE, out=bytes(len(uris) * SIZE))
    with pytest.raises(s3dlio.InvalidArgumentError, match="aligned"):
        s3dlio.get_batch(uris, sizes=SIZE, out=aligned(len(uris) * SIZE, offset=1))
    with pytest.raises(s3dlio.InvalidArgumentError, match="not both"):
        s3dlio.get_batch(uris, sizes=SIZE, out=aligned(len(uris) * SIZE), pinned=True)


def test_a_failed_fill_names_the_object(uris):
    out = aligned(len(uris) * SIZE)
    missing = [*uris[:-1], uris[-1] + "-missing"]
    with pytest.raises(s3dlio.ObjectNotFoundError, match="missing"):
        s3dlio.get_batch(missing, sizes=SIZE, out=out)
