"""Batches on the GPU, each copied while the previous one trains."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from s3dlio import HostHold


def tree_map(fn: Callable[[torch.Tensor], Any], batch: Any) -> Any:
    """``fn`` applied to every tensor in nested tuples, lists and dicts."""
    if isinstance(batch, torch.Tensor):
        return fn(batch)
    if isinstance(batch, dict):
        return {k: tree_map(fn, v) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        mapped = [tree_map(fn, v) for v in batch]
        return type(batch)(*mapped) if hasattr(batch, "_fields") else type(batch)(mapped)
    return batch


class _CudaCopies:
    """Copies on a side stream, each marked by an event; handed over to the
    consumer's stream without blocking the host."""

    def __init__(self, device: torch.device, stream: torch.cuda.Stream | None) -> None:
        self.device = device
        self.stream = stream or torch.cuda.Stream(device)

    def copy(self, host: Any) -> tuple[Any, torch.cuda.Event]:
        with torch.cuda.stream(self.stream):
            dev = tree_map(lambda t: t.to(self.device, non_blocking=True), host)
            done = torch.cuda.Event()
            done.record(self.stream)
        return dev, done

    def hand_over(self, dev: Any, done: torch.cuda.Event) -> Any:
        current = torch.cuda.current_stream(self.device)
        current.wait_event(done)
        # Memory allocated on the side stream is now used on `current`.
        tree_map(lambda t: t.record_stream(current), dev)
        return dev


class DeviceLoader:
    """Iterate ``batches`` (host tensors, or nested tuples/lists/dicts of
    them) as batches on ``device``, with the copy of batch n+1 overlapping
    the use of batch n.

    Each host batch is copied with ``non_blocking=True`` on a side CUDA
    stream; an event marks the copy's end. A batch is handed out only after
    the current stream has been told to wait for that event (the host is not
    blocked), and ``prefetch`` copies run ahead of it. The host batch is
    kept alive until its copy's event has completed and dropped right after,
    so its pinned slab goes back to the pool only once nothing reads it.

    From pinned memory (``S3MapDataset(..., pin_memory=True)`` or
    ``S3IterableDataset(..., pin_memory=True)`` in the main process, or
    ``s3dlio.get_batch(..., pinned=True)``) the copy is a DMA at full PCIe
    speed with no staging copy. On a non-CUDA device the batches are moved
    with a plain ``.to(device)``.
    """

    def __init__(
        self,
        batches: Iterable[Any],
        device: torch.device | str | int = "cuda",
        *,
        prefetch: int = 1,
        stream: torch.cuda.Stream | None = None,
        copies: Any = None,
    ) -> None:
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, got {prefetch}")
        self.batches = batches
        self.device = torch.device(device)
        self.prefetch = prefetch
        self.stream = stream
        self._copies = copies  # tests: anything shaped like _CudaCopies

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:
        copies = self._copies
        if copies is None:
            if self.device.type != "cuda":
                for host in self.batches:
                    yield tree_map(lambda t: t.to(self.device), host)
                return
            copies = _CudaCopies(self.device, self.stream)
        hold = HostHold()
        ahead: deque[tuple[Any, Any]] = deque()
        try:
            for host in self.batches:
                dev, done = copies.copy(host)
                hold.hold(host, done)
                del host
                ahead.append((dev, done))
                if len(ahead) > self.prefetch:
                    yield copies.hand_over(*ahead.popleft())
                hold.release()
            while ahead:
                yield copies.hand_over(*ahead.popleft())
                hold.release()
        finally:
            hold.wait()


def to_device(
    batches: Iterable[Any], device: torch.device | str | int = "cuda", *, prefetch: int = 1
) -> DeviceLoader:
    """``DeviceLoader(batches, device, prefetch=prefetch)``."""
    return DeviceLoader(batches, device, prefetch=prefetch)
