"""torch ``state_dict``s through an s3dlio ``CheckpointStore``.

Protocol for ``torch.distributed``: every rank calls ``save_state_dict``
with its own shard; the step is published by whichever rank completes the
set, and with ``barrier=True`` (default) every rank waits at a barrier
afterwards when a process group exists, so that after the call the step is
visible to all ranks.

Each launch of the job is its own checkpoint *attempt*: with a process
group, rank 0 draws a fresh id at the first save and broadcasts it, so the
shards a crashed launch left of a step never complete the next launch's
(unless ``attempt`` or ``S3DLIO_CHECKPOINT_ATTEMPT`` says otherwise).
"""

from __future__ import annotations

import io
import os
import uuid
from typing import Any

import torch
import torch.distributed as dist

import s3dlio
from s3dlio_torch._sharding import world

_launch_attempt: str | None = None


def launch_attempt() -> str | None:
    """The checkpoint attempt id of this launch of the job: drawn by rank 0
    and broadcast the first time it is asked for (a collective: every rank
    calls it, as every rank calls ``save_state_dict``), the same afterwards;
    None without a process group. Call it once after
    ``init_process_group`` if later saves may not run on every rank at once."""
    global _launch_attempt
    if _launch_attempt is None and dist.is_available() and dist.is_initialized():
        drawn = [uuid.uuid4().hex[:16] if dist.get_rank() == 0 else None]
        dist.broadcast_object_list(drawn, src=0)
        _launch_attempt = drawn[0]
    return _launch_attempt


def save_state_dict(
    store: s3dlio.CheckpointStore,
    step: int,
    state_dict: dict[str, Any],
    *,
    rank: int | None = None,
    world_size: int | None = None,
    user_meta: Any = None,
    barrier: bool = True,
    attempt: str | None = None,
) -> None:
    """``torch.save`` the state dict into memory, then store it as this
    rank's shard of ``step`` with one put (the buffer is not copied again).
    ``attempt``: see ``CheckpointStore.save``; None draws one per launch
    when a process group exists."""
    rank, world_size = world(rank, world_size)
    if attempt is None and "S3DLIO_CHECKPOINT_ATTEMPT" not in os.environ:
        attempt = launch_attempt()
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    store.save(
        step,
        buffer.getbuffer(),
        rank=rank,
        world_size=world_size,
        user_meta=user_meta,
        attempt=attempt,
    )
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
    state: dict[str, Any] = torch.load(
        io.BytesIO(view), map_location=map_location, weights_only=weights_only
    )
    return state
