"""Fetched memory as torch tensors, without copying."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

import s3dlio


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


def apply(transform: Callable | None, samples: Sequence[torch.Tensor]) -> list:
    """``transform`` applied to each sample (or the samples as they are)."""
    if transform is None:
        return list(samples)
    return [transform(t) for t in samples]
