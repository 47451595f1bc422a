"""Fetched memory as torch tensors, without copying."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import get_worker_info

import s3dlio
from s3dlio_torch import _worker_slots


def view_tensor(view: s3dlio.BytesView) -> torch.Tensor:
    """A 1-D uint8 tensor sharing the view's memory (DLPack; no copy, no warning)."""
    return torch.from_dlpack(view)


def batch_rows(batch: s3dlio.Batch) -> list[torch.Tensor]:
    """One tensor per object of a batch, each sharing the batch buffer.

    For equal sizes the rows are views of one ``[n, size]`` tensor, which
    :func:`s3dlio_torch.collate` hands on whole instead of stacking.
    """
    if batch.uniform_size is not None:
        return list(torch.from_dlpack(batch).unbind(0))
    return [view_tensor(batch[i]) for i in range(len(batch))]


def fetch_rows(
    uris: Sequence[str],
    sizes: Sequence[int] | None,
    max_in_flight: int,
    options: Mapping[str, str] | None,
    pin_memory: bool = False,
) -> list[torch.Tensor]:
    """The objects as tensors over fetched memory: one ``get_batch`` buffer
    when the sizes are known or memory is to be pinned, else ``get_many``.

    ``pin_memory`` lands the batch in a CUDA-registered slab (see
    ``s3dlio.PinnedPool``), in the main process only: a DataLoader worker
    cannot use CUDA, so there the DataLoader's own ``pin_memory`` applies.
    In a worker, a batch of known sizes lands in a shared-memory slot that
    reaches the main process without a copy (see ``_worker_slots``).
    """
    pinned = pin_memory and get_worker_info() is None
    if sizes is not None or pinned:
        out = _worker_slots.lease(sum(sizes)) if sizes is not None and not pinned else None
        # numpy's stubs give ndarray the buffer protocol (__buffer__) from Python 3.12 on.
        batch = s3dlio.get_batch(
            uris,
            max_in_flight,
            sizes=sizes,
            options=options,
            pinned=pinned or None,
            out=out,  # type: ignore[arg-type]
        )
        return batch_rows(batch)
    fetched = s3dlio.get_many(uris, max_in_flight, options=options)
    return [view_tensor(view) for _, view in fetched]


def apply(
    transform: Callable[[torch.Tensor], Any] | None, samples: Sequence[torch.Tensor]
) -> list[Any]:
    """``transform`` applied to each sample (or the samples as they are)."""
    if transform is None:
        return list(samples)
    return [transform(t) for t in samples]
