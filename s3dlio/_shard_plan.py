"""The order in which one reader of a sharded dataset hands out samples,
worked out from the samples per shard alone (before any shard is read),
and the reading of it: each shard fetched once, the next one in the
background, held only while samples of it are still to come.

A reader (worker ``w`` of rank ``r``) reads the shards its pass deals it,
in the epoch's shard order, sample after sample; when shuffling, the
samples go through a buffer of up to ``buffer`` samples (a random one of
those it holds is handed out at each step; it starts with ``RAMP`` and
takes two per step until full, as WebDataset's does; the rest leave in a
random order at the end), its random choices seeded by ``(seed, epoch, r, w)``.
Worker ``w`` of every rank then hands out the same number of samples: the
most any rank's worker ``w`` has, the short ones wrapping around to the
start of their own samples (as ``DistributedSampler`` pads), or with
``drop_last`` the fewest, the long ones cut. So every rank yields as
many samples, the workers of all ranks go in step, and an order is known
in full from the counts: a resumed reader skips what was handed out
without reading it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np

T = TypeVar("T")

# Shards fetched ahead of the one being read, each on a thread of its own:
# with one, a shard's fetch (the read, GIL released) and its samples'
# making (Python) ran back to back and bounded a file:// epoch; with two,
# one shard's read overlaps the other's samples.
AHEAD = 2
# Samples a shuffle buffer holds before it hands out the first (WebDataset's
# ``initial``).
RAMP = 100


class Plan:
    """Samples as ids (``offsets[s] + i`` is sample ``i`` of shard ``s``)."""

    def __init__(self, counts: Sequence[int]) -> None:
        self.counts = np.asarray(counts, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)

    def ids(self, shards: Sequence[int] | np.ndarray) -> np.ndarray:
        """The sample ids of ``shards``, in order."""
        shards = np.asarray(shards, dtype=np.int64)
        if len(shards) == 0:
            return np.zeros(0, np.int64)
        counts = self.counts[shards]
        starts = np.repeat(self.offsets[shards], counts)
        within = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(
            np.cumsum(counts) - counts, counts
        )
        out: np.ndarray = starts + within
        return out

    def locate(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(shard, index in shard)`` of each id."""
        shard = np.searchsorted(self.offsets, ids, side="right") - 1
        return shard, ids - self.offsets[shard]

    def reader_order(
        self,
        own: np.ndarray,
        target: int,
        fallbacks: Sequence[np.ndarray],
        *,
        buffer: int,
        rng: np.random.Generator | None,
    ) -> tuple[np.ndarray, int]:
        """A reader's sample ids, and where its padding starts: the samples
        of its shards ``own`` (through the shuffle buffer when ``rng`` is
        given) cut or padded to ``target``; padding wraps around its own
        samples, else those of the first of ``fallbacks`` (shard lists)
        that has any."""
        ids = self.ids(own)
        if rng is not None and buffer > 1:
            ids = shuffle_buffer(ids, buffer, rng)
        if len(ids) >= target:
            return ids[:target], target
        source = ids
        for shards in fallbacks:
            if len(source):
                break
            source = self.ids(shards)
        pad = np.resize(source, target - len(ids)) if len(source) else source
        return np.concatenate([ids, pad]), len(ids)


def shuffle_buffer(ids: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``ids`` through a shuffle buffer of ``size`` (see the module's docstring).

    As WebDataset's ``shuffle`` does, the buffer starts handing out samples
    once it holds ``RAMP`` of them and takes in two for each one it hands
    out until it is full: a reader's first batch needs the first shard or
    so, not the ``size`` samples of several shards."""
    if len(ids) <= 1:
        return ids
    size = min(size, len(ids))
    start = min(RAMP, size)
    items: list[int] = ids.tolist()
    draws: list[float] = rng.random(len(items)).tolist()
    buf: list[int] = []
    out: list[int] = []
    taken = 0
    for u in draws:
        want = start if not out else min(len(buf) + 2, size)
        while len(buf) < want and taken < len(items):
            buf.append(items[taken])
            taken += 1
        k = int(u * len(buf))
        buf[k], buf[-1] = buf[-1], buf[k]
        out.append(buf.pop())
    return np.asarray(out, np.int64)


def read(
    plan: Plan,
    ids: np.ndarray,
    pad_start: int,
    fetch: Callable[[int], Sequence[T]],
) -> Iterator[T]:
    """The samples ``ids`` in order: ``fetch(shard)`` gives a shard's
    samples. The samples before ``pad_start`` and the padding after it are
    read apart, each shard once in each; the next ``AHEAD`` shards are
    fetched in background threads while the current ones are consumed."""
    with ThreadPoolExecutor(max_workers=AHEAD, thread_name_prefix="s3dlio-shard") as pool:
        for a, b in ((0, pad_start), (pad_start, len(ids))):
            if a < b:
                yield from _read_part(plan, ids[a:b], fetch, pool)


def _read_part(
    plan: Plan,
    ids: np.ndarray,
    fetch: Callable[[int], Sequence[T]],
    pool: ThreadPoolExecutor,
) -> Iterator[T]:
    shards, within = plan.locate(ids)
    firsts = np.unique(shards, return_index=True)[1]
    order = shards[np.sort(firsts)].tolist()  # shards by first use: the fetch order
    last = {int(s): int(i) for i, s in enumerate(shards.tolist())}  # last use of each
    loaded: dict[int, Sequence[T]] = {}
    pending: deque[Future[Sequence[T]]] = deque(
        pool.submit(fetch, shard) for shard in order[:AHEAD]
    )
    nxt = len(pending)  # the next shard of ``order`` to submit
    for i, (s, j) in enumerate(zip(shards.tolist(), within.tolist(), strict=True)):
        if s not in loaded:
            loaded[s] = pending.popleft().result()
            if nxt < len(order):
                pending.append(pool.submit(fetch, order[nxt]))
                nxt += 1
        yield loaded[s][j]
        if last[s] == i:
            del loaded[s]
