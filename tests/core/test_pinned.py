"""Pinned batches, tested without a GPU: a PinnedPool with recording
registration hooks stands in for CUDA. Registration happens once per slab,
slabs are recycled by address, a refused registration is a clear error,
and a host batch goes back to the pool only after the event of the device
copy that reads it has completed."""

import gc
import multiprocessing
from collections import namedtuple

import jax
import jax.numpy as jnp
import pytest
import torch
from torch.utils.data import DataLoader
from torch_helpers import SIZE, index_of, make_objects, object_bytes

import s3dlio
import s3dlio_jax.loader
from s3dlio_jax import JaxLoader
from s3dlio_torch import DeviceLoader, S3IterableDataset, S3MapDataset, collate

N = 32


class Recorder:
    """register/unregister hooks that remember what they were called with."""

    def __init__(self) -> None:
        self.registered: list[tuple[int, int]] = []
        self.unregistered: list[int] = []

    def register(self, address: int, nbytes: int) -> None:
        self.registered.append((address, nbytes))

    def unregister(self, address: int) -> None:
        self.unregistered.append(address)

    def pool(self) -> s3dlio.PinnedPool:
        return s3dlio.PinnedPool(self.register, self.unregister)


@pytest.fixture
def uris(file_prefix):
    return make_objects(file_prefix, N)


@pytest.fixture
def fake_default():
    """A recording pool as the process's default for ``pinned=True``."""
    before = s3dlio.default_pinned_pool()
    rec = Recorder()
    s3dlio.set_default_pinned_pool(rec.pool())
    yield rec
    s3dlio.set_default_pinned_pool(before)


def test_each_slab_is_registered_once_and_reused(uris):
    rec = Recorder()
    pool = rec.pool()
    batch = s3dlio.get_batch(uris, pinned=pool)
    assert batch.pinned and pool.registered
    address = batch.address
    assert rec.registered == [(address, rec.registered[0][1])]
    assert rec.registered[0][1] >= batch.nbytes
    assert [index_of(torch.from_dlpack(batch[i])) for i in range(N)] == list(range(N))
    del batch
    gc.collect()
    for _ in range(3):
        again = s3dlio.get_batch(uris[:20], pinned=pool)  # smaller: best fit reuses
        assert again.address == address
        del again
    assert len(rec.registered) == 1
    assert pool.stats()["pool_reused"] == 3
    assert rec.unregistered == []
    pool.trim()
    assert rec.unregistered == [address]
    assert pool.stats()["pool_idle"] == 0


def test_a_held_slab_is_never_handed_out(uris):
    rec = Recorder()
    pool = rec.pool()
    held = [s3dlio.get_batch(uris, pinned=pool) for _ in range(3)]
    assert len({b.address for b in held}) == 3
    assert len(rec.registered) == 3


def test_refused_registration_is_a_clear_error(uris):
    def refuse(address, nbytes):
        raise RuntimeError("out of page-locked memory")

    pool = s3dlio.PinnedPool(refuse, lambda address: None)
    with pytest.raises(s3dlio.S3dlioError) as err:
        s3dlio.get_batch(uris, pinned=pool)
    assert uris[0] in str(err.value)
    assert "out of page-locked memory" in str(err.value)
    assert pool.stats()["pool_made"] == 0


def test_hooks_come_in_pairs():
    with pytest.raises(s3dlio.InvalidArgumentError):
        s3dlio.PinnedPool(lambda a, n: None)


def test_pinned_true_uses_the_default_pool(uris, fake_default):
    batch = s3dlio.get_batch(uris, pinned=True)
    assert batch.pinned
    assert fake_default.registered[0][0] == batch.address


def test_without_a_gpu_pinned_true_is_ordinary_memory(uris):
    default = s3dlio.default_pinned_pool()
    if default is not None:
        pytest.skip("a GPU is usable here")
    batch = s3dlio.get_batch(uris, pinned=True)
    assert not batch.pinned
    assert bytes(batch[5]) == object_bytes(5)


JAX_FORK = "ignore:os.fork\\(\\) was called.*JAX is multithreaded:RuntimeWarning"


def _default_in_child(_):
    return s3dlio.default_pinned_pool() is None


@pytest.mark.filterwarnings(JAX_FORK)
def test_a_forked_child_does_not_inherit_the_default_pool(fake_default):
    if s3dlio._pinned.cuda_registrar() is not None:
        pytest.skip("a GPU is usable here")
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.map(_default_in_child, [0]) == [True]


class FakeEvent:
    """A copy's completion, which the test decides."""

    def __init__(self) -> None:
        self.done = False

    def query(self) -> bool:
        return self.done

    def synchronize(self) -> None:
        self.done = True


class FakeCopies:
    """DeviceLoader's copy engine without CUDA: copies at once, completes
    each copy's event only when the test says."""

    def __init__(self) -> None:
        self.events: list[FakeEvent] = []

    def copy(self, host):
        event = FakeEvent()
        self.events.append(event)
        return host.clone(), event

    def hand_over(self, dev, event):
        return dev


@pytest.mark.parametrize("copy_completes", [True, False], ids=["completed", "pending"])
def test_slab_recycling_waits_for_its_release_event(uris, copy_completes):
    pool = Recorder().pool()
    fetched: list[int] = []

    def host_batches():
        for _ in range(4):
            tensor = torch.from_dlpack(s3dlio.get_batch(uris, sizes=SIZE, pinned=pool))
            fetched.append(tensor.data_ptr())
            yield tensor

    copies = FakeCopies()
    loader = iter(DeviceLoader(host_batches(), "cuda", prefetch=1, copies=copies))
    first = next(loader)  # batches 0 and 1 fetched, 0 handed out
    assert len(fetched) == 2 and fetched[0] != fetched[1]
    copies.events[0].done = copy_completes
    second = next(loader)  # batch 0's host released if its copy is done; batch 2 fetched
    assert len(fetched) == 3
    if copy_completes:
        assert fetched[2] == fetched[0], "a completed copy's slab is reused"
    else:
        assert fetched[2] not in fetched[:2], "a slab under a pending copy is never reused"
    rest = list(loader)
    assert [index_of(row) for b in (first, second, *rest) for row in b] == list(range(N)) * 4
    assert all(e.done for e in copies.events), "the loader waits for every copy at the end"
    assert pool.stats()["pool_idle"] == pool.stats()["pool_made"], "every slab came back"


def test_device_loader_moves_nested_batches_on_cpu():
    Pair = namedtuple("Pair", "x y")  # noqa: PYI024 (a plain namedtuple, as user code makes)
    batches = [
        {"a": torch.arange(4), "b": (torch.ones(2), [torch.zeros(1)])},
        Pair(torch.arange(3), "label"),
    ]
    out = list(DeviceLoader(batches, "cpu"))
    assert torch.equal(out[0]["a"], torch.arange(4))
    assert isinstance(out[0]["b"], tuple) and isinstance(out[0]["b"][1], list)
    assert isinstance(out[1], Pair) and out[1].y == "label"
    with pytest.raises(ValueError):
        DeviceLoader(batches, "cpu", prefetch=0)


@pytest.mark.parametrize("kind", ["map", "iterable"])
def test_datasets_land_batches_in_the_pinned_pool(file_prefix, fake_default, kind):
    make_objects(file_prefix, N)
    if kind == "map":
        ds = S3MapDataset(file_prefix, pin_memory=True)
    else:
        ds = S3IterableDataset(file_prefix, pin_memory=True, batch_fetch=8)
    batches = []
    for b in DataLoader(ds, batch_size=8, collate_fn=collate):
        assert b.shape == (8, SIZE)
        batches.append([index_of(row) for row in b])
        del b
    assert batches == [list(range(i, i + 8)) for i in range(0, N, 8)]
    registered = {address for address, _ in fake_default.registered}
    assert 1 <= len(registered) < N // 8 + 2, "slabs are recycled across batches"


@pytest.mark.filterwarnings(JAX_FORK)
def test_datasets_in_workers_ignore_pin_memory(file_prefix):
    make_objects(file_prefix, N)
    ds = S3MapDataset(file_prefix, pin_memory=True)
    loader = DataLoader(ds, batch_size=8, collate_fn=collate, num_workers=2)
    assert sorted(index_of(row) for b in loader for row in b) == list(range(N))


def test_jax_loader_on_cpu_shares_the_batch_instead(file_prefix, fake_default):
    make_objects(file_prefix, N)
    loader = JaxLoader(file_prefix, batch_size=8, device=jax.devices("cpu")[0], pinned=True)
    assert [int(row[0]) for b in loader for row in b] == list(range(N))
    assert fake_default.registered == [], "no slab is the source of an aliasing device_put"


def test_jax_loader_puts_batches_from_pinned_slabs(file_prefix, fake_default, monkeypatch):
    """The accelerator path, with device_put as a copy the test can watch."""
    make_objects(file_prefix, N)
    puts = []

    def copying_put(host, device, may_alias):
        assert may_alias is False
        puts.append(host.ctypes.data)
        return jnp.array(host, copy=True)

    monkeypatch.setattr(s3dlio_jax.loader, "on_accelerator", lambda device: True)
    monkeypatch.setattr(s3dlio_jax.loader.jax, "device_put", copying_put)
    loader = JaxLoader(
        file_prefix, batch_size=8, device=jax.devices("cpu")[0], pinned=True, prefetch=2
    )
    seen = []
    for batch in loader:
        assert batch.unsafe_buffer_pointer() not in puts, "a device copy, not the slab"
        seen += [int(row[0]) for row in batch]
    assert seen == list(range(N))
    slabs = {address for address, _ in fake_default.registered}
    assert set(puts) == slabs, "every batch was put from a registered slab"
    assert len(slabs) < len(puts) == N // 8, "slabs are recycled"


def test_accelerator_detection():
    assert not s3dlio_jax.loader.on_accelerator(jax.devices("cpu")[0])
    sharding = jax.sharding.SingleDeviceSharding(jax.devices("cpu")[0])
    assert not s3dlio_jax.loader.on_accelerator(sharding)
