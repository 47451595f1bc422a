"""How much of an epoch the training loop spent waiting for its data.

``io_report(loader)`` wraps any iterable of batches (a ``DataLoader``, a
``DeviceLoader``, a dataset): iterating it is one epoch, timed. The time
inside ``next()`` (the first one includes starting the iterator, and
its workers) is waiting for data; the rest of the epoch is the loop's
own work. After each epoch ``report.last`` (and ``report.epochs``) holds
an :class:`EpochIO`. Costs two clock reads and a size sum per batch.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Generic, TypeVar

import torch

import s3dlio

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class EpochIO:
    """One epoch: its wall time, the part spent waiting for batches, the
    batches and their bytes (tensors, bytes and buffers in them, nested in
    lists, tuples and dicts), the remote response body bytes this process
    took in (``s3dlio.buffer_stats()``; DataLoader workers count in their own
    processes), and, when the library has ``s3dlio.metrics()``, the requests
    per operation made in this process."""

    epoch: int
    epoch_s: float
    waiting_s: float
    batches: int
    bytes: int
    body_bytes: int
    requests: dict[str, int] | None = None

    @property
    def waiting_share(self) -> float:
        """The fraction of the epoch spent waiting for data (0 to 1)."""
        return self.waiting_s / self.epoch_s if self.epoch_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "waiting_share": self.waiting_share}

    def __str__(self) -> str:
        rate = self.bytes / self.epoch_s / 1e9 if self.epoch_s > 0 else 0.0
        text = (
            f"epoch {self.epoch}: {self.epoch_s:.3f} s, waiting for data {self.waiting_s:.3f} s"
            f" ({self.waiting_share:.0%}), {self.batches} batches, {self.bytes} bytes"
            f" ({rate:.3f} GB/s)"
        )
        if self.requests:
            text += ", requests " + " ".join(f"{op}={n}" for op, n in self.requests.items())
        return text


def batch_bytes(batch: Any) -> int:
    """The payload bytes of a batch: tensors, bytes-like objects, nested."""
    if isinstance(batch, torch.Tensor):
        return batch.numel() * batch.element_size()
    if isinstance(batch, (bytes, bytearray, memoryview)):
        return memoryview(batch).nbytes
    if isinstance(batch, Mapping):
        return sum(batch_bytes(v) for v in batch.values())
    if isinstance(batch, (list, tuple)):
        return sum(batch_bytes(v) for v in batch)
    return 0


def _requests() -> dict[str, int] | None:
    """Requests so far per operation, when the library counts them."""
    metrics = getattr(s3dlio, "metrics", None)
    if metrics is None:
        return None
    by_op: Mapping[str, Mapping[str, Any]] = metrics()
    return {
        op: sum(int(s["requests"]) for s in schemes.values())
        for op, schemes in by_op.items()
        if op != "oplog"  # the operation log's own state, not an operation
    }


def _body_bytes() -> int:
    return int(s3dlio.buffer_stats()["body_bytes"])


class IOReport(Generic[T]):
    """``loader`` timed per epoch (see the module). Iterate it once per epoch."""

    def __init__(self, loader: Iterable[T]) -> None:
        self.loader = loader
        self.epochs: list[EpochIO] = []

    @property
    def last(self) -> EpochIO:
        """The last epoch's report."""
        if not self.epochs:
            raise RuntimeError("io_report: no epoch has been iterated yet")
        return self.epochs[-1]

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[T]:
        requests, body = _requests(), _body_bytes()
        clock = time.perf_counter
        begin = clock()
        waiting, batches, nbytes = 0.0, 0, 0
        try:
            it = iter(self.loader)
            waiting = clock() - begin
            while True:
                asked = clock()
                try:
                    batch = next(it)
                except StopIteration:
                    waiting += clock() - asked
                    return
                waiting += clock() - asked
                batches += 1
                nbytes += batch_bytes(batch)
                yield batch
        finally:
            # Also when the loop stopped early or failed: the epoch so far.
            epoch_s = clock() - begin
            after = _requests()
            delta = (
                {op: n - requests.get(op, 0) for op, n in after.items()}
                if requests is not None and after is not None
                else None
            )
            self.epochs.append(
                EpochIO(
                    epoch=len(self.epochs),
                    epoch_s=epoch_s,
                    waiting_s=waiting,
                    batches=batches,
                    bytes=nbytes,
                    body_bytes=_body_bytes() - body,
                    requests=delta,
                )
            )


def io_report(loader: Iterable[T]) -> IOReport[T]:
    """``loader`` timed per epoch: ``for batch in report: ...`` then
    ``report.last`` (an :class:`EpochIO`; ``str()`` is a one-line summary)."""
    return IOReport(loader)
