"""The pinned path on a real GPU: batches land in CUDA-registered memory,
DeviceLoader copies them without staging, and slabs are recycled. Skipped
(with the reason) where no CUDA device is usable."""

import gc

import pytest
import torch
from torch.utils.data import DataLoader
from torch_helpers import SIZE, index_of, make_objects

import s3dlio
from s3dlio_torch import DeviceLoader, S3MapDataset, collate

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device (the CPU logic is in test_pinned.py)"
)

N = 64


def test_pinned_batches_are_page_locked(file_prefix):
    uris = make_objects(file_prefix, N)
    pool = s3dlio.default_pinned_pool()
    assert pool is not None and pool.registered
    batch = s3dlio.get_batch(uris, sizes=SIZE, pinned=True)
    assert batch.pinned
    host = torch.from_dlpack(batch)
    assert host.is_pinned() and host.data_ptr() == batch.address
    dev = host.to("cuda", non_blocking=True)
    torch.cuda.synchronize()
    assert [index_of(row) for row in dev.cpu()] == list(range(N))


def test_device_loader_from_pinned_dataset(file_prefix):
    make_objects(file_prefix, N)
    pool = s3dlio.default_pinned_pool()
    made = pool.stats()["pool_made"]
    ds = S3MapDataset(file_prefix, pin_memory=True)
    loader = DeviceLoader(DataLoader(ds, batch_size=8, collate_fn=collate), "cuda", prefetch=2)
    seen = []
    for batch in loader:
        assert batch.is_cuda and batch.shape == (8, SIZE)
        seen += [index_of(row) for row in batch.cpu()]
    assert seen == list(range(N))
    gc.collect()
    assert pool.stats()["pool_made"] - made <= 4, "slabs recycled, not one per batch"


def test_jax_loader_to_gpu_from_pinned_slabs(file_prefix):
    jax = pytest.importorskip("jax")
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        pytest.skip("JAX has no GPU backend here")
    from s3dlio_jax import JaxLoader

    make_objects(file_prefix, N)
    loader = JaxLoader(file_prefix, batch_size=8, device=gpus[0], pinned=True)
    rows = [int(row[0]) for batch in loader for row in batch]
    assert rows == list(range(N))
