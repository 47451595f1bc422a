"""Batches cross from DataLoader workers to the main process in shared
slots, without torch's copy into fresh shared memory (see
``s3dlio_torch._worker_slots``); a slot is never written again while
either process still holds its batch.

Slots carry batches fetched with ``get_batch``, i.e. whenever every size
is known (a listed prefix, or ``sizes=``). Where a batch's memory lives
is read from ``/proc/self/maps``: a slot is the worker's
``memfd:s3dlio-slot``, torch's own copy is ``/dev/shm/torch_*``.
"""

from __future__ import annotations

import gc
import sys

import pytest
import torch
from torch.utils.data import DataLoader
from torch_helpers import (
    as_square,
    header,
    indices_of,
    make_objects,
    stack_and_count_slots,
)

from s3dlio_torch import S3IterableDataset, S3MapDataset, _worker_slots, collate

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="memfd and /proc are Linux"),
    pytest.mark.filterwarnings(
        "ignore:os.fork\\(\\) was called.*JAX is multithreaded:RuntimeWarning"
    ),
    pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork.*:DeprecationWarning"),
    pytest.mark.timeout(120),
]

BATCH = 4
N = 40  # ten batches


def mapping_of(address: int) -> tuple[str, int]:
    """(path, inode) of the mapping of this process that holds ``address``."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if start <= address < end:
                return (fields[5] if len(fields) > 5 else "", int(fields[4]))
    raise AssertionError(f"address {address:#x} is not mapped")


def in_slot(batch: torch.Tensor) -> bool:
    return mapping_of(batch.data_ptr())[0] == "/memfd:s3dlio-slot"


@pytest.fixture
def uris(tmp_path) -> str:
    """A listed prefix: every size is known, so batches go through get_batch."""
    make_objects(f"file://{tmp_path}/objs", N)
    return f"file://{tmp_path}/objs/"


def loader(dataset, **kwargs) -> DataLoader:
    kwargs.setdefault("num_workers", 2)
    kwargs.setdefault("collate_fn", collate)
    if kwargs["num_workers"]:
        kwargs["timeout"] = 60  # per batch: a stuck worker fails the test
    return DataLoader(dataset, batch_size=BATCH, **kwargs)


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_worker_batches_arrive_in_a_shared_slot(uris, context):
    batches = list(loader(S3MapDataset(uris), multiprocessing_context=context))
    assert indices_of(batches) == list(range(N))
    assert all(b.shape == (BATCH, 256) and b.dtype == torch.uint8 for b in batches)
    assert all(in_slot(b) for b in batches), [mapping_of(b.data_ptr()) for b in batches]


def test_the_iterable_dataset_ships_its_batches_the_same_way(uris):
    data = S3IterableDataset(uris, batch_fetch=BATCH)
    batches = list(loader(data, num_workers=1))
    assert sorted(indices_of(batches)) == list(range(N))
    assert all(in_slot(b) for b in batches)


def test_without_the_slots_torch_copies_into_its_own_shared_memory(uris):
    # What the slots replace: the same rows stacked by torch in the worker.
    batches = list(loader(S3MapDataset(uris), collate_fn=torch.stack))
    assert indices_of(batches) == list(range(N))
    assert not any(in_slot(b) for b in batches)
    assert all(mapping_of(b.data_ptr())[0].startswith("/dev/shm/torch_") for b in batches)


def test_batches_held_by_the_main_process_are_never_overwritten(uris):
    held = list(loader(S3MapDataset(uris), num_workers=1))
    gc.collect()
    # Every batch still has its own bytes after the whole epoch went by.
    assert indices_of(held) == list(range(N))
    assert len({mapping_of(b.data_ptr())[1] for b in held}) == len(held) == N // BATCH


def test_released_batches_free_their_slot_for_the_next(uris):
    slots = set()
    for batch in loader(S3MapDataset(uris), num_workers=1, prefetch_factor=2):
        slots.add(mapping_of(batch.data_ptr())[1])
        del batch
    # At most: the batch in hand, the one before it not yet collected, and
    # the worker's two in flight.
    assert len(slots) <= 4, f"{len(slots)} slots for {N // BATCH} batches: no reuse"


def test_a_worker_that_consumes_its_batch_itself_frees_the_slot(uris):
    out = list(loader(S3MapDataset(uris), num_workers=1, collate_fn=stack_and_count_slots))
    assert indices_of(stacked for stacked, _ in out) == list(range(N))
    assert max(count for _, count in out) == 1, "the worker reused its one slot"


def test_breaking_off_an_epoch_leaves_the_next_one_whole(uris):
    data = S3MapDataset(uris)
    it = iter(loader(data))
    first = next(it)
    del it
    gc.collect()
    assert indices_of([first]) == list(range(BATCH))
    assert indices_of(loader(data)) == list(range(N))


def test_the_main_process_lands_batches_in_its_own_memory(uris):
    assert _worker_slots.lease(1024) is None
    batches = list(loader(S3MapDataset(uris), num_workers=0))
    assert indices_of(batches) == list(range(N))
    assert not any(in_slot(b) for b in batches)


def test_a_worker_that_cannot_make_a_slot_falls_back_to_torch(uris, monkeypatch):
    def refuse(*_args):
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(_worker_slots.os, "memfd_create", refuse)  # forked workers inherit it
    batches = list(loader(S3MapDataset(uris), multiprocessing_context="fork"))
    assert indices_of(batches) == list(range(N))
    assert not any(in_slot(b) for b in batches)


def test_threads_leasing_at_once_never_share_a_slot(monkeypatch):
    # A slow check widens the window in which two unguarded threads would
    # both see the same slot free and both take it.
    import threading
    import time

    free = _worker_slots._Slot.free

    def slow_free(slot) -> bool:
        answer = free(slot)
        time.sleep(0.002)  # others look meanwhile
        return answer

    monkeypatch.setattr(_worker_slots._Slot, "free", slow_free)
    ring = _worker_slots._Ring()
    ring.lease(1024)  # made, then released: one free slot for everyone to want
    gc.collect()
    held, start = [], threading.Barrier(4)

    def take() -> None:
        start.wait()
        held.append(ring.lease(1024))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    addresses = [a.ctypes.data for a in held]
    assert len(set(addresses)) == 4, "a slot was handed out twice"


def test_samples_of_unknown_size_are_stacked_into_a_slot(tmp_path):
    # A URI list without sizes is fetched object by object (get_many); the
    # collate step stacks the rows into a slot instead of fresh torch memory.
    objects = make_objects(f"file://{tmp_path}/objs", N)
    batches = list(loader(S3MapDataset(objects)))
    assert indices_of(batches) == list(range(N))
    assert all(in_slot(b) for b in batches)


def test_transformed_samples_keep_their_shape_and_dtype(uris):
    batches = list(loader(S3MapDataset(uris, transform=as_square)))
    assert all(b.shape == (BATCH, 16, 16) and b.dtype == torch.uint8 for b in batches)
    assert indices_of(row.flatten() for b in batches for row in b) == list(range(N))
    assert all(in_slot(b) for b in batches)
    headers = list(loader(S3MapDataset(uris, transform=header)))
    assert all(h.dtype == torch.int64 and h.shape == (BATCH, 2) for h in headers)
    assert [int(i) for h in headers for i in h[:, 0]] == list(range(N))
    assert all(in_slot(h) for h in headers)
