"""Shared pieces of the s3dlio_torch tests: objects whose bytes say which
sample they are, and module-level functions that DataLoader workers can
import (spawn and forkserver pickle functions by reference).

Object ``i`` starts with a 16-byte little-endian header, ``<q i>`` then
``<q MAGIC>``, and continues with filler bytes that depend on ``i`` too,
so a tensor can be decoded back to its index and checked byte for byte.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

import s3dlio

MAGIC = 0x53D1_0B1E  # second header word: tells a real header from stray bytes
SIZE = 256  # bytes per object (all equal unless a test says otherwise)
HEADER = struct.Struct("<qq")


def object_bytes(index: int, size: int = SIZE) -> bytes:
    """The exact content of object ``index``."""
    filler = bytes((index * 31 + j * 7 + 1) % 251 for j in range(size - HEADER.size))
    return HEADER.pack(index, MAGIC) + filler


def object_uri(prefix: str, index: int) -> str:
    return f"{prefix}/obj-{index:04d}.bin"


def make_objects(prefix: str, n: int, size: int = SIZE) -> list[str]:
    """Write objects ``0..n`` under ``prefix``; their URIs in index (= listing) order."""
    uris = [object_uri(prefix, i) for i in range(n)]
    s3dlio.put_many([(uri, object_bytes(i, size)) for i, uri in enumerate(uris)])
    return uris


def header(t: torch.Tensor) -> torch.Tensor:
    """Transform: the 16-byte header of a sample as two int64 values (a view)."""
    return t[: HEADER.size].view(torch.int64)


def header_bytes(t: torch.Tensor) -> torch.Tensor:
    """Transform: the first 16 bytes of a sample (a uint8 view of its row)."""
    return t[: HEADER.size]


def as_square(t: torch.Tensor) -> torch.Tensor:
    """Transform: a 256-byte sample as a 16 x 16 uint8 view (an "image")."""
    return t.view(16, 16)


def as_bytes(t: torch.Tensor) -> bytes:
    """A 1-D uint8 tensor's bytes (a copy, for comparisons)."""
    assert t.dtype == torch.uint8 and t.dim() == 1, (t.dtype, t.shape)
    return t.numpy().tobytes()


def index_of(t: torch.Tensor) -> int:
    """Which object a 1-D uint8 sample is, checking every byte of it."""
    data = as_bytes(t)
    index, magic = HEADER.unpack_from(data)
    assert magic == MAGIC, f"not a test object: header {data[:16].hex()}"
    assert data == object_bytes(index, len(data)), f"object {index}: wrong bytes"
    return index


def indices_of(batches: Iterable) -> list[int]:
    """Object indices in order, from samples or ``[B, size]`` uint8 batches."""
    out: list[int] = []
    for item in batches:
        if isinstance(item, torch.Tensor) and item.dim() == 2:
            out.extend(index_of(row) for row in item)
        else:
            out.append(index_of(item))
    return out


def assert_exactly_once(indices: list[int], n: int) -> None:
    """Every index ``0..n`` appears exactly once."""
    duplicates = sorted({i for i in indices if indices.count(i) > 1})
    assert not duplicates, f"samples read more than once: {duplicates}"
    missing = sorted(set(range(n)) - set(indices))
    assert not missing, f"samples never read: {missing}"
    assert len(indices) == n


def assert_once_with_padding(indices: list[int], n: int, order: list[int]) -> None:
    """Every index ``0..n`` at least once; the repeats are the first samples
    of the epoch's ``order``, each read twice (the padding that evens ranks)."""
    assert set(indices) == set(range(n)), f"samples never read: {set(range(n)) - set(indices)}"
    repeats = len(indices) - n
    assert sorted(indices) == sorted(list(range(n)) + order[:repeats])


def stack_and_count_slots(samples: list[torch.Tensor]) -> tuple[torch.Tensor, int]:
    """collate_fn: the samples stacked by torch (a copy made in the worker),
    and how many shared-memory slots this worker has made so far."""
    from torch.utils.data import default_collate

    from s3dlio_torch import _worker_slots

    ring = _worker_slots._ring
    return default_collate(samples), 0 if ring is None else len(ring.slots)


def torchrun(
    script: Path,
    ranks: int,
    *args: str,
    cwd: Path,
    pythonpath: str = "",
    options: Sequence[str] = (),
    timeout_s: float = 240,
) -> None:
    """Run ``script`` under a real torchrun on loopback (``--standalone``)
    with ``ranks`` processes; fails with the tail of its stderr. The
    launcher's own TORCHELASTIC_* variables of an enclosing job are dropped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHELASTIC_")}
    env.update(PYTHONPATH=pythonpath, OMP_NUM_THREADS="1")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={ranks}",
            "--monitor-interval=0.2",
            *options,
            str(script),
            *args,
        ],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
