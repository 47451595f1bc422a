"""Fork stress: 20 DataLoader epochs, 4 forked workers each (not persistent,
so 80 forks per dataset), while the parent keeps using the library between
epochs. Every epoch must read every sample exactly once, byte for byte, and
nothing may hang: each batch has a DataLoader timeout, each test a pytest
timeout.
"""

from __future__ import annotations

import time

import pytest
import torch
from torch.utils.data import DataLoader
from torch_helpers import assert_exactly_once, index_of, indices_of, make_objects

import s3dlio
from s3dlio_torch import S3IterableDataset, S3MapDataset, collate

pytestmark = [
    # JAX, when another test imported it into this process, warns at every
    # fork that *JAX* is not fork-safe; that says nothing about s3dlio.
    pytest.mark.filterwarnings(
        "ignore:os.fork\\(\\) was called.*JAX is multithreaded:RuntimeWarning"
    ),
    # Python 3.12+ warns when a process with threads forks; forking after
    # the library started its threads is the point.
    pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork.*:DeprecationWarning"),
    # More workers than cores is deliberate here (4 workers on small CI machines).
    pytest.mark.filterwarnings(
        "ignore:This DataLoader will create .* worker processes:UserWarning"
    ),
]

EPOCHS = 20
WORKERS = 4
N = 18  # not a multiple of 4 workers x batch 4
LOADER_TIMEOUT_S = 60


def _loader(ds, **kwargs) -> DataLoader:
    return DataLoader(
        ds,
        batch_size=4,
        num_workers=WORKERS,
        multiprocessing_context="fork",
        persistent_workers=False,
        timeout=LOADER_TIMEOUT_S,
        **kwargs,
    )


def _parent_uses_the_library(uris: list[str], epoch: int) -> None:
    """Between epochs the parent fetches too (its runtime, threads and
    connection pools are busy or warm at every fork)."""
    got = s3dlio.get_many(uris[epoch % 3 :: 3])
    assert [index_of(torch.from_dlpack(v)) for _, v in got] == list(range(N))[epoch % 3 :: 3]


@pytest.mark.timeout(120)
def test_iterable_20_epochs_4_forked_workers(s3_prefix):
    uris = make_objects(s3_prefix, N)
    _parent_uses_the_library(uris, 0)
    ds = S3IterableDataset(uris, shuffle=True, seed=3, batch_fetch=2)
    loader = _loader(ds)
    start = time.monotonic()
    orders = []
    for epoch in range(EPOCHS):
        ds.set_epoch(epoch)  # copied into the workers at each (non-persistent) fork
        got = indices_of(loader)
        assert_exactly_once(got, N)
        orders.append(got)
        _parent_uses_the_library(uris, epoch)
    assert len({tuple(o) for o in orders}) > 1, "the order changes with the epoch"
    assert time.monotonic() - start < 100


@pytest.mark.timeout(120)
def test_map_20_epochs_4_forked_workers(file_prefix):
    uris = make_objects(file_prefix, N)
    _parent_uses_the_library(uris, 0)
    ds = S3MapDataset(file_prefix)
    start = time.monotonic()
    for epoch in range(EPOCHS):
        generator = torch.Generator().manual_seed(epoch)
        batches = list(_loader(ds, shuffle=True, generator=generator, collate_fn=collate))
        assert all(b.dtype == torch.uint8 and b.dim() == 2 for b in batches)
        assert_exactly_once(indices_of(batches), N)
        _parent_uses_the_library(uris, epoch)
    assert time.monotonic() - start < 100
