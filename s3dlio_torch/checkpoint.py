"""torch ``state_dict``s through an s3dlio ``CheckpointStore``.

Protocol for ``torch.distributed``: every rank calls ``save_state_dict``
with its own shard; the step is published by whichever rank completes the
set, and with ``barrier=True`` (default) every rank waits at a barrier
afterwards when a process group exists, so that after the call the step is
visible to all ranks.
"""

from __future__ import annotations

import io
from typing import Any

import torch
import torch.distributed as dist

import s3dlio
from s3dlio_torch._sharding import world


def save_state_dict(
    store: s3dlio.CheckpointStore,
    step: int,
    state_dict: dict[str, Any],
    *,
    rank: int | None = None,
    world_size: int | None = None,
    user_meta: Any = None,
    barrier: bool = True,
) -> None:
    """``torch.save`` the state dict into memory, then store it as this
    rank's shard of ``step`` with one put (the buffer is not copied again)."""
    rank, world_size = world(rank, world_size)
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    store.save(step, buffer.getbuffer(), rank=rank, world_size=world_size, user_meta=user_meta)
    if barrier and dist.is_available() and dist.is_initialized():
        dist.barrier()


def load_state_dict(
    store: s3dlio.CheckpointStore,
    step: int | None = None,
    *,
    rank: int | None = None,
    map_location: Any = "cpu",
    weights_only: bool = True,
) -> dict[str, Any] | None:
    """This rank's state dict of ``step`` (the latest when None), or None
    when the store is empty. The shard is checksummed when the store validates."""
    if rank is None:
        rank, _ = world(None, None)
    if step is None:
        step = store.latest_step()
        if step is None:
            return None
    view = store.read_shard_by_rank(step, rank)
    return torch.load(io.BytesIO(view), map_location=map_location, weights_only=weights_only)
