"""What a data loader reads and in which order, shared by the torch and JAX
adapters: URI sources, the per-epoch order, and one pass over it split
across processes (ranks/hosts) and their workers. Needs numpy (both
frameworks bring it).

The epoch's order is a permutation of the objects fixed by ``(seed,
epoch)``. Progress through it is global: a :class:`Progress` says which
*positions* of the order the whole job has consumed, the same on every
rank, so a pass can resume at another world size or worker count. A
:class:`Pass` deals the positions still to read: padded by wrapping
around to the start of the epoch's order (as ``DistributedSampler``
does) so that every rank gets the same count, or cut to a multiple of
the world size (``drop_last``); position ``j`` of what is left goes to
rank ``j % world_size``, and a rank's share goes round-robin to its
workers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from s3dlio import _core


def resolve(
    uris: Sequence[str] | str, options: Mapping[str, str] | None
) -> tuple[list[str], list[int] | None]:
    """The URIs to read and, when a prefix was listed, their sizes.

    A ``str`` is a prefix: it is listed once (sorted) and the listing's
    sizes are kept, so batches can be fetched into one buffer without a
    stat per object. A sequence is taken as is (sizes unknown).
    """
    if isinstance(uris, str):
        metas = _core.list_meta(uris, options=dict(options) if options else None)
        if not metas:
            raise _core.ObjectNotFoundError(f"no objects under {uris}")
        return [m.uri for m in metas], [m.size for m in metas]
    uris = list(uris)
    if not all(isinstance(u, str) for u in uris):
        raise TypeError("uris must be a prefix string or a sequence of URI strings")
    return uris, None


def epoch_order(n: int, *, shuffle: bool, seed: int, epoch: int) -> np.ndarray:
    """Indices ``0..n`` in this epoch's order: a permutation that depends only
    on ``(seed, epoch)`` when shuffling (the same in every process)."""
    if not shuffle:
        return np.arange(n, dtype=np.int64)
    return np.random.default_rng([seed, epoch]).permutation(n)


@dataclass(frozen=True)
class Progress:
    """How far the job is into one epoch: the order's positions below
    ``position`` are consumed, and so is each of ``also_done`` (all above
    it; workers do not finish their shares in step)."""

    epoch: int
    position: int = 0
    also_done: tuple[int, ...] = ()


class Pass:
    """One pass over an epoch from ``start``: what rank ``rank`` of
    ``world_size``, worker ``worker`` of ``workers``, reads. With neither
    ``drop_last`` nor ``pad`` the positions are dealt as they are (for
    units of unequal size, such as tar shards, evened out by the reader)."""

    def __init__(
        self,
        n: int,
        start: Progress,
        rank: int,
        world_size: int,
        worker: int = 0,
        workers: int = 1,
        *,
        drop_last: bool,
        pad: bool = True,
    ) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"invalid shard {rank} of {world_size}")
        self.n, self.start = n, start
        self.rank, self.world_size, self.worker, self.workers = rank, world_size, worker, workers
        rest = np.arange(start.position, n, dtype=np.int64)
        if start.also_done:
            rest = rest[~np.isin(rest, np.asarray(start.also_done, dtype=np.int64))]
        self.real = rest  # the positions left, in order
        if drop_last:
            self.queue = rest[: len(rest) // world_size * world_size]
        elif not pad:  # dealt as they are: ranks' shares differ by at most one
            self.queue = rest
        else:
            padded = -(-len(rest) // world_size) * world_size
            wrap = np.arange(padded - len(rest), dtype=np.int64) % max(n, 1)
            self.queue = np.concatenate([rest, wrap])

    def local(self) -> np.ndarray:
        """This rank's positions, in the order it reads them."""
        return self.queue[self.rank :: self.world_size]

    def mine(self) -> np.ndarray:
        """This worker's positions, in the order it reads them."""
        return self.local()[self.worker :: self.workers]

    def readers(self) -> tuple[np.ndarray, np.ndarray]:
        """For each of ``queue``'s positions, the rank and the worker that read it."""
        slot = np.arange(len(self.queue), dtype=np.int64)
        return slot % self.world_size, (slot // self.world_size) % self.workers

    def progress(self, yielded: Mapping[int, int]) -> Progress:
        """The job's progress when worker ``w`` of every rank has handed out
        ``yielded[w]`` samples of its share (ranks go in step: each has
        taken the same number of training steps)."""
        per_rank = len(self.queue) // self.world_size
        if self.workers == 1:  # one reader per rank: a prefix of what is left
            consumed = min(yielded.get(0, 0), per_rank) * self.world_size
            if consumed >= len(self.real):
                return Progress(self.start.epoch, self.n)
            position = int(self.real[consumed])
            above = tuple(p for p in self.start.also_done if p > position)
            return Progress(self.start.epoch, position, above)
        taken = [
            np.arange(w, per_rank, self.workers, dtype=np.int64)[:count]
            for w, count in yielded.items()
        ]
        local = np.concatenate(taken) if taken else np.zeros(0, np.int64)
        slots = (local[:, None] * self.world_size + np.arange(self.world_size)).ravel()
        done = np.union1d(
            self.real[slots[slots < len(self.real)]],
            np.asarray(self.start.also_done, dtype=np.int64),
        )
        left = np.setdiff1d(self.real, done, assume_unique=True)
        position = int(left[0]) if len(left) else self.n
        later = done[done > position]
        return Progress(self.start.epoch, position, tuple(int(p) for p in later))
