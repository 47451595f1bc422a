"""s3dlio_torch.S3MapDataset and s3dlio_torch.collate, in-process (and
pinned batches, where a CUDA device exists).

Items decode back to their object index (see torch_helpers), so each test
checks which samples came out, in which order, and their exact bytes.
Zero-copy is checked by address: the library's fetch calls are wrapped to
record the addresses they returned, and tensors must point at them.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, default_collate
from torch_helpers import (
    MAGIC,
    SIZE,
    as_square,
    assert_exactly_once,
    header,
    header_bytes,
    index_of,
    indices_of,
    make_objects,
    object_bytes,
    object_uri,
)

import s3dlio
import s3dlio_torch
from s3dlio_torch import S3IterableDataset, S3MapDataset, collate

N = 24


@pytest.fixture
def uris(file_prefix) -> list[str]:
    return make_objects(file_prefix, N)


def _record(monkeypatch, name: str) -> list[int]:
    """Wrap ``s3dlio.<name>`` (what s3dlio_torch calls) to record the
    address of every view or batch buffer it returns."""
    assert s3dlio_torch.map_dataset.s3dlio is s3dlio
    original = getattr(s3dlio, name)
    addresses: list[int] = []

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        if name == "get_many":
            addresses.extend(view.address for _, view in result)
        else:  # get -> BytesView, get_batch -> Batch: both have .address
            addresses.append(result.address)
        return result

    monkeypatch.setattr(s3dlio, name, wrapper)
    return addresses


def test_len_and_getitem(uris):
    ds = S3MapDataset(uris)
    assert len(ds) == N
    for i in (0, 7, N - 1):
        t = ds[i]
        assert isinstance(t, torch.Tensor)
        assert t.dtype == torch.uint8 and t.shape == (SIZE,)
        assert index_of(t) == i


def test_getitem_shares_fetched_memory(uris, monkeypatch):
    addresses = _record(monkeypatch, "get")
    ds = S3MapDataset(uris)
    tensors = [ds[i] for i in (3, 0, 3)]
    assert len(addresses) == 3
    assert [t.data_ptr() for t in tensors] == addresses
    assert all(t.data_ptr() % 64 == 0 for t in tensors)
    assert [index_of(t) for t in tensors] == [3, 0, 3]


def test_getitems_uri_list_shares_fetched_memory(uris, monkeypatch):
    addresses = _record(monkeypatch, "get_many")
    ds = S3MapDataset(uris)
    tensors = ds.__getitems__([5, 1, 9])
    assert isinstance(tensors, list) and len(tensors) == 3
    assert all(isinstance(t, torch.Tensor) and t.dtype == torch.uint8 for t in tensors)
    assert [index_of(t) for t in tensors] == [5, 1, 9]
    assert [t.data_ptr() for t in tensors] == addresses  # one get_many, no copies


def test_getitems_prefix_is_one_batch_buffer(file_prefix, monkeypatch):
    make_objects(file_prefix, N)
    addresses = _record(monkeypatch, "get_batch")
    ds = S3MapDataset(file_prefix)
    assert len(ds) == N and ds.sizes == [SIZE] * N
    tensors = ds.__getitems__([4, 2, 8, 6])
    assert len(addresses) == 1  # one fetch for the whole batch
    assert [index_of(t) for t in tensors] == [4, 2, 8, 6]
    assert [t.data_ptr() for t in tensors] == [addresses[0] + i * SIZE for i in range(4)]


@pytest.mark.parametrize("listed", [False, True], ids=["uri-list", "prefix"])
def test_getitems_repeated_index(file_prefix, listed):
    # Samplers with replacement put the same index twice in one batch.
    uris = make_objects(file_prefix, N)
    ds = S3MapDataset(file_prefix if listed else uris)
    assert [index_of(t) for t in ds.__getitems__([5, 5, 0, 5])] == [5, 5, 0, 5]


def test_random_sampler_covers_all_once(uris):
    ds = S3MapDataset(uris)
    sampler = RandomSampler(ds, generator=torch.Generator().manual_seed(1234))
    expected = list(RandomSampler(ds, generator=torch.Generator().manual_seed(1234)))
    loader = DataLoader(ds, batch_size=8, sampler=sampler)
    batches = list(loader)
    assert all(b.shape == (8, SIZE) and b.dtype == torch.uint8 for b in batches)
    got = indices_of(batches)
    assert got == expected  # the sampler's order, batch by batch
    assert_exactly_once(got, N)


def test_distributed_sampler_ranks_cover_dataset(uris):
    ds = S3MapDataset(uris)
    per_rank = []
    for rank in range(3):
        sampler = DistributedSampler(
            ds, num_replicas=3, rank=rank, shuffle=True, seed=0, drop_last=False
        )
        got = indices_of(DataLoader(ds, batch_size=3, sampler=sampler))
        assert got == list(sampler)
        per_rank.append(got)
    assert all(len(got) == N // 3 for got in per_rank)
    assert_exactly_once([i for got in per_rank for i in got], N)


def test_prefix_collate_is_zero_copy(file_prefix, monkeypatch):
    make_objects(file_prefix, N)
    addresses = _record(monkeypatch, "get_batch")
    ds = S3MapDataset(file_prefix)
    loader = DataLoader(ds, batch_size=5, shuffle=False, collate_fn=collate)
    batches = list(loader)
    assert [b.shape for b in batches] == [(5, SIZE)] * 4 + [(4, SIZE)]
    assert len(addresses) == len(batches)
    for batch, address in zip(batches, addresses, strict=True):
        assert batch.dtype == torch.uint8
        assert batch.data_ptr() == address  # the fetched buffer itself
        assert batch.data_ptr() % 64 == 0
        for i, row in enumerate(batch):
            assert row.data_ptr() == batch.data_ptr() + i * SIZE
    assert indices_of(batches) == list(range(N))


def test_collate_returns_the_batch_tensor(file_prefix):
    make_objects(file_prefix, N)
    ds = S3MapDataset(file_prefix)
    samples = ds.__getitems__([9, 3, 11])
    base = samples[0]._base
    assert base is not None and base.shape == (3, SIZE)
    out = collate(samples)
    assert out is base  # handed on whole, not a stacked copy
    assert indices_of(out) == [9, 3, 11]


def test_collate_copies_what_is_not_a_whole_batch(file_prefix, uris):
    listed = S3MapDataset(file_prefix)
    samples = listed.__getitems__([0, 1, 2])
    base = samples[0]._base
    for subset in (samples[::-1], samples[:2]):
        out = collate(subset)
        assert out is not base and out.data_ptr() != base.data_ptr()
        assert indices_of(out) == [index_of(s) for s in subset]
    separate = S3MapDataset(uris).__getitems__([2, 0])
    out = collate(separate)
    assert out.shape == (2, SIZE) and indices_of(out) == [2, 0]


@pytest.mark.parametrize("transform", [header_bytes, as_square, header])
def test_collate_respects_transformed_views(file_prefix, transform):
    # A transform that returns a view of each row (its header, a reshape)
    # must be collated as those views, not replaced by the raw batch buffer.
    make_objects(file_prefix, N)
    ds = S3MapDataset(file_prefix, transform=transform)
    samples = ds.__getitems__([0, 1, 2, 3])
    expected = default_collate(samples)
    assert expected.shape == (4, *samples[0].shape)
    out = collate(samples)
    assert out.dtype == expected.dtype
    assert out.shape == expected.shape
    assert torch.equal(out, expected)


def test_uri_list_default_collate(uris):
    loader = DataLoader(S3MapDataset(uris), batch_size=8, shuffle=False)
    batches = list(loader)
    assert [b.shape for b in batches] == [(8, SIZE)] * 3
    assert indices_of(batches) == list(range(N))


@pytest.mark.parametrize("listed", [False, True], ids=["uri-list", "prefix"])
def test_transform(file_prefix, listed):
    uris = make_objects(file_prefix, N)
    ds = S3MapDataset(file_prefix if listed else uris, transform=header)
    item = ds[6]
    assert item.dtype == torch.int64 and item.tolist() == [6, MAGIC]
    items = ds.__getitems__([2, 4])
    assert [t.tolist() for t in items] == [[2, MAGIC], [4, MAGIC]]
    batches = list(DataLoader(ds, batch_size=8, shuffle=False))
    assert all(b.dtype == torch.int64 and b.shape == (8, 2) for b in batches)
    assert torch.cat(batches)[:, 0].tolist() == list(range(N))


def test_explicit_sizes_use_one_buffer(uris, monkeypatch):
    addresses = _record(monkeypatch, "get_batch")
    ds = S3MapDataset(uris, sizes=[SIZE] * N)
    samples = ds.__getitems__([1, 0])
    assert len(addresses) == 1
    assert collate(samples).data_ptr() == addresses[0]
    assert [index_of(t) for t in samples] == [1, 0]
    with pytest.raises(ValueError):
        S3MapDataset(uris, sizes=[SIZE] * (N - 1))


def test_unequal_sizes(file_prefix):
    sizes = [64, 200, 128, 300]
    for i, size in enumerate(sizes):
        s3dlio.put(object_uri(file_prefix, i), object_bytes(i, size))
    ds = S3MapDataset(file_prefix)
    assert ds.sizes == sizes
    samples = ds.__getitems__([3, 0, 1])
    assert [t.shape[0] for t in samples] == [300, 64, 200]
    assert [index_of(t) for t in samples] == [3, 0, 1]
    assert [index_of(t) for t in DataLoader(ds, batch_size=None)] == [0, 1, 2, 3]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="pin_memory needs a CUDA device")
def test_pin_memory(file_prefix):
    make_objects(file_prefix, N)
    for ds in (S3MapDataset(file_prefix), S3IterableDataset(file_prefix)):
        loader = DataLoader(ds, batch_size=8, pin_memory=True, collate_fn=collate)
        batches = list(loader)
        assert all(b.is_pinned() and b.shape[1:] == (SIZE,) for b in batches)
        assert indices_of(batches) == list(range(N))
