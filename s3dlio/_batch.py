"""``get_batch`` with ``pinned=`` resolved in Python before the Rust call:
``pinned=True`` is this process's default :class:`~s3dlio.PinnedPool`
(found through CUDA at run time by ``s3dlio._pinned``), so the extension
only ever receives a pool or None and never imports Python modules, or
re-enters the interpreter, to reach CUDA."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from s3dlio import _core, _pinned

if TYPE_CHECKING:
    from typing_extensions import Buffer


def get_batch(
    uris: Sequence[str],
    max_in_flight: int = 64,
    *,
    sizes: int | Sequence[int] | None = None,
    options: Mapping[str, str] | None = None,
    pinned: bool | _core.PinnedPool | None = None,
    out: Buffer | None = None,
) -> _core.Batch:
    """Fetch objects in parallel straight into the rows of one contiguous buffer.

    Sizes come from ``sizes`` (one for all, or one per URI) when known,
    else from a concurrent stat; an object whose size differs is an error.
    ``pinned=True`` lands the batch in a CUDA-registered slab of the
    default PinnedPool (ordinary memory where no GPU is usable; see
    ``Batch.pinned``); a PinnedPool uses that pool. ``out`` (a writable,
    C-contiguous, 64-byte-aligned uint8 buffer of exactly the objects'
    total size, e.g. shared memory) is filled in place instead and kept
    alive as long as the batch.
    """
    if out is not None and pinned:
        raise _core.InvalidArgumentError("get_batch: give pinned or out, not both")
    return _core.get_batch(
        uris,
        max_in_flight,
        sizes=sizes,
        options=options,
        pinned=_pinned.resolve(pinned),
        out=out,
    )
