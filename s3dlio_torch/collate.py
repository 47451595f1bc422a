"""Collation without a copy for rows that already sit in one batch buffer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import default_collate

from s3dlio_torch import _packed_samples, _worker_slots


def collate(samples: Sequence[Any]) -> Any:
    """``collate_fn`` for DataLoader: the ``[B, size]`` batch tensor itself
    when the samples are all its rows, in order (as ``S3MapDataset``
    yields them for equal-size objects fetched with ``get_batch``), so no
    per-sample copy is made; otherwise ``torch.utils.data.default_collate``.
    In a DataLoader worker, a batch that sits in a shared-memory slot is
    handed on as that slot, so it also crosses to the main process without
    a copy (it arrives there as the same ``[B, size]`` tensor); other
    equal-shape tensors are stacked into a slot (the one copy torch's
    stacking makes anyway, into memory that is reused, not fresh).
    """
    if samples and all(isinstance(s, torch.Tensor) for s in samples):
        base = samples[0]._base
        if (
            base is not None
            and base.dim() == 2
            and base.shape[0] == len(samples)
            and all(s._base is base for s in samples)
            and all(
                s.dtype == base.dtype
                and s.shape == base.shape[1:]
                and s.stride() == base.stride()[1:]
                for s in samples
            )
            and all(
                s.data_ptr() == base.data_ptr() + i * base.stride(0) for i, s in enumerate(samples)
            )
        ):
            return _worker_slots.ship(base)
        stacked = _worker_slots.stack(samples)
        if stacked is not None:
            return _worker_slots.ship(stacked)
    return default_collate(list(samples))


def collate_samples(samples: Sequence[dict[str, Any]]) -> Any:
    """``collate_fn`` for samples whose fields vary in size (WebDataset
    samples of ``S3WebDataset``): the batch is the list of its samples,
    as they are. In a DataLoader worker every 1-D uint8 tensor of the
    batch is copied into one reused shared-memory slot and the batch
    crosses to the main process as that slot (one descriptor, not one per
    field); there its fields are views of the slot.
    """
    packed = _packed_samples.pack(samples)
    return list(samples) if packed is None else packed
