"""How much of an epoch the training loop spent waiting for its data.

``io_report(loader)`` wraps any iterable of batches (a ``DataLoader``, a
``DeviceLoader``, a dataset): iterating it is one epoch, timed. The time
inside ``next()`` (the first one includes starting the iterator, and
its workers) is waiting for data; the rest of the epoch is the loop's
own work. After each epoch ``report.last`` (and ``report.epochs``) holds
an :class:`EpochIO`. Costs two clock reads and a size sum per batch.

Whether the waiting is storage's doing: ``storage_s`` is how long storage
requests were in flight during the epoch, in this process and in the
DataLoader workers forked from it (each process's time with at least one
request under way, added up: ``metrics()["storage"]["busy_tree_s"]``), and
``storage_share`` that over the readers' time (``epoch_s`` times the
workers, or 1). Waiting with a storage share near 1 means the readers
were waiting for storage; waiting with a low one means they were busy
with something else (decoding, collating, crossing to this process).
Spawned workers (``multiprocessing_context="spawn"``) are not seen.
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
    storage_s: float | None = None
    readers: int = 1

    @property
    def waiting_share(self) -> float:
        """The fraction of the epoch spent waiting for data (0 to 1)."""
        return self.waiting_s / self.epoch_s if self.epoch_s > 0 else 0.0

    @property
    def storage_share(self) -> float | None:
        """The fraction of the readers' time with storage requests in flight."""
        if self.storage_s is None or self.epoch_s <= 0:
            return None
        return self.storage_s / (self.epoch_s * self.readers)

    def to_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "waiting_share": self.waiting_share,
            "storage_share": self.storage_share,
        }

    def __str__(self) -> str:
        rate = self.bytes / self.epoch_s / 1e9 if self.epoch_s > 0 else 0.0
        text = (
            f"epoch {self.epoch}: {self.epoch_s:.3f} s, waiting for data {self.waiting_s:.3f} s"
            f" ({self.waiting_share:.0%}), {self.batches} batches, {self.bytes} bytes"
            f" ({rate:.3f} GB/s)"
        )
        share = self.storage_share
        if self.storage_s is not None and share is not None:
            text += (
                f", storage busy {self.storage_s:.3f} s ({share:.0%} of"
                f" {self.readers} reader{'s' if self.readers > 1 else ''})"
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


def _metrics() -> Mapping[str, Any] | None:
    """``s3dlio.metrics()``, when the library counts requests."""
    metrics = getattr(s3dlio, "metrics", None)
    return None if metrics is None else metrics()


def _requests(metrics: Mapping[str, Any] | None) -> dict[str, int] | None:
    """Requests so far per operation."""
    if metrics is None:
        return None
    return {
        op: sum(int(s["requests"]) for s in schemes.values())
        for op, schemes in metrics.items()
        # The log's state, busy time, lanes and the cache are not operations.
        if op not in ("oplog", "storage", "endpoints", "cache")
    }


def _storage_s(metrics: Mapping[str, Any] | None) -> float | None:
    """Seconds with requests in flight in this process and its forked
    children so far."""
    storage = None if metrics is None else metrics.get("storage")
    return None if storage is None else float(storage["busy_tree_s"])


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
        before, body = _metrics(), _body_bytes()
        requests, storage = _requests(before), _storage_s(before)
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
            now = _metrics()
            after, storage_after = _requests(now), _storage_s(now)
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
                    storage_s=None
                    if storage is None or storage_after is None
                    else storage_after - storage,
                    readers=max(1, int(getattr(self.loader, "num_workers", 0) or 0)),
                )
            )


def io_report(loader: Iterable[T]) -> IOReport[T]:
    """``loader`` timed per epoch: ``for batch in report: ...`` then
    ``report.last`` (an :class:`EpochIO`; ``str()`` is a one-line summary)."""
    return IOReport(loader)
