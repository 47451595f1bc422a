"""s3dlio_torch.S3IterableDataset in-process: order, zero-copy, sharding
across ranks and the per-epoch shuffle.

Ranks are simulated by building one dataset per rank (explicit
``rank``/``world_size``, or the ``RANK``/``WORLD_SIZE`` environment) and
iterating each directly (no DataLoader workers), which is quick.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from torch_helpers import (
    MAGIC,
    SIZE,
    assert_exactly_once,
    assert_once_with_padding,
    header,
    index_of,
    indices_of,
    make_objects,
)

import s3dlio
import s3dlio_torch
from s3dlio_torch import S3IterableDataset

N = 25  # divisible by none of the world sizes below


@pytest.fixture
def uris(file_prefix) -> list[str]:
    return make_objects(file_prefix, N)


def _read(ds: S3IterableDataset) -> list[int]:
    return [index_of(t) for t in ds]


@pytest.mark.parametrize("batch_fetch", [1, 7, 64])
def test_yields_every_object_in_order(uris, batch_fetch):
    ds = S3IterableDataset(uris, batch_fetch=batch_fetch)
    items = list(ds)
    assert all(t.dtype == torch.uint8 and t.shape == (SIZE,) for t in items)
    assert [index_of(t) for t in items] == list(range(N))
    assert ds.my_indices() == list(range(N))


def test_prefix_and_transform(file_prefix):
    make_objects(file_prefix, N)
    ds = S3IterableDataset(file_prefix, transform=header, batch_fetch=10)
    items = list(ds)
    assert all(t.dtype == torch.int64 for t in items)
    assert [t.tolist() for t in items] == [[i, MAGIC] for i in range(N)]


def test_items_share_fetched_memory(uris, monkeypatch):
    assert s3dlio_torch._tensors.s3dlio is s3dlio
    original = s3dlio.get_many
    addresses: list[int] = []

    def recording_get_many(*args, **kwargs):
        result = original(*args, **kwargs)
        addresses.extend(view.address for _, view in result)
        return result

    monkeypatch.setattr(s3dlio, "get_many", recording_get_many)
    ds = S3IterableDataset(uris, shuffle=True, seed=3, batch_fetch=6)
    items = list(ds)
    assert len(addresses) == N
    assert [t.data_ptr() for t in items] == addresses  # same memory, same order
    assert all(t.data_ptr() % 64 == 0 for t in items)
    assert [index_of(t) for t in items] == ds.my_indices()


@pytest.mark.parametrize("shuffle", [False, True], ids=["ordered", "shuffled"])
@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_ranks_split_the_dataset(uris, world_size, shuffle):
    def rank_reads(drop_last: bool) -> list[list[int]]:
        reads = []
        for rank in range(world_size):
            ds = S3IterableDataset(
                uris,
                shuffle=shuffle,
                seed=11,
                drop_last=drop_last,
                rank=rank,
                world_size=world_size,
                batch_fetch=4,
            )
            got = _read(ds)
            assert got == ds.my_indices()
            reads.append(got)
        return reads

    reads = rank_reads(drop_last=False)
    # Every rank the same count; the first samples of the order pad the tail.
    assert [len(got) for got in reads] == [-(-N // world_size)] * world_size
    order = S3IterableDataset(uris, shuffle=shuffle, seed=11).order().tolist()
    assert_once_with_padding([i for got in reads for i in got], N, order)

    reads = rank_reads(drop_last=True)
    assert [len(got) for got in reads] == [N // world_size] * world_size
    union = [i for got in reads for i in got]
    assert len(set(union)) == len(union) == N // world_size * world_size


def test_more_ranks_than_objects(file_prefix):
    uris = make_objects(file_prefix, 3)
    reads = [_read(S3IterableDataset(uris, rank=r, world_size=4)) for r in range(4)]
    assert reads == [[0], [1], [2], [0]]  # the last rank pads with the first sample
    dropped = [S3IterableDataset(uris, rank=r, world_size=4, drop_last=True) for r in range(4)]
    assert [_read(ds) for ds in dropped] == [[], [], [], []]


def test_rank_from_environment(uris, monkeypatch):
    assert not (dist.is_available() and dist.is_initialized())
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    from_env = S3IterableDataset(uris, shuffle=True, seed=5)
    explicit = S3IterableDataset(uris, shuffle=True, seed=5, rank=1, world_size=3)
    got = _read(from_env)
    assert got == _read(explicit)
    assert len(got) == -(-N // 3)
    others = [_read(S3IterableDataset(uris, shuffle=True, seed=5, rank=r)) for r in (0, 2)]
    order = from_env.order().tolist()
    assert_once_with_padding(got + others[0] + others[1], N, order)


def test_invalid_world_is_refused(uris):
    with pytest.raises(ValueError):
        list(S3IterableDataset(uris, rank=3, world_size=3))
    with pytest.raises(ValueError):
        S3IterableDataset(uris, batch_fetch=0)


def test_shuffle_is_deterministic_in_seed_and_epoch(uris):
    a = S3IterableDataset(uris, shuffle=True, seed=42, batch_fetch=8)
    b = S3IterableDataset(uris, shuffle=True, seed=42, batch_fetch=8)
    epoch0 = _read(a)
    assert sorted(epoch0) == list(range(N))
    assert epoch0 != list(range(N))
    assert _read(b) == epoch0  # same seed and epoch: same order
    epoch1 = _read(a)  # iterating again without set_epoch: the next epoch
    assert a.epoch == 1
    assert sorted(epoch1) == list(range(N))
    assert epoch1 != epoch0

    a.set_epoch(1)
    assert _read(a) == epoch1
    b.set_epoch(1)
    assert _read(b) == epoch1
    a.set_epoch(0)
    assert _read(a) == epoch0

    other_seed = S3IterableDataset(uris, shuffle=True, seed=43, batch_fetch=8)
    assert _read(other_seed) != epoch0


def test_shuffled_epochs_through_a_loader(uris):
    ds = S3IterableDataset(uris, shuffle=True, seed=9, batch_fetch=5)
    loader = DataLoader(ds, batch_size=4)
    epochs = []
    for epoch in range(2):
        ds.set_epoch(epoch)
        got = indices_of(loader)
        assert_exactly_once(got, N)
        assert got == ds.my_indices()
        epochs.append(got)
    assert epochs[0] != epochs[1]
