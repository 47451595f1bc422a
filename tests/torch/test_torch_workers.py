"""s3dlio_torch datasets in DataLoader worker processes (fork, spawn,
forkserver), pickled, with persistent workers, after the parent has already
used the library, and end to end over file:// and s3:// (moto).

Every loader has a ``timeout`` (a stuck worker fails the batch) and every
test a pytest timeout, so a hang fails instead of stalling the run.
Transforms are module-level functions in torch_helpers, which spawned and
forkserver children import by name.
"""

from __future__ import annotations

import pickle

import pytest
import torch
from torch.utils.data import DataLoader
from torch_helpers import (
    MAGIC,
    SIZE,
    assert_exactly_once,
    header,
    index_of,
    indices_of,
    make_objects,
)

import s3dlio
from s3dlio_torch import S3IterableDataset, S3MapDataset, collate

pytestmark = [
    # JAX, when another test imported it into this process, warns at every
    # fork that *JAX* is not fork-safe; that says nothing about s3dlio.
    pytest.mark.filterwarnings(
        "ignore:os.fork\\(\\) was called.*JAX is multithreaded:RuntimeWarning"
    ),
    # Python 3.12+ warns when a process with threads forks; DataLoader
    # workers forked after the library started its threads is the point.
    pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork.*:DeprecationWarning"),
]

N = 22  # not a multiple of 2 ranks x 2 workers x batch 4
LOADER_TIMEOUT_S = 60  # per batch, from any worker


def _loader(ds, context: str, **kwargs) -> DataLoader:
    kwargs.setdefault("batch_size", 4)
    kwargs.setdefault("num_workers", 2)
    return DataLoader(ds, multiprocessing_context=context, timeout=LOADER_TIMEOUT_S, **kwargs)


def _header_indices(batches) -> list[int]:
    """Object indices from batches of ``header`` pairs ([B, 2] int64)."""
    out: list[int] = []
    for batch in batches:
        assert batch.dtype == torch.int64 and batch.shape[1:] == (2,)
        assert batch[:, 1].tolist() == [MAGIC] * batch.shape[0]
        out.extend(batch[:, 0].tolist())
    return out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("context", ["fork", "spawn", "forkserver"])
def test_iterable_two_ranks_two_workers(file_prefix, context):
    uris = make_objects(file_prefix, N)
    per_rank = []
    for rank in range(2):
        ds = S3IterableDataset(
            uris, shuffle=True, seed=4, transform=header, batch_fetch=3, rank=rank, world_size=2
        )
        share = set(ds.my_indices())  # the whole rank's share (in-process: one worker)
        got = _header_indices(_loader(ds, context))
        assert sorted(got) == sorted(share)
        per_rank.append(got)
    assert_exactly_once(per_rank[0] + per_rank[1], N)


@pytest.mark.timeout(120)
def test_map_prefix_spawn_workers(file_prefix):
    make_objects(file_prefix, N)
    ds = S3MapDataset(file_prefix)
    loader = _loader(
        ds,
        "spawn",
        shuffle=True,
        generator=torch.Generator().manual_seed(8),
        collate_fn=collate,
    )
    batches = list(loader)
    assert all(b.dtype == torch.uint8 and b.shape[1:] == (SIZE,) for b in batches)
    assert [b.shape[0] for b in batches] == [4] * 5 + [2]
    assert_exactly_once(indices_of(batches), N)


@pytest.mark.timeout(120)
def test_persistent_workers_two_epochs(file_prefix):
    uris = make_objects(file_prefix, N)
    ds = S3IterableDataset(uris, shuffle=True, seed=1, batch_fetch=4)
    loader = _loader(ds, "fork", persistent_workers=True)
    for epoch in range(2):
        # The workers hold their own copies of the dataset; the epoch
        # reaches them through shared memory (tests/torch/test_loader_epochs.py).
        ds.set_epoch(epoch)
        assert_exactly_once(indices_of(loader), N)


def test_datasets_pickle(file_prefix):
    uris = make_objects(file_prefix, N)
    for ds in (
        S3MapDataset(file_prefix, transform=header),
        S3MapDataset(uris, max_in_flight=3),
    ):
        copy = pickle.loads(pickle.dumps(ds))
        assert len(copy) == len(ds) and copy.sizes == ds.sizes
        for i in (0, N - 1):
            assert torch.equal(copy[i], ds[i])
        assert [t.tolist() for t in copy.__getitems__([3, 1])] == [
            t.tolist() for t in ds.__getitems__([3, 1])
        ]

    ds = S3IterableDataset(file_prefix, shuffle=True, seed=6, rank=1, world_size=2)
    ds.set_epoch(2)
    copy = pickle.loads(pickle.dumps(ds))
    assert copy.my_indices() == ds.my_indices()
    assert [index_of(t) for t in copy] == [index_of(t) for t in ds] == ds.my_indices()


@pytest.mark.timeout(120)
def test_fork_after_parent_fetched(s3_prefix):
    uris = make_objects(s3_prefix, N)
    # The parent uses the library first: its runtime, threads and
    # connection pool exist when the workers are forked.
    assert index_of(torch.from_dlpack(s3dlio.get(uris[0]))) == 0
    fetched = s3dlio.get_many(uris[:5])
    assert [index_of(torch.from_dlpack(view)) for _, view in fetched] == list(range(5))
    iterable = S3IterableDataset(uris, shuffle=True, seed=2, batch_fetch=5)
    assert sorted(index_of(t) for t in iterable) == list(range(N))  # in-process too
    assert_exactly_once(indices_of(_loader(iterable, "fork")), N)

    mapped = S3MapDataset(s3_prefix)
    assert_exactly_once(indices_of(_loader(mapped, "fork", collate_fn=collate)), N)


@pytest.mark.timeout(120)
def test_end_to_end_prefix(prefix):
    make_objects(prefix, N)
    # index_of checks every byte of every object against what was written.
    iterable = S3IterableDataset(prefix, shuffle=True, seed=0, batch_fetch=4)
    assert_exactly_once(indices_of(_loader(iterable, "fork")), N)
    mapped = S3MapDataset(prefix)
    batches = list(_loader(mapped, "fork", shuffle=False, collate_fn=collate))
    assert indices_of(batches) == list(range(N))
