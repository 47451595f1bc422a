"""Who reads what in torch: ranks of a distributed job and DataLoader
workers (the order and the split itself are in ``s3dlio._sampling``)."""

from __future__ import annotations

import os

import torch.distributed as dist
from torch.utils.data import get_worker_info

from s3dlio_torch import _worker_gc


def world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """``(rank, world_size)``: explicit values, else torch.distributed when
    initialised, else the ``RANK``/``WORLD_SIZE`` environment, else (0, 1)."""
    if rank is None or world_size is None:
        if dist.is_available() and dist.is_initialized():
            rank = dist.get_rank() if rank is None else rank
            world_size = dist.get_world_size() if world_size is None else world_size
        else:
            if rank is None:
                rank = int(os.environ.get("RANK", "0"))
            if world_size is None:
                world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"invalid distributed world: rank={rank}, world_size={world_size}")
    return rank, world_size


def worker() -> tuple[int, int, bool]:
    """``(worker_id, num_workers, in_a_worker)`` of the current DataLoader
    worker; ``(0, 1, False)`` in-process. A worker's inherited objects are
    frozen here, as it begins reading (see ``_worker_gc``)."""
    info = get_worker_info()
    if info is None:
        return 0, 1, False
    _worker_gc.settle()
    return info.id, info.num_workers, True
