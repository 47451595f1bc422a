"""Batches that cross from DataLoader workers to the main process without a copy.

A DataLoader worker sends each batch tensor to the main process by
pickling it, and torch pickles a tensor by first copying it into a fresh
shared-memory segment: per batch, one more copy of every byte and a page
fault for every page of the new segment (in an epoch over 1 GiB, more CPU
than reading the files). Here a worker instead lands each batch straight
in a *slot*: a shared-memory file (``memfd``) that it maps once and
reuses. The batch tensor is shipped as the slot's file descriptor plus a
position; the main process maps the same pages and wraps them in a
tensor. Nothing is copied, and a slot is only written again once both
processes are done with it:

- byte 0 of a slot's header is set while the worker holds the batch (its
  ``out`` array is alive: the batch, its rows, their tensors);
- byte 1 is set when the batch is pickled for the main process, and
  cleared there when the last tensor sharing the mapping is gone.

A slot whose batch never reaches the main process (a worker stopped with
results in flight) stays taken until the worker exits; a memfd has no
name, so its memory goes back to the system with the last process that
maps it, whatever happens. Where ``os.memfd_create`` does not exist,
batches go through torch's own sharing as before.
"""

from __future__ import annotations

import mmap
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from multiprocessing.reduction import DupFd
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import get_worker_info

HEADER = 4096  # flag bytes; the data after it stays page-aligned
WORKER_HELD, MAIN_HELD = 0, 1
GRAIN = 1 << 21  # slot capacities are multiples of this, so batches reuse them
KEEP_IDLE = 4  # free slots kept beyond those in use


class _FdHandle(Protocol):
    """What ``DupFd`` unpickles as: a descriptor to take over."""

    def detach(self) -> int: ...


class _Slot:
    """One shared-memory file, mapped once, reused batch after batch."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.fd = os.memfd_create("s3dlio-slot", os.MFD_CLOEXEC)
        try:
            os.ftruncate(self.fd, HEADER + capacity)
            flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
            self.map = mmap.mmap(self.fd, HEADER + capacity, flags=flags)
        except BaseException:
            os.close(self.fd)
            raise
        self.base = np.frombuffer(self.map, np.uint8, count=1, offset=HEADER).ctypes.data

    def free(self) -> bool:
        return self.map[WORKER_HELD] == 0 and self.map[MAIN_HELD] == 0

    def holds(self, address: int, nbytes: int) -> bool:
        return self.base <= address and address + nbytes <= self.base + self.capacity

    def close(self) -> bool:
        """Unmap and close; False while some array still exports the map."""
        try:
            self.map.close()
        except BufferError:
            return False
        os.close(self.fd)
        return True


def _worker_done(slot_map: mmap.mmap) -> None:
    slot_map[WORKER_HELD] = 0


class _Ring:
    """This worker process's slots."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.slots: list[_Slot] = []
        self.lock = threading.Lock()  # a dataset may fetch from several threads

    def lease(self, nbytes: int) -> np.ndarray | None:
        """A writable ``nbytes`` array over a free slot, taken until it dies
        (``None`` when no slot can be made)."""
        with self.lock:
            slot = self._take(nbytes)
        if slot is None:
            return None
        out = np.frombuffer(slot.map, np.uint8, count=nbytes, offset=HEADER)
        weakref.finalize(out, _worker_done, slot.map)
        return out

    def _take(self, nbytes: int) -> _Slot | None:
        free = [s for s in self.slots if s.free()]
        fits = [s for s in free if s.capacity >= nbytes]
        slot = min(fits, key=lambda s: s.capacity) if fits else None
        spare = [s for s in free if s is not slot]
        for extra in spare[KEEP_IDLE:]:
            if extra.close():
                self.slots.remove(extra)
        if slot is None:
            try:
                slot = _Slot(-(-nbytes // GRAIN) * GRAIN)
            except OSError:
                return None  # out of memfds or memory: torch's own path still works
            self.slots.append(slot)
        slot.map[WORKER_HELD] = 1
        return slot

    def slot_of(self, tensor: torch.Tensor) -> _Slot | None:
        nbytes = tensor.numel() * tensor.element_size()
        for slot in self.slots:
            if slot.holds(tensor.data_ptr(), nbytes):
                return slot
        return None


_ring: _Ring | None = None
_ring_lock = threading.Lock()


def _this_ring() -> _Ring:
    global _ring
    with _ring_lock:
        if _ring is None or _ring.pid != os.getpid():
            _ring = _Ring()
        return _ring


def supported() -> bool:
    return hasattr(os, "memfd_create")


def lease(nbytes: int) -> np.ndarray | None:
    """Memory for a worker's batch of ``nbytes`` (``None`` outside a
    DataLoader worker, for an empty batch, or where memfd is missing)."""
    if nbytes <= 0 or get_worker_info() is None or not supported():
        return None
    return _this_ring().lease(nbytes)


def stack(samples: Sequence[torch.Tensor]) -> torch.Tensor | None:
    """In a worker: equal-shape CPU tensors stacked into a slot (``None``
    when they are not, or outside a worker), ready for :func:`ship`."""
    first = samples[0]
    if any(
        s.shape != first.shape
        or s.dtype != first.dtype
        or s.device.type != "cpu"
        or s.requires_grad
        for s in samples
    ):
        return None
    nbytes = len(samples) * first.numel() * first.element_size()
    out = lease(nbytes)
    if out is None:
        return None
    batch = torch.from_numpy(out).view(first.dtype).view(len(samples), *first.shape)
    return torch.stack(list(samples), out=batch)


class _Shipped:
    """A worker's batch tensor in a slot; unpickles as a torch tensor."""

    def __init__(self, tensor: torch.Tensor, slot: _Slot) -> None:
        self.tensor, self.slot = tensor, slot

    def __reduce__(self) -> tuple[Callable[..., torch.Tensor], tuple[object, ...]]:
        t = self.tensor
        self.slot.map[MAIN_HELD] = 1
        offset = t.data_ptr() - self.slot.base
        nbytes = t.numel() * t.element_size()
        dtype = str(t.dtype).removeprefix("torch.")
        return (_rebuild, (DupFd(self.slot.fd), offset, nbytes, tuple(t.shape), dtype))


def ship(tensor: torch.Tensor) -> torch.Tensor | _Shipped:
    """What a worker's ``collate_fn`` returns for ``tensor``: a shipment of
    its slot when the tensor is a contiguous batch in one, else the tensor."""
    ring = _ring
    if (
        ring is None
        or ring.pid != os.getpid()
        or get_worker_info() is None
        or not tensor.is_contiguous()
    ):
        return tensor
    slot = ring.slot_of(tensor)
    return tensor if slot is None else _Shipped(tensor, slot)


def _main_done(slot_map: mmap.mmap) -> None:
    slot_map[MAIN_HELD] = 0


def _rebuild(
    fd_handle: _FdHandle, offset: int, nbytes: int, shape: tuple[int, ...], dtype: str
) -> torch.Tensor:
    """In the main process: the shipped batch as a tensor over the slot."""
    fd = fd_handle.detach()
    try:
        slot_map = mmap.mmap(fd, os.fstat(fd).st_size, flags=mmap.MAP_SHARED)
    finally:
        os.close(fd)
    data = np.frombuffer(slot_map, np.uint8, count=nbytes, offset=HEADER + offset)
    weakref.finalize(data, _main_done, slot_map)
    return torch.from_numpy(data).view(getattr(torch, dtype)).reshape(shape)
