"""What the DCP storage records per item in the checkpoint's metadata, and
the names of a checkpoint's objects."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

METADATA = ".metadata"
SCHEMES = ("file://", "direct://", "s3://", "az://", "gs://")


@dataclass(frozen=True)
class StoredItem:
    """Where one item's bytes are: ``relative_path`` under the checkpoint,
    ``offset`` and ``length`` in it, their CRC32C, and for a tensor its
    dtype (``"float32"``) and shape (the stored chunk's); both None for a
    bytes item."""

    relative_path: str
    offset: int
    length: int
    crc32c: int
    dtype: str | None = None
    shape: tuple[int, ...] | None = None


def checkpoint_uri(checkpoint_id: str | os.PathLike[str]) -> str:
    """The checkpoint's URI without a trailing ``/``; a ValueError unless
    it is a URI of a scheme s3dlio reads."""
    uri = os.fspath(checkpoint_id)
    if not uri.startswith(SCHEMES):
        raise ValueError(f"{uri!r} is not a URI s3dlio reads (one of {', '.join(SCHEMES)})")
    return uri.rstrip("/")


def is_checkpoint_uri(checkpoint_id: str | os.PathLike[str]) -> bool:
    return os.fspath(checkpoint_id).startswith(SCHEMES)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def dtype_of(name: str) -> torch.dtype:
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"unknown tensor dtype {name!r} in the checkpoint's metadata")
    return dtype
